package dev.jdiffusion.api;

/**
 * Receives a {@link StepEvent} after every sampler step and decides whether the run goes on.
 *
 * <p>Contract:
 *
 * <ul>
 *   <li>The listener is called on the thread that runs the sampler (the caller of {@code
 *       generate}), once per step, and must return quickly: the next step waits for it.
 *   <li>The event's arrays are views valid only during this call and only on this thread.
 *       Work with them (for example decoding a preview) must be finished before returning;
 *       to keep data, or to hand it to another thread, copy it here with {@link
 *       StepEvent#xValues()}, {@link StepEvent#denoisedValues()} or {@link
 *       StepEvent#copyX(ai.djl.ndarray.NDManager)}. A view used later or elsewhere throws
 *       {@link IllegalStateException}.
 *   <li>To stop the run, return {@code false} (or interrupt the thread); the run then ends with
 *       {@link GenerationCancelledException}. An exception thrown here ends the run with that
 *       exception.
 *   <li>Do not close the pipeline from here: a pipeline's {@code close()} called from inside
 *       its own {@code generate} fails with {@link IllegalStateException}.
 * </ul>
 *
 * <p>A listener shared by several requests is called concurrently from their threads and must
 * then be thread-safe itself.
 */
@FunctionalInterface
public interface StepListener {

    /** A listener that ignores every event and never cancels. */
    StepListener NONE = event -> true;

    /**
     * Called after each step.
     *
     * @param event what the step produced
     * @return {@code true} to continue, {@code false} to cancel the run; the sampler then throws
     *     {@link GenerationCancelledException}
     */
    boolean onStep(StepEvent event);
}
