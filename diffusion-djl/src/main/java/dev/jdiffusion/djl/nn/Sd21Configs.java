package dev.jdiffusion.djl.nn;

import dev.jdiffusion.djl.text.ClipTextConfig;
import java.util.OptionalInt;

/**
 * The published Stable Diffusion 2.1 (768-v) configurations ({@code unet/config.json}, {@code
 * vae/config.json} and {@code text_encoder/config.json} of {@code
 * stabilityai/stable-diffusion-2-1}), for single-file checkpoints, which carry none. As in
 * diffusers, {@code attention_head_dim} holds head <em>counts</em> (5, 10, 20, 20 heads of 64).
 */
public final class Sd21Configs {

    private Sd21Configs() {}

    /** The SD 2.1 UNet configuration (865.9 M parameters). */
    public static final String UNET = """
            {
              "_class_name": "UNet2DConditionModel",
              "act_fn": "silu",
              "attention_head_dim": [5, 10, 20, 20],
              "block_out_channels": [320, 640, 1280, 1280],
              "center_input_sample": false,
              "cross_attention_dim": 1024,
              "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                   "CrossAttnDownBlock2D", "DownBlock2D"],
              "downsample_padding": 1,
              "dual_cross_attention": false,
              "flip_sin_to_cos": true,
              "freq_shift": 0,
              "in_channels": 4,
              "layers_per_block": 2,
              "mid_block_scale_factor": 1,
              "norm_eps": 1e-05,
              "norm_num_groups": 32,
              "num_class_embeds": null,
              "only_cross_attention": false,
              "out_channels": 4,
              "sample_size": 96,
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                 "CrossAttnUpBlock2D"],
              "upcast_attention": true,
              "use_linear_projection": true
            }
            """;

    /** The SD 2.1 VAE configuration (SD 1.x's, at 768 pixels). */
    public static final String VAE = """
            {
              "_class_name": "AutoencoderKL",
              "act_fn": "silu",
              "block_out_channels": [128, 256, 512, 512],
              "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D",
                                   "DownEncoderBlock2D", "DownEncoderBlock2D"],
              "in_channels": 3,
              "latent_channels": 4,
              "layers_per_block": 2,
              "norm_num_groups": 32,
              "out_channels": 3,
              "sample_size": 768,
              "scaling_factor": 0.18215,
              "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                                 "UpDecoderBlock2D"]
            }
            """;

    /**
     * The SD 2.1 text encoder: OpenCLIP ViT-H's text tower without its last layer, as
     * diffusers ships it.
     *
     * @return vocab 49408, width 1024, MLP 4096, 23 layers, 16 heads, 77 positions, gelu
     */
    public static ClipTextConfig textEncoder() {
        return new ClipTextConfig(49408, 1024, 4096, 23, 16, 77, ClipTextConfig.GELU, 1e-5f,
                OptionalInt.of(512));
    }
}
