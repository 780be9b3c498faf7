package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTextConfigTest {

    /** The text_encoder/config.json of runwayml/stable-diffusion-v1-5, fields as published. */
    private static final String SD15_JSON = """
            {
              "_name_or_path": "openai/clip-vit-large-patch14",
              "architectures": ["CLIPTextModel"],
              "attention_dropout": 0.0,
              "bos_token_id": 0,
              "dropout": 0.0,
              "eos_token_id": 2,
              "hidden_act": "quick_gelu",
              "hidden_size": 768,
              "initializer_factor": 1.0,
              "initializer_range": 0.02,
              "intermediate_size": 3072,
              "layer_norm_eps": 1e-05,
              "max_position_embeddings": 77,
              "model_type": "clip_text_model",
              "num_attention_heads": 12,
              "num_hidden_layers": 12,
              "pad_token_id": 1,
              "projection_dim": 768,
              "torch_dtype": "float32",
              "transformers_version": "4.22.0.dev0",
              "vocab_size": 49408
            }
            """;

    @Test
    void readsTheSd15Config(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("config.json");
        Files.writeString(f, SD15_JSON);
        ClipTextConfig c = ClipTextConfig.fromJson(f);
        assertThat(c).isEqualTo(new ClipTextConfig(49408, 768, 3072, 12, 12, 77, "quick_gelu",
                1e-5f, OptionalInt.of(768)));
        assertThat(c).isEqualTo(ClipTextConfig.sd15());
        assertThat(c.headDim()).isEqualTo(64);
    }

    @Test
    void jsonRoundTrips(@TempDir Path dir) throws IOException {
        for (ClipTextConfig c : new ClipTextConfig[] {ClipTextConfig.sd15(),
                ClipTextModelTest.TINY_QUICK, ClipTextModelTest.TINY_GELU}) {
            Path f = dir.resolve("c.json");
            Files.writeString(f, c.toJson());
            assertThat(ClipTextConfig.fromJson(f)).isEqualTo(c);
            assertThat(c.toJson()).contains("\"model_type\" : \"clip_text_model\"");
        }
    }

    @Test
    void rejectsInvalidConfigurations() {
        assertThatThrownBy(() -> new ClipTextConfig(49408, 768, 3072, 12, 5, 77, "quick_gelu",
                1e-5f, OptionalInt.empty())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("multiple of num_attention_heads");
        assertThatThrownBy(() -> new ClipTextConfig(49408, 768, 3072, 12, 12, 77, "relu",
                1e-5f, OptionalInt.empty())).hasMessageContaining("hidden_act");
        assertThatThrownBy(() -> new ClipTextConfig(0, 768, 3072, 12, 12, 77, "gelu",
                1e-5f, OptionalInt.empty())).hasMessageContaining("vocab_size");
        assertThatThrownBy(() -> new ClipTextConfig(49408, 768, 3072, 12, 12, 77, "gelu",
                0f, OptionalInt.empty())).hasMessageContaining("layer_norm_eps");
        // Each size is plausible alone; together they would need 10^11 parameters.
        assertThatThrownBy(() -> new ClipTextConfig(5_000_000, 32_768, 3072, 12, 8, 77, "gelu",
                1e-5f, OptionalInt.empty())).hasMessageContaining("parameters");
    }

    @Test
    void loadErrorsNameTheFileAndField(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("config.json");
        assertThatThrownBy(() -> ClipTextConfig.fromJson(f))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not found");
        Files.writeString(f, "{not json");
        assertThatThrownBy(() -> ClipTextConfig.fromJson(f))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("cannot parse");
        Files.writeString(f, SD15_JSON.replace("\"hidden_size\": 768,", ""));
        assertThatThrownBy(() -> ClipTextConfig.fromJson(f))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("hidden_size")
                .hasMessageContaining(f.toString());
        Files.writeString(f, SD15_JSON.replace("\"vocab_size\": 49408", "\"vocab_size\": 1e12"));
        assertThatThrownBy(() -> ClipTextConfig.fromJson(f))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("vocab_size");
        Files.writeString(f, SD15_JSON.replace("\"num_hidden_layers\": 12",
                "\"num_hidden_layers\": 2000000"));
        assertThatThrownBy(() -> ClipTextConfig.fromJson(f))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("num_hidden_layers");
    }
}
