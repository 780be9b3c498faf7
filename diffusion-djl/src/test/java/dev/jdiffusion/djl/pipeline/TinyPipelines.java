package dev.jdiffusion.djl.pipeline;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.text.BpeTrainer;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;

/** Tiny random-weight models written in the diffusers layout, built once per test JVM. */
final class TinyPipelines {

    private static Path textModel;
    private static Path classModel;

    private TinyPipelines() {}

    static final String UNET = """
            {
              "block_out_channels": [16, 32],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "cross_attention_dim": 16,
              "attention_head_dim": 2,
              "in_channels": 4,
              "out_channels": 4,
              "sample_size": 8,
              "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]
            }
            """;

    static final String VAE = """
            {
              "block_out_channels": [16, 32],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "latent_channels": 4,
              "scaling_factor": 0.5
            }
            """;

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
            textModel = build("text", dir -> {
                try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                    Path tok = Files.createDirectories(dir.resolveSibling("tok"));
                    new BpeTrainer(600).train(List.of("a cat face", "a red apple",
                            "grinning face with big eyes", "blue car", "dog face")).write(tok);
                    int vocab = vocabSize(tok);
                    ClipTextModel text = new ClipTextModel(new ClipTextConfig(vocab, 16, 32, 2, 2,
                            77, "quick_gelu", 1e-5f, OptionalInt.empty()));
                    UNet2DConditionModel unet = new UNet2DConditionModel(
                            UNet2DConditionConfig.fromJson(UNET));
                    AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(VAE));
                    init(text, m, 1);
                    init(unet, m, 2);
                    init(vae, m, 3);
                    ModelWriter.of(unet, SchedulerConfig.builder().build())
                            .vae(vae).textEncoder(text, tok).name("tiny-text")
                            .defaults(5.0, "euler").write(dir);
                }
            });
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
                    init(unet, m, 4);
                    ModelWriter.of(unet, SchedulerConfig.builder().build())
                            .labels(List.of("ring", "moon", "star")).name("tiny-classes")
                            .write(dir);
                }
            });
        }
        return classModel;
    }

    static void init(Block block, NDManager manager, int seed) {
        Engine.getInstance().setRandomSeed(seed);
        block.initialize(manager, DataType.FLOAT32);
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

    private static int vocabSize(Path tok) throws IOException {
        return new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(tok.resolve("vocab.json").toFile()).size();
    }
}
