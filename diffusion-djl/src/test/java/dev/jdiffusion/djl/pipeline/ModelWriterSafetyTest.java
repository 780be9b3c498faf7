package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ModelWriter} never deletes what jdiffusion did not write, leaves nothing half-written,
 * and gives its files the umask's permissions.
 */
class ModelWriterSafetyTest {

    private static NDManager manager;
    private static UNet2DConditionModel unet;

    @TempDir
    Path tmp;

    @BeforeAll
    static void setUp() {
        manager = NDManager.newBaseManager("PyTorch");
        unet = new UNet2DConditionModel(UNet2DConditionConfig.fromJson(TinyPipelines.UNET_CLASSES));
        TinyModels.init(unet, manager, 4);
    }

    @AfterAll
    static void tearDown() {
        manager.close();
    }

    private static ModelWriter writer() {
        return ModelWriter.of(unet, SchedulerConfig.builder().build());
    }

    /** Every file and folder under {@code dir} → its content (folders: "dir"). */
    private static Map<String, String> snapshot(Path dir) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.toList()) {
                out.put(dir.relativize(p).toString(), Files.isDirectory(p) ? "dir"
                        : Integer.toHexString(java.util.Arrays.hashCode(Files.readAllBytes(p))));
            }
        }
        return out;
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void refusesAFolderWithUserFilesAndLeavesItAsItWas() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("photos"));
        Files.writeString(dir.resolve("holiday.txt"), "mine");
        Files.createDirectories(dir.resolve("2025"));
        Files.writeString(dir.resolve("2025/a.png"), "not really a png");
        Map<String, String> before = snapshot(dir);
        assertThatThrownBy(() -> writer().write(dir))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining(dir.toString())
                .hasMessageContaining("not a model folder written by jdiffusion");
        assertThat(snapshot(dir)).isEqualTo(before);
        assertThat(names(tmp)).containsExactly("photos"); // no temporary sibling left
    }

    @Test
    void refusesAJdiffusionModelWithAnExtraFile() throws IOException {
        Path dir = tmp.resolve("model");
        writer().name("first").write(dir);
        Files.writeString(dir.resolve("unet/notes.md"), "my notes");
        Map<String, String> before = snapshot(dir);
        assertThatThrownBy(() -> writer().name("second").write(dir))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining("unet/notes.md");
        assertThat(snapshot(dir)).isEqualTo(before);
        assertThat(names(tmp)).containsExactly("model");
    }

    @Test
    void refusesAFileAndASymbolicLink() throws IOException {
        Path file = Files.writeString(tmp.resolve("model"), "a file");
        assertThatThrownBy(() -> writer().write(file))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining("not a folder");
        assertThat(Files.readString(file)).isEqualTo("a file");
        Path real = Files.createDirectories(tmp.resolve("real"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
        assertThatThrownBy(() -> writer().write(link))
                .isInstanceOf(FileAlreadyExistsException.class)
                .hasMessageContaining("symbolic link");
        assertThat(names(real)).isEmpty();
    }

    @Test
    void writesThePromptSyntaxOnlyWhenGiven() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("syntax"));
        writer().promptSyntax(dev.jdiffusion.djl.text.PromptSyntax.PLAIN).write(dir);
        assertThat(Files.readString(dir.resolve(ModelFolder.SETTINGS)))
                .containsPattern("\"prompt_syntax\"\\s*:\\s*\"plain\"");
        try (DiffusionPipeline p = DiffusionPipeline.load(dir, PipelineOptions.defaults())) {
            assertThat(p).isNotNull(); // the value written is one the loader accepts
        }
        writer().write(dir);
        assertThat(Files.readString(dir.resolve(ModelFolder.SETTINGS)))
                .doesNotContain("prompt_syntax");
    }

    @Test
    void replacesItsOwnModelAndAnEmptyFolder() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("model"));
        writer().name("first").write(dir);
        assertThat(Files.readString(dir.resolve(ModelFolder.SETTINGS))).contains("first");
        writer().write(dir); // no settings: jdiffusion.json is still written
        assertThat(Files.readString(dir.resolve(ModelFolder.SETTINGS))).doesNotContain("first");
        writer().name("third").write(dir);
        assertThat(Files.readString(dir.resolve(ModelFolder.SETTINGS))).contains("third");
        assertThat(names(tmp)).containsExactly("model");
        ModelWriter.checkReplaceable(dir);
        ModelWriter.checkReplaceable(tmp.resolve("absent"));
    }

    @Test
    void failedWriteKeepsTheOldModelAndLeavesNoTemporaryFolder() throws IOException {
        Path dir = tmp.resolve("model");
        writer().name("old").write(dir);
        Map<String, String> before = snapshot(dir);
        ClipTextModel text = new ClipTextModel(new ClipTextConfig(300, 16, 32, 1, 2, 77,
                "quick_gelu", 1e-5f, OptionalInt.empty()));
        TinyModels.init(text, manager, 5);
        Path noTokenizer = Files.createDirectories(tmp.resolve("empty-tokenizer"));
        assertThatThrownBy(() -> writer().textEncoder(text, noTokenizer).write(dir))
                .hasMessageContaining("tokenizer file missing");
        assertThat(snapshot(dir)).isEqualTo(before);
        assertThat(names(tmp)).containsExactly("empty-tokenizer", "model");
    }

    @Test
    void modelFilesAndFoldersHaveTheUmasksPermissions() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"));
        Path plainDir = Files.createDirectory(tmp.resolve("plain-dir"));
        Set<PosixFilePermission> dirPerms = Files.getPosixFilePermissions(plainDir);
        Set<PosixFilePermission> filePerms = Files.getPosixFilePermissions(
                Files.createFile(tmp.resolve("plain-file")));
        Path dir = tmp.resolve("model");
        writer().write(dir);
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.toList()) {
                assertThat(Files.getPosixFilePermissions(p)).as(p.toString())
                        .isEqualTo(Files.isDirectory(p) ? dirPerms : filePerms);
            }
        }
        assertThat(dir.resolve("unet/diffusion_pytorch_model.safetensors")).isRegularFile();
    }
}
