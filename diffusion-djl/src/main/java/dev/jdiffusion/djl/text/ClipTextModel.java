package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.Pair;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.Embedding;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.nn.LayerNorm;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * CLIP's text transformer (transformers' {@code CLIPTextModel}) as a DJL block: token and
 * position embeddings, pre-LayerNorm transformer layers with causal self-attention and a
 * quick-GELU (or GELU) MLP, and a final LayerNorm.
 *
 * <p>Forward: {@code NDList(inputIds (N, T) integer, T ≤ max_position_embeddings)} → {@code
 * NDList(lastHiddenState (N, T, hidden))}, float32 (or the parameters' type). The optional
 * forward parameter {@value #CLIP_SKIP} (an {@code Integer} k ≥ 0) stops k layers early and
 * applies the final LayerNorm to that layer's output, as diffusers does for {@code clip_skip};
 * {@link #encode} takes it as an argument.
 *
 * <p>Parameters are named exactly as the keys of a transformers checkpoint
 * ({@code text_model.encoder.layers.0.self_attn.q_proj.weight}, see {@link
 * dev.jdiffusion.djl.nn.ParameterNames}) and have their shapes before initialization. The
 * {@code text_model.embeddings.position_ids} buffer some checkpoints contain is not a parameter:
 * positions are always 0..T−1, so loaders skip that key ({@link #BUFFER_KEYS}).
 *
 * <p>Memory: every array of a forward call, result included, belongs to the manager of the
 * input ids (none is left in the parameters' manager); call it in a sub-manager.
 *
 * <p>Thread-safety: after its weights are set, concurrent forward calls are safe as long as
 * each uses its own {@link ParameterStore} and managers; the block holds no per-call state.
 */
public final class ClipTextModel extends AbstractBlock {

    /** The forward parameter that selects the clip-skip layer count (an {@code Integer}). */
    public static final String CLIP_SKIP = "clip_skip";

    /**
     * Checkpoint keys that are buffers, not parameters, and are skipped when loading
     * ({@code text_model.embeddings.position_ids}: always 0..76).
     */
    public static final Set<String> BUFFER_KEYS = Set.of("text_model.embeddings.position_ids");

    private final ClipTextConfig config;
    private final TextTransformer textModel;

    /**
     * Creates the block with unset weights of known shapes.
     *
     * @param config the encoder's configuration
     */
    public ClipTextModel(ClipTextConfig config) {
        this.config = config;
        this.textModel = addChildBlock("text_model", new TextTransformer(config));
    }

    /**
     * The configuration.
     *
     * @return the configuration this block was built from
     */
    public ClipTextConfig config() {
        return config;
    }

    /**
     * Encodes token ids.
     *
     * @param ps the parameter store of this call
     * @param inputIds (N, T) token ids, any integer type
     * @param clipSkip how many final layers to skip, 0 ≤ clipSkip &lt; layers; 0 is the normal
     *     last hidden state
     * @return (N, T, hidden), the final LayerNorm applied
     * @throws IllegalArgumentException if the shape or {@code clipSkip} is out of range
     */
    public NDArray encode(ParameterStore ps, NDArray inputIds, int clipSkip) {
        return textModel.encode(ps, inputIds, clipSkip, null, null, false);
    }

    /**
     * Encodes token ids, replacing some token embeddings (textual inversion) before the
     * position embeddings are added.
     *
     * @param fixValues (N, T, hidden) the replacement vectors, or {@code null} for none
     * @param fixMask (N, T, hidden) boolean, true where {@code fixValues} replaces the token's
     *     embedding
     */
    NDArray encode(ParameterStore ps, NDArray inputIds, int clipSkip, NDArray fixValues,
            NDArray fixMask) {
        return textModel.encode(ps, inputIds, clipSkip, fixValues, fixMask, false);
    }

    /**
     * The raw output of one layer, without the final LayerNorm: transformers' {@code
     * hidden_states[-1 - skip]} ({@code skip} 1 is the penultimate layer SDXL's pipeline uses).
     *
     * @param ps the parameter store of this call
     * @param inputIds (N, T) token ids, any integer type
     * @param skip how many final layers to leave out, 0 ≤ skip &lt; layers
     * @return (N, T, hidden), owned by the manager of {@code inputIds}
     * @throws IllegalArgumentException if the shape or {@code skip} is out of range
     */
    public NDArray hiddenState(ParameterStore ps, NDArray inputIds, int skip) {
        return hiddenState(ps, inputIds, skip, null, null);
    }

    /** As {@link #hiddenState(ParameterStore, NDArray, int)}, with token embeddings replaced. */
    NDArray hiddenState(ParameterStore ps, NDArray inputIds, int skip, NDArray fixValues,
            NDArray fixMask) {
        try (GradMode g = GradMode.offUnlessTraining(false)) {
            return textModel.run(ps, inputIds, skip, fixValues, fixMask, false);
        }
    }

    /** The text transformer (for {@link ClipTextModelWithProjection}). */
    TextTransformer textModel() {
        return textModel;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        int clipSkip = 0;
        if (params != null && params.get(CLIP_SKIP) != null) {
            clipSkip = ((Number) params.get(CLIP_SKIP)).intValue();
        }
        return new NDList(textModel.encode(ps, inputs.head(), clipSkip, null, null, training));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0].addAll(new Shape(config.hiddenSize()))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... shapes) {
        textModel.initialize(manager, dataType, shapes);
    }

    /** A block whose parameters all have shapes: children initialize without shape inference. */
    abstract static class Container extends AbstractBlock {

        @Override
        protected void initializeChildBlocks(NDManager manager, DataType dataType,
                Shape... shapes) {
            for (Pair<String, Block> child : getChildren()) {
                child.getValue().initialize(manager, dataType, shapes);
            }
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            throw new UnsupportedOperationException(
                    getClass().getSimpleName() + " is called through ClipTextModel");
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            throw new UnsupportedOperationException(
                    getClass().getSimpleName() + " is called through ClipTextModel");
        }
    }

    /** PyTorch's {@code nn.Linear}: y = x·Wᵀ + b with W (out, in). */
    static final class Linear extends Container {
        private final int out;
        private final Parameter weight;
        private final Parameter bias;

        Linear(int in, int out) {
            this.out = out;
            this.weight = addParameter(Parameter.builder().setName("weight")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(out, in)).build());
            this.bias = addParameter(Parameter.builder().setName("bias")
                    .setType(Parameter.Type.BIAS).optShape(new Shape(out)).build());
        }

        NDArray apply(ParameterStore ps, NDArray x, boolean training) {
            Device d = x.getDevice();
            return ai.djl.nn.core.Linear.linear(
                    x, ps.getValue(weight, d, training), ps.getValue(bias, d, training))
                    .singletonOrThrow();
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            return new Shape[] {inputShapes[0].slice(0, inputShapes[0].dimension() - 1)
                    .addAll(new Shape(out))};
        }
    }

    /** Token plus position embeddings. */
    static final class Embeddings extends Container {
        private final Embedding token;
        private final Embedding position;

        Embeddings(ClipTextConfig c) {
            token = addChildBlock("token_embedding", new Embedding(c.vocabSize(), c.hiddenSize()));
            position = addChildBlock("position_embedding",
                    new Embedding(c.maxPositionEmbeddings(), c.hiddenSize()));
        }

        NDArray apply(ParameterStore ps, NDArray ids, NDArray fixValues, NDArray fixMask,
                boolean training) {
            long t = ids.getShape().get(1);
            NDArray positions = ids.getManager()
                    .arange(0, (int) t, 1, DataType.INT64).toDevice(ids.getDevice(), false);
            NDArray tok = token.forward(ps, new NDList(ids), training).singletonOrThrow();
            if (fixValues != null) {
                tok = NDArrays.where(fixMask, fixValues, tok); // (N, T, D)
            }
            NDArray pos = position.forward(ps, new NDList(positions), training).singletonOrThrow();
            return tok.add(pos); // (N, T, D) + (T, D)
        }
    }

    /** Multi-head self-attention with the causal mask. */
    static final class Attention extends Container {
        private final int heads;
        private final int headDim;
        private final Linear q;
        private final Linear k;
        private final Linear v;
        private final Linear o;

        Attention(ClipTextConfig c) {
            int d = c.hiddenSize();
            heads = c.numAttentionHeads();
            headDim = c.headDim();
            k = addChildBlock("k_proj", new Linear(d, d));
            v = addChildBlock("v_proj", new Linear(d, d));
            q = addChildBlock("q_proj", new Linear(d, d));
            o = addChildBlock("out_proj", new Linear(d, d));
        }

        NDArray apply(ParameterStore ps, NDArray x, NDArray mask, boolean training) {
            Shape s = x.getShape();
            long n = s.get(0);
            long t = s.get(1);
            float scale = (float) (1.0 / Math.sqrt(headDim));
            NDArray qh = split(q.apply(ps, x, training).mul(scale), n, t); // (N, H, T, Dh)
            NDArray kh = split(k.apply(ps, x, training), n, t);
            NDArray vh = split(v.apply(ps, x, training), n, t);
            NDArray scores = qh.matMul(kh.transpose(0, 1, 3, 2)).add(mask); // (N, H, T, T)
            NDArray attn = scores.softmax(-1).matMul(vh); // (N, H, T, Dh)
            NDArray merged = attn.transpose(0, 2, 1, 3).reshape(n, t, (long) heads * headDim);
            return o.apply(ps, merged, training); // (N, T, D)
        }

        private NDArray split(NDArray x, long n, long t) {
            return x.reshape(n, t, heads, headDim).transpose(0, 2, 1, 3);
        }
    }

    /** The feed-forward part: fc1, activation, fc2. */
    static final class Mlp extends Container {
        private final Linear fc1;
        private final Linear fc2;
        private final boolean quickGelu;

        Mlp(ClipTextConfig c) {
            fc1 = addChildBlock("fc1", new Linear(c.hiddenSize(), c.intermediateSize()));
            fc2 = addChildBlock("fc2", new Linear(c.intermediateSize(), c.hiddenSize()));
            quickGelu = ClipTextConfig.QUICK_GELU.equals(c.hiddenAct());
        }

        NDArray apply(ParameterStore ps, NDArray x, boolean training) {
            NDArray h = fc1.apply(ps, x, training); // (N, T, I)
            h = quickGelu ? h.mul(Activation.sigmoid(h.mul(1.702f))) : Activation.gelu(h);
            return fc2.apply(ps, h, training); // (N, T, D)
        }
    }

    /** One pre-LN transformer layer: x + attn(ln1(x)), then + mlp(ln2(x)). */
    static final class EncoderLayer extends Container {
        private final Attention selfAttn;
        private final LayerNorm norm1;
        private final Mlp mlp;
        private final LayerNorm norm2;

        EncoderLayer(ClipTextConfig c) {
            selfAttn = addChildBlock("self_attn", new Attention(c));
            norm1 = addChildBlock("layer_norm1", new LayerNorm(c.hiddenSize(), c.layerNormEps()));
            mlp = addChildBlock("mlp", new Mlp(c));
            norm2 = addChildBlock("layer_norm2", new LayerNorm(c.hiddenSize(), c.layerNormEps()));
        }

        NDArray apply(ParameterStore ps, NDArray x, NDArray mask, boolean training) {
            NDArray h = norm1.forward(ps, new NDList(x), training).singletonOrThrow();
            x = x.add(selfAttn.apply(ps, h, mask, training));
            h = norm2.forward(ps, new NDList(x), training).singletonOrThrow();
            return x.add(mlp.apply(ps, h, training));
        }
    }

    /** The numbered layer list, children "0".."L−1". */
    static final class Layers extends Container {
        private final EncoderLayer[] layers;

        Layers(ClipTextConfig c) {
            layers = new EncoderLayer[c.numHiddenLayers()];
            for (int i = 0; i < layers.length; i++) {
                layers[i] = addChildBlock(Integer.toString(i), new EncoderLayer(c));
            }
        }
    }

    /** The encoder: holds {@code layers}. */
    static final class Encoder extends Container {
        private final Layers layers;

        Encoder(ClipTextConfig c) {
            layers = addChildBlock("layers", new Layers(c));
        }
    }

    /** transformers' {@code CLIPTextTransformer}: embeddings, encoder, final LayerNorm. */
    static final class TextTransformer extends Container {
        private final ClipTextConfig config;
        private final Embeddings embeddings;
        private final Encoder encoder;
        private final LayerNorm finalNorm;

        TextTransformer(ClipTextConfig c) {
            config = c;
            embeddings = addChildBlock("embeddings", new Embeddings(c));
            encoder = addChildBlock("encoder", new Encoder(c));
            finalNorm = addChildBlock("final_layer_norm",
                    new LayerNorm(c.hiddenSize(), c.layerNormEps()));
        }

        NDArray encode(ParameterStore ps, NDArray ids, int clipSkip, NDArray fixValues,
                NDArray fixMask, boolean training) {
            try (GradMode g = GradMode.offUnlessTraining(training)) {
                return encodeWithGradModeSet(ps, ids, clipSkip, fixValues, fixMask, training);
            }
        }

        private NDArray encodeWithGradModeSet(ParameterStore ps, NDArray ids, int clipSkip,
                NDArray fixValues, NDArray fixMask, boolean training) {
            Shape s = ids.getShape();
            if (s.dimension() != 2 || s.get(1) < 1 || s.get(1) > config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("input ids must be (N, T) with 1 <= T <= "
                        + config.maxPositionEmbeddings() + ", got " + s);
            }
            EncoderLayer[] all = encoder.layers.layers;
            if (clipSkip < 0 || clipSkip >= all.length) {
                throw new IllegalArgumentException("clip_skip must be in 0.." + (all.length - 1)
                        + ", got " + clipSkip);
            }
            int t = (int) s.get(1);
            NDArray x;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                // The embedding lookup is an op on the weight, so its results would belong to
                // the model's manager and outlive the call: keep only the sum, owned by the
                // caller. Every later op runs on x and stays in the caller's manager.
                x = embeddings.apply(ps, ids, fixValues, fixMask, training); // (N, T, D)
                NDScope.unregister(x);
            }
            x.attach(ids.getManager());
            NDArray mask = causalMask(x.getManager(), t).toDevice(x.getDevice(), false)
                    .toType(x.getDataType(), false); // (T, T)
            for (int i = 0; i < all.length - clipSkip; i++) {
                x = all[i].apply(ps, x, mask, training);
            }
            return finalNorm.forward(ps, new NDList(x), training).singletonOrThrow();
        }

        /** The output of layer L − skip, no final LayerNorm. */
        NDArray run(ParameterStore ps, NDArray ids, int skip, NDArray fixValues,
                NDArray fixMask, boolean training) {
            int layers = encoder.layers.layers.length;
            if (skip < 0 || skip >= layers) {
                throw new IllegalArgumentException("the layers to skip must be in 0.."
                        + (layers - 1) + ", got " + skip);
            }
            List<NDArray> states = states(ps, ids, layers - skip, fixValues, fixMask, training);
            return states.get(states.size() - 1);
        }

        /**
         * transformers' hidden_states up to layer {@code upTo}: the embeddings, then each
         * layer's raw output (upTo + 1 arrays, owned by the manager of {@code ids}).
         */
        List<NDArray> states(ParameterStore ps, NDArray ids, int upTo, NDArray fixValues,
                NDArray fixMask, boolean training) {
            Shape s = ids.getShape();
            if (s.dimension() != 2 || s.get(1) < 1 || s.get(1) > config.maxPositionEmbeddings()) {
                throw new IllegalArgumentException("input ids must be (N, T) with 1 <= T <= "
                        + config.maxPositionEmbeddings() + ", got " + s);
            }
            EncoderLayer[] all = encoder.layers.layers;
            NDArray x;
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                x = embeddings.apply(ps, ids, fixValues, fixMask, training); // (N, T, D)
                NDScope.unregister(x);
            }
            x.attach(ids.getManager());
            NDArray mask = causalMask(x.getManager(), (int) s.get(1))
                    .toDevice(x.getDevice(), false).toType(x.getDataType(), false); // (T, T)
            List<NDArray> out = new ArrayList<>();
            out.add(x);
            for (int i = 0; i < upTo; i++) {
                x = all[i].apply(ps, x, mask, training);
                out.add(x);
            }
            return out;
        }

        /** The final LayerNorm. */
        NDArray finalNorm(ParameterStore ps, NDArray x, boolean training) {
            return finalNorm.forward(ps, new NDList(x), training).singletonOrThrow();
        }

        int layerCount() {
            return encoder.layers.layers.length;
        }

        private static NDArray causalMask(NDManager manager, int t) {
            float[] m = new float[t * t];
            for (int i = 0; i < t; i++) {
                Arrays.fill(m, i * t + i + 1, (i + 1) * t, Float.NEGATIVE_INFINITY);
            }
            return manager.create(m, new Shape(t, t));
        }
    }
}
