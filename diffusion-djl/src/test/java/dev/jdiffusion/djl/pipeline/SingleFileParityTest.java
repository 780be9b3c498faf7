package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import dev.jdiffusion.djl.weights.CheckpointFamily;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import dev.jdiffusion.djl.weights.StateDict;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The small SD 2.x and SDXL reference models (reference/sd2, reference/sdxl) written as
 * single-file checkpoints by an independent writer (scripts/reference/
 * make_single_file_fixtures.py: diffusers v0.27.2's text encoder conversions, its UNet/VAE
 * renaming rules, float16) load into exactly the folder's tensors and give the same images.
 * The folders are compared rounded to float16, as the single files store them.
 */
class SingleFileParityTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static Path singleFile(String model) {
        return DiffusersParityTest.fixture("single-file").resolve(model + ".safetensors");
    }

    private static boolean sdxl(String model) {
        return model.startsWith("sdxl");
    }

    private static boolean refiner(String model) {
        return model.equals("sdxl-refiner");
    }

    private static List<String> textEncoders(String model) {
        return refiner(model) ? List.of("text_encoder_2") : sdxl(model)
                ? List.of("text_encoder", "text_encoder_2") : List.of("text_encoder");
    }

    /** The reference folder with every weight rounded to float16 (non-float buffers dropped). */
    private static Path halfFolder(String model, Path tmp) throws Exception {
        Path src = DiffusersParityTest.fixture(model);
        Path dst = tmp.resolve(model + "-folder");
        copyTree(src, dst, p -> !p.getFileName().toString().endsWith(".safetensors"));
        for (String c : Stream.concat(Stream.of("unet", "vae"), textEncoders(model).stream())
                .toList()) {
            String name = c.startsWith("text") ? "model.safetensors"
                    : "diffusion_pytorch_model.safetensors";
            try (SafetensorsFile f = SafetensorsFile.open(src.resolve(c).resolve(name));
                    NDManager m = manager.newSubManager()) {
                Map<String, NDArray> out = new LinkedHashMap<>();
                for (TensorInfo info : f.tensors().values()) {
                    if (info.dtype().isReadableAsFloat()) {
                        out.put(info.name(), f.read(info.name(), m, DataType.FLOAT32, true));
                    }
                }
                SafetensorsWriter.write(dst.resolve(c).resolve(name), out, Map.of(),
                        DataType.FLOAT16);
            }
        }
        return dst;
    }

    /** The single file with the folder's configs, tokenizers and scheduler as siblings. */
    private static Path singleFileWithSiblings(String model, Path tmp) throws IOException {
        Path src = DiffusersParityTest.fixture(model);
        Path dst = tmp.resolve(model + "-single");
        copyTree(src, dst, p -> p.getFileName().toString().endsWith(".json")
                || p.getFileName().toString().endsWith(".txt"));
        Files.delete(dst.resolve("model_index.json"));
        Path file = dst.resolve(model + ".safetensors");
        Files.copy(singleFile(model), file);
        return file;
    }

    private static void copyTree(Path src, Path dst, java.util.function.Predicate<Path> keep)
            throws IOException {
        try (Stream<Path> all = Files.walk(src)) {
            for (Path p : all.toList()) {
                Path target = dst.resolve(src.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else if (keep.test(p) && !p.getFileName().toString().equals("cases.json")) {
                    Files.copy(p, target);
                }
            }
        }
    }

    private static void assertSameValues(String what, Map<String, Parameter> a,
            Map<String, Parameter> b) {
        assertThat(a.keySet()).as(what).isEqualTo(b.keySet());
        for (Map.Entry<String, Parameter> e : a.entrySet()) {
            NDArray x = e.getValue().getArray();
            NDArray y = b.get(e.getKey()).getArray();
            assertThat(x.getShape()).as(what + " " + e.getKey()).isEqualTo(y.getShape());
            assertThat(x.toFloatArray()).as(what + " " + e.getKey())
                    .containsExactly(y.toFloatArray());
        }
    }

    private static Map<String, Parameter> fromFolder(Block block, Path dir, String file)
            throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(file))) {
            StateDict.load(dir.getFileName().toString(), ParameterNames.of(block), List.of(f),
                    KeyMapping.identity().skipping(ClipTextModel.BUFFER_KEYS::contains),
                    manager, DataType.FLOAT32);
        }
        return ParameterNames.of(block);
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd2", "sdxl", "sdxl-refiner"})
    void componentsLoadIntoTheFoldersTensors(String model, @TempDir Path tmp) throws Exception {
        Path folder = halfFolder(model, tmp);
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(singleFile(model))) {
            assertThat(ckpt.family()).isEqualTo(refiner(model) ? CheckpointFamily.SDXL_REFINER
                    : sdxl(model) ? CheckpointFamily.SDXL_BASE : CheckpointFamily.SD2);
            // The writer added what the released files carry beyond diffusers' components.
            if (refiner(model)) {
                assertThat(ckpt.otherNames())
                        .containsExactly("conditioner.embedders.0.model.logit_scale");
            } else if (sdxl(model)) {
                assertThat(ckpt.otherNames())
                        .containsExactly("conditioner.embedders.1.model.logit_scale");
            } else {
                // The extra resblock 3 (the small encoder has 3 layers) is skipped when loading;
                // otherNames lists a dropped resblock only for OpenCLIP-H's 24 (index 23).
                assertThat(ckpt.otherNames()).containsExactlyInAnyOrder(
                        "cond_stage_model.model.logit_scale",
                        "cond_stage_model.model.text_projection");
            }

            UNet2DConditionConfig uc = UNet2DConditionConfig.fromJson(
                    folder.resolve("unet/config.json"));
            UNet2DConditionModel unet = new UNet2DConditionModel(uc);
            ckpt.loadUnet(ParameterNames.of(unet), manager, DataType.FLOAT32);
            assertSameValues("unet", ParameterNames.of(unet), fromFolder(
                    new UNet2DConditionModel(uc), folder.resolve("unet"),
                    "diffusion_pytorch_model.safetensors"));

            AutoencoderKLConfig vc = AutoencoderKLConfig.fromJson(
                    folder.resolve("vae/config.json"));
            AutoencoderKL vae = new AutoencoderKL(vc);
            ckpt.loadVae(ParameterNames.of(vae), manager, DataType.FLOAT32);
            assertSameValues("vae", ParameterNames.of(vae), fromFolder(new AutoencoderKL(vc),
                    folder.resolve("vae"), "diffusion_pytorch_model.safetensors"));

            if (!refiner(model)) {
                ClipTextConfig tc = ClipTextConfig.fromJson(
                        folder.resolve("text_encoder/config.json"));
                ClipTextModel text = new ClipTextModel(tc);
                ckpt.loadTextEncoder(ParameterNames.of(text), manager, DataType.FLOAT32);
                assertSameValues("text_encoder", ParameterNames.of(text), fromFolder(
                        new ClipTextModel(tc), folder.resolve("text_encoder"),
                        "model.safetensors"));
            }

            if (sdxl(model)) {
                ClipTextConfig t2 = ClipTextConfig.fromJson(
                        folder.resolve("text_encoder_2/config.json"));
                ClipTextModelWithProjection text2 = new ClipTextModelWithProjection(t2, 2);
                ckpt.loadTextEncoder2(ParameterNames.of(text2), manager, DataType.FLOAT32);
                assertSameValues("text_encoder_2", ParameterNames.of(text2), fromFolder(
                        new ClipTextModelWithProjection(t2, 2), folder.resolve("text_encoder_2"),
                        "model.safetensors"));
            } else {
                assertThatThrownBy(() -> ckpt.loadTextEncoder2(Map.of(), manager,
                        DataType.FLOAT32)).isInstanceOf(ModelLoadException.class)
                        .hasMessageContaining(singleFile(model).toString())
                        .hasMessageContaining("no second text encoder");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd2", "sdxl", "sdxl-refiner"})
    void imagesAreIdenticalToTheFolders(String model, @TempDir Path tmp) throws Exception {
        Path folder = halfFolder(model, tmp);
        Path file = singleFileWithSiblings(model, tmp);
        for (String sampler : List.of("euler", "dpmpp_2m")) {
            GenerationRequest request = GenerationRequest.builder("a cat face")
                    .negativePrompt("red apple").steps(4).sampler(sampler).guidanceScale(5.0)
                    .numImages(2).seed(7L).build();
            GenerationResult a;
            GenerationResult b;
            try (DiffusionPipeline p = DiffusionPipeline.load(folder, PipelineOptions.defaults())) {
                a = p.generate(request);
            }
            try (DiffusionPipeline p = DiffusionPipeline.load(file, PipelineOptions.defaults())) {
                b = p.generate(request);
            }
            assertThat(b.images()).hasSize(2);
            for (int i = 0; i < 2; i++) {
                assertThat(b.images().get(i).width()).isEqualTo(a.images().get(i).width());
                assertThat(b.images().get(i).rgb()).as(model + " " + sampler + " image " + i)
                        .containsExactly(a.images().get(i).rgb());
            }
        }
    }

    @Test
    void anSdxlModelSavedAsOneFileIsTheIndependentWritersFile(@TempDir Path tmp)
            throws Exception {
        Path folder = DiffusersParityTest.fixture("sdxl");
        Path saved = tmp.resolve("saved.safetensors");
        try (SingleFileCheckpoint ckpt = SingleFileCheckpoint.open(singleFile("sdxl"))) {
            UNet2DConditionModel unet = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(
                    folder.resolve("unet/config.json")));
            AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(
                    folder.resolve("vae/config.json")));
            ClipTextModel text = new ClipTextModel(ClipTextConfig.fromJson(
                    folder.resolve("text_encoder/config.json")));
            ClipTextModelWithProjection text2 = new ClipTextModelWithProjection(
                    ClipTextConfig.fromJson(folder.resolve("text_encoder_2/config.json")), 2);
            ckpt.loadUnet(ParameterNames.of(unet), manager, DataType.FLOAT32);
            ckpt.loadVae(ParameterNames.of(vae), manager, DataType.FLOAT32);
            ckpt.loadTextEncoder(ParameterNames.of(text), manager, DataType.FLOAT32);
            ckpt.loadTextEncoder2(ParameterNames.of(text2), manager, DataType.FLOAT32);
            SingleFileCheckpoint.saveSdxl(saved, ParameterNames.of(unet),
                    ParameterNames.of(vae), ParameterNames.of(text), ParameterNames.of(text2),
                    DataType.FLOAT16, Map.of());
        }
        try (SafetensorsFile original = SafetensorsFile.open(singleFile("sdxl"));
                SafetensorsFile written = SafetensorsFile.open(saved)) {
            java.util.Set<String> expected = new java.util.TreeSet<>(original.names());
            // not parameters of the models: CLIP's position ids buffer, OpenCLIP's logit scale
            expected.remove("conditioner.embedders.0.transformer.text_model.embeddings"
                    + ".position_ids");
            expected.remove("conditioner.embedders.1.model.logit_scale");
            assertThat(new java.util.TreeSet<>(written.names())).isEqualTo(expected);
            for (String n : expected) {
                assertThat(written.tensors().get(n).shape()).as(n)
                        .isEqualTo(original.tensors().get(n).shape());
                assertThat(written.readFloats(n)).as(n).containsExactly(original.readFloats(n));
            }
        }
    }

    @Test
    void theSingleFileNeedsItsTokenizersAndNamesWhatIsMissing(@TempDir Path tmp)
            throws Exception {
        Path file = singleFileWithSiblings("sdxl", tmp);
        try (Stream<Path> tok2 = Files.walk(file.resolveSibling("tokenizer_2"))) {
            for (Path p : tok2.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        assertThatThrownBy(() -> DiffusionPipeline.load(file, PipelineOptions.defaults()))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining(file.toString())
                .hasMessageContaining("tokenizer_2");
    }
}
