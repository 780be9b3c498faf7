package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.ConfigJson.check;
import static dev.jdiffusion.djl.nn.ConfigJson.checkRange;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * The configuration of an {@link AutoencoderTiny} (TAESD), field for field diffusers' {@code
 * AutoencoderTiny} {@code config.json} (the layout of the {@code madebyollin/taesd} and {@code
 * madebyollin/taesdxl} folders). Immutable and thread-safe; the constructor validates
 * everything.
 *
 * @param inChannels image channels in (3)
 * @param outChannels image channels out (3)
 * @param encoderBlockOutChannels channels per encoder stage; TAESD's layers keep one width, so
 *     all entries must be equal (64 in TAESD)
 * @param decoderBlockOutChannels channels per decoder stage, all equal as for the encoder
 * @param numEncoderBlocks residual blocks per encoder stage ((1, 3, 3, 3) in TAESD)
 * @param numDecoderBlocks residual blocks per decoder stage ((3, 3, 3, 1) in TAESD)
 * @param actFn the activation: "relu" (TAESD) or "silu"/"swish"
 * @param latentChannels channels of the latent space (4 for SD 1.x/2.x/XL)
 * @param upsamplingScalingFactor the decoder's nearest-neighbour upsampling factor per stage
 * @param latentMagnitude diffusers' {@code latent_magnitude}, used only to quantise latents to
 *     bytes; kept for round trips
 * @param latentShift diffusers' {@code latent_shift}, as {@code latentMagnitude}
 * @param scalingFactor latents for diffusion are the encoder's output times this (1.0 for
 *     TAESD, whose latents already are in the diffusion model's scaled space)
 */
public record AutoencoderTinyConfig(
        int inChannels,
        int outChannels,
        List<Integer> encoderBlockOutChannels,
        List<Integer> decoderBlockOutChannels,
        List<Integer> numEncoderBlocks,
        List<Integer> numDecoderBlocks,
        String actFn,
        int latentChannels,
        int upsamplingScalingFactor,
        float latentMagnitude,
        float latentShift,
        float scalingFactor) {

    /** diffusers' class name, written as {@code _class_name}. */
    public static final String CLASS_NAME = "AutoencoderTiny";

    private static final Set<String> ACTIVATIONS = Set.of("relu", "silu", "swish");

    /**
     * Validates and freezes the configuration.
     *
     * @param inChannels see the record component
     * @param outChannels see the record component
     * @param encoderBlockOutChannels see the record component
     * @param decoderBlockOutChannels see the record component
     * @param numEncoderBlocks see the record component
     * @param numDecoderBlocks see the record component
     * @param actFn see the record component
     * @param latentChannels see the record component
     * @param upsamplingScalingFactor see the record component
     * @param latentMagnitude see the record component
     * @param latentShift see the record component
     * @param scalingFactor see the record component
     * @throws IllegalArgumentException naming the offending field
     */
    public AutoencoderTinyConfig {
        checkRange("in_channels", inChannels, 1, 1024);
        checkRange("out_channels", outChannels, 1, 1024);
        checkRange("latent_channels", latentChannels, 1, 1024);
        checkRange("upsampling_scaling_factor", upsamplingScalingFactor, 1, 8);
        encoderBlockOutChannels = stages("encoder_block_out_channels", encoderBlockOutChannels);
        decoderBlockOutChannels = stages("decoder_block_out_channels", decoderBlockOutChannels);
        numEncoderBlocks = counts("num_encoder_blocks", numEncoderBlocks,
                encoderBlockOutChannels.size(), "encoder_block_out_channels");
        numDecoderBlocks = counts("num_decoder_blocks", numDecoderBlocks,
                decoderBlockOutChannels.size(), "decoder_block_out_channels");
        check(actFn != null && ACTIVATIONS.contains(actFn.toLowerCase(Locale.ROOT)),
                "act_fn \"" + actFn + "\" is not supported; use relu or silu");
        actFn = actFn.toLowerCase(Locale.ROOT);
        check(Float.isFinite(scalingFactor) && scalingFactor > 0,
                "scaling_factor must be positive (got " + scalingFactor + ")");
        check(Float.isFinite(latentMagnitude) && Float.isFinite(latentShift),
                "latent_magnitude and latent_shift must be finite");
        int down = 1 << (encoderBlockOutChannels.size() - 1);
        int up = (int) Math.pow(upsamplingScalingFactor, decoderBlockOutChannels.size() - 1);
        check(down == up, "the encoder downsamples by " + down
                + " but the decoder upsamples by " + up
                + "; check the number of stages and upsampling_scaling_factor");
    }

    private static List<Integer> stages(String field, List<Integer> channels) {
        check(channels != null && !channels.isEmpty(), field + " must list at least one stage");
        checkRange("number of stages (len(" + field + "))", channels.size(), 1, 8);
        for (int c : channels) {
            checkRange(field + " entries", c, 1, UNet2DConditionConfig.MAX_CHANNELS);
            check(c == channels.get(0), field + " entries must all be equal (TAESD's layers keep"
                    + " one width; diffusers' AutoencoderTiny fails otherwise); got " + channels);
        }
        return List.copyOf(channels);
    }

    private static List<Integer> counts(String field, List<Integer> counts, int stages,
            String channelsField) {
        check(counts != null && counts.size() == stages, field + " must have " + stages
                + " entries, one per " + channelsField + " entry (got " + counts + ")");
        for (int n : counts) {
            checkRange(field + " entries", n, 0, 64);
        }
        return List.copyOf(counts);
    }

    /**
     * The encoder's spatial factor.
     *
     * @return 2^(stages − 1), 8 for TAESD
     */
    public int encoderFactor() {
        return 1 << (encoderBlockOutChannels.size() - 1);
    }

    /**
     * The spatial factor between pixels and latents.
     *
     * @return 8 for TAESD
     */
    public int downsampleFactor() {
        return encoderFactor();
    }

    /**
     * Reads a diffusers {@code AutoencoderTiny} {@code config.json}.
     *
     * @param file the file
     * @return the validated configuration
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if it is not a supported, valid configuration
     */
    public static AutoencoderTinyConfig fromJson(Path file) throws IOException {
        return parse(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
    }

    /**
     * Parses the text of a diffusers {@code AutoencoderTiny} {@code config.json}; unknown fields
     * are ignored.
     *
     * @param json the JSON text
     * @return the validated configuration
     * @throws IllegalArgumentException if it is not a supported, valid configuration (for
     *     example an {@code AutoencoderKL} configuration)
     */
    public static AutoencoderTinyConfig fromJson(String json) {
        return parse("TAESD config", json);
    }

    private static AutoencoderTinyConfig parse(String what, String json) {
        ConfigJson j = ConfigJson.parse(what, json);
        String cls = j.string("_class_name", CLASS_NAME);
        if (!CLASS_NAME.equals(cls)) {
            throw new IllegalArgumentException(what + ": _class_name is \"" + cls + "\", not "
                    + CLASS_NAME + "; give a tiny autoencoder (TAESD) folder such as"
                    + " madebyollin/taesd or madebyollin/taesdxl");
        }
        j.requireDefault("upsample_fn", "nearest", "an upsampling other than nearest");
        j.requireDefault("shift_factor", null, "shift_factor");
        List<Integer> four = List.of(64, 64, 64, 64);
        try {
            return new AutoencoderTinyConfig(
                    j.integer("in_channels", 3),
                    j.integer("out_channels", 3),
                    j.integers("encoder_block_out_channels", four),
                    j.integers("decoder_block_out_channels", four),
                    j.integers("num_encoder_blocks", List.of(1, 3, 3, 3)),
                    j.integers("num_decoder_blocks", List.of(3, 3, 3, 1)),
                    j.string("act_fn", "relu"),
                    j.integer("latent_channels", 4),
                    j.integer("upsampling_scaling_factor", 2),
                    j.number("latent_magnitude", 3f),
                    j.number("latent_shift", 0.5f),
                    j.number("scaling_factor", 1f));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": " + e.getMessage(), e);
        }
    }
}
