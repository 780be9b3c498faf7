package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.TinyModels.allFinite;
import static dev.jdiffusion.djl.nn.TinyModels.gaussian;
import static dev.jdiffusion.djl.nn.TinyModels.init;
import static dev.jdiffusion.djl.nn.TinyModels.maxAbsDiff;
import static dev.jdiffusion.djl.nn.TinyModels.std;
import static dev.jdiffusion.djl.nn.TinyModels.store;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class UNet2DConditionModelTest {

    static NDManager base;
    static NDManager params;
    static UNet2DConditionModel unet;

    @BeforeAll
    static void build() {
        base = NDManager.newBaseManager("PyTorch");
        params = base.newSubManager();
        unet = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(TinyModels.UNET));
        init(unet, params, 11);
    }

    @AfterAll
    static void close() {
        base.close();
    }

    static NDList inputs(NDManager m, long seed, int h, int w) {
        return new NDList(gaussian(m, seed, 2, 4, h, w),
                m.create(new float[] {10f, 500.5f}),
                gaussian(m, seed + 1, 2, 5, 16));
    }

    @Test
    void inferenceInPlacePathGivesTheSameOutputAsTheTrainingPath() {
        // Inference forms SiLU, group-norm affine and residual sums in place on temporaries;
        // training keeps the allocating ops autograd needs. Both must compute the same network.
        // Attention kernels aside: inference's fused attention rounds differently from the
        // matMul path training uses, so the bit-exact comparison runs with matMul attention.
        String before = System.getProperty(FusedAttention.PROPERTY);
        System.setProperty(FusedAttention.PROPERTY, "matmul");
        try (NDManager m = base.newSubManager()) {
            NDList in = inputs(m, 3, 8, 6);
            NDArray input = in.get(0).duplicate();
            float[] inference = unet.forward(store(m), in, false).singletonOrThrow()
                    .toFloatArray();
            float[] training = unet.forward(store(m), in, true).singletonOrThrow()
                    .toFloatArray();
            assertThat(std(inference)).isGreaterThan(1e-3);
            assertThat(inference).containsExactly(training);
            assertThat(in.get(0).toFloatArray()).containsExactly(input.toFloatArray());
            // With the fused kernel, inference is the same network within float rounding.
            System.clearProperty(FusedAttention.PROPERTY);
            float[] fused = unet.forward(store(m), in, false).singletonOrThrow().toFloatArray();
            for (int i = 0; i < fused.length; i++) {
                assertThat((double) fused[i]).isCloseTo(training[i], within(1e-5));
            }
        } finally {
            if (before == null) {
                System.clearProperty(FusedAttention.PROPERTY);
            } else {
                System.setProperty(FusedAttention.PROPERTY, before);
            }
        }
    }

    @Test
    void forwardGivesFiniteOutputOfTheInputShapeDeterministically() {
        try (NDManager m = base.newSubManager()) {
            NDArray y1 = unet.forward(store(m), inputs(m, 1, 8, 8), false).singletonOrThrow();
            NDArray y2 = unet.forward(store(m), inputs(m, 1, 8, 8), false).singletonOrThrow();
            assertThat(y1.getShape()).isEqualTo(new Shape(2, 4, 8, 8));
            float[] a = y1.toFloatArray();
            assertThat(allFinite(a)).isTrue();
            assertThat(std(a)).isGreaterThan(1e-3);
            assertThat(y2.toFloatArray()).containsExactly(a);
        }
    }

    @Test
    void outputDependsOnTextTimestepAndInput() {
        try (NDManager m = base.newSubManager()) {
            NDList in = inputs(m, 1, 8, 8);
            float[] ref = unet.forward(store(m), in, false).singletonOrThrow().toFloatArray();
            NDList otherText = new NDList(in.get(0), in.get(1), gaussian(m, 99, 2, 5, 16));
            NDList otherTime = new NDList(in.get(0), m.create(new float[] {900f, 3f}), in.get(2));
            for (NDList changed : new NDList[] {otherText, otherTime}) {
                float[] y = unet.forward(store(m), changed, false).singletonOrThrow()
                        .toFloatArray();
                assertThat(maxAbsDiff(ref, y)).isGreaterThan(1e-4);
            }
            // a scalar timestep is broadcast over the batch
            NDList scalar = new NDList(in.get(0), m.create(7f), in.get(2));
            NDList explicit = new NDList(in.get(0), m.create(new float[] {7f, 7f}), in.get(2));
            assertThat(unet.forward(store(m), scalar, false).singletonOrThrow().toFloatArray())
                    .containsExactly(unet.forward(store(m), explicit, false).singletonOrThrow()
                            .toFloatArray());
        }
    }

    @Test
    void oddSpatialSizesAreHandledAsDiffusersDoes() {
        try (NDManager m = base.newSubManager()) {
            NDArray y = unet.forward(store(m), inputs(m, 2, 9, 7), false).singletonOrThrow();
            assertThat(y.getShape()).isEqualTo(new Shape(2, 4, 9, 7));
            assertThat(allFinite(y.toFloatArray())).isTrue();
        }
    }

    @Test
    void forwardFreesItsTemporariesAndLeavesTheParametersManagerAlone() {
        int paramArrays = ((BaseNDManager) params).getManagedArrays().size();
        try (NDManager m = base.newSubManager()) {
            NDList in = inputs(m, 3, 8, 8);
            int before = ((BaseNDManager) m).getManagedArrays().size();
            unet.forward(store(m), in, false);
            unet.forward(store(m), in, false);
            // only the two outputs remain
            assertThat(((BaseNDManager) m).getManagedArrays()).hasSize(before + 2);
        }
        assertThat(((BaseNDManager) params).getManagedArrays()).hasSize(paramArrays);
    }

    @Test
    void wrongInputsAreRejectedWithClearMessages() {
        try (NDManager m = base.newSubManager()) {
            NDList in = inputs(m, 1, 8, 8);
            assertThatThrownBy(() -> unet.forward(store(m), new NDList(in.get(0), in.get(1)),
                    false)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("expected 3 inputs");
            assertThatThrownBy(() -> unet.predict(store(m), in.get(0), in.get(1), null, null,
                    false)).hasMessageContaining("encoder_hidden_states");
            assertThatThrownBy(() -> unet.predict(store(m), gaussian(m, 1, 2, 3, 8, 8),
                    in.get(1), in.get(2), null, false)).hasMessageContaining("(N, 4, H, W)");
            assertThatThrownBy(() -> unet.predict(store(m), in.get(0), in.get(1),
                    gaussian(m, 1, 2, 5, 8), null, false))
                    .hasMessageContaining("cross_attention_dim 16");
            assertThatThrownBy(() -> unet.predict(store(m), in.get(0), in.get(1), in.get(2),
                    m.create(new int[] {0, 1}), false)).hasMessageContaining("no class");
        }
    }

    @Test
    void classConditionalModelWithoutTextRuns() {
        UNet2DConditionModel model =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(TinyModels.UNET_CLASSES));
        Map<String, ai.djl.nn.Parameter> names = ParameterNames.of(model);
        assertThat(names.get("class_embedding.weight").getShape()).isEqualTo(new Shape(5, 64));
        assertThat(names).containsKey("mid_block.resnets.0.conv1.weight")
                .doesNotContainKey("mid_block.resnets.1.conv1.weight");
        assertThat(names.keySet()).noneMatch(k -> k.contains("attentions"));
        try (NDManager m = base.newSubManager()) {
            init(model, m, 5);
            NDArray x = gaussian(m, 4, 2, 3, 12, 12);
            NDArray t = m.create(new float[] {3f, 3f});
            float[] a = model.forward(store(m), new NDList(x, t, m.create(new int[] {0, 4})),
                    false).singletonOrThrow().toFloatArray();
            float[] b = model.forward(store(m), new NDList(x, t, m.create(new long[] {1, 4})),
                    false).singletonOrThrow().toFloatArray();
            assertThat(a).hasSize(2 * 3 * 12 * 12);
            assertThat(allFinite(a)).isTrue();
            int half = a.length / 2; // first sample's label changed, second's did not
            assertThat(maxAbsDiff(java.util.Arrays.copyOf(a, half),
                    java.util.Arrays.copyOf(b, half))).isGreaterThan(1e-5);
            assertThat(java.util.Arrays.copyOfRange(a, half, a.length))
                    .containsExactly(java.util.Arrays.copyOfRange(b, half, b.length));
            assertThatThrownBy(() -> model.forward(store(m),
                    new NDList(x, t, m.create(new int[] {0, 5})), false))
                    .hasMessageContaining("outside [0, 5)");
            assertThatThrownBy(() -> model.predict(store(m), x, t, gaussian(m, 1, 2, 3, 4),
                    m.create(new int[] {0, 1}), false))
                    .hasMessageContaining("no cross-attention");
        }
    }

    @Test
    void sd2StyleLinearProjectionAndPerBlockHeadsRun() {
        String json = """
                {"block_out_channels": [16, 32], "layers_per_block": [1, 2],
                 "norm_num_groups": 4, "cross_attention_dim": 8, "attention_head_dim": [2, 4],
                 "use_linear_projection": true, "in_channels": 9, "out_channels": 4,
                 "transformer_layers_per_block": 1,
                 "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
                """;
        UNet2DConditionModel model =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(json));
        Map<String, ai.djl.nn.Parameter> names = ParameterNames.of(model);
        assertThat(names.get("conv_in.weight").getShape()).isEqualTo(new Shape(16, 9, 3, 3));
        assertThat(names.get("down_blocks.0.attentions.0.proj_in.weight").getShape())
                .isEqualTo(new Shape(16, 16));
        assertThat(names.get("mid_block.attentions.0.proj_out.weight").getShape())
                .isEqualTo(new Shape(32, 32));
        // up block 0 mirrors down block 1: 2 + 1 resnets, the last one with 16 skip channels
        assertThat(names.get("up_blocks.0.resnets.2.conv1.weight").getShape())
                .isEqualTo(new Shape(32, 32 + 16, 3, 3));
        assertThat(names).doesNotContainKey("up_blocks.0.resnets.3.conv1.weight");
        try (NDManager m = base.newSubManager()) {
            init(model, m, 2);
            NDArray y = model.forward(store(m), new NDList(gaussian(m, 1, 1, 9, 8, 8),
                    m.create(new float[] {1f}), gaussian(m, 2, 1, 3, 8)), false)
                    .singletonOrThrow();
            assertThat(y.getShape()).isEqualTo(new Shape(1, 4, 8, 8));
            assertThat(allFinite(y.toFloatArray())).isTrue();
        }
    }

    @Test
    void noMidBlockIsAllowed() {
        String json = TinyModels.UNET_CLASSES.replace("\"UNetMidBlock2D\"", "null");
        UNet2DConditionModel model =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(json));
        assertThat(ParameterNames.of(model).keySet()).noneMatch(k -> k.startsWith("mid_block"));
        try (NDManager m = base.newSubManager()) {
            init(model, m, 2);
            NDArray y = model.forward(store(m), new NDList(gaussian(m, 1, 1, 3, 8, 8),
                    m.create(new float[] {1f}), m.create(new int[] {2})), false)
                    .singletonOrThrow();
            assertThat(y.getShape()).isEqualTo(new Shape(1, 3, 8, 8));
        }
    }
}
