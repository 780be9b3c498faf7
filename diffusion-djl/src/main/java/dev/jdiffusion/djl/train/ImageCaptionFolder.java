package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.GeneratedImage;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * A folder of images with same-name {@code .txt} captions ({@code cat.png} + {@code cat.txt}),
 * the layout used to fine-tune Stable Diffusion.
 *
 * <p>Images ({@code .png}, {@code .jpg}, {@code .jpeg}, {@code .bmp}, {@code .gif}, in file-name
 * order) are scaled so that they cover the target size, centre-cropped to it, and returned as
 * (N, 3, height, width) float32 in [−1, 1]. Captions are turned into token ids by a pluggable
 * tokenizer (for example the CLIP tokenizer, 77 ids per caption); the condition is an int32
 * array (N, L) and the null condition is the tokenization of the empty caption. Without a
 * tokenizer the data set is unconditional and captions are not needed.
 *
 * <p>Only regular files (or links to them) are read: an image or caption that is a FIFO, a
 * device or a broken link is refused with its name, as is a caption that is not UTF-8 or an
 * image that cannot be decoded. Images are decoded lazily on first use; with caching on they are kept as floats (3 × height
 * × width × 4 bytes each). Not thread-safe when caching; use from the trainer's thread.
 */
public final class ImageCaptionFolder implements TrainingData {

    private static final List<String> EXTENSIONS = List.of("png", "jpg", "jpeg", "bmp", "gif");

    private final List<Path> images;
    private final int[][] tokens;
    private final int[] nullTokens;
    private final int width;
    private final int height;
    private final float[][] cache;

    private ImageCaptionFolder(List<Path> images, int[][] tokens, int[] nullTokens, int width,
            int height, boolean cache) {
        this.images = images;
        this.tokens = tokens;
        this.nullTokens = nullTokens;
        this.width = width;
        this.height = height;
        this.cache = cache ? new float[images.size()][] : null;
    }

    /**
     * Opens a folder.
     *
     * @param folder the folder; sub-folders are not searched
     * @param width the target width in pixels
     * @param height the target height in pixels
     * @param tokenizer caption → token ids, the same length for every caption; {@code null} for
     *     an unconditional data set
     * @param cache whether decoded images are kept in memory
     * @return the data set
     * @throws IOException if the folder cannot be read, holds no images, an image-named entry is
     *     not a regular file, an image has no caption file or it is not a regular UTF-8 file
     *     (when a tokenizer is given), or captions tokenize to different lengths
     */
    public static ImageCaptionFolder open(Path folder, int width, int height,
            Function<String, int[]> tokenizer, boolean cache) throws IOException {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException(
                    "target size must be positive (got " + width + "x" + height + ")");
        }
        if (!Files.isDirectory(folder)) {
            throw new IOException("training image folder not found: " + folder);
        }
        List<Path> images = new ArrayList<>();
        List<Path> named;
        try (Stream<Path> s = Files.list(folder)) {
            named = s.filter(p -> EXTENSIONS.contains(extension(p))).sorted().toList();
        }
        for (Path p : named) {
            if (!Files.isDirectory(p)) { // sub-folders are not searched
                requireRegularFile(p, "image");
                images.add(p);
            }
        }
        if (images.isEmpty()) {
            throw new IOException("no images (" + String.join(", ", EXTENSIONS) + ") in " + folder);
        }
        int[][] tokens = null;
        int[] nullTokens = null;
        if (tokenizer != null) {
            nullTokens = tokenizer.apply("");
            tokens = new int[images.size()][];
            for (int i = 0; i < images.size(); i++) {
                Path caption = captionOf(images.get(i));
                tokens[i] = tokenizer.apply(readCaption(images.get(i)));
                if (tokens[i].length != nullTokens.length) {
                    throw new IOException("caption " + caption.getFileName() + " tokenized to "
                            + tokens[i].length + " ids but the empty caption to "
                            + nullTokens.length + "; the tokenizer must pad to a fixed length");
                }
            }
        }
        return new ImageCaptionFolder(List.copyOf(images), tokens, nullTokens, width, height,
                cache);
    }

    private static String extension(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return dot < 0 ? "" : n.substring(dot + 1).toLowerCase(Locale.ROOT);
    }

    private static Path captionOf(Path image) {
        String n = image.getFileName().toString();
        return image.resolveSibling(n.substring(0, n.lastIndexOf('.')) + ".txt");
    }

    /**
     * The image files, in the order of their indices.
     *
     * @return the paths
     */
    public List<Path> images() {
        return images;
    }

    @Override
    public int size() {
        return images.size();
    }

    @Override
    public Batch batch(NDManager manager, int[] indices) {
        int per = 3 * height * width;
        float[] x = new float[indices.length * per];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(pixels(indices[i]), 0, x, i * per, per);
        }
        NDArray xs = manager.create(x, new Shape(indices.length, 3, height, width));
        if (tokens == null) {
            return new Batch(xs, null);
        }
        int len = nullTokens.length;
        int[] c = new int[indices.length * len];
        for (int i = 0; i < indices.length; i++) {
            System.arraycopy(tokens[indices[i]], 0, c, i * len, len);
        }
        return new Batch(xs, manager.create(c, new Shape(indices.length, len)));
    }

    @Override
    public NDArray nullCondition(NDManager manager, int n) {
        if (nullTokens == null) {
            return null;
        }
        int len = nullTokens.length;
        int[] c = new int[n * len];
        for (int i = 0; i < n; i++) {
            System.arraycopy(nullTokens, 0, c, i * len, len);
        }
        return manager.create(c, new Shape(n, len));
    }

    /**
     * The caption of one image: its {@code .txt} file beside it, stripped.
     *
     * @param index the image's index, in [0, {@link #size()})
     * @return the caption
     * @throws IOException if the image has no caption file, or it is not a regular file of
     *     UTF-8 text, or it cannot be read
     */
    public String caption(int index) throws IOException {
        return readCaption(images.get(Objects.checkIndex(index, images.size())));
    }

    private static String readCaption(Path image) throws IOException {
        Path txt = captionOf(image);
        if (!Files.exists(txt)) {
            throw new IOException("image " + image.getFileName() + " has no caption file "
                    + txt.getFileName()
                    + "; add one (it may be empty for an unconditional example)");
        }
        requireRegularFile(txt, "caption file");
        byte[] bytes = Files.readAllBytes(txt);
        CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult r = utf8.decode(in, out, true);
        if (!r.isError()) {
            r = utf8.flush(out);
        }
        if (r.isError()) {
            throw new IOException("caption file " + txt + " is not valid UTF-8 text (bad byte at"
                    + " offset " + in.position() + "); save it as UTF-8");
        }
        return out.flip().toString().strip();
    }

    /**
     * Refuses anything but a regular file (following links) before it is opened: opening a FIFO
     * blocks until something writes to it, a device can be endless.
     */
    private static void requireRegularFile(Path file, String what) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(what + " " + file + " is not a regular file (a FIFO, device,"
                    + " socket or broken link?); training reads regular files only");
        }
    }

    /**
     * One training image as the trainer sees it (scaled, centre-cropped, on white), for
     * inspection and evaluation.
     *
     * @param index the image's index, in [0, {@link #size()})
     * @return the image, {@code width × height}
     * @throws UncheckedIOException if the file cannot be decoded
     */
    public GeneratedImage image(int index) {
        float[] p = pixels(index);
        int plane = width * height;
        int[] rgb = new int[plane];
        for (int i = 0; i < plane; i++) {
            rgb[i] = byteOf(p[i]) << 16 | byteOf(p[plane + i]) << 8 | byteOf(p[2 * plane + i]);
        }
        return new GeneratedImage(width, height, rgb, null, Map.of());
    }

    private static int byteOf(float v) {
        return Math.max(0, Math.min(255, Math.round((v + 1f) * 127.5f)));
    }

    /** The (3, height, width) pixels of one image in [−1, 1]. */
    float[] pixels(int index) {
        Objects.checkIndex(index, images.size());
        if (cache != null && cache[index] != null) {
            return cache[index];
        }
        float[] p;
        try {
            p = load(images.get(index));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (cache != null) {
            cache[index] = p;
        }
        return p;
    }

    private float[] load(Path file) throws IOException {
        requireRegularFile(file, "image"); // again: it may have changed since open()
        BufferedImage src;
        try {
            src = ImageIO.read(file.toFile());
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot decode image " + file + ": " + e.getMessage(), e);
        }
        if (src == null) {
            throw new IOException("not a readable image: " + file);
        }
        // Scale to cover the target, then centre-crop.
        double scale = Math.max((double) width / src.getWidth(), (double) height / src.getHeight());
        int sw = (int) Math.ceil(src.getWidth() * scale);
        int sh = (int) Math.ceil(src.getHeight() * scale);
        BufferedImage dst = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = dst.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION,
                    RenderingHints.VALUE_INTERPOLATION_BICUBIC);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.setColor(java.awt.Color.WHITE); // transparency is composited onto white
            g.fillRect(0, 0, width, height);
            g.drawImage(src, (width - sw) / 2, (height - sh) / 2, sw, sh, null);
        } finally {
            g.dispose();
        }
        int[] rgb = dst.getRGB(0, 0, width, height, null, 0, width);
        int plane = width * height;
        float[] out = new float[3 * plane];
        for (int i = 0; i < plane; i++) {
            out[i] = ((rgb[i] >> 16) & 0xFF) / 127.5f - 1f;
            out[plane + i] = ((rgb[i] >> 8) & 0xFF) / 127.5f - 1f;
            out[2 * plane + i] = (rgb[i] & 0xFF) / 127.5f - 1f;
        }
        return out;
    }
}
