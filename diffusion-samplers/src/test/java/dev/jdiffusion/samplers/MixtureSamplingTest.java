package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every sampler, given the exact denoiser of a 2-D Gaussian mixture and a Karras schedule from
 * σ = 80 to 0.002, must reproduce the mixture. N = 3000 samples with a fixed seed. Tolerances
 * (about 3 standard errors of the estimates plus a margin for discretisation): component
 * weights ±0.035 absolute, component means ±0.12, per-axis variances within ±25 % relative.
 * Deterministic samplers run 50 steps, stochastic ones 100.
 */
class MixtureSamplingTest {

    private static final int N = 3000;
    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    @ParameterizedTest(name = "{0} ({1} steps)")
    @CsvSource({
        "euler, 50", "heun, 50", "lms, 50", "dpmpp_2m, 50", "ddim, 50",
        "euler_a, 100", "ddpm, 100", "dpmpp_2m_sde, 100"})
    void reproducesMixture(String name, int steps) {
        check(name, SamplerOptions.defaults(), steps);
    }

    @ParameterizedTest(name = "{0} with stochasticity")
    @CsvSource({"euler", "heun", "ddim"})
    void reproducesMixtureWithNoiseOptions(String name) {
        check(name, SamplerOptions.builder().optChurn(20).optChurnRange(0.05, 50).optEta(0.5)
                .build(), 100);
    }

    private void check(String name, SamplerOptions options, int steps) {
        GaussianMixture gm = GaussianMixture.threeComponents();
        float[] sigmas = SigmaSchedules.karras(steps, 0.002, 80, 7);
        SamplingContext ctx = SamplingContext.seeded(1234);
        float[] out;
        try (NDManager m = manager.newSubManager()) {
            NDArray x = ctx.noise().randn(m, new Shape(N, 2)).muli(sigmas[0]);
            out = Samplers.create(name, options).sample(gm, x, sigmas, ctx).toFloatArray();
        }
        int k = gm.size();
        double[] count = new double[k];
        double[][] sum = new double[k][2];
        double[][] sq = new double[k][2];
        for (int i = 0; i < N; i++) {
            double px = out[2 * i];
            double py = out[2 * i + 1];
            double[] r = gm.responsibilities(px, py, 0.0);
            int c = 0;
            for (int j = 1; j < k; j++) {
                if (r[j] > r[c]) {
                    c = j;
                }
            }
            count[c]++;
            sum[c][0] += px;
            sum[c][1] += py;
            sq[c][0] += px * px;
            sq[c][1] += py * py;
        }
        for (int c = 0; c < k; c++) {
            assertThat(count[c] / N).as("%s weight of component %d", name, c)
                    .isCloseTo(gm.weights[c], within(0.035));
            for (int a = 0; a < 2; a++) {
                double mean = sum[c][a] / count[c];
                double var = sq[c][a] / count[c] - mean * mean;
                double trueVar = gm.covs[c][a == 0 ? 0 : 2];
                assertThat(mean).as("%s mean of component %d axis %d", name, c, a)
                        .isCloseTo(gm.means[c][a], within(0.12));
                assertThat(var / trueVar).as("%s variance ratio of component %d axis %d", name,
                        c, a).isCloseTo(1.0, within(0.25));
            }
        }
    }
}
