package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.toy.MlpDenoiser;
import dev.jdiffusion.djl.toy.ToyDatasets;
import dev.jdiffusion.samplers.PredictionType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Same seed → same weights; resuming from a checkpoint equals the uninterrupted run. */
class TrainerDeterminismTest {

    private static final int STEPS = 40;

    private static TrainingConfig config(long seed) {
        // Every random path is on: condition dropout, min-SNR weights, v-prediction, clipping.
        return TrainingConfig.builder().optSteps(STEPS).optBatchSize(32)
                .optLearningRate(2e-3, 1e-5).optWarmupSteps(5).optEmaDecay(0.9)
                .optConditionDropout(0.2).optMinSnrGamma(5)
                .optPredictionType(PredictionType.V_PREDICTION).optGradClipNorm(0.5)
                .optSeed(seed).optLogEvery(1000).build();
    }

    private static TrainingData data() {
        // 100 examples and batch 32: epochs end mid-batch, exercising the permutation path.
        return ToyDatasets.moons(100, 5).toTrainingData(true);
    }

    private static MlpDenoiser mlp() {
        return new MlpDenoiser(2, 32, 1, 2);
    }

    private static Map<String, float[]> weights(MlpDenoiser block) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            out.put(e.getKey(), e.getValue().getArray().toFloatArray());
        }
        return out;
    }

    private static Map<String, float[]> ema(DiffusionTrainer trainer, NDManager m) {
        MlpDenoiser target = mlp();
        target.initialize(m, DataType.FLOAT32, target.inputShapes(1));
        trainer.copyEmaInto(target);
        return weights(target);
    }

    private static void assertBitIdentical(Map<String, float[]> a, Map<String, float[]> b) {
        assertThat(a.keySet()).isEqualTo(b.keySet());
        for (String k : a.keySet()) {
            assertThat(a.get(k)).as(k).containsExactly(b.get(k));
        }
    }

    @Test
    void sameSeedGivesIdenticalWeightsAndOtherSeedDoesNot() throws Exception {
        Map<String, float[]> first;
        Map<String, float[]> second;
        Map<String, float[]> other;
        Map<String, float[]> init;
        try (NDManager m = NDManager.newBaseManager()) {
            MlpDenoiser a = mlp();
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(a).setData(data())
                    .setConfig(config(42)).optManager(m).build()) {
                init = weights(a);
                t.train();
                first = weights(a);
            }
            MlpDenoiser b = mlp();
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(b).setData(data())
                    .setConfig(config(42)).optManager(m).build()) {
                assertBitIdentical(weights(b), init); // initialisation comes from the seed
                t.train();
                second = weights(b);
            }
            MlpDenoiser c = mlp();
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(c).setData(data())
                    .setConfig(config(43)).optManager(m).build()) {
                t.train();
                other = weights(c);
            }
        }
        assertBitIdentical(first, second);
        // Training moved the weights, and another seed lands elsewhere.
        assertThat(first.get("input.weight")).isNotEqualTo(init.get("input.weight"));
        assertThat(other.get("input.weight")).isNotEqualTo(first.get("input.weight"));
    }

    @Test
    void resumeFromCheckpointEqualsUninterruptedRun(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            Map<String, float[]> fullWeights;
            Map<String, float[]> fullEma;
            MlpDenoiser a = mlp();
            Path ckpts = dir.resolve("full");
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(a).setData(data())
                    .setConfig(config(7)).optManager(m).optCheckpoints(ckpts, 25).build()) {
                t.train();
                fullWeights = weights(a);
                fullEma = ema(t, m);
            }
            try (Stream<Path> files = Files.list(ckpts)) {
                // Every 25 steps and after the last, no temporary files left behind.
                assertThat(files.map(p -> p.getFileName().toString()).sorted())
                        .containsExactly("checkpoint-00000025.safetensors",
                                "checkpoint-00000040.safetensors");
            }

            Path half = dir.resolve("half.safetensors");
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(mlp()).setData(data())
                    .setConfig(config(7)).optManager(m).build()) {
                for (int i = 0; i < 17; i++) {
                    t.trainStep();
                }
                t.saveCheckpoint(half);
            }
            MlpDenoiser c = mlp();
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(c).setData(data())
                    .setConfig(config(7)).optManager(m).build()) {
                t.loadCheckpoint(half);
                assertThat(t.step()).isEqualTo(17);
                t.train();
                assertThat(t.step()).isEqualTo(STEPS);
                assertBitIdentical(weights(c), fullWeights);
                assertBitIdentical(ema(t, m), fullEma);
            }

            // A checkpoint of another seed is refused rather than silently resumed.
            try (DiffusionTrainer t = DiffusionTrainer.builder().setModel(mlp()).setData(data())
                    .setConfig(config(8)).optManager(m).build()) {
                assertThatThrownBy(() -> t.loadCheckpoint(half))
                        .isInstanceOf(ModelLoadException.class).hasMessageContaining("seed 7");
            }
        }
    }
}
