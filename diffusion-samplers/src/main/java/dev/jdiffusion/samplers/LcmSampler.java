package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.SamplerProvider;
import dev.jdiffusion.api.SamplingContext;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * Multistep latent-consistency sampling (Luo et al. 2023, LCM), as diffusers' {@code
 * LCMScheduler}: each step maps the sample to an estimate of the clean sample with the
 * consistency function's boundary-condition parameterisation and, unless it is the last step,
 * noises that estimate afresh to the next level.
 *
 * <p>Per step, from σ (training timestep t) to σ':
 * <ul>
 *   <li>x̂₀ = D(x, σ), the denoiser's clean-sample estimate (prediction type and clipping are the
 *       adapter's, see {@link VpDenoiser});
 *   <li>with s = t · timestep_scaling and σ<sub>data</sub> = 0.5: c<sub>skip</sub> =
 *       σ<sub>data</sub>² / (s² + σ<sub>data</sub>²), c<sub>out</sub> = s / √(s² +
 *       σ<sub>data</sub>²);
 *   <li>denoised = c<sub>out</sub>·x̂₀ + c<sub>skip</sub>·x/√(σ² + 1) (the variance-preserving
 *       sample, as diffusers' {@code sample});
 *   <li>x' = denoised + σ'·z with fresh z, which is √ᾱ'·denoised + √(1 − ᾱ')·z in the
 *       variance-preserving form; the last step (σ' = 0) returns denoised and draws no noise.
 * </ul>
 * The timestep rule (every ⌊m/steps⌋-th of the {@code original_inference_steps} distillation
 * timesteps) is the schedule's: {@link DiffusersScheduler} applies it when the class is {@code
 * LCMScheduler}, which is what {@link #diffusersScheduler()} asks a pipeline for.
 *
 * <p>The boundary condition needs the training timestep of each σ, which the {@link
 * SamplingContext} must carry ({@code SamplingContext.withTimesteps}); jdiffusion's pipeline
 * gives it the exact timesteps of the run. Fresh noise comes only from {@link
 * SamplingContext#noiseLike}, so a seed reproduces a run.
 *
 * <p>Immutable and thread-safe.
 */
public final class LcmSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "lcm";

    /** diffusers' default {@code timestep_scaling}. */
    public static final double DEFAULT_TIMESTEP_SCALING = 10.0;

    private static final double SIGMA_DATA = 0.5;

    private final double timestepScaling;

    /** The sampler with diffusers' default timestep scaling, 10. */
    public LcmSampler() {
        this(DEFAULT_TIMESTEP_SCALING);
    }

    /**
     * A sampler with another {@code timestep_scaling}.
     *
     * @param timestepScaling the factor of the timestep in the boundary-condition scalings,
     *     &gt; 0 and finite
     * @throws IllegalArgumentException if the value is out of range
     */
    public LcmSampler(double timestepScaling) {
        if (!(timestepScaling > 0 && Double.isFinite(timestepScaling))) {
            throw new IllegalArgumentException("timestepScaling must be a positive finite number"
                    + " (got " + timestepScaling + ")");
        }
        this.timestepScaling = timestepScaling;
    }

    @Override
    public String name() {
        return NAME;
    }

    /**
     * The factor of the timestep in the boundary-condition scalings.
     *
     * @return {@code timestep_scaling}
     */
    public double timestepScaling() {
        return timestepScaling;
    }

    /**
     * The boundary-condition scalings of a training timestep.
     *
     * @param timestep the training timestep t
     * @return {c<sub>skip</sub>, c<sub>out</sub>}
     */
    double[] scalings(double timestep) {
        double s = timestep * timestepScaling;
        double d2 = SIGMA_DATA * SIGMA_DATA;
        return new double[] {d2 / (s * s + d2), s / Math.sqrt(s * s + d2)};
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException also if the context does not carry the run's timesteps
     *     ({@code SamplingContext.withTimesteps})
     */
    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext ctx) {
        int steps = SamplerSupport.checkSigmas(sigmas);
        double[][] c = new double[steps][];
        for (int i = 0; i < steps; i++) {
            OptionalDouble t = ctx.timestepOf(sigmas[i]);
            if (t.isEmpty()) {
                throw new IllegalArgumentException("the lcm sampler needs the training timestep"
                        + " of each noise level: pass a context made with"
                        + " SamplingContext.withTimesteps (for example"
                        + " VpDenoiser::timestepFor)");
            }
            c[i] = scalings(t.getAsDouble());
        }
        NDArray cur = x;
        try {
            for (int i = 0; i < steps; i++) {
                float sigma = sigmas[i];
                float next = sigmas[i + 1];
                double cIn = 1 / Math.sqrt((double) sigma * sigma + 1);
                NDArray nx;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray x0 = denoiser.denoise(cur, sigma);
                    // denoised = c_out·x̂₀ + c_skip·x_VP
                    NDArray denoised = x0.mul((float) c[i][1])
                            .addi(cur.mul((float) (c[i][0] * cIn)));
                    nx = next > 0 ? denoised.add(ctx.noiseLike(cur).muli(next)) : denoised;
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
     * The diffusers class this sampler matches: its timestep rule, initial noise and final
     * noise level apply.
     *
     * @return {@code "LCMScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("LCMScheduler");
    }

    @Override
    public String toString() {
        return NAME + "{timestep_scaling=" + timestepScaling + "}";
    }

    /**
     * Service provider of {@value #NAME}; takes no options (timestep scaling 10; a pipeline
     * applies its scheduler config's {@code timestep_scaling} with {@link
     * DiffusersScheduler#configure}).
     */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new LcmSampler();
        }
    }
}
