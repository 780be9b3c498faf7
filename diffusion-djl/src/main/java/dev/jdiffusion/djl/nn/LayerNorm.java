package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * Layer normalisation over the last axis with a learned scale and shift, named {@code weight}
 * and {@code bias} as in PyTorch's {@code nn.LayerNorm}. Input (..., C), output the same shape.
 */
public final class LayerNorm extends AbstractBlock {

    private final int channels;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    /**
     * Creates the block.
     *
     * @param channels the size of the last axis
     * @param eps the variance epsilon (PyTorch's default is 1e-5)
     */
    public LayerNorm(int channels, float eps) {
        this.channels = channels;
        this.eps = eps;
        this.weight = addParameter(Parameter.builder().setName("weight")
                .setType(Parameter.Type.GAMMA).optShape(new Shape(channels)).build());
        this.bias = addParameter(Parameter.builder().setName("bias")
                .setType(Parameter.Type.BETA).optShape(new Shape(channels)).build());
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        NDArray w = ps.getValue(weight, x.getDevice(), training);
        NDArray b = ps.getValue(bias, x.getDevice(), training);
        return ai.djl.nn.norm.LayerNorm.layerNorm(x, new Shape(channels), w, b, eps);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
