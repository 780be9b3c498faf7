package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A tiny random-weight latent text-to-image model in the diffusers layout (UNet 16/32 channels,
 * VAE with factor 2, a 2-layer CLIP text encoder with a 600-token BPE vocabulary; default image
 * 16×16), built once per test JVM, and cheap copies of it to corrupt.
 */
final class TinyModel {

    static final String UNET = TinyModels.UNET;

    static final String VAE = TinyModels.VAE;

    /** The weight files of the folder, relative to it. */
    static final List<String> WEIGHT_FILES = List.of(
            "unet/diffusion_pytorch_model.safetensors",
            "vae/diffusion_pytorch_model.safetensors",
            "text_encoder/model.safetensors");

    private static Path root;
    private static Path model;

    private TinyModel() {}

    /**
     * The pristine model folder; never modify it (variants are made with {@link #variant}).
     *
     * @return the folder
     */
    static synchronized Path folder() {
        if (model == null) {
            try {
                root = Files.createTempDirectory("jdiffusion-reliability-");
                model = root.resolve("tiny");
                write(model, 1.0f);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return model;
    }

    /**
     * Writes the tiny model, with the UNet's {@code conv_out} weights multiplied by a factor.
     *
     * @param dir the folder to create
     * @param convOutScale 1 for the normal model
     * @throws IOException if writing fails
     */
    static void write(Path dir, float convOutScale) throws IOException {
        TinyModels.writeTextToImage(dir, SchedulerConfig.builder().build(), "tiny-reliability",
                convOutScale);
    }

    /**
     * A scratch folder beside the model (deleted with {@link #deleteTree}).
     *
     * @param prefix a name prefix
     * @return a new empty folder
     */
    static Path scratch(String prefix) {
        try {
            folder();
            return Files.createTempDirectory(root, prefix);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A copy of the model whose files are hard links to the pristine ones: replace a file
     * (delete, then write) to change it, never write into it.
     *
     * @param dir the target folder (must not exist)
     * @return {@code dir}
     */
    static Path variant(Path dir) {
        Path src = folder();
        try {
            Files.walkFileTree(src, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a)
                        throws IOException {
                    Files.createDirectories(dir.resolve(src.relativize(d).toString()));
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a)
                        throws IOException {
                    Files.createLink(dir.resolve(src.relativize(f).toString()), f);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
    }

    /**
     * Replaces a file of a variant (breaking its hard link) with new bytes.
     *
     * @param file the file
     * @param bytes the new content
     */
    static void replace(Path file, byte[] bytes) {
        try {
            Files.deleteIfExists(file);
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Reads a file of the pristine model.
     *
     * @param relative path inside the model folder
     * @return its bytes
     */
    static byte[] original(String relative) {
        try {
            return Files.readAllBytes(folder().resolve(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * All files of the pristine model, relative to it, in a fixed order.
     *
     * @return the relative paths
     */
    static List<String> files() {
        Path src = folder();
        try (Stream<Path> s = Files.walk(src)) {
            List<String> out = new ArrayList<>();
            s.filter(Files::isRegularFile).map(p -> src.relativize(p).toString()).sorted()
                    .forEach(out::add);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Deletes a folder tree (links are deleted, not followed).
     *
     * @param dir the folder
     */
    static void deleteTree(Path dir) {
        if (dir == null || !Files.exists(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
