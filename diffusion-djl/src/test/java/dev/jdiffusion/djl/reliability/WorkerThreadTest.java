package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.djl.testing.ChildJvm;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Generation on a thread other than the one that loaded the engine costs what it costs on that
 * thread: no growth of native memory over the steps of a run (PyTorch records the autograd graph
 * per thread unless it is turned off there, which kept every step's activations alive) and the
 * same time per step. Measured in a child JVM with a fixed, pre-touched heap (see {@link
 * ChildJvm}), so resident memory moves with native memory only; timings are compared as a ratio
 * between runs of the same child, alternating thread kinds.
 */
class WorkerThreadTest {

    private static final int ROUNDS = 3;

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void newThreadsAndExecutorsUseNoMoreMemoryOrTimePerStepThanTheLoadingThread()
            throws Exception {
        ChildJvm.Result r = ChildJvm.run(WorkerThreadProbe.class, 256, 280,
                TinyModel.folder().toString(), String.valueOf(ROUNDS), "40");
        assertThat(r.exitCode()).as("child exit status; output:\n" + r.output()).isZero();
        Map<String, List<double[]>> byMode = new HashMap<>();
        for (String line : r.lines("PROBE ")) {
            Map<String, String> kv = ChildJvm.Result.pairs(line);
            byMode.computeIfAbsent(kv.get("mode"), k -> new ArrayList<>()).add(new double[] {
                Double.parseDouble(kv.get("growthKib")), Double.parseDouble(kv.get("msPerStep"))});
        }
        assertThat(byMode.keySet()).containsExactlyInAnyOrder("main", "thread", "executor");
        double mainGrowth = median(byMode.get("main"), 0);
        double mainTime = median(byMode.get("main"), 1);
        for (String mode : List.of("thread", "executor")) {
            double growth = median(byMode.get(mode), 0);
            double time = median(byMode.get(mode), 1);
            System.out.printf(Locale.ROOT, "[reliability] %s: native growth over 40 steps %.1f"
                    + " MiB (loading thread %.1f MiB), %.2f ms/step (loading thread %.2f, ratio"
                    + " %.2f)%n", mode, growth / 1024, mainGrowth / 1024, time, mainTime,
                    time / mainTime);
            // A kept autograd graph holds every step's activations: 850 MiB over these 40
            // steps. A new thread's first allocations (its own malloc arena) add a few MiB.
            assertThat((growth - mainGrowth) / 1024).as(mode + ": extra native growth in MiB")
                    .isLessThan(32);
            assertThat(time / mainTime).as(mode + ": time per step relative to the loading"
                    + " thread").isLessThan(1.5);
        }
    }

    private static double median(List<double[]> runs, int index) {
        double[] v = runs.stream().mapToDouble(a -> a[index]).sorted().toArray();
        return v[v.length / 2];
    }
}
