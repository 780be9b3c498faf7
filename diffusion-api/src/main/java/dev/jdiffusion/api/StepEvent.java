package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;

/**
 * What one sampler step produced. The event is immutable; its arrays are valid only during the
 * {@link StepListener#onStep} call that receives it and must be copied (for example with {@code
 * toFloatArray()}) to be kept.
 *
 * @param stepIndex the zero-based index of the finished step
 * @param totalSteps the number of steps of the run
 * @param sigma the noise level the step started from
 * @param sigmaNext the noise level the step reached (0 after the last step)
 * @param x the current sample at {@code sigmaNext}
 * @param denoised the step's estimate of the clean sample x₀ (a cheap preview of the result)
 */
public record StepEvent(
        int stepIndex, int totalSteps, float sigma, float sigmaNext, NDArray x, NDArray denoised) {

    /**
     * Whether this is the last step of the run.
     *
     * @return {@code true} after the final step
     */
    public boolean isLast() {
        return stepIndex == totalSteps - 1;
    }
}
