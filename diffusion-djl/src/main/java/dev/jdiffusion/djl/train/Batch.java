package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import java.util.Locale;
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

    /**
     * Shapes and data types only, never array contents.
     *
     * @return e.g. {@code Batch[x (16, 3, 32, 32) float32, condition (16, 77) int32]}
     */
    @Override
    public String toString() {
        return "Batch[x " + describe(x) + ", condition "
                + (condition == null ? "none" : describe(condition)) + "]";
    }

    private static String describe(NDArray a) {
        return a.isReleased() ? "(released)"
                : a.getShape() + " " + a.getDataType().toString().toLowerCase(Locale.ROOT);
    }
}
