package dev.jdiffusion.samplers;

import java.util.Arrays;
import java.util.Locale;

/**
 * The training noise schedule of a variance-preserving diffusion model: β per training timestep
 * and the tables derived from it, computed once: ᾱ<sub>t</sub> = ∏(1 − β) and σ<sub>t</sub> =
 * √((1 − ᾱ<sub>t</sub>) / ᾱ<sub>t</sub>).
 *
 * <p>Immutable and thread-safe; accessors return copies.
 */
public final class NoiseSchedule {

    private final double[] betas;
    private final double[] alphasCumprod;

    private NoiseSchedule(double[] betas) {
        if (betas.length < 2) {
            throw new IllegalArgumentException(
                    "a schedule needs at least 2 timesteps (got " + betas.length + ")");
        }
        for (int i = 0; i < betas.length; i++) {
            if (!(betas[i] > 0 && betas[i] <= 1)) {
                throw new IllegalArgumentException(
                        "beta[" + i + "] must be in (0, 1] (got " + betas[i] + ")");
            }
        }
        this.betas = betas;
        this.alphasCumprod = new double[betas.length];
        double prod = 1;
        for (int i = 0; i < betas.length; i++) {
            prod *= 1 - betas[i];
            alphasCumprod[i] = prod;
        }
    }

    /**
     * β linear in t from {@code betaStart} to {@code betaEnd} (diffusers' {@code linear}).
     *
     * @param timesteps the number of training timesteps
     * @param betaStart β at t = 0
     * @param betaEnd β at the last timestep
     * @return the schedule
     */
    public static NoiseSchedule linear(int timesteps, double betaStart, double betaEnd) {
        double[] b = new double[timesteps];
        for (int i = 0; i < timesteps; i++) {
            b[i] = timesteps == 1 ? betaStart
                    : betaStart + (betaEnd - betaStart) * i / (timesteps - 1);
        }
        return new NoiseSchedule(b);
    }

    /**
     * √β linear in t (diffusers' {@code scaled_linear}, used by Stable Diffusion).
     *
     * @param timesteps the number of training timesteps
     * @param betaStart β at t = 0
     * @param betaEnd β at the last timestep
     * @return the schedule
     */
    public static NoiseSchedule scaledLinear(int timesteps, double betaStart, double betaEnd) {
        double s = Math.sqrt(betaStart);
        double e = Math.sqrt(betaEnd);
        double[] b = new double[timesteps];
        for (int i = 0; i < timesteps; i++) {
            double v = timesteps == 1 ? s : s + (e - s) * i / (timesteps - 1);
            b[i] = v * v;
        }
        return new NoiseSchedule(b);
    }

    /**
     * The cosine schedule of Nichol &amp; Dhariwal (diffusers' {@code squaredcos_cap_v2}), β capped
     * at 0.999.
     *
     * @param timesteps the number of training timesteps
     * @return the schedule
     */
    public static NoiseSchedule squaredCosCapV2(int timesteps) {
        double[] b = new double[timesteps];
        for (int i = 0; i < timesteps; i++) {
            double t1 = (double) i / timesteps;
            double t2 = (double) (i + 1) / timesteps;
            b[i] = Math.min(1 - alphaBarCos(t2) / alphaBarCos(t1), 0.999);
        }
        return new NoiseSchedule(b);
    }

    private static double alphaBarCos(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }

    /**
     * An explicit β table (diffusers' {@code trained_betas}).
     *
     * @param betas β per timestep, each in (0, 1]
     * @return the schedule
     */
    public static NoiseSchedule ofBetas(double[] betas) {
        return new NoiseSchedule(betas.clone());
    }

    /**
     * A schedule by diffusers' {@code beta_schedule} name.
     *
     * @param name {@code linear}, {@code scaled_linear} or {@code squaredcos_cap_v2}
     * @param timesteps the number of training timesteps
     * @param betaStart β at t = 0 (ignored by the cosine schedule)
     * @param betaEnd β at the last timestep (ignored by the cosine schedule)
     * @return the schedule
     * @throws IllegalArgumentException for an unknown name
     */
    public static NoiseSchedule named(
            String name, int timesteps, double betaStart, double betaEnd) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "linear":
                return linear(timesteps, betaStart, betaEnd);
            case "scaled_linear":
                return scaledLinear(timesteps, betaStart, betaEnd);
            case "squaredcos_cap_v2":
                return squaredCosCapV2(timesteps);
            default:
                throw new IllegalArgumentException("unknown beta_schedule '" + name
                        + "'; supported: linear, scaled_linear, squaredcos_cap_v2");
        }
    }

    /**
     * Rescales the schedule to zero terminal SNR (Lin et al. 2023, diffusers' {@code
     * rescale_betas_zero_snr}): √ᾱ is shifted and scaled so that ᾱ at the last timestep is 0
     * while ᾱ at t = 0 is unchanged. The last β becomes 1 (σ there is infinite); diffusers
     * replaces the final ᾱ by 2<sup>−24</sup> for sampling, and so does {@link #sigmas()}.
     *
     * @return the rescaled schedule
     */
    public NoiseSchedule rescaledZeroTerminalSnr() {
        int n = betas.length;
        double[] sqrtAbar = new double[n];
        for (int i = 0; i < n; i++) {
            sqrtAbar[i] = Math.sqrt(alphasCumprod[i]);
        }
        double first = sqrtAbar[0];
        double last = sqrtAbar[n - 1];
        for (int i = 0; i < n; i++) {
            sqrtAbar[i] = (sqrtAbar[i] - last) * first / (first - last);
        }
        double[] b = new double[n];
        double prev = 1;
        for (int i = 0; i < n; i++) {
            double abar = sqrtAbar[i] * sqrtAbar[i];
            b[i] = 1 - abar / prev;
            prev = abar;
        }
        return new NoiseSchedule(b);
    }

    /**
     * The number of training timesteps.
     *
     * @return T
     */
    public int size() {
        return betas.length;
    }

    /**
     * β per timestep.
     *
     * @return a copy of the table
     */
    public double[] betas() {
        return betas.clone();
    }

    /**
     * ᾱ per timestep.
     *
     * @return a copy of the table
     */
    public double[] alphasCumprod() {
        return alphasCumprod.clone();
    }

    /**
     * ᾱ at one timestep.
     *
     * @param t the timestep, in [0, T)
     * @return ᾱ<sub>t</sub>
     */
    public double alphaCumprod(int t) {
        return alphasCumprod[t];
    }

    /**
     * σ per timestep, ascending; a terminal ᾱ of 0 is replaced by 2<sup>−24</sup> as diffusers
     * does.
     *
     * @return σ<sub>t</sub> = √((1 − ᾱ<sub>t</sub>) / ᾱ<sub>t</sub>) for each t
     */
    public double[] sigmas() {
        double[] s = new double[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            double a = Math.max(alphasCumprod[i], 0x1.0p-24);
            s[i] = Math.sqrt((1 - a) / a);
        }
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NoiseSchedule && Arrays.equals(betas, ((NoiseSchedule) o).betas);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(betas);
    }
}
