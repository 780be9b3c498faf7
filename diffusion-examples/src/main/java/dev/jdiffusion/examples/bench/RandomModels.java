package dev.jdiffusion.examples.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.pipeline.ModelWriter;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.samplers.SchedulerConfig;
import dev.jdiffusion.samplers.Schedulers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Random-weight models in the real shapes, for measurements that need no trained weights:
 * Stable Diffusion 1.5 (UNet, VAE, CLIP ViT-L/14 text encoder) and the shipped default model's
 * architecture. Folders are written in the diffusers layout with float16 weights (as published
 * SD 1.5 fp16 variants) and reused when already present. Stateless.
 */
public final class RandomModels {

    /** The default model's UNet: pixel space 32×32, channels [48, 96, 144]. */
    public static final String DEFAULT_UNET = """
            {"block_out_channels": [48, 96, 144], "layers_per_block": 1, "norm_num_groups": 16,
             "cross_attention_dim": 128, "attention_head_dim": 4, "in_channels": 3,
             "out_channels": 3, "sample_size": 32,
             "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]}
            """;

    /** The default model's text encoder width. */
    public static final int DEFAULT_TEXT_WIDTH = 128;

    private static final String DONE = ".bench-complete";

    private RandomModels() {}

    /**
     * The default model's text encoder configuration for a tokenizer.
     *
     * @param vocabSize the tokenizer's vocabulary size (2048 for the shipped model)
     * @return width 128, MLP 512, 3 layers, 4 heads, 77 positions
     */
    public static ClipTextConfig defaultText(int vocabSize) {
        return new ClipTextConfig(vocabSize, DEFAULT_TEXT_WIDTH, 4 * DEFAULT_TEXT_WIDTH, 3, 4,
                ClipTokenizer.DEFAULT_MAX_LENGTH, ClipTextConfig.QUICK_GELU, 1e-5f,
                OptionalInt.empty());
    }

    /**
     * Writes (or reuses) a random-weight Stable Diffusion 1.5 folder: UNet, VAE, CLIP text
     * encoder in float16 (≈ 2.1 GB), the tokenizer copied from {@code tokenizer}.
     *
     * @param dir the folder
     * @param tokenizer a folder with CLIP's vocab.json and merges.txt
     * @return {@code dir}
     * @throws IOException if writing fails
     */
    public static Path sd15(Path dir, Path tokenizer) throws IOException {
        return latent(dir, tokenizer, UNet2DConditionConfig.fromJson(Sd15Configs.UNET),
                AutoencoderKLConfig.fromJson(Sd15Configs.VAE), ClipTextConfig.sd15(),
                "sd15-random-weights");
    }

    /**
     * Writes (or reuses) a random-weight latent text-to-image folder with the SD 1.5 scheduler.
     *
     * @param dir the folder
     * @param tokenizer a folder with vocab.json and merges.txt
     * @param unetConfig the UNet (in_channels = the VAE's latent channels)
     * @param vaeConfig the VAE
     * @param textConfig the text encoder (hidden size = the UNet's cross_attention_dim)
     * @param name the model name
     * @return {@code dir}
     * @throws IOException if writing fails
     */
    static Path latent(Path dir, Path tokenizer, UNet2DConditionConfig unetConfig,
            AutoencoderKLConfig vaeConfig, ClipTextConfig textConfig, String name)
            throws IOException {
        if (Files.isRegularFile(dir.resolve(DONE))) {
            return dir;
        }
        try (NDManager m = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(0);
            UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
            unet.initialize(m, DataType.FLOAT32);
            AutoencoderKL vae = new AutoencoderKL(vaeConfig);
            vae.initialize(m, DataType.FLOAT32);
            ClipTextModel text = new ClipTextModel(textConfig);
            text.initialize(m, DataType.FLOAT32);
            ModelWriter.of(unet, Schedulers.stableDiffusion15().config())
                    .vae(vae).textEncoder(text, tokenizer).name(name)
                    .half(true).metadata(Map.of("note", "random weights for benchmarks"))
                    .write(dir);
        }
        Files.writeString(dir.resolve(DONE), "ok");
        return dir;
    }

    /**
     * Writes (or reuses) a random-weight LCM-distilled variant of a latent model folder: the
     * same VAE, text encoder, tokenizer and scheduler (hard-linked, or copied where links are
     * not possible), and a random UNet of {@code unetConfig}, which should set {@code
     * time_cond_proj_dim} (256 for LCM-distilled SD 1.5), stored in float16.
     *
     * @param dir the folder
     * @param base the folder whose other components are shared (for example {@link #sd15})
     * @param unetConfig the distilled UNet's configuration
     * @return {@code dir}
     * @throws IOException if reading or writing fails
     */
    public static Path lcmVariant(Path dir, Path base, UNet2DConditionConfig unetConfig)
            throws IOException {
        if (Files.isRegularFile(dir.resolve(DONE))) {
            return dir;
        }
        try (java.util.stream.Stream<Path> files = Files.walk(base)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path rel = base.relativize(f);
                if (rel.toString().isEmpty() || rel.startsWith("unet")
                        || rel.toString().equals(DONE)) {
                    continue;
                }
                Path to = dir.resolve(rel.toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(to);
                } else {
                    Files.createDirectories(to.getParent());
                    Files.deleteIfExists(to);
                    try {
                        Files.createLink(to, f);
                    } catch (IOException | UnsupportedOperationException e) {
                        Files.copy(f, to);
                    }
                }
            }
        }
        Path unetDir = Files.createDirectories(dir.resolve("unet"));
        try (NDManager m = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(1);
            UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
            unet.initialize(m, DataType.FLOAT32);
            StateDict.save(ParameterNames.of(unet),
                    unetDir.resolve("diffusion_pytorch_model.safetensors"), DataType.FLOAT16,
                    Map.of("note", "random weights for benchmarks"));
        }
        Files.writeString(unetDir.resolve("config.json"), unetConfig.toJson());
        Files.writeString(dir.resolve(DONE), "ok");
        return dir;
    }

    /**
     * Writes (or reuses) a random-weight TAESD folder ({@code AutoencoderTiny} with the
     * defaults of {@code madebyollin/taesd}, float16).
     *
     * @param dir the folder
     * @return {@code dir}
     * @throws IOException if writing fails
     */
    public static Path taesd(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(DONE))) {
            return dir;
        }
        Files.createDirectories(dir);
        try (NDManager m = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(2);
            dev.jdiffusion.djl.nn.AutoencoderTiny taesd = new dev.jdiffusion.djl.nn.AutoencoderTiny(
                    dev.jdiffusion.djl.nn.AutoencoderTinyConfig.fromJson("{}"));
            taesd.initialize(m, DataType.FLOAT32);
            StateDict.save(ParameterNames.of(taesd),
                    dir.resolve("diffusion_pytorch_model.safetensors"), DataType.FLOAT16,
                    Map.of("note", "random weights for benchmarks"));
        }
        Files.writeString(dir.resolve("config.json"), "{\"_class_name\": \"AutoencoderTiny\"}");
        Files.writeString(dir.resolve(DONE), "ok");
        return dir;
    }

    /**
     * Writes (or reuses) a random-weight model of the default model's architecture (pixel-space
     * UNet {@link #DEFAULT_UNET}, text encoder {@link #defaultText}) with the given tokenizer.
     *
     * @param dir the folder
     * @param tokenizer a folder with vocab.json and merges.txt
     * @return {@code dir}
     * @throws IOException if writing fails
     */
    public static Path defaultSize(Path dir, Path tokenizer) throws IOException {
        if (Files.isRegularFile(dir.resolve(DONE))) {
            return dir;
        }
        int vocab = ClipTokenizer.load(tokenizer).vocabSize();
        try (NDManager m = NDManager.newBaseManager()) {
            Engine.getInstance().setRandomSeed(0);
            UNet2DConditionModel unet = new UNet2DConditionModel(
                    UNet2DConditionConfig.fromJson(DEFAULT_UNET));
            unet.initialize(m, DataType.FLOAT32);
            ClipTextModel text = new ClipTextModel(defaultText(vocab));
            text.initialize(m, DataType.FLOAT32);
            SchedulerConfig scheduler = SchedulerConfig.builder()
                    .className("EulerDiscreteScheduler").numTrainTimesteps(1000)
                    .betas("linear", 1e-4, 0.02).build();
            ModelWriter.of(unet, scheduler).textEncoder(text, tokenizer)
                    .name("default-size-random-weights").defaults(4.0, "euler_a").half(true)
                    .write(dir);
        }
        Files.writeString(dir.resolve(DONE), "ok");
        return dir;
    }
}
