package dev.jdiffusion.api;

/**
 * Thrown when a run is cancelled: its {@link StepListener} returned {@code false}, or the thread
 * running it was interrupted ({@link Thread#interrupt()}), which is noticed at the next step and
 * leaves the thread's interrupt status set. Everything the run allocated has been released when
 * it propagates out of a pipeline.
 */
public class GenerationCancelledException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The zero-based index of the last finished step, -1 if none. */
    private final int step;

    /** Whether an interrupt, not the listener, stopped the run. */
    private final boolean interrupted;

    /**
     * Creates the exception for a cancellation by the listener.
     *
     * @param step the zero-based index of the last step that finished before the cancellation
     */
    public GenerationCancelledException(int step) {
        this(step, false);
    }

    /**
     * Creates the exception.
     *
     * @param step the zero-based index of the last step that finished before the cancellation,
     *     or -1 if the run stopped before its first step
     * @param interrupted whether the thread's interrupt stopped the run
     */
    public GenerationCancelledException(int step, boolean interrupted) {
        super((step < 0 ? "generation cancelled before the first step"
                : "generation cancelled after step " + (step + 1))
                + (interrupted ? " (the thread was interrupted)" : ""));
        this.step = step;
        this.interrupted = interrupted;
    }

    /**
     * The step after which the run stopped.
     *
     * @return the zero-based index of the last finished step, -1 if none finished
     */
    public int step() {
        return step;
    }

    /**
     * Whether the run stopped because its thread was interrupted (the interrupt status is still
     * set) rather than because the listener returned {@code false}.
     *
     * @return {@code true} for an interrupt
     */
    public boolean interrupted() {
        return interrupted;
    }
}
