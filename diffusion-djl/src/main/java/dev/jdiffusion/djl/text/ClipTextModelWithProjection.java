package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.GradMode;
import java.util.List;

/**
 * CLIP's text transformer with its projection head (transformers' {@code
 * CLIPTextModelWithProjection}, SDXL's {@code text_encoder_2}): the {@link ClipTextModel}
 * transformer plus {@code text_projection}, a linear map without bias from the width D to
 * {@code projection_dim} P applied to the pooled output. The pooled output is the
 * final-LayerNormed last hidden state at each sequence's end-of-text token, found as
 * transformers 4.38 finds it: with the legacy {@code eos_token_id} 2 that the released SDXL
 * configs carry, the position of the largest id (CLIP's end-of-text token is the last id of its
 * vocabulary, so this is its first occurrence); otherwise the first position holding {@code
 * eos_token_id} (position 0 if there is none).
 *
 * <p>Forward: {@code NDList(inputIds (N, T))} → {@code NDList(textEmbeds (N, P), lastHiddenState
 * (N, T, D))}. Parameter names are a transformers checkpoint's ({@code text_model.*}, {@code
 * text_projection.weight}); the {@link ClipTextModel#BUFFER_KEYS} are skipped when loading.
 *
 * <p>Memory and thread-safety as {@link ClipTextModel}: results belong to the manager of the
 * input ids; concurrent calls are safe with a {@link ParameterStore} each.
 */
public final class ClipTextModelWithProjection extends AbstractBlock {

    /** transformers' legacy {@code eos_token_id}, meaning "pool at the largest id". */
    public static final int LEGACY_EOS_TOKEN_ID = 2;

    private final ClipTextConfig config;
    private final int eosTokenId;
    private final int projectionDim;
    private final ClipTextModel.TextTransformer textModel;
    private final Projection projection;

    /**
     * Creates the block with unset weights of known shapes.
     *
     * @param config the encoder's configuration; {@code projection_dim} gives P (transformers'
     *     default 512 when absent)
     * @param eosTokenId the config's {@code eos_token_id}; {@value #LEGACY_EOS_TOKEN_ID} pools
     *     at the largest id
     * @throws IllegalArgumentException if {@code eosTokenId} is negative
     */
    public ClipTextModelWithProjection(ClipTextConfig config, int eosTokenId) {
        if (eosTokenId < 0) {
            throw new IllegalArgumentException("eos_token_id must be >= 0, got " + eosTokenId);
        }
        this.config = config;
        this.eosTokenId = eosTokenId;
        this.projectionDim = config.projectionDim().orElse(512);
        this.textModel = addChildBlock("text_model", new ClipTextModel.TextTransformer(config));
        this.projection = addChildBlock("text_projection",
                new Projection(config.hiddenSize(), projectionDim));
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
     * The width of the projected, pooled output.
     *
     * @return P
     */
    public int projectionDim() {
        return projectionDim;
    }

    /**
     * The token id the pooled output is taken at.
     *
     * @return the eos_token_id given at construction
     */
    public int eosTokenId() {
        return eosTokenId;
    }

    /**
     * What one call yields.
     *
     * @param hiddenState (N, T, D) the raw output of the requested layer (no final LayerNorm)
     * @param textEmbeds (N, P) the projected pooled output of the last layer
     */
    public record Output(NDArray hiddenState, NDArray textEmbeds) {}

    /**
     * Encodes token ids in one pass: the raw hidden state of layer L − {@code skip}
     * (transformers' {@code hidden_states[-1 - skip]}) and the projected pooled output.
     *
     * @param ps the parameter store of this call
     * @param inputIds (N, T) token ids, any integer type
     * @param skip how many final layers the hidden state leaves out, 0 ≤ skip &lt; layers
     * @return both outputs, owned by the manager of {@code inputIds}
     * @throws IllegalArgumentException if the shape or {@code skip} is out of range
     */
    public Output encode(ParameterStore ps, NDArray inputIds, int skip) {
        try (GradMode g = GradMode.offUnlessTraining(false)) {
            return encode(ps, inputIds, skip, null, null, false);
        }
    }

    /** As {@link #encode(ParameterStore, NDArray, int)}, with token embeddings replaced. */
    Output encode(ParameterStore ps, NDArray inputIds, int skip, NDArray fixValues,
            NDArray fixMask) {
        try (GradMode g = GradMode.offUnlessTraining(false)) {
            return encode(ps, inputIds, skip, fixValues, fixMask, false);
        }
    }

    private Output encode(ParameterStore ps, NDArray inputIds, int skip, NDArray fixValues,
            NDArray fixMask, boolean training) {
        int layers = textModel.layerCount();
        if (skip < 0 || skip >= layers) {
            throw new IllegalArgumentException("the layers to skip must be in 0.."
                    + (layers - 1) + ", got " + skip);
        }
        List<NDArray> states = textModel.states(ps, inputIds, layers, fixValues, fixMask,
                training);
        NDArray last = textModel.finalNorm(ps, states.get(layers), training); // (N, T, D)
        int[] at = poolPositions(inputIds);
        NDList rows = new NDList();
        for (int i = 0; i < at.length; i++) {
            rows.add(last.get(new NDIndex("{}, {}", i, at[i]))); // (D)
        }
        NDArray pooled = NDArrays.stack(rows, 0); // (N, D)
        return new Output(states.get(layers - skip), projection.apply(ps, pooled, training));
    }

    /** Per row, the position of the end-of-text token as transformers 4.38 finds it. */
    int[] poolPositions(NDArray inputIds) {
        long n = inputIds.getShape().get(0);
        int t = (int) inputIds.getShape().get(1);
        int[] ids = inputIds.toType(DataType.INT32, false).toIntArray();
        int[] at = new int[(int) n];
        for (int r = 0; r < n; r++) {
            int best = 0;
            for (int j = 0; j < t; j++) {
                int id = ids[r * t + j];
                if (eosTokenId == LEGACY_EOS_TOKEN_ID) {
                    if (id > ids[r * t + best]) {
                        best = j;
                    }
                } else if (id == eosTokenId) {
                    best = j;
                    break;
                }
            }
            at[r] = best;
        }
        return at;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
            PairList<String, Object> params) {
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            Output out = encode(ps, inputs.head(), 0, null, null, training);
            return new NDList(out.textEmbeds(), out.hiddenState());
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape ids = inputShapes[0];
        return new Shape[] {new Shape(ids.get(0), projectionDim),
            ids.addAll(new Shape(config.hiddenSize()))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... shapes) {
        textModel.initialize(manager, dataType, shapes);
        projection.initialize(manager, dataType, shapes);
    }

    /** {@code text_projection}: y = x·Wᵀ with W (P, D), no bias. */
    static final class Projection extends ClipTextModel.Container {
        private final Parameter weight;

        Projection(int in, int out) {
            weight = addParameter(Parameter.builder().setName("weight")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(out, in)).build());
        }

        NDArray apply(ParameterStore ps, NDArray x, boolean training) {
            Device d = x.getDevice();
            // An op on x, so the result belongs to x's manager, not the weights'.
            return ai.djl.nn.core.Linear.linear(x, ps.getValue(weight, d, training))
                    .singletonOrThrow(); // (N, D) → (N, P)
        }
    }
}
