package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Unconditional training data held in a Java array: {@code size} examples of one shape, stored
 * row-major one after the other.
 *
 * <p>Immutable and thread-safe (the values are copied on construction).
 */
public final class InMemoryData implements TrainingData {

    private final float[] values;
    private final Shape exampleShape;
    private final int exampleSize;
    private final int size;

    /**
     * Creates the data set.
     *
     * @param values all examples, row-major, {@code size * exampleShape.size()} values; copied
     * @param exampleShape the shape of one example, for example (2) for points or (3, 32, 32)
     * @throws IllegalArgumentException if the length is not a positive multiple of the example
     *     size
     */
    public InMemoryData(float[] values, Shape exampleShape) {
        this.exampleShape = exampleShape;
        this.exampleSize = checkedExampleSize(values, exampleShape);
        this.values = values.clone();
        this.size = values.length / exampleSize;
    }

    static int checkedExampleSize(float[] values, Shape exampleShape) {
        long n = exampleShape.size();
        if (n <= 0 || n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("invalid example shape " + exampleShape);
        }
        if (values.length == 0 || values.length % n != 0) {
            throw new IllegalArgumentException("values length " + values.length
                    + " is not a positive multiple of the example size " + n + " of shape "
                    + exampleShape);
        }
        return (int) n;
    }

    /** Gathers examples into one (B, exampleShape...) array. */
    static NDArray gather(NDManager manager, float[] values, Shape exampleShape, int exampleSize,
            int[] indices) {
        float[] out = new float[indices.length * exampleSize];
        int count = values.length / exampleSize;
        for (int i = 0; i < indices.length; i++) {
            int k = indices[i];
            if (k < 0 || k >= count) {
                throw new IndexOutOfBoundsException(
                        "example index " + k + " outside [0, " + count + ")");
            }
            System.arraycopy(values, k * exampleSize, out, i * exampleSize, exampleSize);
        }
        return manager.create(out, new Shape(indices.length).addAll(exampleShape));
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Batch batch(NDManager manager, int[] indices) {
        return new Batch(gather(manager, values, exampleShape, exampleSize, indices), null);
    }

    /**
     * Returns {@code null}: this data set has no condition.
     *
     * @param manager unused
     * @param n unused
     * @return {@code null}
     */
    @Override
    public NDArray nullCondition(NDManager manager, int n) {
        return null;
    }
}
