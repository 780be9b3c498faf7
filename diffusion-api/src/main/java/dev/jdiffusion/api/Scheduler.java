package dev.jdiffusion.api;

/**
 * The noise schedule of a trained model, as a value: it turns a step count into the noise levels
 * a sampler visits and converts between noise levels σ and the model's training timesteps.
 *
 * <p>Implementations are immutable and thread-safe. Image-to-image slices the array returned by
 * {@link #sigmas(int)}; nothing is "set" on a scheduler.
 */
public interface Scheduler {

    /**
     * The noise levels of a run.
     *
     * @param steps the number of sampler steps, ≥ 1
     * @return {@code steps + 1} values, descending, ending with 0
     * @throws IllegalArgumentException if {@code steps} is out of range for this schedule
     */
    float[] sigmas(int steps);

    /**
     * The (fractional) training timestep of a noise level, interpolating log σ between trained
     * timesteps.
     *
     * @param sigma a noise level &gt; 0
     * @return the timestep, in [0, number of training timesteps − 1]
     */
    float timestepOf(float sigma);

    /**
     * The noise level of a (fractional) training timestep.
     *
     * @param timestep a timestep in [0, number of training timesteps − 1]
     * @return σ at that timestep
     */
    float sigmaOf(float timestep);
}
