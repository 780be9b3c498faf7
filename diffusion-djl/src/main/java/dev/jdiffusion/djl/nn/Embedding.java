package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A lookup table as PyTorch's {@code nn.Embedding}: integer ids of any shape S become vectors of
 * shape (S..., dim), read from the rows of {@code weight} (count, dim). Initialised, as in
 * PyTorch, from N(0, 1). The result belongs to the manager of the ids.
 */
public final class Embedding extends AbstractBlock {

    private final int count;
    private final int dim;
    private final Parameter weight;

    /**
     * Creates the block.
     *
     * @param count the number of rows (vocabulary or class count)
     * @param dim the vector size
     */
    public Embedding(int count, int dim) {
        if (count <= 0 || dim <= 0) {
            throw new IllegalArgumentException(
                    "embedding size must be positive (got " + count + "x" + dim + ")");
        }
        this.count = count;
        this.dim = dim;
        this.weight = addParameter(Parameter.builder().setName("weight")
                .setType(Parameter.Type.WEIGHT).optShape(new Shape(count, dim))
                .optInitializer((m, shape, type) -> m.randomNormal(0, 1, shape, type)).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray ids = inputs.singletonOrThrow();
        NDArray w = ps.getValue(weight, ids.getDevice(), training);
        NDArray flat = ids.toType(DataType.INT64, false).flatten();
        // index into the caller's manager, never the parameter's
        NDArray rows = w.get(ids.getManager(), new NDIndex("{}", flat)); // (n, dim)
        return new NDList(rows.reshape(ids.getShape().addAll(new Shape(dim))));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].addAll(new Shape(dim))};
    }

    /**
     * The number of rows.
     *
     * @return the vocabulary or class count
     */
    public int count() {
        return count;
    }
}
