package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.NoiseSource;

/**
 * Noise for a batch in which every image has its own seeded generator: a draw of shape (N, ...)
 * takes row i from generator i, so image i of a batch is the same as a single-image request with
 * that image's seed, for the initial noise and for every draw an ancestral sampler makes. {@link
 * #shared} instead fills every draw from one generator, as diffusers does with one {@code
 * torch.Generator} for a batch. Not thread-safe (one per request).
 */
final class BatchNoise implements NoiseSource {

    private final NoiseSource[] rows;
    /** The one generator of a shared batch, or null. */
    private final NoiseSource shared;

    BatchNoise(long[] seeds) {
        rows = new NoiseSource[seeds.length];
        for (int i = 0; i < seeds.length; i++) {
            rows[i] = NoiseSource.seeded(seeds[i]);
        }
        shared = null;
    }

    private BatchNoise(long seed, int images) {
        rows = new NoiseSource[images];
        shared = NoiseSource.seeded(seed);
    }

    /**
     * Noise for a batch of {@code images} images drawn from one generator.
     *
     * @param seed the generator's seed
     * @param images the batch size
     * @return the noise source
     */
    static BatchNoise shared(long seed, int images) {
        return new BatchNoise(seed, images);
    }

    @Override
    public NDArray randn(NDManager manager, Shape shape) {
        if (shape.dimension() == 0 || shape.get(0) != rows.length) {
            throw new IllegalArgumentException(
                    "batch noise for " + rows.length + " images cannot fill shape " + shape);
        }
        if (shape.size() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("noise tensor too large: " + shape);
        }
        // One array created from Java memory and returned as is: a view of it must never
        // outlive it, since the engine borrows that memory instead of copying it.
        return manager.create(randn((int) shape.size()), shape);
    }

    @Override
    public float[] randn(int count) {
        if (count % rows.length != 0) {
            throw new IllegalArgumentException(
                    count + " values cannot be split over " + rows.length + " images");
        }
        if (shared != null) {
            return shared.randn(count);
        }
        int per = count / rows.length;
        float[] out = new float[count];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i].randn(per), 0, out, i * per, per);
        }
        return out;
    }
}
