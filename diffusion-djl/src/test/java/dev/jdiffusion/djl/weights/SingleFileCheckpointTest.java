package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SD 1.5 single-file structure with every tensor shrunk (each dimension capped at 2, 1×1
 * kernels kept): save three components under diffusers names as one LDM file, reopen, split and
 * load them back.
 */
class SingleFileCheckpointTest {

    @TempDir
    Path dir;

    record Row(String component, String diffusers, long[] shape, String ldm, long[] ldmShape) {}

    private static List<Row> rows() throws IOException {
        Path tsv = Fixtures.sd15Keys();
        List<String> lines = Files.readAllLines(tsv);
        return lines.subList(1, lines.size()).stream().map(l -> l.split("\t"))
                .map(c -> new Row(c[0], c[1], tiny(c[2]), c[3], tiny(c[4]))).toList();
    }

    private static long[] tiny(String s) {
        String inner = s.substring(1, s.length() - 1).trim();
        return inner.isEmpty() ? new long[0] : Arrays.stream(inner.split(","))
                .mapToLong(x -> Math.min(2, Long.parseLong(x.trim()))).toArray();
    }

    private static Map<String, Parameter> params(List<Row> rows, String component) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        for (Row r : rows) {
            if (r.component.equals(component)) {
                out.put(r.diffusers, Parameter.builder().setName(r.diffusers)
                        .setType(Parameter.Type.WEIGHT).optShape(new Shape(r.shape))
                        .optInitializer((m, shape, type) -> m.randomNormal(shape, type))
                        .build());
            }
        }
        return out;
    }

    @Test
    void saveSplitAndLoadRoundTrip() throws IOException {
        List<Row> rows = rows();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, Map<String, Parameter>> src = new HashMap<>();
            for (String c : List.of("unet", "vae", "text_encoder")) {
                src.put(c, params(rows, c));
                src.get(c).values().forEach(p -> p.initialize(m, DataType.FLOAT32));
            }
            Path file = dir.resolve("sd15-tiny.safetensors");
            SingleFileCheckpoint.save(file, src.get("unet"), src.get("vae"),
                    src.get("text_encoder"), DataType.FLOAT16, Map.of("format", "pt"));

            try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
                // Exactly the LDM names and shapes of the fixture.
                Map<String, TensorInfo> stored = ckpt.file().tensors();
                assertThat(stored).hasSize(1130);
                for (Row r : rows) {
                    assertThat(stored).containsKey(r.ldm);
                    assertThat(stored.get(r.ldm).dims()).as(r.ldm).containsExactly(r.ldmShape);
                }
                assertThat(ckpt.unetLayout()).isEqualTo(LdmKeys.UnetLayout.SD);
                assertThat(ckpt.vaeLevels()).isEqualTo(4);
                assertThat(ckpt.otherNames()).isEmpty();

                Map<String, StateDict.LoadSummary> summaries = new HashMap<>();
                Map<String, Map<String, Parameter>> dst = new HashMap<>();
                for (String c : List.of("unet", "vae", "text_encoder")) {
                    dst.put(c, params(rows, c));
                }
                summaries.put("unet", ckpt.loadUnet(dst.get("unet"), m, DataType.FLOAT32));
                summaries.put("vae", ckpt.loadVae(dst.get("vae"), m, DataType.FLOAT32));
                summaries.put("text", ckpt.loadTextEncoder(dst.get("text_encoder"), m,
                        DataType.FLOAT16));
                assertThat(summaries.get("unet").tensors()).isEqualTo(686);
                assertThat(summaries.get("unet").skipped()).hasSize(1130 - 686);
                assertThat(summaries.get("vae").tensors()).isEqualTo(248);
                assertThat(summaries.get("text").tensors()).isEqualTo(196);
                for (String c : List.of("unet", "vae", "text_encoder")) {
                    for (Map.Entry<String, Parameter> e : dst.get(c).entrySet()) {
                        float[] expected = src.get(c).get(e.getKey()).getArray()
                                .toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false)
                                .toFloatArray();
                        assertThat(e.getValue().getArray().getShape())
                                .isEqualTo(src.get(c).get(e.getKey()).getShape());
                        assertThat(e.getValue().getArray().toType(DataType.FLOAT32, false)
                                .toFloatArray()).as(e.getKey()).containsExactly(expected);
                    }
                }
            }
        }
    }

    @Test
    void filesWithoutTheThreeComponentsAreRefused() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Path file = dir.resolve("unet-only.safetensors");
            SafetensorsWriter.write(file, Map.of("model.diffusion_model.out.2.bias",
                    m.ones(new Shape(4))), Map.of());
            assertThatThrownBy(() -> SingleFileCheckpoint.open(file))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("no VAE").hasMessageContaining("no text encoder");
            try (SafetensorsFile f = SafetensorsFile.open(file)) {
                assertThat(f.names()).hasSize(1);
            }
        }
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Path file = dir.resolve("irregular.safetensors");
            Map<String, ai.djl.ndarray.NDArray> t = new LinkedHashMap<>();
            t.put("model.diffusion_model.input_blocks.99999999999.0.op.weight",
                    m.ones(new Shape(1)));
            t.put("model.diffusion_model.input_blocks.2.0.op.weight", m.ones(new Shape(1)));
            t.put("first_stage_model.encoder.down.0.block.0.conv1.weight", m.ones(new Shape(1)));
            t.put("cond_stage_model.transformer.text_model.x.weight", m.ones(new Shape(1)));
            SafetensorsWriter.write(file, t, Map.of());
            assertThatThrownBy(() -> SingleFileCheckpoint.open(file))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("no UNet input/output blocks");
        }
        assertThatThrownBy(() -> SingleFileCheckpoint.open(dir.resolve("sd.ckpt")))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("pickle");
    }
}
