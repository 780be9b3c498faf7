package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

/**
 * A training set the {@link DiffusionTrainer} draws batches from by index. Implement it to feed
 * any data; {@link InMemoryData}, {@link LabelledData} and {@link ImageCaptionFolder} are
 * ready-made.
 *
 * <p>The trainer calls these methods from its own thread only; implementations that cache need
 * not be thread-safe unless shared between trainers.
 */
public interface TrainingData {

    /**
     * The number of examples.
     *
     * @return the size, &gt; 0
     */
    int size();

    /**
     * Builds the batch of the given examples.
     *
     * @param manager the manager that owns the returned arrays (closed after the step)
     * @param indices example indices in [0, size()), in batch order; may repeat
     * @return the batch, batch size {@code indices.length}
     */
    Batch batch(NDManager manager, int[] indices);

    /**
     * The "no condition" input used for classifier-free-guidance dropout: for example the
     * empty prompt's token ids, or the extra null class index.
     *
     * @param manager the manager that owns the result
     * @param n the batch size
     * @return {@code n} null conditions shaped and typed like {@link Batch#condition()}, or
     *     {@code null} for unconditional data
     */
    NDArray nullCondition(NDManager manager, int n);
}
