package dev.jdiffusion.djl.pipeline;

/**
 * How the previews of a run ({@code GenerationRequest.previewEvery}) turn each kept estimate of
 * the clean latents x₀ into an image.
 */
public enum PreviewDecoder {
    /** The model's own VAE: exact, and as slow as a final decode per preview. */
    VAE,
    /** The tiny autoencoder given by {@link DecoderOptions#taesd()}: close, and fast. */
    TAESD,
    /**
     * A fixed per-channel linear map of the latents to RGB ({@link LatentRgb}), upsampled to the
     * image size (nearest neighbour): blurry colours, at no measurable cost. For the 4-channel
     * latents of Stable Diffusion 1.x/2.x and SDXL.
     */
    LATENT_RGB
}
