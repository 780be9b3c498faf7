package dev.jdiffusion.examples;

import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.api.internal.AtomicFiles;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
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
 * The shipped default model, {@code jdiffusion-emoji}: a small 32×32 text-to-image model of
 * emoji trained by this project (see its NOTICE), packaged as class-path resources of the
 * {@code diffusion-examples} jar in the diffusers layout.
 *
 * <pre>{@code
 * try (DiffusionPipeline pipeline = DefaultModel.load(PipelineOptions.defaults())) {
 *     GenerationResult result = pipeline.generate(GenerationRequest.builder(
 *             "grinning face, grinning (smileys & emotion, face smiling)")
 *             .guidanceScale(pipeline.defaultGuidance()).seed(13).build());
 * }
 * }</pre>
 *
 * <p>The model is unpacked once into a cache folder, named after the checksum of its file list,
 * and every file's SHA-256 is verified while unpacking; later calls reuse the folder. The cache
 * root is the environment variable {@code JDIFFUSION_CACHE} if set, else
 * {@code ~/.cache/jdiffusion} (read when {@link #path()} is called, never at class-load time);
 * {@link #path(Path)} names it explicitly. Thread-safe: concurrent unpacking (also from several
 * processes) writes to private temporary folders and publishes one with an atomic move.
 */
public final class DefaultModel {

    /**
     * Class-path folder of the model; {@code files.txt} lists its files, one {@code "SHA256
     * relative/path"} line each, so the index's own hash names the cache folder.
     */
    static final String RESOURCE_DIR = "/dev/jdiffusion/examples/model/emoji/";

    private DefaultModel() {}

    /**
     * The folder of the default model in the default cache root, unpacked if needed.
     *
     * @return the model folder (a diffusers folder that {@link DiffusionPipeline#load} reads)
     * @throws IOException if the class path has no model, a file fails its checksum or
     *     unpacking fails
     */
    public static Path path() throws IOException {
        return path(cacheRoot());
    }

    /**
     * The folder of the default model under {@code cacheRoot}, unpacked if needed.
     *
     * @param cacheRoot the folder to unpack into (created if missing)
     * @return the model folder, {@code cacheRoot/emoji-<16 hex digits>}
     * @throws IOException if the class path has no model, a file fails its checksum or
     *     unpacking fails
     */
    public static Path path(Path cacheRoot) throws IOException {
        return unpack(name -> DefaultModel.class.getResourceAsStream(RESOURCE_DIR + name),
                cacheRoot);
    }

    /**
     * Loads the default model (unpacked into the default cache root if needed).
     *
     * @param options device and precision
     * @return a new pipeline, to be closed by the caller
     * @throws IOException if unpacking fails
     * @throws ModelLoadException if the unpacked model does not load
     */
    public static DiffusionPipeline load(PipelineOptions options)
            throws IOException, ModelLoadException {
        return DiffusionPipeline.load(path(), options);
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
        Path tmp = AtomicFiles.createDirectory(root.getParent(), ".emoji-unpack-");
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
