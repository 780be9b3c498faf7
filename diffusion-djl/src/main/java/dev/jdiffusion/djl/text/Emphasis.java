package dev.jdiffusion.djl.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Prompt weights applied to a chunk's hidden states as AUTOMATIC1111's default emphasis
 * ("Original") applies them: every token's state is multiplied by its weight, then the chunk is
 * scaled so that the mean of its values is what it was before ({@code z *= mean(z) /
 * mean(z·w)}, the mean over each prompt's T × D values). Shared by {@link ClipConditioner} and
 * {@link SdxlConditioner} (there once per text encoder, on the states the encoder hands on).
 */
final class Emphasis {

    private Emphasis() {}

    /**
     * The weighted states of a batch of chunks.
     *
     * @param sub the manager of the temporaries
     * @param z (N, T, D) the chunks' hidden states
     * @param batch the N chunks, their weights one per position
     * @return {@code z} itself when no chunk has a weight other than 1, else the weighted
     *     states (N, T, D)
     * @throws IllegalStateException if the weighted states have mean 0 (the mean cannot be
     *     restored)
     */
    static NDArray apply(NDManager sub, NDArray z, PromptChunks.Chunk[] batch) {
        boolean weighted = false;
        for (PromptChunks.Chunk c : batch) {
            weighted |= c.weighted();
        }
        if (!weighted) {
            return z;
        }
        int n = batch.length;
        int t = batch[0].weights().length;
        float[] w = new float[n * t];
        for (int i = 0; i < n; i++) {
            System.arraycopy(batch[i].weights(), 0, w, i * t, t);
        }
        NDArray weights = sub.create(w, new Shape(n, t, 1)).toType(z.getDataType(), false);
        NDArray before = meanPerPrompt(z);
        NDArray scaled = z.mul(weights);
        NDArray ratio = before.div(meanPerPrompt(scaled)); // (N, 1, 1)
        if (ratio.isNaN().logicalOr(ratio.isInfinite()).any().getBoolean()) {
            throw new IllegalStateException("cannot restore the mean of a weighted chunk: the"
                    + " weighted hidden states have mean 0 (a text encoder whose final"
                    + " LayerNorm has no bias?); write the prompt without weights");
        }
        return scaled.mul(ratio);
    }

    /** (N, T, D) → (N, 1, 1), the mean of each prompt's values. */
    private static NDArray meanPerPrompt(NDArray z) {
        long n = z.getShape().get(0);
        return z.reshape(n, -1).mean(new int[] {1}, true).reshape(n, 1, 1);
    }
}
