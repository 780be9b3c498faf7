package dev.jdiffusion.api.internal;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files and folders so that readers see either the old or the complete new content:
 * the content goes to a uniquely named sibling, which is then renamed onto the target.
 *
 * <p>The siblings are created with plain {@link Files#createFile} and {@link
 * Files#createDirectory} (exclusive creation, no symbolic link followed), so what jdiffusion
 * writes gets the permissions of the process's umask like any other new file; {@link
 * Files#createTempFile} would make them owner-only ({@code rw-------}, {@code rwx------}).
 *
 * <p>Not part of the supported API (see the package description). Stateless and thread-safe.
 */
public final class AtomicFiles {

    private static final int ATTEMPTS = 100;

    private AtomicFiles() {}

    /** Writes content to an output stream. */
    @FunctionalInterface
    public interface Content {
        /**
         * Writes the content.
         *
         * @param out the stream of the temporary file; closed by the caller
         * @throws IOException if writing fails
         */
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * Creates a new empty file {@code prefix + random + suffix} in a folder, with the
     * permissions the umask gives new files.
     *
     * @param dir the folder, which must exist
     * @param prefix the start of the name (for example {@code ".model.safetensors."})
     * @param suffix the end of the name (for example {@code ".tmp"})
     * @return the new file
     * @throws IOException if it cannot be created
     */
    public static Path createFile(Path dir, String prefix, String suffix) throws IOException {
        for (int i = 0; ; i++) {
            try {
                return Files.createFile(dir.resolve(prefix + random() + suffix));
            } catch (FileAlreadyExistsException e) {
                if (i == ATTEMPTS) {
                    throw e;
                }
            }
        }
    }

    /**
     * Creates a new empty folder {@code prefix + random} in a folder, with the permissions the
     * umask gives new folders.
     *
     * @param dir the parent folder, which must exist
     * @param prefix the start of the name
     * @return the new folder
     * @throws IOException if it cannot be created
     */
    public static Path createDirectory(Path dir, String prefix) throws IOException {
        for (int i = 0; ; i++) {
            try {
                return Files.createDirectory(dir.resolve(prefix + random()));
            } catch (FileAlreadyExistsException e) {
                if (i == ATTEMPTS) {
                    throw e;
                }
            }
        }
    }

    /**
     * Renames a finished temporary file onto its target, replacing an existing file: atomically
     * where the file system can, else by a plain replacing move.
     *
     * @param tmp the finished file, in the target's folder
     * @param target the final path
     * @throws IOException if the move fails
     */
    public static void moveIntoPlace(Path tmp, Path target) throws IOException {
        try {
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE,
                    StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * Writes a file atomically: the content goes to a new sibling ({@link #createFile}), which
     * replaces {@code target} when complete. On failure the sibling is removed and an existing
     * target is untouched. Parent folders are created.
     *
     * @param target the file to write
     * @param content what to write
     * @throws IOException if writing fails
     */
    public static void write(Path target, Content content) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = createFile(dir, "." + abs.getFileName() + ".", ".tmp");
        boolean done = false;
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                content.writeTo(out);
            }
            moveIntoPlace(tmp, abs);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    private static String random() {
        return Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
    }
}
