package dev.jdiffusion.djl.train;

/**
 * What one training step did. Immutable.
 *
 * @param step the number of steps finished so far (1 after the first step)
 * @param totalSteps the configured number of steps
 * @param loss the (weighted) mean-squared-error loss of the step's batch
 * @param learningRate the learning rate the step used
 * @param gradNorm the global L2 norm of the gradient before clipping
 * @param examplesPerSecond training throughput of this step (batch size / wall time)
 */
public record TrainingProgress(
        long step, long totalSteps, float loss, double learningRate, double gradNorm,
        double examplesPerSecond) {}
