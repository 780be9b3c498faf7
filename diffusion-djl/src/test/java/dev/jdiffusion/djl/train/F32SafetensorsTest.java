package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.ModelLoadException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class F32SafetensorsTest {

    @Test
    void writesTheSafetensorsLayoutAndReadsItBack(@TempDir Path dir) throws Exception {
        Map<String, F32Safetensors.Tensor> t = new LinkedHashMap<>();
        t.put("zeta", new F32Safetensors.Tensor(new long[] {3}, new float[] {1, -2, 3.5f}));
        t.put("alpha", new F32Safetensors.Tensor(new long[] {2, 1}, new float[] {0.25f, -0f}));
        Path f = dir.resolve("x.safetensors");
        F32Safetensors.write(f, t, Map.of("step", "12"));

        byte[] bytes = Files.readAllBytes(f);
        long headerLen = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertThat(headerLen % 8).isZero();
        String header = new String(bytes, 8, (int) headerLen, StandardCharsets.UTF_8);
        // Keys sorted, data offsets in that order, space padding, 5 floats of data.
        assertThat(header).startsWith("{\"__metadata__\":{\"step\":\"12\"},\"alpha\":"
                + "{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},\"zeta\":"
                + "{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}}");
        assertThat(header.substring(header.lastIndexOf('}') + 1)).matches(" *");
        assertThat(bytes.length).isEqualTo(8 + headerLen + 20);
        float first = ByteBuffer.wrap(bytes, (int) (8 + headerLen), 4)
                .order(ByteOrder.LITTLE_ENDIAN).getFloat();
        assertThat(first).isEqualTo(0.25f);

        F32Safetensors.Contents c = F32Safetensors.read(f);
        assertThat(c.metadata()).containsEntry("step", "12");
        assertThat(c.tensors().keySet()).containsExactly("alpha", "zeta");
        assertThat(c.tensors().get("zeta").data()).containsExactly(1, -2, 3.5f);
        assertThat(c.tensors().get("alpha").shape()).containsExactly(2, 1);
        assertThat(Float.floatToRawIntBits(c.tensors().get("alpha").data()[1]))
                .isEqualTo(Float.floatToRawIntBits(-0f));
        try (var files = Files.list(dir)) {
            assertThat(files.count()).as("no temporary file left").isEqualTo(1);
        }
    }

    @Test
    void rejectsTruncatedFiles(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("x.safetensors");
        F32Safetensors.write(f, Map.of("w", new F32Safetensors.Tensor(new long[] {4},
                new float[] {1, 2, 3, 4})), Map.of());
        byte[] bytes = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(bytes, bytes.length - 4));
        assertThatThrownBy(() -> F32Safetensors.read(f)).isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("'w'").hasMessageContaining("truncated");
        assertThatThrownBy(() -> F32Safetensors.read(dir.resolve("missing.safetensors")))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not found");
    }
}
