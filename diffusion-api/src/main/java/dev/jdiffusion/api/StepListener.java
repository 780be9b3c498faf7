package dev.jdiffusion.api;

/**
 * Receives a {@link StepEvent} after every sampler step and decides whether the run goes on.
 *
 * <p>The listener is called on the thread that runs the sampler. It must return quickly; work
 * with the arrays of the event (for example decoding a preview) must be finished before it
 * returns, because the arrays are released afterwards.
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
