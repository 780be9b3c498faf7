package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PickleGuardTest {

    @TempDir
    Path dir;

    @Test
    void pickleExtensionsAreRefusedWithoutReading() {
        for (String name : new String[] {"model.ckpt", "pytorch_model.bin", "w.PT", "w.pth",
            "x.pkl", "y.pickle"}) {
            // The files do not even exist: the extension alone decides.
            assertThatThrownBy(() -> PickleGuard.refusePickle(dir.resolve(name)))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining(name)
                    .hasMessageContaining("arbitrary code")
                    .hasMessageContaining(".safetensors");
        }
    }

    @Test
    void pickleContentIsRefusedWhateverTheName() throws IOException {
        Path zip = dir.resolve("renamed.safetensors");
        Files.write(zip, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0});
        assertThatThrownBy(() -> PickleGuard.refusePickle(zip))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("zip archive");
        Path pickle = dir.resolve("weights");
        Files.write(pickle, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc,
            (byte) 0x9c, 0x46, (byte) 0xf9, 0x20});
        assertThatThrownBy(() -> PickleGuard.refusePickle(pickle))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("pickle");
        Path proto4 = dir.resolve("p4.safetensors");
        Files.write(proto4, new byte[] {(byte) 0x80, 4, (byte) 0x95, 0, 0, 0, 0, 0, 0, '}'});
        assertThatThrownBy(() -> PickleGuard.refusePickle(proto4))
                .isInstanceOf(ModelLoadException.class);
    }

    @Test
    void safetensorsFilesPassEvenWhenTheirLengthLooksLikeAPickleOpcode() throws IOException {
        // Header length 0x0280 = 640: bytes 80 02 00 .. like PROTO 2, but '{' follows.
        StringBuilder header = new StringBuilder("{}");
        while (header.length() < 640) {
            header.append(' ');
        }
        ByteBuffer b = ByteBuffer.allocate(8 + 640).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(640).put(header.toString().getBytes(StandardCharsets.US_ASCII));
        Path p = dir.resolve("ok.safetensors");
        Files.write(p, b.array());
        assertThatCode(() -> PickleGuard.refusePickle(p)).doesNotThrowAnyException();
        assertThatCode(() -> PickleGuard.refusePickle(dir.resolve("absent.safetensors")))
                .doesNotThrowAnyException();
    }
}
