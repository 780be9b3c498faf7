package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.api.Pipeline;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.text.SdxlConditioner;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * SDXL image-to-image, the SDXL refiner and base + refiner against diffusers v0.27.2 on the
 * same weights. {@code scripts/reference/make_sdxl_refiner_fixtures.py} wrote the tiny refiner
 * under {@code src/test/resources/reference/sdxl-refiner/} (encoder 2 only, 5 time ids,
 * requires_aesthetics_score, no force_zeros_for_empty_prompt) and the images of three kinds of
 * runs, each to be matched to within 1/255 per channel:
 * <ul>
 *   <li>{@code img2img}: {@code StableDiffusionXLImg2ImgPipeline} on the base folder {@code
 *       sdxl/} from {@code init.png} (strength 0.6, 6 time ids as text-to-image);</li>
 *   <li>{@code refiner}: the same pipeline on the refiner folder (time ids (H, W, 0, 0, 6.0)
 *       for the prompt, (H, W, 0, 0, 2.5) for the negative side);</li>
 *   <li>{@code ensemble}: the base with {@code denoising_end} and {@code output_type="latent"},
 *       then the refiner with {@code image=latents, denoising_start} at the same fraction.</li>
 * </ul>
 * The maximum differences are written to {@code target/sdxl-refiner-parity.tsv}.
 */
class SdxlRefinerParityTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int PIXEL_TOLERANCE = 1;
    private static DiffusionPipeline base;
    private static DiffusionPipeline refiner;

    @AfterAll
    static void stop() {
        if (base != null) {
            base.close();
        }
        if (refiner != null) {
            refiner.close();
        }
    }

    static Path dir() {
        return DiffusersParityTest.fixture("sdxl-refiner");
    }

    static synchronized DiffusionPipeline base() throws ModelLoadException {
        if (base == null) {
            base = DiffusionPipeline.load(DiffusersParityTest.fixture("sdxl"),
                    PipelineOptions.defaults());
        }
        return base;
    }

    static synchronized DiffusionPipeline refiner() throws ModelLoadException {
        if (refiner == null) {
            refiner = DiffusionPipeline.load(dir(), PipelineOptions.defaults());
        }
        return refiner;
    }

    private static void report(String check, String difference) {
        Path out = Path.of("target", "sdxl-refiner-parity.tsv");
        try {
            Files.createDirectories(out.getParent());
            Files.writeString(out, check + "\t" + difference + "\n",
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Stream<Arguments> runs(String mode) throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : JSON.readTree(dir().resolve("cases.json").toFile()).get("cases")) {
            if (!c.get("mode").asText().equals(mode)) {
                continue;
            }
            out.add(Arguments.of(c.get("key").asText(), String.format(Locale.ROOT,
                    "%s %s g=%s n=%d negative='%s' %s", mode, c.get("sampler").asText(),
                    c.get("guidance").asText(), c.get("images").asInt(),
                    c.get("negative_prompt").asText(), c.hasNonNull("switch")
                            ? "switch=" + c.get("switch").asText()
                            : "strength=" + c.get("strength").asText()), c));
        }
        return out.stream();
    }

    static Stream<Arguments> img2imgRuns() throws IOException {
        return runs("img2img");
    }

    static GenerationRequest.Builder request(JsonNode c) {
        return GenerationRequest.builder(c.get("prompt").asText())
                .negativePrompt(c.get("negative_prompt").asText())
                .steps(c.get("steps").asInt())
                .sampler(c.get("sampler").asText())
                .guidanceScale(c.get("guidance").asDouble())
                .numImages(c.get("images").asInt())
                .seed(c.get("seed").asLong());
    }

    static GeneratedImage initImage() throws IOException {
        return GeneratedImage.read(dir().resolve("init.png"));
    }

    /** Checks a result against its reference images and records the difference. */
    static void check(String key, String label, GenerationResult result) throws IOException {
        float[] expected;
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("reference.safetensors"))) {
            expected = ref.readFloats(key);
        }
        assertThat(result.images().get(0).width()).isEqualTo(32);
        int worst = DiffusersParityTest.worstDifference(result.images(), expected);
        report(key + " " + label, worst + "/255");
        assertThat(worst).as(label + ": max pixel difference (of 255)")
                .isLessThanOrEqualTo(PIXEL_TOLERANCE);
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("img2imgRuns")
    void baseImageToImageMatchesStableDiffusionXLImg2ImgPipeline(String key, String label,
            JsonNode c) throws Exception {
        GenerationRequest r = request(c).initImage(initImage())
                .strength(c.get("strength").asDouble()).build();
        check(key, label, base().generate(r));
    }

    static Stream<Arguments> refinerRuns() throws IOException {
        return runs("refiner");
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("refinerRuns")
    void refinerImageToImageMatchesStableDiffusionXLImg2ImgPipeline(String key, String label,
            JsonNode c) throws Exception {
        GenerationRequest r = request(c).initImage(initImage())
                .strength(c.get("strength").asDouble()).build();
        check(key, label, refiner().generate(r));
    }

    @Test
    void theRefinerConditionsOnEncoder2AloneWithAestheticScoreTimeIds() throws Exception {
        UNetNetwork unet = (UNetNetwork) refiner().network();
        SdxlConditioner c = (SdxlConditioner) refiner().conditioner();
        assertThat(c.isRefiner()).isTrue();
        assertThat(c.textEncoder()).isNull();
        assertThat(c.contextDim()).isEqualTo(24);
        assertThat(c.forceZerosForEmptyPrompt()).isFalse();
        assertThat(c.timeIdCount()).isEqualTo(5);
        try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve("reference.safetensors"));
                NDManager m = refiner().manager().newSubManager()) {
            for (String[] p : new String[][] {{"prompt", "a cat face"}, {"negative", "red apple"},
                {"empty", ""}}) {
                NDList cond = c.encode(m, List.of(p[1]));
                assertThat(DiffusersParityTest.relativeError(cond.get(0),
                        ref.read("cond.context." + p[0], m))).as(p[0]).isLessThan(1e-4);
                assertThat(DiffusersParityTest.relativeError(cond.get(1),
                        ref.read("cond.pooled." + p[0], m))).as(p[0]).isLessThan(1e-4);
            }
            // force_zeros_for_empty_prompt false: "" is encoded, not zeros.
            NDList empty = c.encodeNegative(m, List.of(""));
            assertThat(DiffusersParityTest.relativeError(empty.get(1),
                    ref.read("cond.pooled.empty", m))).isLessThan(1e-4);
            assertThat(c.timeIds(m, 2, 32, 48, false).toFloatArray())
                    .containsExactly(32, 48, 0, 0, 6f, 32, 48, 0, 0, 6f);
            assertThat(c.timeIds(m, 1, 32, 48, true).toFloatArray())
                    .containsExactly(32, 48, 0, 0, 2.5f);
            SdxlConditioner other = c.withAestheticScores(7, 1);
            assertThat(other.timeIds(m, 1, 8, 8, true).toFloatArray())
                    .containsExactly(8, 8, 0, 0, 1f);
            assertThat(c.timeIds(m, 1, 8, 8, true).toFloatArray()).as("unchanged")
                    .containsExactly(8, 8, 0, 0, 2.5f);

            NDArray sample = ref.read("unet.in.sample", m);
            NDArray out = unet.predict(sample, ref.read("unet.in.t", m), new NDList(
                    ref.read("unet.in.context", m), ref.read("unet.in.text_embeds", m),
                    ref.read("unet.in.time_ids", m)));
            assertThat(DiffusersParityTest.relativeError(out, ref.read("unet.out", m)))
                    .as("refiner UNet with 5 time ids").isLessThan(1e-4);
            assertThat(out.getShape()).isEqualTo(new Shape(2, 4, 16, 16));
        }
    }

    /** The aesthetic scores matter: the negative side's 2.5 given to both sides misses. */
    @Test
    void theRefinerRunsTellTheTwoAestheticScoresApart() throws Exception {
        JsonNode c = (JsonNode) runs("refiner").findFirst().orElseThrow().get()[2];
        assertThat(c.get("guidance").asDouble()).isGreaterThan(1);
        DiffusionPipeline p = refiner();
        SdxlConditioner same = ((SdxlConditioner) p.conditioner()).withAestheticScores(2.5, 2.5);
        try (DiffusionPipeline equal = p.withConditioner(same)) {
            GenerationResult result = equal.generate(request(c).initImage(initImage())
                    .strength(c.get("strength").asDouble()).build());
            float[] expected;
            try (SafetensorsFile ref = SafetensorsFile.open(dir().resolve(
                    "reference.safetensors"))) {
                expected = ref.readFloats(c.get("key").asText());
            }
            assertThat(DiffusersParityTest.worstDifference(result.images(), expected))
                    .isGreaterThan(4 * PIXEL_TOLERANCE);
        }
    }

    /** A copy of the refiner folder whose model_index.json is edited. */
    static Path copyWith(Path tmp, java.util.function.Consumer<ObjectNode> edit)
            throws IOException {
        return SdxlParityTest.copyWith(dir(), tmp, edit);
    }

    @Test
    void aRefinerWithoutAestheticScoresIsRefusedWithTheFix(@TempDir Path tmp) throws Exception {
        Path folder = copyWith(tmp, j -> j.remove("requires_aesthetics_score"));
        assertThatThrownBy(() -> DiffusionPipeline.load(folder, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("projection_class_embeddings_input_dim 32")
                .hasMessageContaining("it fits 5 time ids: set requires_aesthetics_score to true");
    }

    @Test
    void aRefinerWithoutTokenizer2OrWithABadFlagIsRefused(@TempDir Path tmp) throws Exception {
        Path a = Files.createDirectories(tmp.resolve("a"));
        copyWith(a, j -> j.remove("tokenizer_2"));
        assertThatThrownBy(() -> DiffusionPipeline.load(a, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("no tokenizer_2");
        Path b = Files.createDirectories(tmp.resolve("b"));
        copyWith(b, j -> j.put("requires_aesthetics_score", "yes"));
        assertThatThrownBy(() -> DiffusionPipeline.load(b, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("requires_aesthetics_score must be true or false");
        Path c = Files.createDirectories(tmp.resolve("c"));
        copyWith(c, j -> j.remove("text_encoder_2"));
        assertThatThrownBy(() -> DiffusionPipeline.load(c, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("lists no text_encoder_2");
    }

    /** The base's UNet attends to both encoders' width: as a refiner folder it is refused. */
    @Test
    void aBaseWithAestheticScoresIsRefused(@TempDir Path tmp) throws Exception {
        Path src = DiffusersParityTest.fixture("sdxl");
        Path copy = Files.createDirectories(tmp.resolve("base"));
        try (Stream<Path> files = Files.walk(src)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Path target = copy.resolve(src.relativize(f).toString());
                if (Files.isDirectory(f)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(f, target);
                }
            }
        }
        Path index = copy.resolve("model_index.json");
        ObjectNode json = (ObjectNode) JSON.readTree(index.toFile());
        json.put("requires_aesthetics_score", true);
        Files.writeString(index, json.toString());
        assertThatThrownBy(() -> DiffusionPipeline.load(copy, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("it fits 6 time ids: set requires_aesthetics_score to"
                        + " false");
    }

    static Stream<Arguments> ensembleRuns() throws IOException {
        return runs("ensemble");
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("ensembleRuns")
    void baseThenRefinerMatchesDiffusersEnsembleOfExpertDenoisers(String key, String label,
            JsonNode c) throws Exception {
        double switchAt = c.get("switch").asDouble();
        try (Pipeline two = base().withRefiner(refiner(), switchAt)) {
            GenerationResult result = two.generate(request(c).build());
            check(key, label, result);
            String params = result.images().get(0).text().get(GeneratedImage.PARAMETERS_KEY);
            assertThat(params).contains("Model: sdxl,", "Refiner: sdxl-refiner",
                    "Refiner switch at: " + switchAt, "Seed: " + c.get("seed").asLong());
        }
    }

    @Test
    void theCutFollowsDiffusersTimestepCutoff() {
        float[] leading10 = {901, 801, 701, 601, 501, 401, 301, 201, 101, 1};
        int cut = RefinedPipeline.cutoff(1000, 0.8);
        assertThat(cut).isEqualTo(200);
        assertThat(RefinedPipeline.baseEnd(leading10, cut)).isEqualTo(8);
        assertThat(RefinedPipeline.refinerStart(leading10, cut)).isEqualTo(8);
        // A timestep equal to the cutoff belongs to the base.
        assertThat(RefinedPipeline.baseEnd(leading10, 201)).isEqualTo(8);
        assertThat(RefinedPipeline.refinerStart(leading10, 201)).isEqualTo(8);
        // Python's round: half to even (2.5 -> 2), not half up.
        assertThat(RefinedPipeline.cutoff(4, 0.375)).isEqualTo(2);
        assertThat(RefinedPipeline.cutoff(4, 0.125)).isEqualTo(4);
        // Another schedule for the refiner (e.g. another step count) is cut on its own.
        float[] trailing4 = {999, 749, 499, 249};
        assertThat(RefinedPipeline.refinerStart(trailing4, cut)).isEqualTo(4);
        assertThat(RefinedPipeline.baseEnd(trailing4, cut)).isEqualTo(4);
    }

    @Test
    void switchAtAndClosingAreChecked() throws Exception {
        assertThatThrownBy(() -> base().withRefiner(refiner(), 1.0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("switchAt must be in (0, 1)");
        assertThatThrownBy(() -> base().withRefiner(refiner(), 0))
                .isInstanceOf(IllegalArgumentException.class);
        GenerationRequest tiny = GenerationRequest.builder("a cat face").steps(2).seed(1)
                .guidanceScale(1).build();
        // Two leading steps are 501 and 1: a cutoff of 990 leaves the base none, one of 0
        // (round(0.5) = 0) the refiner none.
        try (Pipeline two = base().withRefiner(refiner(), 0.01)) {
            assertThatThrownBy(() -> two.generate(tiny))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("leaves the base no step");
        }
        try (Pipeline two = base().withRefiner(refiner(), 0.9995)) {
            assertThatThrownBy(() -> two.generate(tiny))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("leaves the refiner no step");
        }
        DiffusionPipeline b = DiffusionPipeline.load(DiffusersParityTest.fixture("sdxl"),
                PipelineOptions.defaults());
        DiffusionPipeline r = DiffusionPipeline.load(dir(), PipelineOptions.defaults());
        try (b; r) {
            Pipeline two = b.withRefiner(r, 0.5);
            GenerationResult once = two.generate(tiny);
            assertThat(two.generate(tiny).images()).as("same seed, same images")
                    .isEqualTo(once.images());
            r.close();
            assertThatThrownBy(() -> two.generate(tiny))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
            assertThat(b.generate(tiny).images()).hasSize(1); // the base stays usable
            two.close();
            assertThatThrownBy(() -> two.generate(tiny))
                    .isInstanceOf(IllegalStateException.class);
        }
    }
}
