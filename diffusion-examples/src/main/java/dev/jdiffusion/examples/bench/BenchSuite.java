package dev.jdiffusion.examples.bench;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.training.ParameterStore;
import ai.djl.util.cuda.CudaUtils;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.djl.nn.SdxlConfigs;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.pipeline.DecoderOptions;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import dev.jdiffusion.examples.bench.Op.Kind;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The benchmark suite behind {@code jdiffusion bench}: every figure is a median over repeated
 * runs after warm-up, printed as it is measured and summarised as a Markdown table at the end.
 * Sections ({@link #SECTIONS}):
 * <ul>
 *   <li>{@code matmul}: fp32 matrix-multiply throughput, the machine's practical peak;</li>
 *   <li>{@code sampler}: time per step outside the network, per sampler, plain and guided;</li>
 *   <li>{@code unet-default}, {@code unet-sd15}: UNet forward latency and achieved GFLOP/s at
 *       the default model's and Stable Diffusion 1.5's size (random weights, real shapes);</li>
 *   <li>{@code profile}: the SD UNet's operations replayed one by one, time per block and
 *       part (resnet, attention, samplers) and per operation kind;</li>
 *   <li>{@code vae}: SD 1.5 VAE decode to 512²;</li>
 *   <li>{@code load}: weight loading of an SD 1.5 fp16 UNet (GB/s) and of the default-size
 *       model;</li>
 *   <li>{@code cold-start}: a fresh JVM's time to its first engine result;</li>
 *   <li>{@code peak}: peak resident memory (VmHWM) of one text-to-image run in a fresh JVM, SD
 *       1.5 at 512² with guidance and the default size;</li>
 *   <li>{@code default-model}: end-to-end images/s of a trained default model;</li>
 *   <li>{@code lora}: cost of a derived LoRA pipeline against weights merged in place
 *       (creation time, extra memory, UNet step time; see {@code LoraBenchmark});</li>
 *   <li>{@code kernels} (opt-in, not in {@link #DEFAULT_SECTIONS}): the convolution kernels'
 *       speed-up, as paired plain/auto runs of the SD UNet forward and a TAESD decode in one
 *       process (see {@code KernelBenchmark});</li>
 *   <li>{@code end-to-end} (opt-in): seconds per image of
 *       random-weight SD 1.5-shaped models at {@code latentSize · 8} pixels (512² by default),
 *       text encoding to decoded image: (a) 20 steps {@code dpmpp_2m} with guidance 7.5, (b) 4
 *       steps {@code lcm} on an LCM-distilled UNet ({@code time_cond_proj_dim} 256, guidance
 *       embedding, no classifier-free guidance), (c) 1 step {@code euler_a} with trailing
 *       spacing and no guidance (the Turbo recipe); (a) decoded by the full VAE, (b) and (c) by
 *       the chosen final decoder; and
 *       images/s of one warm pipeline running (c) for 1, 2 and 4 concurrent callers;</li>
 *   <li>{@code pipeline-sd15} (opt-in): one warm SD 1.5-shaped pipeline (random weights, {@code
 *       --tokenizer} needed) on {@link BenchOptions#device()}: seconds per image and steps per
 *       second of {@code --steps} {@code ddim} steps with guidance 7.5, text encoding to decoded
 *       image, the figure {@code scripts/gpu/diffusers_bench.py} measures for diffusers;</li>
 *   <li>{@code unet-sdxl} (opt-in): one guided SDXL base UNet step at 1024² (batch 2, 128²
 *       latents, random weights in the published shapes, matrices stored in float16 as {@code
 *       PipelineOptions.half} stores them) and the process's peak resident memory.</li>
 * </ul>
 * {@code matmul}, {@code unet-default}, {@code unet-sd15}, {@code vae} and {@code pipeline-sd15}
 * run on {@link BenchOptions#device()} in float32 or, with {@link BenchOptions#half()}, float16
 * (for the pipeline: {@link PipelineOptions#half()}, float16 weights, computed in float16 on a
 * GPU and widened per layer on CPU); on a GPU each
 * of them also reports the peak GPU memory in use ({@link GpuMemoryPeak}). The other sections
 * run on CPU in float32.
 * Not thread-safe; run one suite at a time (it saturates the CPU anyway).
 */
public final class BenchSuite {

    /** Section names, in the order they run. */
    public static final List<String> SECTIONS = List.of("matmul", "sampler", "unet-default",
            "unet-sd15", "profile", "vae", "load", "cold-start", "peak", "default-model",
            "lora", "kernels", "end-to-end", "pipeline-sd15", "unet-sdxl");

    /** The sections a run without {@code --only} measures: all but the opt-in ones. */
    public static final List<String> DEFAULT_SECTIONS = SECTIONS.stream()
            .filter(s -> !List.of("kernels", "end-to-end", "pipeline-sd15", "unet-sdxl")
                    .contains(s)).toList();

    /** The final decoders the end-to-end section can use. */
    public static final List<String> DECODERS = List.of("vae", "taesd");

    private final BenchOptions o;
    private final PrintStream out;
    /** Where the device sections run, and in which type. */
    private final Device device;
    private final DataType dtype;
    private final List<Result> results = new ArrayList<>();
    private final Map<Integer, Double> sdForward = new TreeMap<>();
    private double matmulPeak = Double.NaN;

    /**
     * Creates a suite.
     *
     * @param options what to run
     * @param out where progress lines and the summary go
     */
    public BenchSuite(BenchOptions options, PrintStream out) {
        this.o = options;
        this.out = out;
        String d = options.device();
        this.device = d.equals("cpu") ? Device.cpu()
                : Device.gpu(d.contains(":") ? Integer.parseInt(d.substring(4)) : 0);
        this.dtype = options.half() ? DataType.FLOAT16 : DataType.FLOAT32;
    }

    /**
     * Runs the selected sections in {@link #SECTIONS} order. A failing section is reported
     * (as a result with value NaN and the error as note) and the others still run.
     *
     * @return every measured figure
     */
    public List<Result> run() {
        Engine.getInstance(); // loads the native library
        int engineThreads = JniUtils.getNumThreads();
        if (o.threads() > 0) {
            JniUtils.setNumThreads(o.threads());
        }
        try {
            runSections();
        } finally {
            JniUtils.setNumThreads(engineThreads);
        }
        out.println();
        out.println(table(results));
        return List.copyOf(results);
    }

    private void runSections() {
        out.println("# jdiffusion bench");
        out.println(machine());
        out.println(deviceLine());
        for (String s : SECTIONS) {
            if (!o.sections().contains(s)) {
                continue;
            }
            out.println();
            out.println("## " + s);
            long start = System.nanoTime();
            try (GpuMemoryPeak memory = o.onGpuDevice() ? GpuMemoryPeak.start(device, 5) : null) {
                switch (s) {
                    case "matmul" -> matmul();
                    case "sampler" -> results.addAll(
                            SamplerOverheadBenchmark.measure(Math.max(5, 3 * o.repeat()), out));
                    case "unet-default" -> unet(s, UNet2DConditionConfig.fromJson(
                            RandomModels.DEFAULT_UNET), 32, Math.max(o.repeat(), 10));
                    case "unet-sd15" -> unet(s, sdConfig(), o.latentSize(), o.repeat());
                    case "profile" -> profile();
                    case "vae" -> vae();
                    case "load" -> load();
                    case "cold-start" -> coldStart();
                    case "peak" -> peak();
                    case "default-model" -> defaultModel();
                    case "lora" -> results.addAll(LoraBenchmark.measure(o, out));
                    case "kernels" -> results.addAll(KernelBenchmark.measure(o, out));
                    case "end-to-end" -> endToEnd();
                    case "pipeline-sd15" -> pipelineSd15();
                    case "unet-sdxl" -> unetSdxl();
                    default -> throw new IllegalStateException(s);
                }
                if (memory != null) {
                    add(s, "peak GPU memory in use", memory.peak() / 1048576.0, "MiB",
                            String.format(Locale.ROOT, "whole device, sampled every 5 ms (CUDA"
                                    + " context and PyTorch's cache included); %.0f MiB at the"
                                    + " section's start", memory.atStart() / 1048576.0));
                }
            } catch (Exception | OutOfMemoryError e) {
                out.println("FAILED: " + e);
                results.add(new Result(s, "failed", Double.NaN, "", String.valueOf(e)));
            }
            out.printf(Locale.ROOT, "(%s took %.1f s)%n", s, (System.nanoTime() - start) / 1e9);
        }
    }

    /**
     * The results as a Markdown table.
     *
     * @param results the figures
     * @return the table text
     */
    public static String table(List<Result> results) {
        StringBuilder sb = new StringBuilder("| section | measure | median | unit | note |\n");
        sb.append("|---|---|---:|---|---|\n");
        for (Result r : results) {
            sb.append("| ").append(r.section()).append(" | ").append(r.name()).append(" | ")
                    .append(Timing.fmt(r.value())).append(" | ").append(r.unit()).append(" | ")
                    .append(r.note()).append(" |\n");
        }
        return sb.toString();
    }

    private void add(String section, String name, double value, String unit, String note) {
        results.add(new Result(section, name, value, unit, note));
        out.printf(Locale.ROOT, "%-40s %10s %-8s %s%n", name, Timing.fmt(value), unit, note);
    }

    private UNet2DConditionConfig sdConfig() {
        return UNet2DConditionConfig.fromJson(o.unetConfig());
    }

    /** Whether {@code cfg} is SD 1.5's UNet (not a {@code --unet-config} of another shape). */
    private static boolean isSd15(UNet2DConditionConfig cfg) {
        return cfg.equals(UNet2DConditionConfig.fromJson(Sd15Configs.UNET));
    }

    private static String machine() {
        String cpu = "unknown CPU";
        String mem = "";
        boolean avx512 = false;
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                if (l.startsWith("model name") && cpu.startsWith("unknown")) {
                    cpu = l.substring(l.indexOf(':') + 1).trim();
                } else if (l.startsWith("flags") && l.contains("avx512f")) {
                    avx512 = true;
                }
            }
            for (String l : Files.readAllLines(Path.of("/proc/meminfo"), StandardCharsets.UTF_8)) {
                if (l.startsWith("MemTotal")) {
                    long kb = Long.parseLong(l.replaceAll("\\D+", ""));
                    mem = String.format(Locale.ROOT, ", %.1f GiB memory", kb / 1048576.0);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: keep the defaults
        }
        return String.format(Locale.ROOT, "machine: %s, %d cores%s%s; PyTorch intra-op threads:"
                + " %d; Java %s", cpu, Runtime.getRuntime().availableProcessors(),
                avx512 ? " (AVX-512)" : "", mem, JniUtils.getNumThreads(),
                System.getProperty("java.version"));
    }

    private String deviceLine() {
        String where = device.isGpu() ? String.format(Locale.ROOT, "%s (compute capability %s,"
                + " %.1f GiB)", device, CudaUtils.getComputeCapability(device.getDeviceId()),
                CudaUtils.getGpuMemory(device).getMax() / 1073741824.0) : "cpu";
        return "device sections (" + String.join(", ", BenchOptions.DEVICE_SECTIONS) + "): "
                + where + ", " + (dtype == DataType.FLOAT16 ? "float16" : "float32");
    }

    private void matmul() throws Exception {
        int n = o.matmulSize();
        try (NDManager m = NDManager.newBaseManager(device)) {
            NDArray a = m.randomUniform(-1, 1, new Shape(n, n)).toType(dtype, false);
            NDArray b = m.randomUniform(-1, 1, new Shape(n, n)).toType(dtype, false);
            Timing.Stats s = Timing.time(Math.max(1, o.warmup()), Math.max(5, o.repeat()), () -> {
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    a.matMul(b).get(0, 0).toType(DataType.FLOAT32, false).getFloat();
                }
            });
            matmulPeak = 2.0 * n * n * n / s.median() / 1e9;
            add("matmul", typeName() + " matMul " + n + "²", matmulPeak, "GFLOP/s",
                    "median " + Timing.fmt(s.median()) + " s; " + s.spread());
        }
    }

    private String typeName() {
        return dtype == DataType.FLOAT16 ? "fp16" : "fp32";
    }

    private String ofPeak(double gflops) {
        return Double.isNaN(matmulPeak) ? "(run matmul for the peak)" : String.format(Locale.ROOT,
                "%.0f %% of matMul peak", 100 * gflops / matmulPeak);
    }

    private void unet(String section, UNet2DConditionConfig cfg, int size, int reps)
            throws Exception {
        try (NDManager m = NDManager.newBaseManager(device)) {
            UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
            Engine.getInstance().setRandomSeed(0);
            unet.initialize(m, dtype);
            out.printf(Locale.ROOT, "UNet %s, %.1f M parameters, latents %d×%d, text %d×%d%n",
                    cfg.blockOutChannels(), parameters(unet) / 1e6, size, size, o.textLength(),
                    cfg.crossAttentionDim().get(0));
            ParameterStore ps = new ParameterStore(m, false);
            for (int batch : o.batches()) {
                UNetInputs in = UNetInputs.random(m, cfg, batch, size, o.textLength())
                        .toType(dtype);
                double[] std = {0};
                Timing.Stats s = Timing.time(o.warmup(), reps, () -> {
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        NDArray y = in.predict(unet, ps).toType(DataType.FLOAT32, false);
                        std[0] = y.sub(y.mean()).pow(2).mean().sqrt().getFloat();
                    }
                });
                FlopCounter.Totals f = FlopCounter.totals(
                        FlopCounter.unet(cfg, batch, size, size, o.textLength()));
                double gflops = f.total() / s.median() / 1e9;
                add(section, "forward batch " + batch + (batch == 2 ? " (= 1 guided step)" : ""),
                        s.median(), "s", s.spread() + String.format(Locale.ROOT,
                                "; %s GFLOP → %s GFLOP/s, %s; output std %.3g",
                                Timing.fmt(f.total() / 1e9), Timing.fmt(gflops), ofPeak(gflops),
                                std[0]));
                if (section.equals("unet-sd15")) {
                    sdForward.put(batch, s.median());
                }
            }
        }
    }

    private void profile() throws Exception {
        UNet2DConditionConfig cfg = sdConfig();
        int batch = o.batches().stream().mapToInt(Integer::intValue).max().orElse(2);
        int size = o.latentSize();
        List<Op> ops = FlopCounter.unet(cfg, batch, size, size, o.textLength());
        Map<String, Double> time;
        try (NDManager m = NDManager.newBaseManager()) {
            time = OpProfiler.timeShapes(ops, m, Math.min(3, o.repeat()));
        }
        // per block × part
        Map<String, Map<String, Double>> byBlock = new LinkedHashMap<>();
        Map<Kind, double[]> byKind = new LinkedHashMap<>(); // seconds, flops
        double total = 0;
        for (Op op : ops) {
            double t = time.get(op.shapeKey());
            total += t;
            byBlock.computeIfAbsent(op.block(), k -> new LinkedHashMap<>())
                    .merge(op.part(), t, Double::sum);
            double[] kf = byKind.computeIfAbsent(op.kind(), k -> new double[2]);
            kf[0] += t;
            kf[1] += op.flops();
        }
        out.printf(Locale.ROOT, "replay of %d ops (%d distinct shapes), batch %d, latents %d×%d%n",
                ops.size(), time.size(), batch, size, size);
        out.println("| block | resnet s | attention s | up/down conv s | io s | total s | share |");
        out.println("|---|---:|---:|---:|---:|---:|---:|");
        for (Map.Entry<String, Map<String, Double>> e : byBlock.entrySet()) {
            Map<String, Double> p = e.getValue();
            double sum = p.values().stream().mapToDouble(Double::doubleValue).sum();
            out.printf(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %.1f %% |%n", e.getKey(),
                    Timing.fmt(p.getOrDefault("resnet", 0.0)),
                    Timing.fmt(p.getOrDefault("attention", 0.0)),
                    Timing.fmt(p.getOrDefault("sampler", 0.0)),
                    Timing.fmt(p.getOrDefault("io", 0.0)), Timing.fmt(sum), 100 * sum / total);
            results.add(new Result("profile", e.getKey(), sum, "s", String.format(Locale.ROOT,
                    "resnet %s, attention %s, up/down conv %s, io %s",
                    Timing.fmt(p.getOrDefault("resnet", 0.0)),
                    Timing.fmt(p.getOrDefault("attention", 0.0)),
                    Timing.fmt(p.getOrDefault("sampler", 0.0)),
                    Timing.fmt(p.getOrDefault("io", 0.0)))));
        }
        for (Map.Entry<Kind, double[]> e : byKind.entrySet()) {
            double[] kf = e.getValue();
            double gflops = kf[1] / kf[0] / 1e9;
            add("profile", "kind " + e.getKey(), kf[0], "s", String.format(Locale.ROOT,
                    "%.1f %% of replay%s", 100 * kf[0] / total, kf[1] > 0 ? String.format(
                            Locale.ROOT, "; %.1f GFLOP/s, %s", gflops, ofPeak(gflops)) : ""));
        }
        Double measured = size == o.latentSize() ? sdForward.get(batch) : null;
        add("profile", "replay sum batch " + batch, total, "s", measured == null
                ? "run with unet-sd15 to compare with a measured forward"
                : String.format(Locale.ROOT, "measured forward %s s: %.1f %% outside the replayed"
                        + " ops (activations, residual adds, concat, copies, overhead)",
                        Timing.fmt(measured), 100 * (measured - total) / measured));
    }

    private void vae() throws Exception {
        AutoencoderKLConfig cfg = AutoencoderKLConfig.fromJson(Sd15Configs.VAE);
        int size = o.latentSize();
        try (NDManager m = NDManager.newBaseManager(device)) {
            AutoencoderKL vae = new AutoencoderKL(cfg);
            Engine.getInstance().setRandomSeed(0);
            vae.initialize(m, dtype);
            NDArray z = m.randomNormal(new Shape(1, cfg.latentChannels(), size, size))
                    .toType(dtype, false);
            ParameterStore ps = new ParameterStore(m, false);
            Timing.Stats s = Timing.time(o.warmup(), o.repeat(), () -> {
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    vae.decode(ps, z, false).get(0, 0, 0, 0).toType(DataType.FLOAT32, false)
                            .getFloat();
                }
            });
            long flops = FlopCounter.totals(FlopCounter.vaeDecoder(cfg, 1, size, size)).total();
            double gflops = flops / s.median() / 1e9;
            add("vae", "SD 1.5 decode " + size * 8 + "²", s.median(), "s", s.spread()
                    + String.format(Locale.ROOT, "; %.0f GFLOP → %.1f GFLOP/s, %s",
                            flops / 1e9, gflops, ofPeak(gflops)));
        }
    }

    private Path sdFolder() throws IOException {
        if (o.tokenizer() == null) {
            return null;
        }
        Path dir = o.work().resolve("sd15-random");
        if (!Files.exists(dir.resolve(".bench-complete"))) {
            out.println("writing a random-weight SD 1.5 folder (fp16, ≈ 2.1 GB) to " + dir);
        }
        long t = System.nanoTime();
        RandomModels.sd15(dir, o.tokenizer());
        out.printf(Locale.ROOT, "SD 1.5 folder ready in %.1f s%n", (System.nanoTime() - t) / 1e9);
        return dir;
    }

    /** The trained model if given, else a random-weight folder of its shape (or null). */
    private Path defaultFolder() throws IOException {
        if (o.model() != null) {
            return o.model();
        }
        if (o.tokenizer() == null) {
            return null;
        }
        out.println("no trained default model given: using random weights of its shape with"
                + " the CLIP tokenizer (vocabulary 49,408 instead of 2,048)");
        return RandomModels.defaultSize(o.work().resolve("default-size-random"), o.tokenizer());
    }

    private void load() throws Exception {
        UNet2DConditionConfig cfg = sdConfig();
        boolean isSd = isSd15(cfg);
        Path sd = isSd ? sdFolder() : null;
        Path file;
        if (sd != null) {
            file = sd.resolve("unet/diffusion_pytorch_model.safetensors");
        } else {
            file = o.work().resolve("unet-" + Integer.toHexString(cfg.hashCode())
                    + "-fp16.safetensors");
            if (!Files.exists(file)) {
                out.println("writing a random-weight UNet " + cfg.blockOutChannels()
                        + " (fp16) to " + file);
                Files.createDirectories(o.work());
                try (NDManager m = NDManager.newBaseManager()) {
                    UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
                    unet.initialize(m, DataType.FLOAT32);
                    StateDict.save(ParameterNames.of(unet), file, DataType.FLOAT16, Map.of());
                }
            }
        }
        long bytes = Files.size(file);
        Timing.Stats s = Timing.time(o.warmup(), o.repeat(), () -> {
            UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
            try (NDManager m = NDManager.newBaseManager();
                    SafetensorsFile f = SafetensorsFile.open(file)) {
                StateDict.load("unet", ParameterNames.of(unet), List.of(f),
                        KeyMapping.identity(), m, DataType.FLOAT32);
            }
        });
        add("load", (isSd ? "SD 1.5 UNet" : "UNet " + cfg.blockOutChannels()) + " fp16 → fp32",
                s.median(), "s", String.format(Locale.ROOT,
                "%.2f GB file, %.2f GB/s (page cache warm: the file was just written/read); %s",
                bytes / 1e9, bytes / 1e9 / s.median(), s.spread()));
        Path def = defaultFolder();
        if (def == null) {
            add("load", "default model", Double.NaN, "s", "skipped: no --model and no"
                    + " --tokenizer for a random-weight folder");
            return;
        }
        Timing.Stats d = Timing.time(Math.max(1, o.warmup()), Math.max(5, o.repeat()), () -> {
            try (DiffusionPipeline p = DiffusionPipeline.load(def, PipelineOptions.defaults())) {
                p.defaultSize();
            }
        });
        add("load", "default-size model (pipeline)", d.median(), "s", def + "; " + d.spread());
    }

    private void coldStart() throws Exception {
        double[] first = new double[o.repeat()];
        double[] wall = new double[o.repeat()];
        for (int i = 0; i < o.repeat(); i++) {
            Forked.Child c = Forked.run(o.threads(), "cold");
            first[i] = Double.parseDouble(c.values().get("first_op_ms")) / 1000;
            wall[i] = c.wallSeconds();
        }
        Timing.Stats f = Timing.Stats.of(first);
        Timing.Stats w = Timing.Stats.of(wall);
        add("cold-start", "JVM start → first engine result", f.median(), "s", f.spread());
        add("cold-start", "process wall time (spawn → exit)", w.median(), "s", w.spread());
    }

    private void peak() throws Exception {
        Path sd = sdFolder();
        if (sd == null) {
            add("peak", "SD 1.5 text-to-image 512²", Double.NaN, "MiB",
                    "skipped: give --tokenizer (CLIP vocab.json + merges.txt)");
        } else {
            long params = parameters(new UNet2DConditionModel(
                    UNet2DConditionConfig.fromJson(Sd15Configs.UNET)))
                    + parameters(new AutoencoderKL(AutoencoderKLConfig.fromJson(Sd15Configs.VAE)))
                    + parameters(new ClipTextModel(ClipTextConfig.sd15()));
            peakRun("SD 1.5 text-to-image 512², " + o.steps() + " steps, guidance 7.5", sd, 512,
                    7.5, params, false);
            peakRun("SD 1.5 as above, UNet weights in float16 (PipelineOptions.half)", sd, 512,
                    7.5, params, true);
        }
        Path def = defaultFolder();
        if (def == null) {
            add("peak", "default size", Double.NaN, "MiB", "skipped: no --model or --tokenizer");
        } else {
            peakRun("default-size text-to-image, " + o.steps() + " steps, guidance 4", def, 0, 4,
                    0, false);
        }
    }

    private void peakRun(String name, Path model, int size, double guidance, long params,
            boolean half) throws Exception {
        Forked.Child c = Forked.run(o.threads(), "peak", model.toString(), Integer.toString(size),
                Integer.toString(o.steps()), Double.toString(guidance), half ? "half" : "full");
        double mb = Long.parseLong(c.values().get("vmhwm_kb")) / 1024.0;
        String ratio = params > 0 ? String.format(Locale.ROOT, "; %.2f × the fp32 weights"
                + " (%.2f B parameters = %.0f MB)", mb * 1024 * 1024 / (4.0 * params),
                params / 1e9, 4.0 * params / 1048576) : "";
        add("peak", name, mb, "MiB", String.format(Locale.ROOT, "VmHWM, fresh JVM; load %s s,"
                + " generate %s s%s", c.values().get("load_s"), c.values().get("generate_s"),
                ratio));
    }

    private void defaultModel() throws Exception {
        if (o.model() == null) {
            add("default-model", "images/s end to end", Double.NaN, "images/s",
                    "skipped: no trained default model (give --model DIR)");
            return;
        }
        try (DiffusionPipeline p = DiffusionPipeline.load(o.model(), PipelineOptions.defaults())) {
            GenerationRequest r = GenerationRequest.builder("a smiling face").steps(20)
                    .numImages(o.images()).guidanceScale(p.defaultGuidance()).seed(1).build();
            Timing.Stats s = Timing.time(Math.max(1, o.warmup()), Math.max(3, o.repeat()),
                    () -> p.generate(r));
            add("default-model", "images/s end to end", o.images() / s.median(), "images/s",
                    String.format(Locale.ROOT, "%d images of %d² per request, 20 steps, guidance"
                            + " %.1f, default sampler; %s s per request (%s)", o.images(),
                            p.defaultSize(), p.defaultGuidance(), Timing.fmt(s.median()),
                            s.spread()));
        }
    }

    private void endToEnd() throws Exception {
        Path sd = sdFolder();
        if (sd == null) {
            add("end-to-end", "SD 1.5-shaped 20 steps", Double.NaN, "s/image",
                    "skipped: give --tokenizer (CLIP vocab.json + merges.txt)");
            return;
        }
        UNet2DConditionConfig base = UNet2DConditionConfig.fromJson(Sd15Configs.UNET);
        UNet2DConditionConfig lcmConfig = UNet2DConditionConfig.fromJson(base.toJson()
                .replace("\"time_cond_proj_dim\" : null", "\"time_cond_proj_dim\" : 256"));
        if (lcmConfig.timeCondProjDim() == null) {
            throw new IllegalStateException("could not set time_cond_proj_dim in " + base);
        }
        Path lcm = RandomModels.lcmVariant(o.work().resolve("sd15-lcm-random"), sd, lcmConfig);
        int size = o.latentSize() * 8;
        DecoderOptions decoders = o.decoder().equals("taesd")
                ? DecoderOptions.defaults().withTaesd(RandomModels.taesd(o.work().resolve(
                        "taesd-random")))
                : DecoderOptions.defaults();
        String where = String.format(Locale.ROOT, "%d², decoder %s, random SD 1.5-shaped"
                + " weights; load average %s", size, o.decoder(), loadAverage());
        GenerationRequest turbo = request(size, 1, "euler_a", 0, "trailing");
        double baseline;
        boolean vaeOnly = o.decoder().equals("vae");
        // (a) is the baseline as issue 18 defines it: always decoded by the full VAE.
        try (DiffusionPipeline p = DiffusionPipeline.load(sd, PipelineOptions.defaults())) {
            for (int i = 0; i < o.warmup(); i++) {
                p.generate(turbo); // warms the pipeline with the cheapest request
            }
            Timing.Stats a = Timing.time(0, o.repeat(),
                    () -> p.generate(request(size, 20, "dpmpp_2m", 7.5, null)));
            baseline = a.median();
            add("end-to-end", "(a) 20 steps dpmpp_2m, guidance 7.5, VAE", a.median(), "s/image",
                    where.replace("decoder " + o.decoder(), "decoder vae") + "; " + a.spread());
            if (vaeOnly) {
                turboCases(p, turbo, baseline); // the same pipeline, already warm
            }
        }
        if (!vaeOnly) {
            try (DiffusionPipeline p = DiffusionPipeline.load(sd, PipelineOptions.defaults(),
                    decoders)) {
                for (int i = 0; i < o.warmup(); i++) {
                    p.generate(turbo);
                }
                turboCases(p, turbo, baseline);
            }
        }
        try (DiffusionPipeline p = DiffusionPipeline.load(lcm, PipelineOptions.defaults(),
                decoders)) {
            GenerationRequest r = request(size, 4, "lcm", 8, null);
            for (int i = 0; i < o.warmup(); i++) {
                p.generate(request(size, 1, "lcm", 8, null));
            }
            Timing.Stats b = Timing.time(0, o.repeat(), () -> p.generate(r));
            add("end-to-end", "(b) 4 steps lcm, LCM UNet, w = 7 embedded, " + o.decoder(),
                    b.median(), "s/image",
                    String.format(Locale.ROOT, "time_cond_proj_dim 256, one UNet call per step;"
                            + " %.1f× faster than (a); %s", baseline / b.median(), b.spread()));
        }
    }

    /**
     * The SD 1.5-shaped folder, or with {@code --unet-config} (to rehearse on small sizes) one
     * with that UNet and SD 1.5's VAE and text encoder; null without a tokenizer.
     */
    private Path pipelineFolder() throws IOException {
        UNet2DConditionConfig cfg = sdConfig();
        if (isSd15(cfg)) {
            return sdFolder();
        }
        if (o.tokenizer() == null) {
            return null;
        }
        if (cfg.inChannels() != 4 || !cfg.crossAttentionDim().stream().allMatch(d -> d == 768)) {
            throw new IllegalArgumentException("pipeline-sd15 with --unet-config needs"
                    + " in_channels 4 and cross_attention_dim 768 (SD 1.5's VAE and text"
                    + " encoder); got " + cfg.inChannels() + " and " + cfg.crossAttentionDim());
        }
        Path dir = o.work().resolve(String.format(Locale.ROOT, "pipeline-random-%08x",
                o.unetConfig().hashCode()));
        return RandomModels.latent(dir, o.tokenizer(), cfg,
                AutoencoderKLConfig.fromJson(Sd15Configs.VAE), ClipTextConfig.sd15(),
                "pipeline-random-weights");
    }

    private void pipelineSd15() throws Exception {
        Path sd = pipelineFolder();
        if (sd == null) {
            add("pipeline-sd15", "SD 1.5-shaped text-to-image", Double.NaN, "s/image",
                    "skipped: give --tokenizer (CLIP vocab.json + merges.txt)");
            return;
        }
        int size = o.latentSize() * 8;
        PipelineOptions options = PipelineOptions.defaults().withDevice(o.device())
                .withHalf(o.half());
        try (DiffusionPipeline p = DiffusionPipeline.load(sd, options)) {
            for (int i = 0; i < o.warmup(); i++) {
                p.generate(request(size, 2, "ddim", 7.5, null));
            }
            Timing.Stats s = Timing.time(0, o.repeat(),
                    () -> p.generate(request(size, o.steps(), "ddim", 7.5, null)));
            String where = String.format(Locale.ROOT, "%d², %s, %s weights", size, o.device(),
                    o.half() ? "float16" : "float32");
            add("pipeline-sd15", o.steps() + " steps ddim, guidance 7.5, text to image",
                    s.median(), "s/image", where + "; " + s.spread());
            add("pipeline-sd15", "steps per second (whole image time / steps)",
                    o.steps() / s.median(), "it/s", "text encoding and VAE decode included");
        }
    }

    private void unetSdxl() throws Exception {
        UNet2DConditionConfig cfg = UNet2DConditionConfig.fromJson(SdxlConfigs.UNET);
        int size = cfg.sampleSize(); // 128: 1024² images
        int batch = 2; // one guided step
        int text = 77;
        long before = Forked.procStatus().getOrDefault("VmHWM", -1L);
        try (NDManager m = NDManager.newBaseManager()) {
            UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
            Engine.getInstance().setRandomSeed(0);
            long t0 = System.nanoTime();
            unet.initialize(m, DataType.FLOAT16);
            // As PipelineOptions.half on CPU: matrices stay float16 (widened per layer as they
            // are used), vectors (biases, norms) become float32.
            StateDict.widen(ParameterNames.of(unet), (name, a) -> a.getShape().dimension() >= 2,
                    m);
            double init = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "SDXL base UNet %s, %.0f M parameters, latents %d², text %d×%d,"
                    + " random init %.1f s%n", cfg.blockOutChannels(), parameters(unet) / 1e6,
                    size, text, cfg.crossAttentionDim().get(0), init);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray sample = m.randomNormal(new Shape(batch, cfg.inChannels(), size, size));
            NDArray t = m.full(new Shape(batch), 500f);
            NDArray ehs = m.randomNormal(new Shape(batch, text, cfg.crossAttentionDim().get(0)));
            int pooled = cfg.textTime().inputDim() - 6 * cfg.textTime().timeEmbedDim();
            NDArray textEmbeds = m.randomNormal(new Shape(batch, pooled));
            float px = size * 8f;
            NDArray timeIds = m.create(new float[] {px, px, 0, 0, px, px}, new Shape(1, 6))
                    .repeat(0, batch);
            double[] std = {0};
            Timing.Stats s = Timing.time(o.warmup(), o.repeat(), () -> {
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray y = unet.predict(ps, sample, t, ehs, null, textEmbeds, timeIds, null,
                            false);
                    std[0] = y.sub(y.mean()).pow(2).mean().sqrt().getFloat();
                }
            });
            FlopCounter.Totals f = FlopCounter.totals(
                    FlopCounter.unet(cfg, batch, size, size, text));
            double gflops = f.total() / s.median() / 1e9;
            add("unet-sdxl", "guided step at 1024² (UNet batch 2), float16 matrices", s.median(),
                    "s", s.spread() + String.format(Locale.ROOT, "; %s GFLOP → %s GFLOP/s, %s;"
                            + " output std %.3g", Timing.fmt(f.total() / 1e9),
                            Timing.fmt(gflops), ofPeak(gflops), std[0]));
        }
        long peak = Forked.procStatus().getOrDefault("VmHWM", -1L);
        add("unet-sdxl", "peak resident memory of the process", peak / 1024.0, "MiB",
                String.format(Locale.ROOT, "VmHWM; %.0f MiB before the section (run with --only"
                        + " unet-sdxl for this section alone)", before / 1024.0));
    }

    /** Case (c) on a warm pipeline: seconds per image, then images/s of concurrent callers. */
    private void turboCases(DiffusionPipeline p, GenerationRequest turbo, double baseline)
            throws Exception {
        Timing.Stats c = Timing.time(0, o.repeat(), () -> p.generate(turbo));
        add("end-to-end", "(c) 1 step euler_a trailing, no guidance, " + o.decoder(),
                c.median(), "s/image", String.format(Locale.ROOT,
                        "%.1f× faster than (a); %s", baseline / c.median(), c.spread()));
        for (int callers : new int[] {1, 2, 4}) {
            double rate = concurrent(p, turbo, callers, Math.max(1, o.repeat()));
            add("end-to-end", "(c) images/s, " + callers + " concurrent caller"
                    + (callers > 1 ? "s" : ""), rate, "images/s", o.repeat()
                    + " requests per caller on one warm pipeline");
        }
    }

    private static GenerationRequest request(int size, int steps, String sampler,
            double guidance, String spacing) {
        GenerationRequest.Builder b = GenerationRequest.builder("a photo of a red apple")
                .size(size, size).steps(steps).sampler(sampler).guidanceScale(guidance).seed(1);
        if (spacing != null) {
            b.spacing(spacing);
        }
        return b.build();
    }

    /** Images/s of {@code callers} threads each running {@code each} requests at once. */
    private static double concurrent(DiffusionPipeline p, GenerationRequest r, int callers,
            int each) throws Exception {
        java.util.concurrent.ExecutorService pool =
                java.util.concurrent.Executors.newFixedThreadPool(callers);
        try {
            List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int c = 0; c < callers; c++) {
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < each; i++) {
                        p.generate(r);
                    }
                    return null;
                }));
            }
            for (java.util.concurrent.Future<?> f : futures) {
                f.get();
            }
            return callers * each / ((System.nanoTime() - t0) / 1e9);
        } finally {
            pool.shutdownNow();
        }
    }

    private static String loadAverage() {
        try {
            String[] l = Files.readString(Path.of("/proc/loadavg"), StandardCharsets.UTF_8)
                    .split(" ");
            return l[0] + " " + l[1] + " " + l[2];
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static long parameters(Block block) {
        long n = 0;
        for (Parameter p : ParameterNames.of(block).values()) {
            n += p.getShape().size();
        }
        return n;
    }
}
