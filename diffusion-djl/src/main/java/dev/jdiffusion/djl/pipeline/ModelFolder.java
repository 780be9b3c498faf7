package dev.jdiffusion.djl.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.PickleGuard;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.Schedulers;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads a model from a diffusers folder ({@code model_index.json} with {@code unet/}, optional
 * {@code vae/}, {@code text_encoder/}, {@code tokenizer/}, {@code scheduler/}) or from a
 * single-file Stable Diffusion 1.x checkpoint, validating every file before the weights are
 * read, and never reading outside the model folder.
 */
final class ModelFolder {

    private static final Logger LOG = LoggerFactory.getLogger(ModelFolder.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern WEIGHTS = Pattern.compile(
            "(diffusion_pytorch_model|model)(\\.fp16)?(-\\d{5}-of-\\d{5})?\\.safetensors");
    private static final Pattern PICKLES = Pattern.compile(
            "(diffusion_pytorch_model|model|pytorch_model)(\\.fp16)?(-\\d{5}-of-\\d{5})?"
                    + "\\.(bin|ckpt|pt|pth)");

    /** jdiffusion's own optional settings file in a model folder. */
    static final String SETTINGS = "jdiffusion.json";

    private ModelFolder() {}

    static DiffusionPipeline load(Path path, PipelineOptions options) throws ModelLoadException {
        if (!Files.exists(path)) {
            throw new ModelLoadException("model not found: " + path
                    + " (give a diffusers model folder or a .safetensors checkpoint)");
        }
        Path real;
        try {
            real = path.toRealPath();
        } catch (IOException e) {
            throw new ModelLoadException("cannot read model path " + path + ": " + e.getMessage(),
                    e);
        }
        NDManager manager = NDManager.newBaseManager(device(options.device()), "PyTorch");
        try {
            DiffusionPipeline p = Files.isDirectory(real) ? loadFolder(real, options, manager)
                    : loadSingleFile(real, options, manager);
            LOG.info("loaded model {} from {}", p.modelName(), real);
            return p;
        } catch (ModelLoadException | RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    private static Device device(String name) {
        if (name.equals("cpu")) {
            return Device.cpu();
        }
        int id = name.contains(":") ? Integer.parseInt(name.substring(name.indexOf(':') + 1)) : 0;
        return Device.gpu(id);
    }

    private static DataType dataType(PipelineOptions options) {
        return options.half() ? DataType.FLOAT16 : DataType.FLOAT32;
    }

    private static DiffusionPipeline loadFolder(Path dir, PipelineOptions options,
            NDManager manager) throws ModelLoadException {
        JsonNode index = readJson(dir.resolve("model_index.json"), "model_index.json");
        JsonNode settings = Files.isRegularFile(dir.resolve(SETTINGS))
                ? readJson(dir.resolve(SETTINGS), SETTINGS) : JSON.createObjectNode();
        DataType dtype = dataType(options);

        Path unetDir = component(dir, index, "unet", true);
        UNet2DConditionConfig unetConfig = config(unetDir, UNet2DConditionConfig::fromJson);
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
        loadWeights("unet", unet, unetDir, KeyMapping.identity(), manager, dtype);

        AutoencoderKL vae = null;
        Path vaeDir = component(dir, index, "vae", false);
        if (vaeDir != null) {
            vae = new AutoencoderKL(config(vaeDir, AutoencoderKLConfig::fromJson));
            loadWeights("vae", vae, vaeDir, KeyMapping.identity(), manager, dtype);
        }

        Conditioner conditioner = null;
        Path textDir = component(dir, index, "text_encoder", false);
        if (textDir != null) {
            Path tokDir = component(dir, index, "tokenizer", true);
            ClipTokenizer tokenizer = ClipTokenizer.load(tokDir);
            ClipTextModel text = new ClipTextModel(ClipTextConfig.fromJson(
                    requireFile(textDir.resolve("config.json"), "text_encoder config")));
            loadWeights("text_encoder", text, textDir,
                    KeyMapping.identity().skipping(ClipTextModel.BUFFER_KEYS::contains),
                    manager, dtype);
            conditioner = new ClipConditioner(tokenizer, text, settings.path("clip_skip").asInt(0));
        } else if (unetConfig.numClassEmbeds() != null) {
            List<String> labels = new ArrayList<>();
            for (JsonNode l : settings.path("labels")) {
                labels.add(l.asText());
            }
            if (labels.isEmpty()) {
                for (int i = 0; i < unetConfig.numClassEmbeds() - 1; i++) {
                    labels.add(Integer.toString(i));
                }
            }
            if (labels.size() + 1 != unetConfig.numClassEmbeds()) {
                throw new ModelLoadException(dir.resolve(SETTINGS) + ": " + labels.size()
                        + " labels need num_class_embeds = " + (labels.size() + 1)
                        + " (one extra null class) but unet/config.json has "
                        + unetConfig.numClassEmbeds());
            }
            conditioner = new ClassLabelConditioner(labels);
        } else if (unetConfig.usesCrossAttention()) {
            throw new ModelLoadException(dir + ": the UNet uses cross-attention but the model has"
                    + " no text_encoder");
        }

        Path schedDir = component(dir, index, "scheduler", true);
        DiffusersScheduler scheduler = Schedulers.fromDiffusersConfig(
                requireFile(schedDir.resolve("scheduler_config.json"), "scheduler config"));

        String name = settings.path("name").asText(dir.getFileName().toString());
        int size = unetConfig.sampleSize() != null
                ? unetConfig.sampleSize() * (vae != null ? vae.config().downsampleFactor() : 1)
                : 512;
        LatentCodec codec = vae != null ? new VaeCodec(vae, manager) : LatentCodec.PIXELS;
        PipelineOptions effective = settings.has("default_sampler") && options.defaultSampler()
                .equals(PipelineOptions.defaults().defaultSampler())
                ? options.withDefaultSampler(settings.get("default_sampler").asText()) : options;
        return new DiffusionPipeline(manager, new UNetNetwork(unet, manager), conditioner, codec,
                scheduler, effective, name, size,
                settings.path("default_guidance").asDouble(7.5));
    }

    private static DiffusionPipeline loadSingleFile(Path file, PipelineOptions options,
            NDManager manager) throws ModelLoadException {
        String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
        PickleGuard.refusePickle(file);
        if (!lower.endsWith(".safetensors")) {
            throw new ModelLoadException(file + ": a single-file model must be a .safetensors"
                    + " checkpoint (or give a diffusers model folder)");
        }
        Path tokDir = file.resolveSibling("tokenizer");
        if (!Files.isDirectory(tokDir)) {
            throw new ModelLoadException(file + ": a single-file checkpoint has no tokenizer; put"
                    + " CLIP's vocab.json and merges.txt in " + tokDir);
        }
        DataType dtype = dataType(options);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            UNet2DConditionConfig unetConfig = UNet2DConditionConfig.fromJson(dev.jdiffusion.djl.nn.Sd15Configs.UNET);
            UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
            ckpt.loadUnet(ParameterNames.of(unet), manager, dtype);
            AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(dev.jdiffusion.djl.nn.Sd15Configs.VAE));
            ckpt.loadVae(ParameterNames.of(vae), manager, dtype);
            ClipTextModel text = new ClipTextModel(ClipTextConfig.sd15());
            ckpt.loadTextEncoder(ParameterNames.of(text), manager, dtype);
            ClipTokenizer tokenizer = ClipTokenizer.load(tokDir);
            DiffusersScheduler scheduler = Schedulers.stableDiffusion15();
            String name = lower.substring(0, lower.length() - ".safetensors".length());
            return new DiffusionPipeline(manager, new UNetNetwork(unet, manager),
                    new ClipConditioner(tokenizer, text, 0), new VaeCodec(vae, manager),
                    scheduler, options, name, 512, 7.5);
        }
    }

    /** The folder of a component named in model_index.json, checked to lie inside the model. */
    private static Path component(Path dir, JsonNode index, String name, boolean required)
            throws ModelLoadException {
        JsonNode entry = index.get(name);
        boolean listed = entry != null && entry.isArray() && entry.size() == 2
                && !entry.get(0).isNull();
        if (!listed) {
            if (required) {
                throw new ModelLoadException(dir.resolve("model_index.json") + " has no '" + name
                        + "' component");
            }
            return null;
        }
        Path sub = dir.resolve(name).normalize();
        if (!sub.startsWith(dir)) {
            throw new ModelLoadException("component '" + name + "' points outside " + dir);
        }
        if (!Files.isDirectory(sub)) {
            throw new ModelLoadException("model_index.json lists '" + name + "' but " + sub
                    + " is missing");
        }
        try {
            if (!sub.toRealPath().startsWith(dir)) {
                throw new ModelLoadException("component folder " + sub
                        + " is a link to outside the model folder; refusing to read it");
            }
        } catch (IOException e) {
            throw new ModelLoadException("cannot read " + sub + ": " + e.getMessage(), e);
        }
        return sub;
    }

    private static void loadWeights(String name, ai.djl.nn.Block block, Path dir,
            KeyMapping mapping, NDManager manager, DataType dtype) throws ModelLoadException {
        List<Path> full = new ArrayList<>();
        List<Path> half = new ArrayList<>();
        List<Path> pickles = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String fn = f.getFileName().toString();
                if (WEIGHTS.matcher(fn).matches() && Files.isRegularFile(f)) {
                    if (!f.toRealPath().startsWith(dir.toRealPath())) {
                        throw new ModelLoadException(f + " links to outside the model folder");
                    }
                    (fn.contains(".fp16") ? half : full).add(f);
                } else if (PICKLES.matcher(fn).matches()) {
                    pickles.add(f);
                }
            }
        } catch (IOException e) {
            throw new ModelLoadException("cannot list " + dir + ": " + e.getMessage(), e);
        }
        List<Path> chosen = !full.isEmpty() ? full : half;
        if (chosen.isEmpty()) {
            if (!pickles.isEmpty()) {
                PickleGuard.refusePickle(pickles.get(0));
            }
            throw new ModelLoadException("no weights in " + dir
                    + " (expected diffusion_pytorch_model.safetensors or model.safetensors)");
        }
        chosen.sort(null);
        List<SafetensorsFile> open = new ArrayList<>();
        try {
            for (Path f : chosen) {
                open.add(SafetensorsFile.open(f));
            }
            Map<String, Parameter> params = ParameterNames.of(block);
            StateDict.load(name, params, open, mapping, manager, dtype);
        } finally {
            for (SafetensorsFile f : open) {
                f.close();
            }
        }
    }

    @FunctionalInterface
    private interface ConfigReader<T> {
        T read(Path file) throws IOException;
    }

    private static <T> T config(Path dir, ConfigReader<T> reader) throws ModelLoadException {
        Path file = requireFile(dir.resolve("config.json"), dir.getFileName() + " config");
        try {
            return reader.read(file);
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            throw new ModelLoadException(msg.contains(file.toString()) ? msg : file + ": " + msg,
                    e);
        }
    }

    private static Path requireFile(Path file, String what) throws ModelLoadException {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(what + " not found: " + file);
        }
        return file;
    }

    private static JsonNode readJson(Path file, String what) throws ModelLoadException {
        requireFile(file, what);
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new ModelLoadException(file + " is not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new ModelLoadException(file + " is not valid JSON: " + e.getMessage(), e);
        }
    }
}
