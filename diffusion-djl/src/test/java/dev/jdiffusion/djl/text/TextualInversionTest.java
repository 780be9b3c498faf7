package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Textual inversion on a small random CLIP text model with the real CLIP vocabulary: every file
 * layout, trigger binding, and the encoder's input where a trigger word stands.
 */
class TextualInversionTest {

    private static final ClipTextConfig SMALL =
            new ClipTextConfig(49408, 8, 16, 2, 2, 77, "quick_gelu", 1e-5f, OptionalInt.empty());
    private static final String TOKEN_EMBEDDING = "text_model.embeddings.token_embedding.weight";

    private static NDManager modelManager;
    private static ClipTextModel model;
    private static Map<String, float[]> weights;
    private static ClipConditioner conditioner;

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() throws IOException {
        modelManager = NDManager.newBaseManager("PyTorch");
        model = new ClipTextModel(SMALL);
        weights = ClipTextModelTest.randomWeights(model, modelManager, 21);
        conditioner = new ClipConditioner(ClipFixtures.clip(), model);
    }

    @AfterAll
    static void tearDown() {
        modelManager.close();
    }

    private static float[][] vectors(int n, int dim, long seed) {
        Random r = new Random(seed);
        float[][] v = new float[n][dim];
        for (float[] row : v) {
            for (int i = 0; i < dim; i++) {
                row[i] = (float) r.nextGaussian();
            }
        }
        return v;
    }

    private Path write(String name, Map<String, float[][]> tensors) throws IOException {
        Path file = dir.resolve(name);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, NDArray> arrays = new LinkedHashMap<>();
            for (Map.Entry<String, float[][]> e : tensors.entrySet()) {
                float[][] v = e.getValue();
                float[] flat = new float[v.length * v[0].length];
                for (int i = 0; i < v.length; i++) {
                    System.arraycopy(v[i], 0, flat, i * v[0].length, v[0].length);
                }
                arrays.put(e.getKey(), m.create(flat, new Shape(v.length, v[0].length)));
            }
            SafetensorsWriter.write(file, arrays, Map.of());
        }
        return file;
    }

    private static float[] encode(ClipConditioner c, String prompt) {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            return c.encode(m, List.of(prompt)).singletonOrThrow().toFloatArray();
        }
    }

    /**
     * The text model with some token-embedding rows replaced, run on ids: what the encoder must
     * compute when a trigger's tokens are replaced by the vectors.
     */
    private static float[] withRows(int[] ids, Map<Integer, float[]> rows) {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel copy = new ClipTextModel(SMALL);
            copy.initialize(m, ai.djl.ndarray.types.DataType.FLOAT32, new Shape(1, 1));
            for (Map.Entry<String, ai.djl.nn.Parameter> e : ParameterNames.of(copy).entrySet()) {
                float[] v = weights.get(e.getKey()).clone();
                if (e.getKey().equals(TOKEN_EMBEDDING)) {
                    for (Map.Entry<Integer, float[]> r : rows.entrySet()) {
                        System.arraycopy(r.getValue(), 0, v, r.getKey() * 8, 8);
                    }
                }
                e.getValue().getArray().set(v);
            }
            return copy.encode(new ParameterStore(m, false), m.create(ids, new Shape(1, 77)), 0)
                    .toFloatArray();
        }
    }

    /** The ids of a prompt with a trigger word's tokens replaced by placeholders 0..n−1. */
    private static int[] idsWithPlaceholders(String before, int n, String after)
            throws ModelLoadException {
        ClipTokenizer t = ClipFixtures.clip();
        List<Integer> ids = new ArrayList<>();
        ids.add(t.startTokenId());
        for (int id : t.textIds(before, 100)) {
            ids.add(id);
        }
        for (int k = 0; k < n; k++) {
            ids.add(k);
        }
        for (int id : t.textIds(after, 100)) {
            ids.add(id);
        }
        ids.add(t.endTokenId());
        int[] out = new int[77];
        java.util.Arrays.fill(out, t.padTokenId());
        for (int i = 0; i < ids.size(); i++) {
            out[i] = ids.get(i);
        }
        return out;
    }

    @Test
    void a1111EmbParamsAreBoundToTheFileNameAndReplaceTheTriggersTokens() throws Exception {
        float[][] v = vectors(3, 8, 1);
        TextualInversion e = TextualInversion.load(write("MyStyle.safetensors",
                Map.of("emb_params", v)));
        assertThat(e.triggers()).containsExactly("MyStyle");
        assertThat(e.vectorCount("MyStyle")).isEqualTo(3);
        ClipConditioner c = conditioner.withEmbeddings(List.of(e));
        assertThat(conditioner.embeddings()).isEmpty(); // the base is unchanged
        // "a mystyle cat": the trigger (matched by its tokens, any case) becomes 3 tokens whose
        // embeddings are exactly the file's vectors; every other token is as before.
        float[] actual = encode(c, "a mystyle cat");
        int[] ids = idsWithPlaceholders("a", 3, "cat");
        assertThat(actual).containsExactly(withRows(ids, Map.of(0, v[0], 1, v[1], 2, v[2])));
        // ... and against the plain-Java reference of the transformer.
        Map<String, float[]> w = new HashMap<>(weights);
        float[] table = weights.get(TOKEN_EMBEDDING).clone();
        for (int k = 0; k < 3; k++) {
            System.arraycopy(v[k], 0, table, k * 8, 8);
        }
        w.put(TOKEN_EMBEDDING, table);
        double[] expected = ClipTextModelTest.reference(SMALL, w, ids, 1, 77, 0);
        for (int i = 0; i < expected.length; i++) {
            assertThat((double) actual[i]).isCloseTo(expected[i], within(2e-4));
        }
        // Without the trigger word nothing changes.
        assertThat(encode(c, "a red cat")).containsExactly(encode(conditioner, "a red cat"));
    }

    @Test
    void stringToParamAndDiffusersLayoutsAndTriggerOverrides() throws Exception {
        float[][] v = vectors(1, 8, 2);
        TextualInversion a = TextualInversion.load(write("old-style.safetensors",
                Map.of("string_to_param.*", v)));
        assertThat(a.triggers()).containsExactly("old-style");
        // diffusers' learned_embeds: the key is the trigger; a 1-D vector is one token.
        Path learned = dir.resolve("learned_embeds.safetensors");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            SafetensorsWriter.write(learned, Map.of("<cat-toy>", m.create(v[0])), Map.of());
        }
        TextualInversion d = TextualInversion.load(learned);
        assertThat(d.triggers()).containsExactly("<cat-toy>");
        assertThat(d.vectorCount("<cat-toy>")).isEqualTo(1);
        TextualInversion renamed = TextualInversion.load(learned, "toycat");
        assertThat(renamed.triggers()).containsExactly("toycat");

        ClipConditioner c = conditioner.withEmbeddings(List.of(d));
        int[] ids = idsWithPlaceholders("a", 1, "on a table");
        assertThat(encode(c, "a <cat-toy> on a table"))
                .containsExactly(withRows(ids, Map.of(0, v[0])));
        // The trigger keeps its weight: "(<cat-toy>:1.2)" weights the placeholder token.
        float[] plain = encode(c, "a <cat-toy> on a table");
        float[] weighted = encode(c, "a (<cat-toy>:1.2) on a table");
        assertThat(weighted).isNotEqualTo(plain);
        // Two embeddings with one trigger word are refused.
        assertThatThrownBy(() -> conditioner.withEmbeddings(List.of(d, d)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("same trigger word");
    }

    @Test
    void sdxlPairsBindClipLToAnSd1StyleEncoder() throws Exception {
        float[][] l = vectors(2, 8, 3);
        float[][] g = vectors(2, 12, 4);
        TextualInversion x = TextualInversion.load(write("xl-thing.safetensors",
                Map.of("clip_l", l, "clip_g", g)));
        assertThat(x.sdxlPart("xl-thing", "clip_g")[1]).containsExactly(g[1]);
        ClipConditioner c = conditioner.withEmbeddings(List.of(x));
        int[] ids = idsWithPlaceholders("a", 2, "");
        assertThat(encode(c, "a xl-thing")).containsExactly(withRows(ids, Map.of(0, l[0], 1, l[1])));
        // clip_l of another width does not fit this 8-wide encoder.
        TextualInversion wide = TextualInversion.load(write("xl-wide.safetensors",
                Map.of("clip_l", vectors(2, 12, 5), "clip_g", g)));
        assertThatThrownBy(() -> conditioner.withEmbeddings(List.of(wide)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("SDXL pair").hasMessageContaining("hidden size is 8");
    }

    @Test
    void aDimensionMismatchIsRefused() throws Exception {
        TextualInversion sd2 = TextualInversion.load(write("sd2thing.safetensors",
                Map.of("emb_params", vectors(1, 16, 6))));
        assertThatThrownBy(() -> conditioner.withEmbeddings(List.of(sd2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("16 values wide")
                .hasMessageContaining("hidden size is 8");
        assertThatThrownBy(() -> conditioner.withEmbeddings(
                List.of(TextualInversion.of("huge", vectors(76, 8, 7)))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("76 vectors");
    }

    @Test
    void picklesAndUnknownLayoutsAreRefused() throws Exception {
        Path pt = dir.resolve("style.pt");
        Files.write(pt, new byte[] {'P', 'K', 3, 4});
        assertThatThrownBy(() -> TextualInversion.load(pt))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("pickle")
                .hasMessageContaining(".safetensors");
        Path disguised = dir.resolve("style.safetensors");
        Files.write(disguised, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0});
        assertThatThrownBy(() -> TextualInversion.load(disguised))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("pickle");
        Path other = dir.resolve("style.txt");
        Files.writeString(other, "hello");
        assertThatThrownBy(() -> TextualInversion.load(other))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining(".safetensors");
        Path mixed = write("mixed.safetensors", Map.of("emb_params", vectors(1, 8, 8),
                "extra", vectors(1, 8, 9)));
        assertThatThrownBy(() -> TextualInversion.load(mixed))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("one tensor");
        Path two = write("two.safetensors", Map.of("<a>", vectors(1, 8, 8),
                "<b>", vectors(1, 8, 9)));
        assertThat(TextualInversion.load(two).triggers()).containsExactlyInAnyOrder("<a>", "<b>");
        assertThatThrownBy(() -> TextualInversion.load(two, "x"))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("one only");
        float[][] nan = vectors(1, 8, 10);
        nan[0][3] = Float.NaN;
        Path bad = write("bad.safetensors", Map.of("emb_params", nan));
        assertThatThrownBy(() -> TextualInversion.load(bad))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("non-finite");
    }

    @Test
    void aTriggerNeverStraddlesTwoChunks() throws Exception {
        float[][] v = vectors(3, 8, 11);
        ClipConditioner c = conditioner.withEmbeddings(List.of(TextualInversion.of("zzstyle", v)));
        // 73 cats then the 3-vector trigger: only 2 places are left, so it opens chunk two.
        float[] z = encode(c, "cat ".repeat(73) + "zzstyle");
        assertThat(z).hasSize(2 * 77 * 8);
        assertThat(java.util.Arrays.copyOfRange(z, 0, 77 * 8))
                .containsExactly(encode(conditioner, "cat ".repeat(73)));
        int[] ids = idsWithPlaceholders("", 3, "");
        assertThat(java.util.Arrays.copyOfRange(z, 77 * 8, 2 * 77 * 8))
                .containsExactly(withRows(ids, Map.of(0, v[0], 1, v[1], 2, v[2])));
    }
}
