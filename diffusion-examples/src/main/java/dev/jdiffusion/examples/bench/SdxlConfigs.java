package dev.jdiffusion.examples.bench;

/**
 * The published configuration of SDXL base 1.0's UNet ({@code unet/config.json} of {@code
 * stabilityai/stable-diffusion-xl-base-1.0}), for benchmarks at real size with random weights.
 * As in diffusers, {@code attention_head_dim} holds SDXL's head <em>counts</em> (5, 10, 20 heads
 * of 64).
 */
final class SdxlConfigs {

    private SdxlConfigs() {}

    /** The SDXL base UNet configuration (2.57 B parameters). */
    static final String UNET = """
            {
              "_class_name": "UNet2DConditionModel",
              "act_fn": "silu",
              "addition_embed_type": "text_time",
              "addition_embed_type_num_heads": 64,
              "addition_time_embed_dim": 256,
              "attention_head_dim": [5, 10, 20],
              "block_out_channels": [320, 640, 1280],
              "center_input_sample": false,
              "class_embed_type": null,
              "conv_in_kernel": 3,
              "conv_out_kernel": 3,
              "cross_attention_dim": 2048,
              "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
              "downsample_padding": 1,
              "dual_cross_attention": false,
              "flip_sin_to_cos": true,
              "freq_shift": 0,
              "in_channels": 4,
              "layers_per_block": 2,
              "mid_block_scale_factor": 1,
              "mid_block_type": "UNetMidBlock2DCrossAttn",
              "norm_eps": 1e-05,
              "norm_num_groups": 32,
              "num_attention_heads": null,
              "num_class_embeds": null,
              "only_cross_attention": false,
              "out_channels": 4,
              "projection_class_embeddings_input_dim": 2816,
              "resnet_time_scale_shift": "default",
              "sample_size": 128,
              "time_cond_proj_dim": null,
              "time_embedding_type": "positional",
              "transformer_layers_per_block": [1, 2, 10],
              "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
              "upcast_attention": null,
              "use_linear_projection": true
            }
            """;
}
