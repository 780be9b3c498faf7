package dev.jdiffusion.djl.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.AutoencoderTiny;
import dev.jdiffusion.djl.nn.AutoencoderTinyConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.text.PromptSyntax;
import dev.jdiffusion.djl.text.SdxlConditioner;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.PickleGuard;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.Schedulers;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
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
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    private static final Pattern WEIGHTS = Pattern.compile(
            "(diffusion_pytorch_model|model)(\\.fp16)?(-\\d{5}-of-\\d{5})?\\.safetensors");
    private static final Pattern PICKLES = Pattern.compile(
            "(diffusion_pytorch_model|model|pytorch_model)(\\.fp16)?(-\\d{5}-of-\\d{5})?"
                    + "\\.(bin|ckpt|pt|pth)");

    /** jdiffusion's own optional settings file in a model folder. */
    static final String SETTINGS = "jdiffusion.json";

    private ModelFolder() {}

    static DiffusionPipeline load(Path path, PipelineOptions options) throws ModelLoadException {
        return load(path, options, DecoderOptions.defaults());
    }

    static DiffusionPipeline load(Path path, PipelineOptions options, DecoderOptions decoders)
            throws ModelLoadException {
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
        Taesd taesd = decoders.taesd() == null ? null : Taesd.read(decoders.taesd());
        NDManager manager = NDManager.newBaseManager(device(options.device()), "PyTorch");
        try {
            Decoding decoding = new Decoding(decoders, taesd, dataType(options));
            DiffusionPipeline p = Files.isDirectory(real)
                    ? loadFolder(real, options, manager, decoding)
                    : loadSingleFile(real, options, manager, decoding);
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

    static DataType dataType(PipelineOptions options) {
        return options.half() && !options.device().equals("cpu") ? DataType.FLOAT16
                : DataType.FLOAT32;
    }

    /**
     * The VAE's load type: the components' type, except that a VAE whose config says {@code
     * force_upcast} (diffusers' default, true for SD and SDXL) stays float32, as diffusers
     * upcasts it to decode, since some VAEs overflow in float16.
     */
    static DataType vaeDataType(PipelineOptions options, AutoencoderKLConfig config) {
        return config.forceUpcast() ? DataType.FLOAT32 : dataType(options);
    }

    /** The UNet's load type: float16 whenever half precision is asked for, CPU included. */
    static DataType unetDataType(PipelineOptions options) {
        return options.half() ? DataType.FLOAT16 : DataType.FLOAT32;
    }

    /**
     * On CPU with half precision, keeps only the UNet's convolution and linear weights in
     * float16 (they are widened layer by layer as they are used) and makes everything else
     * float32 again.
     */
    static void halfStorage(UNet2DConditionModel unet, PipelineOptions options,
            NDManager manager) {
        if (options.half() && options.device().equals("cpu")) {
            StateDict.widen(ParameterNames.of(unet), (name, a) -> a.getShape().dimension() >= 2
                    && !name.startsWith("class_embedding"), manager);
        }
    }

    private static DiffusionPipeline loadFolder(Path dir, PipelineOptions options,
            NDManager manager, Decoding decoding) throws ModelLoadException {
        JsonNode index = readJson(dir, dir.resolve("model_index.json"), "model_index.json");
        Path settingsFile = dir.resolve(SETTINGS);
        JsonNode settings = Files.exists(settingsFile, LinkOption.NOFOLLOW_LINKS)
                ? readJson(dir, settingsFile, SETTINGS) : JSON.createObjectNode();
        checkSettings(settingsFile, settings);
        // Checked above: the text conditioners' clip skip and prompt syntax.
        int clipSkip = settings.path("clip_skip").asInt(0);
        PromptSyntax syntax = PromptSyntax.of(settings.path("prompt_syntax").asText("a1111"));
        DataType dtype = dataType(options);

        Path unetDir = component(dir, index, "unet", true);
        UNet2DConditionConfig unetConfig = config(dir, unetDir, UNet2DConditionConfig::fromJson);
        UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);

        AutoencoderKL vae = null;
        Path vaeDir = component(dir, index, "vae", false);
        if (vaeDir != null) {
            vae = new AutoencoderKL(config(dir, vaeDir, AutoencoderKLConfig::fromJson));
        }
        checkChannels(dir, unetConfig, vae == null ? null : vae.config());
        int size = defaultSize(dir, unetConfig, vae == null ? 1 : vae.config().downsampleFactor());

        Conditioner conditioner = null;
        ClipTextModel text = null;
        Path textDir = component(dir, index, "text_encoder", false);
        Path text2Dir = component(dir, index, "text_encoder_2", false);
        ClipTextModelWithProjection text2 = null;
        checkSdxlParts(dir, index, unetConfig, textDir, text2Dir);
        if (textDir != null) {
            Path tokDir = component(dir, index, "tokenizer", true);
            for (String f : TOKENIZER_FILES) {
                Path file = tokDir.resolve(f);
                if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                    requireInside(dir, file); // ClipTokenizer.load refuses non-regular files
                }
            }
            ClipTokenizer tokenizer = ClipTokenizer.load(tokDir);
            Path textConfigFile = requireFile(dir, textDir.resolve("config.json"),
                    "text_encoder config");
            ClipTextConfig textConfig = ClipTextConfig.fromJson(textConfigFile);
            text = new ClipTextModel(textConfig);
            try {
                if (text2Dir != null) {
                    text2 = sdxlTextEncoder2(dir, text2Dir);
                    SdxlConditioner sdxl = sdxlConditioner(dir, index, tokenizer, text, text2,
                            clipSkip).withSyntax(syntax);
                    conditioner = sdxl;
                    checkCrossAttention(dir, unetConfig, textConfig.hiddenSize()
                            + text2.config().hiddenSize(), "the sum %d of text_encoder's and"
                            + " text_encoder_2's hidden_size");
                    checkTextTime(dir, unetConfig, text2, sdxl);
                } else {
                    checkCrossAttention(dir, unetConfig, textConfig.hiddenSize(),
                            "the text encoder's hidden_size %d in text_encoder/config.json");
                    conditioner = new ClipConditioner(tokenizer, text,
                            clipSkip).withSyntax(syntax);
                }
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException(dir + ": the tokenizer (" + tokDir
                        + ": vocab.json, tokenizer_config.json), the text encoder ("
                        + textConfigFile + ") and " + SETTINGS + " (clip_skip) do not fit"
                        + " together: " + e.getMessage(), e);
            }
        } else if (text2Dir != null) {
            text2 = sdxlTextEncoder2(dir, text2Dir);
            SdxlConditioner sdxl;
            try {
                sdxl = sdxlConditioner(dir, index, null, null, text2,
                        clipSkip).withSyntax(syntax);
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException(dir + ": tokenizer_2, text_encoder_2 and "
                        + SETTINGS + " (clip_skip) do not fit together: " + e.getMessage(), e);
            }
            conditioner = sdxl;
            checkCrossAttention(dir, unetConfig, text2.config().hiddenSize(), "text_encoder_2's"
                    + " hidden_size %d (model_index.json lists text_encoder_2 without"
                    + " text_encoder: an SDXL refiner, whose UNet attends to encoder 2 alone)");
            checkTextTime(dir, unetConfig, text2, sdxl);
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
            try {
                conditioner = new ClassLabelConditioner(labels);
            } catch (IllegalArgumentException e) {
                throw new ModelLoadException(settingsFile + ": invalid labels: "
                        + e.getMessage(), e);
            }
        } else if (unetConfig.usesCrossAttention()) {
            throw new ModelLoadException(dir + ": the UNet uses cross-attention but"
                    + " model_index.json lists no text_encoder");
        }

        Path schedDir = component(dir, index, "scheduler", true);
        Path schedFile = requireFile(dir, schedDir.resolve("scheduler_config.json"),
                "scheduler config");
        DiffusersScheduler scheduler;
        try {
            scheduler = Schedulers.fromDiffusersConfig(schedFile);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("invalid scheduler config: " + e.getMessage(), e);
        }

        // Weights last: every configuration problem is reported before any tensor is read.
        loadWeights("unet", unet, unetDir, KeyMapping.identity(), manager,
                unetDataType(options));
        halfStorage(unet, options, manager);
        if (vae != null) {
            loadWeights("vae", vae, vaeDir, KeyMapping.identity(), manager,
                    vaeDataType(options, vae.config()));
        }
        if (text != null) {
            loadWeights("text_encoder", text, textDir,
                    KeyMapping.identity().skipping(ClipTextModel.BUFFER_KEYS::contains),
                    manager, dtype);
        }
        if (text2 != null) {
            loadWeights("text_encoder_2", text2, text2Dir,
                    KeyMapping.identity().skipping(ClipTextModel.BUFFER_KEYS::contains),
                    manager, dtype);
        }

        String name = settings.path("name").asText(dir.getFileName().toString());
        LatentCodec codec = decoding.codec(vae, manager);
        // The caller's sampler wins, then jdiffusion.json's; an LCM scheduler means the model
        // was distilled for the lcm sampler (as diffusers' LCM pipelines use LCMScheduler).
        boolean callerDefault = options.defaultSampler()
                .equals(PipelineOptions.defaults().defaultSampler());
        PipelineOptions effective = options;
        if (callerDefault && settings.has("default_sampler")) {
            effective = options.withDefaultSampler(settings.get("default_sampler").asText());
        } else if (callerDefault
                && scheduler.config().className().equalsIgnoreCase("LCMScheduler")) {
            effective = options.withDefaultSampler("lcm");
        }
        return new DiffusionPipeline(manager, new UNetNetwork(unet, manager, codec.factor()),
                conditioner, codec,
                scheduler, effective, name, size,
                settings.path("default_guidance").asDouble(7.5));
    }

    /** The tokenizer files {@link ClipTokenizer#load(Path)} may read. */
    private static final List<String> TOKENIZER_FILES = List.of("vocab.json", "merges.txt",
            "special_tokens_map.json", "tokenizer_config.json");

    /** Validates the types and values of jdiffusion.json's fields. */
    private static void checkSettings(Path file, JsonNode s) throws ModelLoadException {
        String problem = null;
        JsonNode name = s.get("name");
        JsonNode labels = s.get("labels");
        JsonNode guidance = s.get("default_guidance");
        JsonNode sampler = s.get("default_sampler");
        JsonNode clipSkip = s.get("clip_skip");
        JsonNode syntax = s.get("prompt_syntax");
        if (name != null && !name.isTextual()) {
            problem = "\"name\" must be a string";
        } else if (labels != null && !(labels.isArray() && allText(labels))) {
            problem = "\"labels\" must be a list of strings";
        } else if (guidance != null && !(guidance.isNumber() && Double.isFinite(
                guidance.asDouble()) && guidance.asDouble() >= 0)) {
            problem = "\"default_guidance\" must be a finite number >= 0";
        } else if (sampler != null && !(sampler.isTextual()
                && Samplers.names().contains(sampler.asText()))) {
            problem = "\"default_sampler\" must be one of " + Samplers.names();
        } else if (clipSkip != null && !(clipSkip.isIntegralNumber() && clipSkip.canConvertToInt()
                && clipSkip.asInt() >= 0)) {
            problem = "\"clip_skip\" must be an integer >= 0";
        } else if (syntax != null && !(syntax.isTextual()
                && GenerationRequest.PROMPT_SYNTAXES.contains(syntax.asText()))) {
            problem = "\"prompt_syntax\" must be \"plain\" or \"a1111\"";
        }
        if (problem != null) {
            throw new ModelLoadException(file + ": " + problem + " (got "
                    + s.get(problem.substring(1, problem.indexOf('"', 1))) + ")");
        }
    }

    private static boolean allText(JsonNode array) {
        for (JsonNode n : array) {
            if (!n.isTextual()) {
                return false;
            }
        }
        return true;
    }

    /** The UNet's channels must match the VAE's latents (or RGB pixels without a VAE). */
    private static void checkChannels(Path dir, UNet2DConditionConfig unet,
            AutoencoderKLConfig vae) throws ModelLoadException {
        int space = vae == null ? 3 : vae.latentChannels();
        String where = vae == null ? "RGB pixels (model_index.json lists no vae)"
                : "the VAE's latent_channels in vae/config.json";
        if (unet.outChannels() != space
                || (unet.inChannels() != space && unet.inChannels() != 2 * space + 1)) {
            throw new ModelLoadException(dir.resolve("unet/config.json") + ": in_channels "
                    + unet.inChannels() + " / out_channels " + unet.outChannels()
                    + " do not fit " + where + " = " + space + " (expected " + space + " / "
                    + space + ", or " + (2 * space + 1) + " / " + space + " for inpainting)");
        }
        if (vae != null && (vae.inChannels() != 3 || vae.outChannels() != 3)) {
            throw new ModelLoadException(dir.resolve("vae/config.json") + ": in_channels and"
                    + " out_channels must be 3 (RGB images), got " + vae.inChannels() + " and "
                    + vae.outChannels());
        }
    }

    /** The default image size: sample_size × the VAE factor, usable as a request size. */
    private static int defaultSize(Path dir, UNet2DConditionConfig unet, int vaeFactor)
            throws ModelLoadException {
        long multiple = (long) vaeFactor * unet.downsampleFactor();
        long size = unet.sampleSize() != null ? (long) unet.sampleSize() * vaeFactor : 512;
        if (size < multiple || size > GenerationRequest.MAX_SIZE || size % multiple != 0) {
            throw new ModelLoadException(dir.resolve("unet/config.json") + ": sample_size "
                    + unet.sampleSize() + " gives a default image size of " + size + " pixels;"
                    + " it must be a multiple of " + multiple + " up to "
                    + GenerationRequest.MAX_SIZE);
        }
        return (int) size;
    }

    /**
     * Every attention block's cross_attention_dim must equal the text conditioning's width;
     * {@code what} names that width, with a {@code %d} for its value.
     */
    private static void checkCrossAttention(Path dir, UNet2DConditionConfig unet, int width,
            String what) throws ModelLoadException {
        int n = unet.blockOutChannels().size();
        for (int i = 0; i < n; i++) {
            boolean attends = unet.downBlockTypes().get(i).startsWith("CrossAttn")
                    || unet.upBlockTypes().get(n - 1 - i).startsWith("CrossAttn")
                    || (i == n - 1 && unet.midBlockType() != null
                            && unet.midBlockType().endsWith("CrossAttn"));
            if (attends && unet.crossAttentionDim().get(i) != width) {
                throw new ModelLoadException(dir.resolve("unet/config.json")
                        + ": cross_attention_dim " + unet.crossAttentionDim().get(i)
                        + " of block " + i + " does not match "
                        + String.format(Locale.ROOT, what, width));
            }
        }
    }

    private static DiffusionPipeline loadSingleFile(Path file, PipelineOptions options,
            NDManager manager, Decoding decoding) throws ModelLoadException {
        String lower = file.getFileName().toString().toLowerCase(Locale.ROOT);
        PickleGuard.refusePickle(file);
        if (!lower.endsWith(".safetensors")) {
            throw new ModelLoadException(file + ": a single-file model must be a .safetensors"
                    + " checkpoint (or give a diffusers model folder)");
        }
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            return SingleFileModel.load(file, ckpt, options, manager,
                    vae -> decoding.codec(vae, manager));
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
                PickleGuard.refusePickle(f); // a pickle renamed to .safetensors
                open.add(SafetensorsFile.open(f));
            }
            Map<String, Parameter> params = ParameterNames.of(block);
            try {
                StateDict.load(name, params, open, mapping, manager, dtype);
            } catch (ModelLoadException e) {
                String m = e.getMessage();
                if (m.contains("missing parameter") || m.contains("unexpected tensor")
                        || m.contains("shape mismatch")) {
                    throw new ModelLoadException(m + "\n  (does " + dir.resolve("config.json")
                            + " describe these weights?)", e);
                }
                throw e;
            }
        } finally {
            for (SafetensorsFile f : open) {
                f.close();
            }
        }
    }

    /** A TAESD folder whose configuration has been read and checked, weights not yet. */
    private record Taesd(Path dir, AutoencoderTinyConfig config) {

        static Taesd read(Path folder) throws ModelLoadException {
            if (!Files.isDirectory(folder)) {
                throw new ModelLoadException("TAESD folder not found: " + folder + " (give a"
                        + " folder with config.json and diffusion_pytorch_model.safetensors,"
                        + " such as a download of madebyollin/taesd for SD 1.x/2.x or"
                        + " madebyollin/taesdxl for SDXL)");
            }
            Path dir;
            try {
                dir = folder.toRealPath();
            } catch (IOException e) {
                throw new ModelLoadException("cannot read TAESD folder " + folder + ": "
                        + e.getMessage(), e);
            }
            return new Taesd(dir, ModelFolder.config(dir, dir, AutoencoderTinyConfig::fromJson));
        }
    }

    /** Builds the pipeline's codec from the model's VAE and the decoder options. */
    private record Decoding(DecoderOptions options, Taesd taesd, DataType dtype) {

        LatentCodec codec(AutoencoderKL vae, NDManager manager) throws ModelLoadException {
            if (vae == null) {
                if (taesd != null || options.tiledVae()
                        || options.previews() == PreviewDecoder.LATENT_RGB) {
                    throw new ModelLoadException("this model works in pixel space (it has no"
                            + " VAE): TAESD, tiled VAE and latent-to-RGB previews do not apply;"
                            + " load it without those decoder options");
                }
                return LatentCodec.PIXELS;
            }
            AutoencoderKLConfig vc = vae.config();
            VaeCodec base = new VaeCodec(vae, manager, options.tiledVae());
            LatentRgb rgb = null;
            if (options.previews() == PreviewDecoder.LATENT_RGB) {
                try {
                    rgb = LatentRgb.forVae(vc.latentChannels(), vc.scalingFactor());
                } catch (IllegalArgumentException e) {
                    throw new ModelLoadException(e.getMessage(), e);
                }
            }
            TinyCodec tiny = null;
            if (taesd != null) {
                AutoencoderTinyConfig tc = taesd.config();
                if (tc.latentChannels() != vc.latentChannels()
                        || tc.downsampleFactor() != vc.downsampleFactor()) {
                    throw new ModelLoadException(taesd.dir().resolve("config.json")
                            + ": this TAESD has latent_channels " + tc.latentChannels()
                            + " and a factor of " + tc.downsampleFactor() + ", but the model's"
                            + " VAE has " + vc.latentChannels() + " latent channels and a"
                            + " factor of " + vc.downsampleFactor() + "; use the TAESD made for"
                            + " this model family (taesd for SD 1.x/2.x, taesdxl for SDXL)");
                }
                AutoencoderTiny net = new AutoencoderTiny(tc);
                loadWeights("taesd", net, taesd.dir(), KeyMapping.identity(), manager, dtype);
                tiny = new TinyCodec(net, manager);
            }
            boolean plain = tiny == null && options.previews() == PreviewDecoder.VAE;
            return plain ? base : new DecodingCodec(base, tiny, options, rgb);
        }
    }

    @FunctionalInterface
    private interface ConfigReader<T> {
        T read(Path file) throws IOException;
    }

    private static <T> T config(Path root, Path dir, ConfigReader<T> reader)
            throws ModelLoadException {
        Path file = requireFile(root, dir.resolve("config.json"), dir.getFileName() + " config");
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

    /** A file the model needs: present, a regular file, and inside the model folder. */
    private static Path requireFile(Path root, Path file, String what)
            throws ModelLoadException {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
            throw new ModelLoadException(what + " not found: " + file);
        }
        requireInside(root, file);
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(what + " " + file + " is not a regular file");
        }
        return file;
    }

    /** Refuses a file that is (or whose links lead) outside the model folder. */
    private static void requireInside(Path root, Path file) throws ModelLoadException {
        Path real;
        try {
            real = file.toRealPath();
        } catch (IOException e) {
            throw new ModelLoadException("cannot resolve " + file + " (a broken link?): " + e,
                    e);
        }
        if (!real.startsWith(root)) {
            throw new ModelLoadException(file + " links to " + real + ", outside the model"
                    + " folder " + root + "; refusing to read it");
        }
    }

    private static JsonNode readJson(Path root, Path file, String what)
            throws ModelLoadException {
        requireFile(root, file, what);
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

    // ---------------------------------------------------------------- SDXL (issue 16)

    /** The SDXL parts must come together: both text encoders and a text_time UNet. */
    private static void checkSdxlParts(Path dir, JsonNode index, UNet2DConditionConfig unet,
            Path textDir, Path text2Dir) throws ModelLoadException {
        Path indexFile = dir.resolve("model_index.json");
        String cls = index.path("_class_name").asText("");
        if (unet.textTime() != null && text2Dir == null) {
            throw new ModelLoadException(indexFile + " lists no text_encoder_2, but the UNet has"
                    + " SDXL's added conditioning (addition_embed_type \"text_time\" in"
                    + " unet/config.json), which needs text_encoder_2 and tokenizer_2"
                    + (cls.isEmpty() ? "" : " (" + cls + ")"));
        }
        if (text2Dir != null && unet.textTime() == null) {
            throw new ModelLoadException(indexFile + " lists text_encoder_2, but unet/config.json"
                    + " has no addition_embed_type \"text_time\" for its pooled output");
        }
    }

    /** text_encoder_2: a CLIPTextModelWithProjection with its eos_token_id. */
    private static ClipTextModelWithProjection sdxlTextEncoder2(Path dir, Path text2Dir)
            throws ModelLoadException {
        Path file = requireFile(dir, text2Dir.resolve("config.json"), "text_encoder_2 config");
        ClipTextConfig config = ClipTextConfig.fromJson(file);
        JsonNode json = readJson(dir, file, "text_encoder_2 config");
        JsonNode eos = json.get("eos_token_id");
        if (eos != null && !(eos.isIntegralNumber() && eos.canConvertToInt())) {
            throw new ModelLoadException(file + ": eos_token_id must be an integer, got " + eos);
        }
        if (config.projectionDim().isEmpty()) {
            throw new ModelLoadException(file + ": projection_dim is missing; text_encoder_2 of"
                    + " SDXL is a CLIPTextModelWithProjection (projection_dim 1280)");
        }
        try {
            return new ClipTextModelWithProjection(config, eos == null
                    ? ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID : eos.asInt());
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * tokenizer_2 and both encoders (encoder 2 alone for a refiner: {@code text} null) as an
     * {@link SdxlConditioner}, with aesthetic-score time ids if model_index.json's {@code
     * requires_aesthetics_score} is true.
     */
    private static SdxlConditioner sdxlConditioner(Path dir, JsonNode index, ClipTokenizer tokenizer,
            ClipTextModel text, ClipTextModelWithProjection text2, int clipSkip)
            throws ModelLoadException {
        Path tok2Dir = component(dir, index, "tokenizer_2", false);
        if (tok2Dir == null) {
            throw new ModelLoadException(dir.resolve("model_index.json") + " lists"
                    + " text_encoder_2 but no tokenizer_2");
        }
        for (String f : TOKENIZER_FILES) {
            Path file = tok2Dir.resolve(f);
            if (Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                requireInside(dir, file);
            }
        }
        JsonNode zeros = index.get("force_zeros_for_empty_prompt");
        if (zeros != null && !zeros.isBoolean()) {
            throw new ModelLoadException(dir.resolve("model_index.json")
                    + ": force_zeros_for_empty_prompt must be true or false, got " + zeros);
        }
        JsonNode aesthetics = index.get("requires_aesthetics_score");
        if (aesthetics != null && !aesthetics.isBoolean()) {
            throw new ModelLoadException(dir.resolve("model_index.json")
                    + ": requires_aesthetics_score must be true or false, got " + aesthetics);
        }
        // diffusers' SDXL pipelines default force_zeros_for_empty_prompt to true and
        // requires_aesthetics_score to false.
        boolean forceZeros = zeros == null || zeros.asBoolean();
        ClipTokenizer tokenizer2 = ClipTokenizer.load(tok2Dir);
        SdxlConditioner sdxl = text == null
                ? SdxlConditioner.refiner(tokenizer2, text2, clipSkip, forceZeros)
                : new SdxlConditioner(tokenizer, text, tokenizer2, text2, clipSkip, forceZeros);
        return aesthetics != null && aesthetics.asBoolean()
                ? sdxl.withAestheticScores(SdxlConditioner.DEFAULT_AESTHETIC_SCORE,
                        SdxlConditioner.DEFAULT_NEGATIVE_AESTHETIC_SCORE)
                : sdxl;
    }

    /**
     * projection_class_embeddings_input_dim must be the pooled width + the conditioner's time
     * ids (6, or 5 with requires_aesthetics_score) × addition_time_embed_dim.
     */
    private static void checkTextTime(Path dir, UNet2DConditionConfig unet,
            ClipTextModelWithProjection text2, SdxlConditioner sdxl) throws ModelLoadException {
        UNet2DConditionConfig.TextTime tt = unet.textTime();
        int ids = sdxl.timeIdCount();
        int expected = text2.projectionDim() + ids * tt.timeEmbedDim();
        if (tt.inputDim() != expected) {
            int other = 11 - ids; // 5 <-> 6
            String hint = tt.inputDim() == text2.projectionDim() + other * tt.timeEmbedDim()
                    ? "; it fits " + other + " time ids: set requires_aesthetics_score to "
                            + (other == 5) + " in model_index.json (true for an SDXL refiner,"
                            + " whose time ids end in an aesthetic score)"
                    : "";
            throw new ModelLoadException(dir.resolve("unet/config.json")
                    + ": projection_class_embeddings_input_dim " + tt.inputDim() + " does not"
                    + " fit text_encoder_2's projection_dim " + text2.projectionDim() + " + "
                    + ids + " time ids x addition_time_embed_dim " + tt.timeEmbedDim() + " = "
                    + expected + hint);
        }
    }
}
