package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.djl.nn.Sd21Configs;
import dev.jdiffusion.djl.nn.SdxlConfigs;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.text.SdxlConditioner;
import dev.jdiffusion.djl.weights.CheckpointFamily;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.Schedulers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Builds a pipeline from a single-file checkpoint of SD 1.x, SD 2.x or SDXL base.
 *
 * <p>A single file carries weights only. The configurations are the published ones of the
 * family (SD 1.5, SD 2.1 768-v, SDXL base 1.0), unless the file has diffusers-style sibling
 * folders: {@code unet/config.json}, {@code vae/config.json}, {@code text_encoder/config.json}
 * and {@code text_encoder_2/config.json} next to the file replace them (all of them, when
 * {@code unet/config.json} is there), and {@code scheduler/scheduler_config.json} replaces the
 * family's schedule. The tokenizers are always siblings: CLIP's {@code vocab.json} and {@code
 * merges.txt} in {@code tokenizer/} (and, for SDXL, {@code tokenizer_2/}).
 *
 * <p>Defaults by family: SD 1.x 512 px, guidance 7.5, ε prediction; SD 2.x 768 px, guidance
 * 7.5 and <b>v-prediction</b> (the 768-v SD 2.1 is what people run; the 512-px ε model
 * stable-diffusion-2-1-base needs a sibling {@code scheduler/scheduler_config.json} with {@code
 * "prediction_type": "epsilon"} and a {@code unet/config.json} with {@code sample_size} 64);
 * SDXL base 1024 px, guidance 5.0, VAE scaling 0.13025, Euler's schedule; SDXL refiner 1024
 * px, encoder 2 alone (its tokenizer in {@code tokenizer_2/}; no {@code tokenizer/} needed),
 * aesthetic scores 6.0 and 2.5 when its UNet takes five time ids, an empty negative prompt
 * encoded (the released refiner's {@code force_zeros_for_empty_prompt} is false).
 */
final class SingleFileModel {

    /** Makes the pipeline's latent codec from the loaded VAE. */
    @FunctionalInterface
    interface CodecFactory {
        LatentCodec codec(AutoencoderKL vae) throws ModelLoadException;
    }

    /** SD 2.1 (768-v)'s scheduler_config.json. */
    static final String SD21_SCHEDULER = """
            {"_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
             "beta_start": 0.00085, "clip_sample": false, "num_train_timesteps": 1000,
             "prediction_type": "v_prediction", "set_alpha_to_one": false,
             "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null}
            """;

    /** SDXL base 1.0's scheduler_config.json. */
    static final String SDXL_SCHEDULER = """
            {"_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": false,
             "interpolation_type": "linear", "num_train_timesteps": 1000,
             "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": false,
             "skip_prk_steps": true, "steps_offset": 1, "timestep_spacing": "leading",
             "trained_betas": null, "use_karras_sigmas": false}
            """;

    private SingleFileModel() {}

    static DiffusionPipeline load(Path file, SingleFileCheckpoint ckpt, PipelineOptions options,
            NDManager manager, CodecFactory codecs) throws ModelLoadException {
        CheckpointFamily family = ckpt.family();
        boolean refiner = family == CheckpointFamily.SDXL_REFINER;
        // After the file's own checks: a corrupt or foreign file is reported as such, not as a
        // checkpoint that lacks only its tokenizer.
        Path tokDir = refiner ? null : tokenizer(file, "tokenizer");
        Path tok2Dir = family.isSdxl() ? tokenizer(file, "tokenizer_2") : null;
        boolean siblings = regular(file.resolveSibling("unet").resolve("config.json"));

        UNet2DConditionConfig unetConfig = siblings
                ? read(file, "unet", UNet2DConditionConfig::fromJson)
                : UNet2DConditionConfig.fromJson(switch (family) {
                    case SD1 -> Sd15Configs.UNET;
                    case SD2 -> Sd21Configs.UNET;
                    case SDXL_REFINER -> SdxlConfigs.REFINER_UNET;
                    default -> SdxlConfigs.UNET;
                });
        AutoencoderKLConfig vaeConfig = siblings
                ? read(file, "vae", AutoencoderKLConfig::fromJson)
                : AutoencoderKLConfig.fromJson(switch (family) {
                    case SD1 -> Sd15Configs.VAE;
                    case SD2 -> Sd21Configs.VAE;
                    default -> SdxlConfigs.VAE;
                });
        ClipTextConfig textConfig = refiner ? null : siblings
                ? ClipTextConfig.fromJson(configFile(file, "text_encoder"))
                : switch (family) {
                    case SD1 -> ClipTextConfig.sd15();
                    case SD2 -> Sd21Configs.textEncoder();
                    default -> SdxlConfigs.textEncoder();
                };
        ClipTextConfig text2Config = !family.isSdxl() ? null : siblings
                ? ClipTextConfig.fromJson(configFile(file, "text_encoder_2"))
                : SdxlConfigs.textEncoder2();
        if (family.isSdxl() && unetConfig.textTime() == null) {
            throw new ModelLoadException(file + " is an SDXL checkpoint but "
                    + file.resolveSibling("unet").resolve("config.json")
                    + " has no addition_embed_type \"text_time\"");
        }
        DiffusersScheduler scheduler = scheduler(file, family);

        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
        ckpt.loadUnet(ParameterNames.of(unet), manager, ModelFolder.unetDataType(options));
        ModelFolder.halfStorage(unet, options, manager);
        DataType dtype = ModelFolder.dataType(options);
        AutoencoderKL vae = new AutoencoderKL(vaeConfig);
        ckpt.loadVae(ParameterNames.of(vae), manager, ModelFolder.vaeDataType(options,
                vae.config()));
        ClipTextModel text = null;
        ClipTokenizer tokenizer = null;
        if (!refiner) {
            text = new ClipTextModel(textConfig);
            ckpt.loadTextEncoder(ParameterNames.of(text), manager, dtype);
            tokenizer = ClipTokenizer.load(tokDir);
        }
        Conditioner conditioner;
        try {
            if (family.isSdxl()) {
                ClipTextModelWithProjection text2 = new ClipTextModelWithProjection(text2Config,
                        ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID);
                ckpt.loadTextEncoder2(ParameterNames.of(text2), manager, dtype);
                conditioner = refiner ? refinerConditioner(file, unetConfig, text2,
                        ClipTokenizer.load(tok2Dir))
                        : new SdxlConditioner(tokenizer, text, ClipTokenizer.load(tok2Dir),
                                text2, 0, true);
            } else {
                conditioner = new ClipConditioner(tokenizer, text, 0);
            }
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file + ": the tokenizers in "
                    + (tokDir == null ? "" : tokDir + (tok2Dir == null ? "" : " and "))
                    + (tok2Dir == null ? "" : tok2Dir) + " do not fit the "
                    + family.displayName() + " text encoders: " + e.getMessage(), e);
        }
        LatentCodec codec = codecs.codec(vae);
        String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
        String name = lower.substring(0, lower.length() - ".safetensors".length());
        int size = unetConfig.sampleSize() == null ? 512
                : unetConfig.sampleSize() * vaeConfig.downsampleFactor();
        double guidance = family.isSdxl() ? 5.0 : 7.5;
        return new DiffusionPipeline(manager, new UNetNetwork(unet, manager, codec.factor()),
                conditioner, codec, scheduler, options, name, size, guidance);
    }

    /**
     * The released refiner's conditioner: encoder 2 alone, no zeros for an empty negative
     * prompt, and aesthetic-score time ids when the UNet takes five ids (as refiner 1.0 does:
     * its model_index.json says requires_aesthetics_score).
     */
    private static SdxlConditioner refinerConditioner(Path file, UNet2DConditionConfig unet,
            ClipTextModelWithProjection text2, ClipTokenizer tokenizer2)
            throws ModelLoadException {
        SdxlConditioner c = SdxlConditioner.refiner(tokenizer2, text2, 0, false);
        int perId = unet.textTime().timeEmbedDim();
        int ids = (unet.textTime().inputDim() - text2.projectionDim()) / perId;
        if (ids == 5) {
            return c.withAestheticScores(SdxlConditioner.DEFAULT_AESTHETIC_SCORE,
                    SdxlConditioner.DEFAULT_NEGATIVE_AESTHETIC_SCORE);
        }
        if (ids != 6 || unet.textTime().inputDim() != text2.projectionDim() + ids * perId) {
            throw new ModelLoadException(file + ": the refiner UNet's"
                    + " projection_class_embeddings_input_dim " + unet.textTime().inputDim()
                    + " fits neither 5 nor 6 time ids of " + perId + " with the pooled width "
                    + text2.projectionDim());
        }
        return c;
    }

    static DiffusersScheduler scheduler(Path file, CheckpointFamily family)
            throws ModelLoadException {
        Path sibling = file.resolveSibling("scheduler").resolve("scheduler_config.json");
        try {
            if (regular(sibling)) {
                return Schedulers.fromDiffusersConfig(sibling);
            }
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("invalid scheduler config " + sibling + ": "
                    + e.getMessage(), e);
        }
        return switch (family) {
            case SD1 -> Schedulers.stableDiffusion15();
            case SD2 -> Schedulers.fromDiffusersConfig(SD21_SCHEDULER);
            default -> Schedulers.fromDiffusersConfig(SDXL_SCHEDULER);
        };
    }

    private static Path tokenizer(Path file, String folder) throws ModelLoadException {
        Path dir = file.resolveSibling(folder);
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new ModelLoadException(file + ": a single-file checkpoint has no tokenizer;"
                    + " put CLIP's vocab.json and merges.txt in " + dir);
        }
        return dir;
    }

    private static boolean regular(Path p) {
        return Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS);
    }

    private static Path configFile(Path file, String folder) throws ModelLoadException {
        Path config = file.resolveSibling(folder).resolve("config.json");
        if (!regular(config)) {
            throw new ModelLoadException(file + ": " + file.resolveSibling("unet")
                    .resolve("config.json") + " is there, so the other components' configs"
                    + " are read from sibling folders too, but " + config + " is missing");
        }
        return config;
    }

    @FunctionalInterface
    private interface Parser<T> {
        T parse(Path file) throws IOException;
    }

    private static <T> T read(Path file, String folder, Parser<T> parser)
            throws ModelLoadException {
        Path config = configFile(file, folder);
        try {
            return parser.parse(config);
        } catch (IOException | IllegalArgumentException e) {
            throw new ModelLoadException("invalid " + folder + " config " + config + ": "
                    + e.getMessage(), e);
        }
    }
}
