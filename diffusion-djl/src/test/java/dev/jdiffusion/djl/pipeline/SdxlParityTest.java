package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.text.SdxlConditioner;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SDXL base against diffusers v0.27.2 on the same weights: the small random SDXL-style model
 * and the reference outputs under {@code src/test/resources/reference/sdxl/} were made by
 * {@code scripts/reference/make_sdxl_fixtures.py} (two CLIP text encoders of widths 16 and 24,
 * the second with a 12-wide projection; a UNet with {@code addition_embed_type "text_time"} and
 * {@code transformer_layers_per_block [1, 2]}; a VAE with scaling factor 0.13025). Components
 * must agree to a relative error (max |a − b| / max |b|) below 1e-4, every image of every
 * recorded {@code StableDiffusionXLPipeline} run to within 1/255 per channel.
 *
 * <p>The maximum differences are written to {@code target/sdxl-parity.tsv}.
 */
class SdxlParityTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final double COMPONENT_TOLERANCE = 1e-4;
    private static final int PIXEL_TOLERANCE = 1;
    private static NDManager manager;
    private static DiffusionPipeline pipeline;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterAll
    static void stop() {
        if (pipeline != null) {
            pipeline.close();
        }
        manager.close();
    }

    private static Path dir() {
        return DiffusersParityTest.fixture("sdxl");
    }

    private static void report(String check, String difference) {
        Path out = Path.of("target", "sdxl-parity.tsv");
        try {
            Files.createDirectories(out.getParent());
            Files.writeString(out, check + "\t" + difference + "\n",
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void checkComponent(String name, NDArray actual, NDArray expected) {
        double rel = DiffusersParityTest.relativeError(actual, expected);
        report(name, String.format(Locale.ROOT, "%.2e (relative)", rel));
        assertThat(rel).as(name + ": relative error").isLessThan(COMPONENT_TOLERANCE);
    }

    private static <B extends Block> B load(B block, Path dir, String file) throws Exception {
        return load(block, dir, file, manager);
    }

    private static <B extends Block> B load(B block, Path dir, String file, NDManager m)
            throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(file))) {
            StateDict.load(dir.getFileName().toString(), ParameterNames.of(block), List.of(f),
                    KeyMapping.identity().skipping(ClipTextModel.BUFFER_KEYS::contains),
                    m, DataType.FLOAT32);
        }
        return block;
    }

    private static int[] ints(float[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.round(values[i]);
        }
        return out;
    }

    private static final String[][] PROMPTS = {
        {"prompt", "a cat face"}, {"negative", "red apple"}, {"empty", ""}};

    /** The fixture's two encoders as an SdxlConditioner, their weights in {@code m}. */
    static SdxlConditioner fixtureConditioner(NDManager m) throws Exception {
        Path dir = dir();
        ClipTokenizer tok1 = ClipTokenizer.load(dir.resolve("tokenizer"));
        ClipTokenizer tok2 = ClipTokenizer.load(dir.resolve("tokenizer_2"));
        Path t1 = dir.resolve("text_encoder");
        Path t2 = dir.resolve("text_encoder_2");
        ClipTextModel text1 = load(new ClipTextModel(ClipTextConfig.fromJson(
                t1.resolve("config.json"))), t1, "model.safetensors", m);
        int eos = JSON.readTree(t2.resolve("config.json").toFile()).get("eos_token_id").asInt();
        ClipTextModelWithProjection text2 = load(new ClipTextModelWithProjection(
                ClipTextConfig.fromJson(t2.resolve("config.json")), eos), t2,
                "model.safetensors", m);
        return new SdxlConditioner(tok1, text1, tok2, text2, 0, true);
    }

    /**
     * Clip skip, prompt_2 / negative_prompt_2 and a weighted prompt against the restated
     * encode_prompt of {@code make_sdxl_prompt_fixtures.py} ({@code prompts.safetensors}).
     */
    @Test
    void clipSkipSecondPromptsAndWeightsMatchTheReference() throws Exception {
        SdxlConditioner base = fixtureConditioner(manager);
        SdxlConditioner skip = base.withClipSkip(1);
        assertThat(skip.clipSkip()).isEqualTo(1);
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("prompts.safetensors"));
                SafetensorsFile old = SafetensorsFile.open(dir().resolve(
                        "reference.safetensors"));
                NDManager m = manager.newSubManager()) {
            for (String[] p : PROMPTS) {
                NDList cond = skip.encode(m, List.of(p[1]));
                checkComponent("SDXL clip_skip 1 prompt_embeds, " + p[0], cond.get(0),
                        ref.read("clipskip1.context." + p[0], m));
                checkComponent("SDXL clip_skip 1 pooled, " + p[0], cond.get(1),
                        ref.read("clipskip1.pooled." + p[0], m));
                // The pooled output ignores the clip skip; the states do not.
                assertThat(DiffusersParityTest.relativeError(cond.get(1),
                        base.encode(m, List.of(p[1])).get(1))).isZero();
                assertThat(DiffusersParityTest.relativeError(cond.get(0),
                        old.read("cond.context." + p[0], m))).isGreaterThan(1e-2);
            }
            SdxlConditioner pair = base.withSecondPrompts("blue sky", "green tree");
            NDList cond = pair.encode(m, List.of("a cat face"));
            checkComponent("SDXL prompt + prompt_2", cond.get(0),
                    ref.read("pair.context.prompt", m));
            checkComponent("SDXL pooled of prompt_2", cond.get(1),
                    ref.read("pair.pooled.prompt", m));
            NDList uncond = pair.encodeNegative(m, List.of("red apple"));
            checkComponent("SDXL negative + negative_prompt_2", uncond.get(0),
                    ref.read("pair.context.negative", m));
            checkComponent("SDXL pooled of negative_prompt_2", uncond.get(1),
                    ref.read("pair.pooled.negative", m));
            NDList weighted = base.encode(m, List.of("a (cat:1.3) face"));
            checkComponent("SDXL 'a (cat:1.3) face' (A1111 emphasis per encoder)",
                    weighted.get(0), ref.read("weighted.context", m));
            checkComponent("SDXL 'a (cat:1.3) face' pooled (unweighted)", weighted.get(1),
                    ref.read("weighted.pooled", m));
            // 100 tokens with a weight in the second chunk: A1111's 75 + 25 chunks.
            JsonNode longRun = JSON.readTree(dir().resolve("prompt-cases.json").toFile())
                    .get("cases").get(6);
            NDList longCond = base.encode(m, List.of(longRun.get("prompt").asText()));
            assertThat(longCond.get(0).getShape()).isEqualTo(new Shape(1, 154, 40));
            checkComponent("SDXL 100-token weighted prompt, 2 chunks", longCond.get(0),
                    ref.read("long.context", m));
            checkComponent("SDXL 100-token prompt, pooled of chunk 1", longCond.get(1),
                    ref.read("long.pooled", m));
        }
    }

    @Test
    void aClipSkipLeavingNoLayerIsRefusedNamingTheLayerCounts() throws Exception {
        SdxlConditioner base = fixtureConditioner(manager);
        assertThatThrownBy(() -> base.withClipSkip(2)).isInstanceOf(
                IllegalArgumentException.class).hasMessageContaining("clipSkip must be in 0..1")
                .hasMessageContaining("3 (text_encoder) and 3 (text_encoder_2) layers");
        assertThatThrownBy(() -> pipeline().generate(GenerationRequest.builder("a cat face")
                .clipSkip(2).steps(1).build())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("hidden_states[-(clipSkip + 2)]");
    }

    static Stream<Arguments> promptRuns() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : JSON.readTree(dir().resolve("prompt-cases.json").toFile())
                .get("cases")) {
            out.add(Arguments.of(c.get("key").asText(), String.format(Locale.ROOT,
                    "%s n=%d clip_skip=%d prompt_2=%s negative='%s' negative_2=%s",
                    c.get("sampler").asText(), c.get("images").asInt(),
                    c.get("clip_skip").asInt(), c.get("prompt_2"),
                    c.get("negative_prompt").asText(), c.get("negative_prompt_2")), c));
        }
        return out.stream();
    }

    /** The clip skip and second-prompt runs of {@code make_sdxl_prompt_fixtures.py}. */
    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("promptRuns")
    void promptRunsMatchStableDiffusionXLPipeline(String key, String label, JsonNode c)
            throws Exception {
        GenerationRequest request = GenerationRequest.builder(c.get("prompt").asText())
                .prompt2(c.get("prompt_2").isNull() ? null : c.get("prompt_2").asText())
                .negativePrompt(c.get("negative_prompt").asText())
                .negativePrompt2(c.get("negative_prompt_2").isNull() ? null
                        : c.get("negative_prompt_2").asText())
                .clipSkip(c.get("clip_skip").asInt())
                .steps(c.get("steps").asInt())
                .sampler(c.get("sampler").asText())
                .guidanceScale(c.get("guidance").asDouble())
                .numImages(c.get("images").asInt())
                .seed(c.get("seed").asLong())
                .build();
        GenerationResult result = pipeline().generate(request);
        float[] expected;
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("prompts.safetensors"))) {
            expected = ref.readFloats(key);
        }
        int worst = DiffusersParityTest.worstDifference(result.images(), expected);
        report("sdxl " + key + " " + label, worst + "/255");
        assertThat(worst).as(label + ": max pixel difference (of 255)")
                .isLessThanOrEqualTo(PIXEL_TOLERANCE);
    }

    @Test
    void textEncodersAndConditionerMatch() throws Exception {
        Path dir = dir();
        ClipTokenizer tok1 = ClipTokenizer.load(dir.resolve("tokenizer"));
        ClipTokenizer tok2 = ClipTokenizer.load(dir.resolve("tokenizer_2"));
        Path t1 = dir.resolve("text_encoder");
        Path t2 = dir.resolve("text_encoder_2");
        ClipTextModel text1 = load(new ClipTextModel(ClipTextConfig.fromJson(
                t1.resolve("config.json"))), t1, "model.safetensors");
        int eos = JSON.readTree(t2.resolve("config.json").toFile()).get("eos_token_id").asInt();
        assertThat(eos).as("the fixture uses the legacy eos_token_id of released SDXL configs")
                .isEqualTo(ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID);
        ClipTextModelWithProjection text2 = load(new ClipTextModelWithProjection(
                ClipTextConfig.fromJson(t2.resolve("config.json")), eos), t2,
                "model.safetensors");
        SdxlConditioner conditioner = new SdxlConditioner(tok1, text1, tok2, text2, 0, true);
        try (SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
                NDManager m = manager.newSubManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            for (String[] p : PROMPTS) {
                String key = p[0];
                int[] ids1 = tok1.encode(p[1]).ids();
                int[] ids2 = tok2.encode(p[1]).ids();
                assertThat(ids1).as("tokenizer ids of " + key)
                        .containsExactly(ints(ref.readFloats("text1.ids." + key)));
                assertThat(ids2).as("tokenizer_2 ids of " + key)
                        .containsExactly(ints(ref.readFloats("text2.ids." + key)));
                NDArray in1 = m.create(ids1, new Shape(1, ids1.length));
                NDArray in2 = m.create(ids2, new Shape(1, ids2.length));
                checkComponent("text_encoder last hidden state (final LN), " + key,
                        text1.encode(ps, in1, 0), ref.read("text1.last." + key, m));
                checkComponent("text_encoder hidden_states[-2], " + key,
                        text1.hiddenState(ps, in1, 1), ref.read("text1.penultimate." + key, m));
                ClipTextModelWithProjection.Output o2 = text2.encode(ps, in2, 1);
                checkComponent("text_encoder_2 hidden_states[-2], " + key, o2.hiddenState(),
                        ref.read("text2.penultimate." + key, m));
                checkComponent("text_encoder_2 text_embeds (pooled, projected), " + key,
                        o2.textEmbeds(), ref.read("text2.pooled." + key, m));
                NDList cond = conditioner.encode(m, List.of(p[1]));
                checkComponent("SDXL prompt_embeds, " + key, cond.get(0),
                        ref.read("cond.context." + key, m));
                checkComponent("SDXL pooled_prompt_embeds, " + key, cond.get(1),
                        ref.read("cond.pooled." + key, m));
            }
            // force_zeros_for_empty_prompt: an empty negative prompt is zeros, a non-empty one
            // (and any positive prompt) its encoding; without it "" is encoded too.
            NDList zeros = conditioner.encodeNegative(m, List.of("", ""));
            assertThat(zeros.get(0).getShape()).isEqualTo(new Shape(2, 77, 40));
            assertThat(zeros.get(1).getShape()).isEqualTo(new Shape(2, 12));
            assertThat(zeros.get(0).abs().max().getFloat()).isZero();
            assertThat(zeros.get(1).abs().max().getFloat()).isZero();
            NDList mixed = conditioner.encodeNegative(m, List.of("red apple", ""));
            checkComponent("SDXL negative 'red apple' in a mixed batch",
                    mixed.get(0).get("0:1"), ref.read("cond.context.negative", m));
            assertThat(mixed.get(1).get("1:").abs().max().getFloat()).isZero();
            SdxlConditioner noZeros = new SdxlConditioner(tok1, text1, tok2, text2, 0, false);
            checkComponent("SDXL negative '' without force_zeros",
                    noZeros.encodeNegative(m, List.of("")).get(1), ref.read("cond.pooled.empty",
                            m));
        }
    }

    @Test
    void unetCallWithTextEmbedsAndTimeIdsMatches() throws Exception {
        Path unetDir = dir().resolve("unet");
        UNet2DConditionConfig config = UNet2DConditionConfig.fromJson(
                unetDir.resolve("config.json"));
        assertThat(config.textTime()).isEqualTo(new UNet2DConditionConfig.TextTime(4, 36));
        assertThat(config.transformerLayersPerBlock()).containsExactly(1, 2);
        assertThat(UNet2DConditionConfig.fromJson(config.toJson())).isEqualTo(config);
        UNet2DConditionModel unet = load(new UNet2DConditionModel(config), unetDir,
                "diffusion_pytorch_model.safetensors");
        assertThat(ParameterNames.of(unet)).containsKeys("add_embedding.linear_1.weight",
                "add_embedding.linear_2.bias",
                "mid_block.attentions.0.transformer_blocks.1.attn2.to_k.weight");
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("reference.safetensors"));
                NDManager m = manager.newSubManager()) {
            ParameterStore ps = new ParameterStore(m, false);
            NDArray sample = ref.read("unet.in.sample", m);
            NDArray t = ref.read("unet.in.t", m);
            NDArray context = ref.read("unet.in.context", m);
            NDArray textEmbeds = ref.read("unet.in.text_embeds", m);
            NDArray timeIds = ref.read("unet.in.time_ids", m);
            NDArray out = unet.predict(ps, sample, t, context, null, textEmbeds, timeIds, null,
                    false);
            checkComponent("sdxl unet (text_embeds, time_ids)", out, ref.read("unet.out", m));
            NDArray viaForward = unet.forward(ps, new NDList(sample, t, context, textEmbeds,
                    timeIds), false).singletonOrThrow();
            assertThat(DiffusersParityTest.relativeError(viaForward, out)).isZero();
            // The added conditioning matters: other time ids give another prediction.
            NDArray otherIds = timeIds.add(64);
            NDArray other = unet.predict(ps, sample, t, context, null, textEmbeds, otherIds,
                    null, false);
            assertThat(DiffusersParityTest.relativeError(other, out)).isGreaterThan(1e-3);
            assertThatThrownBy(() -> unet.predict(ps, sample, t, context, null, null, null,
                    null, false)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("text_embeds (N, P) and time_ids (N, K)");
            assertThatThrownBy(() -> unet.predict(ps, sample, t, context, null, textEmbeds,
                    timeIds.get(":, 0:5"), null, false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("projection_class_embeddings_input_dim is 36");
        }
    }

    static Stream<Arguments> runs() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : JSON.readTree(dir().resolve("cases.json").toFile()).get("cases")) {
            out.add(Arguments.of(c.get("key").asText(), String.format(Locale.ROOT,
                    "%s g=%s n=%d negative='%s' steps=%d spacing=%s", c.get("sampler").asText(),
                    c.get("guidance").asText(), c.get("images").asInt(),
                    c.get("negative_prompt").asText(), c.get("steps").asInt(),
                    c.path("spacing").asText("config")), c));
        }
        return out.stream();
    }

    private static synchronized DiffusionPipeline pipeline() throws ModelLoadException {
        if (pipeline == null) {
            pipeline = DiffusionPipeline.load(dir(), PipelineOptions.defaults());
        }
        return pipeline;
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("runs")
    void imagesMatchStableDiffusionXLPipeline(String key, String label, JsonNode c)
            throws Exception {
        GenerationRequest request = GenerationRequest.builder(c.get("prompt").asText())
                .negativePrompt(c.get("negative_prompt").asText())
                .steps(c.get("steps").asInt())
                .sampler(c.get("sampler").asText())
                .guidanceScale(c.get("guidance").asDouble())
                .numImages(c.get("images").asInt())
                .seed(c.get("seed").asLong())
                .spacing(c.path("spacing").isTextual() ? c.get("spacing").asText() : null)
                .build(); // no size: the default, sample_size 16 x VAE factor 2
        GenerationResult result = pipeline().generate(request);
        float[] expected;
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("reference.safetensors"))) {
            expected = ref.readFloats(key);
        }
        for (GeneratedImage image : result.images()) {
            assertThat(image.width()).isEqualTo(32);
        }
        int worst = DiffusersParityTest.worstDifference(result.images(), expected);
        report("sdxl " + key + " " + label, worst + "/255");
        assertThat(worst).as(label + ": max pixel difference (of 255)")
                .isLessThanOrEqualTo(PIXEL_TOLERANCE);
    }

    /** Max pixel difference of a run from its reference image(s). */
    private static int worst(DiffusionPipeline p, JsonNode c) throws Exception {
        GenerationResult result = p.generate(GenerationRequest.builder(c.get("prompt").asText())
                .negativePrompt(c.get("negative_prompt").asText()).steps(c.get("steps").asInt())
                .sampler(c.get("sampler").asText()).guidanceScale(c.get("guidance").asDouble())
                .numImages(c.get("images").asInt()).seed(c.get("seed").asLong()).build());
        float[] expected;
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("reference.safetensors"))) {
            expected = ref.readFloats(c.get("key").asText());
        }
        return DiffusersParityTest.worstDifference(result.images(), expected);
    }

    /**
     * The guided runs with an empty negative prompt do check force_zeros_for_empty_prompt:
     * the same folder with it switched off (the empty prompt encoded instead of zeros) misses
     * diffusers' image by far more than the tolerance.
     */
    @Test
    void theEmptyNegativeRunsTellZerosFromTheEncodedEmptyPrompt(@TempDir Path tmp)
            throws Exception {
        JsonNode run0 = JSON.readTree(dir().resolve("cases.json").toFile()).get("cases").get(0);
        assertThat(run0.get("negative_prompt").asText()).isEmpty();
        assertThat(run0.get("guidance").asDouble()).isGreaterThan(1);
        Path folder = copyWith(tmp, j -> j.put("force_zeros_for_empty_prompt", false));
        try (DiffusionPipeline p = DiffusionPipeline.load(folder, PipelineOptions.defaults())) {
            assertThat(worst(p, run0)).isGreaterThan(8 * PIXEL_TOLERANCE);
        }
    }

    @Test
    void loadsAsSdxlWithItsDefaults() throws Exception {
        DiffusionPipeline p = pipeline();
        assertThat(p.defaultSize()).isEqualTo(32);
        assertThat(p.isConditional()).isTrue();
    }

    /** A copy of the fixture folder whose model_index.json is edited. */
    private static Path copyWith(Path tmp, java.util.function.Consumer<ObjectNode> edit)
            throws IOException {
        return copyWith(dir(), tmp, edit);
    }

    /** A copy of a model folder whose model_index.json is edited. */
    static Path copyWith(Path src, Path tmp, java.util.function.Consumer<ObjectNode> edit)
            throws IOException {
        try (Stream<Path> files = Files.walk(src)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = tmp.resolve(src.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
        Path index = tmp.resolve("model_index.json");
        ObjectNode json = (ObjectNode) JSON.readTree(index.toFile());
        edit.accept(json);
        Files.writeString(index, json.toString());
        return tmp;
    }

    @Test
    void anSdxlFolderWithoutTextEncoder2IsRefusedWithTheReason(@TempDir Path tmp)
            throws Exception {
        Path folder = copyWith(tmp, j -> j.remove("text_encoder_2"));
        assertThatThrownBy(() -> DiffusionPipeline.load(folder, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("lists no text_encoder_2")
                .hasMessageContaining("addition_embed_type \"text_time\"");
    }

    @Test
    void aBaseUNetWithoutTheFirstTextEncoderIsRefusedWithTheReason(@TempDir Path tmp) throws Exception {
        Path folder = copyWith(tmp, j -> j.putArray("text_encoder").addNull().addNull());
        assertThatThrownBy(() -> DiffusionPipeline.load(folder, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("text_encoder_2 without text_encoder")
                .hasMessageContaining("refiner");
    }

    @Test
    void aMissingTokenizer2OrBadForceZerosIsRefused(@TempDir Path tmp) throws Exception {
        Path a = Files.createDirectories(tmp.resolve("a"));
        copyWith(a, j -> j.remove("tokenizer_2"));
        assertThatThrownBy(() -> DiffusionPipeline.load(a, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("no tokenizer_2");
        Path b = Files.createDirectories(tmp.resolve("b"));
        copyWith(b, j -> j.put("force_zeros_for_empty_prompt", "yes"));
        assertThatThrownBy(() -> DiffusionPipeline.load(b, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("force_zeros_for_empty_prompt must be true or false");
    }
}
