package dev.jdiffusion.djl.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a test class's {@code main} in a fresh JVM with this JVM's class path and the engine
 * settings of the test run, for measurements that the shared surefire JVM would blur (resident
 * memory with a fixed, pre-touched heap) and for scenarios that could crash a JVM.
 *
 * <p>The child's heap is fixed ({@code -Xms = -Xmx}) and touched at start ({@code
 * -XX:+AlwaysPreTouch}), so its resident memory no longer moves with the heap: what grows is
 * native memory (engine allocations, plus a little JIT code and metadata).
 */
public final class ChildJvm {

    /** System properties passed on to the child when set here. */
    private static final List<String> PASSED = List.of("ai.djl.offline",
            "DJL_CACHE_DIR", "ENGINE_CACHE_DIR", "org.slf4j.simpleLogger.defaultLogLevel");

    /**
     * What the child did.
     *
     * @param exitCode the exit status (134 or 139 for a crash)
     * @param output stdout and stderr together
     * @param workDir the child's working folder (a crash leaves its hs_err file here)
     */
    public record Result(int exitCode, String output, Path workDir) {

        /**
         * The lines that start with a prefix, without it.
         *
         * @param prefix the prefix
         * @return the matching lines
         */
        public List<String> lines(String prefix) {
            return output.lines().filter(l -> l.startsWith(prefix))
                    .map(l -> l.substring(prefix.length())).toList();
        }

        /**
         * The {@code key=value} pairs of a line.
         *
         * @param line the line
         * @return the pairs in order
         */
        public static Map<String, String> pairs(String line) {
            Map<String, String> m = new LinkedHashMap<>();
            for (String part : line.trim().split("\\s+")) {
                int eq = part.indexOf('=');
                if (eq > 0) {
                    m.put(part.substring(0, eq), part.substring(eq + 1));
                }
            }
            return m;
        }
    }

    private ChildJvm() {}

    /**
     * Runs {@code mainClass.main(args)} in a child JVM.
     *
     * @param mainClass the class whose main runs
     * @param heapMib the fixed, pre-touched heap size in MiB
     * @param timeoutSeconds how long to wait before killing the child
     * @param args the arguments
     * @return the result
     * @throws IOException if the child cannot be started
     * @throws InterruptedException if interrupted while waiting
     * @throws AssertionError if the child outlives the timeout
     */
    public static Result run(Class<?> mainClass, int heapMib, int timeoutSeconds, String... args)
            throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Path work = Files.createTempDirectory("jdiffusion-child-");
        List<String> cmd = new ArrayList<>();
        cmd.add(java);
        cmd.add("-Xms" + heapMib + "m");
        cmd.add("-Xmx" + heapMib + "m");
        cmd.add("-XX:+AlwaysPreTouch");
        cmd.add("-Xss4m");
        cmd.add("-XX:ErrorFile=" + work.resolve("hs_err_pid%p.log"));
        for (String key : PASSED) {
            String v = System.getProperty(key);
            if (v != null) {
                cmd.add("-D" + key + "=" + v);
            }
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(mainClass.getName());
        cmd.addAll(List.of(args));
        Path log = work.resolve("output.txt");
        Process p = new ProcessBuilder(cmd).directory(work.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            throw new AssertionError("child JVM " + mainClass.getSimpleName() + " ran over "
                    + timeoutSeconds + " s; output:\n" + Files.readString(log));
        }
        return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8), work);
    }
}
