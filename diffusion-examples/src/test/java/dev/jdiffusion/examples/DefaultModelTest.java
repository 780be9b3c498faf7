package dev.jdiffusion.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Unpacking of the shipped model from (here: in-memory) class-path resources. */
class DefaultModelTest {

    @TempDir
    Path cache;

    // SHA-256 of "hello\n" and "{}", computed with sha256sum, not by the code under test.
    private static final String HELLO =
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    private static final String BRACES =
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    private static DefaultModel.Resources of(Map<String, String> files) {
        return name -> files.containsKey(name)
                ? new ByteArrayInputStream(files.get(name).getBytes(StandardCharsets.UTF_8))
                : null;
    }

    private static Map<String, String> model() {
        Map<String, String> files = new HashMap<>();
        files.put("files.txt", HELLO + " unet/readme.txt\n" + BRACES + " model_index.json\n");
        files.put("unet/readme.txt", "hello\n");
        files.put("model_index.json", "{}");
        return files;
    }

    @Test
    void unpacksOnceIntoAFolderNamedByTheIndex() throws IOException {
        Path dir = DefaultModel.unpack(of(model()), cache);
        assertTrue(dir.getFileName().toString().startsWith("emoji-"), dir.toString());
        assertEquals("hello\n", Files.readString(dir.resolve("unet/readme.txt")));
        assertEquals("{}", Files.readString(dir.resolve("model_index.json")));
        // Second call: found complete, nothing read but the index.
        Map<String, String> indexOnly = new HashMap<>(Map.of("files.txt",
                model().get("files.txt")));
        assertEquals(dir, DefaultModel.unpack(of(indexOnly), cache));
        try (var list = Files.list(cache)) {
            assertArrayEquals(new Object[] {dir}, list.toArray(), "no temporary folder left");
        }
    }

    @Test
    void checksumMismatchFailsAndLeavesNothing() throws IOException {
        Map<String, String> files = model();
        files.put("unet/readme.txt", "tampered\n");
        IOException e = assertThrows(IOException.class,
                () -> DefaultModel.unpack(of(files), cache));
        assertTrue(e.getMessage().contains("unet/readme.txt is corrupt"), e.getMessage());
        try (var list = Files.list(cache)) {
            assertEquals(0, list.count());
        }
    }

    @Test
    void absentModelSaysHowToNameOne() {
        IOException e = assertThrows(IOException.class,
                () -> DefaultModel.unpack(of(Map.of()), cache));
        assertTrue(e.getMessage().startsWith("the default model is not in this build"),
                e.getMessage());
        assertTrue(e.getMessage().contains("--model"), e.getMessage());
    }

    @Test
    void pathsLeavingTheFolderAreRefused() {
        Map<String, String> files = model();
        files.put("files.txt", HELLO + " ../evil.txt\n");
        files.put("../evil.txt", "hello\n");
        IOException e = assertThrows(IOException.class,
                () -> DefaultModel.unpack(of(files), cache));
        assertTrue(e.getMessage().contains("bad entry"), e.getMessage());
    }
}
