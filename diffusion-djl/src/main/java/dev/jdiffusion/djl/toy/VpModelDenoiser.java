package dev.jdiffusion.djl.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.samplers.NoiseSchedule;
import dev.jdiffusion.samplers.PredictionType;

// replaced by dev.jdiffusion.samplers at merge
/**
 * Minimal adapter from a network trained in the variance-preserving form to a {@link Denoiser}
 * D(x, σ): the input is scaled by 1/√(σ²+1), the timestep is σ's fractional position on the
 * training schedule (log σ interpolated), and the output is turned into x₀ according to the
 * prediction type; optional classifier-free guidance mixes a conditional and an unconditional
 * pass: out = out_u + g·(out_c − out_u).
 */
final class VpModelDenoiser implements Denoiser {

    private final Block block;
    private final ParameterStore parameterStore;
    private final double[] logSigmas;
    private final PredictionType predictionType;
    private final NDArray labels;
    private final NDArray nullLabels;
    private final float guidance;

    VpModelDenoiser(Block block, ParameterStore parameterStore, NoiseSchedule schedule,
            PredictionType predictionType, NDArray labels, NDArray nullLabels, float guidance) {
        this.block = block;
        this.parameterStore = parameterStore;
        this.logSigmas = logSigmas(schedule);
        this.predictionType = predictionType;
        this.labels = labels;
        this.nullLabels = nullLabels;
        this.guidance = guidance;
    }

    static double[] logSigmas(NoiseSchedule schedule) {
        double[] s = schedule.sigmas();
        double[] out = new double[s.length];
        for (int i = 0; i < s.length; i++) {
            out[i] = Math.log(s[i]);
        }
        return out;
    }

    /** σ → fractional training timestep, interpolating log σ; clamped to [0, T − 1]. */
    static float timestepOf(double[] logSigmas, double sigma) {
        double ls = Math.log(sigma);
        int last = logSigmas.length - 1;
        if (ls <= logSigmas[0]) {
            return 0;
        }
        if (ls >= logSigmas[last]) {
            return last;
        }
        int lo = 0;
        int hi = last;
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (logSigmas[mid] <= ls) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        double w = (ls - logSigmas[lo]) / (logSigmas[hi] - logSigmas[lo]);
        return (float) (lo + w);
    }

    @Override
    public NDArray denoise(NDArray x, float sigma) {
        NDArray x0;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            float cIn = (float) (1 / Math.sqrt(sigma * (double) sigma + 1));
            long n = x.getShape().get(0);
            NDArray xIn = x.mul(cIn);
            NDArray t = x.getManager().full(new Shape(n), timestepOf(logSigmas, sigma));
            NDArray out = forward(xIn, t, labels);
            if (labels != null && guidance != 1f) {
                NDArray uncond = forward(xIn, t, nullLabels);
                out = uncond.add(out.sub(uncond).mul(guidance));
            }
            switch (predictionType) {
                case EPSILON:
                    x0 = x.sub(out.mul(sigma)); // x₀ = x − σ·ε
                    break;
                case V_PREDICTION:
                    x0 = x.mul(cIn * cIn).sub(out.mul(sigma * cIn)); // x₀ = √ᾱ·x_in − √(1−ᾱ)·v
                    break;
                case SAMPLE:
                    x0 = out.duplicate();
                    break;
                default:
                    throw new AssertionError(predictionType);
            }
            NDScope.unregister(x0);
        }
        NDScope.register(x0); // hand the result to the caller's scope, if any
        return x0;
    }

    private NDArray forward(NDArray xIn, NDArray t, NDArray cond) {
        NDList in = cond == null ? new NDList(xIn, t) : new NDList(xIn, t, cond);
        return block.forward(parameterStore, in, false).singletonOrThrow();
    }
}
