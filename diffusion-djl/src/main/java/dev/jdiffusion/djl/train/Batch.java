package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import java.util.Objects;

/**
 * One batch of training examples.
 *
 * @param x the clean samples x₀, batch-first, float32, for example (N, C, H, W) images in
 *     [−1, 1], (N, C, h, w) latents or (N, 2) points
 * @param condition the conditioning, batch-first (for example class ids (N) or token ids (N,
 *     77)), or {@code null} for unconditional data
 */
public record Batch(NDArray x, NDArray condition) {

    /**
     * Validates the batch.
     *
     * @param x the clean samples
     * @param condition the conditioning or {@code null}
     */
    public Batch {
        Objects.requireNonNull(x, "x");
        if (condition != null && condition.getShape().get(0) != x.getShape().get(0)) {
            throw new IllegalArgumentException("condition batch size "
                    + condition.getShape().get(0) + " differs from x batch size "
                    + x.getShape().get(0));
        }
    }
}
