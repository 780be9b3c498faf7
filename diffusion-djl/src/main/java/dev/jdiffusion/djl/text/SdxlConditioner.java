package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.djl.weights.WeightOverlay;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text conditioning for SDXL, as diffusers' {@code StableDiffusionXLPipeline.encode_prompt}
 * does it: each prompt goes through both tokenizers (padded/truncated to 77 tokens) and both
 * text encoders, CLIP ViT-L ({@link ClipTextModel}, {@code text_encoder}) and OpenCLIP ViT-bigG
 * with its projection ({@link ClipTextModelWithProjection}, {@code text_encoder_2}).
 *
 * <p><b>Output</b> of {@link #encode} and {@link #encodeNegative}, in this order:
 * <ol>
 *   <li>{@code encoder_hidden_states} (N, 77, D1 + D2): the raw penultimate hidden states of
 *       the two encoders (transformers' {@code hidden_states[-2]}, no final LayerNorm;
 *       {@code hidden_states[-2 - clipSkip]} with a clip skip), concatenated on the feature
 *       axis, encoder 1 first;</li>
 *   <li>{@code text_embeds} (N, P): encoder 2's pooled, projected output.</li>
 * </ol>
 * The UNet's other added input, the micro-conditioning {@code time_ids}, depends on the image
 * size, not on the prompt: {@link #timeIds} gives it per side of the guidance.
 *
 * <p><b>Refiner.</b> {@link #refiner} makes the conditioner of an SDXL refiner, which has
 * {@code text_encoder_2} only: {@code encoder_hidden_states} is then encoder 2's hidden states
 * alone (N, 77, D2), and with {@link #withAestheticScores} (model_index.json's {@code
 * requires_aesthetics_score}) the time ids are (H, W, crop top, crop left, aesthetic score),
 * with one score for the prompt and another for the negative prompt, as diffusers'
 * {@code StableDiffusionXLImg2ImgPipeline} makes them.
 *
 * <p>With {@code forceZerosForEmptyPrompt} (model_index.json's {@code
 * force_zeros_for_empty_prompt}, true for SDXL base), an empty negative prompt is all zeros in
 * both outputs instead of the encoding of "", as diffusers does when no negative prompt is
 * given; the positive prompt is always encoded, empty or not.
 *
 * <p>{@link TextualInversion} embeddings for SDXL ({@code clip_l}/{@code clip_g} pairs, see
 * {@link #withEmbeddings}) replace the token embeddings of their trigger words in both
 * encoders: {@code clip_l} in {@code text_encoder}, {@code clip_g} in {@code text_encoder_2}.
 *
 * <p>Results belong to the caller's manager, intermediates are freed before a call returns.
 * Immutable and thread-safe: tokenizers and weights are only read; {@link #withWeightOverlays}
 * returns a new conditioner that shares them.
 */
public final class SdxlConditioner implements Conditioner {

    private static final Logger LOG = LoggerFactory.getLogger(SdxlConditioner.class);

    private final ClipTokenizer tokenizer1;
    private final ClipTextModel text1;
    private final ClipTokenizer tokenizer2;
    private final ClipTextModelWithProjection text2;
    private final int clipSkip;
    private final boolean forceZerosForEmptyPrompt;
    private final WeightOverlay overlay1;
    private final WeightOverlay overlay2;
    private final List<TextualInversion> embeddings;
    private final PromptChunks chunker1; // null without embeddings
    private final PromptChunks chunker2;
    /** Aesthetic scores of the prompt and the negative side (5 time ids); null for 6. */
    private final double[] aesthetic;

    /** diffusers' default {@code aesthetic_score} of the refiner's prompt side. */
    public static final double DEFAULT_AESTHETIC_SCORE = 6.0;
    /** diffusers' default {@code negative_aesthetic_score}. */
    public static final double DEFAULT_NEGATIVE_AESTHETIC_SCORE = 2.5;

    /**
     * Joins the two tokenizers and text encoders.
     *
     * @param tokenizer1 {@code tokenizer}
     * @param text1 {@code text_encoder}, weights set before {@link #encode} is called
     * @param tokenizer2 {@code tokenizer_2}; must pad to the same length as {@code tokenizer1}
     * @param text2 {@code text_encoder_2}, weights set before {@link #encode} is called
     * @param clipSkip 0 for the penultimate layer (diffusers' {@code clip_skip=None}), k for
     *     k layers before it
     * @param forceZerosForEmptyPrompt whether an empty negative prompt is all zeros
     * @throws IllegalArgumentException if a tokenizer does not fit its encoder, the two
     *     sequence lengths differ, or {@code clipSkip} leaves no layer
     */
    public SdxlConditioner(ClipTokenizer tokenizer1, ClipTextModel text1,
            ClipTokenizer tokenizer2, ClipTextModelWithProjection text2, int clipSkip,
            boolean forceZerosForEmptyPrompt) {
        this(java.util.Objects.requireNonNull(tokenizer1, "tokenizer1"),
                java.util.Objects.requireNonNull(text1, "text1"), tokenizer2, text2, clipSkip,
                forceZerosForEmptyPrompt, true);
    }

    /**
     * The conditioner of an SDXL refiner: {@code tokenizer_2} and {@code text_encoder_2} only.
     * Its time ids are the base's six until {@link #withAestheticScores} is applied.
     *
     * @param tokenizer2 {@code tokenizer_2}
     * @param text2 {@code text_encoder_2}, weights set before {@link #encode} is called
     * @param clipSkip 0 for the penultimate layer, k for k layers before it
     * @param forceZerosForEmptyPrompt whether an empty negative prompt is all zeros (false for
     *     the released refiner)
     * @return the conditioner
     * @throws IllegalArgumentException if the tokenizer does not fit the encoder or {@code
     *     clipSkip} leaves no layer
     */
    public static SdxlConditioner refiner(ClipTokenizer tokenizer2,
            ClipTextModelWithProjection text2, int clipSkip, boolean forceZerosForEmptyPrompt) {
        return new SdxlConditioner(null, null, tokenizer2, text2, clipSkip,
                forceZerosForEmptyPrompt, true);
    }

    private SdxlConditioner(ClipTokenizer tokenizer1, ClipTextModel text1,
            ClipTokenizer tokenizer2, ClipTextModelWithProjection text2, int clipSkip,
            boolean forceZerosForEmptyPrompt, boolean checked) { // checked: a signature of its own
        if (text1 != null) {
            fits("tokenizer / text_encoder", tokenizer1, text1.config());
        }
        fits("tokenizer_2 / text_encoder_2", tokenizer2, text2.config());
        if (text1 != null && tokenizer1.maxLength() != tokenizer2.maxLength()) {
            throw new IllegalArgumentException("tokenizer pads to " + tokenizer1.maxLength()
                    + " tokens but tokenizer_2 to " + tokenizer2.maxLength()
                    + "; their hidden states are concatenated and must have one length");
        }
        int layers = text1 == null ? text2.config().numHiddenLayers()
                : Math.min(text1.config().numHiddenLayers(), text2.config().numHiddenLayers());
        if (clipSkip < 0 || clipSkip + 1 >= layers) {
            throw new IllegalArgumentException("clipSkip must be in 0.." + (layers - 2)
                    + " (SDXL starts from the penultimate layer), got " + clipSkip);
        }
        this.tokenizer1 = tokenizer1;
        this.text1 = text1;
        this.tokenizer2 = tokenizer2;
        this.text2 = text2;
        this.clipSkip = clipSkip;
        this.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        this.overlay1 = WeightOverlay.none();
        this.overlay2 = WeightOverlay.none();
        this.embeddings = List.of();
        this.chunker1 = null;
        this.chunker2 = null;
        this.aesthetic = null;
    }

    private SdxlConditioner(SdxlConditioner base, WeightOverlay overlay1,
            WeightOverlay overlay2, List<TextualInversion> embeddings) {
        this(base, overlay1, overlay2, embeddings, base.aesthetic);
    }

    private SdxlConditioner(SdxlConditioner base, WeightOverlay overlay1,
            WeightOverlay overlay2, List<TextualInversion> embeddings, double[] aesthetic) {
        this.aesthetic = aesthetic;
        this.tokenizer1 = base.tokenizer1;
        this.text1 = base.text1;
        this.tokenizer2 = base.tokenizer2;
        this.text2 = base.text2;
        this.clipSkip = base.clipSkip;
        this.forceZerosForEmptyPrompt = base.forceZerosForEmptyPrompt;
        this.overlay1 = java.util.Objects.requireNonNull(overlay1, "overlay1");
        this.overlay2 = java.util.Objects.requireNonNull(overlay2, "overlay2");
        this.embeddings = List.copyOf(embeddings);
        if (this.embeddings.isEmpty()) {
            this.chunker1 = null;
            this.chunker2 = null;
        } else {
            int chunk = tokenizer2.maxLength() - 2;
            this.chunker1 = text1 == null ? null : new PromptChunks(tokenizer1, Triggers.of(this.embeddings, tokenizer1,
                    chunk, (e, w) -> part(e, w, "clip_l", text1.config().hiddenSize())), ClipConditioner.MAX_CHUNKS);
            this.chunker2 = new PromptChunks(tokenizer2, Triggers.of(this.embeddings, tokenizer2,
                    chunk, (e, w) -> part(e, w, "clip_g", text2.config().hiddenSize())), ClipConditioner.MAX_CHUNKS);
        }
    }

    private static float[][] part(TextualInversion e, String word, String part, int width) {
        float[][] v = e.sdxlPart(word, part);
        if (v == null) {
            throw new IllegalArgumentException(e.source() + ": the embedding '" + word
                    + "' is a single set of " + e.vectorCount(word) + " vectors, an embedding"
                    + " for SD 1.x/2.x; SDXL needs a clip_l/clip_g pair");
        }
        if (v[0].length != width) {
            throw new IllegalArgumentException(e.source() + ": the embedding '" + word
                    + "''s " + part + " is " + v[0].length + " values wide but the encoder it"
                    + " is for has hidden size " + width);
        }
        return v;
    }

    /**
     * This conditioner with more textual-inversion embeddings: SDXL {@code clip_l}/{@code
     * clip_g} pairs, their trigger words in a prompt becoming their vectors in both encoders.
     * Prompts are then read in 75-token chunks as {@link ClipConditioner} reads them, and only
     * the first is encoded, as diffusers' SDXL pipeline encodes only the first 75 tokens. This
     * conditioner is unchanged.
     *
     * @param more the embeddings to add to this conditioner's
     * @return a conditioner sharing the tokenizers, encoders and weight overlays
     * @throws IllegalArgumentException if an embedding is not an SDXL pair, a part's width does
     *     not fit its encoder, it has more vectors than 75, or two embeddings share a trigger
     */
    public SdxlConditioner withEmbeddings(List<TextualInversion> more) {
        List<TextualInversion> all = new java.util.ArrayList<>(embeddings);
        all.addAll(more);
        return new SdxlConditioner(this, overlay1, overlay2, all);
    }

    /**
     * The textual-inversion embeddings in use.
     *
     * @return the embeddings, in the order added
     */
    public List<TextualInversion> embeddings() {
        return embeddings;
    }

    /**
     * This conditioner with some weights of the two text encoders replaced (for example
     * LoRA-patched layers); the encoders themselves are not changed, so this conditioner and
     * the new one can encode at the same time.
     *
     * @param textEncoder replacement values for {@code text_encoder}'s parameters
     * @param textEncoder2 replacement values for {@code text_encoder_2}'s parameters
     * @return a new conditioner sharing the tokenizers and encoders
     */
    public SdxlConditioner withWeightOverlays(WeightOverlay textEncoder,
            WeightOverlay textEncoder2) {
        return new SdxlConditioner(this, textEncoder, textEncoder2, embeddings);
    }

    /**
     * This conditioner with SDXL refiner time ids (H, W, crop top, crop left, score):
     * {@code aestheticScore} for the prompt side, {@code negativeAestheticScore} for the
     * negative side of the guidance. This conditioner is unchanged.
     *
     * @param aestheticScore the prompt side's score (diffusers' default {@value
     *     #DEFAULT_AESTHETIC_SCORE})
     * @param negativeAestheticScore the negative side's score (default {@value
     *     #DEFAULT_NEGATIVE_AESTHETIC_SCORE})
     * @return a conditioner sharing the tokenizers, encoders and weight overlays
     * @throws IllegalArgumentException if a score is not finite
     */
    public SdxlConditioner withAestheticScores(double aestheticScore,
            double negativeAestheticScore) {
        if (!Double.isFinite(aestheticScore) || !Double.isFinite(negativeAestheticScore)) {
            throw new IllegalArgumentException("aesthetic scores must be finite, got "
                    + aestheticScore + " and " + negativeAestheticScore);
        }
        return new SdxlConditioner(this, overlay1, overlay2, embeddings,
                new double[] {aestheticScore, negativeAestheticScore});
    }

    /**
     * Whether this is a refiner's conditioner, without {@code text_encoder}.
     *
     * @return {@code true} if only encoder 2 is used
     */
    public boolean isRefiner() {
        return text1 == null;
    }

    /**
     * The number of micro-conditioning time ids the UNet takes with this conditioner.
     *
     * @return 5 with aesthetic scores, 6 otherwise
     */
    public int timeIdCount() {
        return aesthetic == null ? 6 : 5;
    }

    /**
     * The micro-conditioning {@code time_ids} for n images of {@code height} × {@code width}
     * pixels, as diffusers' SDXL pipelines make them by default (original size = target size =
     * the image size, no crop): (H, W, 0, 0, H, W), or with aesthetic scores (H, W, 0, 0,
     * score) with the score of the side asked for.
     *
     * @param manager the manager that owns the result
     * @param n the number of rows
     * @param height the image height in pixels
     * @param width the image width in pixels
     * @param negative whether the rows are for the negative (unconditional) side
     * @return (n, {@link #timeIdCount()}) float32, on encoder 2's device
     */
    public NDArray timeIds(NDManager manager, int n, int height, int width, boolean negative) {
        float h = height;
        float w = width;
        float[] row = aesthetic == null ? new float[] {h, w, 0, 0, h, w}
                : new float[] {h, w, 0, 0, (float) aesthetic[negative ? 1 : 0]};
        float[] all = new float[n * row.length];
        for (int i = 0; i < n; i++) {
            System.arraycopy(row, 0, all, i * row.length, row.length);
        }
        return manager.create(all, new Shape(n, row.length))
                .toDevice(TextModels.deviceOf(text2, "text_encoder_2"), false);
    }

    /**
     * The first text encoder, {@code text_encoder} (CLIP ViT-L).
     *
     * @return the encoder given at construction, or null for a {@link #refiner}
     */
    public ClipTextModel textEncoder() {
        return text1;
    }

    /**
     * The second text encoder, {@code text_encoder_2} (OpenCLIP ViT-bigG with projection).
     *
     * @return the encoder given at construction
     */
    public ClipTextModelWithProjection textEncoder2() {
        return text2;
    }

    private static void fits(String what, ClipTokenizer tokenizer, ClipTextConfig c) {
        if (tokenizer.maxLength() > c.maxPositionEmbeddings()) {
            throw new IllegalArgumentException(what + ": the tokenizer pads to "
                    + tokenizer.maxLength() + " tokens but the text model has only "
                    + c.maxPositionEmbeddings() + " positions");
        }
        if (tokenizer.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException(what + ": the tokenizer has "
                    + tokenizer.vocabSize() + " ids but the text model's vocab_size is "
                    + c.vocabSize());
        }
    }

    /**
     * The width of {@code encoder_hidden_states}.
     *
     * @return D1 + D2
     */
    public int contextDim() {
        return (text1 == null ? 0 : text1.config().hiddenSize()) + text2.config().hiddenSize();
    }

    /**
     * The width of {@code text_embeds}.
     *
     * @return P, encoder 2's projection_dim
     */
    public int pooledDim() {
        return text2.projectionDim();
    }

    /**
     * Whether an empty negative prompt is all zeros.
     *
     * @return model_index.json's force_zeros_for_empty_prompt as given at construction
     */
    public boolean forceZerosForEmptyPrompt() {
        return forceZerosForEmptyPrompt;
    }

    /**
     * Encodes prompts.
     *
     * @param manager the manager that owns the result
     * @param prompts one or more prompts
     * @return {@code NDList(encoder_hidden_states (N, 77, D1 + D2), text_embeds (N, P))}, D1 = 0
     *     for a refiner
     * @throws IllegalArgumentException if {@code prompts} is empty
     * @throws IllegalStateException if a text model's weights are not set
     */
    @Override
    public NDList encode(NDManager manager, List<String> prompts) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        int n = prompts.size();
        int t = tokenizer2.maxLength();
        PromptChunks.Chunk[] chunks1 = chunker1 == null ? null : firstChunks(chunker1, prompts);
        PromptChunks.Chunk[] chunks2 = chunker2 == null ? null : firstChunks(chunker2, prompts);
        int[] ids1 = text1 == null ? null : chunks1 == null
                ? tokenize(tokenizer1, prompts, "tokenizer") : ids(chunks1);
        int[] ids2 = chunks2 == null ? tokenize(tokenizer2, prompts, "tokenizer_2")
                : ids(chunks2);
        Device device = TextModels.deviceOf(text2, "text_encoder_2");
        if (text1 != null) {
            device = TextModels.deviceOf(text1, "text_encoder");
        }
        try (NDManager sub = manager.newSubManager(device)) {
            NDList fix1 = chunks1 == null ? null : PromptChunks.fixArrays(sub, chunks1,
                    text1.config().hiddenSize(), TextModels.dataType(text1));
            NDList fix2 = chunks2 == null ? null : PromptChunks.fixArrays(sub, chunks2,
                    text2.config().hiddenSize(), TextModels.dataType(text2));
            NDArray h1 = text1 == null ? null : text1.hiddenState(overlay1.store(sub), sub.create(ids1, new Shape(n, t)),
                    1 + clipSkip, fix1 == null ? null : fix1.get(0),
                    fix1 == null ? null : fix1.get(1));
            ClipTextModelWithProjection.Output o2 = text2.encode(overlay2.store(sub),
                    sub.create(ids2, new Shape(n, t)), 1 + clipSkip,
                    fix2 == null ? null : fix2.get(0), fix2 == null ? null : fix2.get(1));
            NDArray context = h1 == null ? o2.hiddenState()
                    : h1.concat(o2.hiddenState().toType(h1.getDataType(), false), 2);
            NDArray pooled = o2.textEmbeds();
            context.attach(manager); // (N, T, D1 + D2)
            pooled.attach(manager); // (N, P)
            return new NDList(context, pooled);
        }
    }

    /**
     * Encodes negative prompts: as {@link #encode}, except that with {@code
     * forceZerosForEmptyPrompt} every empty prompt's entries are zeros.
     *
     * @param manager the manager that owns the result
     * @param negativePrompts one or more negative prompts
     * @return as {@link #encode}
     * @throws IllegalArgumentException if {@code negativePrompts} is empty
     * @throws IllegalStateException if a text model's weights are not set
     */
    @Override
    public NDList encodeNegative(NDManager manager, List<String> negativePrompts) {
        if (negativePrompts.isEmpty()) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        int n = negativePrompts.size();
        float[] keep = new float[n];
        boolean anyKept = false;
        for (int i = 0; i < n; i++) {
            keep[i] = forceZerosForEmptyPrompt && negativePrompts.get(i).isEmpty() ? 0 : 1;
            anyKept |= keep[i] != 0;
        }
        if (!anyKept) {
            Device device = text1 == null ? TextModels.deviceOf(text2, "text_encoder_2")
                    : TextModels.deviceOf(text1, "text_encoder");
            DataType type = text1 == null ? TextModels.dataType(text2)
                    : TextModels.dataType(text1);
            NDArray context = manager.zeros(new Shape(n, tokenizer2.maxLength(), contextDim()),
                    type, device);
            NDArray pooled = manager.zeros(new Shape(n, pooledDim()), type, device);
            return new NDList(context, pooled);
        }
        NDList out = encode(manager, negativePrompts);
        for (float k : keep) {
            if (k == 0) { // some empty, some not: zero the empty rows
                NDArray mask = manager.create(keep, new Shape(n, 1))
                        .toDevice(out.get(0).getDevice(), false);
                NDArray context = out.get(0).mul(mask.reshape(n, 1, 1)
                        .toType(out.get(0).getDataType(), false));
                NDArray pooled = out.get(1).mul(mask.toType(out.get(1).getDataType(), false));
                return new NDList(context, pooled);
            }
        }
        return out;
    }

    /** Each prompt's first 77-token chunk; the rest is dropped with a warning. */
    private static PromptChunks.Chunk[] firstChunks(PromptChunks chunker, List<String> prompts) {
        PromptChunks.Chunk[] out = new PromptChunks.Chunk[prompts.size()];
        for (int i = 0; i < out.length; i++) {
            List<PromptChunks.Chunk> all = chunker.of(PromptParser.plain(prompts.get(i)));
            if (all.size() > 1) {
                LOG.warn("Prompt is longer than the 75 tokens SDXL's encoders take (trigger"
                        + " words counted as their vectors); ignored the rest");
            }
            out[i] = all.get(0);
        }
        return out;
    }

    private static int[] ids(PromptChunks.Chunk[] chunks) {
        int t = chunks[0].ids().length;
        int[] ids = new int[chunks.length * t];
        for (int i = 0; i < chunks.length; i++) {
            System.arraycopy(chunks[i].ids(), 0, ids, i * t, t);
        }
        return ids;
    }

    private static int[] tokenize(ClipTokenizer tokenizer, List<String> prompts, String which) {
        int t = tokenizer.maxLength();
        int[] ids = new int[prompts.size() * t];
        for (int i = 0; i < prompts.size(); i++) {
            ClipTokenizer.Encoding e = tokenizer.encode(prompts.get(i));
            if (e.truncated()) {
                LOG.warn("Prompt has {} tokens, more than the {} {} takes; ignored the last {}"
                        + " characters (after clean-up)", e.textTokens(), t - 2, which,
                        e.droppedChars());
            }
            System.arraycopy(e.ids(), 0, ids, i * t, t);
        }
        return ids;
    }
}
