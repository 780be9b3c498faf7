package dev.jdiffusion.samplers;

/**
 * Noise-level schedules defined directly in σ, independent of any trained β table (k-diffusion's
 * {@code get_sigmas_karras} and {@code get_sigmas_exponential}). Each returns {@code steps + 1}
 * values, descending, ending with 0, ready for {@link dev.jdiffusion.api.Sampler#sample}.
 *
 * <p>Stateless and thread-safe.
 */
public final class SigmaSchedules {

    private SigmaSchedules() {}

    /**
     * The schedule of Karras et al. (2022): σ<sub>i</sub><sup>1/ρ</sup> evenly spaced from
     * σ<sub>max</sub><sup>1/ρ</sup> to σ<sub>min</sub><sup>1/ρ</sup>, then 0.
     *
     * @param steps the number of steps, ≥ 1
     * @param sigmaMin the last non-zero σ, &gt; 0
     * @param sigmaMax the first σ, &gt; {@code sigmaMin}
     * @param rho ρ, usually 7
     * @return {@code steps + 1} noise levels ending with 0
     * @throws IllegalArgumentException if an argument is out of range
     */
    public static float[] karras(int steps, double sigmaMin, double sigmaMax, double rho) {
        check(steps, sigmaMin, sigmaMax);
        if (!(rho > 0)) {
            throw new IllegalArgumentException("rho must be > 0 (got " + rho + ")");
        }
        double[] d = karrasDouble(steps, sigmaMin, sigmaMax, rho);
        return withZero(d);
    }

    /**
     * Noise levels evenly spaced in log σ from σ<sub>max</sub> to σ<sub>min</sub>, then 0.
     *
     * @param steps the number of steps, ≥ 1
     * @param sigmaMin the last non-zero σ, &gt; 0
     * @param sigmaMax the first σ, &gt; {@code sigmaMin}
     * @return {@code steps + 1} noise levels ending with 0
     * @throws IllegalArgumentException if an argument is out of range
     */
    public static float[] exponential(int steps, double sigmaMin, double sigmaMax) {
        check(steps, sigmaMin, sigmaMax);
        return withZero(exponentialDouble(steps, sigmaMin, sigmaMax));
    }

    static double[] karrasDouble(int n, double sigmaMin, double sigmaMax, double rho) {
        double minInv = Math.pow(sigmaMin, 1 / rho);
        double maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.pow(maxInv + ramp * (minInv - maxInv), rho);
        }
        return s;
    }

    static double[] exponentialDouble(int n, double sigmaMin, double sigmaMax) {
        double a = Math.log(sigmaMax);
        double b = Math.log(sigmaMin);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            double ramp = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.exp(a + ramp * (b - a));
        }
        return s;
    }

    private static void check(int steps, double sigmaMin, double sigmaMax) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1 (got " + steps + ")");
        }
        if (!(sigmaMin > 0 && sigmaMax > sigmaMin && Double.isFinite(sigmaMax))) {
            throw new IllegalArgumentException("need 0 < sigmaMin < sigmaMax (got " + sigmaMin
                    + ", " + sigmaMax + ")");
        }
    }

    private static float[] withZero(double[] d) {
        float[] out = new float[d.length + 1];
        for (int i = 0; i < d.length; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }
}
