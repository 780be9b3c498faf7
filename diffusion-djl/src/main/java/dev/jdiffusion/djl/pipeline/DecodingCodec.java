package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;

/**
 * The pipeline's codec as {@link DecoderOptions} arrange it: the model's VAE (tiled or not) for
 * encoding, the VAE or a TAESD for the final decode, and the chosen preview decoder. Thread-safe
 * as its parts.
 */
final class DecodingCodec implements LatentCodec {

    private final LatentCodec vae;
    private final LatentCodec finalDecoder;
    private final PreviewDecoder previews;
    private final LatentCodec taesd;
    private final LatentRgb rgb;

    /**
     * @param vae the model's VAE codec (encodes; decodes unless a TAESD is the final decoder)
     * @param taesd the TAESD codec, or null
     * @param options the decoder options (validated against the parts by the loader)
     * @param rgb the latent-to-RGB map for {@link PreviewDecoder#LATENT_RGB}, else null
     */
    DecodingCodec(LatentCodec vae, LatentCodec taesd, DecoderOptions options, LatentRgb rgb) {
        this.vae = vae;
        this.taesd = taesd;
        this.finalDecoder = options.taesdFinal() ? taesd : vae;
        this.previews = options.previews();
        this.rgb = rgb;
    }

    @Override
    public NDArray encode(NDArray pixels) {
        return vae.encode(pixels);
    }

    @Override
    public NDArray decode(NDArray latents) {
        return finalDecoder.decode(latents);
    }

    @Override
    public NDArray preview(NDArray latents) {
        return switch (previews) {
            case VAE -> vae.decode(latents);
            case TAESD -> taesd.decode(latents);
            case LATENT_RGB -> rgb.preview(latents, vae.factor());
        };
    }

    @Override
    public int factor() {
        return vae.factor();
    }

    @Override
    public int channels() {
        return vae.channels();
    }
}
