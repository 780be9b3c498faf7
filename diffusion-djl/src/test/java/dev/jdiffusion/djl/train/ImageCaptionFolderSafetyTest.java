package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.djl.testing.Fifos;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Problems with training files are reported with the file's name, and the loader opens only
 * regular files (a FIFO would block it for ever).
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS) // a hang on a FIFO fails instead of blocking
class ImageCaptionFolderSafetyTest {

    private static final Function<String, int[]> TOKENIZER =
            s -> new int[] {s.length(), 0, 0, 0};

    @TempDir
    Path dir;

    private static void png(Path file) throws IOException {
        ImageIO.write(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), "png", file.toFile());
    }

    /** Makes a FIFO; skips the test where {@code mkfifo} cannot run. */
    private static void mkfifo(Path path) throws IOException {
        Fifos.requireMkfifo();
        Fifos.mkfifo(path);
    }

    @Test
    void invalidUtf8CaptionNamesTheFile() throws IOException {
        png(dir.resolve("cat.png"));
        Files.write(dir.resolve("cat.txt"), new byte[] {'a', ' ', (byte) 0xC3, '(', 'x'});
        assertThatThrownBy(() -> ImageCaptionFolder.open(dir, 8, 8, TOKENIZER, false))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(dir.resolve("cat.txt").toString())
                .hasMessageContaining("UTF-8")
                .hasMessageContaining("offset 2");
    }

    @Test
    void corruptImageNamesTheFile() throws IOException {
        png(dir.resolve("good.png"));
        byte[] bytes = Files.readAllBytes(dir.resolve("good.png"));
        // Keep the signature and the IHDR chunk, then garbage where the next chunk should be.
        byte[] torn = Arrays.copyOf(bytes, 33 + 12);
        Arrays.fill(torn, 33, torn.length, (byte) 0x7F);
        Files.write(dir.resolve("torn.png"), torn);
        ImageCaptionFolder data = ImageCaptionFolder.open(dir, 8, 8, null, false);
        assertThat(data.image(0).width()).isEqualTo(8);
        assertThatThrownBy(() -> data.image(1))
                .isInstanceOf(UncheckedIOException.class)
                .hasMessageContaining(dir.resolve("torn.png").toString());
    }

    @Test
    void fifoCaptionIsRefusedNotRead() throws Exception {
        png(dir.resolve("cat.png"));
        mkfifo(dir.resolve("cat.txt"));
        assertThatThrownBy(() -> ImageCaptionFolder.open(dir, 8, 8, TOKENIZER, false))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("cat.txt")
                .hasMessageContaining("not a regular file");
        ImageCaptionFolder unconditional = ImageCaptionFolder.open(dir, 8, 8, null, false);
        assertThatThrownBy(() -> unconditional.caption(0))
                .hasMessageContaining("not a regular file");
    }

    @Test
    void fifoImageOrLinkToOneIsRefusedNotSkipped() throws Exception {
        png(dir.resolve("a.png"));
        Files.writeString(dir.resolve("a.txt"), "a");
        mkfifo(dir.resolve("b.png"));
        assertThatThrownBy(() -> ImageCaptionFolder.open(dir, 8, 8, null, false))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(dir.resolve("b.png").toString())
                .hasMessageContaining("not a regular file");
        Files.move(dir.resolve("b.png"), dir.resolve("pipe"));
        Files.createSymbolicLink(dir.resolve("c.png"), dir.resolve("pipe"));
        assertThatThrownBy(() -> ImageCaptionFolder.open(dir, 8, 8, null, false))
                .hasMessageContaining("c.png")
                .hasMessageContaining("not a regular file");
        Files.delete(dir.resolve("c.png"));
        // A link to a regular image is fine, and a folder named like an image is not searched.
        Files.createSymbolicLink(dir.resolve("d.png"), dir.resolve("a.png"));
        Files.writeString(dir.resolve("d.txt"), "d");
        Files.createDirectory(dir.resolve("folder.png"));
        ImageCaptionFolder data = ImageCaptionFolder.open(dir, 8, 8, TOKENIZER, false);
        assertThat(data.images()).containsExactly(dir.resolve("a.png"), dir.resolve("d.png"));
        assertThat(data.image(1).width()).isEqualTo(8);
    }
}
