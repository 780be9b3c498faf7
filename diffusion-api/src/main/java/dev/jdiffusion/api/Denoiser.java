package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;

/**
 * A denoiser D(x, σ): given a sample {@code x = x₀ + σ·ε} at noise level σ, it returns its
 * estimate of the clean sample x₀.
 *
 * <p>This is the only view of a network that a {@link Sampler} has. Networks trained in the
 * variance-preserving form (scaled input, discrete timestep, ε/v/x₀ prediction) and
 * classifier-free guidance are turned into a {@code Denoiser} by adapters, so samplers never see
 * prediction types or timesteps.
 *
 * <p>Implementations must be safe to call from the thread that runs the sampler; the built-in
 * adapters are stateless and thread-safe. The returned array belongs to the manager of {@code x}
 * (or a sub-manager of it) and has the same shape.
 */
@FunctionalInterface
public interface Denoiser {

    /**
     * Estimates the clean sample.
     *
     * @param x the noisy sample, unscaled, shape (N, C, H, W) or any shape the model accepts
     * @param sigma the noise level of {@code x}, σ &gt; 0
     * @return the estimate of x₀, same shape as {@code x}
     */
    NDArray denoise(NDArray x, float sigma);
}
