package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A model whose weights are all finite but whose output overflows float32 (the UNet's {@code
 * conv_out} weights multiplied by 1e30 before saving): loading accepts it (the weights are
 * finite), generating must fail with an error naming the step, never return an image.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class NonFiniteOutputTest {

    private static Path dir;
    private static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        TinyModel.folder();
        dir = TinyModel.scratch("overflow-");
        TinyModel.write(dir.resolve("model"), 1e30f);
        pipeline = DiffusionPipeline.load(dir.resolve("model"), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
        TinyModel.deleteTree(dir);
    }

    @Test
    void overflowingModelFailsNamingTheStepAndProducesNoImage() throws Exception {
        int before = NativeArrays.live();
        List<String> messages = new ArrayList<>();
        for (String sampler : List.of("euler", "euler_a", "ddim", "dpmpp_2m", "heun", "lms",
                "ddpm", "dpmpp_2m_sde")) {
            List<Integer> stepsSeen = new ArrayList<>();
            GenerationRequest r = GenerationRequest.builder("a cat").steps(6).seed(3)
                    .sampler(sampler).listener(e -> {
                        stepsSeen.add(e.stepIndex());
                        return true;
                    }).build();
            Object[] result = new Object[1];
            assertThatThrownBy(() -> result[0] = pipeline.generate(r))
                    .as(sampler)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageMatching("(?s).*NaN or infinite values at step \\d+ of \\d+.*")
                    // The request is ordinary (guidance 7.5): the message blames the weights.
                    .hasMessageContaining("weights may be corrupt")
                    .hasMessageNotContaining("guidance scale");
            assertThat(result[0]).as("no result for " + sampler).isNull();
            // The user's listener never sees the bad step: the check runs before it.
            try {
                pipeline.generate(r);
            } catch (IllegalStateException e) {
                messages.add(sampler + ": " + e.getMessage());
                int step = Integer.parseInt(e.getMessage().replaceAll(
                        "(?s).*at step (\\d+) of.*", "$1"));
                assertThat(stepsSeen).as(sampler).allMatch(s -> s + 1 < step);
            }
        }
        assertThat(NativeArrays.live()).as("native arrays after failed generations")
                .isEqualTo(before);
        messages.forEach(m -> System.out.println("[reliability] overflow: " + m));
    }

    @Test
    void imageToImageAndInpaintingAlsoFail() {
        GenerationRequest.Builder b = GenerationRequest.builder("a cat").steps(4).seed(1)
                .initImage(TinyModels.pattern(16, 16, 1)).strength(0.75);
        assertThatThrownBy(() -> pipeline.generate(b.build()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("step");
        assertThatThrownBy(() -> pipeline.generate(b.mask(TinyModels.leftHalfMask(16, 16))
                .build()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("step");
    }

    @Test
    void theSameWeightsWithoutTheScaleGenerateFiniteImages() throws Exception {
        // Control: the failure above comes from the scaled weights, not from the setup.
        try (DiffusionPipeline ok = DiffusionPipeline.load(TinyModel.folder(),
                PipelineOptions.defaults())) {
            var r = ok.generate(GenerationRequest.builder("a cat").steps(6).seed(3).build());
            assertThat(r.images()).hasSize(1);
            Path png = dir.resolve("ok.png");
            r.images().get(0).writePng(png);
            assertThat(Files.size(png)).isPositive();
        }
    }
}
