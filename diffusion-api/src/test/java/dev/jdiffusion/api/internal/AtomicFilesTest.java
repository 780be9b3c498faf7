package dev.jdiffusion.api.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.jdiffusion.api.GeneratedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files jdiffusion writes get the umask's permissions and appear only when complete. */
class AtomicFilesTest {

    @TempDir
    Path dir;

    /** What the umask gives a plain new file in {@code folder}. */
    static Set<PosixFilePermission> plainFilePermissions(Path folder) throws IOException {
        Path probe = Files.createFile(folder.resolve("plain-probe"));
        try {
            return Files.getPosixFilePermissions(probe);
        } finally {
            Files.delete(probe);
        }
    }

    static void assumePosix() {
        assumeTrue(FileSystems.getDefault().supportedFileAttributeViews().contains("posix"),
                "POSIX permissions not supported here");
    }

    @Test
    void writtenPngHasThePermissionsOfAPlainNewFile() throws IOException {
        assumePosix();
        Path png = dir.resolve("sub/image.png");
        new GeneratedImage(2, 1, new int[] {0xFF0000, 0x00FF00}, 7L, Map.of()).writePng(png);
        assertThat(Files.getPosixFilePermissions(png))
                .isEqualTo(plainFilePermissions(png.getParent()));
        try (Stream<Path> s = Files.list(png.getParent())) {
            assertThat(s).containsExactly(png); // no temporary file left
        }
    }

    @Test
    void createdSiblingsFollowTheUmask() throws IOException {
        assumePosix();
        Path f = AtomicFiles.createFile(dir, ".x.", ".tmp");
        assertThat(f.getParent()).isEqualTo(dir);
        assertThat(f.getFileName().toString()).startsWith(".x.").endsWith(".tmp");
        assertThat(Files.getPosixFilePermissions(f)).isEqualTo(plainFilePermissions(dir));
        Path d = AtomicFiles.createDirectory(dir, ".d-");
        Path plainDir = Files.createDirectory(dir.resolve("plain-dir"));
        assertThat(Files.getPosixFilePermissions(d))
                .isEqualTo(Files.getPosixFilePermissions(plainDir));
        assertThat(AtomicFiles.createFile(dir, ".x.", ".tmp")).isNotEqualTo(f);
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path target = dir.resolve("report.md");
        Files.writeString(target, "old");
        assertThatThrownBy(() -> AtomicFiles.write(target, out -> {
            out.write("partial".getBytes(StandardCharsets.UTF_8));
            throw new IOException("disk full");
        })).hasMessage("disk full");
        assertThat(Files.readString(target)).isEqualTo("old");
        try (Stream<Path> s = Files.list(dir)) {
            assertThat(s).containsExactly(target);
        }
        AtomicFiles.write(target, out -> out.write("new".getBytes(StandardCharsets.UTF_8)));
        assertThat(Files.readString(target)).isEqualTo("new");
    }
}
