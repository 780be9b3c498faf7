package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * A fixed linear map from 4-channel latents to RGB: {@code rgb_c = Σ_k latent_k · F[k][c] +
 * bias_c}, clamped to [−1, 1], for previews that cost nothing next to a VAE decode. The maps
 * work on the scaled latents the diffusion model sees (the VAE's mean times its scaling
 * factor), at latent resolution.
 *
 * <p>Origin of the factors: {@link #SD1} is the least-squares fit of RGB on SD 1.x latents that
 * ComfyUI ships as {@code latent_rgb_factors} of its {@code SD15} latent format
 * ({@code comfy/latent_formats.py}); {@link #SDXL} are the factors and bias of its {@code SDXL}
 * latent format in the same file. Both are fits over sample images, not properties of the
 * VAEs, so colours are approximate.
 *
 * <p>Immutable and thread-safe.
 */
public enum LatentRgb {
    /** Stable Diffusion 1.x and 2.x latents (VAE scaling factor 0.18215). */
    SD1(new float[][] {
        {0.3512f, 0.2297f, 0.3227f},
        {0.3250f, 0.4974f, 0.2350f},
        {-0.2829f, 0.1762f, 0.2721f},
        {-0.2120f, -0.2616f, -0.7177f}},
        new float[] {0f, 0f, 0f}),
    /** SDXL latents (VAE scaling factor 0.13025). */
    SDXL(new float[][] {
        {0.3651f, 0.4232f, 0.4341f},
        {-0.2533f, -0.0042f, 0.1068f},
        {0.1076f, 0.1111f, -0.0362f},
        {-0.3165f, -0.2492f, -0.2188f}},
        new float[] {0.1084f, -0.0175f, -0.0011f});

    /** SDXL's VAE scaling factor, which tells its latents from SD 1.x/2.x ones. */
    static final float SDXL_SCALING = 0.13025f;

    private final float[][] factors;
    private final float[] bias;

    LatentRgb(float[][] factors, float[] bias) {
        this.factors = factors;
        this.bias = bias;
    }

    /**
     * The map for a VAE, told apart by its scaling factor.
     *
     * @param latentChannels the VAE's latent channels
     * @param scalingFactor the VAE's scaling factor
     * @return {@link #SDXL} for scaling factor 0.13025, {@link #SD1} otherwise
     * @throws IllegalArgumentException if the latents do not have 4 channels
     */
    public static LatentRgb forVae(int latentChannels, float scalingFactor) {
        if (latentChannels != 4) {
            throw new IllegalArgumentException("latent-to-RGB previews need 4 latent channels"
                    + " (SD 1.x/2.x/XL); this model's VAE has " + latentChannels
                    + ": use VAE or TAESD previews");
        }
        return Math.abs(scalingFactor - SDXL_SCALING) < 1e-6 ? SDXL : SD1;
    }

    /**
     * The factor of latent channel {@code k} in colour {@code c}.
     *
     * @param k the latent channel, 0 to 3
     * @param c the colour, 0 (red) to 2 (blue)
     * @return the factor
     */
    public float factor(int k, int c) {
        return factors[k][c];
    }

    /**
     * The constant added to colour {@code c}.
     *
     * @param c the colour, 0 (red) to 2 (blue)
     * @return the bias (0 for SD1)
     */
    public float bias(int c) {
        return bias[c];
    }

    /**
     * Maps latents to RGB at latent resolution.
     *
     * @param latents (N, 4, h, w) scaled latents
     * @return (N, 3, h, w) in [−1, 1], attached to the manager of {@code latents}
     * @throws IllegalArgumentException if the latents do not have 4 channels
     */
    public NDArray toRgb(NDArray latents) {
        Shape s = latents.getShape();
        if (s.dimension() != 4 || s.get(1) != 4) {
            throw new IllegalArgumentException("latents must be (N, 4, h, w); got " + s);
        }
        float[] f = new float[12];
        for (int c = 0; c < 3; c++) {
            for (int k = 0; k < 4; k++) {
                f[c * 4 + k] = factors[k][c];
            }
        }
        NDArray matrix = latents.getManager().create(f, new Shape(3, 4, 1, 1));
        NDArray b = latents.getManager().create(bias, new Shape(3));
        // a 1×1 convolution: (N, 4, h, w) → (N, 3, h, w)
        NDArray rgb = ai.djl.nn.convolutional.Conv2d.conv2d(latents, matrix, b).singletonOrThrow();
        matrix.close();
        b.close();
        return rgb.clip(-1f, 1f);
    }

    /**
     * Maps latents to RGB and enlarges them (nearest neighbour) to image size.
     *
     * @param latents (N, 4, h, w) scaled latents
     * @param factor the VAE's spatial factor
     * @return (N, 3, h·factor, w·factor) in [−1, 1]
     * @throws IllegalArgumentException if the latents do not have 4 channels
     */
    public NDArray preview(NDArray latents, int factor) {
        NDArray rgb = toRgb(latents);
        if (factor == 1) {
            return rgb;
        }
        Shape s = rgb.getShape();
        NDArray big = rgb.getNDArrayInternal().interpolation(
                new long[] {s.get(2) * factor, s.get(3) * factor}, 0, false);
        rgb.close();
        return big;
    }
}
