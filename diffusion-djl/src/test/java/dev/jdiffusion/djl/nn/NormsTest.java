package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.Random;
import org.junit.jupiter.api.Test;

class NormsTest {

    @Test
    void groupNormMatchesPlainJava() {
        int n = 2, c = 6, g = 3, hw = 5;
        float eps = 1e-5f;
        Random r = new Random(3);
        float[] x = new float[n * c * hw];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) (r.nextGaussian() * 2 + 1);
        }
        float[] w = {1, 2, 3, 4, 5, 6};
        float[] b = {0, -1, 1, 0.5f, 0, 2};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            GroupNorm norm = new GroupNorm(g, c, eps);
            norm.initialize(m, DataType.FLOAT32, new Shape(n, c, hw));
            ParameterNames.of(norm).get("weight").getArray().set(m.create(w).toFloatArray());
            ParameterNames.of(norm).get("bias").getArray().set(m.create(b).toFloatArray());
            NDArray input = m.create(x, new Shape(n, c, hw));
            float[] y = norm.forward(new ParameterStore(m, false), new NDList(input), false)
                    .singletonOrThrow().toFloatArray();
            // the allocating (training) path and the in-place (inference) path agree
            assertThat(norm.forward(new ParameterStore(m, false), new NDList(input), true)
                    .singletonOrThrow().toFloatArray()).containsExactly(y);
            assertThat(input.toFloatArray()).containsExactly(x);
            int per = c / g * hw;
            for (int i = 0; i < n; i++) {
                for (int grp = 0; grp < g; grp++) {
                    int start = (i * c + grp * (c / g)) * hw;
                    double mean = 0, var = 0;
                    for (int k = 0; k < per; k++) {
                        mean += x[start + k];
                    }
                    mean /= per;
                    for (int k = 0; k < per; k++) {
                        var += (x[start + k] - mean) * (x[start + k] - mean);
                    }
                    var /= per;
                    for (int k = 0; k < per; k++) {
                        int ch = grp * (c / g) + k / hw;
                        double expected = (x[start + k] - mean) / Math.sqrt(var + eps) * w[ch] + b[ch];
                        assertThat((double) y[start + k]).isCloseTo(expected, within(1e-4));
                    }
                }
            }
        }
    }

    @Test
    void parameterNamesUseDottedPytorchPaths() {
        AbstractBlock inner = new AbstractBlock() {
            {
                addChildBlock("norm1", new LayerNorm(4, 1e-5f));
                addParameter(Parameter.builder().setName("scale")
                        .setType(Parameter.Type.WEIGHT).optShape(new Shape(1)).build());
            }

            @Override
            protected NDList forwardInternal(ParameterStore ps, NDList in, boolean t,
                    PairList<String, Object> p) {
                return in;
            }

            @Override
            public Shape[] getOutputShapes(Shape[] s) {
                return s;
            }
        };
        AbstractBlock outer = new AbstractBlock() {
            {
                addChildBlock("0", new GroupNorm(2, 4, 1e-6f));
                addChildBlock("blocks", inner);
            }

            @Override
            protected NDList forwardInternal(ParameterStore ps, NDList in, boolean t,
                    PairList<String, Object> p) {
                return in;
            }

            @Override
            public Shape[] getOutputShapes(Shape[] s) {
                return s;
            }
        };
        assertThat(ParameterNames.of(outer).keySet()).containsExactly(
                "0.weight", "0.bias", "blocks.scale", "blocks.norm1.weight", "blocks.norm1.bias");
        assertThat(ParameterNames.of(outer).get("0.weight").getShape()).isEqualTo(new Shape(4));
    }

    @Test
    void layerNormNormalisesLastAxis() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            LayerNorm ln = new LayerNorm(4, 1e-5f);
            ln.initialize(m, DataType.FLOAT32, new Shape(1, 4));
            NDArray y = ln.forward(new ParameterStore(m, false),
                    new NDList(m.create(new float[] {1, 2, 3, 4}, new Shape(1, 4))), false)
                    .singletonOrThrow();
            float[] v = y.toFloatArray();
            double sd = Math.sqrt(1.25 + 1e-5);
            assertThat((double) v[0]).isCloseTo(-1.5 / sd, within(1e-5));
            assertThat((double) v[3]).isCloseTo(1.5 / sd, within(1e-5));
        }
    }

    @Test
    void embeddingLooksUpRows() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Embedding e = new Embedding(3, 2);
            e.initialize(m, DataType.FLOAT32, new Shape(2, 2));
            ParameterNames.of(e).get("weight").getArray().set(new float[] {0, 1, 10, 11, 20, 21});
            NDArray y = e.forward(new ParameterStore(m, false),
                    new NDList(m.create(new int[] {2, 0, 1, 1}, new Shape(2, 2))), false)
                    .singletonOrThrow();
            assertThat(y.getShape()).isEqualTo(new Shape(2, 2, 2));
            assertThat(y.toFloatArray()).containsExactly(20, 21, 0, 1, 10, 11, 10, 11);
        }
    }
}
