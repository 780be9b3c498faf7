package dev.jdiffusion.djl.lora;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * Writes LoRA files with random low-rank pairs for tests, and computes the expected merged
 * weight {@code W + s · up · down} in plain Java float/double loops (independent of the engine
 * and of {@link LoraMerge}).
 */
public final class LoraFixtures {

    /** One pair as written, in row-major float arrays. */
    public record Pair(long[] downShape, float[] down, long[] upShape, float[] up, Float alpha) {

        /** The rank: rows of down. */
        public int rank() {
            return (int) downShape[0];
        }
    }

    private final Map<String, NDArray> tensors = new LinkedHashMap<>();
    private final NDManager manager;
    private final Random random;

    /**
     * Starts a file.
     *
     * @param manager owns the arrays written
     * @param seed the random seed of the values
     */
    public LoraFixtures(NDManager manager, long seed) {
        this.manager = manager;
        this.random = new Random(seed);
    }

    /**
     * Adds a pair for a weight of the given shape: down (rank, in[, kh, kw]), up (out, rank[,
     * 1, 1]).
     *
     * @param downKey the down tensor's name
     * @param upKey the up tensor's name
     * @param alphaKey the alpha tensor's name, or null for none
     * @param alpha alpha's value
     * @param weightShape the target weight's shape
     * @param rank the rank
     * @return the pair
     */
    public Pair add(String downKey, String upKey, String alphaKey, float alpha,
            long[] weightShape, int rank) {
        long out = weightShape[0];
        long[] downShape = weightShape.clone();
        downShape[0] = rank;
        long[] upShape = weightShape.length == 4 ? new long[] {out, rank, 1, 1}
                : new long[] {out, rank};
        float[] down = gaussian((int) new Shape(downShape).size());
        float[] up = gaussian((int) new Shape(upShape).size());
        tensors.put(downKey, manager.create(down, new Shape(downShape)));
        tensors.put(upKey, manager.create(up, new Shape(upShape)));
        if (alphaKey != null) {
            tensors.put(alphaKey, manager.create(alpha));
        }
        return new Pair(downShape, down, upShape, up, alphaKey == null ? null : alpha);
    }

    /**
     * Adds a raw tensor (for malformed files).
     *
     * @param name the name
     * @param shape the shape
     */
    public void raw(String name, long... shape) {
        tensors.put(name, manager.create(gaussian((int) new Shape(shape).size()),
                new Shape(shape)));
    }

    /**
     * Writes the file.
     *
     * @param file the target
     * @return the file
     * @throws IOException if writing fails
     */
    public Path write(Path file) throws IOException {
        SafetensorsWriter.write(file, tensors, Map.of("ss_network_dim", "4"));
        return file;
    }

    private float[] gaussian(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextGaussian() * 0.2);
        }
        return v;
    }

    /**
     * The merged weight {@code W + Σ weight·alpha/rank · up·down}, in double precision.
     *
     * @param w the base weight (row-major)
     * @param pairs the pairs with their user weights, alternating Pair, Double
     * @return the expected merged weight
     */
    public static float[] merged(float[] w, Object... pairs) {
        double[] acc = new double[w.length];
        for (int i = 0; i < w.length; i++) {
            acc[i] = w[i];
        }
        for (int t = 0; t < pairs.length; t += 2) {
            Pair p = (Pair) pairs[t];
            double userWeight = (Double) pairs[t + 1];
            int r = p.rank();
            int out = (int) p.upShape()[0];
            int cols = p.down().length / r;
            if (out * cols != w.length) {
                throw new IllegalArgumentException("pair does not fit the weight");
            }
            double alpha = p.alpha() == null ? r : p.alpha();
            double s = userWeight * alpha / r;
            for (int o = 0; o < out; o++) {
                for (int c = 0; c < cols; c++) {
                    double dot = 0;
                    for (int k = 0; k < r; k++) {
                        dot += (double) p.up()[o * r + k] * p.down()[k * cols + c];
                    }
                    acc[o * cols + c] += s * dot;
                }
            }
        }
        float[] outArr = new float[w.length];
        for (int i = 0; i < w.length; i++) {
            outArr[i] = (float) acc[i];
        }
        return outArr;
    }

    /**
     * The largest absolute difference.
     *
     * @param a one array
     * @param b the other, same length
     * @return max |a − b|
     */
    public static double maxDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            return Double.POSITIVE_INFINITY;
        }
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    /**
     * Writes a copy of a weights file with some tensors replaced by {@code W + s·up·down}
     * (float32, merged in plain Java by {@link #merged}); integer tensors are left out.
     *
     * @param m the manager for the arrays written
     * @param in the weights file
     * @param merge tensor name → pairs with their user weights, as {@link #merged} takes them
     * @param out the file to replace
     * @throws IOException if reading or writing fails
     */
    public static void rewrite(NDManager m, SafetensorsFile in, Map<String, Object[]> merge,
            Path out) throws IOException {
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (TensorInfo info : in.tensors().values()) {
            if (!info.dtype().isReadableAsFloat()) {
                continue; // integer buffers (CLIP's position_ids), which loading skips
            }
            float[] w = in.readFloats(info.name());
            Object[] pair = merge.get(info.name());
            if (pair != null) {
                w = merged(w, pair);
            }
            arrays.put(info.name(), m.create(w, new Shape(info.dims())));
        }
        java.nio.file.Files.delete(out);
        SafetensorsWriter.write(out, arrays, Map.of());
    }

    /**
     * Copies a folder tree.
     *
     * @param from the source folder
     * @param to the target folder (created)
     * @throws IOException if copying fails
     */
    public static void copyTree(Path from, Path to) throws IOException {
        try (java.util.stream.Stream<Path> walk = java.nio.file.Files.walk(from)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                Path target = to.resolve(from.relativize(p).toString());
                if (java.nio.file.Files.isDirectory(p)) {
                    java.nio.file.Files.createDirectories(target);
                } else {
                    java.nio.file.Files.copy(p, target);
                }
            }
        }
    }
}
