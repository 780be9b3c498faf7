package dev.jdiffusion.api;

import java.util.Arrays;

/**
 * Timing loop (not a unit test) for {@link NoiseSource#seeded(long)}: reports the median time of
 * one draw of a 4×64×64 latent (16,384 values), the noise an ancestral or SDE sampler draws per
 * step at 512×512. Each draw is timed on its own and the median of many is reported, so a busy
 * machine skews the figure less than a mean would.
 *
 * <p>Run after {@code mvn -B -ntp -q test-compile -pl diffusion-api}:
 *
 * <pre>
 * java -cp diffusion-api/target/classes:diffusion-api/target/test-classes:\
 * $HOME/.m2/repository/ai/djl/api/0.36.0/api-0.36.0.jar dev.jdiffusion.api.NoiseBenchmark [count]
 * </pre>
 */
public final class NoiseBenchmark {

    private NoiseBenchmark() {}

    /**
     * Runs the benchmark and prints median, 10th and 90th percentile microseconds per draw.
     *
     * @param args optionally the number of values per draw (default 16,384)
     */
    public static void main(String[] args) {
        int count = args.length > 0 ? Integer.parseInt(args[0]) : 4 * 64 * 64;
        int warmup = 3_000;
        int measured = 5_000;
        NoiseSource noise = NoiseSource.seeded(42);
        double checksum = 0;
        for (int i = 0; i < warmup; i++) {
            checksum += noise.randn(count)[i % count];
        }
        long[] nanos = new long[measured];
        for (int i = 0; i < measured; i++) {
            long start = System.nanoTime();
            float[] values = noise.randn(count);
            nanos[i] = System.nanoTime() - start;
            checksum += values[i % count];
        }
        Arrays.sort(nanos);
        System.out.printf("randn(%d): median %.1f us, p10 %.1f us, p90 %.1f us per draw"
                        + " (%d draws; checksum %.3f)%n",
                count, nanos[measured / 2] / 1e3, nanos[measured / 10] / 1e3,
                nanos[measured * 9 / 10] / 1e3, measured, checksum);
    }
}
