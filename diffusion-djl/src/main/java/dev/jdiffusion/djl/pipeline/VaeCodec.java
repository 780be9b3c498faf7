package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.AutoencoderKL;

/**
 * An {@link AutoencoderKL} as the pipeline's {@link LatentCodec}: latents are {@code (mean −
 * shift) · scaling_factor} of the encoder's posterior, and decoding undoes that; optionally
 * tiled. Inputs are cast to the VAE's weight type (float32 when the loader upcast a half model's
 * VAE for {@code force_upcast}) and decoded pixels are float32; a decode that overflows to NaN
 * or infinity is reported, not turned into a black image. Thread-safe.
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
        NDArray in = pixels.toType(weightType(), false);
        NDArray mean = (tiled ? vae.encodeTiled(ps, in) : vae.encode(ps, in, false)).get(0);
        return mean.sub(shift).mul(scaling).toType(pixels.getDataType(), false);
    }

    @Override
    public NDArray decode(NDArray latents) {
        DataType type = weightType();
        NDArray z = latents.toType(type, false).div(scaling).add(shift);
        ParameterStore ps = new ParameterStore(weights, false);
        NDArray pixels = (tiled ? vae.decodeTiled(ps, z) : vae.decode(ps, z, false))
                .toType(DataType.FLOAT32, false);
        if (pixels.isNaN().logicalOr(pixels.isInfinite()).any().getBoolean()) {
            throw new IllegalStateException(overflowAdvice(type));
        }
        return pixels;
    }

    /** What to do about a decode that gave NaN or infinite pixels. */
    static String overflowAdvice(DataType type) {
        String msg = "the VAE decoded NaN or infinite pixels";
        if (type == DataType.FLOAT16) {
            return msg + " in float16; some VAEs (the original SDXL VAE among them) overflow"
                    + " in half precision: set \"force_upcast\": true in vae/config.json so"
                    + " the VAE runs in float32, or use a VAE fine-tuned for float16";
        }
        return msg + "; the latents or the VAE weights are not finite (check the model files)";
    }

    private DataType weightType() {
        return vae.getParameters().valueAt(0).getArray().getDataType();
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
