package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * Class-conditional training data held in Java arrays: examples of one shape, each with a class
 * index in [0, numClasses). The condition is an int32 array (N) of class indices; the null
 * condition of classifier-free guidance is the extra class {@code numClasses}, so a model for
 * this data needs {@code numClasses + 1} label embeddings.
 *
 * <p>Immutable and thread-safe (the arrays are copied on construction).
 */
public final class LabelledData implements TrainingData {

    private final float[] values;
    private final Shape exampleShape;
    private final int exampleSize;
    private final int[] labels;
    private final int numClasses;

    /**
     * Creates the data set.
     *
     * @param values all examples, row-major; copied
     * @param exampleShape the shape of one example
     * @param labels one class index per example, each in [0, numClasses); copied
     * @param numClasses the number of real classes (the null class is {@code numClasses})
     * @throws IllegalArgumentException if sizes disagree or a label is out of range
     */
    public LabelledData(float[] values, Shape exampleShape, int[] labels, int numClasses) {
        this.exampleShape = exampleShape;
        this.exampleSize = InMemoryData.checkedExampleSize(values, exampleShape);
        if (labels.length != values.length / exampleSize) {
            throw new IllegalArgumentException("got " + labels.length + " labels for "
                    + values.length / exampleSize + " examples");
        }
        if (numClasses < 1) {
            throw new IllegalArgumentException("numClasses must be >= 1 (got " + numClasses + ")");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= numClasses) {
                throw new IllegalArgumentException("label[" + i + "] = " + labels[i]
                        + " is outside [0, " + numClasses + ")");
            }
        }
        this.values = values.clone();
        this.labels = labels.clone();
        this.numClasses = numClasses;
    }

    /**
     * The number of real classes.
     *
     * @return the class count, not counting the null class
     */
    public int numClasses() {
        return numClasses;
    }

    /**
     * The index used as "no class" for classifier-free guidance.
     *
     * @return {@code numClasses()}
     */
    public int nullClass() {
        return numClasses;
    }

    @Override
    public int size() {
        return labels.length;
    }

    @Override
    public Batch batch(NDManager manager, int[] indices) {
        NDArray x = InMemoryData.gather(manager, values, exampleShape, exampleSize, indices);
        int[] c = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            c[i] = labels[indices[i]];
        }
        return new Batch(x, manager.create(c));
    }

    @Override
    public NDArray nullCondition(NDManager manager, int n) {
        int[] c = new int[n];
        Arrays.fill(c, numClasses);
        return manager.create(c);
    }
}
