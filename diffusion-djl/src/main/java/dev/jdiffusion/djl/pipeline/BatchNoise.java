package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.NoiseSource;

/**
 * Noise for a batch in which every image has its own seeded generator: a draw of shape (N, ...)
 * takes row i from generator i, so image i of a batch is the same as a single-image request with
 * that image's seed, for the initial noise and for every draw an ancestral sampler makes.
 */
final class BatchNoise implements NoiseSource {

    private final NoiseSource[] rows;

    BatchNoise(long[] seeds) {
        rows = new NoiseSource[seeds.length];
        for (int i = 0; i < seeds.length; i++) {
            rows[i] = NoiseSource.seeded(seeds[i]);
        }
    }

    @Override
    public NDArray randn(NDManager manager, Shape shape) {
        if (shape.dimension() == 0 || shape.get(0) != rows.length) {
            throw new IllegalArgumentException(
                    "batch noise for " + rows.length + " images cannot fill shape " + shape);
        }
        Shape row = shape.slice(1).isScalar() ? new Shape(1) : new Shape(1).addAll(shape.slice(1));
        NDList parts = new NDList(rows.length);
        try (NDManager tmp = manager.newSubManager()) {
            for (NoiseSource source : rows) {
                parts.add(source.randn(tmp, row));
            }
            NDArray joined = parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
            NDArray out = joined.reshape(shape);
            out.attach(manager);
            return out;
        }
    }

    @Override
    public float[] randn(int count) {
        if (count % rows.length != 0) {
            throw new IllegalArgumentException(
                    count + " values cannot be split over " + rows.length + " images");
        }
        int per = count / rows.length;
        float[] out = new float[count];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i].randn(per), 0, out, i * per, per);
        }
        return out;
    }
}
