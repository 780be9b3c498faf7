package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.api.internal.AtomicFiles;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.PromptSyntax;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Saves a model in the diffusers folder layout ({@code model_index.json}, {@code
 * unet/config.json} + {@code diffusion_pytorch_model.safetensors}, and as present {@code vae/},
 * {@code text_encoder/} + {@code tokenizer/}, {@code scheduler/scheduler_config.json}), plus
 * jdiffusion's optional {@code jdiffusion.json} (name, class labels, defaults), so that it loads
 * with {@link DiffusionPipeline#load} and in other tools.
 *
 * <p>The folder is written to a temporary sibling and renamed into place: a failure never
 * leaves a half-written model. Files and folders get the permissions of the process's umask.
 * An existing folder is replaced only if it is empty or holds nothing but what a writer writes
 * (the files above, with {@code jdiffusion.json} always present): a folder with any other file
 * is refused, never deleted. Builders are not thread-safe; the networks must not be trained
 * while they are saved.
 */
public final class ModelWriter {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = LoggerFactory.getLogger(ModelWriter.class);

    /** Every file a writer may write, relative to the model folder. */
    private static final Set<String> WRITTEN_FILES = Set.of("model_index.json",
            ModelFolder.SETTINGS, "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
            "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/config.json", "text_encoder/model.safetensors", "tokenizer/vocab.json",
            "tokenizer/merges.txt", "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json");
    /** Every folder a writer may create, relative to the model folder. */
    private static final Set<String> WRITTEN_DIRS = Set.of("unet", "vae", "text_encoder",
            "tokenizer", "scheduler");

    private final UNet2DConditionModel unet;
    private final SchedulerConfig scheduler;
    private AutoencoderKL vae;
    private ClipTextModel textEncoder;
    private Path tokenizerDir;
    private List<String> labels = List.of();
    private String name;
    private Double defaultGuidance;
    private String defaultSampler;
    private PromptSyntax promptSyntax;
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
     * Sets how the model's prompts are read ({@code prompt_syntax} in {@code jdiffusion.json}):
     * {@link PromptSyntax#PLAIN} for a model trained on captions with literal brackets, which
     * the default AUTOMATIC1111 syntax would read as weights.
     *
     * @param syntax the syntax, or {@code null} to leave the default (AUTOMATIC1111)
     * @return this writer
     */
    public ModelWriter promptSyntax(PromptSyntax syntax) {
        this.promptSyntax = syntax;
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
     * Writes the folder. An existing folder at {@code dir} is replaced only if it is empty or a
     * model folder written by this class (nothing in it but the files listed in the class
     * description); anything else is refused, so that no file jdiffusion did not write is ever
     * deleted.
     *
     * @param dir the model folder to create
     * @throws FileAlreadyExistsException if {@code dir} exists and is not replaceable (see
     *     {@link #checkReplaceable}); nothing is written then
     * @throws IOException if writing fails; nothing is left at {@code dir} then (an existing
     *     folder stays as it was)
     */
    public void write(Path dir) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        Path parent = target.getParent();
        checkReplaceable(target);
        Files.createDirectories(parent);
        Path tmp = AtomicFiles.createDirectory(parent, "." + target.getFileName() + "-");
        try {
            writeInto(tmp);
            if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
                return;
            }
            checkReplaceable(target); // again, just before the swap
            Path old = AtomicFiles.createDirectory(parent, "." + target.getFileName() + "-old-");
            Files.delete(old);
            Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                try {
                    Files.move(old, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (IOException back) {
                    e.addSuppressed(back);
                }
                throw e;
            }
            deleteWritten(old);
        } finally {
            deleteTree(tmp);
        }
    }

    /**
     * Checks that {@link #write} may put a model at {@code dir}: it does not exist, or is an
     * empty folder, or a model folder written by this class ({@code model_index.json} and
     * {@code jdiffusion.json} present, and nothing else but the other files it writes). Call
     * it before a long computation whose result is to be written there.
     *
     * @param dir the model folder
     * @throws FileAlreadyExistsException if {@code dir} is a file, a symbolic link, or a folder
     *     holding anything this class does not write (the message names the first such entry)
     * @throws IOException if the folder cannot be read
     */
    public static void checkReplaceable(Path dir) throws IOException {
        Path target = dir.toAbsolutePath().normalize();
        if (!Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        String refuse = "; jdiffusion only replaces an empty folder or a model folder it wrote."
                + " Choose a new folder, or move this one away yourself";
        if (Files.isSymbolicLink(target)) {
            throw new FileAlreadyExistsException(target.toString(), null,
                    "is a symbolic link" + refuse);
        }
        if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            throw new FileAlreadyExistsException(target.toString(), null,
                    "exists and is not a folder" + refuse);
        }
        try (var list = Files.list(target)) {
            if (list.findAny().isEmpty()) {
                return;
            }
        }
        for (String marker : List.of("model_index.json", ModelFolder.SETTINGS)) {
            if (!Files.isRegularFile(target.resolve(marker), LinkOption.NOFOLLOW_LINKS)) {
                throw new FileAlreadyExistsException(target.toString(), null,
                        "is not empty and is not a model folder written by jdiffusion (no "
                        + marker + ")" + refuse);
            }
        }
        Optional<Path> foreign;
        try (var walk = Files.walk(target)) { // stops at the first foreign entry
            foreign = walk.filter(p -> !p.equals(target) && !written(target, p)).findFirst();
        }
        if (foreign.isPresent()) {
            throw new FileAlreadyExistsException(target.toString(), null, "holds "
                    + relative(target, foreign.get()) + ", which jdiffusion did not write"
                    + refuse);
        }
    }

    private static String relative(Path dir, Path p) {
        return dir.relativize(p).toString().replace('\\', '/');
    }

    /** Whether an entry of a model folder is one this class writes. */
    private static boolean written(Path dir, Path p) {
        String rel = relative(dir, p);
        return Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? WRITTEN_DIRS.contains(rel)
                : WRITTEN_FILES.contains(rel) && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS);
    }

    /** Deletes a replaced model folder: only the files this class writes, then the folders. */
    private static void deleteWritten(Path dir) throws IOException {
        for (String f : WRITTEN_FILES) {
            Files.deleteIfExists(dir.resolve(f));
        }
        try {
            for (String d : WRITTEN_DIRS) {
                Files.deleteIfExists(dir.resolve(d));
            }
            Files.delete(dir);
        } catch (DirectoryNotEmptyException e) {
            LOG.warn("the replaced model folder was moved to {} but not deleted: a file"
                    + " appeared in it while the new model was written", dir);
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
        if (promptSyntax != null) {
            settings.put("prompt_syntax", promptSyntax.id());
        }
        // Always written: it marks the folder as jdiffusion's, which write() may replace.
        Files.writeString(dir.resolve(ModelFolder.SETTINGS),
                JSON.writerWithDefaultPrettyPrinter().writeValueAsString(settings),
                StandardCharsets.UTF_8);
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
