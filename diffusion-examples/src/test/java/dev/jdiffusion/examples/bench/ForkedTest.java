package dev.jdiffusion.examples.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.testing.Fixtures;
import dev.jdiffusion.djl.text.ClipTextConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ForkedTest {

    @Test
    void measuresPeakMemoryOfATinyLatentModelInAFreshJvm(@TempDir Path dir) throws Exception {
        Path clip = Fixtures.clipFolder();
        UNet2DConditionConfig unet = UNet2DConditionConfig.fromJson("""
                {"block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 8,
                 "cross_attention_dim": 32, "attention_head_dim": 2, "sample_size": 16,
                 "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"]}""");
        AutoencoderKLConfig vae = AutoencoderKLConfig.fromJson("""
                {"block_out_channels": [8, 16], "layers_per_block": 1, "norm_num_groups": 4,
                 "latent_channels": 4,
                 "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
                 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"]}""");
        ClipTextConfig text = new ClipTextConfig(49408, 32, 64, 1, 2, 77, "quick_gelu", 1e-5f,
                OptionalInt.empty());
        Path model = RandomModels.latent(dir.resolve("m"), clip, unet, vae, text, "tiny");
        assertThat(model.resolve("vae/diffusion_pytorch_model.safetensors")).isRegularFile();
        long written = Files.getLastModifiedTime(model.resolve("model_index.json")).toMillis();
        assertThat(RandomModels.latent(model, clip, unet, vae, text, "tiny")).isEqualTo(model);
        assertThat(Files.getLastModifiedTime(model.resolve("model_index.json")).toMillis())
                .as("an existing folder is reused").isEqualTo(written);

        Forked.Child c = Forked.run(1, "peak", model.toString(), "32", "1", "2.0");
        assertThat(c.values()).containsEntry("images", "1").containsEntry("size", "32");
        long hwm = Long.parseLong(c.values().get("vmhwm_kb"));
        long rss = Long.parseLong(c.values().get("vmrss_kb"));
        assertThat(hwm).isGreaterThanOrEqualTo(rss).isGreaterThan(10_000); // a JVM is > 10 MB
        assertThat(c.wallSeconds()).isPositive();
    }

    @Test
    void reportsAFailingChildWithItsOutput() {
        assertThatThrownBy(() -> Forked.run(1, "peak", "/nonexistent-model", "32", "1", "2"))
                .isInstanceOf(IOException.class).hasMessageContaining("failed (exit")
                .hasMessageContaining("nonexistent-model");
    }
}
