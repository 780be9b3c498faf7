package dev.jdiffusion.djl.train;

/**
 * Observes training: called on the training thread after every optimizer step. It must return
 * quickly; it may throw to abort training (the trainer's state stays consistent: the step has
 * been applied and counted).
 */
@FunctionalInterface
public interface TrainingListener {

    /** A listener that ignores every event. */
    TrainingListener NONE = progress -> { };

    /**
     * Called after each step.
     *
     * @param progress what the step did
     */
    void onStep(TrainingProgress progress);
}
