package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class DiffusionPipelineTest {

    private static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        pipeline = DiffusionPipeline.load(TinyPipelines.textToImage(), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        pipeline.close();
    }

    private static GenerationRequest.Builder request(String prompt) {
        return GenerationRequest.builder(prompt).steps(4).seed(11).guidanceScale(3);
    }

    @Test
    void loadsModelSettingsFromTheFolder() {
        assertThat(pipeline.modelName()).isEqualTo("tiny-text");
        assertThat(pipeline.defaultSize()).isEqualTo(16); // sample_size 8 x VAE factor 2
        assertThat(pipeline.defaultGuidance()).isEqualTo(5.0);
        assertThat(pipeline.isConditional()).isTrue();
    }

    @Test
    void sameRequestGivesIdenticalPixelsAndDifferentSeedsDiffer() {
        GeneratedImage a = pipeline.generate(request("a cat face").build()).images().get(0);
        GeneratedImage b = pipeline.generate(request("a cat face").build()).images().get(0);
        GeneratedImage c = pipeline.generate(request("a cat face").seed(12).build()).images()
                .get(0);
        assertThat(a.rgb()).containsExactly(b.rgb());
        assertThat(a.rgb()).isNotEqualTo(c.rgb());
        assertThat(a.width()).isEqualTo(16);
        assertThat(a.seed()).hasValue(11);
    }

    @Test
    void halfPrecisionWeightsOnCpuGiveNearlyTheSameImages() throws Exception {
        try (DiffusionPipeline half = DiffusionPipeline.load(TinyPipelines.textToImage(),
                PipelineOptions.defaults().withHalf(true))) {
            for (String sampler : List.of("euler", "dpmpp_2m")) {
                GenerationRequest r = request("a cat face").sampler(sampler).build();
                int[] a = pipeline.generate(r).images().get(0).rgb();
                int[] b = half.generate(r).images().get(0).rgb();
                long sum = 0;
                int max = 0;
                for (int i = 0; i < a.length; i++) {
                    for (int shift = 0; shift <= 16; shift += 8) {
                        int d = Math.abs(((a[i] >> shift) & 0xFF) - ((b[i] >> shift) & 0xFF));
                        sum += d;
                        max = Math.max(max, d);
                    }
                }
                // Weights rounded to float16 (relative error 2^-11) move pixels by rounding
                // steps at most; a broken widening (wrong type, wrong weights) moves them by
                // tens of levels.
                assertThat((double) sum / (3 * a.length)).as(sampler).isLessThan(1.0);
                assertThat(max).as(sampler).isLessThanOrEqualTo(8);
            }
        }
    }

    @Test
    void imageOfABatchEqualsTheSingleRequestWithItsSeed() {
        for (String sampler : List.of("euler_a", "dpmpp_2m")) {
            GenerationResult batch = pipeline.generate(
                    request("blue car").sampler(sampler).numImages(3).build());
            assertThat(batch.seeds()).containsExactly(11L, 12L, 13L);
            GeneratedImage third = pipeline.generate(
                    request("blue car").sampler(sampler).seed(13).build()).images().get(0);
            assertThat(batch.images().get(2).rgb()).as(sampler).containsExactly(third.rgb());
        }
    }

    @Test
    void pngCarriesTheParameters() {
        GeneratedImage img = pipeline.generate(
                request("a red apple").negativePrompt("blurry").sampler("ddim").build())
                .images().get(0);
        String params = img.text().get(GeneratedImage.PARAMETERS_KEY);
        assertThat(params).startsWith("a red apple\nNegative prompt: blurry\nSteps: 4, ")
                .contains("Sampler: ddim", "CFG scale: 3.0", "Seed: 11", "Size: 16x16",
                        "Model: tiny-text");
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void concurrentCallsEqualSequentialOnes() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>();
        String[] prompts = {"a cat face", "dog face", "blue car", ""};
        String[] samplers = {"euler", "euler_a", "dpmpp_2m_sde", "heun"};
        for (int i = 0; i < 16; i++) {
            requests.add(request(prompts[i % 4]).sampler(samplers[(i / 4) % 4]).seed(100 + i)
                    .guidanceScale(i % 3 == 0 ? 1 : 4).build());
        }
        List<int[]> sequential = new ArrayList<>();
        for (GenerationRequest r : requests) {
            sequential.add(pipeline.generate(r).images().get(0).rgb());
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<int[]>> futures = new ArrayList<>();
            for (GenerationRequest r : requests) {
                futures.add(pool.submit(() -> pipeline.generate(r).images().get(0).rgb()));
            }
            for (int i = 0; i < requests.size(); i++) {
                assertThat(futures.get(i).get()).as("request %d", i)
                        .containsExactly(sequential.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void cancellingStopsAtThatStep() {
        AtomicInteger seen = new AtomicInteger();
        GenerationRequest r = request("a cat face").steps(10).listener(e -> {
            seen.incrementAndGet();
            return e.stepIndex() < 3;
        }).build();
        assertThatThrownBy(() -> pipeline.generate(r))
                .isInstanceOf(GenerationCancelledException.class)
                .satisfies(e -> assertThat(((GenerationCancelledException) e).step()).isEqualTo(3));
        assertThat(seen.get()).isEqualTo(4);
    }

    @Test
    void imageToImageWithStrengthZeroReturnsTheRoundTrippedInitImage() {
        GeneratedImage init = pattern(16, 16);
        GeneratedImage out = pipeline.generate(request("a cat face").initImage(init).strength(0)
                .build()).images().get(0);
        GeneratedImage direct = roundTrip(init);
        assertThat(out.rgb()).containsExactly(direct.rgb());
    }

    @Test
    void imageToImageStrengthChangesTheResult() {
        GeneratedImage init = pattern(16, 16);
        GeneratedImage weak = pipeline.generate(request("a cat face").initImage(init)
                .strength(0.5).build()).images().get(0);
        GeneratedImage full = pipeline.generate(request("a cat face").initImage(init)
                .strength(1).build()).images().get(0);
        assertThat(weak.rgb()).isNotEqualTo(full.rgb());
    }

    @Test
    void inpaintingKeepsTheUnmaskedRegion() {
        GeneratedImage init = pattern(16, 16);
        int[] m = new int[256];
        for (int y = 0; y < 16; y++) {
            for (int x = 8; x < 16; x++) {
                m[y * 16 + x] = 0xFFFFFF; // repaint the right half
            }
        }
        GeneratedImage mask = new GeneratedImage(16, 16, m, null, Map.of());
        GeneratedImage out = pipeline.generate(request("a cat face").initImage(init).mask(mask)
                .strength(1).build()).images().get(0);
        boolean changed = false;
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                if (x < 8) {
                    assertThat(out.rgb(x, y)).isEqualTo(init.rgb(x, y));
                } else {
                    changed |= out.rgb(x, y) != init.rgb(x, y);
                }
            }
        }
        assertThat(changed).isTrue();
    }

    @Test
    void progressionKeepsAnEstimateEveryKSteps() {
        GenerationResult r = pipeline.generate(request("dog face").steps(5).previewEvery(2)
                .numImages(2).build());
        assertThat(r.progressions()).hasSize(2);
        assertThat(r.progressions().get(0)).hasSize(3); // after steps 2, 4 and the last
        assertThat(r.progressions().get(0).get(2).rgb())
                .containsExactly(r.images().get(0).rgb());
    }

    @Test
    void invalidRequestsFailBeforeNativeWork() {
        assertThatThrownBy(() -> pipeline.generate(request("x").sampler("nope").build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sampler")
                .hasMessageContaining("euler_a");
        assertThatThrownBy(() -> pipeline.generate(request("x").size(12, 16).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("width");
        assertThatThrownBy(() -> pipeline.generate(request("x").steps(0).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("steps");
        assertThatThrownBy(() -> pipeline.generate(request("x").strength(1.5).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("strength");
        GeneratedImage small = new GeneratedImage(8, 8, new int[64], null, Map.of());
        assertThatThrownBy(() -> pipeline.generate(request("x").initImage(pattern(16, 16))
                .mask(small).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("mask size");
        assertThatThrownBy(() -> pipeline.generate(request("x").initImage(pattern(16, 16))
                .size(32, 32).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("initImage");
    }

    @Test
    void closedPipelineRefusesWork() throws Exception {
        DiffusionPipeline p = DiffusionPipeline.load(TinyPipelines.textToImage(),
                PipelineOptions.defaults());
        p.close();
        p.close(); // idempotent
        assertThatThrownBy(() -> p.generate(request("x").build()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void classConditionalPixelModelWorksThroughTheSamePipeline() throws Exception {
        try (DiffusionPipeline p = DiffusionPipeline.load(TinyPipelines.classConditional(),
                PipelineOptions.defaults())) {
            assertThat(p.defaultSize()).isEqualTo(16);
            GenerationResult r = p.generate(GenerationRequest.builder("moon").steps(3).seed(1)
                    .build());
            GenerationResult r2 = p.generate(GenerationRequest.builder("1").steps(3).seed(1)
                    .build());
            assertThat(r.images().get(0).rgb()).containsExactly(r2.images().get(0).rgb());
            assertThatThrownBy(() -> p.generate(GenerationRequest.builder("sun").build()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("unknown class 'sun'").hasMessageContaining("moon");
        }
    }

    @Test
    void missingAndPickleModelsAreRefusedClearly(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> DiffusionPipeline.load(dir.resolve("none"),
                PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not found");
        Path ckpt = Files.write(dir.resolve("model.ckpt"), new byte[] {(byte) 0x80, 2, 3});
        assertThatThrownBy(() -> DiffusionPipeline.load(ckpt, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("safetensors");
        assertThatThrownBy(() -> DiffusionPipeline.load(dir, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("model_index.json");
    }

    private static GeneratedImage pattern(int w, int h) {
        int[] px = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                px[y * w + x] = ((x * 16) << 16) | ((y * 16) << 8) | ((x + y) % 2 == 0 ? 200 : 40);
            }
        }
        return new GeneratedImage(w, h, px, null, Map.of());
    }

    /** The init image through the pipeline's own VAE: decode(encode(x)). */
    private static GeneratedImage roundTrip(GeneratedImage img) {
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager("PyTorch")) {
            LatentCodec codec = pipeline.codec();
            ai.djl.ndarray.NDArray pixels = codec.decode(codec.encode(
                    ImageTensors.toTensor(m, img)));
            return ImageTensors.toImage(pixels, 0, null, Map.of());
        }
    }
}
