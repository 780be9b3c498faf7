package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.AutoencoderKL;

/**
 * An {@link AutoencoderKL} as the pipeline's {@link LatentCodec}: latents are {@code (mean −
 * shift) · scaling_factor} of the encoder's posterior, and decoding undoes that; optionally
 * tiled. Thread-safe.
 */
final class VaeCodec implements LatentCodec {

    private final AutoencoderKL vae;
    private final NDManager weights;
    private final float scaling;
    private final float shift;
    private final boolean tiled;

    VaeCodec(AutoencoderKL vae, NDManager weights) {
        this(vae, weights, false);
    }

    /** With {@code tiled}, encodes and decodes in tiles ({@link AutoencoderKL#decodeTiled}). */
    VaeCodec(AutoencoderKL vae, NDManager weights, boolean tiled) {
        this.tiled = tiled;
        this.vae = vae;
        this.weights = weights;
        this.scaling = vae.config().scalingFactor();
        this.shift = vae.config().shiftFactor() == null ? 0f : vae.config().shiftFactor();
    }

    @Override
    public NDArray encode(NDArray pixels) {
        ParameterStore ps = new ParameterStore(weights, false);
        NDArray mean = (tiled ? vae.encodeTiled(ps, pixels) : vae.encode(ps, pixels, false))
                .get(0);
        return mean.sub(shift).mul(scaling);
    }

    @Override
    public NDArray decode(NDArray latents) {
        NDArray z = latents.div(scaling).add(shift);
        ParameterStore ps = new ParameterStore(weights, false);
        return tiled ? vae.decodeTiled(ps, z) : vae.decode(ps, z, false);
    }

    @Override
    public int factor() {
        return vae.config().downsampleFactor();
    }

    @Override
    public int channels() {
        return vae.config().latentChannels();
    }
}
