package dev.jdiffusion.djl.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplingContext;

// replaced by dev.jdiffusion.samplers at merge
/**
 * Minimal deterministic Euler sampler in σ space (Karras et al. 2022, Algorithm 1 without
 * churn): d = (x − D(x, σᵢ))/σᵢ, x ← x + (σᵢ₊₁ − σᵢ)·d. Stateless and thread-safe.
 */
final class EulerSampler implements Sampler {

    @Override
    public String name() {
        return "euler";
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext context) {
        if (sigmas.length < 2 || sigmas[sigmas.length - 1] != 0) {
            throw new IllegalArgumentException("sigmas must have at least two entries and end "
                    + "with 0 (got " + sigmas.length + " entries)");
        }
        for (int i = 0; i + 1 < sigmas.length; i++) {
            if (!(sigmas[i] > sigmas[i + 1])) {
                throw new IllegalArgumentException("sigmas must be strictly descending; sigmas["
                        + i + "] = " + sigmas[i] + ", sigmas[" + (i + 1) + "] = " + sigmas[i + 1]);
            }
        }
        int steps = sigmas.length - 1;
        NDArray cur = x;
        for (int i = 0; i < steps; i++) {
            float sigma = sigmas[i];
            float next = sigmas[i + 1];
            NDArray updated;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                NDArray denoised = denoiser.denoise(cur, sigma);
                NDArray d = cur.sub(denoised).div(sigma);
                updated = cur.add(d.mul(next - sigma));
                NDScope.unregister(updated);
                context.reportStep(i, steps, sigma, next, updated, denoised);
            } catch (RuntimeException e) {
                if (cur != x) {
                    cur.close();
                }
                throw e;
            }
            if (cur != x) {
                cur.close();
            }
            cur = updated;
        }
        NDScope.register(cur);
        return cur;
    }
}
