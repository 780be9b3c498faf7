package dev.jdiffusion.api;

/**
 * Thrown when a {@link StepListener} cancels a run. Everything the run allocated has been
 * released when it propagates out of a pipeline.
 */
public class GenerationCancelledException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    /** The zero-based index of the last finished step. */
    private final int step;

    /**
     * Creates the exception.
     *
     * @param step the zero-based index of the last step that finished before the cancellation
     */
    public GenerationCancelledException(int step) {
        super("generation cancelled after step " + (step + 1));
        this.step = step;
    }

    /**
     * The step after which the run stopped.
     *
     * @return the zero-based index of the last finished step
     */
    public int step() {
        return step;
    }
}
