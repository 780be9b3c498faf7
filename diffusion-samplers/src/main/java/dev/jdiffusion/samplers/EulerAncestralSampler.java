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
 * Ancestral Euler sampling (k-diffusion's {@code sample_euler_ancestral}): each step splits the
 * target level σ' into a deterministic part σ<sub>down</sub> and fresh noise σ<sub>up</sub>,
 * σ<sub>up</sub> = min(σ', η·√(σ'²(σ² − σ'²)/σ²)), σ<sub>down</sub> = √(σ'² − σ<sub>up</sub>²),
 * takes an Euler step to σ<sub>down</sub> and adds σ<sub>up</sub>·S<sub>noise</sub>·z. η = 1 (the
 * default) equals diffusers' {@code EulerAncestralDiscreteScheduler}. Noise comes only from
 * {@link SamplingContext#noiseLike}, so a seed reproduces a run.
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Immutable and thread-safe.
 */
public final class EulerAncestralSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "euler_a";

    private final double eta;
    private final double noiseScale;

    /** The sampler with η = 1 and S<sub>noise</sub> = 1. */
    public EulerAncestralSampler() {
        this(1, 1);
    }

    /**
     * A sampler with settings.
     *
     * @param eta η in [0, 1]: 0 is deterministic Euler, 1 full ancestral sampling
     * @param noiseScale S<sub>noise</sub>, &gt; 0
     * @throws IllegalArgumentException if a value is out of range
     */
    public EulerAncestralSampler(double eta, double noiseScale) {
        this.eta = SamplerSupport.inRange("eta", eta, 0, 1);
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
                double s2 = (double) sigma * sigma;
                double n2 = (double) next * next;
                double sigmaUp = Math.min(next, eta * Math.sqrt(n2 * (s2 - n2) / s2));
                double sigmaDown = Math.sqrt(Math.max(0, n2 - sigmaUp * sigmaUp));
                NDArray nx;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray denoised = denoiser.denoise(cur, sigma);
                    // Euler step to σ_down: D + (x − D)·σ_down/σ
                    nx = cur.sub(denoised).muli((float) (sigmaDown / sigma)).addi(denoised);
                    if (next > 0 && sigmaUp > 0) {
                        nx.addi(ctx.noiseLike(cur).muli((float) (noiseScale * sigmaUp)));
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
     * @return {@code "EulerAncestralDiscreteScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("EulerAncestralDiscreteScheduler");
    }

    @Override
    public String toString() {
        return NAME + "{eta=" + eta + ", s_noise=" + noiseScale + "}";
    }

    /** Service provider of {@value #NAME}: reads eta and noiseScale. */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new EulerAncestralSampler(options.eta().orElse(1), options.noiseScale()
                    .orElse(1));
        }
    }
}
