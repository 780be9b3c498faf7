package dev.jdiffusion.djl.text;

import dev.jdiffusion.api.ModelLoadException;
import java.nio.file.Path;
import java.nio.file.Paths;

/** Paths to the shared fixtures and one loaded CLIP tokenizer for all tests. */
final class ClipFixtures {

    private static volatile ClipTokenizer clip;

    private ClipFixtures() {}

    static Path shared() {
        String p = System.getProperty("jdiffusion.shared");
        if (p == null) {
            throw new IllegalStateException("system property jdiffusion.shared is not set");
        }
        return Paths.get(p).resolve("fixtures");
    }

    static Path clipFolder() {
        return shared().resolve("clip");
    }

    static ClipTokenizer clip() throws ModelLoadException {
        ClipTokenizer t = clip;
        if (t == null) {
            synchronized (ClipFixtures.class) {
                if (clip == null) {
                    clip = ClipTokenizer.load(clipFolder());
                }
                t = clip;
            }
        }
        return t;
    }
}
