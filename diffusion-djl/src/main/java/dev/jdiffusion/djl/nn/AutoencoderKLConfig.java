package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.ConfigJson.check;
import static dev.jdiffusion.djl.nn.ConfigJson.checkRange;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;

/**
 * The configuration of an {@link AutoencoderKL}, field for field diffusers' {@code
 * vae/config.json}. Immutable and thread-safe; the constructor validates everything.
 *
 * @param sampleSize the training resolution in pixels, informational (may be null)
 * @param inChannels image channels in (3 for RGB)
 * @param outChannels image channels out
 * @param downBlockTypes "DownEncoderBlock2D" per resolution
 * @param upBlockTypes "UpDecoderBlock2D" per resolution
 * @param blockOutChannels channels per resolution, fine to coarse
 * @param layersPerBlock resnets per encoder block (decoder blocks have one more)
 * @param latentChannels channels of the latent space (4 for SD)
 * @param normNumGroups groups of every group norm
 * @param scalingFactor the factor latents are multiplied by before diffusion (SD 1.x 0.18215)
 * @param shiftFactor subtracted from latents before scaling (SD 3 / Flux), or null
 * @param useQuantConv whether quant_conv (1×1, 2·latent → 2·latent) follows the encoder
 * @param usePostQuantConv whether post_quant_conv (1×1) precedes the decoder
 * @param midBlockAddAttention whether the mid blocks have self-attention
 * @param forceUpcast diffusers' {@code force_upcast}: the VAE runs in float32 even when half
 *     precision is asked for (the loader keeps its weights float32)
 */
public record AutoencoderKLConfig(
        Integer sampleSize,
        int inChannels,
        int outChannels,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        int latentChannels,
        int normNumGroups,
        float scalingFactor,
        Float shiftFactor,
        boolean useQuantConv,
        boolean usePostQuantConv,
        boolean midBlockAddAttention,
        boolean forceUpcast) {

    /** diffusers' class name, written as {@code _class_name}. */
    public static final String CLASS_NAME = "AutoencoderKL";

    static final String DOWN = "DownEncoderBlock2D";
    static final String UP = "UpDecoderBlock2D";

    /**
     * Validates and freezes the configuration.
     *
     * @param sampleSize see the record component
     * @param inChannels see the record component
     * @param outChannels see the record component
     * @param downBlockTypes see the record component
     * @param upBlockTypes see the record component
     * @param blockOutChannels see the record component
     * @param layersPerBlock see the record component
     * @param latentChannels see the record component
     * @param normNumGroups see the record component
     * @param scalingFactor see the record component
     * @param shiftFactor see the record component
     * @param useQuantConv see the record component
     * @param usePostQuantConv see the record component
     * @param midBlockAddAttention see the record component
     * @param forceUpcast see the record component
     * @throws IllegalArgumentException naming the offending field
     */
    public AutoencoderKLConfig {
        check(blockOutChannels != null && !blockOutChannels.isEmpty(),
                "block_out_channels must list at least one channel count");
        int n = blockOutChannels.size();
        checkRange("number of blocks (len(block_out_channels))", n, 1, 8);
        blockOutChannels = List.copyOf(blockOutChannels);
        check(downBlockTypes != null && downBlockTypes.size() == n, "down_block_types must have "
                + n + " entries, one per block_out_channels entry");
        check(upBlockTypes != null && upBlockTypes.size() == n, "up_block_types must have "
                + n + " entries, one per block_out_channels entry");
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        for (String t : downBlockTypes) {
            check(DOWN.equals(t), "down block type \"" + t + "\" is not supported; use " + DOWN);
        }
        for (String t : upBlockTypes) {
            check(UP.equals(t), "up block type \"" + t + "\" is not supported; use " + UP);
        }
        checkRange("norm_num_groups", normNumGroups, 1, UNet2DConditionConfig.MAX_CHANNELS);
        for (int ch : blockOutChannels) {
            checkRange("block_out_channels entries", ch, 1, UNet2DConditionConfig.MAX_CHANNELS);
            check(ch % normNumGroups == 0, "every block_out_channels entry must be divisible by"
                    + " norm_num_groups (" + normNumGroups + "); " + ch + " is not");
        }
        checkRange("in_channels", inChannels, 1, 1024);
        checkRange("out_channels", outChannels, 1, 1024);
        checkRange("latent_channels", latentChannels, 1, 1024);
        checkRange("layers_per_block", layersPerBlock, 1, 32);
        check(Float.isFinite(scalingFactor) && scalingFactor > 0,
                "scaling_factor must be positive (got " + scalingFactor + ")");
        check(shiftFactor == null || Float.isFinite(shiftFactor),
                "shift_factor must be finite or null");
    }

    /**
     * The spatial factor between pixels and latents.
     *
     * @return 2^(number of blocks − 1), 8 for SD
     */
    public int downsampleFactor() {
        return 1 << (blockOutChannels.size() - 1);
    }

    /**
     * Reads a diffusers {@code vae/config.json}.
     *
     * @param file the file
     * @return the validated configuration
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if it is not a supported, valid configuration
     */
    public static AutoencoderKLConfig fromJson(Path file) throws IOException {
        return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
    }

    /**
     * Parses the text of a diffusers {@code vae/config.json}; unknown fields are ignored.
     *
     * @param json the JSON text
     * @return the validated configuration
     * @throws IllegalArgumentException if it is not a supported, valid configuration
     */
    public static AutoencoderKLConfig fromJson(String json) {
        return parse("VAE config", json);
    }

    private static AutoencoderKLConfig parse(String what, String json) {
        ConfigJson j = ConfigJson.parse(what, json);
        j.requireDefault("act_fn", "silu", "an activation other than silu");
        j.requireDefault("latents_mean", null, "latents_mean");
        j.requireDefault("latents_std", null, "latents_std");
        List<Integer> channels = j.integers("block_out_channels", List.of(64));
        int n = channels.size();
        try {
            return new AutoencoderKLConfig(
                    j.optInteger("sample_size"),
                    j.integer("in_channels", 3),
                    j.integer("out_channels", 3),
                    j.strings("down_block_types", Collections.nCopies(n, DOWN)),
                    j.strings("up_block_types", Collections.nCopies(n, UP)),
                    channels,
                    j.integer("layers_per_block", 1),
                    j.integer("latent_channels", 4),
                    j.integer("norm_num_groups", 32),
                    j.number("scaling_factor", 0.18215f),
                    j.optNumber("shift_factor"),
                    j.bool("use_quant_conv", true),
                    j.bool("use_post_quant_conv", true),
                    j.bool("mid_block_add_attention", true),
                    j.bool("force_upcast", true));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": " + e.getMessage(), e);
        }
    }

    /**
     * This configuration as a diffusers {@code vae/config.json} (with {@code _class_name}
     * "AutoencoderKL").
     *
     * @return pretty-printed JSON
     */
    public String toJson() {
        ObjectNode o = ConfigJson.MAPPER.createObjectNode();
        o.put("_class_name", CLASS_NAME);
        o.put("act_fn", "silu");
        ConfigJson.putInts(o, "block_out_channels", blockOutChannels);
        ConfigJson.putStrings(o, "down_block_types", downBlockTypes);
        o.put("force_upcast", forceUpcast);
        o.put("in_channels", inChannels);
        o.put("latent_channels", latentChannels);
        o.put("layers_per_block", layersPerBlock);
        o.put("mid_block_add_attention", midBlockAddAttention);
        o.put("norm_num_groups", normNumGroups);
        o.put("out_channels", outChannels);
        if (sampleSize != null) {
            o.put("sample_size", sampleSize);
        } else {
            o.putNull("sample_size");
        }
        o.put("scaling_factor", scalingFactor);
        if (shiftFactor != null) {
            o.put("shift_factor", shiftFactor);
        } else {
            o.putNull("shift_factor");
        }
        ConfigJson.putStrings(o, "up_block_types", upBlockTypes);
        o.put("use_quant_conv", useQuantConv);
        o.put("use_post_quant_conv", usePostQuantConv);
        return ConfigJson.write(o);
    }
}
