package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.djl.weights.WeightOverlay;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Text conditioning for Stable Diffusion: prompts → {@link ClipTokenizer} (padded/truncated to
 * 77 tokens) → {@link ClipTextModel} → embeddings (N, 77, hidden), the last hidden state or,
 * with {@code clipSkip} k &gt; 0, the output of the k-th layer from the end with the final
 * LayerNorm applied (diffusers' {@code clip_skip}). A prompt longer than the tokenizer's limit
 * is truncated and a warning is logged with the number of tokens and characters dropped and
 * the first {@value #EXCERPT_CHARS} characters of the ignored text.
 *
 * <p>The result is computed on the text model's device and belongs to the caller's manager; all
 * intermediate arrays are freed before {@link #encode} returns. Thread-safe: the tokenizer and
 * the model's weights are only read.
 */
public final class ClipConditioner implements Conditioner {

    private static final Logger LOG = LoggerFactory.getLogger(ClipConditioner.class);

    private final ClipTokenizer tokenizer;
    private final ClipTextModel model;
    private final int clipSkip;
    private final WeightOverlay overlay;

    /**
     * Joins a tokenizer and a text model.
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
                    + (c.numHiddenLayers() - 1) + ", got " + clipSkip);
        }
        this.tokenizer = tokenizer;
        this.model = model;
        this.clipSkip = clipSkip;
        this.overlay = WeightOverlay.none();
    }

    private ClipConditioner(ClipConditioner base, WeightOverlay overlay) {
        this.tokenizer = base.tokenizer;
        this.model = base.model;
        this.clipSkip = base.clipSkip;
        this.overlay = overlay;
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

    /**
     * Encodes prompts.
     *
     * @param manager the manager that owns the result
     * @param prompts one or more prompts; the empty string is the unconditional input
     * @return {@code NDList(embeddings (N, maxLength, hidden))}, float on the model's device
     * @throws IllegalArgumentException if {@code prompts} is empty
     * @throws IllegalStateException if the model's weights are not set
     */
    @Override
    public NDList encode(NDManager manager, List<String> prompts) {
        if (prompts.isEmpty()) {
            throw new IllegalArgumentException("at least one prompt is needed");
        }
        int n = prompts.size();
        int t = tokenizer.maxLength();
        int[] ids = new int[n * t];
        for (int i = 0; i < n; i++) {
            ClipTokenizer.Encoding e = tokenizer.encode(prompts.get(i));
            if (e.truncated()) {
                warnTruncated(prompts.get(i), e);
            }
            System.arraycopy(e.ids(), 0, ids, i * t, t);
        }
        try (NDManager sub = manager.newSubManager(modelDevice())) {
            NDArray input = sub.create(ids, new Shape(n, t));
            NDArray out = model.encode(overlay.store(sub), input, clipSkip);
            out.attach(manager); // (N, T, D)
            return new NDList(out);
        }
    }

    /** The longest excerpt of the ignored text that the truncation warning quotes. */
    static final int EXCERPT_CHARS = 40;

    private void warnTruncated(String prompt, ClipTokenizer.Encoding e) {
        int keep = tokenizer.maxLength() - 2;
        String cleaned = ClipTokenizer.clean(prompt);
        String dropped = cleaned.substring(cleaned.length() - e.droppedChars());
        String excerpt = dropped.codePointCount(0, dropped.length()) <= EXCERPT_CHARS ? dropped
                : dropped.substring(0, dropped.offsetByCodePoints(0, EXCERPT_CHARS)) + "...";
        String tokens = e.textTokens() > tokenizer.countLimit()
                ? "more than " + tokenizer.countLimit() : Integer.toString(e.textTokens());
        LOG.warn("Prompt has {} tokens, more than the {} the text encoder takes; ignored the last"
                + " {} of its {} characters (after clean-up), from \"{}\"", tokens, keep,
                e.droppedChars(), cleaned.length(), escape(excerpt));
    }

    /** The excerpt on one line: controls (a prompt may hold any) as {@code \\uXXXX}. */
    private static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            boolean lone = Character.isHighSurrogate(c)
                    ? i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))
                    : Character.isLowSurrogate(c)
                            && (i == 0 || !Character.isHighSurrogate(s.charAt(i - 1)));
            if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029' || lone) {
                sb.append(String.format(java.util.Locale.ROOT, "\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private Device modelDevice() {
        for (Pair<String, Parameter> p : model.getParameters()) {
            if (!p.getValue().isInitialized()) {
                throw new IllegalStateException("the text model's weights are not set ("
                        + p.getKey() + " is uninitialized): load or initialize them first");
            }
        }
        return model.getParameters().valueAt(0).getArray().getDevice();
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
     * This conditioner with some of the text model's weights replaced (for example LoRA-patched
     * layers); the model itself is not changed, so this conditioner and the new one can encode
     * at the same time.
     *
     * @param weights the replacement values; the caller keeps them alive while the new
     *     conditioner is used
     * @return a new conditioner with the same tokenizer, model and clip skip
     */
    public ClipConditioner withWeightOverlay(WeightOverlay weights) {
        return new ClipConditioner(this, java.util.Objects.requireNonNull(weights, "weights"));
    }
}
