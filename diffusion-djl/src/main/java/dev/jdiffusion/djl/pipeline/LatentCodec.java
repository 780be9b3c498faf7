package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;

/**
 * Maps images to the space diffusion runs in and back: a VAE for latent models, the identity
 * for pixel-space models. Implementations are thread-safe.
 */
interface LatentCodec {

    /**
     * Encodes images to (scaled) latents, deterministically (the mean of the posterior).
     *
     * @param pixels (N, 3, H, W) in [−1, 1]
     * @return (N, C, H / factor, W / factor), scaled by the model's scaling factor
     */
    NDArray encode(NDArray pixels);

    /**
     * Decodes (scaled) latents to images.
     *
     * @param latents (N, C, h, w)
     * @return (N, 3, h · factor, w · factor), nominally in [−1, 1]
     */
    NDArray decode(NDArray latents);

    /**
     * Decodes (scaled) latents for a preview; the same as {@link #decode} unless the pipeline's
     * {@link DecoderOptions} choose a cheaper preview decoder.
     *
     * @param latents (N, C, h, w)
     * @return (N, 3, h · factor, w · factor), nominally in [−1, 1]
     */
    default NDArray preview(NDArray latents) {
        return decode(latents);
    }

    /**
     * The spatial down-sampling factor.
     *
     * @return 8 for Stable Diffusion's VAE, 1 for pixel space
     */
    int factor();

    /**
     * The number of channels of the diffusion space.
     *
     * @return 4 for Stable Diffusion's latents, 3 for RGB pixel space
     */
    int channels();

    /** The identity codec of pixel-space models. */
    LatentCodec PIXELS = new LatentCodec() {
        @Override
        public NDArray encode(NDArray pixels) {
            return pixels.duplicate();
        }

        @Override
        public NDArray decode(NDArray latents) {
            return latents.duplicate();
        }

        @Override
        public int factor() {
            return 1;
        }

        @Override
        public int channels() {
            return 3;
        }
    };
}
