package dev.jdiffusion.djl.toy;

import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.train.InMemoryData;
import dev.jdiffusion.djl.train.LabelledData;
import dev.jdiffusion.djl.train.TrainingData;
import java.util.Objects;

/**
 * A set of 2-D points, optionally with a class label per point. Immutable and thread-safe
 * (arrays are copied in and out).
 */
public final class Points2d {

    private final String name;
    private final float[] xy;
    private final int[] labels;
    private final int numClasses;

    /**
     * Creates a point set.
     *
     * @param name a short name, for example {@code moons}
     * @param xy the coordinates, x₀, y₀, x₁, y₁, …; copied
     * @param labels one class per point in [0, numClasses), or {@code null}; copied
     * @param numClasses the number of classes, 0 without labels
     */
    public Points2d(String name, float[] xy, int[] labels, int numClasses) {
        this.name = Objects.requireNonNull(name, "name");
        if (xy.length == 0 || xy.length % 2 != 0) {
            throw new IllegalArgumentException("xy must hold a positive, even number of values");
        }
        if ((labels == null) != (numClasses == 0)
                || (labels != null && labels.length != xy.length / 2)) {
            throw new IllegalArgumentException("labels must be given (one per point) exactly "
                    + "when numClasses > 0");
        }
        this.xy = xy.clone();
        this.labels = labels == null ? null : labels.clone();
        this.numClasses = numClasses;
    }

    /**
     * The name of the distribution.
     *
     * @return the name
     */
    public String name() {
        return name;
    }

    /**
     * The number of points.
     *
     * @return the count
     */
    public int size() {
        return xy.length / 2;
    }

    /**
     * The coordinates.
     *
     * @return a copy, x₀, y₀, x₁, y₁, …
     */
    public float[] xy() {
        return xy.clone();
    }

    /**
     * The class labels.
     *
     * @return a copy, or {@code null} for unlabelled points
     */
    public int[] labels() {
        return labels == null ? null : labels.clone();
    }

    /**
     * The number of classes.
     *
     * @return 0 for unlabelled points
     */
    public int numClasses() {
        return numClasses;
    }

    /**
     * These points as training data of shape (2) per example.
     *
     * @param conditional whether to attach the class labels ({@link LabelledData}, null class
     *     {@code numClasses}) or not ({@link InMemoryData})
     * @return the training data
     * @throws IllegalArgumentException if {@code conditional} but the points have no labels
     */
    public TrainingData toTrainingData(boolean conditional) {
        if (!conditional) {
            return new InMemoryData(xy, new Shape(2));
        }
        if (labels == null) {
            throw new IllegalArgumentException("the '" + name + "' points have no class labels;"
                    + " train it unconditionally");
        }
        return new LabelledData(xy, new Shape(2), labels, numClasses);
    }
}
