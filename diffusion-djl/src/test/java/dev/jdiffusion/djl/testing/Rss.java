package dev.jdiffusion.djl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Resident memory of this JVM process, from {@code /proc/self/status} (Linux). */
public final class Rss {

    private Rss() {}

    /**
     * The current resident set size.
     *
     * @return VmRSS in KiB, or -1 where /proc is not available
     */
    public static long kib() {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) {
            return -1;
        }
        try {
            for (String line : Files.readAllLines(status)) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return -1;
    }
}
