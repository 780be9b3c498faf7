package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.testing.Fixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ClipTextModelTest {

    static final ClipTextConfig TINY_QUICK =
            new ClipTextConfig(20, 8, 16, 2, 2, 6, "quick_gelu", 1e-5f, OptionalInt.empty());
    static final ClipTextConfig TINY_GELU =
            new ClipTextConfig(20, 8, 12, 3, 4, 6, "gelu", 1e-5f, OptionalInt.of(8));

    @Test
    void parameterNamesAndShapesEqualTheSd15Checkpoint() throws IOException {
        Map<String, String> expected = new LinkedHashMap<>();
        for (String line : Files.readAllLines(
                Fixtures.sd15Keys(), StandardCharsets.UTF_8)) {
            String[] cols = line.split("\t");
            if (cols[0].equals("text_encoder")
                    && !ClipTextModel.BUFFER_KEYS.contains(cols[1])) {
                expected.put(cols[1], cols[2].replace(" ", ""));
            }
        }
        assertThat(expected).hasSize(196);
        ClipTextModel model = new ClipTextModel(ClipTextConfig.sd15());
        Map<String, String> actual = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(model).entrySet()) {
            Parameter p = e.getValue();
            assertThat(p.isInitialized()).isFalse();
            actual.put(e.getKey(), Arrays.toString(p.getShape().getShape()).replace(" ", ""));
        }
        assertThat(actual).containsExactlyInAnyOrderEntriesOf(expected);
    }

    @Test
    void forwardMatchesPlainJavaReference() {
        for (ClipTextConfig c : new ClipTextConfig[] {TINY_QUICK, TINY_GELU}) {
            for (int skip = 0; skip < c.numHiddenLayers(); skip++) {
                checkAgainstReference(c, skip);
            }
        }
    }

    private static void checkAgainstReference(ClipTextConfig c, int clipSkip) {
        int n = 2;
        int t = 5;
        int[] ids = {3, 7, 19, 0, 7, 12, 12, 1, 5, 18};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel model = new ClipTextModel(c);
            Map<String, float[]> w = randomWeights(model, m, 11);
            NDArray input = m.create(ids, new Shape(n, t));
            PairList<String, Object> params = new PairList<>();
            params.add(ClipTextModel.CLIP_SKIP, clipSkip);
            NDArray y = model.forward(new ParameterStore(m, false), new NDList(input), false,
                    params).singletonOrThrow();
            assertThat(y.getShape()).isEqualTo(new Shape(n, t, c.hiddenSize()));
            float[] actual = y.toFloatArray();
            double[] expected = reference(c, w, ids, n, t, clipSkip);
            for (int i = 0; i < expected.length; i++) {
                assertThat((double) actual[i]).as("%s skip %d index %d", c.hiddenAct(),
                        clipSkip, i).isCloseTo(expected[i], within(2e-4));
            }
        }
    }

    @Test
    void attentionIsCausal() {
        // Changing the token at position j must leave every earlier position's output unchanged
        // and change position j's.
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel model = new ClipTextModel(TINY_QUICK);
            randomWeights(model, m, 5);
            ParameterStore ps = new ParameterStore(m, false);
            float[] a = model.encode(ps, m.create(new int[] {1, 2, 3, 4, 5, 6}, new Shape(1, 6)), 0)
                    .toFloatArray();
            float[] b = model.encode(ps, m.create(new int[] {1, 2, 3, 9, 5, 6}, new Shape(1, 6)), 0)
                    .toFloatArray();
            int d = TINY_QUICK.hiddenSize();
            assertThat(Arrays.copyOf(b, 3 * d)).containsExactly(Arrays.copyOf(a, 3 * d));
            assertThat(Arrays.copyOfRange(b, 3 * d, 4 * d))
                    .isNotEqualTo(Arrays.copyOfRange(a, 3 * d, 4 * d));
        }
    }

    @Test
    void forwardIsFiniteAndDeterministic() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel model = new ClipTextModel(TINY_GELU);
            randomWeights(model, m, 9);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray ids = m.create(new int[] {0, 19, 4, 4, 2, 1}, new Shape(2, 3));
            float[] first = model.encode(ps, ids, 0).toFloatArray();
            float[] second = model.encode(ps, ids, 0).toFloatArray();
            assertThat(second).containsExactly(first);
            for (float v : first) {
                assertThat(Float.isFinite(v)).isTrue();
            }
        }
    }

    @Test
    void rejectsBadInputsAndClipSkip() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel model = new ClipTextModel(TINY_QUICK);
            randomWeights(model, m, 1);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray tooLong = m.zeros(new Shape(1, 7), DataType.INT32);
            assertThatThrownBy(() -> model.encode(ps, tooLong, 0))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("T <= 6");
            NDArray ok = m.zeros(new Shape(1, 6), DataType.INT32);
            assertThatThrownBy(() -> model.encode(ps, ok, 2))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clip_skip");
        }
    }

    /** Sets every parameter to seeded values (LayerNorm scales around 1) and returns them. */
    static Map<String, float[]> randomWeights(ClipTextModel model, NDManager m, long seed) {
        model.initialize(m, DataType.FLOAT32, new Shape(1, 1));
        Random r = new Random(seed);
        Map<String, float[]> out = new HashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(model).entrySet()) {
            NDArray arr = e.getValue().getArray();
            float[] v = new float[(int) arr.size()];
            boolean scale = e.getKey().contains("norm") && e.getKey().endsWith("weight");
            for (int i = 0; i < v.length; i++) {
                double g = r.nextGaussian();
                v[i] = (float) (scale ? 1 + 0.2 * g : 0.4 * g);
            }
            arr.set(v);
            out.put(e.getKey(), v);
        }
        return out;
    }

    // ----- plain-Java reference of transformers' CLIPTextTransformer -------------------------

    static double[] reference(ClipTextConfig c, Map<String, float[]> w, int[] ids, int n, int t,
            int clipSkip) {
        int d = c.hiddenSize();
        double[][][] x = new double[n][t][d];
        float[] tok = w.get("text_model.embeddings.token_embedding.weight");
        float[] pos = w.get("text_model.embeddings.position_embedding.weight");
        for (int b = 0; b < n; b++) {
            for (int i = 0; i < t; i++) {
                for (int k = 0; k < d; k++) {
                    x[b][i][k] = tok[ids[b * t + i] * d + k] + pos[i * d + k];
                }
            }
        }
        for (int l = 0; l < c.numHiddenLayers() - clipSkip; l++) {
            String p = "text_model.encoder.layers." + l + ".";
            for (int b = 0; b < n; b++) {
                double[][] h = layerNorm(x[b], w.get(p + "layer_norm1.weight"),
                        w.get(p + "layer_norm1.bias"), c.layerNormEps());
                double[][] a = attention(c, w, p + "self_attn.", h);
                add(x[b], a);
                h = layerNorm(x[b], w.get(p + "layer_norm2.weight"),
                        w.get(p + "layer_norm2.bias"), c.layerNormEps());
                double[][] f = linear(h, w.get(p + "mlp.fc1.weight"), w.get(p + "mlp.fc1.bias"));
                for (double[] row : f) {
                    for (int k = 0; k < row.length; k++) {
                        double v = row[k];
                        row[k] = c.hiddenAct().equals("gelu")
                                ? 0.5 * v * (1 + erf(v / Math.sqrt(2)))
                                : v / (1 + Math.exp(-1.702 * v));
                    }
                }
                add(x[b], linear(f, w.get(p + "mlp.fc2.weight"), w.get(p + "mlp.fc2.bias")));
            }
        }
        double[] out = new double[n * t * d];
        for (int b = 0; b < n; b++) {
            double[][] y = layerNorm(x[b], w.get("text_model.final_layer_norm.weight"),
                    w.get("text_model.final_layer_norm.bias"), c.layerNormEps());
            for (int i = 0; i < t; i++) {
                System.arraycopy(y[i], 0, out, (b * t + i) * d, d);
            }
        }
        return out;
    }

    static double[][] attention(ClipTextConfig c, Map<String, float[]> w, String p,
            double[][] h) {
        int t = h.length;
        int hd = c.headDim();
        double[][] q = linear(h, w.get(p + "q_proj.weight"), w.get(p + "q_proj.bias"));
        double[][] k = linear(h, w.get(p + "k_proj.weight"), w.get(p + "k_proj.bias"));
        double[][] v = linear(h, w.get(p + "v_proj.weight"), w.get(p + "v_proj.bias"));
        double[][] merged = new double[t][c.hiddenSize()];
        for (int head = 0; head < c.numAttentionHeads(); head++) {
            int off = head * hd;
            for (int i = 0; i < t; i++) {
                double[] s = new double[i + 1]; // causal: keys 0..i only
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j <= i; j++) {
                    double dot = 0;
                    for (int e = 0; e < hd; e++) {
                        dot += q[i][off + e] * k[j][off + e];
                    }
                    s[j] = dot / Math.sqrt(hd);
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j <= i; j++) {
                    s[j] = Math.exp(s[j] - max);
                    sum += s[j];
                }
                for (int j = 0; j <= i; j++) {
                    for (int e = 0; e < hd; e++) {
                        merged[i][off + e] += s[j] / sum * v[j][off + e];
                    }
                }
            }
        }
        return linear(merged, w.get(p + "out_proj.weight"), w.get(p + "out_proj.bias"));
    }

    static double[][] linear(double[][] x, float[] weight, float[] bias) {
        int out = bias.length;
        int in = x[0].length;
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double s = bias[o];
                for (int k = 0; k < in; k++) {
                    s += x[i][k] * weight[o * in + k];
                }
                y[i][o] = s;
            }
        }
        return y;
    }

    static double[][] layerNorm(double[][] x, float[] g, float[] b, double eps) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            double mean = Arrays.stream(x[i]).average().orElseThrow();
            double var = 0;
            for (double v : x[i]) {
                var += (v - mean) * (v - mean);
            }
            var /= x[i].length;
            y[i] = new double[x[i].length];
            for (int k = 0; k < x[i].length; k++) {
                y[i][k] = (x[i][k] - mean) / Math.sqrt(var + eps) * g[k] + b[k];
            }
        }
        return y;
    }

    static void add(double[][] x, double[][] y) {
        for (int i = 0; i < x.length; i++) {
            for (int k = 0; k < x[i].length; k++) {
                x[i][k] += y[i][k];
            }
        }
    }

    /** erf by its Taylor series (|x| small) or continued fraction; error below 1e-12 here. */
    static double erf(double x) {
        double ax = Math.abs(x);
        if (ax > 6) {
            return Math.signum(x);
        }
        if (ax < 2.5) {
            double sum = 0;
            double term = ax;
            for (int k = 0; k < 200; k++) {
                sum += term / (2 * k + 1);
                term *= -ax * ax / (k + 1);
            }
            return Math.signum(x) * 2 / Math.sqrt(Math.PI) * sum;
        }
        // erfc by Lentz's continued fraction for larger |x|.
        double f = ax;
        for (int k = 60; k >= 1; k--) {
            f = ax + k / 2.0 / f;
        }
        double erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
        return Math.signum(x) * (1 - erfc);
    }
}
