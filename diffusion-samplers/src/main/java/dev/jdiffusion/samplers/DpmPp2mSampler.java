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
 * DPM-Solver++(2M) (Lu et al. 2022), the second-order multistep exponential integrator in
 * λ = −log σ: with h = λ' − λ and r = h<sub>prev</sub>/h,
 * <pre>x' = (σ'/σ)·x − (e^(−h) − 1)·((1 + 1/(2r))·D_i − D_i−1/(2r))</pre>
 * and a first-order step (no history yet, or σ' = 0). Equals diffusers' {@code
 * DPMSolverMultistepScheduler} with {@code algorithm_type dpmsolver++}, {@code solver_order 2},
 * {@code solver_type midpoint}. Deterministic; the previous x₀ estimate is local to a call.
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Immutable and thread-safe.
 */
public final class DpmPp2mSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "dpmpp_2m";

    /** Creates the sampler (it has no settings). */
    public DpmPp2mSampler() {}

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext ctx) {
        int steps = SamplerSupport.checkSigmas(sigmas, true); // may stop at a positive level
        NDArray cur = x;
        NDArray oldDenoised = null;
        try {
            for (int i = 0; i < steps; i++) {
                float sigma = sigmas[i];
                float next = sigmas[i + 1];
                NDArray nx;
                NDArray denoised;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    denoised = denoiser.denoise(cur, sigma);
                    if (next == 0f) {
                        nx = denoised.duplicate(); // the limit h → ∞ of the first-order step
                    } else {
                        double h = Math.log(sigma) - Math.log(next); // λ' − λ
                        float decay = (float) -Math.expm1(-h); // 1 − e^{−h}
                        NDArray d = denoised;
                        if (oldDenoised != null) {
                            double hLast = Math.log(sigmas[i - 1]) - Math.log(sigma);
                            double r = hLast / h;
                            d = denoised.mul((float) (1 + 1 / (2 * r)))
                                    .subi(oldDenoised.mul((float) (1 / (2 * r))));
                        }
                        nx = cur.mul(next / sigma).addi(d.mul(decay));
                    }
                    ctx.reportStep(i, steps, sigma, next, nx, denoised);
                    NDScope.unregister(nx, denoised);
                }
                if (oldDenoised != null) {
                    oldDenoised.close();
                }
                oldDenoised = denoised;
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
     * The diffusers class this sampler matches: its default
     * spacing, timestep rule and initial noise apply.
     *
     * @return {@code "DPMSolverMultistepScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("DPMSolverMultistepScheduler");
    }

    @Override
    public String toString() {
        return NAME;
    }

    /** Service provider of {@value #NAME}; it takes no options. */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new DpmPp2mSampler();
        }
    }
}
