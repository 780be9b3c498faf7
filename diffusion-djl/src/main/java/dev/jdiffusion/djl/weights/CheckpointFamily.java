package dev.jdiffusion.djl.weights;

import java.util.Collection;

/**
 * The model family of a single-file checkpoint, recognised by its text encoders' tensor names
 * (the UNet and VAE use the same LDM names in all of them).
 *
 * <ul>
 *   <li>{@link #SD1}: OpenAI CLIP under {@code cond_stage_model.transformer.*};
 *   <li>{@link #SD2}: OpenCLIP ViT-H under {@code cond_stage_model.model.*};
 *   <li>{@link #SDXL_BASE}: CLIP ViT-L under {@code conditioner.embedders.0.transformer.*},
 *       OpenCLIP ViT-bigG under {@code conditioner.embedders.1.model.*} and the UNet's {@code
 *       label_emb};
 *   <li>{@link #SDXL_REFINER}: only OpenCLIP ViT-bigG, under {@code
 *       conditioner.embedders.0.model.*}, and {@code label_emb}.
 * </ul>
 */
public enum CheckpointFamily {

    /** Stable Diffusion 1.x. */
    SD1("Stable Diffusion 1.x", LdmKeys.TEXT_ENCODER_PREFIX, null),
    /** Stable Diffusion 2.x (OpenCLIP ViT-H text encoder). */
    SD2("Stable Diffusion 2.x", "cond_stage_model.model.", null),
    /** SDXL base: two text encoders and size/crop conditioning. */
    SDXL_BASE("SDXL base", "conditioner.embedders.0.transformer.",
            "conditioner.embedders.1.model."),
    /** SDXL refiner: the second (bigG) text encoder only, and aesthetic-score conditioning. */
    SDXL_REFINER("SDXL refiner", null, "conditioner.embedders.0.model.");

    /** The UNet tensor that marks SDXL's additional (text_time) embedding. */
    static final String LABEL_EMB = LdmKeys.UNET_PREFIX + "label_emb.";

    private final String displayName;
    private final String textEncoderPrefix;
    private final String textEncoder2Prefix;

    CheckpointFamily(String displayName, String textEncoderPrefix, String textEncoder2Prefix) {
        this.displayName = displayName;
        this.textEncoderPrefix = textEncoderPrefix;
        this.textEncoder2Prefix = textEncoder2Prefix;
    }

    /**
     * A name for messages.
     *
     * @return e.g. {@code "SDXL base"}
     */
    public String displayName() {
        return displayName;
    }

    /**
     * The prefix of the first (or only CLIP-style) text encoder in the file.
     *
     * @return the prefix, ending in a dot; null for the refiner, which has none
     */
    public String textEncoderPrefix() {
        return textEncoderPrefix;
    }

    /**
     * The prefix of the OpenCLIP ViT-bigG text encoder of SDXL (diffusers' {@code
     * text_encoder_2}).
     *
     * @return the prefix, ending in a dot; null for SD 1.x and 2.x
     */
    public String textEncoder2Prefix() {
        return textEncoder2Prefix;
    }

    /**
     * Whether the family is SDXL (base or refiner).
     *
     * @return true for {@link #SDXL_BASE} and {@link #SDXL_REFINER}
     */
    public boolean isSdxl() {
        return this == SDXL_BASE || this == SDXL_REFINER;
    }

    /**
     * Recognises the family from a file's tensor names.
     *
     * @param names all tensor names of the file
     * @return the family
     * @throws IllegalArgumentException naming what was found, if the names fit no family
     */
    public static CheckpointFamily detect(Collection<String> names) {
        boolean sd1 = false;
        boolean sd2 = false;
        boolean clipL = false;
        boolean embedder0OpenClip = false;
        boolean embedder1 = false;
        boolean labelEmb = false;
        for (String n : names) {
            sd1 |= n.startsWith(SD1.textEncoderPrefix);
            sd2 |= n.startsWith(SD2.textEncoderPrefix);
            clipL |= n.startsWith(SDXL_BASE.textEncoderPrefix);
            embedder0OpenClip |= n.startsWith(SDXL_REFINER.textEncoder2Prefix);
            embedder1 |= n.startsWith("conditioner.embedders.1.");
            labelEmb |= n.startsWith(LABEL_EMB);
        }
        if (clipL && embedder1 && labelEmb && !embedder0OpenClip) {
            return SDXL_BASE;
        }
        if (embedder0OpenClip && !clipL && !embedder1 && labelEmb) {
            return SDXL_REFINER;
        }
        if (sd1 && !sd2 && !clipL && !embedder0OpenClip && !embedder1) {
            return SD1;
        }
        if (sd2 && !sd1 && !clipL && !embedder0OpenClip && !embedder1) {
            return SD2;
        }
        StringBuilder found = new StringBuilder();
        append(found, sd1, SD1.textEncoderPrefix + "*");
        append(found, sd2, SD2.textEncoderPrefix + "*");
        append(found, clipL, SDXL_BASE.textEncoderPrefix + "*");
        append(found, embedder0OpenClip, SDXL_REFINER.textEncoder2Prefix + "*");
        append(found, embedder1, "conditioner.embedders.1.*");
        append(found, labelEmb, LABEL_EMB + "*");
        throw new IllegalArgumentException((found.length() == 0 ? "no text encoder tensors"
                : "text encoder tensors of no known family (found " + found + ")") + "; expected "
                + SD1.textEncoderPrefix + "* (SD 1.x), " + SD2.textEncoderPrefix
                + "* (SD 2.x), " + SDXL_BASE.textEncoderPrefix + "* + "
                + SDXL_BASE.textEncoder2Prefix + "* + " + LABEL_EMB + "* (SDXL base) or "
                + SDXL_REFINER.textEncoder2Prefix + "* + " + LABEL_EMB + "* (SDXL refiner)");
    }

    private static void append(StringBuilder sb, boolean present, String what) {
        if (present) {
            sb.append(sb.length() == 0 ? "" : ", ").append(what);
        }
    }
}
