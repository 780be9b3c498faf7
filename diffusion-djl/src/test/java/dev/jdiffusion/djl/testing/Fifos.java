package dev.jdiffusion.djl.testing;

import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Named pipes for tests of loaders that must not block on them. */
public final class Fifos {

    private Fifos() {}

    /** Skips the calling test where {@code mkfifo} cannot be run. */
    public static void requireMkfifo() {
        try {
            Process p = new ProcessBuilder("mkfifo", "--version").start();
            Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo not usable");
        } catch (IOException e) {
            Assumptions.abort("no mkfifo: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Assumptions.abort("interrupted");
        }
    }

    /**
     * Creates a named pipe.
     *
     * @param fifo the path to create
     * @throws IOException if {@code mkfifo} fails
     */
    public static void mkfifo(Path fifo) throws IOException {
        try {
            Process p = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
            if (p.waitFor() != 0) {
                throw new IOException("mkfifo " + fifo + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }
}
