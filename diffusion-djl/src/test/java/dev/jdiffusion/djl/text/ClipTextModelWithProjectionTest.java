package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.nn.ParameterNames;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

/**
 * The pooling position and parameter names of {@link ClipTextModelWithProjection}; its outputs
 * are checked against transformers' semantics by SdxlParityTest.
 */
class ClipTextModelWithProjectionTest {

    private static final ClipTextConfig CONFIG = new ClipTextConfig(30, 8, 16, 2, 2, 77,
            ClipTextConfig.GELU, 1e-5f, OptionalInt.of(6));

    @Test
    void poolsAtTheLargestIdWithTheLegacyEosIdAndAtTheFirstEosOtherwise() {
        // bos 1, text 20 (larger than the eos 9), eos 9, padding 0 / a second eos
        int[] ids = {1, 20, 9, 0, 0, 1, 4, 9, 9, 9};
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            var input = m.create(ids, new Shape(2, 5));
            assertThat(new ClipTextModelWithProjection(CONFIG,
                    ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID).poolPositions(input))
                    .containsExactly(1, 2);
            assertThat(new ClipTextModelWithProjection(CONFIG, 9).poolPositions(input))
                    .containsExactly(2, 2);
            // No eos at all: position 0, as torch's argmax of an all-false row.
            assertThat(new ClipTextModelWithProjection(CONFIG, 29).poolPositions(input))
                    .containsExactly(0, 0);
        }
    }

    @Test
    void hasTransformersParameterNamesAndAnUnbiasedProjection() {
        var names = ParameterNames.of(new ClipTextModelWithProjection(CONFIG, 2));
        assertThat(names).containsKeys("text_projection.weight",
                "text_model.final_layer_norm.weight",
                "text_model.encoder.layers.1.self_attn.q_proj.bias");
        assertThat(names).doesNotContainKey("text_projection.bias");
        assertThat(names.get("text_projection.weight").getShape()).isEqualTo(new Shape(6, 8));
        assertThatThrownBy(() -> new ClipTextModelWithProjection(CONFIG, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("eos");
    }
}
