package dev.jdiffusion.examples.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.safetensors.SafetensorsDtype;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.weights.LdmKeys;
import dev.jdiffusion.djl.weights.PickleGuard;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import dev.jdiffusion.examples.DefaultModel;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.SchedulerConfig;
import dev.jdiffusion.samplers.Schedulers;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion info [MODEL]}: what a model folder or single-file checkpoint contains, read
 * from its configuration files and the safetensors headers only (no weights are loaded unless
 * {@code --check} is given): components, parameter counts and stored dtypes, native size,
 * conditioning, noise schedule and jdiffusion's defaults.
 */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Describe a model: components, parameters, dtypes, size, conditioning,"
                + " scheduler and defaults (the shipped model if MODEL is not given).")
final class InfoCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** The weight files the loader reads (same pattern as diffusion-djl's model folder). */
    private static final Pattern WEIGHTS = Pattern.compile(
            "(diffusion_pytorch_model|model)(\\.fp16)?(-\\d{5}-of-\\d{5})?\\.safetensors");
    private static final Pattern PICKLES = Pattern.compile(
            ".*\\.(bin|ckpt|pt|pth)");
    private static final int LABEL_WIDTH = 14;

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL",
            description = "A diffusers model folder or a single-file .safetensors checkpoint"
                    + " (default: the shipped emoji model).")
    Path model;

    @Option(names = "--check",
            description = "Also load the model (all weights, checked against the configs).")
    boolean check;

    @Spec
    CommandSpec spec;

    private PrintWriter out;

    @Override
    public Integer call() throws Exception {
        out = spec.commandLine().getOut();
        Path path = model != null ? model : DefaultModel.path();
        if (!Files.exists(path)) {
            throw new ModelLoadException("model not found: " + path
                    + " (give a diffusers model folder or a .safetensors checkpoint)");
        }
        if (Files.isDirectory(path)) {
            describeFolder(path.toAbsolutePath().normalize());
        } else {
            describeSingleFile(path.toAbsolutePath().normalize());
        }
        out.flush();
        if (check) {
            long start = System.nanoTime();
            try (DiffusionPipeline p = DiffusionPipeline.load(path, PipelineOptions.defaults())) {
                line("check", String.format(Locale.ROOT, "ok: all weights loaded in %.2f s",
                        (System.nanoTime() - start) / 1e9));
            }
            out.flush();
        }
        return 0;
    }

    // ---------------------------------------------------------------- diffusers folders

    private void describeFolder(Path dir) throws IOException {
        Path indexFile = dir.resolve("model_index.json");
        if (!Files.isRegularFile(indexFile)) {
            throw new ModelLoadException(dir + " is not a diffusers model folder (no"
                    + " model_index.json); give a model folder or a .safetensors checkpoint");
        }
        JsonNode index = readJson(indexFile);
        Path settingsFile = dir.resolve("jdiffusion.json");
        JsonNode settings = Files.isRegularFile(settingsFile) ? readJson(settingsFile)
                : JSON.createObjectNode();

        Path unetDir = component(dir, index, "unet");
        if (unetDir == null) {
            throw new ModelLoadException(indexFile + " has no 'unet' component");
        }
        UNet2DConditionConfig unet = config(unetDir, UNet2DConditionConfig::fromJson);
        Path vaeDir = component(dir, index, "vae");
        AutoencoderKLConfig vae = vaeDir == null ? null
                : config(vaeDir, AutoencoderKLConfig::fromJson);
        Path textDir = component(dir, index, "text_encoder");
        ClipTextConfig text = textDir == null ? null
                : config(textDir, ClipTextConfig::fromJson);
        Path tokDir = component(dir, index, "tokenizer");
        Path text2Dir = component(dir, index, "text_encoder_2");
        ClipTextConfig text2 = text2Dir == null ? null
                : config(text2Dir, ClipTextConfig::fromJson);
        Path tok2Dir = component(dir, index, "tokenizer_2");
        Path schedDir = component(dir, index, "scheduler");
        SchedulerConfig scheduler = null;
        boolean spacingGiven = true;
        if (schedDir != null) {
            Path f = schedDir.resolve("scheduler_config.json");
            if (!Files.isRegularFile(f)) {
                throw new ModelLoadException("scheduler config not found: " + f);
            }
            DiffusersScheduler read = Schedulers.fromDiffusersConfig(f);
            scheduler = read.config();
            spacingGiven = read.spacingGiven();
        }

        line("model", settings.path("name").asText(dir.getFileName().toString()));
        line("path", dir + " (diffusers folder, "
                + index.path("_class_name").asText("no pipeline class") + ")");
        line("family", family(unet, text, text2));
        out.println("components:");
        List<Weights> all = new ArrayList<>();
        all.add(componentRow("unet", unetDir, "UNet2DConditionModel, channels "
                + unet.blockOutChannels() + ", " + unet.inChannels() + " in / "
                + unet.outChannels() + " out channels"));
        if (vaeDir != null) {
            all.add(componentRow("vae", vaeDir, "AutoencoderKL, channels "
                    + vae.blockOutChannels() + ", " + vae.latentChannels()
                    + " latent channels, scaling factor " + vae.scalingFactor()));
        } else {
            absentRow("vae", "none: the model works in pixel space");
        }
        if (textDir != null) {
            all.add(componentRow("text_encoder", textDir, "CLIPTextModel, " + text.numHiddenLayers()
                    + " layers, width " + text.hiddenSize() + ", " + text.numAttentionHeads()
                    + " heads, " + text.hiddenAct()));
        } else {
            absentRow("text_encoder", "none");
        }
        if (tokDir != null) {
            absentRow("tokenizer", tokenizer(tokDir));
        } else {
            absentRow("tokenizer", "none");
        }
        if (text2Dir != null) {
            all.add(componentRow("text_encoder_2", text2Dir, "CLIPTextModelWithProjection, "
                    + text2.numHiddenLayers() + " layers, width " + text2.hiddenSize()
                    + ", projection " + text2.projectionDim().orElse(512)));
        }
        if (tok2Dir != null) {
            absentRow("tokenizer_2", tokenizer(tok2Dir));
        }
        absentRow("scheduler", scheduler == null ? "none"
                : scheduler.className().isEmpty() ? "(no _class_name)" : scheduler.className());
        totalRow(all);

        int factor = vae != null ? vae.downsampleFactor() : 1;
        if (unet.sampleSize() != null) {
            int px = unet.sampleSize() * factor;
            line("size", px + "x" + px + " pixels" + (vae != null ? " (latents "
                    + unet.sampleSize() + "x" + unet.sampleSize() + "x" + vae.latentChannels()
                    + ", VAE factor " + factor + ")" : " (pixel space)")
                    + "; sizes must be multiples of "
                    + lcm(8, factor * unet.downsampleFactor()));
        } else {
            line("size", "not stated in unet/config.json (sample_size); 512x512 assumed");
        }
        line("conditioning", conditioning(text, unet, settings));
        if (scheduler != null) {
            line("scheduler", scheduler(scheduler));
            if (!spacingGiven) {
                line("spacing", "not in scheduler_config.json: each sampler uses the default of"
                        + " its diffusers class (" + samplerSpacings(scheduler) + ")");
            }
        }
        List<String> defaults = new ArrayList<>();
        if (settings.has("default_guidance")) {
            defaults.add("guidance " + settings.get("default_guidance").asDouble());
        }
        if (settings.has("default_sampler")) {
            defaults.add("sampler " + settings.get("default_sampler").asText());
        }
        if (settings.has("clip_skip")) {
            defaults.add("clip skip " + settings.get("clip_skip").asInt());
        }
        if (settings.has("prompt_syntax")) {
            defaults.add("prompt syntax " + settings.get("prompt_syntax").asText());
        }
        line("defaults", defaults.isEmpty()
                ? "none in jdiffusion.json (guidance 7.5, sampler "
                        + PipelineOptions.defaults().defaultSampler() + ")"
                : String.join(", ", defaults) + " (jdiffusion.json)");
        metadata(unetDir);
    }

    /**
     * The model family by the traits that tell them apart: SDXL by its added text/time
     * conditioning, SD 2.x and 1.x by the text width their UNet cross-attends to (OpenCLIP
     * ViT-H 1024, CLIP ViT-L 768).
     */
    static String family(UNet2DConditionConfig unet, ClipTextConfig text, ClipTextConfig text2) {
        if (unet.textTime() != null) {
            return text != null && text2 != null ? "SDXL (base: two text encoders, pooled"
                    + " embedding and size/crop conditioning)"
                    : text == null && text2 != null ? "SDXL refiner (text_encoder_2 only;"
                            + " pooled embedding, size/crop and aesthetic-score conditioning)"
                    : "SDXL-style (added text/time conditioning, an unusual set of text"
                            + " encoders)";
        }
        if (text != null && text.hiddenSize() == 1024) {
            return "SD 2.x (OpenCLIP ViT-H text encoder, width 1024)";
        }
        if (text != null && text.hiddenSize() == 768) {
            return "SD 1.x (CLIP ViT-L text encoder, width 768)";
        }
        return "custom (no Stable Diffusion family's text width or added conditioning)";
    }

    private String conditioning(ClipTextConfig text, UNet2DConditionConfig unet,
            JsonNode settings) {
        if (text != null && unet.textTime() != null) {
            return "text prompt (two CLIP encoders, up to " + text.maxPositionEmbeddings()
                    + " tokens; pooled embedding and size/crop time ids)";
        }
        if (text != null) {
            return "text prompt (CLIP encoder, vocabulary " + text.vocabSize() + ", up to "
                    + text.maxPositionEmbeddings() + " tokens)";
        }
        if (unet.numClassEmbeds() != null) {
            List<String> labels = new ArrayList<>();
            settings.path("labels").forEach(l -> labels.add(l.asText()));
            int n = unet.numClassEmbeds() - 1;
            return "class label, " + n + " classes: " + (labels.isEmpty()
                    ? "0.." + (n - 1) + " (no labels in jdiffusion.json)"
                    : String.join(", ", labels));
        }
        return "unconditional (no prompt)";
    }

    /** "ddim: leading, euler: linspace, ..." for the installed samplers. */
    private static String samplerSpacings(SchedulerConfig s) {
        List<String> out = new ArrayList<>();
        for (String name : dev.jdiffusion.api.Samplers.names()) {
            String spacing = dev.jdiffusion.api.Samplers.create(name).diffusersScheduler()
                    .map(c -> Schedulers.defaultSpacing(c).diffusersName())
                    .orElse(s.timestepSpacing().diffusersName());
            out.add(name + ": " + spacing);
        }
        return String.join(", ", out);
    }

    private static String scheduler(SchedulerConfig s) {
        String betas = s.trainedBetas() != null ? "trained betas"
                : s.betaSchedule() + " betas " + plain(s.betaStart()) + ".."
                        + plain(s.betaEnd());
        StringBuilder b = new StringBuilder()
                .append(s.className().isEmpty() ? "(no class)" : s.className()).append(", ")
                .append(betas).append(" over ").append(s.numTrainTimesteps()).append(" steps, ")
                .append("prediction ").append(s.predictionType().diffusersName())
                .append(", spacing ").append(s.timestepSpacing().diffusersName());
        if (s.stepsOffset() != 0) {
            b.append(" (offset ").append(s.stepsOffset()).append(')');
        }
        if (s.useKarrasSigmas()) {
            b.append(", karras sigmas");
        }
        if (s.useExponentialSigmas()) {
            b.append(", exponential sigmas");
        }
        if (s.rescaleBetasZeroSnr()) {
            b.append(", zero terminal SNR");
        }
        return b.toString();
    }

    private static int lcm(int a, int b) {
        return a / java.math.BigInteger.valueOf(a).gcd(java.math.BigInteger.valueOf(b)).intValue()
                * b;
    }

    private static String plain(double d) {
        return java.math.BigDecimal.valueOf(d).stripTrailingZeros().toPlainString();
    }

    private String tokenizer(Path dir) throws IOException {
        Path vocab = dir.resolve("vocab.json");
        Path merges = dir.resolve("merges.txt");
        if (!Files.isRegularFile(vocab) || !Files.isRegularFile(merges)) {
            return "incomplete: needs vocab.json and merges.txt in " + dir;
        }
        long mergeCount;
        try (var lines = Files.lines(merges)) {
            mergeCount = lines.filter(l -> !l.isBlank() && !l.startsWith("#version")).count();
        }
        return "CLIP BPE, " + readJson(vocab).size() + " tokens, " + mergeCount + " merges";
    }

    private void metadata(Path unetDir) throws IOException {
        for (Path f : weightFiles(unetDir)) {
            try (SafetensorsFile st = SafetensorsFile.open(f)) {
                for (Map.Entry<String, String> e : st.metadata().entrySet()) {
                    if (!e.getKey().equals("format")) {
                        line(e.getKey().replace('_', ' '), shown(e.getValue()));
                    }
                }
            }
            return; // the first file is enough: the writer stamps every file alike
        }
    }

    /** The folder of a component listed in model_index.json, or null if not listed. */
    private static Path component(Path dir, JsonNode index, String name)
            throws ModelLoadException {
        JsonNode entry = index.get(name);
        if (entry == null || !entry.isArray() || entry.size() != 2 || entry.get(0).isNull()) {
            return null;
        }
        Path sub = dir.resolve(name).normalize();
        if (!sub.startsWith(dir) || !Files.isDirectory(sub)) {
            throw new ModelLoadException("model_index.json lists '" + name + "' but " + sub
                    + " is missing");
        }
        return sub;
    }

    /** The weight files the loader would read: full precision if present, else fp16. */
    private static List<Path> weightFiles(Path dir) throws IOException {
        List<Path> full = new ArrayList<>();
        List<Path> half = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path f : files) {
                String n = f.getFileName().toString();
                if (WEIGHTS.matcher(n).matches() && Files.isRegularFile(f)) {
                    (n.contains(".fp16") ? half : full).add(f);
                }
            }
        }
        List<Path> chosen = full.isEmpty() ? half : full;
        chosen.sort(null);
        return chosen;
    }

    private Weights componentRow(String name, Path dir, String detail) throws IOException {
        List<Path> files = weightFiles(dir);
        if (files.isEmpty()) {
            boolean pickle;
            try (var list = Files.list(dir)) {
                pickle = list.anyMatch(f -> PICKLES.matcher(f.getFileName().toString())
                        .matches());
            }
            absentRow(name, (pickle ? "only pickle weights (.bin/.ckpt; convert them to"
                    + " safetensors)" : "no weights file") + "; " + detail);
            return Weights.NONE;
        }
        Weights w = Weights.NONE;
        for (Path f : files) {
            try (SafetensorsFile st = SafetensorsFile.open(f)) {
                w = w.plus(Weights.of(st.tensors().values(), t -> true));
            }
        }
        weightsRow(name, w, detail + (files.get(0).getFileName().toString().contains(".fp16")
                ? " (fp16 variant)" : ""));
        return w;
    }

    // ---------------------------------------------------------------- single-file checkpoints

    private void describeSingleFile(Path file) throws IOException {
        PickleGuard.refusePickle(file);
        String fileName = file.getFileName().toString();
        if (!fileName.toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            throw new ModelLoadException(file + ": a single-file model must be a .safetensors"
                    + " checkpoint (or give a diffusers model folder)");
        }
        Map<String, String> metadata;
        List<Weights> all = new ArrayList<>();
        line("model", fileName.substring(0, fileName.length() - ".safetensors".length()));
        try (SafetensorsFile st = SafetensorsFile.open(file)) {
            Collection<TensorInfo> tensors = st.tensors().values();
            line("path", file + " (single-file checkpoint, " + tensors.size() + " tensors, "
                    + mb(Files.size(file)) + ")");
            out.println("components:");
            Map<String, String> prefixes = new LinkedHashMap<>();
            prefixes.put("unet", LdmKeys.UNET_PREFIX);
            prefixes.put("vae", LdmKeys.VAE_PREFIX);
            prefixes.put("text_encoder", LdmKeys.TEXT_ENCODER_PREFIX);
            for (Map.Entry<String, String> p : prefixes.entrySet()) {
                Weights w = Weights.of(tensors, t -> t.name().startsWith(p.getValue()));
                if (w.tensors() == 0) {
                    absentRow(p.getKey(), "none (no " + p.getValue() + "* tensors)");
                } else {
                    weightsRow(p.getKey(), w, p.getValue() + "*");
                    all.add(w);
                }
            }
            // Everything else, grouped by the first name segment (EMA copies, SDXL parts...).
            Map<String, List<TensorInfo>> others = tensors.stream()
                    .filter(t -> prefixes.values().stream().noneMatch(t.name()::startsWith))
                    .collect(Collectors.groupingBy(t -> t.name().split("\\.", 2)[0],
                            java.util.TreeMap::new, Collectors.toList()));
            for (Map.Entry<String, List<TensorInfo>> o : others.entrySet()) {
                Weights w = Weights.of(o.getValue(), t -> true);
                weightsRow(o.getKey(), w, o.getKey() + ".* (not used)");
                all.add(w);
            }
            Path tok = file.resolveSibling("tokenizer");
            absentRow("tokenizer", Files.isDirectory(tok) ? tokenizer(tok)
                    : "missing: put CLIP's vocab.json and merges.txt in " + tok);
            absentRow("scheduler", "not stored in the file; Stable Diffusion 1.x schedule");
            totalRow(all);
            metadata = st.metadata();
        }
        String structure;
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(file)) {
            structure = ckpt.family().displayName() + " layout (UNet "
                    + ckpt.unetLayout().levels() + " levels, VAE " + ckpt.vaeLevels()
                    + " levels)";
        } catch (ModelLoadException e) {
            structure = "not loadable: " + e.getMessage();
        }
        line("structure", structure);
        line("size", "512x512 pixels (Stable Diffusion 1.x; latents 64x64x4)");
        line("conditioning", "text prompt (CLIP encoder, up to 77 tokens)");
        line("scheduler", scheduler(Schedulers.stableDiffusion15().config()));
        line("defaults", "guidance 7.5, sampler " + PipelineOptions.defaults().defaultSampler());
        for (Map.Entry<String, String> e : metadata.entrySet()) {
            if (!e.getKey().equals("format")) {
                line(e.getKey(), shown(e.getValue()));
            }
        }
    }

    // ---------------------------------------------------------------- output

    private void line(String label, String text) {
        // Padded to the column; a longer label still gets one space before its text.
        String head = label + ":";
        out.println(head + " ".repeat(Math.max(1, LABEL_WIDTH - head.length())) + text);
    }

    /**
     * A metadata value on one line: whitespace runs as one space, cut only when very long (a
     * training command is shown whole; a checkpoint may carry kilobytes of tags).
     */
    private static String shown(String value) {
        String v = value.replaceAll("\\s+", " ");
        return v.length() > 1000 ? v.substring(0, 997) + "..." : v;
    }

    private void weightsRow(String name, Weights w, String detail) {
        out.println(String.format(Locale.ROOT, "  %-13s %13s params  %-9s %9s  %s", name,
                String.format(Locale.ROOT, "%,d", w.parameters()), w.dtypes(),
                w.bytes() > 0 ? mb(w.bytes()) : "", detail));
    }

    private void absentRow(String name, String detail) {
        out.println(String.format(Locale.ROOT, "  %-13s %s", name, detail));
    }

    private void totalRow(List<Weights> all) {
        Weights sum = Weights.NONE;
        for (Weights w : all) {
            sum = sum.plus(w);
        }
        out.println(String.format(Locale.ROOT, "  %-13s %13s params  %-9s %9s", "total",
                String.format(Locale.ROOT, "%,d", sum.parameters()), sum.dtypes(),
                sum.bytes() > 0 ? mb(sum.bytes()) : ""));
    }

    private static String mb(long bytes) {
        return bytes >= 1 << 30 ? String.format(Locale.ROOT, "%.2f GB", bytes / 1e9)
                : String.format(Locale.ROOT, "%.1f MB", bytes / 1e6);
    }

    @FunctionalInterface
    private interface ConfigReader<T> {
        T read(Path file) throws IOException;
    }

    private static <T> T config(Path dir, ConfigReader<T> reader) throws ModelLoadException {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(dir.getFileName() + " config not found: " + file);
        }
        try {
            return reader.read(file);
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            String msg = String.valueOf(e.getMessage());
            throw new ModelLoadException(msg.startsWith(file.toString()) ? msg
                    : file + ": " + msg, e);
        }
    }

    private static JsonNode readJson(Path file) throws ModelLoadException {
        try {
            JsonNode node = JSON.readTree(file.toFile());
            if (node == null || !node.isObject()) {
                throw new ModelLoadException(file + " is not a JSON object");
            }
            return node;
        } catch (IOException e) {
            throw new ModelLoadException(file + " is not valid JSON: "
                    + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }

    /**
     * Totals of a set of tensors: parameters (elements of floating-point tensors; integer
     * buffers such as CLIP's position ids do not count), tensors per stored dtype, data bytes.
     */
    record Weights(long parameters, int tensors, Map<SafetensorsDtype, Integer> byDtype,
            long bytes) {

        static final Weights NONE = new Weights(0, 0, Map.of(), 0);

        static Weights of(Collection<TensorInfo> all, Predicate<TensorInfo> filter) {
            long params = 0;
            long bytes = 0;
            int count = 0;
            Map<SafetensorsDtype, Integer> byDtype = new EnumMap<>(SafetensorsDtype.class);
            for (TensorInfo t : all) {
                if (filter.test(t)) {
                    count++;
                    byDtype.merge(t.dtype(), 1, Integer::sum);
                    bytes += t.byteLength();
                    if (t.dtype().isReadableAsFloat()) {
                        params += t.elementCount();
                    }
                }
            }
            return new Weights(params, count, byDtype, bytes);
        }

        Weights plus(Weights o) {
            Map<SafetensorsDtype, Integer> m = new EnumMap<>(SafetensorsDtype.class);
            m.putAll(byDtype);
            o.byDtype.forEach((k, v) -> m.merge(k, v, Integer::sum));
            return new Weights(parameters + o.parameters, tensors + o.tensors, m,
                    bytes + o.bytes);
        }

        /** The stored dtypes, the main one first, e.g. {@code F16} or {@code F32+I64}. */
        String dtypes() {
            if (byDtype.isEmpty()) {
                return "-";
            }
            return byDtype.entrySet().stream()
                    .sorted(Map.Entry.<SafetensorsDtype, Integer>comparingByValue().reversed())
                    .map(e -> e.getKey().name()).collect(Collectors.joining("+"));
        }
    }
}
