package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.text.PromptSyntax;
import dev.jdiffusion.djl.text.SdxlConditioner;
import dev.jdiffusion.djl.text.TextualInversion;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The AUTOMATIC1111 prompt language, long prompts, clip skip and second prompts on SDXL, on
 * the small SDXL fixture of {@link SdxlParityTest}. Expected values are computed here from the
 * encoders' unweighted, one-chunk outputs.
 */
class SdxlPromptTest {

    private static final int D1 = 16; // text_encoder's width in the fixture
    private static final int D = 40; // D1 + text_encoder_2's 24
    /** 5 tokens ("a", "cat", "face" and "red" are one token each in the fixture). */
    private static final String FIVE = "a cat face red cat";

    private static NDManager manager;
    private static SdxlConditioner base;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() throws Exception {
        manager = NDManager.newBaseManager("PyTorch");
        base = SdxlParityTest.fixtureConditioner(manager);
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static String repeat(String text, int times) {
        return String.join(" ", java.util.Collections.nCopies(times, text));
    }

    private static NDArray context(SdxlConditioner c, NDManager m, String prompt) {
        return c.encode(m, List.of(prompt)).get(0);
    }

    private static void assertSame(NDArray actual, NDArray expected, String what) {
        assertThat(actual.getShape()).as(what).isEqualTo(expected.getShape());
        assertThat(DiffusersParityTest.relativeError(actual, expected)).as(what).isZero();
    }

    @Test
    void aShortPromptEncodesBitIdenticallyToTheEncodersCalledDirectly() throws Exception {
        Path dir = DiffusersParityTest.fixture("sdxl");
        ClipTokenizer tok1 = ClipTokenizer.load(dir.resolve("tokenizer"));
        ClipTokenizer tok2 = ClipTokenizer.load(dir.resolve("tokenizer_2"));
        assertThat(base.syntax()).isEqualTo(PromptSyntax.A1111);
        try (NDManager m = manager.newSubManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            for (String p : List.of("a cat face", "red apple", "")) {
                int[] ids1 = tok1.encode(p).ids();
                int[] ids2 = tok2.encode(p).ids();
                NDArray h1 = base.textEncoder().hiddenState(ps, m.create(ids1,
                        new Shape(1, 77)), 1);
                ClipTextModelWithProjection.Output o2 = base.textEncoder2().encode(ps,
                        m.create(ids2, new Shape(1, 77)), 1);
                NDArray expected = h1.concat(o2.hiddenState(), 2);
                for (PromptSyntax s : PromptSyntax.values()) {
                    NDList out = base.withSyntax(s).encode(m, List.of(p));
                    assertSame(out.get(0), expected, s + " '" + p + "' context");
                    assertSame(out.get(1), o2.textEmbeds(), s + " '" + p + "' pooled");
                }
            }
        }
    }

    /** z·w, then scaled by mean(z) / mean(z·w), on one encoder's (1, 77, d) states. */
    private static NDArray emphasis(NDArray z, float[] w) {
        NDArray weights = z.getManager().create(w, new Shape(1, w.length, 1));
        NDArray scaled = z.mul(weights);
        return scaled.mul(z.mean().div(scaled.mean()));
    }

    @Test
    void weightsScaleEachEncodersStatesAndRestoreEachMean() {
        try (NDManager m = manager.newSubManager()) {
            NDList plain = base.encode(m, List.of("a cat face"));
            for (Object[] c : new Object[][] {{"a (cat:1.3) face", 2, 1.3f},
                    {"a [cat] face", 2, 1 / 1.1f}, {"(a cat face:0.5)", -1, 0.5f}}) {
                String prompt = (String) c[0];
                float[] w = new float[77];
                Arrays.fill(w, 1f);
                if ((int) c[1] > 0) {
                    w[(int) c[1]] = (float) c[2];
                } else {
                    Arrays.fill(w, 1, 4, (float) c[2]); // a cat face, not start / end
                }
                NDArray z = plain.get(0);
                NDArray expected = emphasis(z.get(":, :, 0:" + D1), w).concat(
                        emphasis(z.get(":, :, " + D1 + ":"), w), 2);
                NDList out = base.encode(m, List.of(prompt));
                assertThat(DiffusersParityTest.relativeError(out.get(0), expected))
                        .as(prompt).isLessThan(1e-6);
                assertThat(DiffusersParityTest.relativeError(out.get(0), z)).as(prompt)
                        .isGreaterThan(1e-3);
                assertSame(out.get(1), plain.get(1), prompt + ": the pooled output is"
                        + " unweighted");
                // Plain syntax reads the brackets as text.
                assertThat(base.withSyntax(PromptSyntax.PLAIN).chunkCount(prompt)).isOne();
                assertThat(DiffusersParityTest.relativeError(context(base.withSyntax(
                        PromptSyntax.PLAIN), m, prompt), expected)).isGreaterThan(1e-3);
            }
        }
    }

    @Test
    void aHundredTokenPromptGives154TokensAndThePooledOfItsFirstChunk() {
        String prompt = repeat(FIVE, 20); // 100 tokens: 75 + 25, no comma
        assertThat(base.chunkCount(prompt)).isEqualTo(2);
        try (NDManager m = manager.newSubManager()) {
            NDList out = base.encode(m, List.of(prompt));
            assertThat(out.get(0).getShape()).isEqualTo(new Shape(1, 154, D));
            assertThat(out.get(1).getShape()).isEqualTo(new Shape(1, 12));
            NDList first = base.encode(m, List.of(repeat(FIVE, 15)));
            NDList second = base.encode(m, List.of(repeat(FIVE, 5)));
            assertSame(out.get(0).get(":, 0:77, :"), first.get(0), "chunk 1");
            assertSame(out.get(0).get(":, 77:154, :"), second.get(0), "chunk 2");
            assertSame(out.get(1), first.get(1), "pooled = the first chunk's");
            // The plain syntax chunks long prompts too (it only reads brackets as text).
            assertSame(context(base.withSyntax(PromptSyntax.PLAIN), m, prompt), out.get(0),
                    "plain");
            // A batch of a long and a short prompt: the short one padded with empty chunks.
            NDList batch = base.encode(m, List.of(prompt, "red apple"));
            assertThat(batch.get(0).getShape()).isEqualTo(new Shape(2, 154, D));
            assertThat(DiffusersParityTest.relativeError(batch.get(0).get("1:2, 77:154, :"),
                    base.unconditional(m, 1).get(0))).isLessThan(1e-6);
        }
        assertThatThrownBy(() -> base.chunkCount(repeat(FIVE, 15 * 8 + 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("too long");
    }

    @Test
    void breakStartsANewChunkInBothEncoders() {
        try (NDManager m = manager.newSubManager()) {
            NDArray out = context(base, m, "a cat face BREAK red apple");
            assertThat(out.getShape()).isEqualTo(new Shape(1, 154, D));
            assertSame(out.get(":, 0:77, :"), context(base, m, "a cat face"), "chunk 1");
            assertSame(out.get(":, 77:154, :"), context(base, m, "red apple"), "chunk 2");
            assertThat(context(base.withSyntax(PromptSyntax.PLAIN), m,
                    "a cat face BREAK red apple").getShape()).isEqualTo(new Shape(1, 77, D));
        }
    }

    /** The token-embedding row of a one-token word in an encoder of the fixture. */
    private static float[] tokenRow(String encoder, String tokenizer, String word)
            throws Exception {
        Path model = DiffusersParityTest.fixture("sdxl");
        int[] ids = ClipTokenizer.load(model.resolve(tokenizer)).encode(word).ids();
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve(encoder
                + "/model.safetensors"))) {
            String key = "text_model.embeddings.token_embedding.weight";
            int width = (int) f.info(key).dims()[1];
            return Arrays.copyOfRange(f.readFloats(key), ids[1] * width, (ids[1] + 1) * width);
        }
    }

    @Test
    void textualInversionTriggersWorkInEveryChunkAndWithWeights() throws Exception {
        float[] l = tokenRow("text_encoder", "tokenizer", "cat");
        float[] g = tokenRow("text_encoder_2", "tokenizer_2", "cat");
        Path file = tmp.resolve("zq.safetensors");
        try (NDManager m = manager.newSubManager()) {
            SafetensorsWriter.write(file, Map.of("clip_l", m.create(l, new Shape(1, l.length)),
                    "clip_g", m.create(g, new Shape(1, g.length))), Map.of());
        }
        SdxlConditioner ti = base.withEmbeddings(List.of(TextualInversion.load(file)));
        String withWord = repeat(FIVE, 16) + " a (cat:1.2) face";
        String withTrigger = repeat(FIVE, 16) + " a (zq:1.2) face";
        try (NDManager m = manager.newSubManager()) {
            NDList expected = base.encode(m, List.of(withWord));
            NDList actual = ti.encode(m, List.of(withTrigger));
            assertThat(actual.get(0).getShape()).isEqualTo(new Shape(1, 154, D));
            assertThat(DiffusersParityTest.relativeError(actual.get(0), expected.get(0)))
                    .isLessThan(1e-6);
            assertThat(DiffusersParityTest.relativeError(actual.get(1), expected.get(1)))
                    .isLessThan(1e-6);
            assertThat(DiffusersParityTest.relativeError(context(base, m, withTrigger),
                    expected.get(0))).isGreaterThan(1e-3);
            // In the first chunk, which the pooled output comes from.
            assertThat(DiffusersParityTest.relativeError(ti.encode(m, List.of("a zq face"))
                    .get(1), base.encode(m, List.of("a cat face")).get(1))).isLessThan(1e-6);
        }
    }

    @Test
    void guidedPairsArePaddedWithTheEmptyPromptAndZerosStayZeros() {
        String prompt = repeat(FIVE, 20);
        try (NDManager m = manager.newSubManager()) {
            NDArray empty = base.unconditional(m, 1).get(0);
            NDList pair = TextConditioning.encode(base, m, prompt, "", 1, true);
            assertThat(pair.get(0).getShape()).isEqualTo(new Shape(2, 154, D));
            assertThat(pair.get(1).getShape()).isEqualTo(new Shape(2, 12));
            // force_zeros_for_empty_prompt: the empty negative is zeros and padded with zeros
            // (diffusers' zeros_like(prompt_embeds)); the pooled entry is not padded.
            assertThat(pair.get(0).get("0:1").abs().max().getFloat()).isZero();
            assertThat(pair.get(1).get("0:1").abs().max().getFloat()).isZero();
            assertSame(pair.get(0).get("1:2"), base.encode(m, List.of(prompt)).get(0), "cond");
            // A non-empty short negative is padded with the encoded empty prompt.
            NDList red = TextConditioning.encode(base, m, prompt, "red apple", 1, true);
            assertSame(red.get(0).get("0:1, 0:77, :"), context(base, m, "red apple"), "uncond");
            assertSame(red.get(0).get("0:1, 77:154, :"), empty, "uncond padding");
            // So is an empty one with a second negative prompt (then not zeros).
            NDList neg2 = TextConditioning.encode(base.withSecondPrompts(null, "green tree"), m,
                    prompt, "", 1, true);
            assertSame(neg2.get(0).get("0:1, 77:154, :"), empty, "uncond padding, negative 2");
            // A per-request second prompt does not leak into the padding.
            SdxlConditioner second = base.withSecondPrompts("blue sky", "green tree");
            NDList padded = TextConditioning.encode(second, m, "a cat face", prompt, 1, true);
            assertThat(padded.get(0).getShape()).isEqualTo(new Shape(2, 154, D));
            assertSame(padded.get(0).get("1:2, 77:154, :"), empty, "cond padding");
        }
    }

    @Test
    void secondPromptsFeedTheSecondEncoderOnly() {
        assertThat(base.withSecondPrompts(null, null)).isSameAs(base);
        assertThat(base.withSecondPrompts("", "")).isSameAs(base);
        try (NDManager m = manager.newSubManager()) {
            NDList plain = base.encode(m, List.of("a cat face"));
            NDList sky = base.encode(m, List.of("blue sky"));
            NDList pair = base.withSecondPrompts("blue sky", null).encode(m,
                    List.of("a cat face"));
            assertSame(pair.get(0).get(":, :, 0:" + D1), plain.get(0).get(":, :, 0:" + D1),
                    "encoder 1 reads the prompt");
            assertSame(pair.get(0).get(":, :, " + D1 + ":"), sky.get(0).get(":, :, " + D1
                    + ":"), "encoder 2 reads prompt 2");
            assertSame(pair.get(1), sky.get(1), "the pooled output is prompt 2's");
            // An empty negative with a second negative prompt is encoded, not zeroed.
            SdxlConditioner neg2 = base.withSecondPrompts(null, "green tree");
            NDList uncond = neg2.encodeNegative(m, List.of(""));
            assertSame(uncond.get(0), base.withSecondPrompts("green tree", null).encode(m,
                    List.of("")).get(0), "'' + negative 2");
            assertThat(base.encodeNegative(m, List.of("")).get(0).abs().max().getFloat())
                    .isZero();
            // Different chunk counts on the two encoders: the shorter padded with empty chunks.
            NDArray longer = context(base.withSecondPrompts(repeat(FIVE, 20), null), m,
                    "a cat face");
            assertThat(longer.getShape()).isEqualTo(new Shape(1, 154, D));
            NDArray empty = base.unconditional(m, 1).get(0);
            assertSame(longer.get(":, 77:154, 0:" + D1), empty.get(":, :, 0:" + D1),
                    "encoder 1's missing chunk");
        }
    }

    @Test
    void throughThePipelineSecondPromptsAreRecordedAndRefusedWithOneEncoder()
            throws Exception {
        try (DiffusionPipeline sdxl = DiffusionPipeline.load(DiffusersParityTest.fixture(
                "sdxl"), PipelineOptions.defaults())) {
            GenerationRequest.Builder r = GenerationRequest.builder("a cat face").steps(2)
                    .seed(3).guidanceScale(5);
            GeneratedImage plain = sdxl.generate(r.build()).images().get(0);
            GeneratedImage two = sdxl.generate(r.prompt2("blue sky").negativePrompt2(
                    "green, tree").build()).images().get(0);
            assertThat(two.rgb()).isNotEqualTo(plain.rgb());
            ImageParameters p = two.parameters().orElseThrow();
            assertThat(p.settings()).containsEntry("Prompt 2", "blue sky")
                    .containsEntry("Negative prompt 2", "green, tree");
            assertThat(plain.parameters().orElseThrow().settings())
                    .doesNotContainKey("Prompt 2");
            assertThat(r.build().toBuilder().build().prompt2()).isEqualTo("blue sky");
            // promptSyntax per request: "plain" reads the brackets as text.
            GeneratedImage weighted = sdxl.generate(GenerationRequest.builder("a (cat:1.5) face")
                    .steps(2).seed(3).guidanceScale(5).build()).images().get(0);
            GeneratedImage literal = sdxl.generate(GenerationRequest.builder("a (cat:1.5) face")
                    .steps(2).seed(3).guidanceScale(5).promptSyntax("plain").build()).images()
                    .get(0);
            assertThat(weighted.rgb()).isNotEqualTo(literal.rgb());
            assertThat(weighted.rgb()).isNotEqualTo(plain.rgb());
            assertThatThrownBy(() -> sdxl.generate(GenerationRequest.builder("a (cat face")
                    .steps(1).build())).isInstanceOf(IllegalArgumentException.class);
        }
        try (DiffusionPipeline sd = DiffusionPipeline.load(TinyPipelines.textToImage(),
                PipelineOptions.defaults())) {
            assertThatThrownBy(() -> sd.generate(GenerationRequest.builder("a cat").prompt2(
                    "a dog").steps(1).build())).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("one text encoder");
            assertThatThrownBy(() -> sd.generate(GenerationRequest.builder("a cat")
                    .negativePrompt2("a dog").steps(1).build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("one text encoder");
        }
    }

    @Test
    void theFoldersPromptSyntaxIsRead(@TempDir Path copy) throws Exception {
        Path src = DiffusersParityTest.fixture("sdxl");
        try (var files = Files.walk(src)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = copy.resolve(src.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else if (!f.getFileName().toString().endsWith("reference.safetensors")) {
                    Files.copy(f, target);
                }
            }
        }
        Files.writeString(copy.resolve("jdiffusion.json"), "{\"prompt_syntax\": \"plain\"}");
        GenerationRequest.Builder r = GenerationRequest.builder("a (cat:1.5) face").steps(2)
                .seed(3).guidanceScale(5);
        try (DiffusionPipeline plainFolder = DiffusionPipeline.load(copy,
                PipelineOptions.defaults());
                DiffusionPipeline a1111 = DiffusionPipeline.load(src,
                        PipelineOptions.defaults())) {
            int[] folder = plainFolder.generate(r.build()).images().get(0).rgb();
            assertThat(folder).isEqualTo(a1111.generate(r.promptSyntax("plain").build())
                    .images().get(0).rgb());
            assertThat(folder).isNotEqualTo(a1111.generate(r.promptSyntax(null).build())
                    .images().get(0).rgb());
            assertThat(plainFolder.generate(r.promptSyntax("a1111").build()).images().get(0)
                    .rgb()).isEqualTo(a1111.generate(r.build()).images().get(0).rgb());
        }
    }
}
