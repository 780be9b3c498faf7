package dev.jdiffusion.examples.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.AutoencoderTiny;
import dev.jdiffusion.djl.nn.AutoencoderTinyConfig;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.nn.Sd15Configs;
import java.util.Locale;
import java.util.Map;

/**
 * Decoder measurements on random weights in the real shapes (no download needed): decode time
 * of Stable Diffusion 1.5's VAE against TAESD's default architecture, and the peak resident
 * memory of one VAE decode with and without tiling. Each mode is meant for a fresh JVM (peak
 * memory is the process's {@code VmHWM}); it prints one {@code BENCH key=value ...} line.
 *
 * <pre>
 * java -cp CLASSPATH dev.jdiffusion.examples.bench.DecoderBenchmark time SIZE REPEATS
 * java -cp CLASSPATH dev.jdiffusion.examples.bench.DecoderBenchmark peak SIZE plain|tiled
 * </pre>
 */
public final class DecoderBenchmark {

    private DecoderBenchmark() {}

    /**
     * Runs one measurement.
     *
     * @param args {@code time SIZE REPEATS} or {@code peak SIZE plain|tiled}
     * @throws Exception on failure
     */
    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", "true");
        if (args.length != 3 || !(args[0].equals("time") || args[0].equals("peak"))) {
            throw new IllegalArgumentException(
                    "usage: time SIZE REPEATS | peak SIZE plain|tiled");
        }
        int size = Integer.parseInt(args[1]);
        Engine.getInstance().setRandomSeed(0);
        try (GradMode g = GradMode.disabled(); NDManager m = NDManager.newBaseManager()) {
            AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(Sd15Configs.VAE));
            vae.initialize(m, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(m, false);
            Shape latentShape = new Shape(1, 4, size / 8, size / 8);
            if (args[0].equals("time")) {
                AutoencoderTiny taesd = new AutoencoderTiny(AutoencoderTinyConfig.fromJson("{}"));
                taesd.initialize(m, DataType.FLOAT32);
                int repeats = Integer.parseInt(args[2]);
                double vaeS = best(repeats, m, latentShape,
                        z -> vae.decode(ps, z.div(0.18215f), false));
                double taesdS = best(repeats, m, latentShape, z -> taesd.decode(ps, z, false));
                System.out.printf(Locale.ROOT, "BENCH size=%d vae_decode_s=%.3f"
                        + " taesd_decode_s=%.3f speedup=%.1f threads=%s%n", size, vaeS, taesdS,
                        vaeS / taesdS, System.getenv().getOrDefault("OMP_NUM_THREADS", "default"));
            } else {
                boolean tiled = args[2].equals("tiled");
                long before = Forked.procStatus().getOrDefault("VmHWM", -1L);
                long t0 = System.nanoTime();
                try (NDManager run = m.newSubManager()) {
                    NDArray z = run.randomNormal(latentShape);
                    NDArray px = tiled ? vae.decodeTiled(ps, z) : vae.decode(ps, z, false);
                    px.getFloat(0, 0, 0, 0);
                }
                double s = (System.nanoTime() - t0) / 1e9;
                Map<String, Long> status = Forked.procStatus();
                System.out.printf(Locale.ROOT, "BENCH size=%d mode=%s vmhwm_before_decode_kb=%d"
                        + " vmhwm_kb=%d decode_s=%.1f%n", size, tiled ? "tiled" : "plain", before,
                        status.getOrDefault("VmHWM", -1L), s);
            }
        }
    }

    private interface Decode {
        NDArray apply(NDArray z);
    }

    /** The fastest of one warm-up plus {@code repeats} timed decodes, in seconds. */
    private static double best(int repeats, NDManager m, Shape shape, Decode decode) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i <= repeats; i++) {
            try (NDManager run = m.newSubManager()) {
                NDArray z = run.randomNormal(shape);
                long t0 = System.nanoTime();
                decode.apply(z).getFloat(0, 0, 0, 0);
                double s = (System.nanoTime() - t0) / 1e9;
                if (i > 0) {
                    best = Math.min(best, s);
                }
            }
        }
        return best;
    }
}
