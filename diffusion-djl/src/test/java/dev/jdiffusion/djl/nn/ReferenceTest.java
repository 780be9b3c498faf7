package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.Layers.Ctx;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Building blocks against plain-Java implementations of their formulas on small inputs. */
class ReferenceTest {

    static float[] random(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    @Test
    void multiHeadAttentionMatchesPlainJava() {
        int b = 2, t = 3, s = 4, heads = 2, d = 3, inner = heads * d;
        Random r = new Random(5);
        float[] q = random(r, b * t * inner);
        float[] k = random(r, b * s * inner);
        float[] v = random(r, b * s * inner);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] y = Layers.attention(m.create(q, new Shape(b, t, inner)),
                    m.create(k, new Shape(b, s, inner)), m.create(v, new Shape(b, s, inner)),
                    heads).toFloatArray();
            assertThat(y).hasSize(b * t * inner);
            for (int n = 0; n < b; n++) {
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < t; i++) {
                        double[] w = new double[s];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < s; j++) {
                            double dot = 0;
                            for (int c = 0; c < d; c++) {
                                dot += q[(n * t + i) * inner + h * d + c]
                                        * k[(n * s + j) * inner + h * d + c];
                            }
                            w[j] = dot / Math.sqrt(d);
                            max = Math.max(max, w[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < s; j++) {
                            w[j] = Math.exp(w[j] - max);
                            sum += w[j];
                        }
                        for (int c = 0; c < d; c++) {
                            double out = 0;
                            for (int j = 0; j < s; j++) {
                                out += w[j] / sum * v[(n * s + j) * inner + h * d + c];
                            }
                            assertThat((double) y[(n * t + i) * inner + h * d + c])
                                    .isCloseTo(out, within(1e-5));
                        }
                    }
                }
            }
        }
    }

    @Test
    void slicedAttentionEqualsWholeAttention() {
        Random r = new Random(6);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray q = m.create(random(r, 2 * 7 * 4), new Shape(2, 7, 4));
            NDArray k = m.create(random(r, 2 * 5 * 4), new Shape(2, 5, 4));
            NDArray v = m.create(random(r, 2 * 5 * 4), new Shape(2, 5, 4));
            float[] whole = Layers.attention(q, k, v, 2).toFloatArray();
            // 2·2·5 = 20 scores per query row: slices of 1 and of 2 rows (7 = 2+2+2+1)
            for (long limit : new long[] {20, 40}) {
                float[] sliced = Layers.attention(q, k, v, 2, limit).toFloatArray();
                for (int i = 0; i < whole.length; i++) {
                    assertThat((double) sliced[i]).isCloseTo(whole[i], within(1e-6));
                }
            }
        }
    }

    @Test
    void fusedAttentionEqualsMatMulAttention() {
        // The engine shipped with jdiffusion (PyTorch 2.7) has the fused kernel.
        assertThat(FusedAttention.isAvailable()).as("fused attention loads").isTrue();
        Random r = new Random(7);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // self-attention (T = S, one head, as the VAE's) and cross-attention (T ≠ S)
            int[][] cases = {{2, 9, 9, 1, 8}, {2, 11, 5, 3, 4}};
            for (int[] cs : cases) {
                int b = cs[0], t = cs[1], s = cs[2], heads = cs[3], d = cs[4];
                NDArray q = m.create(random(r, b * t * heads * d), new Shape(b, t, heads * d));
                NDArray k = m.create(random(r, b * s * heads * d), new Shape(b, s, heads * d));
                NDArray v = m.create(random(r, b * s * heads * d), new Shape(b, s, heads * d));
                NDArray fused = Layers.fusedAttention(q, k, v, heads);
                assertThat(fused.getShape()).isEqualTo(new Shape(b, t, heads * d));
                float[] a = fused.toFloatArray();
                float[] e = Layers.attention(q, k, v, heads).toFloatArray();
                for (int i = 0; i < e.length; i++) {
                    assertThat((double) a[i]).isCloseTo(e[i], within(1e-5));
                }
                // Inference chooses the fused kernel, training the matMul one; both agree.
                float[] chosen = Layers.attention(new Layers.Ctx(null, false), q, k, v, heads)
                        .toFloatArray();
                assertThat(chosen).containsExactly(a);
            }
        }
        String before = System.getProperty(FusedAttention.PROPERTY);
        System.setProperty(FusedAttention.PROPERTY, "matmul");
        try {
            assertThat(FusedAttention.isAvailable()).isFalse();
        } finally {
            if (before == null) {
                System.clearProperty(FusedAttention.PROPERTY);
            } else {
                System.setProperty(FusedAttention.PROPERTY, before);
            }
        }
    }

    @Test
    void timestepEmbeddingMatchesDiffusersFormula() {
        float[] ts = {0f, 1.5f, 999f};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (int dim : new int[] {8, 7}) {
                for (boolean flip : new boolean[] {true, false}) {
                    for (float shift : new float[] {0f, 1f}) {
                        float[] y = UNet2DConditionModel.timestepEmbedding(m.create(ts), dim,
                                flip, shift).toFloatArray();
                        assertThat(y).hasSize(ts.length * dim);
                        int half = dim / 2;
                        for (int n = 0; n < ts.length; n++) {
                            for (int i = 0; i < half; i++) {
                                double f = Math.exp(-Math.log(10000) * i / (half - shift));
                                double sin = Math.sin(ts[n] * f);
                                double cos = Math.cos(ts[n] * f);
                                // float32 arguments up to ~1000 rad: allow 1e-4 absolute
                                assertThat((double) y[n * dim + i])
                                        .isCloseTo(flip ? cos : sin, within(1e-4));
                                assertThat((double) y[n * dim + half + i])
                                        .isCloseTo(flip ? sin : cos, within(1e-4));
                            }
                            if (dim % 2 == 1) {
                                assertThat(y[n * dim + dim - 1]).isZero();
                            }
                        }
                    }
                }
            }
        }
    }

    /** erf to ~1e-7 (Abramowitz &amp; Stegun 7.1.26 is 1.5e-7; this uses a series/cf split). */
    static double erf(double x) {
        double ax = Math.abs(x);
        double r;
        if (ax < 2.5) { // Taylor series
            double term = ax;
            double sum = ax;
            for (int n = 1; n < 60; n++) {
                term *= -ax * ax / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else { // continued fraction for erfc
            double f = 0;
            for (int n = 60; n >= 1; n--) {
                f = n / 2.0 / (ax + f);
            }
            r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
        }
        return Math.copySign(r, x);
    }

    @Test
    void gegluFeedForwardMatchesPlainJava() {
        int dim = 3, inner = 4, len = 5;
        Random r = new Random(8);
        float[] x = random(r, len * dim);
        float[] w0 = random(r, 2 * inner * dim);
        float[] b0 = random(r, 2 * inner);
        float[] w2 = random(r, dim * inner);
        float[] b2 = random(r, dim);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            UNet2DConditionModel.FeedForward ff = new UNet2DConditionModel.FeedForward(dim, inner);
            var p = ParameterNames.of(ff);
            assertThat(p.keySet()).containsExactly("net.0.proj.weight", "net.0.proj.bias",
                    "net.2.weight", "net.2.bias");
            ParameterNames.assign(p.get("net.0.proj.weight"),
                    m.create(w0, new Shape(2 * inner, dim)));
            ParameterNames.assign(p.get("net.0.proj.bias"), m.create(b0));
            ParameterNames.assign(p.get("net.2.weight"), m.create(w2, new Shape(dim, inner)));
            ParameterNames.assign(p.get("net.2.bias"), m.create(b2));
            float[] y = ff.apply(new Ctx(new ParameterStore(m, false), false),
                    m.create(x, new Shape(1, len, dim))).toFloatArray();
            for (int l = 0; l < len; l++) {
                double[] hidden = new double[inner];
                for (int j = 0; j < inner; j++) {
                    double a = b0[j];
                    double g = b0[inner + j];
                    for (int c = 0; c < dim; c++) {
                        a += w0[j * dim + c] * x[l * dim + c];
                        g += w0[(inner + j) * dim + c] * x[l * dim + c];
                    }
                    hidden[j] = a * 0.5 * g * (1 + erf(g / Math.sqrt(2))); // exact GELU gate
                }
                for (int o = 0; o < dim; o++) {
                    double out = b2[o];
                    for (int j = 0; j < inner; j++) {
                        out += w2[o * inner + j] * hidden[j];
                    }
                    assertThat((double) y[l * dim + o]).isCloseTo(out, within(1e-4));
                }
            }
        }
    }

    @Test
    void assignRejectsAWrongShape() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            var p = ParameterNames.of(new Layers.Linear(2, 3, true));
            NDArray wrong = m.zeros(new Shape(2, 3));
            org.assertj.core.api.Assertions.assertThatThrownBy(
                    () -> ParameterNames.assign(p.get("weight"), wrong))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("(3, 2)");
        }
    }
}
