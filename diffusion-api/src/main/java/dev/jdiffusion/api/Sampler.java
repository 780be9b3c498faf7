package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import java.util.Optional;

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
     * @param sigmas the noise levels to visit, descending, ending with 0 (a sampler may
     *     document that it also stops at a positive final level, as DDIM does for diffusers'
     *     {@code set_alpha_to_one = false}); {@code sigmas.length - 1} steps are taken
     * @param context the per-call noise source and step listener
     * @return the final sample at the last σ, attached to the manager of {@code x}
     * @throws GenerationCancelledException if the context's listener cancelled the run
     * @throws IllegalArgumentException if {@code sigmas} has fewer than two entries, is not
     *     descending, or does not end with 0
     */
    NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext context);

    /**
     * The diffusers scheduler class this sampler corresponds to, for example {@code
     * "EulerDiscreteScheduler"}. A pipeline takes from it what diffusers' {@code
     * from_config} of that class would use with the model's scheduler configuration: the
     * timestep spacing where the configuration names none, the class's exact timestep rule,
     * the scale of the initial noise and the noise level the run stops at. A sampler that
     * names {@code DDIMScheduler} must accept a schedule ending at a positive σ (diffusers'
     * {@code set_alpha_to_one = false}).
     *
     * @return the class name, or empty (the default) to follow the model's scheduler class
     *     and start from {@code noise · sigmas[0]}
     */
    default Optional<String> diffusersScheduler() {
        return Optional.empty();
    }
}
