package dev.jdiffusion.djl.nn;

/**
 * The published Stable Diffusion 1.5 configurations ({@code unet/config.json} and {@code
 * vae/config.json} of the diffusers release), used for single-file checkpoints, which carry no
 * configuration, and for benchmarks at real size.
 */
public final class Sd15Configs {

    private Sd15Configs() {}

    /** The SD 1.5 UNet configuration. */
    public static final String UNET = """
            {
              "_class_name": "UNet2DConditionModel",
              "_diffusers_version": "0.6.0",
              "act_fn": "silu",
              "attention_head_dim": 8,
              "block_out_channels": [320, 640, 1280, 1280],
              "center_input_sample": false,
              "cross_attention_dim": 768,
              "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                   "CrossAttnDownBlock2D", "DownBlock2D"],
              "downsample_padding": 1,
              "flip_sin_to_cos": true,
              "freq_shift": 0,
              "in_channels": 4,
              "layers_per_block": 2,
              "mid_block_scale_factor": 1,
              "norm_eps": 1e-05,
              "norm_num_groups": 32,
              "out_channels": 4,
              "sample_size": 64,
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                 "CrossAttnUpBlock2D"]
            }
            """;

    /** The SD 1.5 VAE configuration. */
    public static final String VAE = """
            {
              "_class_name": "AutoencoderKL",
              "_diffusers_version": "0.6.0",
              "act_fn": "silu",
              "block_out_channels": [128, 256, 512, 512],
              "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D",
                                   "DownEncoderBlock2D", "DownEncoderBlock2D"],
              "in_channels": 3,
              "latent_channels": 4,
              "layers_per_block": 2,
              "norm_num_groups": 32,
              "out_channels": 3,
              "sample_size": 512,
              "scaling_factor": 0.18215,
              "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                                 "UpDecoderBlock2D"]
            }
            """;
}
