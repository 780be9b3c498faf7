package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.weights.WeightOverlay;

/** A {@link UNet2DConditionModel} as the pipeline's {@link NoiseNetwork}. Thread-safe. */
final class UNetNetwork implements NoiseNetwork {

    private final UNet2DConditionModel unet;
    private final NDManager weights;
    private final WeightOverlay overlay;

    UNetNetwork(UNet2DConditionModel unet, NDManager weights) {
        this(unet, weights, WeightOverlay.none());
    }

    UNetNetwork(UNet2DConditionModel unet, NDManager weights, WeightOverlay overlay) {
        this.unet = unet;
        this.weights = weights;
        this.overlay = overlay;
    }

    /** The same UNet with some weights replaced for its forward passes. */
    UNetNetwork withOverlay(WeightOverlay replaced) {
        return new UNetNetwork(unet, weights, replaced);
    }

    /** The UNet block (its parameters are shared with every overlay). */
    UNet2DConditionModel unet() {
        return unet;
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
        ParameterStore ps = overlay.store(weights);
        return unet.predict(ps, scaledX, timesteps, context, labels, false);
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
