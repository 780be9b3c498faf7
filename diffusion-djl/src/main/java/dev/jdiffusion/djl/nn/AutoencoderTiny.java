package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.Layers.release;
import static dev.jdiffusion.djl.nn.Layers.scoped;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.Layers.Ctx;
import dev.jdiffusion.djl.nn.Layers.Module;
import java.util.ArrayList;
import java.util.List;

/**
 * The tiny autoencoder TAESD (Ollin Boer Bohan's "Tiny AutoEncoder for Stable Diffusion", in
 * diffusers' {@code AutoencoderTiny} form): plain 3×3 convolutions and small residual blocks,
 * no normalisation and no attention, so it decodes a 512² image in a small fraction of the time
 * of {@link AutoencoderKL}, at some cost in fine detail. It is distilled to work directly in the
 * diffusion model's scaled latent space: its encoder's output is the latents the UNet sees, and
 * its decoder takes them as they are ({@link #scalingFactor()} is 1 for TAESD and TAESDXL).
 *
 * <p>Encoder: pixels in [−1, 1] are mapped to [0, 1], then {@code layers}: a conv, residual
 * blocks, and per further stage a stride-2 conv (no bias) and residual blocks, and a last conv to
 * the latent channels. Decoder: a soft clamp {@code tanh(z/3)·3}, {@code layers}: conv and
 * activation, per stage residual blocks, a nearest-neighbour upsampling (not after the last
 * stage) and a conv (no bias except the last), and the output mapped from [0, 1] back to
 * [−1, 1]. A residual block is {@code relu(conv(act(conv(act(conv(x))))) + skip(x))}.
 * Parameter names are diffusers' ({@code decoder.layers.2.conv.4.weight}, with the indices of
 * its {@code nn.Sequential}, which counts the parameterless layers too).
 *
 * <p>As a {@link Block}: input NDList(pixels (N, in_channels, H, W)), output NDList(the
 * reconstruction). Each call keeps its temporaries in {@link ai.djl.ndarray.NDScope}s and
 * attaches only its result to the manager of its input. Calls from several threads are safe as
 * long as parameters are not changed meanwhile.
 */
public final class AutoencoderTiny extends AbstractBlock {

    private final AutoencoderTinyConfig config;
    private final Coder encoder;
    private final Coder decoder;

    /**
     * Builds the network (no memory is allocated until {@code initialize} or parameter
     * assignment).
     *
     * @param config a validated configuration
     */
    public AutoencoderTiny(AutoencoderTinyConfig config) {
        this.config = config;
        encoder = addChildBlock("encoder", Coder.encoder(config));
        decoder = addChildBlock("decoder", Coder.decoder(config));
    }

    /**
     * The configuration this network was built from.
     *
     * @return the configuration
     */
    public AutoencoderTinyConfig config() {
        return config;
    }

    /**
     * The factor diffusion latents are the encoder's output multiplied by.
     *
     * @return scaling_factor (1 for TAESD and TAESDXL)
     */
    public float scalingFactor() {
        return config.scalingFactor();
    }

    /**
     * Encodes images to latents.
     *
     * @param pixels (N, in_channels, H, W) in [−1, 1]; H and W multiples of {@link
     *     AutoencoderTinyConfig#downsampleFactor()}
     * @return (N, latent_channels, H/f, W/f), attached to the manager of {@code pixels}
     * @throws IllegalArgumentException if the shape is not as described
     */
    public NDArray encode(NDArray pixels) {
        return encode(new ParameterStore(pixels.getManager(), false), pixels, false);
    }

    /**
     * Encodes images with an explicit parameter store.
     *
     * @param ps the parameter store
     * @param pixels as {@link #encode(NDArray)}
     * @param training whether parameters are used for training
     * @return latents as {@link #encode(NDArray)}
     * @throws IllegalArgumentException if the shape is not as described
     */
    public NDArray encode(ParameterStore ps, NDArray pixels, boolean training) {
        Shape s = pixels.getShape();
        int f = config.downsampleFactor();
        if (s.dimension() != 4 || s.get(1) != config.inChannels() || s.get(2) % f != 0
                || s.get(3) % f != 0) {
            throw new IllegalArgumentException("pixels must be (N, " + config.inChannels()
                    + ", H, W) with H and W multiples of " + f + "; got " + s);
        }
        Ctx c = new Ctx(ps, training);
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            return scoped(() -> run(c, encoder, pixels.add(1f).div(2f))); // [−1, 1] → [0, 1]
        }
    }

    /**
     * Decodes latents to images.
     *
     * @param latents (N, latent_channels, h, w): diffusion latents divided by {@link
     *     #scalingFactor()}
     * @return pixels (N, out_channels, h·f, w·f), nominally in [−1, 1] (not clamped), attached
     *     to the manager of {@code latents}
     * @throws IllegalArgumentException if the shape is not as described, for example latents of
     *     another model family with a different channel count
     */
    public NDArray decode(NDArray latents) {
        return decode(new ParameterStore(latents.getManager(), false), latents, false);
    }

    /**
     * Decodes latents with an explicit parameter store.
     *
     * @param ps the parameter store
     * @param latents as {@link #decode(NDArray)}
     * @param training whether parameters are used for training
     * @return pixels as {@link #decode(NDArray)}
     * @throws IllegalArgumentException if the shape is not as described
     */
    public NDArray decode(ParameterStore ps, NDArray latents, boolean training) {
        Shape s = latents.getShape();
        if (s.dimension() != 4 || s.get(1) != config.latentChannels()) {
            throw new IllegalArgumentException("latents must be (N, " + config.latentChannels()
                    + ", h, w) for this TAESD; got " + s);
        }
        Ctx c = new Ctx(ps, training);
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            return scoped(() -> {
                NDArray clamped = latents.div(3f).tanh().mul(3f); // soft clamp to (−3, 3)
                return run(c, decoder, clamped).mul(2f).sub(1f); // [0, 1] → [−1, 1]
            });
        }
    }

    /**
     * The encoder or decoder on {@code x}, returning row-major output. In inference on the CPU
     * the pass runs in channels-last memory order: TAESD is convolutions, ReLUs and nearest
     * upsampling only, which all keep that order, so oneDNN skips its layout reorders around
     * each convolution (docs/benchmarks.md).
     */
    private static NDArray run(Ctx c, Coder coder, NDArray x) {
        if (c.training() || x.getDevice().isGpu() || !ConvKernels.enabled()) {
            return coder.apply(c, x);
        }
        return ConvKernels.rowMajor(coder.apply(c, ConvKernels.channelsLast(x)));
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray z = encode(ps, inputs.singletonOrThrow(), training);
        NDArray out = decode(ps, z, training);
        z.close();
        return new NDList(out);
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
        return "AutoencoderTiny" + config.decoderBlockOutChannels();
    }

    /** A 3×3 (padding 1) or 1×1 convolution, with or without bias. */
    static final class Conv extends Module {

        private final int stride;
        private final int padding;
        private final Parameter weight;
        private final Parameter bias;

        Conv(int in, int out, int kernel, int stride, boolean withBias) {
            this.stride = stride;
            this.padding = kernel / 2;
            Initializer init = Layers.uniformFanIn((long) in * kernel * kernel);
            weight = addParameter(Parameter.builder().setName("weight")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(out, in, kernel, kernel))
                    .optInitializer(init).build());
            bias = withBias ? addParameter(Parameter.builder().setName("bias")
                    .setType(Parameter.Type.BIAS).optShape(new Shape(out))
                    .optInitializer(init).build()) : null;
        }

        NDArray apply(Ctx c, NDArray x) { // (N, in, H, W) → (N, out, H/stride, W/stride)
            return ai.djl.nn.convolutional.Conv2d.conv2d(x, c.get(weight, x),
                    bias == null ? null : c.get(bias, x), new Shape(stride, stride),
                    new Shape(padding, padding), new Shape(1, 1), 1).singletonOrThrow();
        }
    }

    /** One layer of a {@link Seq}. */
    @FunctionalInterface
    interface Step {
        NDArray apply(Ctx c, NDArray x);
    }

    static NDArray activate(Ctx c, String fn, NDArray x) {
        return fn.equals("relu") ? Activation.relu(x) : Layers.silu(c, x);
    }

    /**
     * PyTorch's {@code nn.Sequential}: children named by their position, parameterless layers
     * (activations, upsampling) counted too.
     */
    static final class Seq extends Module {

        private final List<Step> steps = new ArrayList<>();

        void add(Step step) {
            steps.add(step);
        }

        Conv conv(int in, int out, int kernel, int stride, boolean withBias) {
            Conv conv = addChildBlock(Integer.toString(steps.size()),
                    new Conv(in, out, kernel, stride, withBias));
            steps.add(conv::apply);
            return conv;
        }

        void block(int in, int out, String act) {
            TinyBlock b = addChildBlock(Integer.toString(steps.size()), new TinyBlock(in, out,
                    act));
            steps.add(b::apply);
        }

        NDArray apply(Ctx c, NDArray x) {
            NDArray h = x;
            for (Step step : steps) {
                NDArray next = step.apply(c, h);
                release(c, h, x);
                h = next;
            }
            return h;
        }
    }

    /** diffusers' {@code AutoencoderTinyBlock}: three convs with activations, skip, ReLU. */
    static final class TinyBlock extends Module {

        private final Seq conv;
        private final Conv skip;

        TinyBlock(int in, int out, String act) {
            conv = addChildBlock("conv", new Seq());
            conv.conv(in, out, 3, 1, true);
            conv.add((c, x) -> activate(c, act, x));
            conv.conv(out, out, 3, 1, true);
            conv.add((c, x) -> activate(c, act, x));
            conv.conv(out, out, 3, 1, true);
            skip = in != out ? addChildBlock("skip", new Conv(in, out, 1, 1, false)) : null;
        }

        NDArray apply(Ctx c, NDArray x) { // (N, in, H, W) → (N, out, H, W)
            return scoped(() -> {
                NDArray h = conv.apply(c, x);
                NDArray s = skip == null ? x : skip.apply(c, x);
                NDArray sum = c.training() ? h.add(s) : h.addi(s);
                return Activation.relu(sum); // "fuse" is ReLU whatever act_fn is
            });
        }
    }

    /** The encoder or the decoder: one {@link Seq} named {@code layers}. */
    static final class Coder extends Module {

        private final Seq layers;

        private Coder() {
            layers = addChildBlock("layers", new Seq());
        }

        static Coder encoder(AutoencoderTinyConfig config) {
            Coder e = new Coder();
            List<Integer> ch = config.encoderBlockOutChannels();
            for (int i = 0; i < ch.size(); i++) {
                int c = ch.get(i);
                if (i == 0) {
                    e.layers.conv(config.inChannels(), c, 3, 1, true);
                } else {
                    e.layers.conv(c, c, 3, 2, false); // halves H and W
                }
                for (int b = 0; b < config.numEncoderBlocks().get(i); b++) {
                    e.layers.block(c, c, config.actFn());
                }
            }
            e.layers.conv(ch.get(ch.size() - 1), config.latentChannels(), 3, 1, true);
            return e;
        }

        static Coder decoder(AutoencoderTinyConfig config) {
            Coder d = new Coder();
            List<Integer> ch = config.decoderBlockOutChannels();
            String act = config.actFn();
            int f = config.upsamplingScalingFactor();
            d.layers.conv(config.latentChannels(), ch.get(0), 3, 1, true);
            d.layers.add((c, x) -> activate(c, act, x));
            for (int i = 0; i < ch.size(); i++) {
                boolean last = i == ch.size() - 1;
                int c = ch.get(i);
                for (int b = 0; b < config.numDecoderBlocks().get(i); b++) {
                    d.layers.block(c, c, act);
                }
                if (!last) {
                    d.layers.add((ctx, x) -> {
                        Shape s = x.getShape(); // nearest neighbour, (H, W) → (f·H, f·W)
                        return x.getNDArrayInternal().interpolation(
                                new long[] {s.get(2) * f, s.get(3) * f}, 0, false);
                    });
                }
                d.layers.conv(c, last ? config.outChannels() : c, 3, 1, last);
            }
            return d;
        }

        NDArray apply(Ctx c, NDArray x) {
            return layers.apply(c, x);
        }
    }
}
