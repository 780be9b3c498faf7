package dev.jdiffusion.examples.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.pipeline.ModelWriter;
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

/**
 * A tiny random-weight latent text-to-image model in the diffusers layout (UNet with 16/32
 * channels, a VAE that halves the size, a 2-layer CLIP encoder with its own BPE vocabulary),
 * written once per test JVM. Native size 16x16 pixels.
 */
final class TinyModel {

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

    private static Path textModel;
    /** Parameter counts of the networks as built (from the blocks, not from the files). */
    static long unetParams;
    static long vaeParams;
    static long textParams;

    private TinyModel() {}

    /** The model folder (built on first use). */
    static synchronized Path textToImage() {
        if (textModel == null) {
            try {
                Path root = Files.createTempDirectory("jdiffusion-cli-tiny-");
                Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(root)));
                Path dir = root.resolve("tiny");
                try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                    Path tok = Files.createDirectories(root.resolve("tok"));
                    new BpeTrainer(600).train(List.of("a cat face", "a red apple",
                            "grinning face with big eyes", "blue car", "dog face")).write(tok);
                    int vocab = new ObjectMapper().readTree(tok.resolve("vocab.json").toFile())
                            .size();
                    ClipTextModel text = new ClipTextModel(new ClipTextConfig(vocab, 16, 32, 2, 2,
                            77, "quick_gelu", 1e-5f, OptionalInt.empty()));
                    UNet2DConditionModel unet = new UNet2DConditionModel(
                            UNet2DConditionConfig.fromJson(UNET));
                    AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(VAE));
                    init(text, m, 1);
                    init(unet, m, 2);
                    init(vae, m, 3);
                    unetParams = count(unet);
                    vaeParams = count(vae);
                    textParams = count(text);
                    SchedulerConfig sched = SchedulerConfig.builder().className("DDPMScheduler")
                            .betas("scaled_linear", 0.00085, 0.012).build();
                    ModelWriter.of(unet, sched)
                            .vae(vae).textEncoder(text, tok).name("tiny-text")
                            .defaults(5.0, "euler").write(dir);
                }
                textModel = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return textModel;
    }

    private static void deleteTree(Path dir) {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // best effort: a temp folder
        }
    }

    private static long count(Block block) {
        long n = 0;
        for (Parameter p : ParameterNames.of(block).values()) {
            n += p.getArray().getShape().size();
        }
        return n;
    }

    private static void init(Block block, NDManager manager, int seed) {
        Engine.getInstance().setRandomSeed(seed);
        block.initialize(manager, DataType.FLOAT32);
    }
}
