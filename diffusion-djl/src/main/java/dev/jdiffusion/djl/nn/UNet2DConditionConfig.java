package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.ConfigJson.check;
import static dev.jdiffusion.djl.nn.ConfigJson.checkRange;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * The configuration of a {@link UNet2DConditionModel}, field for field diffusers'
 * {@code unet/config.json} (snake_case there, camelCase here). Per-block settings that diffusers
 * accepts as "an int or a list" are always lists here, one entry per down block.
 *
 * <p>{@code attentionHeadDim} follows diffusers' historical naming: despite its name it is the
 * <em>number of heads</em> of each block's transformer (SD 1.x: 8 heads of 40, 80, 160, 160;
 * SD 2.x: [5, 10, 20, 20] heads of 64); the head size is channels / heads.
 *
 * <p>Supported: down blocks {@code CrossAttnDownBlock2D}, {@code DownBlock2D}; up blocks {@code
 * CrossAttnUpBlock2D}, {@code UpBlock2D}; mid block {@code UNetMidBlock2DCrossAttn}, {@code
 * UNetMidBlock2D} or none; class conditioning through {@code num_class_embeds} (an embedding
 * table added to the time embedding); SDXL's {@code addition_embed_type: "text_time"} ({@link
 * TextTime}); {@code transformer_layers_per_block} as an int or one entry per down block (the
 * mid block takes the last, up blocks the mirrored ones, as diffusers does). The constructor validates everything before a model is
 * built. Immutable and thread-safe.
 *
 * @param sampleSize the training resolution in latent pixels, informational (may be null)
 * @param inChannels input channels (4 for SD, 9 for inpainting UNets)
 * @param outChannels output channels
 * @param centerInputSample whether the input is mapped by 2x − 1 first
 * @param flipSinToCos whether the sinusoidal time embedding is [cos, sin] (true) or [sin, cos]
 * @param freqShift the frequency shift of the time embedding (diffusers' freq_shift)
 * @param downBlockTypes one of "CrossAttnDownBlock2D", "DownBlock2D" per resolution
 * @param midBlockType "UNetMidBlock2DCrossAttn", "UNetMidBlock2D" or null for none
 * @param upBlockTypes one of "CrossAttnUpBlock2D", "UpBlock2D" per resolution (coarse first)
 * @param blockOutChannels channels per resolution, fine to coarse
 * @param layersPerBlock resnets per down block (up blocks have one more)
 * @param transformerLayersPerBlock transformer blocks per attention layer, per down block
 * @param downsamplePadding padding of the strided downsampling convolution (0 or 1)
 * @param midBlockScaleFactor output scale of the mid block's resnets
 * @param normNumGroups groups of every group norm
 * @param normEps epsilon of the resnets' group norms
 * @param crossAttentionDim width of encoder_hidden_states, per down block
 * @param attentionHeadDim number of attention heads, per down block (see above)
 * @param useLinearProjection transformer proj_in/proj_out as linear layers (SD 2.x) instead of
 *     1×1 convolutions (SD 1.x)
 * @param numClassEmbeds the number of classes for class conditioning, or null
 * @param timeEmbeddingDim width of the time embedding, or null for 4 × blockOutChannels[0]
 * @param convInKernel kernel size of conv_in
 * @param convOutKernel kernel size of conv_out
 * @param textTime SDXL's added conditioning ({@code addition_embed_type: "text_time"}), or null
 *     for none
 * @param timeCondProjDim width of the timestep condition (LCM-distilled UNets: the guidance-scale
 *     embedding) projected by the time embedding's {@code cond_proj} and added to the sinusoidal
 *     embedding, or null for none
 */
public record UNet2DConditionConfig(
        Integer sampleSize,
        int inChannels,
        int outChannels,
        boolean centerInputSample,
        boolean flipSinToCos,
        int freqShift,
        List<String> downBlockTypes,
        String midBlockType,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        List<Integer> layersPerBlock,
        List<Integer> transformerLayersPerBlock,
        int downsamplePadding,
        float midBlockScaleFactor,
        int normNumGroups,
        float normEps,
        List<Integer> crossAttentionDim,
        List<Integer> attentionHeadDim,
        boolean useLinearProjection,
        Integer numClassEmbeds,
        Integer timeEmbeddingDim,
        int convInKernel,
        int convOutKernel,
        TextTime textTime,
        Integer timeCondProjDim) {

    /** diffusers' class name, written as {@code _class_name}. */
    public static final String CLASS_NAME = "UNet2DConditionModel";

    /** The largest channel count accepted anywhere (SDXL uses 1280, SD 1.x 1280). */
    public static final int MAX_CHANNELS = 8192;

    static final String CROSS_DOWN = "CrossAttnDownBlock2D";
    static final String DOWN = "DownBlock2D";
    static final String CROSS_UP = "CrossAttnUpBlock2D";
    static final String UP = "UpBlock2D";
    static final String CROSS_MID = "UNetMidBlock2DCrossAttn";
    static final String MID = "UNetMidBlock2D";

    /**
     * Validates and freezes the configuration.
     *
     * @param sampleSize see the record component
     * @param inChannels see the record component
     * @param outChannels see the record component
     * @param centerInputSample see the record component
     * @param flipSinToCos see the record component
     * @param freqShift see the record component
     * @param downBlockTypes see the record component
     * @param midBlockType see the record component
     * @param upBlockTypes see the record component
     * @param blockOutChannels see the record component
     * @param layersPerBlock see the record component
     * @param transformerLayersPerBlock see the record component
     * @param downsamplePadding see the record component
     * @param midBlockScaleFactor see the record component
     * @param normNumGroups see the record component
     * @param normEps see the record component
     * @param crossAttentionDim see the record component
     * @param attentionHeadDim see the record component
     * @param useLinearProjection see the record component
     * @param numClassEmbeds see the record component
     * @param timeEmbeddingDim see the record component
     * @param convInKernel see the record component
     * @param convOutKernel see the record component
     * @param textTime see the record component
     * @param timeCondProjDim see the record component
     * @throws IllegalArgumentException naming the offending field when a value is missing,
     *     unsupported, inconsistent or implausibly large
     */
    public UNet2DConditionConfig {
        check(blockOutChannels != null && !blockOutChannels.isEmpty(),
                "block_out_channels must list at least one channel count");
        int n = blockOutChannels.size();
        checkRange("number of blocks (len(block_out_channels))", n, 1, 8);
        for (int ch : blockOutChannels) {
            checkRange("block_out_channels entries", ch, 1, MAX_CHANNELS);
        }
        downBlockTypes = List.copyOf(nonNull(downBlockTypes, "down_block_types"));
        upBlockTypes = List.copyOf(nonNull(upBlockTypes, "up_block_types"));
        blockOutChannels = List.copyOf(blockOutChannels);
        layersPerBlock = List.copyOf(nonNull(layersPerBlock, "layers_per_block"));
        transformerLayersPerBlock = List.copyOf(
                nonNull(transformerLayersPerBlock, "transformer_layers_per_block"));
        crossAttentionDim = List.copyOf(nonNull(crossAttentionDim, "cross_attention_dim"));
        attentionHeadDim = List.copyOf(nonNull(attentionHeadDim, "attention_head_dim"));
        sameLength("down_block_types", downBlockTypes.size(), n);
        sameLength("up_block_types", upBlockTypes.size(), n);
        sameLength("layers_per_block", layersPerBlock.size(), n);
        sameLength("transformer_layers_per_block", transformerLayersPerBlock.size(), n);
        sameLength("cross_attention_dim", crossAttentionDim.size(), n);
        sameLength("attention_head_dim", attentionHeadDim.size(), n);
        for (String t : downBlockTypes) {
            check(Set.of(CROSS_DOWN, DOWN).contains(t), "down block type \"" + t
                    + "\" is not supported; use " + CROSS_DOWN + " or " + DOWN);
        }
        for (String t : upBlockTypes) {
            check(Set.of(CROSS_UP, UP).contains(t), "up block type \"" + t
                    + "\" is not supported; use " + CROSS_UP + " or " + UP);
        }
        check(midBlockType == null || CROSS_MID.equals(midBlockType) || MID.equals(midBlockType),
                "mid block type \"" + midBlockType + "\" is not supported; use " + CROSS_MID
                        + ", " + MID + " or null");
        checkRange("in_channels", inChannels, 1, 1024);
        checkRange("out_channels", outChannels, 1, 1024);
        checkRange("norm_num_groups", normNumGroups, 1, MAX_CHANNELS);
        for (int ch : blockOutChannels) {
            check(ch % normNumGroups == 0, "every block_out_channels entry must be divisible by"
                    + " norm_num_groups (" + normNumGroups + "); " + ch + " is not");
        }
        for (int i = 0; i < n; i++) {
            checkRange("layers_per_block entries", layersPerBlock.get(i), 1, 32);
            checkRange("transformer_layers_per_block entries",
                    transformerLayersPerBlock.get(i), 1, 32);
        }
        check(downsamplePadding == 0 || downsamplePadding == 1,
                "downsample_padding must be 0 or 1 (got " + downsamplePadding + ")");
        check(Float.isFinite(normEps) && normEps > 0 && normEps < 1,
                "norm_eps must be in (0, 1) (got " + normEps + ")");
        check(Float.isFinite(midBlockScaleFactor) && midBlockScaleFactor > 0,
                "mid_block_scale_factor must be positive (got " + midBlockScaleFactor + ")");
        check(convInKernel % 2 == 1 && convInKernel >= 1 && convInKernel <= 7,
                "conv_in_kernel must be odd in [1, 7] (got " + convInKernel + ")");
        check(convOutKernel % 2 == 1 && convOutKernel >= 1 && convOutKernel <= 7,
                "conv_out_kernel must be odd in [1, 7] (got " + convOutKernel + ")");
        check(blockOutChannels.get(0) >= 2 && blockOutChannels.get(0) / 2 != freqShift,
                "the time embedding needs block_out_channels[0] >= 2 and freq_shift != "
                        + "block_out_channels[0] / 2");
        checkRange("|freq_shift|", Math.abs((long) freqShift), 0, 1024);
        if (numClassEmbeds != null) {
            checkRange("num_class_embeds", numClassEmbeds, 1, 1_000_000);
        }
        if (timeEmbeddingDim != null) {
            checkRange("time_embedding_dim", timeEmbeddingDim, 1, 4 * MAX_CHANNELS);
        }
        if (textTime != null) {
            checkRange("addition_time_embed_dim", textTime.timeEmbedDim(), 2, MAX_CHANNELS);
            checkRange("projection_class_embeddings_input_dim", textTime.inputDim(),
                    textTime.timeEmbedDim() + 1, 16 * MAX_CHANNELS);
        }
        if (timeCondProjDim != null) {
            checkRange("time_cond_proj_dim", timeCondProjDim, 1, 4 * MAX_CHANNELS);
        }
        // Attention sizes only matter where a block has attention; block i's channels pair with
        // heads[i] in the down path, the mirrored up block and (for the last) the mid block.
        for (int i = 0; i < n; i++) {
            boolean attends = CROSS_DOWN.equals(downBlockTypes.get(i))
                    || CROSS_UP.equals(upBlockTypes.get(n - 1 - i))
                    || (i == n - 1 && CROSS_MID.equals(midBlockType));
            if (attends) {
                int ch = blockOutChannels.get(i);
                int heads = attentionHeadDim.get(i);
                checkRange("attention_head_dim (number of heads) of block " + i, heads, 1, ch);
                check(ch % heads == 0, "block " + i + " has " + ch + " channels, not divisible"
                        + " into attention_head_dim = " + heads + " heads");
                checkRange("cross_attention_dim of block " + i, crossAttentionDim.get(i), 1,
                        MAX_CHANNELS);
            }
        }
    }

    private static <T> T nonNull(T value, String field) {
        check(value != null, field + " is required");
        return value;
    }

    private static void sameLength(String field, int length, int blocks) {
        check(length == blocks, field + " has " + length + " entries but block_out_channels has "
                + blocks + "; give one per block");
    }

    /**
     * Whether any block attends to encoder_hidden_states (then the forward input must have them).
     *
     * @return true for text-conditioned models
     */
    public boolean usesCrossAttention() {
        return downBlockTypes.contains(CROSS_DOWN) || upBlockTypes.contains(CROSS_UP)
                || CROSS_MID.equals(midBlockType);
    }

    /**
     * The width of the time embedding every resnet receives.
     *
     * @return timeEmbeddingDim, or 4 × blockOutChannels[0]
     */
    public int timeEmbedDim() {
        return timeEmbeddingDim != null ? timeEmbeddingDim : 4 * blockOutChannels.get(0);
    }

    /**
     * The spatial factor by which inputs are downsampled at the coarsest level.
     *
     * @return 2^(number of blocks − 1)
     */
    public int downsampleFactor() {
        return 1 << (blockOutChannels.size() - 1);
    }

    /**
     * Reads a diffusers {@code unet/config.json}.
     *
     * @param file the file
     * @return the validated configuration
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if it is not a supported, valid configuration
     */
    public static UNet2DConditionConfig fromJson(Path file) throws IOException {
        return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
    }

    /**
     * Parses the text of a diffusers {@code unet/config.json}. Unknown fields are ignored;
     * known fields of features this implementation lacks must hold their defaults.
     *
     * @param json the JSON text
     * @return the validated configuration
     * @throws IllegalArgumentException if it is not a supported, valid configuration
     */
    public static UNet2DConditionConfig fromJson(String json) {
        return parse("UNet config", json);
    }

    private static UNet2DConditionConfig parse(String what, String json) {
        ConfigJson j = ConfigJson.parse(what, json);
        j.requireDefault("num_attention_heads", null,
                "num_attention_heads (diffusers itself rejects it; use attention_head_dim)");
        j.requireDefault("only_cross_attention", false, "only_cross_attention");
        j.requireDefault("dual_cross_attention", false, "dual_cross_attention");
        j.requireDefault("act_fn", "silu", "an activation other than silu");
        j.requireDefault("encoder_hid_dim", null, "encoder_hid_dim");
        j.requireDefault("encoder_hid_dim_type", null, "encoder_hid_dim_type");
        j.requireDefault("time_embedding_type", "positional", "time_embedding_type");
        j.requireDefault("time_embedding_act_fn", null, "time_embedding_act_fn");
        j.requireDefault("timestep_post_act", null, "timestep_post_act");
        j.requireDefault("resnet_time_scale_shift", "default", "resnet_time_scale_shift");
        j.requireDefault("resnet_skip_time_act", false, "resnet_skip_time_act");
        j.requireDefault("resnet_out_scale_factor", 1.0, "resnet_out_scale_factor");
        j.requireDefault("class_embeddings_concat", false, "class_embeddings_concat");
        j.requireDefault("attention_type", "default", "attention_type");
        j.requireDefault("cross_attention_norm", null, "cross_attention_norm");
        j.requireDefault("reverse_transformer_layers_per_block", null,
                "reverse_transformer_layers_per_block");
        String addition = j.string("addition_embed_type", null);
        check(addition == null || TextTime.TYPE.equals(addition), what + ": addition_embed_type \""
                + addition + "\" is not supported; use null or \"" + TextTime.TYPE + "\" (SDXL)");
        TextTime textTime = null;
        if (addition != null) {
            Integer timeDim = j.optInteger("addition_time_embed_dim");
            Integer inputDim = j.optInteger("projection_class_embeddings_input_dim");
            check(timeDim != null && inputDim != null, what + ": addition_embed_type \""
                    + TextTime.TYPE + "\" needs addition_time_embed_dim and"
                    + " projection_class_embeddings_input_dim");
            textTime = new TextTime(timeDim, inputDim);
        }
        String classEmbedType = j.string("class_embed_type", null);
        check(classEmbedType == null || "embedding".equals(classEmbedType),
                what + ": class_embed_type \"" + classEmbedType + "\" is not supported; use null"
                        + " with num_class_embeds for a class embedding table");
        check(j.optInteger("norm_num_groups") != null || !j.present("norm_num_groups"),
                what + ": norm_num_groups null (no output norm) is not supported");
        List<Integer> channels = j.integers("block_out_channels", List.of(320, 640, 1280, 1280));
        int n = channels.size();
        Integer classes = j.optInteger("num_class_embeds");
        check(classEmbedType == null || classes != null,
                what + ": class_embed_type \"embedding\" needs num_class_embeds");
        try {
            return new UNet2DConditionConfig(
                    j.optInteger("sample_size"),
                    j.integer("in_channels", 4),
                    j.integer("out_channels", 4),
                    j.bool("center_input_sample", false),
                    j.bool("flip_sin_to_cos", true),
                    j.integer("freq_shift", 0),
                    j.strings("down_block_types",
                            List.of(CROSS_DOWN, CROSS_DOWN, CROSS_DOWN, DOWN)),
                    j.string("mid_block_type", j.present("mid_block_type") ? null : CROSS_MID),
                    j.strings("up_block_types", List.of(UP, CROSS_UP, CROSS_UP, CROSS_UP)),
                    channels,
                    j.intOrList("layers_per_block", n, 2),
                    j.intOrList("transformer_layers_per_block", n, 1),
                    j.integer("downsample_padding", 1),
                    j.number("mid_block_scale_factor", 1f),
                    j.integer("norm_num_groups", 32),
                    j.number("norm_eps", 1e-5f),
                    j.intOrList("cross_attention_dim", n, 1280),
                    j.intOrList("attention_head_dim", n, 8),
                    j.bool("use_linear_projection", false),
                    classes,
                    j.optInteger("time_embedding_dim"),
                    j.integer("conv_in_kernel", 3),
                    j.integer("conv_out_kernel", 3),
                    textTime,
                    j.optInteger("time_cond_proj_dim"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": " + e.getMessage(), e);
        }
    }

    /**
     * This configuration as a diffusers {@code unet/config.json} that builds the same network
     * in diffusers (with {@code _class_name} "UNet2DConditionModel").
     *
     * @return pretty-printed JSON
     */
    public String toJson() {
        ObjectNode o = ConfigJson.MAPPER.createObjectNode();
        o.put("_class_name", CLASS_NAME);
        if (sampleSize != null) {
            o.put("sample_size", sampleSize);
        } else {
            o.putNull("sample_size");
        }
        o.put("in_channels", inChannels);
        o.put("out_channels", outChannels);
        o.put("center_input_sample", centerInputSample);
        o.put("flip_sin_to_cos", flipSinToCos);
        o.put("freq_shift", freqShift);
        ConfigJson.putStrings(o, "down_block_types", downBlockTypes);
        if (midBlockType != null) {
            o.put("mid_block_type", midBlockType);
        } else {
            o.putNull("mid_block_type");
        }
        ConfigJson.putStrings(o, "up_block_types", upBlockTypes);
        o.put("only_cross_attention", false);
        ConfigJson.putInts(o, "block_out_channels", blockOutChannels);
        ConfigJson.putIntOrList(o, "layers_per_block", layersPerBlock);
        o.put("downsample_padding", downsamplePadding);
        o.put("mid_block_scale_factor", midBlockScaleFactor);
        o.put("dropout", 0.0);
        o.put("act_fn", "silu");
        o.put("norm_num_groups", normNumGroups);
        o.put("norm_eps", normEps);
        ConfigJson.putIntOrList(o, "cross_attention_dim", crossAttentionDim);
        ConfigJson.putIntOrList(o, "transformer_layers_per_block", transformerLayersPerBlock);
        ConfigJson.putIntOrList(o, "attention_head_dim", attentionHeadDim);
        o.putNull("num_attention_heads");
        o.put("dual_cross_attention", false);
        o.put("use_linear_projection", useLinearProjection);
        o.putNull("class_embed_type");
        if (numClassEmbeds != null) {
            o.put("num_class_embeds", numClassEmbeds);
        } else {
            o.putNull("num_class_embeds");
        }
        o.put("upcast_attention", false);
        o.put("resnet_time_scale_shift", "default");
        o.put("time_embedding_type", "positional");
        if (timeEmbeddingDim != null) {
            o.put("time_embedding_dim", timeEmbeddingDim);
        } else {
            o.putNull("time_embedding_dim");
        }
        o.put("conv_in_kernel", convInKernel);
        o.put("conv_out_kernel", convOutKernel);
        if (textTime != null) {
            o.put("addition_embed_type", TextTime.TYPE);
            o.put("addition_time_embed_dim", textTime.timeEmbedDim());
            o.put("projection_class_embeddings_input_dim", textTime.inputDim());
        } else {
            o.putNull("addition_embed_type");
        }
        if (timeCondProjDim != null) {
            o.put("time_cond_proj_dim", timeCondProjDim);
        } else {
            o.putNull("time_cond_proj_dim");
        }
        return ConfigJson.write(o);
    }

    /**
     * SDXL's added conditioning, diffusers' {@code addition_embed_type: "text_time"}: each of
     * the K micro-conditioning numbers ({@code time_ids}: original size, crop top-left, target
     * size; K = 6 for SDXL base) gets a sinusoidal embedding of {@code timeEmbedDim} channels
     * (with the UNet's flip_sin_to_cos and freq_shift); they are flattened, appended to the
     * pooled text embedding ({@code text_embeds}) and projected by the MLP {@code
     * add_embedding} (linear_1, SiLU, linear_2) from {@code inputDim} to the time-embedding
     * width; the result is added to the time embedding. Immutable.
     *
     * @param timeEmbedDim {@code addition_time_embed_dim} (SDXL 256)
     * @param inputDim {@code projection_class_embeddings_input_dim} = pooled width + K ×
     *     timeEmbedDim (SDXL base 1280 + 6 × 256 = 2816)
     */
    public record TextTime(int timeEmbedDim, int inputDim) {

        /** The value of {@code addition_embed_type} this stands for. */
        public static final String TYPE = "text_time";
    }
}
