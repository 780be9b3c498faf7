package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;

/**
 * A sampler: a solver that takes a sample from the first noise level of a schedule down to
 * noise level 0 with the help of a {@link Denoiser}.
 *
 * <p>A sampler holds no state between calls: the history that multistep methods keep (previous
 * derivatives, previous x₀ estimates) is local to one {@link #sample} call. Its per-algorithm
 * settings (η, churn, order) are fixed when it is built. One instance can therefore serve any
 * number of threads at once; every built-in sampler is immutable and thread-safe.
 */
public interface Sampler {

    /**
     * The name under which this sampler is registered, for example {@code "euler_a"}.
     *
     * @return the lower-case registry name
     */
    String name();

    /**
     * Runs the sampler.
     *
     * @param denoiser the model as a denoiser D(x, σ)
     * @param x the starting sample, already scaled to {@code sigmas[0]} (for example {@code
     *     noise * sigmas[0]}, or {@code x₀ + noise * sigmas[0]} for image-to-image)
     * @param sigmas the noise levels to visit, descending, ending with 0; {@code sigmas.length -
     *     1} steps are taken
     * @param context the per-call noise source and step listener
     * @return the final sample at σ = 0, attached to the manager of {@code x}
     * @throws GenerationCancelledException if the context's listener cancelled the run
     * @throws IllegalArgumentException if {@code sigmas} has fewer than two entries, is not
     *     descending, or does not end with 0
     */
    NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext context);
}
