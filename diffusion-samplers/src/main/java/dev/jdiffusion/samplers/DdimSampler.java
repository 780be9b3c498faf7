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
 * DDIM (Song et al. 2021) written in σ space.
 *
 * <p>Derivation. DDIM's update from ᾱ<sub>t</sub> to ᾱ<sub>s</sub> is x<sub>s</sub><sup>VP</sup> =
 * √ᾱ<sub>s</sub>·x̂₀ + √(1 − ᾱ<sub>s</sub> − s<sub>t</sub>²)·ε̂ + s<sub>t</sub>·z with
 * s<sub>t</sub>² = η²·(1 − ᾱ<sub>s</sub>)/(1 − ᾱ<sub>t</sub>)·(1 − ᾱ<sub>t</sub>/ᾱ<sub>s</sub>).
 * With x = x<sup>VP</sup>/√ᾱ, σ² = (1 − ᾱ)/ᾱ and ε̂ = (x − x̂₀)/σ, dividing by √ᾱ<sub>s</sub> gives
 * x' = x̂₀ + σ<sub>down</sub>·ε̂ + σ<sub>up</sub>·z with σ<sub>up</sub> = η·σ'·√(1 − σ'²/σ²) and
 * σ<sub>down</sub> = √(σ'² − σ<sub>up</sub>²). For η = 0 this is x̂₀ + σ'·ε̂, exactly an Euler step
 * of the probability-flow ODE; for η = 1 it is the DDPM posterior step (see {@link DdpmSampler}).
 * With {@code clip_sample} the adapter clips x̂₀ and ε̂ is derived from the clipped x̂₀, where
 * diffusers keeps the network's ε; the two agree whenever nothing is clipped.
 *
 * <p>The schedule may end at a positive σ instead of 0: diffusers' DDIM with {@code
 * set_alpha_to_one = false} takes its last step to ᾱ<sub>0</sub> (σ<sub>min</sub>), and the
 * result is then the sample at that level.
 *
 * <p>Fresh noise comes only from {@link SamplingContext#noiseLike}. Immutable and thread-safe.
 */
public final class DdimSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "ddim";

    private final double eta;

    /** The deterministic sampler (η = 0). */
    public DdimSampler() {
        this(0);
    }

    /**
     * A sampler with stochasticity η.
     *
     * @param eta η in [0, 1]
     * @throws IllegalArgumentException if η is out of range
     */
    public DdimSampler(double eta) {
        this.eta = SamplerSupport.inRange("eta", eta, 0, 1);
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext ctx) {
        int steps = SamplerSupport.checkSigmas(sigmas, true);
        NDArray cur = x;
        try {
            for (int i = 0; i < steps; i++) {
                float sigma = sigmas[i];
                float next = sigmas[i + 1];
                double ratio2 = ((double) next * next) / ((double) sigma * sigma);
                double sigmaUp = eta * next * Math.sqrt(1 - ratio2);
                double sigmaDown = Math.sqrt(Math.max(0, (double) next * next
                        - sigmaUp * sigmaUp));
                NDArray nx;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray x0 = denoiser.denoise(cur, sigma);
                    // ε̂ = (x − x̂₀)/σ;  x' = x̂₀ + σ_down·ε̂ (+ σ_up·z)
                    nx = cur.sub(x0).muli((float) (sigmaDown / sigma)).addi(x0);
                    if (next > 0 && sigmaUp > 0) {
                        nx.addi(ctx.noiseLike(cur).muli((float) sigmaUp));
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
     * @return {@code "DDIMScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("DDIMScheduler");
    }

    @Override
    public String toString() {
        return NAME + "{eta=" + eta + "}";
    }

    /** Service provider of {@value #NAME}: reads eta (default 0). */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new DdimSampler(options.eta().orElse(0));
        }
    }
}
