package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
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
}
