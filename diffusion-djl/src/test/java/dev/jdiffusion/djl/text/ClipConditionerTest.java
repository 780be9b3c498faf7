package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
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
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clipSkip");
    }

    @Test
    void unconditionalIsTheEmptyPrompt() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] u = conditioner.unconditional(m, 2).singletonOrThrow().toFloatArray();
            float[] e = conditioner.encode(m, List.of("")).singletonOrThrow().toFloatArray();
            // Equal up to rounding: the engine's matrix kernels may sum in another order for
            // a batch of two than for one (seen on an AVX-512 Xeon).
            for (int i = 0; i < e.length; i++) {
                assertThat(u[i]).isCloseTo(e[i], within(1e-5f));
                assertThat(u[e.length + i]).isCloseTo(e[i], within(1e-5f));
            }
        }
    }

    @Test
    void longPromptsAreTruncatedWithAWarning() {
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] cut;
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                cut = conditioner.encode(m, List.of("cat ".repeat(75) + "dog green tower"))
                        .singletonOrThrow().toFloatArray();
            } finally {
                System.setErr(original);
            }
            float[] exact = conditioner.encode(m, List.of("cat ".repeat(75)))
                    .singletonOrThrow().toFloatArray();
            assertThat(cut).containsExactly(exact);
        }
        String log = captured.toString(StandardCharsets.UTF_8);
        assertThat(log).contains("WARN").contains("78 tokens").contains("\"dog green tower\"");
    }

    @Test
    void theWarningForAHugePromptIsShortAndSaysWhatWasDropped() {
        StringBuilder sb = new StringBuilder("cat ".repeat(75));
        java.util.Random rnd = new java.util.Random(5);
        while (sb.length() < 256 * 1024) { // 256 KiB of distinct made-up words
            for (int k = 3 + rnd.nextInt(8); k > 0; k--) {
                sb.append((char) ('a' + rnd.nextInt(26)));
            }
            sb.append(' ');
        }
        String prompt = sb.toString();
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        long ms = Long.MAX_VALUE;
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            try {
                for (int i = 0; i < 2; i++) { // the second run is the warm one
                    captured.reset();
                    long t0 = System.nanoTime();
                    conditioner.encode(m, List.of(prompt, prompt)).close();
                    ms = Math.min(ms, (System.nanoTime() - t0) / 1_000_000);
                }
            } finally {
                System.setErr(original);
            }
        }
        String log = captured.toString(StandardCharsets.UTF_8);
        System.out.println("[conditioner] two 256 KiB prompts encoded in " + ms + " ms, "
                + log.length() + " characters logged");
        String cleaned = ClipTokenizer.clean(prompt);
        int dropped = cleaned.length() - ("cat ".repeat(75).length() - 1) - 1;
        assertThat(log).contains("WARN").contains("more than " + 4 * 77 + " tokens")
                .contains("ignored the last " + dropped + " of its " + cleaned.length())
                .contains("\"" + cleaned.substring(cleaned.length() - dropped).substring(0, 40)
                        + "...\"");
        assertThat(log.length()).as("characters logged for two prompts").isLessThan(1_000);
        assertThat(ms).as("ms to encode").isLessThan(1_000);
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
