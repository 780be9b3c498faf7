package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.text.PromptParseException;
import dev.jdiffusion.djl.text.TextualInversion;
import dev.jdiffusion.djl.testing.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Clip skip, prompt syntax, long prompts and textual inversion through the pipeline. */
class PromptFeaturesPipelineTest {

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
        return GenerationRequest.builder(prompt).steps(3).seed(11).guidanceScale(3);
    }

    private static GeneratedImage image(DiffusionPipeline p, GenerationRequest.Builder r) {
        return p.generate(r.build()).images().get(0);
    }

    @Test
    void clipSkipPerRequestIsWrittenAsA1111CountsItAndReadBack() {
        GeneratedImage plain = image(pipeline, request("a cat face"));
        GeneratedImage zero = image(pipeline, request("a cat face").clipSkip(0));
        GeneratedImage skip = image(pipeline, request("a cat face").clipSkip(1));
        assertThat(zero.rgb()).containsExactly(plain.rgb());
        assertThat(skip.rgb()).isNotEqualTo(plain.rgb());
        String text = skip.text().get(GeneratedImage.PARAMETERS_KEY);
        assertThat(text).contains("Clip skip: 2");
        assertThat(plain.text().get(GeneratedImage.PARAMETERS_KEY)).doesNotContain("Clip skip");
        assertThat(ImageParameters.parse(text).orElseThrow().clipSkip()).isEqualTo(1);
        assertThat(ImageParameters.parse(plain.text().get(GeneratedImage.PARAMETERS_KEY))
                .orElseThrow().clipSkip()).isZero();
        // The tiny encoder has 2 layers: skipping 2 leaves none.
        assertThatThrownBy(() -> pipeline.generate(request("x").clipSkip(2).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clipSkip");
        assertThatThrownBy(() -> request("x").clipSkip(-1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("clipSkip");
    }

    @Test
    void promptSyntaxIsTheModelsUnlessTheRequestSaysOtherwise() {
        // (The tiny model's encoder has a final LayerNorm without bias, so its states have mean
        // about 0 and weights other than 1 scale them arbitrarily: ClipConditionerTest checks
        // weights on an encoder with a bias. Here: BREAK, escapes and weight 1.)
        GeneratedImage broken = image(pipeline, request("a cat BREAK face"));
        GeneratedImage plainText = image(pipeline, request("a cat BREAK face")
                .promptSyntax("plain"));
        GeneratedImage unweighted = image(pipeline, request("a cat face"));
        assertThat(broken.rgb()).isNotEqualTo(unweighted.rgb());
        assertThat(plainText.rgb()).isNotEqualTo(broken.rgb());
        assertThat(image(pipeline, request("a (cat:1) face")).rgb())
                .containsExactly(unweighted.rgb());
        assertThat(image(pipeline, request("a \\(cat\\) face")).rgb()).containsExactly(
                image(pipeline, request("a (cat) face").promptSyntax("plain")).rgb());
        assertThatThrownBy(() -> pipeline.generate(request("a (cat face").build()))
                .isInstanceOf(PromptParseException.class).hasMessageContaining("position 2");
        assertThatThrownBy(() -> pipeline.generate(request("x").negativePrompt("blur)").build()))
                .isInstanceOf(PromptParseException.class).hasMessageContaining("position 4");
        assertThat(image(pipeline, request("a (cat face").promptSyntax("plain"))).isNotNull();
        assertThatThrownBy(() -> request("x").promptSyntax("comfy").build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("promptSyntax");
    }

    @Test
    void aModelFolderCanDeclarePlainSyntax(@TempDir Path dir) throws Exception {
        Path copy = dir.resolve("plain");
        copyTree(TinyPipelines.textToImage(), copy);
        Path settings = copy.resolve(ModelFolder.SETTINGS);
        String json = Files.readString(settings);
        Files.writeString(settings, json.replaceFirst("\\{", "{ \"prompt_syntax\": \"plain\","));
        try (DiffusionPipeline p = DiffusionPipeline.load(copy, PipelineOptions.defaults())) {
            GeneratedImage a = image(p, request("grinning (smileys & emotion, face"));
            GeneratedImage b = image(pipeline, request("grinning (smileys & emotion, face")
                    .promptSyntax("plain"));
            assertThat(a.rgb()).containsExactly(b.rgb());
            assertThat(image(p, request("a cat BREAK face").promptSyntax("a1111")).rgb())
                    .containsExactly(image(pipeline, request("a cat BREAK face")).rgb());
        }
        Files.writeString(settings, json.replaceFirst("\\{", "{ \"prompt_syntax\": \"nai\","));
        assertThatThrownBy(() -> DiffusionPipeline.load(copy, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("prompt_syntax");
    }

    @Test
    void longPromptsAndShortNegativesArePaddedToTheSameLength() throws Exception {
        String longPrompt = "a cat face, ".repeat(30); // 120 tokens: two chunks
        GeneratedImage img = image(pipeline, request(longPrompt).negativePrompt("dog"));
        assertThat(img.width()).isEqualTo(16);
        assertThat(image(pipeline, request("dog").negativePrompt(longPrompt))).isNotNull();
        // The padding is the empty prompt's encoding, appended to the shorter side.
        Path dir = TinyPipelines.textToImage();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel text = new ClipTextModel(ClipTextConfig.fromJson(
                    dir.resolve("text_encoder/config.json")));
            ai.djl.nn.Block b = text;
            try (var f = dev.jdiffusion.djl.safetensors.SafetensorsFile.open(
                    dir.resolve("text_encoder/model.safetensors"))) {
                dev.jdiffusion.djl.weights.StateDict.load("text", 
                        dev.jdiffusion.djl.nn.ParameterNames.of(b), List.of(f),
                        dev.jdiffusion.djl.weights.KeyMapping.identity().skipping(
                                ClipTextModel.BUFFER_KEYS::contains), m,
                        ai.djl.ndarray.types.DataType.FLOAT32);
            }
            ClipConditioner c = new ClipConditioner(ClipTokenizer.load(dir.resolve("tokenizer")),
                    text);
            NDList pair = TextConditioning.encode(c, m, longPrompt, "dog", 1, true);
            NDArray z = pair.singletonOrThrow(); // (2, 154, 16)
            assertThat(z.getShape().getShape()).containsExactly(2, 154, 16);
            float[] uncond = z.get("0").toFloatArray();
            float[] dog = c.encode(m, List.of("dog")).singletonOrThrow().toFloatArray();
            float[] empty = c.encode(m, List.of("")).singletonOrThrow().toFloatArray();
            assertThat(java.util.Arrays.copyOfRange(uncond, 0, dog.length)).containsExactly(dog);
            assertThat(java.util.Arrays.copyOfRange(uncond, dog.length, uncond.length))
                    .containsExactly(empty);
            float[] cond = z.get("1").toFloatArray();
            assertThat(cond).containsExactly(c.encode(m, List.of(longPrompt))
                    .singletonOrThrow().toFloatArray());
        }
    }

    @Test
    void derivedPipelinesWithEmbeddingsShareTheWeightsAndLeaveTheBaseAlone() throws Exception {
        float[][] v = new float[2][16];
        java.util.Random r = new java.util.Random(3);
        for (float[] row : v) {
            for (int i = 0; i < row.length; i++) {
                row[i] = (float) r.nextGaussian();
            }
        }
        GenerationRequest req = request("a zq cat").build();
        GeneratedImage before = image(pipeline, req.toBuilder());
        long t0 = System.nanoTime();
        DiffusionPipeline derived = pipeline.withEmbeddings(List.of(TextualInversion.of("zq", v)));
        long deriveMicros = (System.nanoTime() - t0) / 1000;
        System.out.println("[embeddings] deriving a pipeline took " + deriveMicros + " µs");
        GeneratedImage with = image(derived, req.toBuilder());
        assertThat(with.rgb()).isNotEqualTo(before.rgb());
        assertThat(image(pipeline, req.toBuilder()).rgb()).containsExactly(before.rgb());
        // A prompt without the trigger is the same on both.
        assertThat(image(derived, request("a red apple")).rgb())
                .containsExactly(image(pipeline, request("a red apple")).rgb());
        // Both serve requests at once and give what they give alone.
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[]>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                DiffusionPipeline p = i % 2 == 0 ? pipeline : derived;
                futures.add(pool.submit(() -> image(p, req.toBuilder()).rgb()));
            }
            for (int i = 0; i < futures.size(); i++) {
                assertThat(futures.get(i).get())
                        .containsExactly(i % 2 == 0 ? before.rgb() : with.rgb());
            }
        } finally {
            pool.shutdownNow();
        }
        derived.close(); // releases nothing
        assertThatThrownBy(() -> derived.generate(req)).isInstanceOf(IllegalStateException.class);
        assertThat(image(pipeline, req.toBuilder()).rgb()).containsExactly(before.rgb());
        // Closing the loaded pipeline closes the derived ones.
        DiffusionPipeline base = DiffusionPipeline.load(TinyPipelines.textToImage(),
                PipelineOptions.defaults());
        DiffusionPipeline child = base.withEmbeddings(List.of(TextualInversion.of("zq", v)));
        base.close();
        assertThatThrownBy(() -> child.generate(req)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
        // Width mismatch is refused.
        assertThatThrownBy(() -> pipeline.withEmbeddings(List.of(
                TextualInversion.of("zq", new float[][] {new float[768]}))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("hidden size");
    }

    private static void copyTree(Path from, Path to) throws java.io.IOException {
        try (var walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
        // the tokenizer is a folder of the model
        assertThat(Files.exists(to.resolve("tokenizer/vocab.json"))).isTrue();
        TinyModels.class.getName(); // (the model was written by TinyModels)
    }
}
