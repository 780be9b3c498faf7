package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.AutoencoderTiny;

/**
 * An {@link AutoencoderTiny} (TAESD) as a {@link LatentCodec}: latents are the encoder's output
 * times its scaling factor (1 for TAESD), and decoding divides by it. Thread-safe.
 */
final class TinyCodec implements LatentCodec {

    private final AutoencoderTiny taesd;
    private final NDManager weights;
    private final float scaling;

    TinyCodec(AutoencoderTiny taesd, NDManager weights) {
        this.taesd = taesd;
        this.weights = weights;
        this.scaling = taesd.scalingFactor();
    }

    @Override
    public NDArray encode(NDArray pixels) {
        NDArray z = taesd.encode(new ParameterStore(weights, false), pixels, false);
        return scaling == 1f ? z : z.mul(scaling);
    }

    @Override
    public NDArray decode(NDArray latents) {
        NDArray z = scaling == 1f ? latents : latents.div(scaling);
        return taesd.decode(new ParameterStore(weights, false), z, false);
    }

    @Override
    public int factor() {
        return taesd.config().downsampleFactor();
    }

    @Override
    public int channels() {
        return taesd.config().latentChannels();
    }
}
