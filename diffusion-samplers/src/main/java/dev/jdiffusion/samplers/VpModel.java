package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;

/**
 * A network trained in the variance-preserving form, as {@link VpDenoiser} calls it: the input
 * is already scaled by 1/√(σ² + 1) (it is the VP sample √ᾱ·x₀ + √(1 − ᾱ)·ε) and the timestep is
 * the scheduler's (possibly fractional) training timestep of σ. Conditioning, if any, is bound
 * by the implementation (for example a lambda that closes over the text embeddings).
 */
@FunctionalInterface
public interface VpModel {

    /**
     * Runs the network.
     *
     * @param scaledX the VP-scaled sample, shape (N, C, H, W) or whatever the network takes
     * @param timestep the training timestep, in [0, T − 1], possibly fractional
     * @return the raw prediction (ε, v or x₀ as the model was trained), same shape as the input,
     *     on the manager of {@code scaledX} or a sub-manager of it
     */
    NDArray predict(NDArray scaledX, float timestep);
}
