package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What the trainer feeds the model: timesteps, noisy inputs and condition dropout. */
class TrainerSamplingTest {

    /** y = scale·x, recording its inputs. */
    static final class RecordingBlock extends AbstractBlock {
        final List<float[]> timesteps = new ArrayList<>();
        final List<int[]> conditions = new ArrayList<>();
        final List<float[]> inputs = new ArrayList<>();
        private final Parameter scale;

        RecordingBlock() {
            scale = addParameter(Parameter.builder().setName("scale")
                    .setType(Parameter.Type.WEIGHT).optShape(new Shape(1, 1)).build());
        }

        @Override
        protected NDList forwardInternal(ParameterStore ps, NDList in, boolean training,
                PairList<String, Object> params) {
            inputs.add(in.get(0).toFloatArray());
            timesteps.add(in.get(1).toFloatArray());
            if (in.size() > 2) {
                conditions.add(in.get(2).toIntArray());
            }
            NDArray w = ps.getValue(scale, in.get(0).getDevice(), training);
            return new NDList(in.get(0).mul(w));
        }

        @Override
        public Shape[] getOutputShapes(Shape[] s) {
            return new Shape[] {s[0]};
        }
    }

    @Test
    void timestepsAreUniformAndConditionsDroppedAtTheConfiguredRate() throws Exception {
        int n = 64;
        int[] labels = new int[n];
        float[] xy = new float[2 * n];
        for (int i = 0; i < n; i++) {
            labels[i] = i % 3;
        }
        RecordingBlock block = new RecordingBlock();
        TrainingConfig config = TrainingConfig.builder().optSteps(50).optBatchSize(64)
                .optConditionDropout(0.3).optSeed(5).build();
        try (NDManager m = NDManager.newBaseManager();
                DiffusionTrainer t = DiffusionTrainer.builder().setModel(block)
                        .setData(new LabelledData(xy, new Shape(2), labels, 3))
                        .setConfig(config).optManager(m).build()) {
            t.train();
        }
        long nulls = 0;
        long total = 0;
        double sum = 0;
        float min = Float.MAX_VALUE;
        float max = -1;
        for (int s = 0; s < block.timesteps.size(); s++) {
            for (float v : block.timesteps.get(s)) {
                sum += v;
                min = Math.min(min, v);
                max = Math.max(max, v);
                assertThat(v).isEqualTo((float) Math.rint(v)); // integer timesteps
            }
            for (int c : block.conditions.get(s)) {
                nulls += c == 3 ? 1 : 0;
                total++;
            }
        }
        // 3200 draws: dropout rate 0.3 ± 0.03 (3.7 standard errors), timestep mean 499.5 ± 20
        // (4 standard errors of a uniform over 0..999), range close to [0, 999].
        assertThat((double) nulls / total).isCloseTo(0.3, within(0.03));
        assertThat(sum / total).isCloseTo(499.5, within(20.0));
        assertThat(min).isLessThan(5f);
        assertThat(max).isGreaterThan(994f).isLessThanOrEqualTo(999f);
        // x₀ = 0, so the input is √(1−ᾱ_t)·ε: at t = 999 (ᾱ ≈ 4e-5) it has unit variance.
        double sq = 0;
        int count = 0;
        for (int s = 0; s < block.inputs.size(); s++) {
            float[] ts = block.timesteps.get(s);
            float[] x = block.inputs.get(s);
            for (int i = 0; i < ts.length; i++) {
                if (ts[i] > 900) {
                    sq += x[2 * i] * x[2 * i] + x[2 * i + 1] * x[2 * i + 1];
                    count += 2;
                }
            }
        }
        assertThat(sq / count).isCloseTo(1.0, within(0.1));
    }
}
