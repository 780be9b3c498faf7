package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Group normalisation (Wu &amp; He 2018) as PyTorch's {@code nn.GroupNorm}: the C channels of an
 * (N, C, ...) input are split into G groups, each normalised over its channels and spatial
 * positions, then scaled and shifted per channel ({@code weight}, {@code bias}).
 *
 * <p>The engine has no group-norm operator: the input is reshaped to (N, G, −1), normalised with
 * the layer-norm operator, and the per-channel affine is applied after reshaping back.
 * Results and temporaries belong to the input's manager. Thread-safe for concurrent forwards
 * that use separate parameter stores.
 */
public final class GroupNorm extends AbstractBlock {

    private final int groups;
    private final int channels;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * Creates the block.
     *
     * @param groups the number of groups G; must divide {@code channels}
     * @param channels the number of channels C
     * @param eps the variance epsilon
     */
    public GroupNorm(int groups, int channels, float eps) {
        if (groups <= 0 || channels % groups != 0) {
            throw new IllegalArgumentException("channels (" + channels
                    + ") must be a positive multiple of groups (" + groups + ")");
        }
        this.groups = groups;
        this.channels = channels;
        this.eps = eps;
        this.weight = addParameter(Parameter.builder().setName("weight")
                .setType(Parameter.Type.GAMMA).optShape(new Shape(channels)).build());
        this.bias = addParameter(Parameter.builder().setName("bias")
                .setType(Parameter.Type.BETA).optShape(new Shape(channels)).build());
    }

    /**
     * Normalises without a block (for callers that hold the affine arrays themselves).
     *
     * @param x the input (N, C, ...)
     * @param groups G
     * @param w the per-channel scale (C)
     * @param b the per-channel shift (C)
     * @param eps the variance epsilon
     * @return the normalised input, same shape
     */
    public static NDArray groupNorm(NDArray x, int groups, NDArray w, NDArray b, float eps) {
        return groupNorm(x, groups, w, b, eps, false);
    }

    /**
     * As {@link #groupNorm(NDArray, int, NDArray, NDArray, float)}; with {@code inPlace} the
     * affine is applied in place on the normalised temporary (two full-size allocations fewer),
     * which autograd cannot differentiate: inference only.
     */
    static NDArray groupNorm(NDArray x, int groups, NDArray w, NDArray b, float eps,
            boolean inPlace) {
        Shape shape = x.getShape();
        long n = shape.get(0);
        long c = shape.get(1);
        long perGroup = shape.size() / (n * groups);
        NDArray grouped = x.reshape(n, groups, perGroup);
        NDArray ones = x.getManager().ones(new Shape(perGroup), x.getDataType());
        NDArray zeros = x.getManager().zeros(new Shape(perGroup), x.getDataType());
        NDArray normed = ai.djl.nn.norm.LayerNorm.layerNorm(
                        grouped, new Shape(perGroup), ones, zeros, eps)
                .singletonOrThrow()
                .reshape(shape);
        long[] affine = new long[shape.dimension()];
        java.util.Arrays.fill(affine, 1);
        affine[1] = c;
        Shape affineShape = new Shape(affine);
        // views of the parameters belong to the caller's manager, never the parameters'
        NDArray scale = w.reshape(affineShape);
        scale.attach(x.getManager());
        NDArray shift = b.reshape(affineShape);
        shift.attach(x.getManager());
        return inPlace ? normed.muli(scale).addi(shift) : normed.mul(scale).add(shift);
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        NDArray w = ps.getValue(weight, x.getDevice(), training);
        NDArray b = ps.getValue(bias, x.getDevice(), training);
        return new NDList(groupNorm(x, groups, w, b, eps, !training));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /**
     * The number of channels.
     *
     * @return C
     */
    public int channels() {
        return channels;
    }
}
