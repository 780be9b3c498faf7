package dev.jdiffusion.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.Schedulers;
import dev.jdiffusion.samplers.VpDenoiser;
import dev.jdiffusion.samplers.VpModel;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Measures the time per step spent outside the network, on Stable Diffusion sized latents
 * (1, 4, 64, 64), 20 steps of the SD 1.5 schedule:
 * <ul>
 *   <li><b>sampler</b>: each built-in sampler with a cheap denoiser (x · 0.9) whose own median
 *       cost is measured separately and subtracted;</li>
 *   <li><b>guided</b>: the same plus what a guided text-to-image step adds around the network
 *       (the variance-preserving adapter {@link VpDenoiser}: input scaling, timestep lookup,
 *       ε → x₀; classifier-free guidance: batch duplication, split, uncond + s·(cond − uncond)),
 *       with a cheap network (x · 0.9 on the doubled batch) whose cost is subtracted.</li>
 * </ul>
 * Medians over repeated runs after warm-up. Not thread-safe.
 *
 * <p>Standalone: {@code java -cp jdiffusion.jar
 * dev.jdiffusion.examples.bench.SamplerOverheadBenchmark [runs]}; also {@code jdiffusion bench
 * --only sampler}.
 */
public final class SamplerOverheadBenchmark {

    private static final int STEPS = 20;
    private static final List<String> NAMES = List.of("ddim", "ddpm", "euler", "euler_a", "heun",
            "lms", "dpmpp_2m", "dpmpp_2m_sde");

    private SamplerOverheadBenchmark() {}

    /**
     * Entry point.
     *
     * @param args optional number of measured runs per sampler (default 30)
     */
    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", "true");
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 30;
        measure(runs, System.out);
    }

    /**
     * Runs the measurement.
     *
     * @param runs measured runs per sampler (after 5 warm-up runs)
     * @param out where to print progress lines
     * @return per sampler: plain and guided µs per step outside the network
     */
    public static List<Result> measure(int runs, PrintStream out) {
        List<Result> results = new ArrayList<>();
        DiffusersScheduler schedule = Schedulers.stableDiffusion15();
        float[] sigmas = schedule.sigmas(STEPS);
        float[] timesteps = schedule.timesteps(STEPS);
        try (NDManager manager = NDManager.newBaseManager()) {
            NDArray x0 = SamplingContext.seeded(0).noise().randn(manager, new Shape(1, 4, 64, 64))
                    .muli(sigmas[0]);
            int[] calls = {0};
            Denoiser cheap = (x, sigma) -> {
                calls[0]++;
                return x.mul(0.9f);
            };
            VpModel guidedNet = (scaledX, t) -> {
                calls[0]++;
                NDArray in = NDArrays.concat(new NDList(scaledX, scaledX), 0); // (2, 4, 64, 64)
                NDArray ts = in.getManager().full(new Shape(2), t, DataType.FLOAT32);
                ts.close();
                NDArray eps = in.mul(0.9f); // the "network"
                NDArray uncond = eps.get("0:1");
                NDArray cond = eps.get("1:");
                return uncond.add(cond.sub(uncond).mul(7.5f));
            };
            Denoiser guided = VpDenoiser.of(guidedNet, schedule).forRun(sigmas, timesteps);
            NDArray doubled = x0.concat(x0, 0);
            cost(x0, 2000); // warm-up
            double denoiseNs = cost(x0, runs * 50);
            double netNs = cost(doubled, runs * 50);
            out.printf(Locale.ROOT, "latents (1, 4, 64, 64), %d steps, %d runs; cheap network"
                    + " x*0.9: %.1f us (batch 1), %.1f us (batch 2), subtracted%n", STEPS, runs,
                    denoiseNs / 1e3, netNs / 1e3);
            for (String name : NAMES) {
                Sampler s = Samplers.create(name);
                double plain = perStep(s, cheap, x0, sigmas, runs, calls, denoiseNs);
                double withGuidance = perStep(s, guided, x0, sigmas, runs, calls, netNs);
                out.printf(Locale.ROOT, "%-13s %7.1f us/step sampler only, %7.1f us/step with"
                        + " VP adapter + guidance%n", name, plain / 1e3, withGuidance / 1e3);
                results.add(new Result("sampler", name + " sampler only", plain / 1e3, "us/step",
                        "median of " + runs + " runs of " + STEPS + " steps"));
                results.add(new Result("sampler", name + " + guidance", withGuidance / 1e3,
                        "us/step", "sampler + VP adapter + CFG arithmetic"));
            }
        }
        return results;
    }

    private static double perStep(Sampler s, Denoiser d, NDArray x0, float[] sigmas, int runs,
            int[] calls, double callNs) {
        for (int w = 0; w < 5; w++) {
            run(s, d, x0, sigmas, w);
        }
        double[] perStep = new double[runs];
        for (int r = 0; r < runs; r++) {
            calls[0] = 0;
            long t = run(s, d, x0, sigmas, r);
            perStep[r] = (t - calls[0] * callNs) / STEPS;
        }
        Arrays.sort(perStep);
        return perStep[runs / 2];
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

    private static double cost(NDArray x, int reps) {
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
