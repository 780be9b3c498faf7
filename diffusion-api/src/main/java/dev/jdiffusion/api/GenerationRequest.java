package dev.jdiffusion.api;

import java.util.Locale;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;

/**
 * What to generate: prompt, size, steps, sampler, guidance, seed, and optionally an init image
 * (image-to-image) and a mask (inpainting).
 *
 * <p>Built with {@link #builder(String)}; {@link Builder#build()} validates every field and
 * throws {@link IllegalArgumentException} naming the field and its allowed range. Requests are
 * immutable and thread-safe (the listener is shared as given).
 */
public final class GenerationRequest {

    /** The schedule spacings a request may ask for. */
    public static final Set<String> SPACINGS =
            Set.of("leading", "trailing", "linspace", "karras", "exponential");

    /** How the images of a batch draw their noise. */
    public enum BatchNoise {
        /**
         * Image {@code i} has its own generator seeded with {@code seed + i} (the default): it is
         * the same image as a one-image request with that seed.
         */
        PER_IMAGE_SEED,
        /**
         * One generator seeded with {@code seed} fills the whole batch, image after image, as
         * diffusers does with one {@code torch.Generator} and {@code num_images_per_prompt}; an
         * image then depends on its position in the batch.
         */
        SHARED_GENERATOR
    }

    /** The prompt syntaxes a request may ask for: {@code plain} and {@code a1111}. */
    public static final Set<String> PROMPT_SYNTAXES = Set.of("plain", "a1111");

    /** The largest number of images one request may ask for. */
    public static final int MAX_IMAGES = 64;

    /** The largest number of steps one request may ask for. */
    public static final int MAX_STEPS = 1000;

    /** The largest width or height in pixels. */
    public static final int MAX_SIZE = 4096;

    private final String prompt;
    private final String negativePrompt;
    private final int width;
    private final int height;
    private final int steps;
    private final double guidanceScale;
    private final double guidanceRescale;
    private final double strength;
    private final int numImages;
    private final Long seed;
    private final String sampler;
    private final String spacing;
    private final GeneratedImage initImage;
    private final GeneratedImage mask;
    private final int previewEvery;
    private final StepListener listener;
    private final BatchNoise batchNoise;
    private final Integer clipSkip;
    private final String promptSyntax;
    private final String prompt2;
    private final String negativePrompt2;

    private GenerationRequest(Builder b) {
        this.prompt = b.prompt;
        this.negativePrompt = b.negativePrompt;
        this.width = b.width;
        this.height = b.height;
        this.steps = b.steps;
        this.guidanceScale = b.guidanceScale;
        this.guidanceRescale = b.guidanceRescale;
        this.strength = b.strength;
        this.numImages = b.numImages;
        this.seed = b.seed;
        this.sampler = b.sampler;
        this.spacing = b.spacing;
        this.initImage = b.initImage;
        this.mask = b.mask;
        this.previewEvery = b.previewEvery;
        this.listener = b.listener;
        this.batchNoise = b.batchNoise;
        this.clipSkip = b.clipSkip;
        this.promptSyntax = b.promptSyntax;
        this.prompt2 = b.prompt2;
        this.negativePrompt2 = b.negativePrompt2;
    }

    /**
     * Starts a request.
     *
     * @param prompt the prompt; empty for unconditional generation; for class-conditional
     *     models, the class label
     * @return a builder with the defaults: 20 steps, guidance 7.5, one image, a random seed, the
     *     model's size, sampler and spacing
     */
    public static Builder builder(String prompt) {
        return new Builder(prompt);
    }

    /**
     * A builder holding this request's values, to derive a variant.
     *
     * @return a new builder
     */
    public Builder toBuilder() {
        Builder b = new Builder(prompt);
        b.negativePrompt = negativePrompt;
        b.width = width;
        b.height = height;
        b.steps = steps;
        b.guidanceScale = guidanceScale;
        b.guidanceRescale = guidanceRescale;
        b.strength = strength;
        b.numImages = numImages;
        b.seed = seed;
        b.sampler = sampler;
        b.spacing = spacing;
        b.initImage = initImage;
        b.mask = mask;
        b.previewEvery = previewEvery;
        b.listener = listener;
        b.batchNoise = batchNoise;
        b.clipSkip = clipSkip;
        b.promptSyntax = promptSyntax;
        b.prompt2 = prompt2;
        b.negativePrompt2 = negativePrompt2;
        return b;
    }

    /**
     * The prompt.
     *
     * @return the prompt, possibly empty
     */
    public String prompt() {
        return prompt;
    }

    /**
     * The negative prompt, used as the unconditional side of guidance.
     *
     * @return the negative prompt, empty by default
     */
    public String negativePrompt() {
        return negativePrompt;
    }

    /**
     * The requested width.
     *
     * @return the width in pixels, or empty for the model's (or init image's) size
     */
    public OptionalInt width() {
        return width == 0 ? OptionalInt.empty() : OptionalInt.of(width);
    }

    /**
     * The requested height.
     *
     * @return the height in pixels, or empty for the model's (or init image's) size
     */
    public OptionalInt height() {
        return height == 0 ? OptionalInt.empty() : OptionalInt.of(height);
    }

    /**
     * The number of sampler steps (for image-to-image, of the full schedule; strength selects
     * the part that runs).
     *
     * @return the steps, ≥ 1
     */
    public int steps() {
        return steps;
    }

    /**
     * The classifier-free guidance scale; guidance is off (one network pass per step) at ≤ 1.
     *
     * @return the scale, ≥ 0
     */
    public double guidanceScale() {
        return guidanceScale;
    }

    /**
     * The guidance rescale factor φ of Lin et al. (2023), 0 to disable.
     *
     * @return φ in [0, 1]
     */
    public double guidanceRescale() {
        return guidanceRescale;
    }

    /**
     * How much of the init image is replaced by noise in image-to-image and inpainting.
     *
     * @return the strength in [0, 1]
     */
    public double strength() {
        return strength;
    }

    /**
     * The number of images.
     *
     * @return the batch size, ≥ 1
     */
    public int numImages() {
        return numImages;
    }

    /**
     * The seed of the first image; image {@code i} uses {@code seed + i} (with {@link
     * BatchNoise#SHARED_GENERATOR}, the seed of the batch's one generator).
     *
     * @return the seed, or empty to let the pipeline choose one (it is recorded in the result)
     */
    public OptionalLong seed() {
        return seed == null ? OptionalLong.empty() : OptionalLong.of(seed);
    }

    /**
     * The sampler's registry name.
     *
     * @return the name, or {@code null} for the pipeline's default
     */
    public String sampler() {
        return sampler;
    }

    /**
     * The spacing of the schedule, one of {@link #SPACINGS}.
     *
     * @return the spacing, or {@code null} for the model's own
     */
    public String spacing() {
        return spacing;
    }

    /**
     * The init image of image-to-image and inpainting.
     *
     * @return the image, or {@code null} for text-to-image
     */
    public GeneratedImage initImage() {
        return initImage;
    }

    /**
     * The inpainting mask: white (luminance ≥ 0.5) marks pixels to repaint, black pixels to
     * keep.
     *
     * @return the mask, or {@code null}
     */
    public GeneratedImage mask() {
        return mask;
    }

    /**
     * How often the x₀ estimate is kept for the denoising progression.
     *
     * @return every how many steps a preview is kept, 0 for none
     */
    public int previewEvery() {
        return previewEvery;
    }

    /**
     * The step listener.
     *
     * @return the listener, {@link StepListener#NONE} by default
     */
    public StepListener listener() {
        return listener;
    }

    /**
     * How the images of the batch draw their noise.
     *
     * @return {@link BatchNoise#PER_IMAGE_SEED} unless set
     */
    public BatchNoise batchNoise() {
        return batchNoise;
    }

    /**
     * How many final text-encoder layers to skip, in diffusers' convention (0 is the last
     * layer, 1 the penultimate; AUTOMATIC1111's "Clip skip" is this + 1).
     *
     * @return the clip skip, or empty for the model's own
     */
    public OptionalInt clipSkip() {
        return clipSkip == null ? OptionalInt.empty() : OptionalInt.of(clipSkip);
    }

    /**
     * How the prompts are read, one of {@link #PROMPT_SYNTAXES}.
     *
     * @return the syntax, or {@code null} for the model's own
     */
    public String promptSyntax() {
        return promptSyntax;
    }

    /**
     * The prompt of a model's second text encoder (SDXL's {@code text_encoder_2}, diffusers'
     * {@code prompt_2}).
     *
     * @return the second prompt, or {@code null} for the prompt itself
     */
    public String prompt2() {
        return prompt2;
    }

    /**
     * The negative prompt of a model's second text encoder (diffusers' {@code
     * negative_prompt_2}).
     *
     * @return the second negative prompt, or {@code null} for the negative prompt itself
     */
    public String negativePrompt2() {
        return negativePrompt2;
    }

    @Override
    public String toString() {
        return "GenerationRequest{prompt='" + prompt + "', negativePrompt='" + negativePrompt
                + "', size=" + width + "x" + height + ", steps=" + steps + ", guidance="
                + guidanceScale + ", strength=" + strength + ", numImages=" + numImages
                + ", seed=" + seed + ", sampler=" + sampler + ", spacing=" + spacing
                + ", init=" + (initImage != null) + ", mask=" + (mask != null)
                + (batchNoise == BatchNoise.SHARED_GENERATOR ? ", batchNoise=shared" : "") + "}";
    }

    /** Builder of {@link GenerationRequest}; not thread-safe. */
    public static final class Builder {
        private String prompt;
        private String negativePrompt = "";
        private int width;
        private int height;
        private int steps = 20;
        private double guidanceScale = 7.5;
        private double guidanceRescale;
        private double strength = 0.8;
        private int numImages = 1;
        private Long seed;
        private String sampler;
        private String spacing;
        private GeneratedImage initImage;
        private GeneratedImage mask;
        private int previewEvery;
        private StepListener listener = StepListener.NONE;
        private BatchNoise batchNoise = BatchNoise.PER_IMAGE_SEED;
        private Integer clipSkip;
        private String promptSyntax;
        private String prompt2;
        private String negativePrompt2;

        private Builder(String prompt) {
            this.prompt = prompt;
        }

        /**
         * Sets the prompt.
         *
         * @param prompt the prompt, not null
         * @return this builder
         */
        public Builder prompt(String prompt) {
            this.prompt = prompt;
            return this;
        }

        /**
         * Sets the negative prompt.
         *
         * @param negativePrompt the negative prompt, not null
         * @return this builder
         */
        public Builder negativePrompt(String negativePrompt) {
            this.negativePrompt = negativePrompt;
            return this;
        }

        /**
         * Sets the image size.
         *
         * @param width the width, a positive multiple of 8
         * @param height the height, a positive multiple of 8
         * @return this builder
         */
        public Builder size(int width, int height) {
            this.width = width;
            this.height = height;
            if (width == 0 || height == 0) {
                // 0 is the internal "unset" marker; make an explicit 0 fail validation.
                this.width = width == 0 ? -1 : width;
                this.height = height == 0 ? -1 : height;
            }
            return this;
        }

        /**
         * Sets the number of steps.
         *
         * @param steps the steps, 1 to {@value GenerationRequest#MAX_STEPS}
         * @return this builder
         */
        public Builder steps(int steps) {
            this.steps = steps;
            return this;
        }

        /**
         * Sets the guidance scale.
         *
         * @param guidanceScale the scale, ≥ 0 and at most {@link Float#MAX_VALUE}; ≤ 1 turns
         *     guidance off
         * @return this builder
         */
        public Builder guidanceScale(double guidanceScale) {
            this.guidanceScale = guidanceScale;
            return this;
        }

        /**
         * Sets the guidance rescale factor.
         *
         * @param guidanceRescale φ in [0, 1]
         * @return this builder
         */
        public Builder guidanceRescale(double guidanceRescale) {
            this.guidanceRescale = guidanceRescale;
            return this;
        }

        /**
         * Sets the image-to-image strength.
         *
         * @param strength the strength in [0, 1]
         * @return this builder
         */
        public Builder strength(double strength) {
            this.strength = strength;
            return this;
        }

        /**
         * Sets the number of images.
         *
         * @param numImages the batch size, 1 to {@value GenerationRequest#MAX_IMAGES}
         * @return this builder
         */
        public Builder numImages(int numImages) {
            this.numImages = numImages;
            return this;
        }

        /**
         * Sets the seed of the first image.
         *
         * @param seed the seed
         * @return this builder
         */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Sets the sampler.
         *
         * @param sampler a registry name such as {@code "euler_a"}, or {@code null} for the
         *     pipeline's default
         * @return this builder
         */
        public Builder sampler(String sampler) {
            this.sampler = sampler == null ? null : sampler.trim().toLowerCase(Locale.ROOT);
            return this;
        }

        /**
         * Sets the schedule spacing.
         *
         * @param spacing one of {@link GenerationRequest#SPACINGS}, or {@code null} for the
         *     model's own
         * @return this builder
         */
        public Builder spacing(String spacing) {
            this.spacing = spacing == null ? null : spacing.trim().toLowerCase(Locale.ROOT);
            return this;
        }

        /**
         * Sets the init image (image-to-image, inpainting).
         *
         * @param initImage the image, at most {@value GenerationRequest#MAX_SIZE} pixels wide
         *     and high, or {@code null}
         * @return this builder
         */
        public Builder initImage(GeneratedImage initImage) {
            this.initImage = initImage;
            return this;
        }

        /**
         * Sets the inpainting mask (white = repaint); requires an init image of the same size.
         *
         * @param mask the mask, or {@code null}
         * @return this builder
         */
        public Builder mask(GeneratedImage mask) {
            this.mask = mask;
            return this;
        }

        /**
         * Keeps the x₀ estimate every {@code k} steps (and after the last) for the progression.
         *
         * @param k every how many steps, 0 for none
         * @return this builder
         */
        public Builder previewEvery(int k) {
            this.previewEvery = k;
            return this;
        }

        /**
         * Sets the step listener.
         *
         * @param listener the listener, not null
         * @return this builder
         */
        public Builder listener(StepListener listener) {
            this.listener = listener;
            return this;
        }

        /**
         * Sets how the images of a batch draw their noise.
         *
         * @param batchNoise {@link BatchNoise#PER_IMAGE_SEED} (the default) or {@link
         *     BatchNoise#SHARED_GENERATOR} to reproduce a diffusers batch
         * @return this builder
         */
        public Builder batchNoise(BatchNoise batchNoise) {
            this.batchNoise = java.util.Objects.requireNonNull(batchNoise, "batchNoise");
            return this;
        }

        /**
         * Sets the clip skip.
         *
         * @param clipSkip final text-encoder layers to skip (0 = the last layer, diffusers'
         *     convention; below the encoder's layer count), or {@code null} for the model's own
         * @return this builder
         */
        public Builder clipSkip(Integer clipSkip) {
            this.clipSkip = clipSkip;
            return this;
        }

        /**
         * Sets how the prompts are read.
         *
         * @param promptSyntax {@code "plain"} or {@code "a1111"}, or {@code null} for the
         *     model's own
         * @return this builder
         */
        public Builder promptSyntax(String promptSyntax) {
            this.promptSyntax = promptSyntax == null ? null
                    : promptSyntax.trim().toLowerCase(Locale.ROOT);
            return this;
        }

        /**
         * Sets the prompt of the second text encoder (SDXL's {@code text_encoder_2}); models
         * with one text encoder refuse it.
         *
         * @param prompt2 the second prompt, or {@code null} or "" for the prompt itself (as
         *     diffusers reads {@code prompt_2})
         * @return this builder
         */
        public Builder prompt2(String prompt2) {
            this.prompt2 = prompt2 == null || prompt2.isEmpty() ? null : prompt2;
            return this;
        }

        /**
         * Sets the negative prompt of the second text encoder; models with one text encoder
         * refuse it.
         *
         * @param negativePrompt2 the second negative prompt, or {@code null} or "" for the
         *     negative prompt itself (as diffusers reads {@code negative_prompt_2})
         * @return this builder
         */
        public Builder negativePrompt2(String negativePrompt2) {
            this.negativePrompt2 = negativePrompt2 == null || negativePrompt2.isEmpty() ? null
                    : negativePrompt2;
            return this;
        }

        /**
         * Validates and builds the request.
         *
         * @return the immutable request
         * @throws IllegalArgumentException naming the first invalid field and its allowed range
         */
        public GenerationRequest build() {
            if (prompt == null) {
                throw new IllegalArgumentException("prompt must not be null (use \"\" for none)");
            }
            if (negativePrompt == null) {
                throw new IllegalArgumentException(
                        "negativePrompt must not be null (use \"\" for none)");
            }
            checkSize("width", width);
            checkSize("height", height);
            if (steps < 1 || steps > MAX_STEPS) {
                throw new IllegalArgumentException(
                        "steps must be in [1, " + MAX_STEPS + "] (got " + steps + ")");
            }
            if (!(guidanceScale >= 0) || !Double.isFinite(guidanceScale)) {
                throw new IllegalArgumentException(
                        "guidanceScale must be a finite number >= 0 (got " + guidanceScale + ")");
            }
            if (guidanceScale > Float.MAX_VALUE) { // the sampler computes in float: Infinity
                throw new IllegalArgumentException("guidanceScale must be at most "
                        + Float.MAX_VALUE + ", the largest float (got " + guidanceScale
                        + "; typical values are 1 to 15)");
            }
            if (!(guidanceRescale >= 0 && guidanceRescale <= 1)) {
                throw new IllegalArgumentException(
                        "guidanceRescale must be in [0, 1] (got " + guidanceRescale + ")");
            }
            if (!(strength >= 0 && strength <= 1)) {
                throw new IllegalArgumentException(
                        "strength must be in [0, 1] (got " + strength + ")");
            }
            if (numImages < 1 || numImages > MAX_IMAGES) {
                throw new IllegalArgumentException(
                        "numImages must be in [1, " + MAX_IMAGES + "] (got " + numImages + ")");
            }
            if (sampler != null && sampler.isEmpty()) {
                throw new IllegalArgumentException("sampler must not be blank (use null for the"
                        + " default)");
            }
            if (spacing != null && !SPACINGS.contains(spacing)) {
                throw new IllegalArgumentException(
                        "spacing must be one of " + new java.util.TreeSet<>(SPACINGS) + " (got '"
                                + spacing + "')");
            }
            checkImage("initImage", initImage);
            checkImage("mask", mask);
            if (mask != null) {
                if (initImage == null) {
                    throw new IllegalArgumentException("mask requires an initImage to inpaint");
                }
                if (mask.width() != initImage.width() || mask.height() != initImage.height()) {
                    throw new IllegalArgumentException(
                            "mask size must equal the initImage size (mask " + mask.width() + "x"
                                    + mask.height() + ", image " + initImage.width() + "x"
                                    + initImage.height() + ")");
                }
            }
            if (previewEvery < 0) {
                throw new IllegalArgumentException(
                        "previewEvery must be >= 0 (got " + previewEvery + ")");
            }
            Objects.requireNonNull(listener, "listener");
            if (clipSkip != null && clipSkip < 0) {
                throw new IllegalArgumentException("clipSkip must be >= 0 (0 = the last layer;"
                        + " AUTOMATIC1111's Clip skip 2 is 1) (got " + clipSkip + ")");
            }
            if (promptSyntax != null && !PROMPT_SYNTAXES.contains(promptSyntax)) {
                throw new IllegalArgumentException("promptSyntax must be one of "
                        + new java.util.TreeSet<>(PROMPT_SYNTAXES) + " (got '" + promptSyntax
                        + "')");
            }
            return new GenerationRequest(this);
        }

        private static void checkImage(String field, GeneratedImage image) {
            if (image != null && (image.width() > MAX_SIZE || image.height() > MAX_SIZE)) {
                throw new IllegalArgumentException(field + " is " + image.width() + "x"
                        + image.height() + " but width and height may be at most " + MAX_SIZE
                        + "; scale or crop the image");
            }
        }

        private static void checkSize(String field, int value) {
            if (value != 0 && (value < 8 || value > MAX_SIZE || value % 8 != 0)) {
                throw new IllegalArgumentException(field + " must be a positive multiple of 8 up to "
                        + MAX_SIZE + " (got " + value + ")");
            }
        }
    }
}
