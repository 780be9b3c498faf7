package dev.jdiffusion.djl.text;

import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.weights.PickleGuard;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A textual-inversion embedding: learned token vectors bound to trigger words. Where a trigger
 * word appears in a prompt, its tokens are replaced by the vectors (one token per vector) before
 * the text encoder's transformer runs, as AUTOMATIC1111 and diffusers do.
 *
 * <p>Formats, all {@code .safetensors} (pickle files, {@code .pt} and {@code .bin}, are refused:
 * loading them can run code):
 *
 * <ul>
 *   <li>AUTOMATIC1111: one tensor {@code emb_params} or {@code string_to_param.*}, (n, dim) or
 *       (dim); the trigger word is the file name without {@code .safetensors};
 *   <li>diffusers' {@code learned_embeds.safetensors}: {@code {token: vector(s)}}; each key is
 *       a trigger word;
 *   <li>SDXL pairs {@code clip_l} (n, 768) and {@code clip_g} (n, 1280), trigger word from the
 *       file name; an encoder of SD 1.x's kind takes the {@code clip_l} vectors.
 * </ul>
 *
 * <p>A trigger word is matched in the prompt by its tokens, as AUTOMATIC1111 matches it: case
 * and spacing do not matter ({@code EasyNegative} also matches {@code easy negative}), and a
 * longer trigger wins over a shorter one with the same first tokens. Immutable and
 * thread-safe.
 */
public final class TextualInversion {

    /** The most values one embedding file may hold (75 vectors of 4,096 is far below). */
    static final long MAX_VALUES = 1 << 20;

    private static final String GENERIC = "";
    private static final String CLIP_L = "clip_l";
    private static final String CLIP_G = "clip_g";
    private static final String SUFFIX = ".safetensors";

    private final String source;
    private final Map<String, Map<String, float[][]>> vectors; // trigger → part → (n, dim)

    private TextualInversion(String source, Map<String, Map<String, float[][]>> vectors) {
        this.source = source;
        this.vectors = vectors;
    }

    /**
     * Loads an embedding file, its trigger words as the format says.
     *
     * @param file a {@code .safetensors} file
     * @return the embedding
     * @throws ModelLoadException if the file is missing, a pickle, corrupt, or not an
     *     embedding of a known layout
     */
    public static TextualInversion load(Path file) throws ModelLoadException {
        return load(file, null);
    }

    /**
     * Loads an embedding file with a trigger word of the caller's choice.
     *
     * @param file a {@code .safetensors} file holding one embedding
     * @param trigger the trigger word, or {@code null} for the format's own
     * @return the embedding
     * @throws ModelLoadException if the file is missing, a pickle, corrupt, not an embedding of
     *     a known layout, or holds several embeddings while a trigger is given
     */
    public static TextualInversion load(Path file, String trigger) throws ModelLoadException {
        PickleGuard.refusePickle(file);
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        if (!name.toLowerCase(Locale.ROOT).endsWith(SUFFIX)) {
            throw new ModelLoadException(file + ": textual-inversion embeddings are read from"
                    + " .safetensors files (AUTOMATIC1111's emb_params / string_to_param,"
                    + " diffusers' learned_embeds.safetensors)");
        }
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException("embedding file not found (or not a regular file): "
                    + file);
        }
        String stem = name.substring(0, name.length() - SUFFIX.length());
        Map<String, Map<String, float[][]>> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            Set<String> keys = f.names();
            List<String> a1111 = new ArrayList<>();
            for (String k : keys) {
                if (k.equals("emb_params") || k.startsWith("string_to_param.")) {
                    a1111.add(k);
                }
            }
            if (keys.isEmpty()) {
                throw new ModelLoadException(file + ": the file holds no tensors");
            }
            if (keys.equals(Set.of(CLIP_L, CLIP_G))) {
                float[][] l = read(f, CLIP_L);
                float[][] g = read(f, CLIP_G);
                if (l.length != g.length) {
                    throw new ModelLoadException(file + ": clip_l has " + l.length
                            + " vectors but clip_g " + g.length + "; they must be pairs");
                }
                out.put(stem, Map.of(CLIP_L, l, CLIP_G, g));
            } else if (!a1111.isEmpty()) {
                if (a1111.size() != 1 || keys.size() != 1) {
                    throw new ModelLoadException(file + ": an AUTOMATIC1111 embedding holds one"
                            + " tensor (emb_params or string_to_param.*), this file holds "
                            + keys.size() + ": " + excerpt(keys));
                }
                out.put(stem, Map.of(GENERIC, read(f, a1111.get(0))));
            } else {
                for (String k : keys) { // diffusers: {token: vectors}
                    out.put(k, Map.of(GENERIC, read(f, k)));
                }
            }
        }
        if (trigger != null) {
            if (out.size() != 1) {
                throw new ModelLoadException(file + ": holds " + out.size() + " embeddings ("
                        + excerpt(out.keySet()) + "); a trigger word can be given for one only");
            }
            Map<String, float[][]> only = out.values().iterator().next();
            out = Map.of(trigger, only);
        }
        for (String t : out.keySet()) {
            if (t.isBlank()) {
                throw new ModelLoadException(file + ": the trigger word is empty; give one");
            }
        }
        return new TextualInversion(file.toString(), Map.copyOf(out));
    }

    /**
     * An embedding from vectors in memory.
     *
     * @param trigger the trigger word
     * @param vectors (n, dim), n ≥ 1; copied
     * @return the embedding
     * @throws IllegalArgumentException if the vectors are empty, ragged or not finite
     */
    public static TextualInversion of(String trigger, float[][] vectors) {
        if (trigger == null || trigger.isBlank()) {
            throw new IllegalArgumentException("the trigger word must not be empty");
        }
        if (vectors.length == 0 || vectors[0].length == 0) {
            throw new IllegalArgumentException("an embedding needs at least one vector");
        }
        float[][] copy = new float[vectors.length][];
        for (int i = 0; i < vectors.length; i++) {
            if (vectors[i].length != vectors[0].length) {
                throw new IllegalArgumentException("vector " + i + " has " + vectors[i].length
                        + " values, vector 0 has " + vectors[0].length);
            }
            for (float v : vectors[i]) {
                if (!Float.isFinite(v)) {
                    throw new IllegalArgumentException("vector " + i + " holds " + v);
                }
            }
            copy[i] = vectors[i].clone();
        }
        return new TextualInversion("'" + trigger + "'", Map.of(trigger, Map.of(GENERIC, copy)));
    }

    private static float[][] read(SafetensorsFile f, String key) throws ModelLoadException {
        TensorInfo info = f.info(key);
        long[] dims = info.dims();
        if (dims.length < 1 || dims.length > 2) {
            throw new ModelLoadException(f.path() + ": tensor '" + key + "' has shape "
                    + java.util.Arrays.toString(dims) + "; an embedding is (vectors, dim) or"
                    + " (dim)");
        }
        long n = dims.length == 1 ? 1 : dims[0];
        long dim = dims[dims.length - 1];
        if (n < 1 || dim < 1 || n * dim > MAX_VALUES) {
            throw new ModelLoadException(f.path() + ": tensor '" + key + "' has shape "
                    + java.util.Arrays.toString(dims) + "; expected 1 to a few vectors of the"
                    + " text encoder's width");
        }
        float[] flat = f.readFloats(key);
        float[][] out = new float[(int) n][(int) dim];
        for (int i = 0; i < n; i++) {
            System.arraycopy(flat, (int) (i * dim), out[i], 0, (int) dim);
            for (float v : out[i]) {
                if (!Float.isFinite(v)) {
                    throw new ModelLoadException(f.path() + ": tensor '" + key
                            + "' holds a non-finite value (" + v + "); the file is corrupt");
                }
            }
        }
        return out;
    }

    private static String excerpt(Set<String> keys) {
        List<String> first = new ArrayList<>(keys).subList(0, Math.min(5, keys.size()));
        return String.join(", ", first) + (keys.size() > 5 ? ", ..." : "");
    }

    /**
     * The trigger words.
     *
     * @return the words, in the file's order
     */
    public List<String> triggers() {
        return List.copyOf(vectors.keySet());
    }

    /**
     * Where the embedding came from.
     *
     * @return the file, or the trigger word of an in-memory embedding
     */
    public String source() {
        return source;
    }

    /**
     * The number of tokens a trigger word becomes.
     *
     * @param trigger one of {@link #triggers()}
     * @return its vector count
     * @throws IllegalArgumentException if the word is not a trigger of this embedding
     */
    public int vectorCount(String trigger) {
        return parts(trigger).values().iterator().next().length;
    }

    private Map<String, float[][]> parts(String trigger) {
        Map<String, float[][]> p = vectors.get(trigger);
        if (p == null) {
            throw new IllegalArgumentException(source + " has no trigger word '" + trigger
                    + "' (it has " + triggers() + ")");
        }
        return p;
    }

    /**
     * The vectors of a trigger word for a text encoder of a given width: the generic vectors,
     * or an SDXL pair's {@code clip_l} part.
     *
     * @throws IllegalArgumentException if the width does not fit
     */
    float[][] vectorsFor(String trigger, int hiddenSize) {
        Map<String, float[][]> p = parts(trigger);
        float[][] v = p.containsKey(GENERIC) ? p.get(GENERIC) : p.get(CLIP_L);
        if (v[0].length == hiddenSize) {
            return v;
        }
        String what = p.containsKey(GENERIC) ? v[0].length + " values wide"
                : "an SDXL pair (clip_l " + v[0].length + " wide, clip_g "
                        + p.get(CLIP_G)[0].length + " wide)";
        throw new IllegalArgumentException(source + ": the embedding '" + trigger + "' is "
                + what + " but this text encoder's hidden size is " + hiddenSize
                + ": it was trained for another kind of model (SD 1.x: 768, SD 2.x: 1024,"
                + " SDXL: 768 + 1280)");
    }

    /**
     * The vectors of one part of an SDXL pair.
     *
     * @param trigger a trigger word
     * @param part {@code "clip_l"} or {@code "clip_g"}
     * @return the vectors, or {@code null} if the embedding is not an SDXL pair
     */
    float[][] sdxlPart(String trigger, String part) {
        return parts(trigger).get(part);
    }

    @Override
    public String toString() {
        return "TextualInversion[" + source + ", triggers=" + triggers() + "]";
    }
}
