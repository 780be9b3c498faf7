package dev.jdiffusion.djl.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The test data files that live in this module's test resources ({@code src/test/resources/
 * fixtures/}, with their licence notices): CLIP's tokenizer files and Stable Diffusion 1.5's
 * tensor list. Read from the class path, so a test needs nothing outside the repository.
 *
 * <p>From this module's own tests the files are read where Maven copied them
 * ({@code target/test-classes}); from another module, which sees them inside the test jar, they
 * are copied once into a temporary folder. Thread-safe.
 */
public final class Fixtures {

    private static final List<String> CLIP_FILES =
            List.of("vocab.json", "merges.txt", "token_vectors.tsv");
    private static volatile Path clipCopy;

    private Fixtures() {}

    /**
     * CLIP's tokenizer folder: {@code vocab.json}, {@code merges.txt} (OpenAI, MIT licence) and
     * {@code token_vectors.tsv} (prompts and their known token ids).
     *
     * @return a folder on disk with the three files
     */
    public static Path clipFolder() {
        Path onDisk = onDisk("/fixtures/clip/vocab.json");
        if (onDisk != null) {
            return onDisk.getParent();
        }
        Path c = clipCopy;
        if (c == null) {
            synchronized (Fixtures.class) {
                if (clipCopy == null) {
                    clipCopy = copy("clip", CLIP_FILES);
                }
                c = clipCopy;
            }
        }
        return c;
    }

    /**
     * Stable Diffusion 1.5's tensor table: a header line, then one tab-separated line per tensor
     * (component, diffusers/transformers key, shape, single-file key, single-file shape).
     *
     * @return the file on disk
     */
    public static Path sd15Keys() {
        Path onDisk = onDisk("/fixtures/sd15/keys.tsv");
        return onDisk != null ? onDisk : copy("sd15", List.of("keys.tsv")).resolve("keys.tsv");
    }

    /**
     * The key table of another single-file checkpoint family, as a file.
     *
     * @param family {@code sd21}, {@code sdxl-base} or {@code sdxl-refiner}
     * @return the file on disk
     */
    public static Path keys(String family) {
        Path onDisk = onDisk("/fixtures/" + family + "/keys.tsv");
        return onDisk != null ? onDisk : copy(family, List.of("keys.tsv")).resolve("keys.tsv");
    }

    /** The resource as a file, {@code null} if it is inside a jar. */
    private static Path onDisk(String resource) {
        URL url = Fixtures.class.getResource(resource);
        if (url == null) {
            throw new IllegalStateException("test resource " + resource + " is missing from the"
                    + " class path (it lives in diffusion-djl/src/test/resources)");
        }
        if (!"file".equals(url.getProtocol())) {
            return null;
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static Path copy(String folder, List<String> files) {
        try {
            Path dir = Files.createTempDirectory("jdiffusion-fixtures-" + folder + "-");
            // Deleted at exit in reverse order of registration: the files, then the folder.
            dir.toFile().deleteOnExit();
            for (String f : files) {
                try (InputStream in = Fixtures.class.getResourceAsStream(
                        "/fixtures/" + folder + "/" + f)) {
                    if (in == null) {
                        throw new IllegalStateException("test resource /fixtures/" + folder + "/"
                                + f + " is missing from the class path");
                    }
                    Files.copy(in, dir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
                dir.resolve(f).toFile().deleteOnExit();
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
