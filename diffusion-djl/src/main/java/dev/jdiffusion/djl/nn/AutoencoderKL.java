package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.Layers.norm;
import static dev.jdiffusion.djl.nn.Layers.normSilu;
import static dev.jdiffusion.djl.nn.Layers.release;
import static dev.jdiffusion.djl.nn.Layers.scoped;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.Layers.Conv2d;
import dev.jdiffusion.djl.nn.Layers.Ctx;
import dev.jdiffusion.djl.nn.Layers.Downsample2D;
import dev.jdiffusion.djl.nn.Layers.Linear;
import dev.jdiffusion.djl.nn.Layers.Module;
import dev.jdiffusion.djl.nn.Layers.ModuleList;
import dev.jdiffusion.djl.nn.Layers.ResnetBlock2D;
import dev.jdiffusion.djl.nn.Layers.Upsample2D;
import java.util.List;

/**
 * The variational autoencoder of latent diffusion (diffusers' {@code AutoencoderKL}): the
 * encoder maps pixels (N, 3, H, W) in [−1, 1] to a diagonal Gaussian over latents (N, 4, H/8,
 * W/8) for SD, given by its mean and log-variance; the decoder maps latents back to pixels.
 * Parameter names are diffusers' ({@code encoder.mid_block.attentions.0.to_q.weight}, ...).
 *
 * <p>Latents for diffusion are {@code (mean − shift) · scaling_factor}; divide by the factor
 * (and add the shift) before {@link #decode}. This class applies neither.
 *
 * <p>As a {@link Block}: input NDList(pixels (N, in_channels, H, W)), output NDList(the
 * reconstruction from the posterior mean, (N, out_channels, H, W)). Parameters have declared
 * shapes; each call keeps its temporaries in {@link ai.djl.ndarray.NDScope}s and attaches only its results to
 * the manager of its input. Calls from several threads are safe as long as parameters are not
 * changed meanwhile.
 */
public final class AutoencoderKL extends AbstractBlock {

    private final AutoencoderKLConfig config;
    private final Encoder encoder;
    private final Decoder decoder;
    private final Conv2d quantConv;
    private final Conv2d postQuantConv;

    /**
     * Builds the network (no memory is allocated until {@code initialize} or parameter
     * assignment).
     *
     * @param config a validated configuration
     */
    public AutoencoderKL(AutoencoderKLConfig config) {
        this.config = config;
        int latent = config.latentChannels();
        encoder = addChildBlock("encoder", new Encoder(config));
        decoder = addChildBlock("decoder", new Decoder(config));
        quantConv = config.useQuantConv()
                ? addChildBlock("quant_conv", new Conv2d(2 * latent, 2 * latent, 1)) : null;
        postQuantConv = config.usePostQuantConv()
                ? addChildBlock("post_quant_conv", new Conv2d(latent, latent, 1)) : null;
    }

    /**
     * The configuration this network was built from.
     *
     * @return the configuration
     */
    public AutoencoderKLConfig config() {
        return config;
    }

    /**
     * The factor latents are scaled by for diffusion.
     *
     * @return scaling_factor (0.18215 for SD 1.x)
     */
    public float scalingFactor() {
        return config.scalingFactor();
    }

    /**
     * Encodes images to the posterior over latents.
     *
     * @param pixels (N, in_channels, H, W) in [−1, 1]; H and W must be multiples of {@link
     *     AutoencoderKLConfig#downsampleFactor()}
     * @return NDList(mean, logvar), each (N, latent_channels, H/f, W/f); logvar clamped to
     *     [−30, 20] as diffusers does; attached to the manager of {@code pixels}
     * @throws IllegalArgumentException if the shape is not as described
     */
    public NDList encode(NDArray pixels) {
        return encode(new ParameterStore(pixels.getManager(), false), pixels, false);
    }

    /**
     * Encodes images with an explicit parameter store (e.g. for training).
     *
     * @param ps the parameter store
     * @param pixels as {@link #encode(NDArray)}
     * @param training whether parameters are used for training
     * @return NDList(mean, logvar) as {@link #encode(NDArray)}
     */
    public NDList encode(ParameterStore ps, NDArray pixels, boolean training) {
        encodeShapeCheck(pixels.getShape());
        Ctx c = new Ctx(ps, training);
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            NDArray moments = scoped(() -> {
                NDArray h = encoder.apply(c, pixels); // (N, 2·latent, H/f, W/f)
                return quantConv == null ? h : quantConv.apply(c, h);
            });
            NDArray mean = scoped(() -> moments.split(2, 1).get(0).duplicate());
            NDArray logvar = scoped(() -> moments.split(2, 1).get(1).clip(-30f, 20f));
            moments.close();
            return new NDList(mean, logvar);
        }
    }

    /**
     * Decodes latents to images.
     *
     * @param latents (N, latent_channels, h, w), already divided by the scaling factor
     * @return pixels (N, out_channels, h·f, w·f), nominally in [−1, 1] (not clamped), attached
     *     to the manager of {@code latents}
     * @throws IllegalArgumentException if the shape is not as described
     */
    public NDArray decode(NDArray latents) {
        return decode(new ParameterStore(latents.getManager(), false), latents, false);
    }

    /**
     * Decodes latents with an explicit parameter store (e.g. for training).
     *
     * @param ps the parameter store
     * @param latents as {@link #decode(NDArray)}
     * @param training whether parameters are used for training
     * @return pixels as {@link #decode(NDArray)}
     */
    public NDArray decode(ParameterStore ps, NDArray latents, boolean training) {
        decodeShapeCheck(latents.getShape());
        Ctx c = new Ctx(ps, training);
        try (GradMode g = GradMode.offUnlessTraining(training)) {
            return scoped(() -> {
                NDArray z = postQuantConv == null ? latents : postQuantConv.apply(c, latents);
                return decoder.apply(c, z);
            });
        }
    }

    /**
     * Encodes images in overlapping tiles, as diffusers' {@code enable_tiling}: tiles of {@code
     * sample_size} pixels (512 when the config has none) overlapping by a quarter, the
     * posteriors blended linearly across the overlaps. Memory stays that of one tile whatever
     * the image size; the result differs slightly from {@link #encode(NDArray)} because every
     * tile sees only its own pixels. Images no larger than one tile are encoded whole. The
     * log-variance is clamped per tile before blending (diffusers clamps after; the mean is the
     * same).
     *
     * @param ps the parameter store
     * @param pixels as {@link #encode(NDArray)}
     * @return NDList(mean, logvar) as {@link #encode(NDArray)}
     * @throws IllegalArgumentException if the shape is not as described there
     */
    public NDList encodeTiled(ParameterStore ps, NDArray pixels) {
        encodeShapeCheck(pixels.getShape());
        return TiledVae.encode(this, ps, pixels);
    }

    /**
     * Decodes latents in overlapping tiles, as diffusers' {@code enable_tiling}: tiles of {@code
     * sample_size / f} latents (64 for SD 1.5) overlapping by a quarter, the decoded tiles
     * blended linearly across the overlaps, so a 1024² or larger image decodes in the memory of
     * a 512² one. Latents no larger than one tile are decoded whole.
     *
     * @param ps the parameter store
     * @param latents as {@link #decode(NDArray)}
     * @return pixels as {@link #decode(NDArray)}
     * @throws IllegalArgumentException if the shape is not as described there
     */
    public NDArray decodeTiled(ParameterStore ps, NDArray latents) {
        decodeShapeCheck(latents.getShape());
        return TiledVae.decode(this, ps, latents);
    }

    private void encodeShapeCheck(Shape s) {
        int f = config.downsampleFactor();
        if (s.dimension() != 4 || s.get(1) != config.inChannels() || s.get(2) % f != 0
                || s.get(3) % f != 0) {
            throw new IllegalArgumentException("pixels must be (N, " + config.inChannels()
                    + ", H, W) with H and W multiples of " + f + "; got " + s);
        }
    }

    private void decodeShapeCheck(Shape s) {
        if (s.dimension() != 4 || s.get(1) != config.latentChannels()) {
            throw new IllegalArgumentException("latents must be (N, " + config.latentChannels()
                    + ", h, w); got " + s);
        }
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDList posterior = encode(ps, inputs.singletonOrThrow(), training);
        NDArray out = decode(ps, posterior.get(0), training);
        posterior.close();
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
        return "AutoencoderKL" + config.blockOutChannels();
    }

    /** Moves on from {@code h} to {@code next}, freeing {@code h} in inference. */
    private static NDArray step(Ctx c, NDArray h, NDArray next, NDArray input) {
        release(c, h, input);
        return next;
    }

    /**
     * Single-head self-attention over the H·W positions with a group norm in front and the
     * input as residual (diffusers' {@code Attention} with {@code group_norm}, as in VAE mid
     * blocks): to_q, to_k, to_v, to_out.0, all with bias.
     */
    static final class SpatialAttention extends Module {

        private final GroupNorm groupNorm;
        private final Linear toQ;
        private final Linear toK;
        private final Linear toV;
        private final Linear toOut;

        SpatialAttention(int channels, int groups) {
            groupNorm = addChildBlock("group_norm", new GroupNorm(groups, channels, 1e-6f));
            toQ = addChildBlock("to_q", new Linear(channels, channels, true));
            toK = addChildBlock("to_k", new Linear(channels, channels, true));
            toV = addChildBlock("to_v", new Linear(channels, channels, true));
            ModuleList<Linear> out = addChildBlock("to_out", new ModuleList<>());
            out.add(new Linear(channels, channels, true));
            toOut = out.get(0);
        }

        NDArray apply(Ctx c, NDArray x) { // (N, C, H, W) → (N, C, H, W)
            return scoped(() -> {
                Shape s = x.getShape();
                long n = s.get(0);
                long ch = s.get(1);
                NDArray h = norm(c, groupNorm, x).reshape(n, ch, -1).transpose(0, 2, 1); // (N,HW,C)
                NDArray a = Layers.attention(c, toQ.apply(c, h), toK.apply(c, h), toV.apply(c, h),
                        1);
                NDArray out = toOut.apply(c, a).transpose(0, 2, 1).reshape(s); // (N, C, H, W)
                return out.add(x);
            });
        }
    }

    /** resnet, attention, resnet at the coarsest resolution (diffusers' UNetMidBlock2D). */
    static final class VaeMidBlock extends Module {

        private final ModuleList<ResnetBlock2D> resnets;
        private final SpatialAttention attention;

        VaeMidBlock(int channels, int groups, boolean withAttention) {
            resnets = addChildBlock("resnets", new ModuleList<>());
            resnets.add(new ResnetBlock2D(channels, channels, 0, groups, 1e-6f, 1f));
            if (withAttention) {
                ModuleList<SpatialAttention> list = addChildBlock("attentions", new ModuleList<>());
                list.add(new SpatialAttention(channels, groups));
                attention = list.get(0);
            } else {
                attention = null;
            }
            resnets.add(new ResnetBlock2D(channels, channels, 0, groups, 1e-6f, 1f));
        }

        NDArray apply(Ctx c, NDArray x) {
            NDArray h = resnets.get(0).apply(c, x, null);
            if (attention != null) {
                h = attention.apply(c, h);
            }
            return resnets.get(1).apply(c, h, null);
        }
    }

    /** A block of resnets, optionally followed by a down- or upsampler. */
    static final class CoderBlock extends Module {

        private final ModuleList<ResnetBlock2D> resnets;
        private final Downsample2D downsampler;
        private final Upsample2D upsampler;

        CoderBlock(int in, int out, int layers, int groups, boolean down, boolean up) {
            resnets = addChildBlock("resnets", new ModuleList<>());
            for (int i = 0; i < layers; i++) {
                resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, 1e-6f, 1f));
            }
            if (down) {
                ModuleList<Downsample2D> list = addChildBlock("downsamplers", new ModuleList<>());
                list.add(new Downsample2D(out, 0)); // pad (0, 1, 0, 1), then stride-2 conv
                downsampler = list.get(0);
            } else {
                downsampler = null;
            }
            if (up) {
                ModuleList<Upsample2D> list = addChildBlock("upsamplers", new ModuleList<>());
                list.add(new Upsample2D(out));
                upsampler = list.get(0);
            } else {
                upsampler = null;
            }
        }

        NDArray apply(Ctx c, NDArray x) {
            NDArray h = x;
            for (ResnetBlock2D resnet : resnets.items()) {
                h = step(c, h, resnet.apply(c, h, null), x);
            }
            if (downsampler != null) {
                h = step(c, h, downsampler.apply(c, h), x);
            }
            if (upsampler != null) {
                h = step(c, h, upsampler.apply(c, h, null), x);
            }
            return h;
        }
    }

    /** conv_in, down blocks, mid block, norm, SiLU, conv_out to 2·latent channels. */
    static final class Encoder extends Module {

        private final Conv2d convIn;
        private final ModuleList<CoderBlock> downBlocks;
        private final VaeMidBlock midBlock;
        private final GroupNorm convNormOut;
        private final Conv2d convOut;

        Encoder(AutoencoderKLConfig config) {
            List<Integer> ch = config.blockOutChannels();
            int n = ch.size();
            int groups = config.normNumGroups();
            convIn = addChildBlock("conv_in", new Conv2d(config.inChannels(), ch.get(0), 3));
            downBlocks = addChildBlock("down_blocks", new ModuleList<>());
            int out = ch.get(0);
            for (int i = 0; i < n; i++) {
                int in = out;
                out = ch.get(i);
                downBlocks.add(new CoderBlock(in, out, config.layersPerBlock(), groups,
                        i < n - 1, false));
            }
            midBlock = addChildBlock("mid_block",
                    new VaeMidBlock(ch.get(n - 1), groups, config.midBlockAddAttention()));
            convNormOut = addChildBlock("conv_norm_out",
                    new GroupNorm(groups, ch.get(n - 1), 1e-6f));
            convOut = addChildBlock("conv_out",
                    new Conv2d(ch.get(n - 1), 2 * config.latentChannels(), 3));
        }

        NDArray apply(Ctx c, NDArray x) { // (N, 3, H, W) → (N, 2·latent, H/f, W/f)
            NDArray h = convIn.apply(c, x);
            for (CoderBlock block : downBlocks.items()) {
                h = step(c, h, block.apply(c, h), x);
            }
            h = step(c, h, midBlock.apply(c, h), x);
            return convOut.apply(c, step(c, h, normSilu(c, convNormOut, h), x));
        }
    }

    /** conv_in, mid block, up blocks (layers + 1 resnets each), norm, SiLU, conv_out. */
    static final class Decoder extends Module {

        private final Conv2d convIn;
        private final VaeMidBlock midBlock;
        private final ModuleList<CoderBlock> upBlocks;
        private final GroupNorm convNormOut;
        private final Conv2d convOut;

        Decoder(AutoencoderKLConfig config) {
            List<Integer> ch = config.blockOutChannels();
            int n = ch.size();
            int groups = config.normNumGroups();
            convIn = addChildBlock("conv_in",
                    new Conv2d(config.latentChannels(), ch.get(n - 1), 3));
            midBlock = addChildBlock("mid_block",
                    new VaeMidBlock(ch.get(n - 1), groups, config.midBlockAddAttention()));
            upBlocks = addChildBlock("up_blocks", new ModuleList<>());
            int out = ch.get(n - 1);
            for (int i = 0; i < n; i++) {
                int in = out;
                out = ch.get(n - 1 - i);
                upBlocks.add(new CoderBlock(in, out, config.layersPerBlock() + 1, groups,
                        false, i < n - 1));
            }
            convNormOut = addChildBlock("conv_norm_out", new GroupNorm(groups, ch.get(0), 1e-6f));
            convOut = addChildBlock("conv_out", new Conv2d(ch.get(0), config.outChannels(), 3));
        }

        NDArray apply(Ctx c, NDArray z) { // (N, latent, h, w) → (N, 3, h·f, w·f)
            NDArray h = convIn.apply(c, z);
            h = step(c, h, midBlock.apply(c, h), z);
            for (CoderBlock block : upBlocks.items()) {
                h = step(c, h, block.apply(c, h), z);
            }
            return convOut.apply(c, step(c, h, normSilu(c, convNormOut, h), z));
        }
    }
}
