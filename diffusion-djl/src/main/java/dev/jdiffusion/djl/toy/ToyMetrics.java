package dev.jdiffusion.djl.toy;

/**
 * Distances between 2-D point sets, to check a generative model against its data. Stateless
 * and thread-safe.
 */
public final class ToyMetrics {

    private ToyMetrics() {}

    /**
     * The (squared) energy distance of Székely &amp; Rizzo, 2·E|X−Y| − E|X−X'| − E|Y−Y'|, with
     * the within-set means taken over distinct pairs (an unbiased U-statistic). It is 0 in
     * expectation for two samples of the same distribution and positive otherwise. Cost O(n·m).
     *
     * @param a the first set, x₀, y₀, x₁, y₁, … (at least two points)
     * @param b the second set, same layout (at least two points)
     * @return the energy distance, in the units of the coordinates
     */
    public static double energyDistance(float[] a, float[] b) {
        int n = a.length / 2;
        int m = b.length / 2;
        if (n < 2 || m < 2) {
            throw new IllegalArgumentException("need at least two points in each set");
        }
        double ab = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < m; j++) {
                ab += dist(a, i, b, j);
            }
        }
        return 2 * ab / ((double) n * m) - within(a, n) - within(b, m);
    }

    private static double within(float[] p, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                s += dist(p, i, p, j);
            }
        }
        return 2 * s / ((double) n * (n - 1));
    }

    private static double dist(float[] p, int i, float[] q, int j) {
        double dx = p[2 * i] - q[2 * j];
        double dy = p[2 * i + 1] - q[2 * j + 1];
        return Math.sqrt(dx * dx + dy * dy);
    }
}
