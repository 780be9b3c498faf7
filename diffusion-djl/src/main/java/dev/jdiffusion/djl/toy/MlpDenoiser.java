package dev.jdiffusion.djl.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.List;

/**
 * A small MLP denoiser for low-dimensional data (the 2-D toy distributions), unconditional or
 * class-conditional.
 *
 * <p>Input {@code NDList(x (N, dim), t (N) float timesteps[, labels (N) int class ids])},
 * output {@code NDList(prediction (N, dim))}. x enters raw and as sinusoidal (Fourier) features
 * of each coordinate; the timestep through a sinusoidal embedding (as in DDPM's UNet); a class
 * label through a learned embedding with {@code numClasses + 1}
 * rows, the last being the "null" class used for classifier-free guidance (labels omitted means
 * the null class). Both are concatenated with x and passed through an input layer, {@code depth}
 * residual blocks {@code h + SiLU(W·h + b)} and an output layer.
 *
 * <p>Parameters: {@code input.weight/bias}, {@code blocks.<i>.weight/bias}, {@code
 * output.weight/bias}, {@code label_embedding.weight}. Stateless apart from its parameters;
 * forward passes may run concurrently once initialised.
 */
public final class MlpDenoiser extends AbstractBlock {

    /** Sinusoidal features per input coordinate (times two: sine and cosine). */
    private static final int INPUT_FREQUENCIES = 16;

    /** Input coordinates are multiplied by this before their sinusoidal features. */
    private static final float INPUT_SCALE = 25f;

    private final int dim;
    private final int hidden;
    private final int depth;
    private final int timeDim;
    private final int numClasses;
    private final int classDim;
    private final Parameter inW;
    private final Parameter inB;
    private final List<Parameter> blockW = new ArrayList<>();
    private final List<Parameter> blockB = new ArrayList<>();
    private final Parameter outW;
    private final Parameter outB;
    private final Parameter labelEmbedding;

    /**
     * Creates the block.
     *
     * @param dim the data dimension (2 for the toy distributions)
     * @param hidden the width of the hidden layers
     * @param depth the number of residual blocks, ≥ 0
     * @param numClasses the number of classes; 0 for an unconditional model
     */
    public MlpDenoiser(int dim, int hidden, int depth, int numClasses) {
        if (dim < 1 || hidden < 1 || depth < 0 || numClasses < 0) {
            throw new IllegalArgumentException("invalid MLP size: dim " + dim + ", hidden "
                    + hidden + ", depth " + depth + ", classes " + numClasses);
        }
        this.dim = dim;
        this.hidden = hidden;
        this.depth = depth;
        this.timeDim = 32;
        this.numClasses = numClasses;
        this.classDim = numClasses > 0 ? 32 : 0;
        int in = dim * (1 + 2 * INPUT_FREQUENCIES) + timeDim + classDim;
        inW = param("input.weight", Parameter.Type.WEIGHT, hidden, in);
        inB = param("input.bias", Parameter.Type.BIAS, hidden);
        for (int i = 0; i < depth; i++) {
            blockW.add(param("blocks." + i + ".weight", Parameter.Type.WEIGHT, hidden, hidden));
            blockB.add(param("blocks." + i + ".bias", Parameter.Type.BIAS, hidden));
        }
        outW = param("output.weight", Parameter.Type.WEIGHT, dim, hidden);
        outB = param("output.bias", Parameter.Type.BIAS, dim);
        labelEmbedding = numClasses > 0
                ? param("label_embedding.weight", Parameter.Type.WEIGHT, numClasses + 1, classDim)
                : null;
    }

    private Parameter param(String name, Parameter.Type type, long... shape) {
        return addParameter(Parameter.builder().setName(name).setType(type)
                .optShape(new Shape(shape)).build());
    }

    /**
     * The data dimension.
     *
     * @return dim
     */
    public int dim() {
        return dim;
    }

    /**
     * The number of real classes.
     *
     * @return 0 for an unconditional model
     */
    public int numClasses() {
        return numClasses;
    }

    /**
     * The label of the "no class" embedding row.
     *
     * @return {@code numClasses()}
     */
    public int nullClass() {
        return numClasses;
    }

    /**
     * The input shapes to pass to {@link #initialize(NDManager, DataType, Shape...)} for a batch.
     *
     * @param batch the batch size
     * @return the shapes of x, t and (for a conditional model) labels
     */
    public Shape[] inputShapes(int batch) {
        return numClasses > 0
                ? new Shape[] {new Shape(batch, dim), new Shape(batch), new Shape(batch)}
                : new Shape[] {new Shape(batch, dim), new Shape(batch)};
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0); // (N, dim)
        NDArray t = inputs.get(1); // (N)
        long n = x.getShape().get(0);
        NDList parts = new NDList(x, inputFeatures(x),
                timestepEmbedding(t.toType(DataType.FLOAT32, false)));
        if (numClasses > 0) {
            NDArray labels = inputs.size() > 2 ? inputs.get(2)
                    : x.getManager().full(new Shape(n), numClasses, DataType.INT64);
            NDArray w = ps.getValue(labelEmbedding, x.getDevice(), training);
            parts.add(w.get(labels.toType(DataType.INT64, false))); // (N, classDim)
        } else if (inputs.size() > 2) {
            throw new IllegalArgumentException(
                    "this MLP is unconditional but was given a condition");
        }
        NDArray h = NDArrays.concat(parts, 1); // (N, dim·33 + timeDim + classDim)
        h = silu(Linear.linear(h, value(ps, inW, x, training), value(ps, inB, x, training))
                .singletonOrThrow()); // (N, hidden)
        for (int i = 0; i < depth; i++) {
            NDArray y = Linear.linear(h, value(ps, blockW.get(i), x, training),
                    value(ps, blockB.get(i), x, training))
                    .singletonOrThrow();
            h = h.add(silu(y)); // (N, hidden)
        }
        return Linear.linear(h, value(ps, outW, x, training),
                value(ps, outB, x, training)); // (N, dim)
    }

    private static NDArray value(
            ParameterStore ps, Parameter p, NDArray like, boolean training) {
        return ps.getValue(p, like.getDevice(), training);
    }

    private static NDArray silu(NDArray x) {
        return x.mul(Activation.sigmoid(x));
    }

    /** DDPM's sinusoidal embedding: (N) timesteps → (N, timeDim) [sin, cos]. */
    private NDArray timestepEmbedding(NDArray t) {
        return sinusoids(t.reshape(-1, 1), timeDim / 2, 1f).reshape(-1, timeDim);
    }

    /**
     * Sinusoidal features of each coordinate of x, scaled by {@value #INPUT_SCALE} (Fourier
     * features: they let a small MLP represent the sharp denoisers of low-dimensional data).
     */
    private NDArray inputFeatures(NDArray x) {
        return sinusoids(x, INPUT_FREQUENCIES, INPUT_SCALE).reshape(x.getShape().get(0), -1);
    }

    /** (N, d) → (N, d, 2·half): [sin, cos] of scale·v·10000^(−i/half). */
    private static NDArray sinusoids(NDArray v, int half, float scale) {
        float[] freq = new float[half];
        for (int i = 0; i < half; i++) {
            freq[i] = (float) (scale * Math.exp(-Math.log(10000) * i / half));
        }
        NDArray f = v.getManager().create(freq, new Shape(1, 1, half));
        NDArray args = v.expandDims(2).mul(f); // (N, d, half)
        return NDArrays.concat(new NDList(args.sin(), args.cos()), 2);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    public String toString() {
        return "MlpDenoiser(dim=" + dim + ", hidden=" + hidden + ", depth=" + depth
                + ", classes=" + numClasses + ")";
    }
}
