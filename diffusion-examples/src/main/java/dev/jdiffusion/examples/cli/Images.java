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

    /**
     * Scales to {@code w x h}: each output pixel is the mean of the input pixels its area covers
     * (at least the one under its centre), per channel; the text entries are dropped.
     */
    static GeneratedImage resize(GeneratedImage img, int w, int h) {
        int sw = img.width();
        int sh = img.height();
        int[] src = img.rgb();
        int[] dst = new int[w * h];
        for (int y = 0; y < h; y++) {
            int y0 = (int) ((long) y * sh / h);
            int y1 = Math.max(y0 + 1, (int) ((long) (y + 1) * sh / h));
            for (int x = 0; x < w; x++) {
                int x0 = (int) ((long) x * sw / w);
                int x1 = Math.max(x0 + 1, (int) ((long) (x + 1) * sw / w));
                long r = 0;
                long g = 0;
                long b = 0;
                for (int yy = y0; yy < y1; yy++) {
                    for (int xx = x0; xx < x1; xx++) {
                        int p = src[yy * sw + xx];
                        r += (p >> 16) & 0xFF;
                        g += (p >> 8) & 0xFF;
                        b += p & 0xFF;
                    }
                }
                long n = (long) (y1 - y0) * (x1 - x0);
                dst[y * w + x] = (int) ((r + n / 2) / n) << 16
                        | (int) ((g + n / 2) / n) << 8 | (int) ((b + n / 2) / n);
            }
        }
        return new GeneratedImage(w, h, dst, null, java.util.Map.of());
    }
}
