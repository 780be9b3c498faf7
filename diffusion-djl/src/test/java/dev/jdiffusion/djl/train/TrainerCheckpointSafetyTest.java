package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.toy.MlpDenoiser;
import dev.jdiffusion.djl.toy.ToyDatasets;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A torn newest checkpoint falls back to the newest intact one; old checkpoints are pruned. */
class TrainerCheckpointSafetyTest {

    private static final int STEPS = 40;

    @TempDir
    Path dir;

    private static TrainingConfig config(long seed, int keep) {
        return TrainingConfig.builder().optSteps(STEPS).optBatchSize(16)
                .optLearningRate(2e-3, 1e-5).optWarmupSteps(5).optEmaDecay(0.9)
                .optSeed(seed).optLogEvery(1000).optKeepCheckpoints(keep).build();
    }

    private static DiffusionTrainer trainer(NDManager m, MlpDenoiser model, TrainingConfig c,
            Path ckpts) {
        return DiffusionTrainer.builder().setModel(model)
                .setData(ToyDatasets.moons(64, 5).toTrainingData(false)).setConfig(c)
                .optManager(m).optCheckpoints(ckpts, 10).build();
    }

    private static Map<String, float[]> weights(MlpDenoiser block) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            out.put(e.getKey(), e.getValue().getArray().toFloatArray());
        }
        return out;
    }

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static void truncate(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 2);
        }
    }

    @Test
    void tornNewestCheckpointFallsBackToTheNewestIntactOne() throws IOException {
        Path ckpts = dir.resolve("ckpts");
        try (NDManager m = NDManager.newBaseManager()) {
            MlpDenoiser full = new MlpDenoiser(2, 16, 1, 0);
            Map<String, float[]> expected;
            try (DiffusionTrainer t = trainer(m, full, config(3, 0), ckpts)) {
                t.train();
                expected = weights(full);
            }
            assertThat(names(ckpts)).containsExactly("checkpoint-00000010.safetensors",
                    "checkpoint-00000020.safetensors", "checkpoint-00000030.safetensors",
                    "checkpoint-00000040.safetensors");
            // The run was killed while writing 30 and the file system kept 40 half-written.
            truncate(ckpts.resolve("checkpoint-00000040.safetensors"));
            Files.write(ckpts.resolve("checkpoint-00000030.safetensors"), new byte[5]);

            MlpDenoiser resumed = new MlpDenoiser(2, 16, 1, 0);
            try (DiffusionTrainer t = trainer(m, resumed, config(3, 0), ckpts)) {
                DiffusionTrainer.Resumed r = t.resumeLatest(STEPS);
                assertThat(r.checkpoint()).isEqualTo(ckpts.resolve(
                        "checkpoint-00000020.safetensors"));
                assertThat(r.step()).isEqualTo(20).isEqualTo(t.step());
                assertThat(r.skipped().keySet()).containsExactly(
                        ckpts.resolve("checkpoint-00000040.safetensors"),
                        ckpts.resolve("checkpoint-00000030.safetensors"));
                t.train();
                // Rewritten intact: the torn files are replaced by the resumed run.
                assertThat(weights(resumed)).usingRecursiveComparison().isEqualTo(expected);
            }
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(3, 0),
                    ckpts)) {
                DiffusionTrainer.Resumed r = t.resumeLatest(25);
                assertThat(r.step()).isEqualTo(20);
                assertThat(r.skipped()).isEmpty();
            }
        }
    }

    @Test
    void noIntactCheckpointStartsAtStepZeroAndAnotherRunsCheckpointFails() throws IOException {
        Path ckpts = dir.resolve("ckpts");
        try (NDManager m = NDManager.newBaseManager()) {
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(3, 1),
                    ckpts)) {
                DiffusionTrainer.Resumed r = t.resumeLatest(STEPS);
                assertThat(r.checkpoint()).isNull();
                assertThat(r.step()).isZero();
                t.train(10);
            }
            truncate(ckpts.resolve("checkpoint-00000010.safetensors"));
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(3, 1),
                    ckpts)) {
                DiffusionTrainer.Resumed r = t.resumeLatest(STEPS);
                assertThat(r.checkpoint()).isNull();
                assertThat(r.skipped()).hasSize(1);
                assertThat(t.step()).isZero();
                t.train(20);
            }
            // Seed 4 did not write these: refused, not skipped as if torn.
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(4, 1),
                    ckpts)) {
                assertThatThrownBy(() -> t.resumeLatest(STEPS))
                        .isInstanceOf(ModelLoadException.class).hasMessageContaining("seed 3");
            }
        }
    }

    @Test
    void keepsTheNewestCheckpointsAndNothingElseIsDeleted() throws IOException {
        Path ckpts = Files.createDirectories(dir.resolve("ckpts"));
        Files.writeString(ckpts.resolve("notes.txt"), "mine");
        Files.writeString(ckpts.resolve("checkpoint-3.safetensors"), "not ours: other name");
        try (NDManager m = NDManager.newBaseManager()) {
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(3, 2),
                    ckpts)) {
                t.train();
            }
            assertThat(names(ckpts)).containsExactly("checkpoint-00000030.safetensors",
                    "checkpoint-00000040.safetensors", "checkpoint-3.safetensors", "notes.txt");
            // Resuming a shorter run prunes only checkpoints up to its own step.
            try (DiffusionTrainer t = trainer(m, new MlpDenoiser(2, 16, 1, 0), config(3, 2),
                    ckpts)) {
                t.train(20);
            }
            assertThat(names(ckpts)).containsExactly("checkpoint-00000010.safetensors",
                    "checkpoint-00000020.safetensors", "checkpoint-00000030.safetensors",
                    "checkpoint-00000040.safetensors", "checkpoint-3.safetensors", "notes.txt");
        }
    }

    @Test
    void keepCheckpointsDefaultsToThreeAndRejectsNegatives() {
        assertThat(TrainingConfig.builder().build().keepCheckpoints()).isEqualTo(3);
        assertThat(TrainingConfig.builder().optKeepCheckpoints(0).build().keepCheckpoints())
                .isZero();
        assertThatThrownBy(() -> TrainingConfig.builder().optKeepCheckpoints(-1).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("keepCheckpoints");
    }
}
