package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The im2col + GEMM convolution against the convolution formula in plain Java, the choice of
 * kernel, and the channels-last path of TAESD against the default memory order.
 */
class ConvKernelsTest {

    /** y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n, c, i·s + u − p, j·s + v − p]. */
    private static double[] convolve(float[] x, int n, int c, int h, int w, float[] wt, int o,
            int k, float[] b, int stride, int pad, int oh, int ow) {
        double[] y = new double[n * o * oh * ow];
        for (int in = 0; in < n; in++) {
            for (int io = 0; io < o; io++) {
                for (int i = 0; i < oh; i++) {
                    for (int j = 0; j < ow; j++) {
                        double sum = b[io];
                        for (int ic = 0; ic < c; ic++) {
                            for (int u = 0; u < k; u++) {
                                for (int v = 0; v < k; v++) {
                                    int r = i * stride + u - pad;
                                    int q = j * stride + v - pad;
                                    if (r >= 0 && r < h && q >= 0 && q < w) {
                                        sum += (double) wt[((io * c + ic) * k + u) * k + v]
                                                * x[((in * c + ic) * h + r) * w + q];
                                    }
                                }
                            }
                        }
                        y[((in * o + io) * oh + i) * ow + j] = sum;
                    }
                }
            }
        }
        return y;
    }

    @Test
    void gemmMatchesTheConvolutionFormula() {
        Random r = new Random(3);
        // n, c, h, w, o, k, stride, pad: odd and non-square images, strides 1 and 2, padding
        // 0-2, a 1×1 and a 5×5 kernel
        int[][] cases = {{2, 3, 7, 6, 4, 3, 1, 1}, {1, 5, 9, 8, 3, 3, 2, 1},
            {2, 2, 6, 7, 3, 3, 2, 0}, {1, 3, 5, 5, 2, 1, 1, 0}, {1, 2, 8, 6, 3, 5, 1, 2}};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (int[] cs : cases) {
                int n = cs[0], c = cs[1], h = cs[2], w = cs[3], o = cs[4], k = cs[5];
                int stride = cs[6], pad = cs[7];
                int oh = (h + 2 * pad - k) / stride + 1;
                int ow = (w + 2 * pad - k) / stride + 1;
                float[] x = ReferenceTest.random(r, n * c * h * w);
                float[] wt = ReferenceTest.random(r, o * c * k * k);
                float[] b = ReferenceTest.random(r, o);
                NDArray y = ConvKernels.gemm(m.create(x, new Shape(n, c, h, w)),
                        m.create(wt, new Shape(o, c, k, k)), m.create(b, new Shape(o)), pad,
                        stride);
                assertThat(y.getShape()).as("case %s", java.util.Arrays.toString(cs))
                        .isEqualTo(new Shape(n, o, oh, ow));
                double[] e = convolve(x, n, c, h, w, wt, o, k, b, stride, pad, oh, ow);
                float[] a = y.toFloatArray();
                for (int i = 0; i < e.length; i++) {
                    assertThat((double) a[i]).as("case %s, element %d",
                            java.util.Arrays.toString(cs), i).isCloseTo(e[i], within(1e-4));
                }
            }
        }
    }

    @Test
    void gemmIsChosenForLargeWeightsOnFewPositionsOnly() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // SD 1.5's innermost 3×3 convolutions at 512² (8×8 latents), unguided and guided
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 8, 8)), 1280, 3, 1, 1))
                    .isTrue();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(2, 1280, 8, 8)), 1280, 3, 1, 1))
                    .isTrue();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 16, 16)), 1280, 3, 1,
                    1)).as("256 positions").isTrue();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(2, 1280, 16, 16)), 1280, 3, 1,
                    1)).as("512 positions").isFalse();
            // the stride-2 downsampler from 16×16 to 8×8
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 16, 16)), 1280, 3, 2,
                    1)).isTrue();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 32, 32)), 1280, 3, 1,
                    1)).as("1024 positions").isFalse();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 8, 8)), 1280, 1, 1, 0))
                    .as("1×1 kernel").isFalse();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 640, 8, 8)), 640, 3, 1, 1))
                    .as("3.7 M weights").isFalse();
            assertThat(ConvKernels.prefersGemm(m.zeros(new Shape(1, 1280, 8, 8),
                    DataType.FLOAT16), 1280, 3, 1, 1)).as("float16").isFalse();
            withConv("plain", () -> assertThat(ConvKernels.prefersGemm(
                    m.zeros(new Shape(1, 1280, 8, 8)), 1280, 3, 1, 1)).isFalse());
        }
    }

    @Test
    void aConvLayerInInferenceEqualsTheEngineConvolution() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Layers.Conv2d conv = new Layers.Conv2d(1024, 1024, 3); // 9.4 M weights
            conv.initialize(m, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray x = m.randomNormal(new Shape(2, 1024, 4, 4));
            assertThat(ConvKernels.prefersGemm(x, 1024, 3, 1, 1)).isTrue();
            NDArray weight = conv.getParameters().get("weight").getArray();
            NDArray bias = conv.getParameters().get("bias").getArray();
            float[] engine = ai.djl.nn.convolutional.Conv2d.conv2d(x, weight, bias,
                    new Shape(1, 1), new Shape(1, 1), new Shape(1, 1), 1).singletonOrThrow()
                    .toFloatArray();
            float[] gemm = conv.apply(new Layers.Ctx(ps, false), x).toFloatArray();
            assertThat(gemm).hasSameSizeAs(engine);
            for (int i = 0; i < engine.length; i++) {
                assertThat(gemm[i]).isCloseTo(engine[i], within(1e-4f));
            }
            float[][] plain = new float[1][];
            withConv("plain", () -> plain[0] = conv.apply(new Layers.Ctx(ps, false), x)
                    .toFloatArray());
            assertThat(plain[0]).containsExactly(engine);
        }
    }

    @Test
    void channelsLastKeepsShapeAndValues() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray x = m.randomNormal(new Shape(2, 3, 4, 5));
            NDArray cl = ConvKernels.channelsLast(x);
            assertThat(cl.getShape()).isEqualTo(x.getShape());
            assertThat(cl.toFloatArray()).containsExactly(x.toFloatArray());
            NDArray back = ConvKernels.rowMajor(cl.mul(2f));
            assertThat(back.toFloatArray()).containsExactly(x.mul(2f).toFloatArray());
        }
    }

    @Test
    void taesdInChannelsLastOrderEqualsTheDefaultOrder() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            AutoencoderTiny taesd = new AutoencoderTiny(AutoencoderTinyConfig.fromJson(
                    "{\"encoder_block_out_channels\": [8, 8, 8, 8],"
                            + " \"decoder_block_out_channels\": [8, 8, 8, 8]}"));
            taesd.initialize(m, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray z = m.randomNormal(new Shape(1, 4, 6, 5));
            NDArray pixels = m.randomUniform(-1f, 1f, new Shape(1, 3, 48, 40));
            float[] decoded = taesd.decode(ps, z, false).toFloatArray();
            float[] encoded = taesd.encode(ps, pixels, false).toFloatArray();
            float[][] plain = new float[2][];
            withConv("plain", () -> {
                plain[0] = taesd.decode(ps, z, false).toFloatArray();
                plain[1] = taesd.encode(ps, pixels, false).toFloatArray();
            });
            assertThat(decoded).hasSameSizeAs(plain[0]);
            for (int i = 0; i < decoded.length; i++) {
                assertThat(decoded[i]).isCloseTo(plain[0][i], within(1e-5f));
            }
            for (int i = 0; i < encoded.length; i++) {
                assertThat(encoded[i]).isCloseTo(plain[1][i], within(1e-5f));
            }
        }
    }

    /** Runs {@code body} with {@link ConvKernels#PROPERTY} set, then restores it. */
    private static void withConv(String mode, Runnable body) {
        String before = System.getProperty(ConvKernels.PROPERTY);
        System.setProperty(ConvKernels.PROPERTY, mode);
        try {
            body.run();
        } finally {
            if (before == null) {
                System.clearProperty(ConvKernels.PROPERTY);
            } else {
                System.setProperty(ConvKernels.PROPERTY, before);
            }
        }
    }
}
