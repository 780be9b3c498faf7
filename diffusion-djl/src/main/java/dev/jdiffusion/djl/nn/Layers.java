package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import java.util.function.Supplier;

/**
 * The layers the UNet and the VAE are built from, named as in diffusers so that {@link
 * ParameterNames} yields checkpoint keys: {@code Conv2d}, {@code Linear}, {@code ModuleList}
 * (children "0", "1", ...), {@code ResnetBlock2D}, {@code Downsample2D}, {@code Upsample2D} and
 * multi-head {@code Attention}.
 *
 * <p>Every parameter declares its shape when the block is built, so a whole network can be
 * inspected (names, shapes, sizes) before any memory is allocated. Each composite step runs in
 * its own {@link NDScope} ({@link #scoped}): temporaries are closed as soon as the step returns,
 * and nothing is ever attached to the parameters' manager.
 */
final class Layers {

    private Layers() {}

    /** One forward pass: the parameter store and whether we train. */
    record Ctx(ParameterStore ps, boolean training) {

        /** The value of a parameter on the device of {@code like}. */
        NDArray get(Parameter p, NDArray like) {
            if (p == null) {
                return null;
            }
            NDArray value = ps.getValue(p, like.getDevice(), training);
            if (value != p.getArray()) {
                NDScope.unregister(value); // a device copy cached by the store, which owns it
            }
            DataType want = like.getDataType();
            if (value.getDataType() != want && want.isFloating()
                    && value.getDataType().isFloating()) {
                // Weights stored in half precision, computed in the input's precision: a copy
                // per use, owned by the caller's scope and manager, freed with its block.
                NDArray widened = value.toType(want, false);
                widened.attach(like.getManager());
                return widened;
            }
            return value;
        }
    }

    /**
     * Runs {@code body} in a fresh {@link NDScope}: every array it creates is closed on return
     * except the result, which moves to the enclosing scope (if any). The body must return a new
     * array, never one of its inputs.
     */
    static NDArray scoped(Supplier<NDArray> body) {
        NDArray out;
        try (NDScope scope = new NDScope()) {
            scope.suppressNotUsedWarning();
            out = body.get();
            NDScope.unregister(out);
        }
        NDScope.register(out);
        return out;
    }

    /**
     * In inference, frees an intermediate result as soon as the next one exists (at 512² a VAE
     * activation is 128–256 MiB; waiting for the enclosing scope would keep every stage's
     * output alive at once). Nothing is freed in training, where autograd still needs it, nor
     * when {@code done} is the caller's input {@code keep}.
     */
    static void release(Ctx c, NDArray done, NDArray keep) {
        if (!c.training() && done != keep) {
            done.close();
        }
    }

    /** x · sigmoid(x). */
    static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /**
     * x · sigmoid(x); in inference the product is formed in place on the sigmoid temporary (one
     * full-size allocation fewer). Autograd needs the sigmoid output intact, so training uses
     * {@link #silu(NDArray)}.
     */
    static NDArray silu(Ctx c, NDArray x) {
        return c.training() ? silu(x) : x.getNDArrayInternal().sigmoid().muli(x);
    }

    /** silu(norm(x)); in inference the normalised temporary is freed once activated. */
    static NDArray normSilu(Ctx c, GroupNorm norm, NDArray x) {
        NDArray n = norm(c, norm, x);
        NDArray s = silu(c, n);
        release(c, n, x);
        return s;
    }

    /**
     * PyTorch's default initialisation for conv and linear layers: U(−1/√fanIn, 1/√fanIn)
     * (kaiming-uniform with a = √5 for weights, the same bound for biases).
     */
    static Initializer uniformFanIn(long fanIn) {
        float bound = (float) (1.0 / Math.sqrt(fanIn));
        return (manager, shape, dataType) -> manager.randomUniform(-bound, bound, shape, dataType);
    }

    /**
     * Base of all composite blocks here: parameters carry declared shapes, so children are
     * initialised without shape inference, and forward passes go through typed methods.
     */
    abstract static class Module extends AbstractBlock {

        @Override
        protected void initializeChildBlocks(
                NDManager manager, DataType dataType, Shape... inputShapes) {
            for (Block child : children.values()) {
                child.initialize(manager, dataType, inputShapes);
            }
        }

        @Override
        public Shape[] getOutputShapes(Shape[] inputShapes) {
            throw new UnsupportedOperationException(getClass().getSimpleName()
                    + " does not infer output shapes; parameter shapes are declared up front");
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
                PairList<String, Object> params) {
            throw new UnsupportedOperationException(getClass().getSimpleName()
                    + " is a part of a larger network; call the network's forward");
        }

        @Override
        public String toString() {
            return getClass().getSimpleName();
        }
    }

    /** A list of children named "0", "1", ... as PyTorch's {@code nn.ModuleList}. */
    static final class ModuleList<T extends Block> extends Module {

        private final java.util.List<T> items = new java.util.ArrayList<>();

        void add(T block) {
            addChildBlock(Integer.toString(items.size()), block);
            items.add(block);
        }

        T get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }

        java.util.List<T> items() {
            return java.util.Collections.unmodifiableList(items);
        }
    }

    /**
     * A 2-D convolution with square kernel, weight (out, in, k, k) and bias (out). In inference
     * on the CPU, a k×k convolution with few output positions runs as im2col + GEMM ({@link
     * ConvKernels#prefersGemm}).
     */
    static final class Conv2d extends Module {

        private final int out;
        private final int kernel;
        private final int stride;
        private final int padding;
        private final Parameter weight;
        private final Parameter bias;

        Conv2d(int in, int out, int kernel, int stride, int padding) {
            this.out = out;
            this.kernel = kernel;
            this.stride = stride;
            this.padding = padding;
            Initializer init = uniformFanIn((long) in * kernel * kernel);
            weight = addParameter(Parameter.builder().setName("weight")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(out, in, kernel, kernel))
                    .optInitializer(init).build());
            bias = addParameter(Parameter.builder().setName("bias")
                    .setType(Parameter.Type.BIAS).optShape(new Shape(out))
                    .optInitializer(init).build());
        }

        Conv2d(int in, int out, int kernel) {
            this(in, out, kernel, 1, (kernel - 1) / 2);
        }

        NDArray apply(Ctx c, NDArray x) { // (N, in, H, W) → (N, out, H', W')
            if (!c.training() && ConvKernels.prefersGemm(x, out, kernel, stride, padding)) {
                return ConvKernels.gemm(x, c.get(weight, x), c.get(bias, x), padding, stride);
            }
            return ai.djl.nn.convolutional.Conv2d.conv2d(x, c.get(weight, x), c.get(bias, x),
                    new Shape(stride, stride), new Shape(padding, padding), new Shape(1, 1), 1)
                    .singletonOrThrow();
        }
    }

    /** A fully connected layer over the last axis, weight (out, in) and optional bias (out). */
    static final class Linear extends Module {

        private final Parameter weight;
        private final Parameter bias;

        Linear(int in, int out, boolean withBias) {
            Initializer init = uniformFanIn(in);
            weight = addParameter(Parameter.builder().setName("weight")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(out, in))
                    .optInitializer(init).build());
            bias = withBias ? addParameter(Parameter.builder().setName("bias")
                    .setType(Parameter.Type.BIAS).optShape(new Shape(out))
                    .optInitializer(init).build()) : null;
        }

        NDArray apply(Ctx c, NDArray x) { // (..., in) → (..., out)
            NDArray w = c.get(weight, x);
            return bias == null
                    ? ai.djl.nn.core.Linear.linear(x, w).singletonOrThrow()
                    : ai.djl.nn.core.Linear.linear(x, w, c.get(bias, x)).singletonOrThrow();
        }
    }

    /** {@link GroupNorm} with a typed forward. */
    static NDArray norm(Ctx c, GroupNorm norm, NDArray x) {
        return norm.forward(c.ps(), new NDList(x), c.training()).singletonOrThrow();
    }

    /**
     * The residual block of DDPM/LDM (diffusers' {@code ResnetBlock2D}, "default" time scale
     * shift): x + conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb))))), with a 1×1
     * {@code conv_shortcut} on x when the channel count changes. Without time embedding
     * ({@code tembChannels} 0) as in the VAE. Dropout is not applied (inference semantics).
     */
    static final class ResnetBlock2D extends Module {

        private final GroupNorm norm1;
        private final Conv2d conv1;
        private final Linear timeEmbProj;
        private final GroupNorm norm2;
        private final Conv2d conv2;
        private final Conv2d convShortcut;
        private final float outputScale;

        ResnetBlock2D(int in, int out, int tembChannels, int groups, float eps,
                float outputScale) {
            norm1 = addChildBlock("norm1", new GroupNorm(groups, in, eps));
            conv1 = addChildBlock("conv1", new Conv2d(in, out, 3));
            timeEmbProj = tembChannels > 0
                    ? addChildBlock("time_emb_proj", new Linear(tembChannels, out, true)) : null;
            norm2 = addChildBlock("norm2", new GroupNorm(groups, out, eps));
            conv2 = addChildBlock("conv2", new Conv2d(out, out, 3));
            convShortcut = in != out
                    ? addChildBlock("conv_shortcut", new Conv2d(in, out, 1)) : null;
            this.outputScale = outputScale;
        }

        /** x (N, in, H, W), temb (N, tembChannels) or null → (N, out, H, W). */
        NDArray apply(Ctx c, NDArray x, NDArray temb) {
            return scoped(() -> {
                // In inference every full-size temporary is freed as soon as it is used: at
                // 512² in the VAE each is 128-256 MiB.
                NDArray a = normSilu(c, norm1, x);
                NDArray h = conv1.apply(c, a);
                release(c, a, x);
                if (timeEmbProj != null) {
                    NDArray t = timeEmbProj.apply(c, silu(c, temb)).expandDims(2).expandDims(3);
                    h = c.training() ? h.add(t) : h.addi(t); // + (N, out, 1, 1)
                }
                a = normSilu(c, norm2, h);
                release(c, h, x);
                h = conv2.apply(c, a);
                release(c, a, x);
                NDArray skip = convShortcut == null ? x : convShortcut.apply(c, x);
                // in inference the sum goes in place into conv2's fresh output
                NDArray y = c.training() ? skip.add(h) : h.addi(skip);
                return outputScale == 1f ? y : y.div(outputScale);
            });
        }
    }

    /**
     * Halves the resolution with a strided 3×3 convolution ({@code conv}; diffusers calls the
     * layer "op" in its legacy name but stores it as {@code conv}). Padding 1 in the UNet; padding
     * 0 after an asymmetric zero pad of one pixel right and bottom in the VAE.
     */
    static final class Downsample2D extends Module {

        private final Conv2d conv;
        private final boolean asymmetric;

        Downsample2D(int channels, int padding) {
            this.asymmetric = padding == 0;
            conv = addChildBlock("conv", new Conv2d(channels, channels, 3, 2, padding));
        }

        NDArray apply(Ctx c, NDArray x) { // (N, C, H, W) → (N, C, ⌈H/2⌉, ⌈W/2⌉)
            if (!asymmetric) {
                return conv.apply(c, x);
            }
            return scoped(() -> conv.apply(c, x.pad(new Shape(0, 1, 0, 1), 0)));
        }
    }

    /** Doubles the resolution (nearest neighbour, or to an exact size) then a 3×3 conv. */
    static final class Upsample2D extends Module {

        private final Conv2d conv;

        Upsample2D(int channels) {
            conv = addChildBlock("conv", new Conv2d(channels, channels, 3));
        }

        /** x (N, C, H, W) → (N, C, size) with size = (2H, 2W) when {@code size} is null. */
        NDArray apply(Ctx c, NDArray x, long[] size) {
            return scoped(() -> {
                Shape s = x.getShape();
                long[] target = size != null ? size : new long[] {s.get(2) * 2, s.get(3) * 2};
                NDArray up = x.getNDArrayInternal().interpolation(target, 0, false);
                return conv.apply(c, up);
            });
        }
    }

    /**
     * Largest attention-score tensor computed at once (elements; 2^22 floats = 16 MiB). Small
     * enough that softmax and the second matMul find the scores still in cache: on a 2-core
     * Zen 4, SD 1.5's 64×64 self-attention (batch 2) took 0.82–0.88 s with 2^22 against
     * 1.13–1.21 s with 2^26 (docs/benchmarks.md).
     */
    static final long MAX_SCORES = 1L << 22;

    /**
     * The widest head the fused kernel is used for. On the 2-core VM of docs/benchmarks.md it
     * made SD 1.5's guided UNet step (heads of 40–160) 1.4× faster, but the VAE's single
     * 512-wide head decode 1.27× slower, so wider heads keep the matMul path.
     */
    static final long FUSED_MAX_HEAD_DIM = 256;

    /**
     * Scaled dot-product attention in a forward pass: PyTorch's fused kernel ({@link
     * FusedAttention}) in inference when the engine has it and heads are at most {@link
     * #FUSED_MAX_HEAD_DIM} wide, otherwise (and in training) {@link
     * #attention(NDArray, NDArray, NDArray, int)}.
     *
     * @param c the forward pass (its training flag chooses the kernel)
     * @param q (B, T, heads·d)
     * @param k (B, S, heads·d)
     * @param v (B, S, heads·d)
     * @param heads the number of heads
     * @return (B, T, heads·d)
     */
    static NDArray attention(Ctx c, NDArray q, NDArray k, NDArray v, int heads) {
        if (c.training() || q.getShape().get(2) / heads > FUSED_MAX_HEAD_DIM
                || !FusedAttention.isAvailable()) {
            return attention(q, k, v, heads);
        }
        return fusedAttention(q, k, v, heads);
    }

    /** {@link #attention(NDArray, NDArray, NDArray, int)} with PyTorch's fused kernel. */
    static NDArray fusedAttention(NDArray q, NDArray k, NDArray v, int heads) {
        return scoped(() -> {
            long b = q.getShape().get(0);
            long t = q.getShape().get(1);
            long s = k.getShape().get(1);
            long inner = q.getShape().get(2);
            long d = inner / heads;
            NDArray qh = q.reshape(b, t, heads, d).transpose(0, 2, 1, 3); // (B, heads, T, d)
            NDArray kh = k.reshape(b, s, heads, d).transpose(0, 2, 1, 3); // (B, heads, S, d)
            NDArray vh = v.reshape(b, s, heads, d).transpose(0, 2, 1, 3);
            return FusedAttention.apply(qh, kh, vh).transpose(0, 2, 1, 3).reshape(b, t, inner);
        });
    }

    /**
     * Scaled dot-product attention over {@code heads} heads: softmax(q·kᵀ/√d)·v with batched
     * {@code matMul}. Long query sequences are processed in slices so that no score tensor
     * exceeds {@link #MAX_SCORES} elements.
     *
     * @param q (B, T, heads·d)
     * @param k (B, S, heads·d)
     * @param v (B, S, heads·d)
     * @return (B, T, heads·d)
     */
    static NDArray attention(NDArray q, NDArray k, NDArray v, int heads) {
        return attention(q, k, v, heads, MAX_SCORES);
    }

    static NDArray attention(NDArray q, NDArray k, NDArray v, int heads, long maxScores) {
        return scoped(() -> {
            long b = q.getShape().get(0);
            long t = q.getShape().get(1);
            long s = k.getShape().get(1);
            long inner = q.getShape().get(2);
            long d = inner / heads;
            NDArray qh = q.mul((float) (1.0 / Math.sqrt(d)))
                    .reshape(b, t, heads, d).transpose(0, 2, 1, 3); // (B, heads, T, d)
            NDArray kh = k.reshape(b, s, heads, d).transpose(0, 2, 3, 1); // (B, heads, d, S)
            NDArray vh = v.reshape(b, s, heads, d).transpose(0, 2, 1, 3); // (B, heads, S, d)
            long slice = Math.max(1, maxScores / (b * heads * s)); // query rows per slice
            NDArray out;
            if (slice >= t) {
                out = qh.matMul(kh).softmax(-1).matMul(vh); // (B, heads, T, S) → (B, heads, T, d)
            } else {
                NDList parts = new NDList();
                for (long start = 0; start < t; start += slice) {
                    NDArray qs = qh.get(":, :, {}:{}", start, Math.min(t, start + slice));
                    parts.add(scoped(() -> qs.matMul(kh).softmax(-1).matMul(vh)));
                }
                out = NDArrays.concat(parts, 2); // (B, heads, T, d)
            }
            return out.transpose(0, 2, 1, 3).reshape(b, t, inner); // (B, T, heads·d)
        });
    }

    /**
     * diffusers' {@code Attention} as used in transformer blocks: to_q, to_k, to_v (no bias
     * unless {@code qkvBias}), to_out.0 (with bias); keys and values from {@code context}
     * (cross-attention) or from x itself.
     */
    static final class Attention extends Module {

        private final int heads;
        private final Linear toQ;
        private final Linear toK;
        private final Linear toV;
        private final Linear toOut;

        Attention(int queryDim, int contextDim, int heads, int headDim, boolean qkvBias) {
            int inner = heads * headDim;
            this.heads = heads;
            toQ = addChildBlock("to_q", new Linear(queryDim, inner, qkvBias));
            toK = addChildBlock("to_k", new Linear(contextDim, inner, qkvBias));
            toV = addChildBlock("to_v", new Linear(contextDim, inner, qkvBias));
            ModuleList<Linear> out = addChildBlock("to_out", new ModuleList<>());
            out.add(new Linear(inner, queryDim, true));
            toOut = out.get(0);
        }

        /** x (B, T, queryDim), context (B, S, contextDim) or null → (B, T, queryDim). */
        NDArray apply(Ctx c, NDArray x, NDArray context) {
            return scoped(() -> {
                NDArray kv = context == null ? x : context;
                NDArray h = attention(c, toQ.apply(c, x), toK.apply(c, kv), toV.apply(c, kv),
                        heads);
                return toOut.apply(c, h);
            });
        }
    }
}
