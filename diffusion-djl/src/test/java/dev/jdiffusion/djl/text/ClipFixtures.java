package dev.jdiffusion.djl.text;

import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.testing.Fixtures;
import java.nio.file.Path;

/** CLIP's tokenizer folder (a test resource) and one loaded CLIP tokenizer for all tests. */
final class ClipFixtures {

    private static volatile ClipTokenizer clip;

    private ClipFixtures() {}

    static Path clipFolder() {
        return Fixtures.clipFolder();
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
