package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.djl.weights.WeightOverlay;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Text conditioning for SDXL, as diffusers' {@code StableDiffusionXLPipeline.encode_prompt}
 * does it: each prompt goes through both tokenizers and both text encoders, CLIP ViT-L ({@link
 * ClipTextModel}, {@code text_encoder}) and OpenCLIP ViT-bigG with its projection ({@link
 * ClipTextModelWithProjection}, {@code text_encoder_2}).
 *
 * <p><b>Prompts</b> are read as {@link ClipConditioner} reads them, as AUTOMATIC1111 reads them
 * for SDXL: in the conditioner's {@link PromptSyntax} ({@link PromptSyntax#A1111} unless {@link
 * #withSyntax} says otherwise), cut into 75-token chunks ({@code BREAK}, the comma rule; the
 * two tokenizers share CLIP's BPE, so both encoders get the same chunks), each chunk encoded by
 * each encoder on its own, weights applied to each encoder's states with the mean restored
 * (AUTOMATIC1111's "Original" emphasis, per encoder), and the chunks joined along the sequence:
 * (N, 77·k, D1 + D2). {@code text_embeds} is the pooled output of the first chunk, unweighted.
 * A prompt of at most 75 tokens without brackets or {@code BREAK} is encoded exactly as
 * diffusers encodes it; diffusers cuts longer prompts at 77 tokens and reads brackets as text,
 * which {@link PromptSyntax#PLAIN} restores for brackets (long prompts are still chunked, not
 * cut).
 *
 * <p>{@link #withSecondPrompts} gives {@code text_encoder_2} its own prompt and negative
 * prompt (diffusers' {@code prompt_2}, {@code negative_prompt_2}); when the two sides need
 * different chunk counts, the shorter is padded with empty chunks.
 *
 * <p><b>Output</b> of {@link #encode} and {@link #encodeNegative}, in this order:
 * <ol>
 *   <li>{@code encoder_hidden_states} (N, 77·k, D1 + D2): the raw penultimate hidden states of
 *       the two encoders (transformers' {@code hidden_states[-2]}, no final LayerNorm;
 *       {@code hidden_states[-(clipSkip + 2)]} with a clip skip, diffusers' {@code clip_skip},
 *       which the pooled output ignores), concatenated on the feature axis, encoder 1 first;
 *       77·k long for prompts of k chunks;</li>
 *   <li>{@code text_embeds} (N, P): encoder 2's pooled, projected output of the first
 *       chunk.</li>
 * </ol>
 * The UNet's other added input, the micro-conditioning {@code time_ids}, depends on the image
 * size, not on the prompt: {@link #timeIds} gives it per side of the guidance.
 *
 * <p><b>Refiner.</b> {@link #refiner} makes the conditioner of an SDXL refiner, which has
 * {@code text_encoder_2} only: {@code encoder_hidden_states} is then encoder 2's hidden states
 * alone (N, 77·k, D2), and with {@link #withAestheticScores} (model_index.json's {@code
 * requires_aesthetics_score}) the time ids are (H, W, crop top, crop left, aesthetic score),
 * with one score for the prompt and another for the negative prompt, as diffusers'
 * {@code StableDiffusionXLImg2ImgPipeline} makes them.
 *
 * <p>With {@code forceZerosForEmptyPrompt} (model_index.json's {@code
 * force_zeros_for_empty_prompt}, true for SDXL base), an empty negative prompt is all zeros in
 * both outputs instead of the encoding of "", as diffusers does when no negative prompt is
 * given (with a second negative prompt, only when that is empty too); the positive prompt is
 * always encoded, empty or not. Unlike diffusers, whose {@code encode_prompt} applies {@code
 * clip_skip} to the prompt alone, the clip skip applies to the negative prompt as well (as
 * {@link ClipConditioner} and AUTOMATIC1111 do).
 *
 * <p>{@link TextualInversion} embeddings for SDXL ({@code clip_l}/{@code clip_g} pairs, see
 * {@link #withEmbeddings}) replace the token embeddings of their trigger words in both
 * encoders: {@code clip_l} in {@code text_encoder}, {@code clip_g} in {@code text_encoder_2}.
 *
 * <p>Results belong to the caller's manager, intermediates are freed before a call returns.
 * Immutable and thread-safe: tokenizers and weights are only read; the {@code with...} methods
 * return new conditioners that share them.
 */
public final class SdxlConditioner implements Conditioner {

    private final ClipTokenizer tokenizer1;
    private final ClipTextModel text1;
    private final ClipTokenizer tokenizer2;
    private final ClipTextModelWithProjection text2;
    private final int clipSkip;
    private final boolean forceZerosForEmptyPrompt;
    private final WeightOverlay overlay1;
    private final WeightOverlay overlay2;
    private final List<TextualInversion> embeddings;
    private final PromptSyntax syntax;
    private final String prompt2; // null: encoder 2 reads the prompt
    private final String negativePrompt2; // null: encoder 2 reads the negative prompt
    private final PromptChunks chunker1; // null for a refiner
    private final PromptChunks chunker2;
    /** Aesthetic scores of the prompt and the negative side (5 time ids); null for 6. */
    private final double[] aesthetic;

    /** diffusers' default {@code aesthetic_score} of the refiner's prompt side. */
    public static final double DEFAULT_AESTHETIC_SCORE = 6.0;
    /** diffusers' default {@code negative_aesthetic_score}. */
    public static final double DEFAULT_NEGATIVE_AESTHETIC_SCORE = 2.5;

    /**
     * Joins the two tokenizers and text encoders, reading prompts in {@link PromptSyntax#A1111}.
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
        this.tokenizer1 = tokenizer1;
        this.text1 = text1;
        this.tokenizer2 = tokenizer2;
        this.text2 = text2;
        this.clipSkip = checkClipSkip(clipSkip, text1, text2);
        this.forceZerosForEmptyPrompt = forceZerosForEmptyPrompt;
        this.overlay1 = WeightOverlay.none();
        this.overlay2 = WeightOverlay.none();
        this.embeddings = List.of();
        this.syntax = PromptSyntax.A1111;
        this.prompt2 = null;
        this.negativePrompt2 = null;
        this.chunker1 = text1 == null ? null
                : chunker(tokenizer1, text1.config(), "clip_l", embeddings);
        this.chunker2 = chunker(tokenizer2, text2.config(), "clip_g", embeddings);
        this.aesthetic = null;
    }

    private SdxlConditioner(SdxlConditioner base, int clipSkip, PromptSyntax syntax,
            WeightOverlay overlay1, WeightOverlay overlay2, List<TextualInversion> embeddings,
            String prompt2, String negativePrompt2, double[] aesthetic) {
        this.aesthetic = aesthetic;
        this.tokenizer1 = base.tokenizer1;
        this.text1 = base.text1;
        this.tokenizer2 = base.tokenizer2;
        this.text2 = base.text2;
        this.clipSkip = checkClipSkip(clipSkip, text1, text2);
        this.forceZerosForEmptyPrompt = base.forceZerosForEmptyPrompt;
        this.overlay1 = java.util.Objects.requireNonNull(overlay1, "overlay1");
        this.overlay2 = java.util.Objects.requireNonNull(overlay2, "overlay2");
        this.embeddings = List.copyOf(embeddings);
        this.syntax = java.util.Objects.requireNonNull(syntax, "syntax");
        this.prompt2 = prompt2;
        this.negativePrompt2 = negativePrompt2;
        boolean same = this.embeddings.equals(base.embeddings);
        this.chunker1 = same || text1 == null ? base.chunker1
                : chunker(tokenizer1, text1.config(), "clip_l", this.embeddings);
        this.chunker2 = same ? base.chunker2
                : chunker(tokenizer2, text2.config(), "clip_g", this.embeddings);
    }

    /** diffusers reads hidden_states[-(clipSkip + 2)]: at least the first layer's output. */
    private static int checkClipSkip(int clipSkip, ClipTextModel text1,
            ClipTextModelWithProjection text2) {
        int l2 = text2.config().numHiddenLayers();
        if (text1 == null) {
            if (clipSkip < 0 || clipSkip + 1 >= l2) {
                throw new IllegalArgumentException("clipSkip must be in 0.." + (l2 - 2)
                        + ": SDXL reads hidden_states[-(clipSkip + 2)] of text_encoder_2,"
                        + " which has " + l2 + " layers; got " + clipSkip);
            }
            return clipSkip;
        }
        int l1 = text1.config().numHiddenLayers();
        int layers = Math.min(l1, l2);
        if (clipSkip < 0 || clipSkip + 1 >= layers) {
            throw new IllegalArgumentException("clipSkip must be in 0.." + (layers - 2)
                    + ": SDXL reads hidden_states[-(clipSkip + 2)] of its text encoders, which"
                    + " have " + l1 + " (text_encoder) and " + l2 + " (text_encoder_2) layers;"
                    + " got " + clipSkip);
        }
        return clipSkip;
    }

    private static PromptChunks chunker(ClipTokenizer tokenizer, ClipTextConfig config,
            String part, List<TextualInversion> embeddings) {
        return new PromptChunks(tokenizer, Triggers.of(embeddings, tokenizer,
                tokenizer.maxLength() - 2, (e, w) -> part(e, w, part, config.hiddenSize())),
                ClipConditioner.MAX_CHUNKS);
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
     * This conditioner is unchanged.
     *
     * @param more the embeddings to add to this conditioner's
     * @return a conditioner sharing the tokenizers, encoders and weight overlays
     * @throws IllegalArgumentException if an embedding is not an SDXL pair, a part's width does
     *     not fit its encoder, it has more vectors than 75, or two embeddings share a trigger
     */
    public SdxlConditioner withEmbeddings(List<TextualInversion> more) {
        List<TextualInversion> all = new java.util.ArrayList<>(embeddings);
        all.addAll(more);
        return new SdxlConditioner(this, clipSkip, syntax, overlay1, overlay2, all, prompt2,
                negativePrompt2, aesthetic);
    }

    /**
     * This conditioner with another clip skip, diffusers' {@code clip_skip}: both encoders hand
     * on {@code hidden_states[-(clipSkip + 2)]}; the pooled output is unchanged.
     *
     * @param clipSkip 0 for the penultimate layer, k for k layers before it
     * @return a conditioner sharing the tokenizers, encoders, overlays and embeddings
     * @throws IllegalArgumentException if {@code clipSkip} leaves no layer of either encoder
     *     (the message names their layer counts)
     */
    public SdxlConditioner withClipSkip(int clipSkip) {
        return clipSkip == this.clipSkip ? this : new SdxlConditioner(this, clipSkip, syntax,
                overlay1, overlay2, embeddings, prompt2, negativePrompt2, aesthetic);
    }

    /**
     * The clip skip.
     *
     * @return 0 for {@code hidden_states[-2]}, k for {@code hidden_states[-(k + 2)]}
     */
    public int clipSkip() {
        return clipSkip;
    }

    /**
     * This conditioner reading prompts in another syntax.
     *
     * @param syntax the syntax
     * @return a conditioner sharing the tokenizers, encoders, overlays and embeddings
     */
    public SdxlConditioner withSyntax(PromptSyntax syntax) {
        return syntax == this.syntax ? this : new SdxlConditioner(this, clipSkip, syntax,
                overlay1, overlay2, embeddings, prompt2, negativePrompt2, aesthetic);
    }

    /**
     * The syntax prompts are read in.
     *
     * @return the syntax
     */
    public PromptSyntax syntax() {
        return syntax;
    }

    /**
     * This conditioner with its own prompts for {@code text_encoder_2}, diffusers' {@code
     * prompt_2} and {@code negative_prompt_2}: {@link #encode} gives encoder 2 {@code prompt2}
     * instead of each prompt, {@link #encodeNegative} gives it {@code negativePrompt2} instead
     * of each negative prompt; encoder 1 and {@link #unconditional} are unchanged. As in
     * diffusers, {@code null} or the empty string means "the same as the first". This is a
     * per-request conditioner: derive it for the prompts of one request.
     *
     * @param prompt2 encoder 2's prompt, or {@code null} / "" for the prompt itself
     * @param negativePrompt2 encoder 2's negative prompt, or {@code null} / "" for the
     *     negative prompt itself
     * @return a conditioner sharing the tokenizers, encoders, overlays and embeddings
     */
    public SdxlConditioner withSecondPrompts(String prompt2, String negativePrompt2) {
        String p = prompt2 == null || prompt2.isEmpty() ? null : prompt2;
        String q = negativePrompt2 == null || negativePrompt2.isEmpty() ? null : negativePrompt2;
        return java.util.Objects.equals(p, this.prompt2)
                && java.util.Objects.equals(q, this.negativePrompt2) ? this
                : new SdxlConditioner(this, clipSkip, syntax, overlay1, overlay2, embeddings, p,
                        q, aesthetic);
    }

    /**
     * The number of 77-token chunks a prompt is encoded in (by each encoder); checks the prompt
     * without running the text encoders.
     *
     * @param prompt a prompt
     * @return 1 for prompts of up to 75 tokens without {@code BREAK}
     * @throws PromptParseException if the prompt is not valid in this conditioner's syntax
     * @throws IllegalArgumentException if the prompt needs more than {@value
     *     ClipConditioner#MAX_CHUNKS} chunks
     */
    public int chunkCount(String prompt) {
        int n2 = chunks(chunker2, prompt).size();
        return chunker1 == null ? n2 : Math.max(chunks(chunker1, prompt).size(), n2);
    }

    private List<PromptChunks.Chunk> chunks(PromptChunks chunker, String prompt) {
        return chunker.of(syntax == PromptSyntax.A1111 ? PromptParser.parse(prompt)
                : PromptParser.plain(prompt));
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
        return new SdxlConditioner(this, clipSkip, syntax, textEncoder, textEncoder2, embeddings,
                prompt2, negativePrompt2, aesthetic);
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
        return new SdxlConditioner(this, clipSkip, syntax, overlay1, overlay2, embeddings,
                prompt2, negativePrompt2, new double[] {aestheticScore, negativeAestheticScore});
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
     * Encodes prompts; encoder 2 reads the {@linkplain #withSecondPrompts second prompt} if
     * there is one.
     *
     * @param manager the manager that owns the result
     * @param prompts one or more prompts
     * @return {@code NDList(encoder_hidden_states (N, 77·k, D1 + D2), text_embeds (N, P))}, k
     *     the largest chunk count of the prompts
     * @throws IllegalArgumentException if {@code prompts} is empty or a prompt too long or (a
     *     {@link PromptParseException}) not valid in this conditioner's syntax
     * @throws IllegalStateException if a text model's weights are not set
     */
    @Override
    public NDList encode(NDManager manager, List<String> prompts) {
        return encode(manager, prompts, prompt2);
    }

    /**
     * The encoding of empty prompts on both encoders (the second prompts ignored): what
     * prompts of different lengths are padded with.
     *
     * @param manager the manager that owns the result
     * @param batch the batch size
     * @return as {@link #encode} for {@code batch} empty prompts
     */
    @Override
    public NDList unconditional(NDManager manager, int batch) {
        return encode(manager, Collections.nCopies(batch, ""), null);
    }

    /**
     * Encodes negative prompts: as {@link #encode}, encoder 2 reading the second negative
     * prompt if there is one, except that with {@code forceZerosForEmptyPrompt} every empty
     * prompt's entries are zeros (when the second negative prompt is empty too).
     *
     * @param manager the manager that owns the result
     * @param negativePrompts one or more negative prompts
     * @return as {@link #encode}
     * @throws IllegalArgumentException if {@code negativePrompts} is empty or a prompt cannot
     *     be read
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
            keep[i] = isZeroNegative(negativePrompts.get(i)) ? 0 : 1;
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
        NDList out = encode(manager, negativePrompts, negativePrompt2);
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

    /**
     * Whether {@link #encodeNegative} gives a negative prompt all zeros: with {@code
     * forceZerosForEmptyPrompt}, an empty negative prompt without a second negative prompt.
     *
     * @param negativePrompt a negative prompt
     * @return true if its entries are zeros
     */
    public boolean isZeroNegative(String negativePrompt) {
        return forceZerosForEmptyPrompt && negativePrompt.isEmpty() && negativePrompt2 == null;
    }

    /**
     * Both encoders over the prompts' chunks, chunk by chunk.
     *
     * @param second what encoder 2 reads instead of each prompt, or null for the prompt
     */
    private NDList encode(NDManager manager, List<String> prompts, String second) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        int n = prompts.size();
        List<List<PromptChunks.Chunk>> all1 = new ArrayList<>(n);
        List<List<PromptChunks.Chunk>> all2 = new ArrayList<>(n);
        int count = 0;
        for (String p : prompts) {
            List<PromptChunks.Chunk> c1 = chunker1 == null ? List.of() : chunks(chunker1, p);
            List<PromptChunks.Chunk> c2 = chunks(chunker2, second == null ? p : second);
            all1.add(c1);
            all2.add(c2);
            count = Math.max(count, Math.max(c1.size(), c2.size()));
        }
        Device device = TextModels.deviceOf(text2, "text_encoder_2");
        if (text1 != null) {
            device = TextModels.deviceOf(text1, "text_encoder");
        }
        try (NDManager sub = manager.newSubManager(device)) {
            ParameterStore ps1 = overlay1.store(sub);
            ParameterStore ps2 = overlay2.store(sub);
            NDList parts = new NDList();
            NDArray pooled = null;
            for (int k = 0; k < count; k++) {
                NDArray h1 = text1 == null ? null
                        : states1(sub, ps1, column(all1, k, chunker1)); // (N, T, D1)
                ClipTextModelWithProjection.Output o2 = states2(sub, ps2,
                        column(all2, k, chunker2)); // (N, T, D2), (N, P)
                if (k == 0) {
                    pooled = o2.textEmbeds();
                }
                parts.add(h1 == null ? o2.hiddenState()
                        : h1.concat(o2.hiddenState().toType(h1.getDataType(), false), 2));
            }
            NDArray context = parts.size() == 1 ? parts.head() : NDArrays.concat(parts, 1);
            context.attach(manager); // (N, 77k, D1 + D2)
            pooled.attach(manager); // (N, P)
            return new NDList(context, pooled);
        }
    }

    /** Chunk k of every prompt, the empty chunk for prompts with fewer. */
    private static PromptChunks.Chunk[] column(List<List<PromptChunks.Chunk>> all, int k,
            PromptChunks chunker) {
        PromptChunks.Chunk[] batch = new PromptChunks.Chunk[all.size()];
        for (int i = 0; i < batch.length; i++) {
            batch[i] = k < all.get(i).size() ? all.get(i).get(k) : chunker.empty();
        }
        return batch;
    }

    /** text_encoder over one chunk per prompt: weighted hidden_states[-(clipSkip + 2)]. */
    private NDArray states1(NDManager sub, ParameterStore ps, PromptChunks.Chunk[] batch) {
        NDList fix = PromptChunks.fixArrays(sub, batch, text1.config().hiddenSize(),
                TextModels.dataType(text1));
        NDArray h = text1.hiddenState(ps, sub.create(ids(batch), new Shape(batch.length,
                batch[0].ids().length)), 1 + clipSkip, fix == null ? null : fix.get(0),
                fix == null ? null : fix.get(1));
        return Emphasis.apply(sub, h, batch);
    }

    /** text_encoder_2 over one chunk per prompt: weighted states and the unweighted pooled. */
    private ClipTextModelWithProjection.Output states2(NDManager sub, ParameterStore ps,
            PromptChunks.Chunk[] batch) {
        NDList fix = PromptChunks.fixArrays(sub, batch, text2.config().hiddenSize(),
                TextModels.dataType(text2));
        ClipTextModelWithProjection.Output o = text2.encode(ps, sub.create(ids(batch),
                new Shape(batch.length, batch[0].ids().length)), 1 + clipSkip,
                fix == null ? null : fix.get(0), fix == null ? null : fix.get(1));
        return new ClipTextModelWithProjection.Output(Emphasis.apply(sub, o.hiddenState(), batch),
                o.textEmbeds());
    }

    private static int[] ids(PromptChunks.Chunk[] chunks) {
        int t = chunks[0].ids().length;
        int[] ids = new int[chunks.length * t];
        for (int i = 0; i < chunks.length; i++) {
            System.arraycopy(chunks[i].ids(), 0, ids, i * t, t);
        }
        return ids;
    }
}
