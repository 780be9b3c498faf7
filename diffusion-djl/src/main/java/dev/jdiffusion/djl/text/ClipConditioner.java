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
import java.util.List;

/**
 * Text conditioning for Stable Diffusion: prompts → {@link PromptSyntax prompt syntax} →
 * {@link ClipTokenizer} → chunks of 77 tokens → {@link ClipTextModel} → embeddings (N, 77·k,
 * hidden), the last hidden state or, with {@code clipSkip} k &gt; 0, the output of the k-th
 * layer from the end with the final LayerNorm applied (diffusers' {@code clip_skip}; AUTOMATIC1111
 * calls it "Clip skip" k + 1).
 *
 * <p>Long prompts and weights as AUTOMATIC1111 handles them: the tokens fill chunks of 75 (the
 * tokenizer's length less the start and end tokens), a chunk full at a comma within its last 20
 * tokens ending at that comma, {@code BREAK} starting a new chunk; every chunk is encoded on
 * its own and the results are joined along the sequence. Nothing is truncated; a prompt of more
 * than {@value #MAX_CHUNKS} chunks is refused. When a chunk has weights other than 1, each
 * token's hidden state is multiplied by its weight and the chunk is then scaled so that the
 * mean of its values is what it was before ({@code z *= mean(z) / mean(z·w)}, the mean taken
 * over the chunk's 77 × hidden values of each prompt; AUTOMATIC1111 takes it over the batch,
 * the same for a batch of one prompt). Prompts of different lengths in one call are padded
 * with the encoding of an empty chunk. (Restoring the mean divides by the weighted mean, which is
 * meaningful for trained CLIP encoders, whose final LayerNorm has a bias; an encoder whose
 * states have mean 0 gets arbitrary scaling, in AUTOMATIC1111 as here, and an exact 0 fails
 * with {@link IllegalStateException}.) A prompt of at most 75 tokens without weights is encoded
 * exactly as one 77-token sequence.
 *
 * <p>{@link TextualInversion} embeddings replace the token embeddings of their trigger words
 * (see {@link #withEmbeddings}).
 *
 * <p>The result is computed on the text model's device and belongs to the caller's manager; all
 * intermediate arrays are freed before {@link #encode} returns. Immutable and thread-safe: the
 * tokenizer and the model's weights are only read; the {@code with...} methods return new
 * conditioners that share them.
 */
public final class ClipConditioner implements Conditioner {

    /** The most chunks of 75 tokens a prompt may need (600 tokens), against hostile input. */
    public static final int MAX_CHUNKS = 8;

    private final ClipTokenizer tokenizer;
    private final ClipTextModel model;
    private final int clipSkip;
    private final PromptSyntax syntax;
    private final List<TextualInversion> embeddings;
    private final PromptChunks chunker;
    private final WeightOverlay overlay;

    /**
     * Joins a tokenizer and a text model, reading prompts in {@link PromptSyntax#A1111}.
     *
     * @param tokenizer the tokenizer; its {@link ClipTokenizer#maxLength()} must not exceed the
     *     model's positions and its ids must fit the model's vocabulary
     * @param model the text model; its weights must be set before {@link #encode} is called
     * @param clipSkip 0 for the last layer (the default of every SD pipeline), k to skip the
     *     last k layers
     * @throws IllegalArgumentException if the two do not fit together or {@code clipSkip} is
     *     out of range
     */
    public ClipConditioner(ClipTokenizer tokenizer, ClipTextModel model, int clipSkip) {
        this(tokenizer, model, clipSkip, PromptSyntax.A1111, List.of(), WeightOverlay.none());
    }

    /**
     * Joins a tokenizer and a text model, using the last layer's output.
     *
     * @param tokenizer the tokenizer
     * @param model the text model with its weights set
     */
    public ClipConditioner(ClipTokenizer tokenizer, ClipTextModel model) {
        this(tokenizer, model, 0);
    }

    private ClipConditioner(ClipTokenizer tokenizer, ClipTextModel model, int clipSkip,
            PromptSyntax syntax, List<TextualInversion> embeddings, WeightOverlay overlay) {
        ClipTextConfig c = model.config();
        if (tokenizer.maxLength() > c.maxPositionEmbeddings()) {
            throw new IllegalArgumentException("the tokenizer pads to " + tokenizer.maxLength()
                    + " tokens but the text model has only " + c.maxPositionEmbeddings()
                    + " positions");
        }
        if (tokenizer.vocabSize() > c.vocabSize()) {
            throw new IllegalArgumentException("the tokenizer has " + tokenizer.vocabSize()
                    + " ids but the text model's vocab_size is " + c.vocabSize());
        }
        if (clipSkip < 0 || clipSkip >= c.numHiddenLayers()) {
            throw new IllegalArgumentException("clipSkip must be in 0.."
                    + (c.numHiddenLayers() - 1) + " (the text encoder has "
                    + c.numHiddenLayers() + " layers), got " + clipSkip);
        }
        this.tokenizer = tokenizer;
        this.model = model;
        this.clipSkip = clipSkip;
        this.syntax = java.util.Objects.requireNonNull(syntax, "syntax");
        this.embeddings = List.copyOf(embeddings);
        Triggers triggers = Triggers.of(this.embeddings, tokenizer, c.hiddenSize(),
                tokenizer.maxLength() - 2);
        this.chunker = new PromptChunks(tokenizer, triggers, MAX_CHUNKS);
        this.overlay = java.util.Objects.requireNonNull(overlay, "overlay");
    }

    /**
     * This conditioner with another clip skip.
     *
     * @param clipSkip 0 for the last layer, k to skip the last k layers
     * @return a conditioner sharing the tokenizer, model and embeddings
     * @throws IllegalArgumentException if {@code clipSkip} is out of range for the model
     */
    public ClipConditioner withClipSkip(int clipSkip) {
        return clipSkip == this.clipSkip ? this
                : new ClipConditioner(tokenizer, model, clipSkip, syntax, embeddings, overlay);
    }

    /**
     * This conditioner reading prompts in another syntax.
     *
     * @param syntax the syntax
     * @return a conditioner sharing the tokenizer, model and embeddings
     */
    public ClipConditioner withSyntax(PromptSyntax syntax) {
        return syntax == this.syntax ? this
                : new ClipConditioner(tokenizer, model, clipSkip, syntax, embeddings, overlay);
    }

    /**
     * This conditioner with more textual-inversion embeddings: their trigger words in a prompt
     * become their vectors. This conditioner is unchanged.
     *
     * @param more the embeddings to add to this conditioner's
     * @return a conditioner sharing the tokenizer and model
     * @throws IllegalArgumentException if an embedding's width does not fit the text encoder,
     *     it has more vectors than a chunk has tokens, or two embeddings share a trigger word
     */
    public ClipConditioner withEmbeddings(List<TextualInversion> more) {
        List<TextualInversion> all = new ArrayList<>(embeddings);
        all.addAll(more);
        return new ClipConditioner(tokenizer, model, clipSkip, syntax, all, overlay);
    }

    /**
     * The number of 77-token chunks a prompt is encoded in; checks the prompt without running
     * the text encoder.
     *
     * @param prompt a prompt
     * @return 1 for prompts of up to 75 tokens without {@code BREAK}
     * @throws PromptParseException if the prompt is not valid in this conditioner's syntax
     * @throws IllegalArgumentException if the prompt needs more than {@value #MAX_CHUNKS}
     *     chunks
     */
    public int chunkCount(String prompt) {
        return chunks(prompt).size();
    }

    List<PromptChunks.Chunk> chunks(String prompt) {
        return chunker.of(syntax == PromptSyntax.A1111 ? PromptParser.parse(prompt)
                : PromptParser.plain(prompt));
    }

    /**
     * Encodes prompts.
     *
     * @param manager the manager that owns the result
     * @param prompts one or more prompts; the empty string is the unconditional input
     * @return {@code NDList(embeddings (N, 77·k, hidden))}, k the largest chunk count of the
     *     prompts, in the model's type on its device
     * @throws IllegalArgumentException if {@code prompts} is empty, a prompt is too long, or
     *     (a {@link PromptParseException}) not valid in this conditioner's syntax
     * @throws IllegalStateException if the model's weights are not set
     */
    @Override
    public NDList encode(NDManager manager, List<String> prompts) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        int n = prompts.size();
        List<List<PromptChunks.Chunk>> all = new ArrayList<>(n);
        int count = 0;
        for (String p : prompts) {
            List<PromptChunks.Chunk> c = chunks(p);
            all.add(c);
            count = Math.max(count, c.size());
        }
        Device device = TextModels.deviceOf(model, "the text model");
        try (NDManager sub = manager.newSubManager(device)) {
            ParameterStore ps = overlay.store(sub);
            NDList parts = new NDList();
            PromptChunks.Chunk empty = chunker.empty();
            for (int k = 0; k < count; k++) {
                PromptChunks.Chunk[] batch = new PromptChunks.Chunk[n];
                for (int i = 0; i < n; i++) {
                    batch[i] = k < all.get(i).size() ? all.get(i).get(k) : empty;
                }
                parts.add(encodeChunk(sub, ps, batch));
            }
            NDArray out = parts.size() == 1 ? parts.head() : NDArrays.concat(parts, 1);
            out.attach(manager); // (N, 77k, D)
            return new NDList(out);
        }
    }

    /** One chunk of every prompt through the text model, with weights and embeddings. */
    private NDArray encodeChunk(NDManager sub, ParameterStore ps, PromptChunks.Chunk[] batch) {
        int n = batch.length;
        int t = tokenizer.maxLength();
        int d = model.config().hiddenSize();
        int[] ids = new int[n * t];
        for (int i = 0; i < n; i++) {
            System.arraycopy(batch[i].ids(), 0, ids, i * t, t);
        }
        NDArray input = sub.create(ids, new Shape(n, t));
        DataType type = TextModels.dataType(model);
        NDList fix = PromptChunks.fixArrays(sub, batch, d, type);
        NDArray fixValues = fix == null ? null : fix.get(0);
        NDArray fixMask = fix == null ? null : fix.get(1);
        NDArray z = model.encode(ps, input, clipSkip, fixValues, fixMask); // (N, T, D)
        return Emphasis.apply(sub, z, batch);
    }

    /**
     * The tokenizer.
     *
     * @return the tokenizer given at construction
     */
    public ClipTokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The text model.
     *
     * @return the model given at construction
     */
    public ClipTextModel model() {
        return model;
    }

    /**
     * The number of final layers skipped.
     *
     * @return 0 for the last hidden state
     */
    public int clipSkip() {
        return clipSkip;
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
     * The textual-inversion embeddings in use.
     *
     * @return the embeddings, in the order added
     */
    public List<TextualInversion> embeddings() {
        return embeddings;
    }

    /**
     * This conditioner with some of the text model's weights replaced (for example LoRA-patched
     * layers); the model itself is not changed, so this conditioner and the new one can encode
     * at the same time.
     *
     * @param weights the replacement values; the caller keeps them alive while the new
     *     conditioner is used
     * @return a new conditioner with the same tokenizer, model, clip skip, syntax and embeddings
     */
    public ClipConditioner withWeightOverlay(WeightOverlay weights) {
        return new ClipConditioner(tokenizer, model, clipSkip, syntax, embeddings,
                java.util.Objects.requireNonNull(weights, "weights"));
    }
}
