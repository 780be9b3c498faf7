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
 * SDE-DPM-Solver++(2M) (Lu et al. 2022; k-diffusion's {@code sample_dpmpp_2m_sde}, midpoint
 * variant): with h = log σ − log σ' and η the noise fraction,
 * <pre>x' = (σ'/σ)e^(−ηh)·x + (1 − e^(−(1+η)h))·D_i
 *      + ½(1 − e^(−(1+η)h))(D_i − D_i−1)/r
 *      + σ'·√(1 − e^(−2ηh))·S_noise·z</pre>
 * (the correction only once a previous x₀ estimate exists), and x' = D on the final step to 0.
 * Fresh noise z comes only from {@link SamplingContext#noiseLike} (independent Gaussians rather
 * than k-diffusion's Brownian tree, which is equivalent in distribution for these steps).
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Immutable and thread-safe.
 */
public final class DpmPp2mSdeSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "dpmpp_2m_sde";

    private final double eta;
    private final double noiseScale;

    /** The sampler with η = 1 and S<sub>noise</sub> = 1. */
    public DpmPp2mSdeSampler() {
        this(1, 1);
    }

    /**
     * A sampler with settings.
     *
     * @param eta η in [0, 1] (0 makes it DPM-Solver++(2M))
     * @param noiseScale S<sub>noise</sub>, &gt; 0
     * @throws IllegalArgumentException if a value is out of range
     */
    public DpmPp2mSdeSampler(double eta, double noiseScale) {
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
        NDArray oldDenoised = null;
        double hLast = 0;
        try {
            for (int i = 0; i < steps; i++) {
                float sigma = sigmas[i];
                float next = sigmas[i + 1];
                NDArray nx;
                NDArray denoised;
                double h = 0;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    denoised = denoiser.denoise(cur, sigma);
                    if (next == 0f) {
                        nx = denoised.duplicate();
                    } else {
                        h = Math.log(sigma) - Math.log(next);
                        double etaH = eta * h;
                        double decay = -Math.expm1(-h - etaH); // 1 − e^{−(1+η)h}
                        nx = cur.mul((float) (next / sigma * Math.exp(-etaH)))
                                .addi(denoised.mul((float) decay));
                        if (oldDenoised != null) {
                            double r = hLast / h;
                            nx.addi(denoised.sub(oldDenoised).muli((float) (0.5 * decay / r)));
                        }
                        if (eta > 0) {
                            double std = next * Math.sqrt(-Math.expm1(-2 * etaH)) * noiseScale;
                            nx.addi(ctx.noiseLike(cur).muli((float) std));
                        }
                    }
                    ctx.reportStep(i, steps, sigma, next, nx, denoised);
                    NDScope.unregister(nx, denoised);
                }
                if (oldDenoised != null) {
                    oldDenoised.close();
                }
                oldDenoised = denoised;
                hLast = h;
                SamplerSupport.release(cur, x);
                cur = nx;
            }
            return SamplerSupport.onManagerOf(cur, x);
        } catch (RuntimeException e) {
            SamplerSupport.release(cur, x);
            throw e;
        } finally {
            if (oldDenoised != null) {
                oldDenoised.close();
            }
        }
    }

    /**
     * The diffusers class this sampler matches (with {@code algorithm_type sde-dpmsolver++}):
     * its default spacing, timestep rule and initial noise apply.
     *
     * @return {@code "DPMSolverMultistepScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("DPMSolverMultistepScheduler");
    }

    @Override
    public String toString() {
        return NAME + "{eta=" + eta + ", s_noise=" + noiseScale + "}";
    }

    /** Service provider of {@value #NAME}: reads eta (default 1) and noiseScale. */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new DpmPp2mSdeSampler(options.eta().orElse(1), options.noiseScale().orElse(1));
        }
    }
}
