package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Saves a model in the diffusers folder layout ({@code model_index.json}, {@code
 * unet/config.json} + {@code diffusion_pytorch_model.safetensors}, and as present {@code vae/},
 * {@code text_encoder/} + {@code tokenizer/}, {@code scheduler/scheduler_config.json}), plus
 * jdiffusion's optional {@code jdiffusion.json} (name, class labels, defaults), so that it loads
 * with {@link DiffusionPipeline#load} and in other tools.
 *
 * <p>The folder is written to a temporary sibling and renamed into place: a failure never
 * leaves a half-written model. Builders are not thread-safe; the networks must not be trained
 * while they are saved.
 */
public final class ModelWriter {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final UNet2DConditionModel unet;
    private final SchedulerConfig scheduler;
    private AutoencoderKL vae;
    private ClipTextModel textEncoder;
    private Path tokenizerDir;
    private List<String> labels = List.of();
    private String name;
    private Double defaultGuidance;
    private String defaultSampler;
    private boolean half;
    private Map<String, String> metadata = Map.of();

    private ModelWriter(UNet2DConditionModel unet, SchedulerConfig scheduler) {
        this.unet = Objects.requireNonNull(unet, "unet");
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
    }

    /**
     * Starts describing a model.
     *
     * @param unet the denoising network, with its weights
     * @param scheduler the noise schedule it was trained with
     * @return a writer
     */
    public static ModelWriter of(UNet2DConditionModel unet, SchedulerConfig scheduler) {
        return new ModelWriter(unet, scheduler);
    }

    /**
     * Adds a VAE (latent models).
     *
     * @param autoencoder the VAE
     * @return this writer
     */
    public ModelWriter vae(AutoencoderKL autoencoder) {
        this.vae = autoencoder;
        return this;
    }

    /**
     * Adds a CLIP text encoder and its tokenizer files.
     *
     * @param model the text encoder
     * @param tokenizerFolder a folder with {@code vocab.json} and {@code merges.txt} (and
     *     optionally {@code special_tokens_map.json}, {@code tokenizer_config.json})
     * @return this writer
     */
    public ModelWriter textEncoder(ClipTextModel model, Path tokenizerFolder) {
        this.textEncoder = model;
        this.tokenizerDir = tokenizerFolder;
        return this;
    }

    /**
     * Names the classes of a class-conditional model (the UNet has one more class embedding, the
     * null class).
     *
     * @param classLabels the labels in index order
     * @return this writer
     */
    public ModelWriter labels(List<String> classLabels) {
        this.labels = List.copyOf(classLabels);
        return this;
    }

    /**
     * Sets the name written into generated images' parameters.
     *
     * @param modelName the name
     * @return this writer
     */
    public ModelWriter name(String modelName) {
        this.name = modelName;
        return this;
    }

    /**
     * Sets the defaults the pipeline uses for this model.
     *
     * @param guidance the default guidance scale
     * @param sampler the default sampler's registry name, or {@code null}
     * @return this writer
     */
    public ModelWriter defaults(double guidance, String sampler) {
        this.defaultGuidance = guidance;
        this.defaultSampler = sampler;
        return this;
    }

    /**
     * Stores weights as float16 (half the size; they are computed in float32 on CPU).
     *
     * @param storeHalf whether to store float16
     * @return this writer
     */
    public ModelWriter half(boolean storeHalf) {
        this.half = storeHalf;
        return this;
    }

    /**
     * Adds text metadata to every weights file (for example the training command).
     *
     * @param entries key → value
     * @return this writer
     */
    public ModelWriter metadata(Map<String, String> entries) {
        this.metadata = Map.copyOf(entries);
        return this;
    }

    /**
     * Writes the folder, replacing an existing one at {@code dir}.
     *
     * @param dir the model folder to create
     * @throws IOException if writing fails; nothing is left at {@code dir} then (an existing
     *     folder stays as it was)
     */
    public void write(Path dir) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        Path parent = target.getParent();
        Files.createDirectories(parent);
        Path tmp = Files.createTempDirectory(parent, "." + target.getFileName() + "-");
        try {
            writeInto(tmp);
            Path old = null;
            if (Files.exists(target)) {
                old = Files.createTempDirectory(parent, "." + target.getFileName() + "-old-");
                Files.delete(old);
                Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            if (old != null) {
                deleteTree(old);
            }
        } finally {
            deleteTree(tmp);
        }
    }

    private void writeInto(Path dir) throws IOException {
        DataType dtype = half ? DataType.FLOAT16 : DataType.FLOAT32;
        ObjectNode index = JSON.createObjectNode();
        index.put("_class_name", "StableDiffusionPipeline");
        index.put("_diffusers_version", "0.30.0");
        putComponent(index, "unet", "diffusers", "UNet2DConditionModel");
        Path unetDir = Files.createDirectories(dir.resolve("unet"));
        Files.writeString(unetDir.resolve("config.json"), unet.config().toJson());
        StateDict.save(ParameterNames.of(unet),
                unetDir.resolve("diffusion_pytorch_model.safetensors"), dtype, metadata);
        if (vae != null) {
            putComponent(index, "vae", "diffusers", "AutoencoderKL");
            Path vaeDir = Files.createDirectories(dir.resolve("vae"));
            Files.writeString(vaeDir.resolve("config.json"), vae.config().toJson());
            StateDict.save(ParameterNames.of(vae),
                    vaeDir.resolve("diffusion_pytorch_model.safetensors"), dtype, metadata);
        } else {
            index.putArray("vae").addNull().addNull();
        }
        if (textEncoder != null) {
            putComponent(index, "text_encoder", "transformers", "CLIPTextModel");
            putComponent(index, "tokenizer", "transformers", "CLIPTokenizer");
            Path textDir = Files.createDirectories(dir.resolve("text_encoder"));
            Files.writeString(textDir.resolve("config.json"), textEncoder.config().toJson());
            StateDict.save(ParameterNames.of(textEncoder), textDir.resolve("model.safetensors"),
                    dtype, metadata);
            Path tokDir = Files.createDirectories(dir.resolve("tokenizer"));
            for (String f : List.of("vocab.json", "merges.txt", "special_tokens_map.json",
                    "tokenizer_config.json")) {
                Path src = tokenizerDir.resolve(f);
                if (Files.isRegularFile(src)) {
                    Files.copy(src, tokDir.resolve(f));
                } else if (f.equals("vocab.json") || f.equals("merges.txt")) {
                    throw new IOException("tokenizer file missing: " + src);
                }
            }
        } else {
            index.putArray("text_encoder").addNull().addNull();
            index.putArray("tokenizer").addNull().addNull();
        }
        putComponent(index, "scheduler", "diffusers", scheduler.className());
        Path schedDir = Files.createDirectories(dir.resolve("scheduler"));
        Files.writeString(schedDir.resolve("scheduler_config.json"), scheduler.toJson());
        index.putArray("safety_checker").addNull().addNull();
        index.putArray("feature_extractor").addNull().addNull();
        index.put("requires_safety_checker", false);
        Files.writeString(dir.resolve("model_index.json"),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(index),
                StandardCharsets.UTF_8);

        ObjectNode settings = JSON.createObjectNode();
        if (name != null) {
            settings.put("name", name);
        }
        if (!labels.isEmpty()) {
            ArrayNode a = settings.putArray("labels");
            labels.forEach(a::add);
        }
        if (defaultGuidance != null) {
            settings.put("default_guidance", defaultGuidance);
        }
        if (defaultSampler != null) {
            settings.put("default_sampler", defaultSampler);
        }
        if (!settings.isEmpty()) {
            Files.writeString(dir.resolve(ModelFolder.SETTINGS),
                    JSON.writerWithDefaultPrettyPrinter().writeValueAsString(settings),
                    StandardCharsets.UTF_8);
        }
    }

    private static void putComponent(ObjectNode index, String key, String library, String cls) {
        index.putArray(key).add(library).add(cls);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        List<Path> all = new ArrayList<>();
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(all::add);
        }
        for (Path p : all) {
            Files.deleteIfExists(p);
        }
    }
}
