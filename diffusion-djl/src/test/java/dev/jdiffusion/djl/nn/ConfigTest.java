package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigTest {

    static final String SD2_UNET = """
            {"_class_name": "UNet2DConditionModel", "attention_head_dim": [5, 10, 20, 20],
             "block_out_channels": [320, 640, 1280, 1280], "cross_attention_dim": 1024,
             "use_linear_projection": true, "layers_per_block": 2, "norm_num_groups": 32,
             "upcast_attention": true, "dual_cross_attention": false}
            """;

    @Test
    void readsSd15WithDiffusersMeaningOfAttentionHeadDim() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(Sd15Configs.UNET);
        assertThat(c.blockOutChannels()).containsExactly(320, 640, 1280, 1280);
        assertThat(c.attentionHeadDim()).containsExactly(8, 8, 8, 8);
        assertThat(c.crossAttentionDim()).containsExactly(768, 768, 768, 768);
        assertThat(c.layersPerBlock()).containsExactly(2, 2, 2, 2);
        assertThat(c.midBlockType()).isEqualTo("UNetMidBlock2DCrossAttn");
        assertThat(c.usesCrossAttention()).isTrue();
        assertThat(c.timeEmbedDim()).isEqualTo(1280);
        assertThat(c.sampleSize()).isEqualTo(64);
        // SD 1.5: 8 heads of 40 channels in the first block
        UNet2DConditionModel unet = new UNet2DConditionModel(c);
        assertThat(ParameterNames.of(unet)
                .get("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight")
                .getShape().getShape()).containsExactly(320, 320);
    }

    @Test
    void readsSd2PerBlockHeadCounts() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(SD2_UNET);
        assertThat(c.attentionHeadDim()).containsExactly(5, 10, 20, 20); // heads of 64 each
        assertThat(c.useLinearProjection()).isTrue();
        assertThat(c.crossAttentionDim()).containsOnly(1024);
    }

    @Test
    void toJsonRoundTripsAndIsWhatDiffusersExpects() throws IOException {
        for (String json : List.of(Sd15Configs.UNET, SD2_UNET, TinyModels.UNET,
                TinyModels.UNET_CLASSES)) {
            UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(json);
            String out = c.toJson();
            assertThat(UNet2DConditionConfig.fromJson(out)).isEqualTo(c);
            JsonNode node = new ObjectMapper().readTree(out);
            assertThat(node.get("_class_name").asText()).isEqualTo("UNet2DConditionModel");
            assertThat(node.get("class_embed_type").isNull()).isTrue();
        }
        JsonNode sd15 = new ObjectMapper().readTree(
                UNet2DConditionConfig.fromJson(Sd15Configs.UNET).toJson());
        assertThat(sd15.get("attention_head_dim").asInt()).isEqualTo(8); // int, as in the hub
        assertThat(sd15.get("cross_attention_dim").asInt()).isEqualTo(768);
        assertThat(sd15.get("norm_eps").asDouble()).isEqualTo(1e-5, org.assertj.core.api
                .Assertions.within(1e-12));
        JsonNode sd2 = new ObjectMapper().readTree(UNet2DConditionConfig.fromJson(SD2_UNET)
                .toJson());
        assertThat(sd2.get("attention_head_dim").isArray()).isTrue();

        AutoencoderKLConfig v = AutoencoderKLConfig.fromJson(Sd15Configs.VAE);
        assertThat(AutoencoderKLConfig.fromJson(v.toJson())).isEqualTo(v);
        assertThat(new ObjectMapper().readTree(v.toJson()).get("_class_name").asText())
                .isEqualTo("AutoencoderKL");
    }

    @Test
    void readsFiles(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("config.json");
        Files.writeString(f, Sd15Configs.VAE);
        AutoencoderKLConfig v = AutoencoderKLConfig.fromJson(f);
        assertThat(v.scalingFactor()).isEqualTo(0.18215f);
        assertThat(v.shiftFactor()).isNull();
        assertThat(v.downsampleFactor()).isEqualTo(8);
        Files.writeString(f, "{\"block_out_channels\": [1000000000]}");
        assertThatThrownBy(() -> UNet2DConditionConfig.fromJson(f))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(f.toString())
                .hasMessageContaining("block_out_channels entries must be in [1, 8192]");
    }

    @Test
    void classEmbeddingAliasAndShiftFactor() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(TinyModels.UNET_CLASSES
                .replace("\"num_class_embeds\": 5", "\"num_class_embeds\": 5, "
                        + "\"class_embed_type\": \"embedding\""));
        assertThat(c.numClassEmbeds()).isEqualTo(5);
        AutoencoderKLConfig v = AutoencoderKLConfig.fromJson(
                "{\"block_out_channels\": [32, 64], \"shift_factor\": 0.1159}");
        assertThat(v.shiftFactor()).isEqualTo(0.1159f);
    }

    static void rejects(String json, String message) {
        assertThatThrownBy(() -> UNet2DConditionConfig.fromJson(json))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(message);
    }

    @Test
    void rejectsInvalidOrAbsurdUnetConfigsBeforeBuildingAnything() {
        rejects("{\"block_out_channels\": [1000000000, 640]}", "block_out_channels entries");
        rejects("{\"block_out_channels\": [1e12]}", "list of integers");
        rejects("{\"block_out_channels\": [320, 640, 1280, 1280], \"norm_num_groups\": 30}",
                "divisible by norm_num_groups (30)");
        rejects("{\"block_out_channels\": [320, 640]}", "down_block_types has 4 entries");
        rejects("{\"attention_head_dim\": [8, 8]}", "attention_head_dim has 2 entries");
        rejects("{\"attention_head_dim\": 7}", "not divisible into attention_head_dim = 7");
        rejects("{\"layers_per_block\": 0}", "layers_per_block entries must be in [1, 32]");
        rejects("{\"down_block_types\": [\"AttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\","
                + " \"DownBlock2D\"]}", "\"AttnDownBlock2D\" is not supported");
        rejects("{\"mid_block_type\": \"UNetMidBlock2DSimpleCrossAttn\"}", "mid block type");
        rejects("{\"addition_embed_type\": \"text_time\"}",
                "needs addition_time_embed_dim and projection_class_embeddings_input_dim");
        rejects("{\"addition_embed_type\": \"text_image\"}",
                "addition_embed_type \"text_image\" is not supported");
        rejects("{\"addition_embed_type\": \"text_time\", \"addition_time_embed_dim\": 256,"
                + " \"projection_class_embeddings_input_dim\": 200}",
                "projection_class_embeddings_input_dim must be in");
        rejects("{\"num_attention_heads\": 8}", "num_attention_heads");
        rejects("{\"class_embed_type\": \"timestep\"}", "class_embed_type \"timestep\"");
        rejects("{\"in_channels\": \"four\"}", "\"in_channels\" must be an integer");
        rejects("{\"norm_eps\": -1}", "norm_eps");
        rejects("{\"num_class_embeds\": 0}", "num_class_embeds must be in");
        rejects("[1, 2]", "must be a JSON object");
        rejects("{not json", "not valid JSON");
    }

    @Test
    void rejectsInvalidVaeConfigs() {
        assertThatThrownBy(() -> AutoencoderKLConfig.fromJson(
                "{\"block_out_channels\": [128, 250]}"))
                .hasMessageContaining("divisible by norm_num_groups (32); 250 is not");
        assertThatThrownBy(() -> AutoencoderKLConfig.fromJson(
                "{\"block_out_channels\": [128, 256], \"down_block_types\": "
                        + "[\"DownEncoderBlock2D\"]}"))
                .hasMessageContaining("down_block_types must have 2 entries");
        assertThatThrownBy(() -> AutoencoderKLConfig.fromJson(
                "{\"block_out_channels\": [64], \"scaling_factor\": 0}"))
                .hasMessageContaining("scaling_factor must be positive");
    }
}
