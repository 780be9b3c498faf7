package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;

/** A {@link UNet2DConditionModel} as the pipeline's {@link NoiseNetwork}. Thread-safe. */
final class UNetNetwork implements NoiseNetwork {

    private final UNet2DConditionModel unet;
    private final NDManager weights;

    UNetNetwork(UNet2DConditionModel unet, NDManager weights) {
        this.unet = unet;
        this.weights = weights;
    }

    @Override
    public NDArray predict(NDArray scaledX, NDArray timesteps, NDList condition) {
        UNet2DConditionConfig c = unet.config();
        NDArray context = null;
        NDArray labels = null;
        if (c.usesCrossAttention()) {
            context = condition.get(0);
        } else if (c.numClassEmbeds() != null) {
            labels = condition.get(0);
        }
        NDArray timestepCond = c.timeCondProjDim() != null
                ? condition.get(condition.size() - 1) : null;
        ParameterStore ps = new ParameterStore(weights, false);
        return unet.predict(ps, scaledX, timesteps, context, labels, timestepCond, false);
    }

    @Override
    public int guidanceEmbeddingDim() {
        Integer dim = unet.config().timeCondProjDim();
        return dim == null ? 0 : dim;
    }

    @Override
    public int inChannels() {
        return unet.config().inChannels();
    }

    @Override
    public int outChannels() {
        return unet.config().outChannels();
    }

    @Override
    public int sizeMultiple() {
        return unet.config().downsampleFactor();
    }
}
