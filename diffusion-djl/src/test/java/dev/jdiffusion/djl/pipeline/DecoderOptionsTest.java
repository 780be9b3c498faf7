package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.AutoencoderTiny;
import dev.jdiffusion.djl.nn.AutoencoderTinyConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.djl.weights.StateDict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TAESD as final and preview decoder, tiled VAE and latent-to-RGB previews in the pipeline. */
class DecoderOptionsTest {

    /** A 2-stage TAESD (factor 2, 4 latent channels) fitting the tiny text-to-image model. */
    static final String TAESD_FACTOR_2 = """
            {"_class_name": "AutoencoderTiny", "encoder_block_out_channels": [8, 8],
             "decoder_block_out_channels": [8, 8], "num_encoder_blocks": [1, 1],
             "num_decoder_blocks": [1, 1], "latent_channels": 4}
            """;

    static Path writeTaesd(Path dir) throws Exception {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), TAESD_FACTOR_2);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            AutoencoderTiny t = new AutoencoderTiny(AutoencoderTinyConfig.fromJson(TAESD_FACTOR_2));
            TinyModels.init(t, m, 9);
            StateDict.save(ParameterNames.of(t), dir.resolve("diffusion_pytorch_model.safetensors"),
                    DataType.FLOAT32, Map.of());
        }
        return dir;
    }

    private static GenerationRequest.Builder request() {
        return GenerationRequest.builder("a cat face").steps(3).seed(5).guidanceScale(3)
                .sampler("euler");
    }

    @Test
    void taesdDecodesFinalImagesAndPreviews(@TempDir Path tmp) throws Exception {
        Path model = TinyPipelines.textToImage();
        Path taesd = writeTaesd(tmp.resolve("taesd"));
        GenerationResult plain;
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            plain = p.generate(request().previewEvery(1).build());
        }
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTaesd(taesd))) {
            GenerationResult r = p.generate(request().previewEvery(1).build());
            assertThat(r.images().get(0).width()).isEqualTo(plain.images().get(0).width());
            assertThat(r.progressions().get(0)).hasSize(3);
            // the last preview is the final latents, decoded by the same TAESD
            assertThat(r.progressions().get(0).get(2).rgb())
                    .containsExactly(r.images().get(0).rgb());
            assertThat(r.images().get(0).rgb()).isNotEqualTo(plain.images().get(0).rgb());
        }
        // TAESD previews only: the final image is the VAE's, bit for bit
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTaesd(taesd).withTaesdFinal(false))) {
            GenerationResult r = p.generate(request().previewEvery(1).build());
            assertThat(r.images().get(0).rgb()).containsExactly(plain.images().get(0).rgb());
            assertThat(r.progressions().get(0).get(2).rgb())
                    .isNotEqualTo(plain.progressions().get(0).get(2).rgb());
        }
    }

    @Test
    void latentRgbPreviewsAreImageSized(@TempDir Path tmp) throws Exception {
        Path model = TinyPipelines.textToImage();
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withPreviews(PreviewDecoder.LATENT_RGB))) {
            GenerationResult r = p.generate(request().previewEvery(1).numImages(2).build());
            assertThat(r.progressions()).hasSize(2);
            var last = r.progressions().get(1).get(2);
            assertThat(last.width()).isEqualTo(r.images().get(1).width());
            assertThat(last.height()).isEqualTo(r.images().get(1).height());
            // nearest-neighbour upsampling by the VAE factor 2: 2×2 blocks of one colour
            for (int y = 0; y < last.height(); y += 2) {
                for (int x = 0; x < last.width(); x += 2) {
                    assertThat(last.rgb(x + 1, y + 1)).isEqualTo(last.rgb(x, y));
                }
            }
        }
    }

    @Test
    void tiledVaeDecodesLargeImagesInTiles() throws Exception {
        // VAE sample_size 32 (factor 2): 64×64 images are decoded as 16-latent tiles
        Path model = DiffusersParityTest.fixture("sd1");
        GenerationRequest req = request().size(64, 48).build();
        int[] plain;
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            plain = p.generate(req).images().get(0).rgb();
        }
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTiledVae(true))) {
            int[] tiled = p.generate(req).images().get(0).rgb();
            assertThat(tiled).hasSameSizeAs(plain).isNotEqualTo(plain);
            // a request no larger than one tile is decoded whole: identical
            GenerationRequest small = request().size(32, 32).build();
            try (DiffusionPipeline q = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
                assertThat(p.generate(small).images().get(0).rgb())
                        .containsExactly(q.generate(small).images().get(0).rgb());
            }
        }
    }

    @Test
    void badTaesdFoldersFailWithClearMessages(@TempDir Path tmp) {
        Path model = TinyPipelines.textToImage();
        Path missing = tmp.resolve("no-such-taesd");
        assertThatThrownBy(() -> DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTaesd(missing)))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("TAESD folder not found").hasMessageContaining("taesd");
        // 16 latent channels (an SD3/Flux-style TAESD) for a 4-channel model
        assertThatThrownBy(() -> DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTaesd(
                        DiffusersParityTest.fixture("taesd-silu"))))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("latent_channels 16")
                .hasMessageContaining("4 latent channels");
        // factor 8 for a factor-2 VAE
        assertThatThrownBy(() -> DiffusionPipeline.load(model, PipelineOptions.defaults(),
                DecoderOptions.defaults().withTaesd(DiffusersParityTest.fixture("taesd"))))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("factor of 8");
        // pixel-space model
        assertThatThrownBy(() -> DiffusionPipeline.load(TinyPipelines.classConditional(),
                PipelineOptions.defaults(), DecoderOptions.defaults().withTiledVae(true)))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("no VAE");
        assertThatThrownBy(() -> DecoderOptions.defaults().withPreviews(PreviewDecoder.TAESD))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("withTaesd");
    }

    @Test
    void latentRgbIsAFixedLinearMapClampedToUnitRange() {
        Random r = new Random(3);
        int h = 3;
        int w = 5;
        float[] z = new float[2 * 4 * h * w];
        for (int i = 0; i < z.length; i++) {
            z[i] = (float) (r.nextGaussian() * 0.5);
        }
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (LatentRgb map : LatentRgb.values()) {
                NDArray latents = m.create(z, new Shape(2, 4, h, w));
                float[] rgb = map.toRgb(latents).toFloatArray();
                assertThat(map.toRgb(latents).getShape()).isEqualTo(new Shape(2, 3, h, w));
                for (int n = 0; n < 2; n++) {
                    for (int c = 0; c < 3; c++) {
                        for (int p = 0; p < h * w; p++) {
                            double sum = map.bias(c);
                            for (int k = 0; k < 4; k++) {
                                sum += z[(n * 4 + k) * h * w + p] * map.factor(k, c);
                            }
                            double expected = Math.max(-1, Math.min(1, sum));
                            assertThat((double) rgb[(n * 3 + c) * h * w + p])
                                    .isCloseTo(expected, org.assertj.core.api.Assertions
                                            .within(1e-6));
                        }
                    }
                }
                // large latents saturate at ±1
                float[] big = map.toRgb(latents.mul(100)).toFloatArray();
                for (float v : big) {
                    assertThat(v).isBetween(-1f, 1f);
                }
                assertThat(big).contains(1f, -1f);
                assertThat(map.preview(latents, 8).getShape()).isEqualTo(
                        new Shape(2, 3, 8 * h, 8 * w));
            }
            // SD 1.x's table, which maps a zero latent to mid grey, and a known entry
            assertThat(LatentRgb.SD1.toRgb(m.zeros(new Shape(1, 4, 1, 1))).toFloatArray())
                    .containsExactly(0f, 0f, 0f);
            assertThat(LatentRgb.SD1.factor(3, 2)).isEqualTo(-0.7177f);
            assertThat(LatentRgb.forVae(4, 0.13025f)).isEqualTo(LatentRgb.SDXL);
            assertThat(LatentRgb.forVae(4, 0.18215f)).isEqualTo(LatentRgb.SD1);
            assertThatThrownBy(() -> LatentRgb.forVae(16, 1f))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("4 latent channels");
            assertThatThrownBy(() -> LatentRgb.SD1.toRgb(m.zeros(new Shape(1, 3, 2, 2))))
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(Arrays.stream(LatentRgb.values()).count()).isEqualTo(2);
    }
}
