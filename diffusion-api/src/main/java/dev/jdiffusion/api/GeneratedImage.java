package dev.jdiffusion.api;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOInvalidTreeException;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;

/**
 * An RGB image with the text that describes how it was made. Pixels are packed {@code 0xRRGGBB}
 * ints in row-major order.
 *
 * <p>Instances are immutable and thread-safe; accessors return copies.
 */
public final class GeneratedImage {

    /** The PNG text key under which Stable Diffusion tools store generation parameters. */
    public static final String PARAMETERS_KEY = "parameters";

    /** The largest PNG text entry {@link #read} accepts, in bytes after decompression. */
    public static final int MAX_TEXT_BYTES = 4 << 20;

    /** The most PNG text {@link #read} accepts in one file, in bytes after decompression. */
    public static final int MAX_TOTAL_TEXT_BYTES = 16 << 20;

    private final int width;
    private final int height;
    private final int[] rgb;
    private final Long seed;
    private final Map<String, String> text;

    /**
     * Creates an image.
     *
     * @param width the width in pixels, &gt; 0
     * @param height the height in pixels, &gt; 0
     * @param rgb {@code width * height} packed {@code 0xRRGGBB} pixels, row-major; copied
     * @param seed the seed that produced the image, or {@code null} if it has none
     * @param text PNG text entries (keyword → value) written by {@link #writePng}; copied
     * @throws IllegalArgumentException if the sizes do not match
     */
    public GeneratedImage(int width, int height, int[] rgb, Long seed, Map<String, String> text) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException(
                    "image size must be positive (got " + width + "x" + height + ")");
        }
        if (rgb.length != (long) width * height) {
            throw new IllegalArgumentException(
                    "expected " + (long) width * height + " pixels for " + width + "x" + height
                            + " but got " + rgb.length);
        }
        this.width = width;
        this.height = height;
        this.rgb = rgb.clone();
        for (int i = 0; i < this.rgb.length; i++) {
            this.rgb[i] &= 0xFFFFFF;
        }
        this.seed = seed;
        this.text = Collections.unmodifiableMap(new LinkedHashMap<>(text));
    }

    /**
     * Copies a {@link BufferedImage}; transparency is composited onto white.
     *
     * @param image the image to copy
     * @return an image with no seed and no text
     */
    public static GeneratedImage fromBufferedImage(BufferedImage image) {
        return new GeneratedImage(image.getWidth(), image.getHeight(), onWhite(image), null,
                Map.of());
    }

    private static int[] onWhite(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        int[] argb = image.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < argb.length; i++) {
            int a = argb[i] >>> 24;
            int r = (argb[i] >> 16) & 0xFF;
            int g = (argb[i] >> 8) & 0xFF;
            int b = argb[i] & 0xFF;
            if (a != 255) {
                r = (r * a + 255 * (255 - a) + 127) / 255;
                g = (g * a + 255 * (255 - a) + 127) / 255;
                b = (b * a + 255 * (255 - a) + 127) / 255;
            }
            argb[i] = (r << 16) | (g << 8) | b;
        }
        return argb;
    }

    /**
     * Reads an image file (PNG, JPEG, or any format {@link ImageIO} reads), with a PNG's text
     * entries ({@code tEXt}, {@code zTXt}, {@code iTXt}; the first of a repeated keyword).
     *
     * <p>The size in the file's header is checked before any pixel is decoded: images wider or
     * higher than {@link GenerationRequest#MAX_SIZE} are refused, as are PNG files with a chunk
     * that runs past the end of the file, with text entries beyond {@value #MAX_TEXT_BYTES}
     * bytes each or {@value #MAX_TOTAL_TEXT_BYTES} in all (after decompression), or with more
     * than 1024 text chunks, so a small hostile file cannot make this allocate much more than
     * the pixels of a {@code MAX_SIZE} image.
     *
     * @param path the file
     * @return the image, transparency composited onto white, no seed (see {@link
     *     #parameters()} for the seed it was generated with)
     * @throws IOException if the file is missing, not a regular file, not a readable image, or
     *     refused for its size
     */
    public static GeneratedImage read(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new IOException("image file not found: " + path);
        }
        if (!Files.isRegularFile(path)) {
            throw new IOException("not a regular file: " + path + " (give an image file)");
        }
        Map<String, String> text = PngChunks.text(path);
        try (ImageInputStream in = ImageIO.createImageInputStream(path.toFile())) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw new IOException("not a readable image (no reader for its format): " + path);
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                PngChunks.checkSize(path, w, h);
                BufferedImage img = reader.read(0);
                return new GeneratedImage(img.getWidth(), img.getHeight(), onWhite(img), null,
                        text);
            } catch (IOException e) {
                throw e.getMessage() != null && e.getMessage().contains(path.toString()) ? e
                        : new IOException("not a readable image: " + path + ": " + e.getMessage(),
                                e);
            } catch (RuntimeException e) { // ImageIO's readers throw these for corrupt data
                throw new IOException("not a readable image: " + path + ": " + e, e);
            } finally {
                reader.dispose();
            }
        }
    }

    /**
     * The width.
     *
     * @return the width in pixels
     */
    public int width() {
        return width;
    }

    /**
     * The height.
     *
     * @return the height in pixels
     */
    public int height() {
        return height;
    }

    /**
     * The pixels.
     *
     * @return a copy of the packed {@code 0xRRGGBB} pixels, row-major
     */
    public int[] rgb() {
        return rgb.clone();
    }

    /**
     * One pixel.
     *
     * @param x the column
     * @param y the row
     * @return the packed {@code 0xRRGGBB} value
     */
    public int rgb(int x, int y) {
        Objects.checkIndex(x, width);
        Objects.checkIndex(y, height);
        return rgb[y * width + x];
    }

    /**
     * The seed that produced this image.
     *
     * @return the seed, or empty for an image that was not generated
     */
    public OptionalLong seed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    /**
     * The PNG text entries, including {@link #PARAMETERS_KEY} for generated images.
     *
     * @return an unmodifiable map from keyword to text
     */
    public Map<String, String> text() {
        return text;
    }

    /**
     * The generation parameters in the {@link #PARAMETERS_KEY} text, parsed.
     *
     * @return the parameters, or empty if there is no such text or it has no settings line
     */
    public Optional<ImageParameters> parameters() {
        String p = text.get(PARAMETERS_KEY);
        return p == null ? Optional.empty() : ImageParameters.parse(p);
    }

    /**
     * A copy as a {@link BufferedImage} of type {@code TYPE_INT_RGB}.
     *
     * @return a new image
     */
    public BufferedImage toBufferedImage() {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, width, height, rgb, 0, width);
        return img;
    }

    /**
     * Writes the image as PNG with its text entries (a {@code tEXt} chunk, or {@code iTXt} for
     * text outside Latin-1). The file is written to a temporary file beside the target and
     * renamed, so a failure never leaves a half-written PNG.
     *
     * @param path the target file; parent folders are created
     * @throws IOException if the file cannot be written
     */
    public void writePng(Path path) throws IOException {
        Path parent = path.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Path tmp = dev.jdiffusion.api.internal.AtomicFiles.createFile(parent, ".jdiffusion-",
                ".png.tmp"); // not createTempFile: the PNG gets the umask's permissions
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                writePng(out);
            }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /**
     * Writes the image as PNG with its text entries to a stream.
     *
     * @param out the stream; not closed
     * @throws IOException if writing fails
     */
    public void writePng(OutputStream out) throws IOException {
        BufferedImage img = toBufferedImage();
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            ImageWriteParam param = writer.getDefaultWriteParam();
            IIOMetadata meta = writer.getDefaultImageMetadata(
                    ImageTypeSpecifier.createFromRenderedImage(img), param);
            addText(meta);
            writer.write(null, new IIOImage(img, null, meta), param);
        } finally {
            writer.dispose();
        }
    }

    private void addText(IIOMetadata meta) throws IIOInvalidTreeException {
        if (text.isEmpty()) {
            return;
        }
        String format = "javax_imageio_png_1.0";
        IIOMetadataNode root = new IIOMetadataNode(format);
        IIOMetadataNode textNode = new IIOMetadataNode("tEXt");
        IIOMetadataNode itxtNode = new IIOMetadataNode("iTXt");
        for (Map.Entry<String, String> e : text.entrySet()) {
            if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(e.getValue())) {
                IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("value", e.getValue());
                textNode.appendChild(entry);
            } else {
                IIOMetadataNode entry = new IIOMetadataNode("iTXtEntry");
                entry.setAttribute("keyword", e.getKey());
                entry.setAttribute("compressionFlag", "FALSE");
                entry.setAttribute("compressionMethod", "0");
                entry.setAttribute("languageTag", "");
                entry.setAttribute("translatedKeyword", "");
                entry.setAttribute("text", e.getValue());
                itxtNode.appendChild(entry);
            }
        }
        if (textNode.hasChildNodes()) {
            root.appendChild(textNode);
        }
        if (itxtNode.hasChildNodes()) {
            root.appendChild(itxtNode);
        }
        meta.mergeTree(format, root);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof GeneratedImage)) {
            return false;
        }
        GeneratedImage other = (GeneratedImage) o;
        return width == other.width && height == other.height && Arrays.equals(rgb, other.rgb)
                && Objects.equals(seed, other.seed) && text.equals(other.text);
    }

    @Override
    public int hashCode() {
        return Objects.hash(width, height, Arrays.hashCode(rgb), seed, text);
    }

    @Override
    public String toString() {
        return "GeneratedImage{" + width + "x" + height + (seed == null ? "" : ", seed=" + seed)
                + "}";
    }
}
