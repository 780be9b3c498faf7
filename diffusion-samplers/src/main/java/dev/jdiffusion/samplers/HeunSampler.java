package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.SamplerProvider;
import dev.jdiffusion.api.SamplingContext;
import java.util.Optional;

/**
 * Heun's second-order method on the probability-flow ODE (Karras et al. 2022, algorithm 2): an
 * Euler predictor to σ<sub>i+1</sub>, then the average of the slopes at both ends; the last step
 * to σ = 0 is a plain Euler step. Two denoiser calls per step except the last. Optional churn as
 * in {@link EulerSampler}. Deterministic without churn; equals diffusers' {@code
 * HeunDiscreteScheduler}.
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Immutable and thread-safe.
 */
public final class HeunSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "heun";

    private final double churn;
    private final double churnSigmaMin;
    private final double churnSigmaMax;
    private final double noiseScale;

    /** The deterministic sampler (no churn). */
    public HeunSampler() {
        this(0, 0, Double.POSITIVE_INFINITY, 1);
    }

    /**
     * A sampler with churn.
     *
     * @param churn S<sub>churn</sub>, ≥ 0 (0: deterministic)
     * @param churnSigmaMin S<sub>tmin</sub>, ≥ 0
     * @param churnSigmaMax S<sub>tmax</sub>, ≥ S<sub>tmin</sub>
     * @param noiseScale S<sub>noise</sub>, &gt; 0
     * @throws IllegalArgumentException if a value is out of range
     */
    public HeunSampler(double churn, double churnSigmaMin, double churnSigmaMax,
            double noiseScale) {
        this.churn = SamplerSupport.inRange("churn", churn, 0, Double.MAX_VALUE);
        this.churnSigmaMin = SamplerSupport.inRange("churnSigmaMin", churnSigmaMin, 0,
                Double.POSITIVE_INFINITY);
        this.churnSigmaMax = SamplerSupport.inRange("churnSigmaMax", churnSigmaMax,
                churnSigmaMin, Double.POSITIVE_INFINITY);
        this.noiseScale = SamplerSupport.inRange("noiseScale", noiseScale, Double.MIN_VALUE,
                Double.MAX_VALUE);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext ctx) {
        int steps = SamplerSupport.checkSigmas(sigmas, true); // may stop at a positive level
        NDArray cur = x;
        try {
            for (int i = 0; i < steps; i++) {
                float sigma = sigmas[i];
                float next = sigmas[i + 1];
                double gamma = churn > 0 && sigma >= churnSigmaMin && sigma <= churnSigmaMax
                        ? Math.min(churn / steps, Math.sqrt(2) - 1) : 0;
                float sigmaHat = (float) (sigma * (gamma + 1));
                NDArray nx;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray xHat = cur;
                    if (gamma > 0) {
                        double lift = Math.sqrt((double) sigmaHat * sigmaHat
                                - (double) sigma * sigma);
                        xHat = cur.add(ctx.noiseLike(cur).muli((float) (noiseScale * lift)));
                    }
                    NDArray denoised = denoiser.denoise(xHat, sigmaHat);
                    NDArray d = xHat.sub(denoised).divi(sigmaHat);
                    float dt = next - sigmaHat;
                    if (next == 0f) {
                        nx = xHat.add(d.muli(dt)); // Euler to σ = 0
                    } else {
                        NDArray x2 = xHat.add(d.mul(dt));
                        NDArray denoised2 = denoiser.denoise(x2, next);
                        NDArray d2 = x2.sub(denoised2).divi(next);
                        nx = xHat.add(d.addi(d2).muli(dt / 2)); // average slope
                    }
                    ctx.reportStep(i, steps, sigma, next, nx, denoised);
                    NDScope.unregister(nx);
                }
                SamplerSupport.release(cur, x);
                cur = nx;
            }
            return SamplerSupport.onManagerOf(cur, x);
        } catch (RuntimeException e) {
            SamplerSupport.release(cur, x);
            throw e;
        }
    }

    /**
     * The diffusers class this sampler matches: its default
     * spacing, timestep rule and initial noise apply.
     *
     * @return {@code "HeunDiscreteScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("HeunDiscreteScheduler");
    }

    @Override
    public String toString() {
        return NAME + (churn > 0 ? "{churn=" + churn + "}" : "");
    }

    /** Service provider of {@value #NAME}: reads churn, its σ range and noiseScale. */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new HeunSampler(options.churn().orElse(0),
                    options.churnSigmaMin().orElse(0),
                    options.churnSigmaMax().orElse(Double.POSITIVE_INFINITY),
                    options.noiseScale().orElse(1));
        }
    }
}
