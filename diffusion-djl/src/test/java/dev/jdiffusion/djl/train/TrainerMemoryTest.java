package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.djl.toy.MlpDenoiser;
import dev.jdiffusion.djl.toy.ToyDatasets;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Training memory stays flat: every step is scoped, optimizer state is updated in place. */
class TrainerMemoryTest {

    private static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    @Test
    void residentMemoryAndLiveArraysDoNotGrow() throws Exception {
        TrainingConfig config = TrainingConfig.builder().optSteps(300).optBatchSize(256)
                .optConditionDropout(0.1).optMinSnrGamma(5).optSeed(3).optLogEvery(1000)
                .build();
        // Width 256: one leaked activation per step is 256 x 256 x 4 B = 256 KB, so a leak of
        // a single step temporary over the 250 measured steps adds >= 64 MB; leaking a
        // gradient handle per parameter adds 11 live arrays per step.
        try (NDManager m = NDManager.newBaseManager();
                DiffusionTrainer t = DiffusionTrainer.builder()
                        .setModel(new MlpDenoiser(2, 256, 3, 8))
                        .setData(ToyDatasets.mixture(2048, 1).toTrainingData(true))
                        .setConfig(config).optManager(m).build()) {
            for (int i = 0; i < 50; i++) {
                t.trainStep();
            }
            System.gc();
            long rss0 = rssKb();
            int live0 = t.liveArrays();
            long rssMax = rss0;
            for (int i = 50; i < 300; i++) {
                t.trainStep();
                if (i % 25 == 0) {
                    rssMax = Math.max(rssMax, rssKb());
                    assertThat(t.liveArrays()).as("live arrays at step %d", i).isEqualTo(live0);
                }
            }
            System.gc();
            long rss1 = rssKb();
            System.out.printf("VmRSS after warm-up %d KB, after 300 steps %d KB (max %d KB);"
                    + " live arrays %d -> %d%n", rss0, rss1, rssMax, live0, t.liveArrays());
            assertThat(t.liveArrays()).isEqualTo(live0);
            // Tolerance 24 MB: allocator and JIT noise, well below the 64 MB of one leak.
            assertThat(rss1 - rss0).as("RSS growth in KB").isLessThan(24 * 1024);
        }
    }
}
