package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GeneratedImage;

/** Small image helpers for the command-line app. */
final class Images {

    private Images() {}

    /** Nearest-neighbour enlargement, keeping the text entries (pixels stay crisp). */
    static GeneratedImage enlarge(GeneratedImage img, int factor) {
        int w = img.width() * factor;
        int h = img.height() * factor;
        int[] src = img.rgb();
        int[] dst = new int[w * h];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                dst[y * w + x] = src[(y / factor) * img.width() + x / factor];
            }
        }
        return new GeneratedImage(w, h, dst, img.seed().isPresent() ? img.seed().getAsLong()
                : null, img.text());
    }
}
