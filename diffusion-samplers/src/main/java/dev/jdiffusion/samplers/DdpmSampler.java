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
 * Ancestral sampling from the DDPM posterior q(x<sub>s</sub> | x<sub>t</sub>, x̂₀) (Ho et al.
 * 2020, variance "fixed_small") written in σ space.
 *
 * <p>Derivation. The posterior mean is μ = √ᾱ<sub>s</sub>β/(1 − ᾱ<sub>t</sub>)·x̂₀ +
 * √α<sub>t</sub>(1 − ᾱ<sub>s</sub>)/(1 − ᾱ<sub>t</sub>)·x<sub>t</sub><sup>VP</sup> with β = 1 −
 * ᾱ<sub>t</sub>/ᾱ<sub>s</sub> and variance β(1 − ᾱ<sub>s</sub>)/(1 − ᾱ<sub>t</sub>). Dividing by
 * √ᾱ<sub>s</sub> and substituting σ² = (1 − ᾱ)/ᾱ, the coefficient of x becomes σ'²/σ², that of x̂₀
 * 1 − σ'²/σ², and the noise standard deviation σ'·√(1 − σ'²/σ²):
 * <pre>x' = x̂₀ + (σ'²/σ²)·(x − x̂₀) + σ'·√(1 − σ'²/σ²)·z</pre>
 * i.e. an ancestral step with σ<sub>down</sub> = σ'²/σ and σ<sub>up</sub> = σ'√(1 − σ'²/σ²) (DDIM
 * with η = 1). The step uses x̂₀ and x only, so it equals diffusers' {@code DDPMScheduler} also
 * with {@code clip_sample}. No noise is added on the final step to σ = 0.
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Fresh noise comes only from {@link SamplingContext#noiseLike}. Immutable and thread-safe.
 */
public final class DdpmSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "ddpm";

    private final double noiseScale;

    /** The sampler with unit noise scale. */
    public DdpmSampler() {
        this(1);
    }

    /**
     * A sampler with a noise scale.
     *
     * @param noiseScale the factor on the posterior noise, &gt; 0 (1 is exact DDPM)
     * @throws IllegalArgumentException if the scale is out of range
     */
    public DdpmSampler(double noiseScale) {
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
                double keep = ((double) next * next) / ((double) sigma * sigma); // σ'²/σ²
                double std = next * Math.sqrt(1 - keep);
                NDArray nx;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray x0 = denoiser.denoise(cur, sigma);
                    nx = cur.sub(x0).muli((float) keep).addi(x0); // posterior mean
                    if (next > 0) {
                        nx.addi(ctx.noiseLike(cur).muli((float) (noiseScale * std)));
                    }
                    ctx.reportStep(i, steps, sigma, next, nx, x0);
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
     * @return {@code "DDPMScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("DDPMScheduler");
    }

    @Override
    public String toString() {
        return NAME;
    }

    /** Service provider of {@value #NAME}: reads noiseScale. */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new DdpmSampler(options.noiseScale().orElse(1));
        }
    }
}
