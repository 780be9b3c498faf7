package dev.jdiffusion.examples.bench;

import java.util.Arrays;
import java.util.Locale;

/** Repeated timing with warm-up; medians. Stateless. */
final class Timing {

    private Timing() {}

    /** Work to time; may throw. */
    @FunctionalInterface
    interface Body {
        void run() throws Exception;
    }

    /**
     * Seconds per run, sorted ascending.
     *
     * @param median the median
     * @param min the fastest run
     * @param max the slowest run
     * @param runs how many runs were measured
     */
    record Stats(double median, double min, double max, int runs) {

        static Stats of(double[] seconds) {
            double[] s = seconds.clone();
            Arrays.sort(s);
            int n = s.length;
            double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
            return new Stats(median, s[0], s[n - 1], n);
        }

        /** "min 1.23, max 1.40 s over 3 runs". */
        String spread() {
            return String.format(Locale.ROOT, "min %s, max %s s over %d run%s", fmt(min),
                    fmt(max), runs, runs == 1 ? "" : "s");
        }
    }

    /**
     * Runs {@code body} {@code warmup} times unmeasured, then {@code reps} times measured.
     *
     * @return the statistics of the measured runs (seconds)
     */
    static Stats time(int warmup, int reps, Body body) throws Exception {
        for (int i = 0; i < warmup; i++) {
            body.run();
        }
        double[] t = new double[Math.max(1, reps)];
        for (int i = 0; i < t.length; i++) {
            long start = System.nanoTime();
            body.run();
            t[i] = (System.nanoTime() - start) / 1e9;
        }
        return Stats.of(t);
    }

    /** Four significant digits, no exponent for everyday magnitudes. */
    static String fmt(double v) {
        double a = Math.abs(v);
        if (a >= 1000 || a == 0) {
            return String.format(Locale.ROOT, "%.0f", v);
        }
        if (a >= 100) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        if (a >= 10) {
            return String.format(Locale.ROOT, "%.2f", v);
        }
        if (a >= 0.01) {
            return String.format(Locale.ROOT, "%.3f", v);
        }
        return String.format(Locale.ROOT, "%.3g", v);
    }
}
