package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.weights.CheckpointFamily;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.PredictionType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Family defaults and refusals of single-file loading that need no real-size weights. */
class SingleFileModelTest {

    @Test
    void sd2DefaultsToVPredictionAndASiblingSchedulerOverridesIt(@TempDir Path tmp)
            throws Exception {
        Path file = tmp.resolve("v2-1_768-ema-pruned.safetensors");
        DiffusersScheduler sd2 = SingleFileModel.scheduler(file, CheckpointFamily.SD2);
        assertThat(sd2.predictionType()).isEqualTo(PredictionType.V_PREDICTION);
        assertThat(sd2.config().className()).isEqualTo("DDIMScheduler");
        DiffusersScheduler xl = SingleFileModel.scheduler(file, CheckpointFamily.SDXL_BASE);
        assertThat(xl.predictionType()).isEqualTo(PredictionType.EPSILON);
        assertThat(xl.config().className()).isEqualTo("EulerDiscreteScheduler");
        assertThat(SingleFileModel.scheduler(file, CheckpointFamily.SD1).predictionType())
                .isEqualTo(PredictionType.EPSILON);

        // stable-diffusion-2-1-base (512 px) is an epsilon model: a sibling config says so.
        Files.createDirectories(tmp.resolve("scheduler"));
        Files.writeString(tmp.resolve("scheduler/scheduler_config.json"),
                SingleFileModel.SD21_SCHEDULER.replace("v_prediction", "epsilon"));
        assertThat(SingleFileModel.scheduler(file, CheckpointFamily.SD2).predictionType())
                .isEqualTo(PredictionType.EPSILON);
    }

    @Test
    void anSdxlRefinerFileNeedsOnlyTokenizer2(@TempDir Path tmp)
            throws Exception {
        Path file = tmp.resolve("sd_xl_refiner_1.0.safetensors");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            for (String n : List.of("model.diffusion_model.input_blocks.1.0.in_layers.0.weight",
                    "model.diffusion_model.output_blocks.0.0.in_layers.0.weight",
                    "model.diffusion_model.output_blocks.1.0.in_layers.0.weight",
                    "model.diffusion_model.label_emb.0.0.weight",
                    "first_stage_model.encoder.down.0.block.0.conv1.weight",
                    "conditioner.embedders.0.model.ln_final.weight")) {
                t.put(n, m.ones(new Shape(2)));
            }
            SafetensorsWriter.write(file, t, Map.of());
        }
        // Recognised as a refiner: it asks for tokenizer_2 (not tokenizer, which it has no
        // encoder for). Loading the small refiner is SingleFileParityTest's.
        assertThatThrownBy(() -> DiffusionPipeline.load(file, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining(tmp.resolve("tokenizer_2").toString())
                .hasMessageNotContaining(tmp.resolve("tokenizer") + " ");
    }
}
