package dev.jdiffusion.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.samplers.SigmaSchedules;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Measures the time each built-in sampler spends per step outside the denoiser, on Stable
 * Diffusion sized latents (1, 4, 64, 64), with a cheap denoiser (x · 0.9) whose own median cost
 * is measured separately and subtracted. Prints one line per sampler: the median over repeated
 * 20-step runs after warm-up.
 *
 * <p>Run: {@code java -cp diffusion-examples/target/jdiffusion.jar
 * dev.jdiffusion.examples.bench.SamplerOverheadBenchmark [runs]}.
 */
public final class SamplerOverheadBenchmark {

    private static final int STEPS = 20;

    private SamplerOverheadBenchmark() {}

    /**
     * Entry point.
     *
     * @param args optional number of measured runs per sampler (default 30)
     */
    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", "true");
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        float[] sigmas = SigmaSchedules.karras(STEPS, 0.0292, 14.6146, 7);
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x0 = SamplingContext.seeded(0).noise().randn(manager, new Shape(1, 4, 64, 64))
                    .muli(sigmas[0]);
            int[] calls = {0};
            Denoiser cheap = (x, sigma) -> {
                calls[0]++;
                return x.mul(0.9f);
            };
            denoiserCost(x0, 2000); // warm-up
            double denoiseNs = denoiserCost(x0, runs * 50);
            double noiseNs = noiseCost(x0, runs * 2);
            System.out.printf(Locale.ROOT, "latents (1, 4, 64, 64), %d steps, %d runs;"
                    + " denoiser x*0.9 median %.1f us per call (subtracted)%n", STEPS, runs,
                    denoiseNs / 1e3);
            System.out.printf(Locale.ROOT, "fresh noise ctx.noiseLike(x): median %.1f us per"
                    + " draw (included below for ddpm, euler_a, dpmpp_2m_sde)%n", noiseNs / 1e3);
            List<String> names = List.of("ddim", "ddpm", "euler", "euler_a", "heun", "lms",
                    "dpmpp_2m", "dpmpp_2m_sde");
            for (String name : names) {
                Sampler s = Samplers.create(name);
                for (int w = 0; w < 5; w++) {
                    run(s, cheap, x0, sigmas, w);
                }
                double[] perStep = new double[runs];
                for (int r = 0; r < runs; r++) {
                    calls[0] = 0;
                    long t = run(s, cheap, x0, sigmas, r);
                    perStep[r] = (t - calls[0] * denoiseNs) / STEPS;
                }
                Arrays.sort(perStep);
                System.out.printf(Locale.ROOT, "%-13s %7.1f us/step outside the denoiser"
                        + " (min %.1f, max %.1f)%n", name, perStep[runs / 2] / 1e3,
                        perStep[0] / 1e3, perStep[runs - 1] / 1e3);
            }
        }
    }

    private static long run(Sampler s, Denoiser d, NDArray x0, float[] sigmas, long seed) {
        try (NDManager m = x0.getManager().newSubManager()) {
            NDArray x = x0.duplicate();
            x.attach(m);
            long start = System.nanoTime();
            NDArray out = s.sample(d, x, sigmas, SamplingContext.seeded(seed));
            out.getFloat(0, 0, 0, 0); // make sure the work is done
            return System.nanoTime() - start;
        }
    }

    private static double noiseCost(NDArray x, int reps) {
        SamplingContext ctx = SamplingContext.seeded(1);
        long[] t = new long[reps];
        for (int i = 0; i < reps + 10; i++) {
            long start = System.nanoTime();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                ctx.noiseLike(x).close();
            }
            if (i >= 10) {
                t[i - 10] = System.nanoTime() - start;
            }
        }
        Arrays.sort(t);
        return t[reps / 2];
    }

    private static double denoiserCost(NDArray x, int reps) {
        long[] t = new long[reps];
        for (int i = 0; i < reps; i++) {
            long start = System.nanoTime();
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray y = x.mul(0.9f);
                y.close();
            }
            t[i] = System.nanoTime() - start;
        }
        Arrays.sort(t);
        return t[reps / 2];
    }
}
