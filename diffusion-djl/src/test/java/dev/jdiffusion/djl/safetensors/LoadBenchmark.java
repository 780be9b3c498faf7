package dev.jdiffusion.djl.safetensors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.testing.Fixtures;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Writes a full-size SD 1.5 UNet in fp16 (686 tensors with the shapes of keys.tsv, about 1.7 GB)
 * with {@link SafetensorsWriter}, then measures opening, reading every tensor to FLOAT32 and
 * FLOAT16 arrays, and a {@link StateDict} load, with peak resident memory. Not a unit test.
 *
 * <p>Run: see the report (java -cp over the module's test class path). Arguments: [folder for
 * the temporary file, default /tmp] [path of keys.tsv].
 */
public final class LoadBenchmark {

    private LoadBenchmark() {}

    /**
     * Runs the benchmark and prints the figures.
     *
     * @param args optional temp folder and keys.tsv path
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        Path tmpDir = Paths.get(args.length > 0 ? args[0] : "/tmp");
        Path tsv = args.length > 1 ? Paths.get(args[1]) : Fixtures.sd15Keys();
        Map<String, Shape> shapes = new LinkedHashMap<>();
        for (String line : Files.readAllLines(tsv).subList(1, 1131)) {
            String[] c = line.split("\t");
            if (c[0].equals("unet")) {
                String inner = c[2].substring(1, c[2].length() - 1);
                shapes.put(c[1], new Shape(Arrays.stream(inner.split(","))
                        .mapToLong(s -> Long.parseLong(s.trim())).toArray()));
            }
        }
        long elements = shapes.values().stream().mapToLong(Shape::size).sum();
        System.out.printf(Locale.ROOT, "UNet: %d tensors, %,d parameters%n", shapes.size(),
                elements);
        Path file = Files.createTempFile(tmpDir, "unet-bench-", ".safetensors");
        try {
            run(file, shapes, elements);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void run(Path file, Map<String, Shape> shapes, long elements)
            throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            m.getEngine().setRandomSeed(1);
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, Shape> e : shapes.entrySet()) {
                try (NDManager tmp = m.newSubManager()) {
                    NDArray a = tmp.randomNormal(0, 0.05f, e.getValue(), DataType.FLOAT32)
                            .toType(DataType.FLOAT16, false);
                    a.attach(m);
                    tensors.put(e.getKey(), a);
                }
            }
            long t0 = System.nanoTime();
            SafetensorsWriter.write(file, tensors, Map.of("format", "pt"));
            double write = seconds(t0);
            long size = Files.size(file);
            System.out.printf(Locale.ROOT, "write: %.2f s for %.3f GB (%.2f GB/s)%n", write,
                    size / 1e9, size / 1e9 / write);
            tensors.values().forEach(NDArray::close);
        }
        System.gc();
        boolean reset = resetPeak();
        System.out.printf(Locale.ROOT, "after write: %s (peak reset: %s)%n", memory(), reset);

        long t0 = System.nanoTime();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            double open = seconds(t0);
            System.out.printf(Locale.ROOT, "open+validate: %.1f ms, %d tensors%n", open * 1e3,
                    f.names().size());
            for (DataType type : List.of(DataType.FLOAT32, DataType.FLOAT16)) {
                for (int rep = 0; rep < 2; rep++) {
                    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                        List<NDArray> kept = new ArrayList<>();
                        long t = System.nanoTime();
                        for (String name : f.names()) {
                            kept.add(f.read(name, m, type, false));
                        }
                        double s = seconds(t);
                        System.out.printf(Locale.ROOT,
                                "read all -> %s (run %d): %.2f s, %.2f GB/s of file, "
                                        + "%.2f GB/s of arrays; %s%n", type, rep + 1, s,
                                Files.size(file) / 1e9 / s, elements * type.getNumOfBytes() / 1e9
                                        / s, memory());
                    }
                    System.gc();
                }
            }
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                Map<String, Parameter> params = new LinkedHashMap<>();
                for (Map.Entry<String, TensorInfo> e : f.tensors().entrySet()) {
                    params.put(e.getKey(), Parameter.builder().setName(e.getKey())
                            .setType(Parameter.Type.WEIGHT).optShape(e.getValue().shape())
                            .build());
                }
                long t = System.nanoTime();
                StateDict.load("unet", params, List.of(f), KeyMapping.identity(), m,
                        DataType.FLOAT32);
                double s = seconds(t);
                System.out.printf(Locale.ROOT, "StateDict.load FLOAT32 (NaN check included): "
                        + "%.2f s, %.2f GB/s of file; %s%n", s, Files.size(file) / 1e9 / s,
                        memory());
            }
        }
        System.out.printf(Locale.ROOT, "end: %s%n", memory());
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    /** Resets VmHWM (Linux: writing 5 to clear_refs), so the peak covers reading only. */
    private static boolean resetPeak() {
        try {
            Files.writeString(Paths.get("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    private static String memory() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
            for (String k : new String[] {"VmHWM", "VmRSS", "RssAnon", "RssFile"}) {
                if (line.startsWith(k + ":")) {
                    long kb = Long.parseLong(line.replaceAll("\\D", ""));
                    sb.append(k).append(' ').append(String.format(Locale.ROOT, "%.2f GB",
                            kb / 1e6)).append(", ");
                }
            }
        }
        return sb.substring(0, sb.length() - 2);
    }
}
