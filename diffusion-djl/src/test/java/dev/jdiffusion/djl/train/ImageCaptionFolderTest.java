package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageCaptionFolderTest {

    /** A fake tokenizer: (length, first char, 0-padding) in 4 ids. */
    private static final Function<String, int[]> TOKENIZER =
            s -> new int[] {s.length(), s.isEmpty() ? 0 : s.charAt(0), 0, 0};

    private static void image(Path file, int w, int h, Color left, Color right)
            throws IOException {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setColor(left);
        g.fillRect(0, 0, w / 2, h);
        g.setColor(right);
        g.fillRect(w / 2, 0, w - w / 2, h);
        g.dispose();
        ImageIO.write(img, "png", file.toFile());
    }

    @Test
    void loadsCroppedImagesInMinusOneToOneWithTokenizedCaptions(@TempDir Path dir)
            throws Exception {
        // 64x32, left half red, right half blue: centre-cropped to 16x16 from 32x16, the crop
        // keeps x in [8, 24) of 32: columns 0-7 red, 8-15 blue.
        image(dir.resolve("a.png"), 64, 32, Color.RED, Color.BLUE);
        Files.writeString(dir.resolve("a.txt"), "a red and blue image\n");
        image(dir.resolve("b.png"), 16, 16, Color.WHITE, Color.WHITE);
        Files.writeString(dir.resolve("b.txt"), "white");
        Files.writeString(dir.resolve("notes.md"), "ignored");
        ImageCaptionFolder data = ImageCaptionFolder.open(dir, 16, 16, TOKENIZER, true);
        assertThat(data.size()).isEqualTo(2);
        try (NDManager m = NDManager.newBaseManager()) {
            Batch b = data.batch(m, new int[] {0, 1, 0});
            assertThat(b.x().getShape()).isEqualTo(new Shape(3, 3, 16, 16));
            float[] x = b.x().toFloatArray();
            int plane = 256;
            // Image 0, row 5: column 2 red (1, −1, −1), column 13 blue (−1, −1, 1).
            assertThat(x[5 * 16 + 2]).isCloseTo(1f, within(1e-6f));
            assertThat(x[plane + 5 * 16 + 2]).isCloseTo(-1f, within(1e-6f));
            assertThat(x[2 * plane + 5 * 16 + 13]).isCloseTo(1f, within(1e-6f));
            assertThat(x[5 * 16 + 13]).isCloseTo(-1f, within(1e-6f));
            // Image 1 is white: all 1.
            for (int i = 0; i < 3 * plane; i++) {
                assertThat(x[3 * plane + i]).isCloseTo(1f, within(1e-6f));
            }
            assertThat(b.condition().toIntArray())
                    .containsExactly(20, 'a', 0, 0, 5, 'w', 0, 0, 20, 'a', 0, 0);
            NDArray nul = data.nullCondition(m, 2);
            assertThat(nul.getShape()).isEqualTo(new Shape(2, 4));
            assertThat(nul.toIntArray()).containsOnly(0);
        }
    }

    @Test
    void imageReturnsWhatTheTrainerSeesAsRgb(@TempDir Path dir) throws Exception {
        image(dir.resolve("a.png"), 64, 32, Color.RED, new Color(10, 128, 250));
        ImageCaptionFolder data = ImageCaptionFolder.open(dir, 16, 16, null, false);
        var img = data.image(0);
        assertThat(img.width()).isEqualTo(16);
        assertThat(img.height()).isEqualTo(16);
        assertThat(img.rgb(2, 5) & 0xFFFFFF).isEqualTo(0xFF0000);
        assertThat(img.rgb(13, 5) & 0xFFFFFF).isEqualTo(10 << 16 | 128 << 8 | 250);
        assertThat(img.seed()).isEmpty();
        assertThatThrownBy(() -> data.image(1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> data.caption(0)).isInstanceOf(IOException.class)
                .hasMessageContaining("a.png has no caption file a.txt");
        Files.writeString(dir.resolve("a.txt"), "  red and blue \n");
        assertThat(data.caption(0)).isEqualTo("red and blue");
    }

    @Test
    void missingCaptionIsAnError(@TempDir Path dir) throws Exception {
        image(dir.resolve("a.png"), 8, 8, Color.RED, Color.RED);
        assertThatThrownBy(() -> ImageCaptionFolder.open(dir, 8, 8, TOKENIZER, false))
                .isInstanceOf(IOException.class).hasMessageContaining("a.txt");
        // Without a tokenizer the folder is unconditional and captions are not needed.
        ImageCaptionFolder data = ImageCaptionFolder.open(dir, 8, 8, null, false);
        try (NDManager m = NDManager.newBaseManager()) {
            assertThat(data.batch(m, new int[] {0}).condition()).isNull();
            assertThat(data.nullCondition(m, 1)).isNull();
        }
    }
}
