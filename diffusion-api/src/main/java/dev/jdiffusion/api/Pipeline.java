package dev.jdiffusion.api;

/**
 * A loaded model ready to generate images: the object applications keep and share.
 *
 * <p>Implementations load their weights once and are thread-safe: any number of threads may
 * call {@link #generate} at once, and each call returns exactly what it would return alone.
 * Closing releases the weights; calls after {@link #close()} throw {@link
 * IllegalStateException}.
 */
public interface Pipeline extends AutoCloseable {

    /**
     * Generates images.
     *
     * @param request what to generate
     * @return the images with everything needed to reproduce each
     * @throws IllegalArgumentException if the request does not fit this model (for example an
     *     unknown sampler), before any native work
     * @throws GenerationCancelledException if the request's listener cancelled the run
     */
    GenerationResult generate(GenerationRequest request);

    /** Releases the model's weights and native memory. */
    @Override
    void close();
}
