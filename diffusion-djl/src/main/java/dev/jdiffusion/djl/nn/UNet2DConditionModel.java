package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.Layers.norm;
import static dev.jdiffusion.djl.nn.Layers.scoped;
import static dev.jdiffusion.djl.nn.Layers.silu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.Layers.Attention;
import dev.jdiffusion.djl.nn.Layers.Conv2d;
import dev.jdiffusion.djl.nn.Layers.Ctx;
import dev.jdiffusion.djl.nn.Layers.Downsample2D;
import dev.jdiffusion.djl.nn.Layers.Linear;
import dev.jdiffusion.djl.nn.Layers.Module;
import dev.jdiffusion.djl.nn.Layers.ModuleList;
import dev.jdiffusion.djl.nn.Layers.ResnetBlock2D;
import dev.jdiffusion.djl.nn.Layers.Upsample2D;
import java.util.ArrayList;
import java.util.List;

/**
 * The noise-prediction UNet of latent diffusion (Rombach et al. 2022) as diffusers'
 * {@code UNet2DConditionModel}: a sinusoidal time embedding and an optional class embedding
 * feed every residual block; down blocks halve the resolution, the mid block works at the
 * coarsest one, up blocks double it again and concatenate the matching down-path activations;
 * blocks with attention add a spatial transformer that self-attends and cross-attends to
 * {@code encoder_hidden_states} (e.g. CLIP text embeddings). All sizes come from {@link
 * UNet2DConditionConfig}; {@link ParameterNames#of} gives exactly diffusers' state-dict keys.
 *
 * <p><b>Forward input</b> ({@link #forward(ParameterStore, NDList, boolean, PairList)}), in
 * this order, only the entries this model uses:
 * <ol>
 *   <li>{@code sample} (N, in_channels, H, W) float — noisy latents, already scaled;</li>
 *   <li>{@code timestep} (N), (1) or () float — the discrete timestep t (fractional allowed);</li>
 *   <li>{@code encoder_hidden_states} (N, T, cross_attention_dim) — only if {@link
 *       UNet2DConditionConfig#usesCrossAttention()};</li>
 *   <li>{@code class_labels} (N) integer in [0, num_class_embeds) — only if {@code
 *       num_class_embeds} is set;</li>
 *   <li>{@code text_embeds} (N, P) and {@code time_ids} (N, K) float — only with SDXL's added
 *       conditioning ({@link UNet2DConditionConfig#textTime()}): the pooled text embedding and
 *       the micro-conditioning numbers, P + K × addition_time_embed_dim =
 *       projection_class_embeddings_input_dim.</li>
 *   <li>{@code timestep_cond} (N, time_cond_proj_dim) float — optional, only if {@code
 *       time_cond_proj_dim} is set (LCM-distilled UNets: the guidance-scale embedding).</li>
 * </ol>
 * <b>Output</b>: NDList of one array (N, out_channels, H, W), the prediction (ε, v or x₀ by how
 * the model was trained). Any H, W ≥ 1 work: odd sizes are handled as diffusers does (the
 * strided convolution rounds up, upsampling goes back to the exact size of the matching skip).
 *
 * <p>Parameters have declared shapes: {@code initialize(manager, DataType.FLOAT32)} allocates
 * them with PyTorch's default random init, or assign loaded arrays through {@link
 * ParameterNames#assign}. Each forward keeps its temporaries in {@link ai.djl.ndarray.NDScope}s
 * and returns only the output, attached to the manager of {@code sample}; nothing is added to
 * the parameters' manager. Forward passes from several threads are safe as long as each uses
 * its own {@link ParameterStore}; changing parameters while forwarding is not.
 */
public final class UNet2DConditionModel extends AbstractBlock {

    private final UNet2DConditionConfig config;
    private final Conv2d convIn;
    private final TimestepEmbedding timeEmbedding;
    private final Embedding classEmbedding;
    private final TimestepEmbedding addEmbedding;
    private final ModuleList<DownBlock> downBlocks;
    private final MidBlock midBlock;
    private final ModuleList<UpBlock> upBlocks;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    /**
     * Builds the network (no memory is allocated until {@code initialize} or parameter
     * assignment).
     *
     * @param config a validated configuration
     */
    public UNet2DConditionModel(UNet2DConditionConfig config) {
        this.config = config;
        List<Integer> ch = config.blockOutChannels();
        int n = ch.size();
        int groups = config.normNumGroups();
        float eps = config.normEps();
        int temb = config.timeEmbedDim();
        boolean linearProj = config.useLinearProjection();

        convIn = addChildBlock("conv_in",
                new Conv2d(config.inChannels(), ch.get(0), config.convInKernel()));
        timeEmbedding = addChildBlock("time_embedding",
                new TimestepEmbedding(ch.get(0), temb, config.timeCondProjDim()));
        classEmbedding = config.numClassEmbeds() == null ? null
                : addChildBlock("class_embedding", new Embedding(config.numClassEmbeds(), temb));
        addEmbedding = config.textTime() == null ? null : addChildBlock("add_embedding",
                new TimestepEmbedding(config.textTime().inputDim(), temb, null));

        downBlocks = addChildBlock("down_blocks", new ModuleList<>());
        int out = ch.get(0);
        for (int i = 0; i < n; i++) {
            int in = out;
            out = ch.get(i);
            boolean cross = UNet2DConditionConfig.CROSS_DOWN.equals(
                    config.downBlockTypes().get(i));
            downBlocks.add(new DownBlock(in, out, temb, config.layersPerBlock().get(i), groups,
                    eps, cross ? new AttentionSpec(config.attentionHeadDim().get(i),
                            config.crossAttentionDim().get(i),
                            config.transformerLayersPerBlock().get(i), linearProj) : null,
                    i < n - 1, config.downsamplePadding()));
        }

        String mid = config.midBlockType();
        int last = ch.get(n - 1);
        midBlock = mid == null ? null : addChildBlock("mid_block", new MidBlock(last, temb,
                groups, eps, config.midBlockScaleFactor(),
                UNet2DConditionConfig.CROSS_MID.equals(mid)
                        ? new AttentionSpec(config.attentionHeadDim().get(n - 1),
                                config.crossAttentionDim().get(n - 1),
                                config.transformerLayersPerBlock().get(n - 1), linearProj)
                        : null));

        upBlocks = addChildBlock("up_blocks", new ModuleList<>());
        out = ch.get(n - 1);
        for (int i = 0; i < n; i++) {
            int d = n - 1 - i; // the down block this up block mirrors
            int prev = out;
            out = ch.get(d);
            int skipIn = ch.get(Math.max(d - 1, 0));
            boolean cross = UNet2DConditionConfig.CROSS_UP.equals(config.upBlockTypes().get(i));
            upBlocks.add(new UpBlock(skipIn, out, prev, temb, config.layersPerBlock().get(d) + 1,
                    groups, eps, cross ? new AttentionSpec(config.attentionHeadDim().get(d),
                            config.crossAttentionDim().get(d),
                            config.transformerLayersPerBlock().get(d), linearProj) : null,
                    i < n - 1));
        }

        convNormOut = addChildBlock("conv_norm_out", new GroupNorm(groups, ch.get(0), eps));
        convOut = addChildBlock("conv_out",
                new Conv2d(ch.get(0), config.outChannels(), config.convOutKernel()));
    }

    /**
     * The configuration this network was built from.
     *
     * @return the configuration
     */
    public UNet2DConditionConfig config() {
        return config;
    }

    /**
     * Predicts for one batch; the typed form of {@code forward}.
     *
     * @param ps the parameter store (one per thread)
     * @param sample (N, in_channels, H, W) noisy latents
     * @param timestep (N), (1) or () timesteps
     * @param encoderHiddenStates (N, T, cross_attention_dim), or null for a model without
     *     cross-attention
     * @param classLabels (N) integer labels, or null for a model without class embedding
     * @param training whether parameters are used for training
     * @return (N, out_channels, H, W), attached to the manager of {@code sample}
     * @throws IllegalArgumentException if an input is missing, superfluous or mis-shaped
     */
    public NDArray predict(ParameterStore ps, NDArray sample, NDArray timestep,
            NDArray encoderHiddenStates, NDArray classLabels, boolean training) {
        return predict(ps, sample, timestep, encoderHiddenStates, classLabels, null, null, null,
                training);
    }

    /**
     * Predicts for one batch with every optional input; the typed form of {@code forward}.
     *
     * @param ps the parameter store (one per thread)
     * @param sample (N, in_channels, H, W) noisy latents
     * @param timestep (N), (1) or () timesteps
     * @param encoderHiddenStates (N, T, cross_attention_dim), or null for a model without
     *     cross-attention
     * @param classLabels (N) integer labels, or null for a model without class embedding
     * @param textEmbeds (N, P) pooled text embeddings, or null for a model without {@link
     *     UNet2DConditionConfig#textTime()}
     * @param timeIds (N, K) micro-conditioning numbers (SDXL base: original height and width,
     *     crop top and left, target height and width), or null like {@code textEmbeds}
     * @param timestepCond (N, time_cond_proj_dim), or null for none (always null for a model
     *     without {@code time_cond_proj_dim})
     * @param training whether parameters are used for training
     * @return (N, out_channels, H, W), attached to the manager of {@code sample}
     * @throws IllegalArgumentException if an input is missing, superfluous or mis-shaped
     */
    public NDArray predict(ParameterStore ps, NDArray sample, NDArray timestep,
            NDArray encoderHiddenStates, NDArray classLabels, NDArray textEmbeds,
            NDArray timeIds, NDArray timestepCond, boolean training) {
        checkInputs(sample, timestep, encoderHiddenStates, classLabels);
        checkTextTime(sample.getShape().get(0), textEmbeds, timeIds);
        if (timestepCond != null) {
            Integer dim = config.timeCondProjDim();
            if (dim == null) {
                throw new IllegalArgumentException("timestep_cond given, but this UNet has no"
                        + " time_cond_proj_dim; pass null");
            }
            Shape s = timestepCond.getShape();
            if (s.dimension() != 2 || s.get(0) != sample.getShape().get(0) || s.get(1) != dim) {
                throw new IllegalArgumentException("timestep_cond must be (" + sample.getShape()
                        .get(0) + ", " + dim + ") (got " + s + ")");
            }
        }
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            return predictWithGradModeSet(ps, sample, timestep, encoderHiddenStates,
                    classLabels, textEmbeds, timeIds, timestepCond, training);
        }
    }

    private NDArray predictWithGradModeSet(ParameterStore ps, NDArray sample, NDArray timestep,
            NDArray encoderHiddenStates, NDArray classLabels, NDArray textEmbeds,
            NDArray timeIds, NDArray timestepCond, boolean training) {
        Ctx c = new Ctx(ps, training);
        return scoped(() -> {
            long batch = sample.getShape().get(0);
            NDArray x = config.centerInputSample() ? sample.mul(2).sub(1) : sample;

            // time (and class) embedding: (N) → (N, temb)
            NDArray t = timestep.toType(DataType.FLOAT32, false).reshape(-1);
            if (t.size() == 1 && batch > 1) {
                t = t.broadcast(new Shape(batch));
            }
            NDArray tFreq = timestepEmbedding(t, config.blockOutChannels().get(0),
                    config.flipSinToCos(), config.freqShift())
                    .toType(sample.getDataType(), false); // (N, C0)
            NDArray emb = timeEmbedding.apply(c, tFreq, timestepCond); // (N, temb)
            if (classEmbedding != null) {
                emb = emb.add(classEmbedding.forward(ps, new NDList(classLabels), training)
                        .singletonOrThrow().toType(emb.getDataType(), false));
            }
            if (addEmbedding != null) { // SDXL: text_embeds ++ embed(time_ids) → add_embedding
                UNet2DConditionConfig.TextTime tt = config.textTime();
                NDArray timeEmb = timestepEmbedding(timeIds.reshape(-1), tt.timeEmbedDim(),
                        config.flipSinToCos(), config.freqShift())
                        .reshape(batch, -1); // (N·K, Dt) → (N, K·Dt)
                NDArray added = textEmbeds.toType(DataType.FLOAT32, false).concat(timeEmb, 1)
                        .toType(emb.getDataType(), false); // (N, P + K·Dt)
                emb = emb.add(addEmbedding.apply(c, added, null));
            }
            NDArray ctx = encoderHiddenStates;

            // down: keep every intermediate for the skip connections
            NDArray h = convIn.apply(c, x); // (N, C0, H, W)
            List<NDArray> skips = new ArrayList<>();
            skips.add(h);
            for (DownBlock block : downBlocks.items()) {
                h = block.apply(c, h, emb, ctx, skips);
            }
            if (midBlock != null) {
                h = midBlock.apply(c, h, emb, ctx); // (N, C_last, H/f, W/f)
            }
            // up: each block consumes its resnets' worth of skips, last in first out
            for (UpBlock block : upBlocks.items()) {
                h = block.apply(c, h, emb, ctx, skips);
            }
            return convOut.apply(c, silu(c, norm(c, convNormOut, h))); // (N, out, H, W)
        });
    }

    private void checkInputs(NDArray sample, NDArray timestep, NDArray ehs, NDArray labels) {
        Shape s = sample.getShape();
        if (s.dimension() != 4 || s.get(1) != config.inChannels()) {
            throw new IllegalArgumentException("sample must be (N, " + config.inChannels()
                    + ", H, W); got " + s);
        }
        long n = s.get(0);
        if (timestep == null || timestep.getShape().dimension() > 1
                || (timestep.size() != n && timestep.size() != 1)) {
            throw new IllegalArgumentException("timestep must be (N), (1) or () with N = " + n
                    + "; got " + (timestep == null ? "null" : timestep.getShape()));
        }
        if (config.usesCrossAttention()) {
            if (ehs == null || ehs.getShape().dimension() != 3 || ehs.getShape().get(0) != n) {
                throw new IllegalArgumentException("this model cross-attends: pass "
                        + "encoder_hidden_states (N, T, D) with N = " + n + "; got "
                        + (ehs == null ? "none" : ehs.getShape()));
            }
            long d = ehs.getShape().get(2);
            for (int i = 0; i < config.blockOutChannels().size(); i++) {
                if (config.crossAttentionDim().get(i) != d && attends(i)) {
                    throw new IllegalArgumentException("encoder_hidden_states have width " + d
                            + " but block " + i + " expects cross_attention_dim "
                            + config.crossAttentionDim().get(i));
                }
            }
        } else if (ehs != null) {
            throw new IllegalArgumentException("this model has no cross-attention; pass no "
                    + "encoder_hidden_states");
        }
        if (classEmbedding != null) {
            if (labels == null || labels.getShape().dimension() != 1 || labels.size() != n
                    || labels.getDataType().isFloating()) {
                throw new IllegalArgumentException("this model is class-conditional: pass "
                        + "class_labels as N = " + n + " integers; got "
                        + (labels == null ? "none" : labels.getShape() + " "
                                + labels.getDataType()));
            }
            try (NDArray ids = labels.toType(DataType.INT64, true)) {
                for (long id : ids.toLongArray()) {
                    if (id < 0 || id >= classEmbedding.count()) {
                        throw new IllegalArgumentException("class label " + id
                                + " is outside [0, " + classEmbedding.count() + ")");
                    }
                }
            }
        } else if (labels != null) {
            throw new IllegalArgumentException("this model has no class embedding; pass no "
                    + "class_labels");
        }
    }

    private void checkTextTime(long n, NDArray textEmbeds, NDArray timeIds) {
        UNet2DConditionConfig.TextTime tt = config.textTime();
        if (tt == null) {
            if (textEmbeds != null || timeIds != null) {
                throw new IllegalArgumentException("this model has no added text/time"
                        + " conditioning (addition_embed_type); pass no text_embeds or time_ids");
            }
            return;
        }
        if (textEmbeds == null || timeIds == null || textEmbeds.getShape().dimension() != 2
                || timeIds.getShape().dimension() != 2 || textEmbeds.getShape().get(0) != n
                || timeIds.getShape().get(0) != n) {
            throw new IllegalArgumentException("this model has SDXL's added conditioning"
                    + " (addition_embed_type \"text_time\"): pass text_embeds (N, P) and"
                    + " time_ids (N, K) with N = " + n + "; got "
                    + (textEmbeds == null ? "no text_embeds" : textEmbeds.getShape()) + " and "
                    + (timeIds == null ? "no time_ids" : timeIds.getShape()));
        }
        long width = textEmbeds.getShape().get(1) + timeIds.getShape().get(1) * tt.timeEmbedDim();
        if (width != tt.inputDim()) {
            throw new IllegalArgumentException("text_embeds width " + textEmbeds.getShape().get(1)
                    + " + " + timeIds.getShape().get(1) + " time ids × addition_time_embed_dim "
                    + tt.timeEmbedDim() + " = " + width + ", but the model's"
                    + " projection_class_embeddings_input_dim is " + tt.inputDim());
        }
    }

    private boolean attends(int i) {
        int n = config.blockOutChannels().size();
        return UNet2DConditionConfig.CROSS_DOWN.equals(config.downBlockTypes().get(i))
                || UNet2DConditionConfig.CROSS_UP.equals(config.upBlockTypes().get(n - 1 - i))
                || (i == n - 1 && UNet2DConditionConfig.CROSS_MID.equals(config.midBlockType()));
    }

    /**
     * {@inheritDoc}
     *
     * <p>Inputs and output as described in the class documentation.
     */
    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
            PairList<String, Object> params) {
        int expected = 2 + (config.usesCrossAttention() ? 1 : 0)
                + (classEmbedding != null ? 1 : 0) + (addEmbedding != null ? 2 : 0);
        boolean cond = config.timeCondProjDim() != null && inputs.size() == expected + 1;
        if (inputs.size() != expected && !cond) {
            throw new IllegalArgumentException("expected " + expected + " inputs (sample, "
                    + "timestep" + (config.usesCrossAttention() ? ", encoder_hidden_states" : "")
                    + (classEmbedding != null ? ", class_labels" : "")
                    + (addEmbedding != null ? ", text_embeds, time_ids" : "") + "); got "
                    + inputs.size());
        }
        int i = 2;
        NDArray ehs = config.usesCrossAttention() ? inputs.get(i++) : null;
        NDArray labels = classEmbedding != null ? inputs.get(i++) : null;
        NDArray textEmbeds = addEmbedding != null ? inputs.get(i++) : null;
        NDArray timeIds = addEmbedding != null ? inputs.get(i++) : null;
        NDArray timestepCond = cond ? inputs.get(i) : null;
        return new NDList(predict(ps, inputs.get(0), inputs.get(1), ehs, labels, textEmbeds,
                timeIds, timestepCond, training));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape s = inputShapes[0];
        return new Shape[] {new Shape(s.get(0), config.outChannels(), s.get(2), s.get(3))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType,
            Shape... inputShapes) {
        for (Block child : children.values()) {
            child.initialize(manager, dataType, inputShapes);
        }
    }

    @Override
    public String toString() {
        return "UNet2DConditionModel" + config.blockOutChannels();
    }

    /**
     * The sinusoidal timestep embedding of DDPM/diffusers' {@code get_timestep_embedding}:
     * frequencies f_i = exp(−ln(10000) · i / (half − shift)), i < half = dim / 2, and the
     * embedding [sin(t·f), cos(t·f)] (or [cos, sin] when flipped), zero-padded to an odd dim.
     *
     * @param t (N) float timesteps
     * @param dim the embedding width
     * @param flipSinToCos whether cosines come first
     * @param shift diffusers' downscale_freq_shift
     * @return (N, dim) float32, on the manager of {@code t}
     */
    static NDArray timestepEmbedding(NDArray t, int dim, boolean flipSinToCos, float shift) {
        int half = dim / 2;
        float[] freqs = new float[half];
        float scale = (float) -Math.log(10000) / (half - shift);
        for (int i = 0; i < half; i++) {
            freqs[i] = (float) Math.exp(scale * i);
        }
        NDArray f = t.getManager().create(freqs, new Shape(1, half));
        NDArray args = t.toType(DataType.FLOAT32, false).reshape(-1, 1).mul(f); // (N, half)
        NDArray sin = args.sin();
        NDArray cos = args.cos();
        NDArray emb = flipSinToCos ? cos.concat(sin, 1) : sin.concat(cos, 1); // (N, 2·half)
        return dim % 2 == 1 ? emb.pad(new Shape(0, 1), 0) : emb;
    }

    /**
     * The MLP on the sinusoidal embedding: linear_1, SiLU, linear_2; with {@code
     * time_cond_proj_dim}, the condition projected by cond_proj (no bias) is added first.
     */
    static final class TimestepEmbedding extends Module {

        private final Linear linear1;
        private final Linear linear2;
        private final Linear condProj;

        TimestepEmbedding(int in, int dim, Integer condProjDim) {
            condProj = condProjDim == null ? null
                    : addChildBlock("cond_proj", new Linear(condProjDim, in, false));
            linear1 = addChildBlock("linear_1", new Linear(in, dim, true));
            linear2 = addChildBlock("linear_2", new Linear(dim, dim, true));
        }

        NDArray apply(Ctx c, NDArray x, NDArray condition) { // (N, in) → (N, dim)
            if (condition != null) {
                x = x.add(condProj.apply(c, condition.toType(x.getDataType(), false)));
            }
            return linear2.apply(c, silu(c, linear1.apply(c, x)));
        }
    }

    /** How the blocks with attention are built. */
    record AttentionSpec(int heads, int crossDim, int layers, boolean linearProjection) {}

    /**
     * The spatial transformer (diffusers' {@code Transformer2DModel}, continuous input): group
     * norm, proj_in, transformer blocks over the H·W positions as a sequence, proj_out, plus
     * the input as residual.
     */
    static final class Transformer2DModel extends Module {

        private final int inner;
        private final boolean linear;
        private final GroupNorm norm;
        private final Module projIn;
        private final ModuleList<BasicTransformerBlock> blocks;
        private final Module projOut;

        Transformer2DModel(int channels, AttentionSpec spec, int groups) {
            int headDim = channels / spec.heads();
            inner = spec.heads() * headDim;
            linear = spec.linearProjection();
            norm = addChildBlock("norm", new GroupNorm(groups, channels, 1e-6f));
            projIn = addChildBlock("proj_in", linear ? new Linear(channels, inner, true)
                    : new Conv2d(channels, inner, 1));
            blocks = addChildBlock("transformer_blocks", new ModuleList<>());
            for (int i = 0; i < spec.layers(); i++) {
                blocks.add(new BasicTransformerBlock(inner, spec.heads(), headDim,
                        spec.crossDim()));
            }
            projOut = addChildBlock("proj_out", linear ? new Linear(inner, channels, true)
                    : new Conv2d(inner, channels, 1));
        }

        private static NDArray project(Ctx c, Module layer, NDArray x) {
            return layer instanceof Linear l ? l.apply(c, x) : ((Conv2d) layer).apply(c, x);
        }

        /** x (N, C, H, W), context (N, T, D) → (N, C, H, W). */
        NDArray apply(Ctx c, NDArray x, NDArray context) {
            return scoped(() -> {
                Shape s = x.getShape();
                long n = s.get(0);
                long hh = s.get(2);
                long ww = s.get(3);
                NDArray h = norm(c, norm, x);
                if (linear) { // (N, C, H, W) → (N, HW, C) → (N, HW, inner)
                    h = project(c, projIn, h.transpose(0, 2, 3, 1).reshape(n, hh * ww, -1));
                } else { // (N, inner, H, W) → (N, HW, inner)
                    h = project(c, projIn, h).transpose(0, 2, 3, 1).reshape(n, hh * ww, inner);
                }
                for (BasicTransformerBlock block : blocks.items()) {
                    h = block.apply(c, h, context);
                }
                if (linear) { // (N, HW, C) → (N, C, H, W)
                    h = project(c, projOut, h).reshape(n, hh, ww, -1).transpose(0, 3, 1, 2);
                } else {
                    h = project(c, projOut, h.reshape(n, hh, ww, inner).transpose(0, 3, 1, 2));
                }
                return h.add(x);
            });
        }
    }

    /**
     * A pre-norm transformer block: self-attention (attn1), cross-attention to the context
     * (attn2), GEGLU feed-forward (ff), each with a layer norm in front and a residual.
     */
    static final class BasicTransformerBlock extends Module {

        private final LayerNorm norm1;
        private final Attention attn1;
        private final LayerNorm norm2;
        private final Attention attn2;
        private final LayerNorm norm3;
        private final FeedForward ff;

        BasicTransformerBlock(int dim, int heads, int headDim, int crossDim) {
            norm1 = addChildBlock("norm1", new LayerNorm(dim, 1e-5f));
            attn1 = addChildBlock("attn1", new Attention(dim, dim, heads, headDim, false));
            norm2 = addChildBlock("norm2", new LayerNorm(dim, 1e-5f));
            attn2 = addChildBlock("attn2", new Attention(dim, crossDim, heads, headDim, false));
            norm3 = addChildBlock("norm3", new LayerNorm(dim, 1e-5f));
            ff = addChildBlock("ff", new FeedForward(dim, 4 * dim));
        }

        private static NDArray ln(Ctx c, LayerNorm norm, NDArray x) {
            return norm.forward(c.ps(), new NDList(x), c.training()).singletonOrThrow();
        }

        /** x (N, L, dim), context (N, T, D) → (N, L, dim). */
        NDArray apply(Ctx c, NDArray x, NDArray context) {
            return scoped(() -> {
                NDArray h = x.add(attn1.apply(c, ln(c, norm1, x), null));
                h = h.add(attn2.apply(c, ln(c, norm2, h), context));
                return h.add(ff.apply(c, ln(c, norm3, h)));
            });
        }
    }

    /** net.0 = GEGLU (proj: dim → 2·inner), net.1 = dropout, net.2 = linear inner → dim. */
    static final class FeedForward extends Module {

        private final Linear proj;
        private final Linear out;

        FeedForward(int dim, int inner) {
            ModuleList<Module> net = addChildBlock("net", new ModuleList<>());
            Geglu geglu = new Geglu(dim, inner);
            net.add(geglu);
            net.add(new Dropout());
            out = new Linear(inner, dim, true);
            net.add(out);
            proj = geglu.proj;
        }

        NDArray apply(Ctx c, NDArray x) { // (N, L, dim) → (N, L, dim)
            return scoped(() -> {
                NDArray both = proj.apply(c, x); // (N, L, 2·inner)
                NDList parts = both.split(2, both.getShape().dimension() - 1); // 2 × (N, L, inner)
                NDArray gate = Activation.gelu(parts.get(1));
                // in inference the product goes in place into gelu's fresh output (a 4·dim-wide
                // temporary fewer); autograd needs that output intact
                NDArray hidden = c.training() ? parts.get(0).mul(gate) : gate.muli(parts.get(0));
                return out.apply(c, hidden);
            });
        }
    }

    /** Holds the GEGLU projection under the name "proj". */
    static final class Geglu extends Module {

        final Linear proj;

        Geglu(int dim, int inner) {
            proj = addChildBlock("proj", new Linear(dim, 2 * inner, true));
        }
    }

    /** A placeholder for a parameter-free dropout layer, keeping list positions as diffusers'. */
    static final class Dropout extends Module {}

    /**
     * A down block (diffusers' {@code DownBlock2D} or, with attention, {@code
     * CrossAttnDownBlock2D}): resnets (each followed by a transformer when attending), then a
     * strided-conv downsampler unless it is the last block. Every output is kept as a skip.
     */
    static final class DownBlock extends Module {

        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;
        private final Downsample2D downsampler;

        DownBlock(int in, int out, int temb, int layers, int groups, float eps,
                AttentionSpec attention, boolean downsample, int padding) {
            resnets = addChildBlock("resnets", new ModuleList<>());
            attentions = attention == null ? null
                    : addChildBlock("attentions", new ModuleList<>());
            for (int i = 0; i < layers; i++) {
                resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, temb, groups, eps, 1f));
                if (attentions != null) {
                    attentions.add(new Transformer2DModel(out, attention, groups));
                }
            }
            if (downsample) {
                ModuleList<Downsample2D> list = addChildBlock("downsamplers", new ModuleList<>());
                list.add(new Downsample2D(out, padding));
                downsampler = list.get(0);
            } else {
                downsampler = null;
            }
        }

        NDArray apply(Ctx c, NDArray x, NDArray temb, NDArray context, List<NDArray> skips) {
            NDArray h = x;
            for (int i = 0; i < resnets.size(); i++) {
                h = resnets.get(i).apply(c, h, temb);
                if (attentions != null) {
                    h = attentions.get(i).apply(c, h, context);
                }
                skips.add(h);
            }
            if (downsampler != null) {
                h = downsampler.apply(c, h); // (N, C, ⌈H/2⌉, ⌈W/2⌉)
                skips.add(h);
            }
            return h;
        }
    }

    /**
     * The mid block: resnet, then (transformer, resnet) per layer ({@code
     * UNetMidBlock2DCrossAttn}); or a single resnet ({@code UNetMidBlock2D} as the conditional
     * UNet builds it: no attention).
     */
    static final class MidBlock extends Module {

        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;

        MidBlock(int channels, int temb, int groups, float eps, float scale,
                AttentionSpec attention) {
            resnets = addChildBlock("resnets", new ModuleList<>());
            resnets.add(new ResnetBlock2D(channels, channels, temb, groups, eps, scale));
            if (attention != null) {
                attentions = addChildBlock("attentions", new ModuleList<>());
                attentions.add(new Transformer2DModel(channels, attention, groups));
                resnets.add(new ResnetBlock2D(channels, channels, temb, groups, eps, scale));
            } else {
                attentions = null;
            }
        }

        NDArray apply(Ctx c, NDArray x, NDArray temb, NDArray context) {
            NDArray h = resnets.get(0).apply(c, x, temb);
            if (attentions != null) {
                for (int i = 0; i < attentions.size(); i++) {
                    h = attentions.get(i).apply(c, h, context);
                    h = resnets.get(i + 1).apply(c, h, temb);
                }
            }
            return h;
        }
    }

    /**
     * An up block ({@code UpBlock2D} / {@code CrossAttnUpBlock2D}): each resnet takes the
     * previous output concatenated with one skip (channels add up), optionally followed by a
     * transformer; then nearest ×2 upsampling and a conv unless it is the last block.
     */
    static final class UpBlock extends Module {

        private final ModuleList<ResnetBlock2D> resnets;
        private final ModuleList<Transformer2DModel> attentions;
        private final Upsample2D upsampler;

        UpBlock(int skipIn, int out, int prev, int temb, int layers, int groups, float eps,
                AttentionSpec attention, boolean upsample) {
            resnets = addChildBlock("resnets", new ModuleList<>());
            attentions = attention == null ? null
                    : addChildBlock("attentions", new ModuleList<>());
            for (int i = 0; i < layers; i++) {
                int skip = i == layers - 1 ? skipIn : out;
                int in = i == 0 ? prev : out;
                resnets.add(new ResnetBlock2D(in + skip, out, temb, groups, eps, 1f));
                if (attentions != null) {
                    attentions.add(new Transformer2DModel(out, attention, groups));
                }
            }
            if (upsample) {
                ModuleList<Upsample2D> list = addChildBlock("upsamplers", new ModuleList<>());
                list.add(new Upsample2D(out));
                upsampler = list.get(0);
            } else {
                upsampler = null;
            }
        }

        NDArray apply(Ctx c, NDArray x, NDArray temb, NDArray context, List<NDArray> skips) {
            NDArray h = x;
            for (int i = 0; i < resnets.size(); i++) {
                NDArray in = h;
                NDArray skip = skips.remove(skips.size() - 1);
                ResnetBlock2D resnet = resnets.get(i);
                h = scoped(() -> resnet.apply(c, in.concat(skip, 1), temb)); // (N, C+C_skip,.)
                if (attentions != null) {
                    h = attentions.get(i).apply(c, h, context);
                }
            }
            if (upsampler != null) {
                Shape next = skips.get(skips.size() - 1).getShape(); // size of the next skip
                h = upsampler.apply(c, h, new long[] {next.get(2), next.get(3)});
            }
            return h;
        }
    }
}
