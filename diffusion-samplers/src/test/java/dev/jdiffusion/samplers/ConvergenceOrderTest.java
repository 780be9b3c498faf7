package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Convergence order of the deterministic solvers on a 1-D Gaussian N(μ, s²), whose
 * probability-flow ODE dx/dσ = (x − D)/σ with D = μ + s²/(s² + σ²)(x − μ) has the exact
 * solution x(σ) = μ + (x_T − μ)·√(s² + σ²)/√(s² + σ_max²). Every solver's last step (σ_min → 0)
 * is x = D(x, σ_min), so the reference is D(x_exact(σ_min), σ_min). Arrays are float64 so the
 * discretisation error dominates. The slope of log(max error) against log(steps) over 10, 20,
 * 40, 80 Karras steps (σ 80 → 0.002) must lie in the stated band: about −1 for Euler and
 * DDIM(η = 0), about −2 for Heun and DPM-Solver++(2M).
 */
class ConvergenceOrderTest {

    private static final double MU = 0.5;
    private static final double S = 1.0;
    private static final double[] STARTS = {-2, -1, -0.3, 0.4, 1, 2.5};
    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static double d(double x, double sigma) {
        return MU + S * S / (S * S + sigma * sigma) * (x - MU);
    }

    private static double maxError(String name, int steps) {
        float[] sigmas = SigmaSchedules.karras(steps, 0.002, 80, 7);
        double sMax = sigmas[0];
        double sMin = sigmas[steps - 1];
        Denoiser exact = (x, sigma) -> {
            double k = S * S / (S * S + (double) sigma * sigma);
            double[] v = x.toDoubleArray();
            for (int i = 0; i < v.length; i++) {
                v[i] = MU + k * (v[i] - MU);
            }
            return x.getManager().create(v, x.getShape());
        };
        try (NDManager m = manager.newSubManager()) {
            double[] x0 = new double[STARTS.length];
            for (int i = 0; i < x0.length; i++) {
                x0[i] = STARTS[i] * sMax;
            }
            NDArray x = m.create(x0);
            assertThat(x.getDataType()).isEqualTo(DataType.FLOAT64);
            double[] out = Samplers.create(name).sample(exact, x, sigmas,
                    SamplingContext.seeded(0)).toDoubleArray();
            double err = 0;
            for (int i = 0; i < out.length; i++) {
                double atMin = MU + (x0[i] - MU) * Math.sqrt(S * S + sMin * sMin)
                        / Math.sqrt(S * S + sMax * sMax);
                err = Math.max(err, Math.abs(out[i] - d(atMin, sMin)));
            }
            return err;
        }
    }

    @ParameterizedTest(name = "{0}: slope in [{1}, {2}]")
    @CsvSource({
        "euler, -1.3, -0.7", "ddim, -1.3, -0.7",
        "heun, -2.6, -1.6", "dpmpp_2m, -2.6, -1.6", "lms, -4.5, -1.6"})
    void errorFallsAtExpectedRate(String name, double lo, double hi) {
        int[] steps = {10, 20, 40, 80};
        double[] lx = new double[steps.length];
        double[] ly = new double[steps.length];
        for (int i = 0; i < steps.length; i++) {
            lx[i] = Math.log(steps[i]);
            ly[i] = Math.log(maxError(name, steps[i]));
        }
        double mx = 0;
        double my = 0;
        for (int i = 0; i < steps.length; i++) {
            mx += lx[i] / steps.length;
            my += ly[i] / steps.length;
        }
        double num = 0;
        double den = 0;
        for (int i = 0; i < steps.length; i++) {
            num += (lx[i] - mx) * (ly[i] - my);
            den += (lx[i] - mx) * (lx[i] - mx);
        }
        double slope = num / den;
        System.err.printf("%s: errors %s, slope %.3f%n", name,
                java.util.Arrays.toString(java.util.Arrays.stream(ly).map(Math::exp).toArray()),
                slope);
        assertThat(slope).as(name + " log-log slope").isBetween(lo, hi);
    }
}
