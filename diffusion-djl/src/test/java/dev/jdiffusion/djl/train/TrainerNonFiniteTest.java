package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.toy.MlpDenoiser;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A non-finite loss skips the update instead of poisoning weights; a run of them stops. */
class TrainerNonFiniteTest {

    @Test
    void nonFiniteStepsAreSkippedThenTrainingStops() {
        float[] values = new float[64 * 2];
        Arrays.fill(values, Float.NaN);
        TrainingConfig config = TrainingConfig.builder().optSteps(100).optBatchSize(16)
                .optLearningRate(1e-3, 1e-5).optWarmupSteps(0).optSeed(3).optLogEvery(1000)
                .build();
        try (NDManager m = NDManager.newBaseManager()) {
            MlpDenoiser model = new MlpDenoiser(2, 16, 1, 0);
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(model)
                    .setData(new InMemoryData(values, new Shape(2))).setConfig(config)
                    .optManager(m).build()) {
                Map<String, float[]> before = weights(model);
                for (int i = 0; i < 19; i++) {
                    TrainingProgress p = t.trainStep();
                    assertThat(p.gradNorm()).isNaN();
                }
                // Skipped updates leave the weights exactly as they were, finite.
                Map<String, float[]> after = weights(model);
                for (String k : before.keySet()) {
                    assertThat(after.get(k)).as(k).containsExactly(before.get(k));
                }
                assertThatThrownBy(t::trainStep).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("20 steps in a row");
            }
        }
    }

    private static Map<String, float[]> weights(MlpDenoiser block) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            out.put(e.getKey(), e.getValue().getArray().toFloatArray());
        }
        return out;
    }
}
