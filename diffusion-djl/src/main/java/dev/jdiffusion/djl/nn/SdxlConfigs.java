package dev.jdiffusion.djl.nn;

import dev.jdiffusion.djl.text.ClipTextConfig;
import java.util.OptionalInt;

/**
 * The published configurations of SDXL base 1.0 and SDXL refiner 1.0 ({@code config.json} of
 * {@code stabilityai/stable-diffusion-xl-base-1.0} and {@code -refiner-1.0}), for single-file
 * checkpoints, which carry none, and for benchmarks at real size. As in diffusers, {@code
 * attention_head_dim} holds head <em>counts</em> (heads of 64).
 */
public final class SdxlConfigs {

    private SdxlConfigs() {}

    /** The SDXL base UNet configuration (2.57 B parameters). */
    public static final String UNET = """
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

    /** The SDXL refiner UNet configuration (2.52 B parameters). */
    public static final String REFINER_UNET = """
            {
              "_class_name": "UNet2DConditionModel",
              "act_fn": "silu",
              "addition_embed_type": "text_time",
              "addition_embed_type_num_heads": 64,
              "addition_time_embed_dim": 256,
              "attention_head_dim": [6, 12, 24, 24],
              "block_out_channels": [384, 768, 1536, 1536],
              "center_input_sample": false,
              "class_embed_type": null,
              "conv_in_kernel": 3,
              "conv_out_kernel": 3,
              "cross_attention_dim": 1280,
              "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                   "DownBlock2D"],
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
              "projection_class_embeddings_input_dim": 2560,
              "resnet_time_scale_shift": "default",
              "sample_size": 128,
              "time_cond_proj_dim": null,
              "time_embedding_type": "positional",
              "transformer_layers_per_block": 4,
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                                 "UpBlock2D"],
              "upcast_attention": null,
              "use_linear_projection": true
            }
            """;

    /** The SDXL VAE configuration (SD's structure; scaling factor 0.13025). */
    public static final String VAE = """
            {
              "_class_name": "AutoencoderKL",
              "act_fn": "silu",
              "block_out_channels": [128, 256, 512, 512],
              "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D",
                                   "DownEncoderBlock2D", "DownEncoderBlock2D"],
              "force_upcast": true,
              "in_channels": 3,
              "latent_channels": 4,
              "layers_per_block": 2,
              "norm_num_groups": 32,
              "out_channels": 3,
              "sample_size": 1024,
              "scaling_factor": 0.13025,
              "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D",
                                 "UpDecoderBlock2D"]
            }
            """;

    /**
     * SDXL base's first text encoder, OpenAI CLIP ViT-L/14's text tower (SD 1.x's).
     *
     * @return vocab 49408, width 768, MLP 3072, 12 layers, 12 heads, quick_gelu
     */
    public static ClipTextConfig textEncoder() {
        return ClipTextConfig.sd15();
    }

    /**
     * SDXL's second text encoder (the refiner's only one), OpenCLIP ViT-bigG/14's text tower
     * with its projection; its released config has the legacy {@code eos_token_id} 2.
     *
     * @return vocab 49408, width 1280, MLP 5120, 32 layers, 20 heads, gelu, projection 1280
     */
    public static ClipTextConfig textEncoder2() {
        return new ClipTextConfig(49408, 1280, 5120, 32, 20, 77, ClipTextConfig.GELU, 1e-5f,
                OptionalInt.of(1280));
    }
}
