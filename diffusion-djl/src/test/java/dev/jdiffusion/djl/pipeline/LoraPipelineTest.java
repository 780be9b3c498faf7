package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraFixtures;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.text.TextualInversion;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Derived LoRA pipelines: the same images as a model whose files hold the pre-merged weights
 * (merged in plain Java here), base and derived pipelines running concurrently unaffected by each
 * other, lifetimes, and the A1111 parameters text.
 */
class LoraPipelineTest {

    private static final double WEIGHT = 0.8;

    @TempDir
    static Path tmp;

    private static Path model;
    private static Path loraFile;
    private static Path mergedModel;
    private static int unetPairs;
    private static DiffusionPipeline base;

    @BeforeAll
    static void prepare() throws Exception {
        model = TinyPipelines.textToImage();
        Path unetFile = model.resolve("unet/diffusion_pytorch_model.safetensors");
        Path textFile = model.resolve("text_encoder/model.safetensors");
        mergedModel = tmp.resolve("merged");
        LoraFixtures.copyTree(model, mergedModel);
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile u = SafetensorsFile.open(unetFile);
                SafetensorsFile t = SafetensorsFile.open(textFile)) {
            LoraFixtures f = new LoraFixtures(m, 21);
            Map<String, Object[]> unetMerge = new LinkedHashMap<>();
            Map<String, Object[]> textMerge = new LinkedHashMap<>();
            for (TensorInfo info : u.tensors().values()) {
                String n = info.name();
                boolean attention = n.matches(".*\\.attn[12]\\.(to_q|to_k|to_v|to_out\\.0)\\.weight");
                boolean conv = n.equals("up_blocks.0.resnets.1.conv2.weight");
                if (attention || conv) {
                    String k = "lora_unet_" + n.substring(0, n.length() - 7).replace('.', '_');
                    unetMerge.put(n, new Object[] {f.add(k + ".lora_down.weight",
                            k + ".lora_up.weight", k + ".alpha", 2f, info.dims(), 4), WEIGHT});
                }
            }
            for (String n : List.of("text_model.encoder.layers.0.self_attn.v_proj.weight",
                    "text_model.encoder.layers.1.mlp.fc2.weight")) {
                String k = "text_encoder." + n.substring(0, n.length() - 7);
                textMerge.put(n, new Object[] {f.add(k + ".lora_A.weight", k + ".lora_B.weight",
                        null, 0, t.info(n).dims(), 2), WEIGHT});
            }
            unetPairs = unetMerge.size();
            loraFile = f.write(tmp.resolve("tiny-style.safetensors"));
            LoraFixtures.rewrite(m, u, unetMerge, mergedModel.resolve("unet/diffusion_pytorch_model.safetensors"));
            LoraFixtures.rewrite(m, t, textMerge, mergedModel.resolve("text_encoder/model.safetensors"));
        }
        base = DiffusionPipeline.load(model, PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        base.close();
    }

    private static GenerationRequest request(String prompt) {
        return GenerationRequest.builder(prompt).steps(4).seed(5).guidanceScale(3).build();
    }

    private static int[] image(DiffusionPipeline p, String prompt) {
        return p.generate(request(prompt)).images().get(0).rgb();
    }

    static int maxChannelDiff(int[] a, int[] b) {
        int m = 0;
        for (int i = 0; i < a.length; i++) {
            for (int s = 0; s < 24; s += 8) {
                m = Math.max(m, Math.abs(((a[i] >> s) & 0xFF) - ((b[i] >> s) & 0xFF)));
            }
        }
        return m;
    }

    @Test
    void derivedPipelineDrawsWhatThePreMergedModelDraws() throws Exception {
        int[] before = image(base, "a cat face");
        try (DiffusionPipeline derived = base.withLoras(List.of(Lora.of(loraFile, WEIGHT)));
                DiffusionPipeline merged = DiffusionPipeline.load(mergedModel,
                        PipelineOptions.defaults())) {
            assertThat(derived.loras()).hasValueSatisfying(r -> {
                assertThat(r.unetLayers()).isEqualTo(unetPairs);
                assertThat(r.textEncoderLayers()).isEqualTo(2);
            });
            int[] viaLora = image(derived, "a cat face");
            int[] viaFiles = image(merged, "a cat face");
            assertThat(maxChannelDiff(viaLora, viaFiles)).isLessThanOrEqualTo(1);
            assertThat(maxChannelDiff(viaLora, before)).as("the LoRA changes the image")
                    .isGreaterThan(3);
        }
        // The base is untouched, before and after the derived pipeline's life.
        assertThat(image(base, "a cat face")).containsExactly(before);
    }

    @Test
    @Timeout(300)
    void baseAndDerivedRunConcurrentlyAndGiveTheirSingleThreadedImages() throws Exception {
        try (DiffusionPipeline derived = base.withLoras(List.of(Lora.of(loraFile, WEIGHT)))) {
            int[] baseAlone = image(base, "a red apple");
            int[] derivedAlone = image(derived, "a red apple");
            assertThat(derivedAlone).isNotEqualTo(baseAlone);
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                List<Future<int[]>> onBase = new ArrayList<>();
                List<Future<int[]>> onDerived = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    onBase.add(pool.submit(() -> image(base, "a red apple")));
                    onDerived.add(pool.submit(() -> image(derived, "a red apple")));
                }
                for (Future<int[]> f : onBase) {
                    assertThat(f.get()).containsExactly(baseAlone);
                }
                for (Future<int[]> f : onDerived) {
                    assertThat(f.get()).containsExactly(derivedAlone);
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void lorasAndEmbeddingsCombineInEitherOrder() throws Exception {
        float[][] v = new float[1][16];
        java.util.Random r = new java.util.Random(11);
        for (int i = 0; i < v[0].length; i++) {
            v[0][i] = (float) r.nextGaussian();
        }
        List<TextualInversion> ti = List.of(TextualInversion.of("zq", v));
        try (DiffusionPipeline own = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            DiffusionPipeline lora = own.withLoras(List.of(Lora.of(loraFile, 1.0)));
            DiffusionPipeline loraThenTi = lora.withEmbeddings(ti);
            DiffusionPipeline tiThenLora = own.withEmbeddings(ti)
                    .withLoras(List.of(Lora.of(loraFile, 1.0)));
            int[] both = image(loraThenTi, "a zq car");
            assertThat(image(tiThenLora, "a zq car")).containsExactly(both);
            assertThat(both).isNotEqualTo(image(lora, "a zq car")); // the embedding counts
            assertThat(image(loraThenTi, "blue car")).containsExactly(image(lora, "blue car"));
            assertThat(tiThenLora.loras()).isPresent();
            // The embeddings pipeline uses the LoRA pipeline's patched arrays: closing that
            // one stops it.
            lora.close();
            assertThatThrownBy(() -> image(loraThenTi, "blue car"))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            assertThat(image(tiThenLora, "a zq car")).containsExactly(both);
            tiThenLora.close();
        }
    }

    @Test
    void closingDerivedKeepsTheBaseAndClosingTheBaseStopsTheDerived() throws Exception {
        try (DiffusionPipeline own = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            int[] before = image(own, "blue car");
            DiffusionPipeline d1 = own.withLoras(List.of(Lora.of(loraFile, 1.0)));
            DiffusionPipeline d2 = own.withLoras(List.of(Lora.of(loraFile, -0.5)));
            image(d1, "blue car");
            d1.close();
            assertThatThrownBy(() -> image(d1, "blue car"))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            assertThat(image(own, "blue car")).containsExactly(before);
            image(d2, "blue car");
            own.close();
            assertThatThrownBy(() -> image(d2, "blue car"))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("base pipeline");
            d2.close(); // harmless after the base closed
        }
    }

    @Test
    void derivingFromADerivedPipelineStacksTheLoras() throws Exception {
        try (DiffusionPipeline half = base.withLoras(List.of(Lora.of(loraFile, WEIGHT / 2)));
                DiffusionPipeline twice = half.withLoras(List.of(Lora.of(loraFile, WEIGHT / 2)));
                DiffusionPipeline merged = DiffusionPipeline.load(mergedModel,
                        PipelineOptions.defaults())) {
            assertThat(twice.loras().orElseThrow().loras()).hasSize(2);
            assertThat(maxChannelDiff(image(twice, "dog face"), image(merged, "dog face")))
                    .isLessThanOrEqualTo(1);
        }
    }

    @Test
    void parametersRecordTheLorasAsA1111Does() throws Exception {
        try (DiffusionPipeline derived = base.withLoras(List.of(Lora.of(loraFile, WEIGHT)))) {
            GeneratedImage untagged = derived.generate(request("a cat face")).images().get(0);
            ImageParameters p = untagged.parameters().orElseThrow();
            assertThat(p.prompt()).isEqualTo("a cat face <lora:tiny-style:0.8>");
            String hash = dataSha256(loraFile).substring(0, 12);
            assertThat(p.settings()).containsEntry("Lora hashes", "tiny-style: " + hash);
            assertThat(untagged.text().get(GeneratedImage.PARAMETERS_KEY))
                    .contains("Lora hashes: \"tiny-style: " + hash + "\"");
            // A prompt that already tags the LoRA is recorded as it is.
            GeneratedImage tagged = derived.generate(request("<lora:tiny-style:0.8>, a cat face"))
                    .images().get(0);
            assertThat(tagged.parameters().orElseThrow().prompt())
                    .isEqualTo("<lora:tiny-style:0.8>, a cat face");
            // The tag is not encoded: the same image as the untagged prompt ("a cat face").
            GeneratedImage plain = derived.generate(request(", a cat face")).images().get(0);
            assertThat(tagged.rgb()).containsExactly(plain.rgb());
            assertThatThrownBy(() -> derived.generate(request("<lora:tiny-style:0.5> a cat")))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("weight 0.5").hasMessageContaining("weight 0.8");
            assertThatThrownBy(() -> derived.generate(request("<lora:other:1> a cat")))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("no such LoRA");
        }
    }

    /** SHA-256 of everything after the safetensors header, written here independently. */
    private static String dataSha256(Path file) throws Exception {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update(all, (int) (8 + n), (int) (all.length - 8 - n));
        return HexFormat.of().formatHex(sha.digest());
    }
}
