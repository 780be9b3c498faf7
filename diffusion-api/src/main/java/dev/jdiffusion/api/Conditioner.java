package dev.jdiffusion.api;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import java.util.Collections;
import java.util.List;

/**
 * Turns prompts (or class labels written as text) into the conditioning tensors a model is
 * given at every step, for example CLIP text embeddings of shape (N, 77, dim) or class indices
 * of shape (N).
 *
 * <p>The unconditional input of classifier-free guidance is the encoding of the empty prompt.
 * Implementations are thread-safe.
 */
@FunctionalInterface
public interface Conditioner {

    /**
     * Encodes prompts, one batch entry per prompt.
     *
     * @param manager the manager that owns the result
     * @param prompts the prompts; the empty string means "no condition"
     * @return the conditioning tensors, batch-first
     * @throws IllegalArgumentException if a prompt cannot be encoded (for example an unknown
     *     class label)
     */
    NDList encode(NDManager manager, List<String> prompts);

    /**
     * The unconditional input for a batch.
     *
     * @param manager the manager that owns the result
     * @param batch the batch size
     * @return the encoding of {@code batch} empty prompts
     */
    default NDList unconditional(NDManager manager, int batch) {
        return encode(manager, Collections.nCopies(batch, ""));
    }
}
