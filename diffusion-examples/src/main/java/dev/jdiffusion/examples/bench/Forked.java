package dev.jdiffusion.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Measurements that need a fresh JVM, run as child processes of the benchmark: cold engine
 * start (JVM start to the first engine result) and the peak resident memory of one
 * text-to-image run ({@code VmHWM} of {@code /proc/self/status}). The child prints one line
 * {@code BENCH key=value ...} that {@link #run} parses.
 */
public final class Forked {

    private static final String PREFIX = "BENCH ";

    /** System property: PyTorch intra-op threads of the child (0 or absent = default). */
    static final String THREADS = "jdiffusion.bench.threads";

    private Forked() {}

    /**
     * Child entry point.
     *
     * @param args {@code cold}, or {@code peak MODEL_DIR SIZE STEPS GUIDANCE [half]}
     * @throws Exception on any failure (the parent reports the exit status)
     */
    public static void main(String[] args) throws Exception {
        System.setProperty("ai.djl.offline", "true");
        int threads = Integer.getInteger(THREADS, 0);
        if (threads > 0) {
            ai.djl.engine.Engine.getInstance();
            ai.djl.pytorch.jni.JniUtils.setNumThreads(threads);
        }
        if (args.length == 1 && args[0].equals("cold")) {
            cold();
        } else if ((args.length == 5 || args.length == 6) && args[0].equals("peak")) {
            peak(Path.of(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Double.parseDouble(args[4]), args.length == 6 && args[5].equals("half"));
        } else {
            throw new IllegalArgumentException(
                    "usage: cold | peak MODEL SIZE STEPS GUIDANCE [half]");
        }
    }

    private static void cold() {
        long jvmStart = ManagementFactory.getRuntimeMXBean().getStartTime();
        long t0 = System.nanoTime();
        float v;
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray a = m.ones(new ai.djl.ndarray.types.Shape(2, 2));
            v = a.add(1).getFloat(0, 0);
        }
        long engineNs = System.nanoTime() - t0;
        long sinceJvmStart = System.currentTimeMillis() - jvmStart;
        System.out.printf(Locale.ROOT, "%sfirst_op_ms=%d engine_ms=%.1f value=%.1f%n", PREFIX,
                sinceJvmStart, engineNs / 1e6, v);
    }

    private static void peak(Path model, int size, int steps, double guidance, boolean half)
            throws Exception {
        long t0 = System.nanoTime();
        try (DiffusionPipeline p = DiffusionPipeline.load(model,
                PipelineOptions.defaults().withHalf(half))) {
            long t1 = System.nanoTime();
            int s = size > 0 ? size : p.defaultSize();
            GenerationRequest r = GenerationRequest.builder("a photo of a cat")
                    .steps(steps).guidanceScale(guidance).seed(1).size(s, s).build();
            GenerationResult result = p.generate(r);
            long t2 = System.nanoTime();
            Map<String, Long> status = procStatus();
            System.out.printf(Locale.ROOT, "%svmhwm_kb=%d vmrss_kb=%d load_s=%.3f generate_s=%.3f"
                    + " images=%d size=%d%n", PREFIX, status.getOrDefault("VmHWM", -1L),
                    status.getOrDefault("VmRSS", -1L), (t1 - t0) / 1e9, (t2 - t1) / 1e9,
                    result.images().size(), s);
        }
    }

    /** VmHWM, VmRSS and friends of this process in kB (empty off Linux). */
    static Map<String, Long> procStatus() throws IOException {
        Map<String, Long> out = new HashMap<>();
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) {
            return out;
        }
        for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
            String[] kv = line.split(":\\s+", 2);
            if (kv.length == 2 && kv[0].startsWith("Vm") && kv[1].endsWith(" kB")) {
                out.put(kv[0], Long.parseLong(kv[1].substring(0, kv[1].length() - 3).trim()));
            }
        }
        return out;
    }

    /**
     * The result of a child run.
     *
     * @param values the {@code key=value} pairs of its BENCH line
     * @param wallSeconds process start to exit, as seen by the parent
     */
    record Child(Map<String, String> values, double wallSeconds) {}

    /**
     * Runs {@code Forked.main(args)} in a fresh JVM with this JVM's class path.
     *
     * @param threads PyTorch intra-op threads of the child, 0 for the engine default
     * @param args the child's arguments
     * @return its BENCH values and wall time
     * @throws IOException if the child fails or prints no BENCH line
     */
    static Child run(int threads, String... args) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        for (String key : System.getProperties().stringPropertyNames()) {
            if (key.startsWith("ai.djl") || key.startsWith("DJL_") || key.startsWith("ENGINE_")
                    || key.startsWith("org.slf4j")) {
                cmd.add("-D" + key + "=" + System.getProperty(key));
            }
        }
        cmd.add("-Dai.djl.offline=true");
        cmd.add("-D" + THREADS + "=" + threads);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Forked.class.getName());
        cmd.addAll(List.of(args));
        long start = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Map<String, String> values = null;
        StringBuilder log = new StringBuilder();
        try (BufferedReader r = new BufferedReader(
                new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (line.startsWith(PREFIX)) {
                    values = new HashMap<>();
                    for (String kv : line.substring(PREFIX.length()).trim().split("\\s+")) {
                        int eq = kv.indexOf('=');
                        values.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                } else if (log.length() < 4000) {
                    log.append(line).append('\n');
                }
            }
        }
        int code = p.waitFor();
        double wall = (System.nanoTime() - start) / 1e9;
        if (code != 0 || values == null) {
            throw new IOException("benchmark child " + String.join(" ", args) + " failed (exit "
                    + code + "):\n" + log);
        }
        return new Child(values, wall);
    }
}
