package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class ClipConditionerTest {

    /** Real CLIP vocabulary and length, tiny width. */
    private static final ClipTextConfig SMALL =
            new ClipTextConfig(49408, 8, 16, 2, 2, 77, "quick_gelu", 1e-5f, OptionalInt.empty());

    private static NDManager modelManager;
    private static ClipTextModel model;
    private static Map<String, float[]> weights;
    private static ClipConditioner conditioner;

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

    @Test
    void encodesPromptsLikeTheReferenceModel() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray e = conditioner.encode(m, List.of("a photo of a cat", "")).singletonOrThrow();
            assertThat(e.getShape()).isEqualTo(new Shape(2, 77, 8));
            assertThat(e.getManager()).isSameAs(m);
            int[] ids = ClipFixtures.clip().encode("a photo of a cat").ids();
            double[] expected = ClipTextModelTest.reference(SMALL, weights, ids, 1, 77, 0);
            float[] actual = Arrays.copyOf(e.toFloatArray(), 77 * 8);
            for (int i = 0; i < expected.length; i++) {
                assertThat((double) actual[i]).isCloseTo(expected[i], within(2e-4));
            }
        }
    }

    @Test
    void clipSkipUsesAnEarlierLayer() throws IOException {
        ClipConditioner skip = new ClipConditioner(ClipFixtures.clip(), model, 1);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] actual = skip.encode(m, List.of("red apple")).singletonOrThrow()
                    .toFloatArray();
            int[] ids = ClipFixtures.clip().encode("red apple").ids();
            double[] expected = ClipTextModelTest.reference(SMALL, weights, ids, 1, 77, 1);
            for (int i = 0; i < expected.length; i++) {
                assertThat((double) actual[i]).isCloseTo(expected[i], within(2e-4));
            }
        }
        assertThatThrownBy(() -> new ClipConditioner(ClipFixtures.clip(), model, 2))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clipSkip")
                .hasMessageContaining("(the text encoder has 2 layers)");
    }

    @Test
    void unconditionalIsTheEmptyPrompt() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] u = conditioner.unconditional(m, 2).singletonOrThrow().toFloatArray();
            float[] e = conditioner.encode(m, List.of("")).singletonOrThrow().toFloatArray();
            // A batch of two and a batch of one may differ in the last bit (the engine's
            // kernels block them differently).
            for (int i = 0; i < u.length; i++) {
                assertThat(u[i]).isCloseTo(e[i % e.length], within(1e-5f));
            }
        }
    }

    /** The encoding of one prompt, as floats (1, 77k, 8). */
    private static float[] enc(ClipConditioner c, String prompt) {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            return c.encode(m, List.of(prompt)).singletonOrThrow().toFloatArray();
        }
    }

    private static float[] chunk(float[] z, int k) {
        return Arrays.copyOfRange(z, k * 77 * 8, (k + 1) * 77 * 8);
    }

    private static float[] concat(float[]... parts) {
        int n = 0;
        for (float[] p : parts) {
            n += p.length;
        }
        float[] out = new float[n];
        int at = 0;
        for (float[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    @Test
    void aShortPromptWithoutWeightsIsExactlyOneSequenceAsBefore() throws IOException {
        for (String prompt : List.of("a photo of a cat", "", "cat ".repeat(75))) {
            int[] ids = ClipFixtures.clip().encode(prompt).ids();
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                float[] direct = model.encode(new ai.djl.training.ParameterStore(m, false),
                        m.create(ids, new Shape(1, 77)), 0).toFloatArray();
                assertThat(enc(conditioner, prompt)).as(prompt).containsExactly(direct);
            }
        }
    }

    @Test
    void longPromptsAreEncodedInChunksNotTruncated() {
        float[] z = enc(conditioner, "cat ".repeat(75) + "dog green tower");
        assertThat(z).hasSize(2 * 77 * 8);
        assertThat(chunk(z, 0)).containsExactly(enc(conditioner, "cat ".repeat(75)));
        assertThat(chunk(z, 1)).containsExactly(enc(conditioner, "dog green tower"));
    }

    @Test
    void aFullChunkEndsAtACommaWithinItsLast20Tokens() {
        // 70 cats, a comma, 10 dogs: the chunk is full after 4 dogs, the comma 5 tokens back,
        // so the dogs move on to the second chunk.
        float[] z = enc(conditioner, "cat ".repeat(70) + ", " + "dog ".repeat(10));
        assertThat(z).hasSize(2 * 77 * 8);
        assertThat(chunk(z, 0)).containsExactly(enc(conditioner, "cat ".repeat(70) + ","));
        assertThat(chunk(z, 1)).containsExactly(enc(conditioner, "dog ".repeat(10)));
        // 50 cats, a comma, 30 dogs: the comma is 25 tokens back, so the chunk is cut at 75.
        float[] far = enc(conditioner, "cat ".repeat(50) + ", " + "dog ".repeat(30));
        assertThat(chunk(far, 0)).containsExactly(
                enc(conditioner, "cat ".repeat(50) + ", " + "dog ".repeat(24)));
        assertThat(chunk(far, 1)).containsExactly(enc(conditioner, "dog ".repeat(6)));
    }

    @Test
    void breakStartsANewChunk() {
        float[] z = enc(conditioner, "a cat BREAK red apple");
        assertThat(z).containsExactly(concat(enc(conditioner, "a cat"),
                enc(conditioner, "red apple")));
        // As in AUTOMATIC1111, a BREAK ends a chunk, and an empty last chunk is not added.
        assertThat(enc(conditioner, "BREAK")).containsExactly(enc(conditioner, ""));
        assertThat(enc(conditioner, "a BREAK BREAK b")).containsExactly(concat(
                enc(conditioner, "a"), enc(conditioner, ""), enc(conditioner, "b")));
    }

    @Test
    void plainSyntaxReadsBracketsAndBreakAsText() throws IOException {
        ClipConditioner plain = conditioner.withSyntax(PromptSyntax.PLAIN);
        assertThat(plain.syntax()).isEqualTo(PromptSyntax.PLAIN);
        assertThat(conditioner.syntax()).isEqualTo(PromptSyntax.A1111);
        String prompt = "grinning (smileys & emotion, face smiling) BREAK [x";
        int[] ids = ClipFixtures.clip().encode(prompt).ids();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] direct = model.encode(new ai.djl.training.ParameterStore(m, false),
                    m.create(ids, new Shape(1, 77)), 0).toFloatArray();
            assertThat(enc(plain, prompt)).containsExactly(direct);
        }
        assertThatThrownBy(() -> enc(conditioner, prompt))
                .isInstanceOf(PromptParseException.class).hasMessageContaining("position 49");
    }

    @Test
    void aWeightScalesItsTokenAndTheMeanIsRestored() {
        float[] plain = enc(conditioner, "a cat face");
        for (String weighted : List.of("a (cat:1.5) face", "a (((cat))) face", "a [cat] face",
                "a (cat:-0.5) face")) {
            double w = PromptParser.parse(weighted).get(1).weight();
            float wf = (float) w;
            // The ratio from the unweighted states: mean(z) / mean(z · w), w at position 2.
            double sum = 0;
            double sumWeighted = 0;
            for (int i = 0; i < plain.length; i++) {
                sum += plain[i];
                sumWeighted += (i / 8 == 2 ? wf : 1f) * plain[i];
            }
            double ratio = sum / sumWeighted;
            float[] z = enc(conditioner, weighted);
            assertThat(z).hasSize(plain.length);
            for (int i = 0; i < z.length; i++) {
                double expected = plain[i] * (i / 8 == 2 ? wf : 1.0) * ratio;
                assertThat((double) z[i]).as(weighted + " value " + i)
                        .isCloseTo(expected, within(1e-6 * Math.max(1, Math.abs(expected))));
            }
            assertThat(ratio).as(weighted).isNotCloseTo(1.0, within(1e-4));
        }
    }

    @Test
    void promptsOfDifferentLengthsArePaddedWithEmptyChunks() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] both = conditioner.encode(m, List.of("cat ".repeat(80), "dog"))
                    .singletonOrThrow().toFloatArray();
            assertThat(both).hasSize(2 * 2 * 77 * 8);
            float[] second = Arrays.copyOfRange(both, 2 * 77 * 8, 4 * 77 * 8);
            // (a batch of two and a batch of one may differ in the last bit: the engine's
            // kernels block batches differently)
            float[] expected = concat(enc(conditioner, "dog"), enc(conditioner, ""));
            for (int i = 0; i < expected.length; i++) {
                assertThat(second[i]).isCloseTo(expected[i], within(1e-5f));
            }
        }
    }

    @Test
    void aHugePromptIsRefusedQuicklyWithAClearMessage() {
        StringBuilder sb = new StringBuilder();
        java.util.Random rnd = new java.util.Random(5);
        while (sb.length() < 256 * 1024) { // 256 KiB of distinct made-up words
            for (int k = 3 + rnd.nextInt(8); k > 0; k--) {
                sb.append((char) ('a' + rnd.nextInt(26)));
            }
            sb.append(' ');
        }
        String prompt = sb.toString();
        long ms = Long.MAX_VALUE;
        for (int i = 0; i < 2; i++) {
            long t0 = System.nanoTime();
            assertThatThrownBy(() -> enc(conditioner, prompt))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("too long")
                    .hasMessageContaining(ClipConditioner.MAX_CHUNKS + " chunks of 75 tokens");
            ms = Math.min(ms, (System.nanoTime() - t0) / 1_000_000);
        }
        System.out.println("[conditioner] a 256 KiB prompt refused in " + ms + " ms");
        assertThat(ms).as("ms to refuse").isLessThan(1_000);
        // The longest accepted prompt: MAX_CHUNKS full chunks.
        String longest = "cat ".repeat(75 * ClipConditioner.MAX_CHUNKS);
        assertThat(conditioner.chunkCount(longest)).isEqualTo(ClipConditioner.MAX_CHUNKS);
        assertThatThrownBy(() -> conditioner.chunkCount(longest + " cat"))
                .hasMessageContaining("too long");
        assertThatThrownBy(() -> conditioner.chunkCount(
                "BREAK ".repeat(ClipConditioner.MAX_CHUNKS) + "cat"))
                .hasMessageContaining("too long");
    }

    @Test
    void concurrentCallsAgreeWithSerialOnes() throws Exception {
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            prompts.add("emoji number " + i + (i % 2 == 0 ? " cat face" : " red apple"));
        }
        List<float[]> serial = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (String p : prompts) {
                serial.add(conditioner.encode(m, List.of(p)).singletonOrThrow().toFloatArray());
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<float[]>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> {
                    try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                        return conditioner.encode(m, List.of(p)).singletonOrThrow()
                                .toFloatArray();
                    }
                }));
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(futures.get(i).get()).containsExactly(serial.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void leavesNoArraysInTheModelsManager() {
        int before = ((BaseNDManager) modelManager).getManagedArrays().size();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (int i = 0; i < 3; i++) {
                conditioner.encode(m, List.of("grinning face"));
            }
            assertThat(((BaseNDManager) m).getManagedArrays()).hasSize(3);
        }
        assertThat(((BaseNDManager) modelManager).getManagedArrays()).hasSize(before);
    }

    @Test
    void rejectsMismatchedPartsAndMissingWeights() throws IOException {
        ClipTextModel tiny = new ClipTextModel(ClipTextModelTest.TINY_QUICK);
        assertThatThrownBy(() -> new ClipConditioner(ClipFixtures.clip(), tiny))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("positions");
        ClipConditioner unset = new ClipConditioner(ClipFixtures.clip(), new ClipTextModel(SMALL));
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertThatThrownBy(() -> unset.encode(m, List.of("cat")))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("weights");
            assertThatThrownBy(() -> conditioner.encode(m, List.of()))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
