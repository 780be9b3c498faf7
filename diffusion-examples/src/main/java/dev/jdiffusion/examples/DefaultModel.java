package dev.jdiffusion.examples.cli;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The shipped default model (a small text-to-image emoji model trained by this project), stored
 * as class-path resources in diffusers layout and unpacked once into a cache folder so that it
 * loads like any model folder on disk.
 */
final class DefaultModel {

    /**
     * Class-path folder of the model; {@code files.txt} lists its files, one {@code "SHA256
     * relative/path"} line each, so the index's own hash names the cache folder.
     */
    static final String RESOURCE_DIR = "/dev/jdiffusion/examples/model/emoji/";

    private DefaultModel() {}

    /**
     * The folder of the default model, unpacked if needed.
     *
     * @return the model folder
     * @throws IOException if the jar has no model or unpacking fails
     */
    static Path path() throws IOException {
        return unpack(name -> DefaultModel.class.getResourceAsStream(RESOURCE_DIR + name),
                cacheRoot());
    }

    /** Opens a resource of the model by its relative name; {@code null} if absent. */
    @FunctionalInterface
    interface Resources {
        InputStream open(String name) throws IOException;
    }

    /**
     * Unpacks the model listed by {@code files.txt} in {@code resources} into a folder under
     * {@code cacheRoot} named after the index's hash, unless it is there already.
     *
     * @param resources where the files come from
     * @param cacheRoot the cache folder
     * @return the model folder
     * @throws IOException if a file is missing, fails its checksum or cannot be written
     */
    static Path unpack(Resources resources, Path cacheRoot) throws IOException {
        byte[] index = resource(resources, "files.txt");
        List<String> files = new String(index, StandardCharsets.UTF_8).lines()
                .map(String::trim).filter(s -> !s.isEmpty()).toList();
        String version = sha256(index).substring(0, 16);
        Path root = cacheRoot.resolve("emoji-" + version);
        if (Files.isRegularFile(root.resolve(".complete"))) {
            return root;
        }
        Files.createDirectories(root.getParent());
        Path tmp = Files.createTempDirectory(root.getParent(), ".emoji-unpack-");
        try {
            for (String line : files) {
                String[] parts = line.split("\\s+", 2);
                if (parts.length != 2 || parts[1].contains("..") || parts[1].startsWith("/")) {
                    throw new IOException("bad entry in the model index: " + line);
                }
                String f = parts[1];
                byte[] data = resource(resources, f);
                if (!sha256(data).equals(parts[0])) {
                    throw new IOException("the default model file " + f
                            + " is corrupt (checksum mismatch); rebuild the jar");
                }
                Path out = tmp.resolve(f);
                Files.createDirectories(out.getParent());
                Files.write(out, data);
            }
            Files.writeString(tmp.resolve(".complete"), version);
            try {
                Files.move(tmp, root, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isRegularFile(root.resolve(".complete"))) {
                    throw raced;
                }
            }
        } finally {
            deleteTree(tmp);
        }
        return root;
    }

    private static Path cacheRoot() {
        String env = System.getenv("JDIFFUSION_CACHE");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "jdiffusion");
    }

    private static byte[] resource(Resources resources, String name) throws IOException {
        InputStream in = resources.open(name);
        if (in == null) {
            throw new IOException("the default model is not in this build (missing "
                    + RESOURCE_DIR + name + "); name a model folder or .safetensors checkpoint"
                    + " (generate --model PATH, info PATH)");
        }
        try (in) {
            return in.readAllBytes();
        }
    }

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
