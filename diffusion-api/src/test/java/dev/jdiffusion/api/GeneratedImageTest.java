package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

class GeneratedImageTest {

    @TempDir Path dir;

    @Test
    void pngRoundTripKeepsPixelsAndParametersText() throws Exception {
        int[] px = new int[4 * 2];
        for (int i = 0; i < px.length; i++) {
            px[i] = 0x102030 * i;
        }
        String params = "a cat face\nNegative prompt: blurry\nSteps: 20, Seed: 42, Prompt ünïcødé 猫";
        GeneratedImage img = new GeneratedImage(4, 2, px, 42L,
                Map.of(GeneratedImage.PARAMETERS_KEY, params));
        Path file = dir.resolve("sub/out.png");
        img.writePng(file);

        GeneratedImage back = GeneratedImage.read(file);
        assertThat(back.rgb()).containsExactly(img.rgb());
        assertThat(readText(file, "parameters")).isEqualTo(params);
        try (var s = Files.list(file.getParent())) {
            assertThat(s).containsExactly(file); // no temporary file left behind
        }
    }

    @Test
    void rejectsMismatchedPixelCount() {
        assertThatThrownBy(() -> new GeneratedImage(4, 4, new int[15], null, Map.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("16");
    }

    @Test
    void readingAMissingFileSaysSo() {
        assertThatThrownBy(() -> GeneratedImage.read(dir.resolve("none.png")))
                .hasMessageContaining("not found");
    }

    @Test
    void readRefusesAPngDeclaringAHugeSizeBeforeDecoding() throws Exception {
        // 74 bytes that declare 20000x20000 RGB: decoding would allocate 1.2 GB.
        Path file = dir.resolve("huge.png");
        Files.write(file, png(20000, 20000, idat(new byte[64])));
        assertThat(Files.size(file)).isLessThan(100);
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> GeneratedImage.read(file)).isInstanceOf(IOException.class)
                .hasMessageContaining("20000x20000")
                .hasMessageContaining(String.valueOf(GenerationRequest.MAX_SIZE));
        assertThat((System.nanoTime() - t0) / 1_000_000).as("ms").isLessThan(1_000);
    }

    @Test
    void readRefusesOversizedJpegGifAndBmpHeaders() throws Exception {
        int over = GenerationRequest.MAX_SIZE + 1;
        for (String format : new String[] {"jpeg", "gif", "bmp"}) {
            Path file = dir.resolve("big." + format);
            BufferedImage small = new BufferedImage(over, 2, BufferedImage.TYPE_INT_RGB);
            assertThat(ImageIO.write(small, format, file.toFile())).as(format).isTrue();
            assertThatThrownBy(() -> GeneratedImage.read(file)).as(format)
                    .isInstanceOf(IOException.class).hasMessageContaining(over + "x2");
        }
    }

    @Test
    void readRefusesAPngWhoseChunkRunsPastTheEnd() throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(png(8, 8, idat(new byte[8 * 25])), 0, 8 + 25); // signature + IHDR
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(Integer.MAX_VALUE); // a tEXt chunk declaring 2 GB, in a tiny file
        d.writeBytes("tEXt");
        d.writeBytes("parameters\0x");
        Path file = dir.resolve("short.png");
        Files.write(file, b.toByteArray());
        assertThatThrownBy(() -> GeneratedImage.read(file)).isInstanceOf(IOException.class)
                .hasMessageContaining("past the end");
    }

    @Test
    void readRefusesACompressedTextBomb() throws Exception {
        // 100 MB of zeros inflate from a zTXt chunk of about 100 KB.
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        z.writeBytes("comment\0\0".getBytes(StandardCharsets.ISO_8859_1));
        try (DeflaterOutputStream out = new DeflaterOutputStream(z, new Deflater(9))) {
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 100; i++) {
                out.write(zeros);
            }
        }
        Path file = dir.resolve("bomb.png");
        Files.write(file, png(8, 8, chunk("zTXt", z.toByteArray()), idat(new byte[8 * 25])));
        assertThatThrownBy(() -> GeneratedImage.read(file)).isInstanceOf(IOException.class)
                .hasMessageContaining("comment").hasMessageContaining("MiB");
    }

    @Test
    void readRefusesAPngWithTooManyTextChunks() throws Exception {
        byte[][] chunks = new byte[2001][];
        for (int i = 0; i < 2000; i++) { // 28 bytes each, a distinct keyword each
            chunks[i] = chunk("tEXt", ("k" + i + "\0x").getBytes(StandardCharsets.ISO_8859_1));
        }
        chunks[2000] = idat(new byte[8 * 25]);
        Path file = dir.resolve("many.png");
        Files.write(file, png(8, 8, chunks));
        assertThatThrownBy(() -> GeneratedImage.read(file)).isInstanceOf(IOException.class)
                .hasMessageContaining("1024 text chunks");
    }

    @Test
    void readReturnsTheTextEntriesAndParsedParameters() throws Exception {
        ImageParameters params = new ImageParameters("ünïcødé 猫\nNegative prompt: dog", "",
                parametersSettings());
        Map<String, String> text = new LinkedHashMap<>();
        text.put(GeneratedImage.PARAMETERS_KEY, params.text());
        text.put("Software", "jdiffusion");
        text.put("Comment", "café"); // Latin-1: a tEXt chunk
        GeneratedImage img = new GeneratedImage(2, 2, new int[] {1, 2, 3, 4}, 7L, text);
        Path file = dir.resolve("params.png");
        img.writePng(file);
        GeneratedImage back = GeneratedImage.read(file);
        assertThat(back.text()).isEqualTo(text);
        assertThat(back.parameters()).contains(params);
        assertThat(back.seed()).isEmpty();
    }

    @Test
    void readsZtxtAndCompressedItxt() throws Exception {
        ByteArrayOutputStream z = new ByteArrayOutputStream();
        z.writeBytes("Title\0\0".getBytes(StandardCharsets.ISO_8859_1));
        z.writeBytes(deflate("Grüße".getBytes(StandardCharsets.ISO_8859_1)));
        ByteArrayOutputStream i = new ByteArrayOutputStream();
        i.writeBytes("Author\0\u0001\0en\0\0".getBytes(StandardCharsets.ISO_8859_1));
        i.writeBytes(deflate("猫の顔".getBytes(StandardCharsets.UTF_8)));
        Path file = dir.resolve("z.png");
        Files.write(file, png(8, 8, chunk("zTXt", z.toByteArray()), chunk("iTXt", i.toByteArray()),
                idat(new byte[8 * 25])));
        GeneratedImage back = GeneratedImage.read(file);
        assertThat(back.width()).isEqualTo(8);
        assertThat(back.text()).containsEntry("Title", "Grüße").containsEntry("Author", "猫の顔");
        assertThat(back.parameters()).isEmpty();
    }

    @Test
    void readRefusesAFifoInsteadOfBlocking() throws Exception {
        Path fifo = dir.resolve("pipe.png");
        try {
            Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
            Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo failed");
        } catch (IOException e) {
            Assumptions.abort("no mkfifo: " + e);
        }
        assertTimeoutPreemptively(Duration.ofSeconds(10), () ->
                assertThatThrownBy(() -> GeneratedImage.read(fifo))
                        .isInstanceOf(IOException.class).hasMessageContaining("regular file"));
    }

    static Map<String, String> parametersSettings() {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("Steps", "20");
        settings.put("Sampler", "euler_a");
        settings.put("Seed", "7");
        return settings;
    }

    /** A PNG of an 8-bit RGB image of the given size, with the chunks between IHDR and IEND. */
    static byte[] png(int width, int height, byte[]... chunks) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(ihdr);
        d.writeInt(width);
        d.writeInt(height);
        d.write(new byte[] {8, 2, 0, 0, 0}); // depth 8, RGB, deflate, no filter, no interlace
        b.write(chunk("IHDR", ihdr.toByteArray()));
        for (byte[] c : chunks) {
            b.write(c);
        }
        b.write(chunk("IEND", new byte[0]));
        return b.toByteArray();
    }

    static byte[] idat(byte[] raw) throws IOException {
        return chunk("IDAT", deflate(raw));
    }

    static byte[] chunk(String type, byte[] data) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.writeInt(data.length);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
        return b.toByteArray();
    }

    static byte[] deflate(byte[] raw) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (DeflaterOutputStream out = new DeflaterOutputStream(b)) {
            out.write(raw);
        }
        return b.toByteArray();
    }

    private static String readText(Path png, String key) throws Exception {
        try (ImageInputStream in = ImageIO.createImageInputStream(png.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            IIOMetadata meta = reader.getImageMetadata(0);
            Element root = (Element) meta.getAsTree("javax_imageio_png_1.0");
            for (String tag : new String[] {"tEXtEntry", "iTXtEntry"}) {
                NodeList list = root.getElementsByTagName(tag);
                for (int i = 0; i < list.getLength(); i++) {
                    Element e = (Element) list.item(i);
                    if (key.equals(e.getAttribute("keyword"))) {
                        return tag.startsWith("t") ? e.getAttribute("value")
                                : e.getAttribute("text");
                    }
                }
            }
        }
        return null;
    }
}
