package dev.jdiffusion.djl.testing;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.GeneratedImage;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.stream.Stream;

/**
 * Tiny random-weight models in the diffusers layout for tests of every module (shared through
 * diffusion-djl's test jar): a latent text-to-image model (UNet 16/32 channels, a VAE that
 * halves the size, a 2-layer CLIP text encoder with a 600-token BPE vocabulary; native size
 * 16×16) and the configurations it is built from. Weights come from fixed engine seeds, so the
 * same call writes the same files.
 */
public final class TinyModels {

    /** The UNet of the text-to-image model: 8×8 latents, cross-attention in one level. */
    public static final String UNET = """
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

    /** The VAE of the text-to-image model: 4 latent channels, factor 2. */
    public static final String VAE = """
            {
              "block_out_channels": [16, 32],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "latent_channels": 4,
              "scaling_factor": 0.5
            }
            """;

    /** Captions the tokenizer's vocabulary is learned from. */
    public static final List<String> CAPTIONS = List.of("a cat face", "a red apple",
            "grinning face with big eyes", "blue car", "dog face", "猫 の 顔");

    /**
     * Parameter counts of the networks written, taken from the blocks (not from the files).
     *
     * @param unet UNet parameters
     * @param vae VAE parameters
     * @param text text encoder parameters
     */
    public record Counts(long unet, long vae, long text) {}

    private TinyModels() {}

    /**
     * Writes the text-to-image model.
     *
     * @param dir the model folder to create; its tokenizer is first learned into a sibling
     *     folder named {@code <dir>-tok}
     * @param scheduler the scheduler configuration
     * @param name the model name in {@code jdiffusion.json}
     * @param convOutScale factor applied to the UNet's {@code conv_out} weights (1 for the
     *     normal model; huge values make a model whose outputs overflow)
     * @return the parameter counts
     * @throws IOException if writing fails
     */
    public static Counts writeTextToImage(Path dir, SchedulerConfig scheduler, String name,
            float convOutScale) throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Path tok = Files.createDirectories(dir.resolveSibling(dir.getFileName() + "-tok"));
            new BpeTrainer(600).train(CAPTIONS).write(tok);
            int vocab = new ObjectMapper().readTree(tok.resolve("vocab.json").toFile()).size();
            ClipTextModel text = new ClipTextModel(new ClipTextConfig(vocab, 16, 32, 2, 2, 77,
                    "quick_gelu", 1e-5f, OptionalInt.empty()));
            UNet2DConditionModel unet = new UNet2DConditionModel(
                    UNet2DConditionConfig.fromJson(UNET));
            AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(VAE));
            init(text, m, 1);
            init(unet, m, 2);
            init(vae, m, 3);
            if (convOutScale != 1f) {
                var named = ParameterNames.of(unet);
                named.get("conv_out.weight").getArray().muli(convOutScale);
                named.get("conv_out.bias").getArray().muli(convOutScale);
            }
            ModelWriter.of(unet, scheduler).vae(vae).textEncoder(text, tok).name(name)
                    .defaults(5.0, "euler").write(dir);
            return new Counts(count(unet), count(vae), count(text));
        }
    }

    /**
     * Initialises a block's parameters from a fixed engine seed.
     *
     * @param block the block
     * @param manager the manager that will own the parameters
     * @param seed the engine seed
     */
    public static void init(Block block, NDManager manager, int seed) {
        Engine.getInstance().setRandomSeed(seed);
        block.initialize(manager, DataType.FLOAT32);
    }

    /**
     * Deletes a folder and everything in it, best effort (for temporary folders).
     *
     * @param dir the folder
     */
    public static void deleteTree(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // best effort: a temporary folder
        }
    }

    private static long count(Block block) {
        long n = 0;
        for (Parameter p : ParameterNames.of(block).values()) {
            n += p.getArray().getShape().size();
        }
        return n;
    }

    /**
     * A deterministic RGB test image.
     *
     * @param w width
     * @param h height
     * @param seed varies the pattern
     * @return the image
     */
    public static GeneratedImage pattern(int w, int h, int seed) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = (((x * 16 + seed) & 255) << 16) | (((y * 16) & 255) << 8)
                        | ((x + y + seed) % 2 == 0 ? 200 : 40);
            }
        }
        return new GeneratedImage(w, h, px, null, Map.of());
    }

    /**
     * A mask that repaints the left half.
     *
     * @param w width
     * @param h height
     * @return the mask (white = repaint)
     */
    public static GeneratedImage leftHalfMask(int w, int h) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w / 2; x++) {
                px[y * w + x] = 0xFFFFFF;
            }
        }
        return new GeneratedImage(w, h, px, null, Map.of());
    }
}
