package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

/** Guidance rescale (Lin et al. 2023, eq. 15–16) on 4-D latents. */
class GuidanceRescaleTest {

    @Test
    void fullRescaleMatchesTheConditionalStdPerSample() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            m.getEngine().setRandomSeed(7);
            NDArray cond = m.randomNormal(new Shape(2, 4, 3, 3));
            NDArray guided = m.randomNormal(new Shape(2, 4, 3, 3)).mul(5).add(1);
            NDArray full = DiffusionPipeline.rescaleGuidance(guided, cond, 1f);
            for (int i = 0; i < 2; i++) {
                float[] c = cond.get(i).toFloatArray();
                float[] g = guided.get(i).toFloatArray();
                float[] r = full.get(i).toFloatArray();
                // Expected by hand: r = g * std(c) / std(g) (population std over C, H, W).
                double k = std(c) / std(g);
                for (int j = 0; j < r.length; j++) {
                    assertThat((double) r[j]).isCloseTo(g[j] * k, within(1e-4));
                }
            }
            NDArray none = DiffusionPipeline.rescaleGuidance(guided, cond, 0f);
            assertThat(none.toFloatArray()).containsExactly(guided.toFloatArray());
        }
    }

    private static double std(float[] v) {
        double mean = 0;
        for (float x : v) {
            mean += x;
        }
        mean /= v.length;
        double ss = 0;
        for (float x : v) {
            ss += (x - mean) * (x - mean);
        }
        return Math.sqrt(ss / v.length);
    }
}
