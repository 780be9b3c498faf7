package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Tiny random-weight models written in the diffusers layout, built once per test JVM. */
final class TinyPipelines {

    private static Path textModel;
    private static Path classModel;

    private TinyPipelines() {}

    static final String UNET_CLASSES = """
            {
              "block_out_channels": [16, 32],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "in_channels": 3,
              "out_channels": 3,
              "sample_size": 16,
              "down_block_types": ["DownBlock2D", "DownBlock2D"],
              "up_block_types": ["UpBlock2D", "UpBlock2D"],
              "mid_block_type": "UNetMidBlock2D",
              "num_class_embeds": 4
            }
            """;

    /** A latent text-to-image model: tiny UNet, VAE (factor 2), CLIP encoder and BPE vocab. */
    static synchronized Path textToImage() {
        if (textModel == null) {
            textModel = build("text", dir -> TinyModels.writeTextToImage(dir,
                    SchedulerConfig.builder().build(), "tiny-text", 1f));
        }
        return textModel;
    }

    /** A pixel-space class-conditional model without VAE or text encoder. */
    static synchronized Path classConditional() {
        if (classModel == null) {
            classModel = build("classes", dir -> {
                try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                    UNet2DConditionModel unet = new UNet2DConditionModel(
                            UNet2DConditionConfig.fromJson(UNET_CLASSES));
                    TinyModels.init(unet, m, 4);
                    ModelWriter.of(unet, SchedulerConfig.builder().build())
                            .labels(List.of("ring", "moon", "star")).name("tiny-classes")
                            .write(dir);
                }
            });
        }
        return classModel;
    }

    private interface Writer {
        void write(Path dir) throws IOException;
    }

    private static Path build(String name, Writer writer) {
        try {
            Path root = Files.createTempDirectory("jdiffusion-tiny-");
            Path dir = root.resolve(name);
            writer.write(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
