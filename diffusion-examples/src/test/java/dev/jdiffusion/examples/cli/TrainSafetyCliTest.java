package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.djl.testing.Fifos;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.FileSystems;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.Timeout.ThreadMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code jdiffusion train} deletes nothing it did not write, names the file behind a data
 * problem, never blocks on a FIFO, and resumes past a torn checkpoint.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TrainSafetyCliTest {

    @TempDir
    Path tmp;

    /** Three 8x8 images with captions. */
    private Path data() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("data"));
        String[] captions = {"red face", "blue face", "green apple"};
        int[] colours = {0xE02020, 0x2040E0, 0x20C040};
        for (int i = 0; i < captions.length; i++) {
            int[] rgb = new int[64];
            for (int p = 0; p < 64; p++) {
                rgb[p] = p % 8 < 4 ? colours[i] : 0xFFFFFF;
            }
            new GeneratedImage(8, 8, rgb, null, Map.of()).writePng(dir.resolve("e" + i + ".png"));
            Files.writeString(dir.resolve("e" + i + ".txt"), captions[i]);
        }
        return dir;
    }

    private static CliTest.Run train(Path data, Path work, Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(),
                "--work", work.toString(), "-o", out.toString(), "--size", "8", "--batch", "2",
                "--channels", "16,16", "--text-width", "16", "--text-layers", "1", "--vocab",
                "600", "--checkpoint-every", "2"));
        args.addAll(List.of(extra));
        if (!args.contains("--steps")) {
            args.addAll(List.of("--steps", "4"));
        }
        return CliTest.run(args.toArray(String[]::new));
    }

    private static List<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void refusesAnOutputFolderWithUserFilesBeforeTraining() throws IOException {
        Path data = data();
        Path out = Files.createDirectories(tmp.resolve("my-documents"));
        Files.writeString(out.resolve("thesis.tex"), "years of work");
        Path work = tmp.resolve("work");
        CliTest.Run r = train(data, work, out);
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.err().contains(out.toString())
                && r.err().contains("not a model folder written by jdiffusion"), r.err());
        assertEquals("years of work", Files.readString(out.resolve("thesis.tex")));
        assertEquals(List.of("thesis.tex"), names(out));
        assertFalse(Files.exists(work), "refused before anything was written");
    }

    @Test
    void refusesAnOutputThatIsAroundOrInsideTheDataOrWorkFolder() throws IOException {
        Path data = data();
        Path work = Files.createDirectories(tmp.resolve("work"));
        List<String> before = names(data);
        for (Path out : List.of(data, tmp, work, work.resolve("checkpoints"), tmp.resolve(
                "data/../data/sub"), Files.createSymbolicLink(tmp.resolve("link"), data))) {
            CliTest.Run r = train(data, work, out);
            assertEquals(2, r.code(), out + ": " + r.out() + r.err());
            assertTrue(r.err().contains("folder of its own"), r.err());
        }
        assertEquals(before, names(data));
        assertEquals(List.of(), names(work));
    }

    @Test
    void resumesFromTheNewestIntactCheckpointAndKeepsTheNewest() throws IOException {
        Path data = data();
        Path work = tmp.resolve("work");
        Path out = tmp.resolve("model");
        CliTest.Run first = train(data, work, out, "--keep-checkpoints", "0");
        assertEquals(0, first.code(), first.err());
        Path ckpts = work.resolve("checkpoints");
        assertEquals(List.of("checkpoint-00000002.safetensors",
                "checkpoint-00000004.safetensors"), names(ckpts));
        Path torn = ckpts.resolve("checkpoint-00000004.safetensors");
        try (FileChannel ch = FileChannel.open(torn, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() / 3);
        }
        // Same command again: falls back to step 2, says so, and replaces its own model.
        CliTest.Run again = train(data, work, out, "--keep-checkpoints", "0");
        assertEquals(0, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("skipped unreadable checkpoint " + torn), again.out());
        assertTrue(again.out().contains("resumed from "
                + ckpts.resolve("checkpoint-00000002.safetensors") + " at step 2"), again.out());
        assertTrue(Files.isRegularFile(out.resolve("unet/diffusion_pytorch_model.safetensors")));

        CliTest.Run longer = train(data, work, out, "--steps", "8", "--keep-checkpoints", "2");
        assertEquals(0, longer.code(), longer.err());
        assertEquals(List.of("checkpoint-00000006.safetensors",
                "checkpoint-00000008.safetensors"), names(ckpts));
    }

    @Test
    void invalidUtf8CaptionIsNamed() throws IOException {
        Path data = data();
        Files.write(data.resolve("e1.txt"), new byte[] {'b', (byte) 0xFF, 'e'});
        CliTest.Run r = train(data, tmp.resolve("work"), tmp.resolve("model"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(data.resolve("e1.txt") + " is not valid UTF-8"), r.err());
    }

    @Test
    // Its own thread: an interrupt does not end a blocked open() of a FIFO, so a hang must be
    // abandoned. (Only this test: the engine's grad mode is per thread, training elsewhere
    // would need the trainer to set it.)
    @Timeout(value = 60, unit = TimeUnit.SECONDS, threadMode = ThreadMode.SEPARATE_THREAD)
    void fifoCaptionFailsInsteadOfBlocking() throws Exception {
        Path data = data();
        Files.delete(data.resolve("e2.txt"));
        Fifos.requireMkfifo();
        Fifos.mkfifo(data.resolve("e2.txt"));
        CliTest.Run r = train(data, tmp.resolve("work"), tmp.resolve("model"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("e2.txt") && r.err().contains("not a regular file"),
                r.err());
    }

    @Test
    void everythingWrittenHasTheUmasksPermissions() throws IOException {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"));
        Path data = data();
        Path work = tmp.resolve("work");
        Path model = tmp.resolve("model");
        CliTest.Run t = train(data, work, model);
        assertEquals(0, t.code(), t.err());
        Path images = tmp.resolve("images");
        CliTest.Run g = CliTest.run("generate", "red face", "--model", model.toString(),
                "--steps", "2", "--seed", "3", "-o", images.toString());
        assertEquals(0, g.code(), g.err());
        Path eval = tmp.resolve("eval");
        CliTest.Run e = CliTest.run("eval", "--data", data.toString(), "--model",
                model.toString(), "--prompts", "2", "--diversity-prompts", "1", "--steps", "2",
                "-o", eval.toString());
        assertEquals(0, e.code(), e.err());
        assertTrue(Files.isRegularFile(eval.resolve("contact-sheet.png")), e.out());

        Set<PosixFilePermission> file = Files.getPosixFilePermissions(
                Files.createFile(tmp.resolve("plain-file")));
        Set<PosixFilePermission> folder = Files.getPosixFilePermissions(
                Files.createDirectory(tmp.resolve("plain-folder")));
        int checked = 0;
        for (Path root : List.of(work, model, images, eval)) {
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : walk.toList()) {
                    assertEquals(Files.isDirectory(p) ? folder : file,
                            Files.getPosixFilePermissions(p), p.toString());
                    checked++;
                }
            }
        }
        assertTrue(checked > 20, "checked " + checked);
    }
}
