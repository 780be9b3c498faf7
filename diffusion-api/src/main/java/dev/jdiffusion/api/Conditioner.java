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
 * <p>The unconditional input of classifier-free guidance is the encoding of the negative
 * prompt ({@link #encodeNegative}), by default the empty prompt. Implementations are
 * thread-safe.
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
     * Encodes negative prompts, the unconditional side of classifier-free guidance. By default
     * the same as {@link #encode}; a model may give the empty negative prompt its own meaning
     * (SDXL's {@code force_zeros_for_empty_prompt}: all-zero conditioning).
     *
     * @param manager the manager that owns the result
     * @param negativePrompts the negative prompts, one per batch entry; the empty string means
     *     "none given"
     * @return the conditioning tensors, batch-first, shaped as {@link #encode}'s
     * @throws IllegalArgumentException if a prompt cannot be encoded
     */
    default NDList encodeNegative(NDManager manager, List<String> negativePrompts) {
        return encode(manager, negativePrompts);
    }

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
