package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GeneratedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * The simple image statistics behind {@code jdiffusion eval}: images as RGB vectors in [0, 1],
 * the root-mean-square pixel distance between them, nearest neighbours in a reference set,
 * percentiles and mean pairwise distances. Captions follow the emoji data set's form
 * {@code "<name>, <short names> (<category>, <subcategory>)[, <skin tone>]"}.
 *
 * <p>Stateless; safe to use from any thread.
 */
final class QualityMetrics {

    private QualityMetrics() {}

    /** An image's pixels as R, G, B values in [0, 1], row by row. */
    static float[] vector(GeneratedImage img) {
        int[] rgb = img.rgb();
        float[] v = new float[rgb.length * 3];
        for (int i = 0; i < rgb.length; i++) {
            v[3 * i] = ((rgb[i] >> 16) & 0xFF) / 255f;
            v[3 * i + 1] = ((rgb[i] >> 8) & 0xFF) / 255f;
            v[3 * i + 2] = (rgb[i] & 0xFF) / 255f;
        }
        return v;
    }

    /** Root-mean-square difference of two equally long vectors: 0 equal, 1 black vs white. */
    static double rms(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new IllegalArgumentException("vectors of different lengths: " + a.length
                    + " and " + b.length);
        }
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            s += d * d;
        }
        return Math.sqrt(s / a.length);
    }

    /** Index of the vector in {@code set} nearest to {@code v}, skipping index {@code skip}. */
    static int nearest(float[] v, List<float[]> set, int skip) {
        int best = -1;
        double bestD = Double.POSITIVE_INFINITY;
        for (int i = 0; i < set.size(); i++) {
            if (i == skip) {
                continue;
            }
            double d = rms(v, set.get(i));
            if (d < bestD) {
                bestD = d;
                best = i;
            }
        }
        return best;
    }

    /** For each vector of the set, the distance to its nearest other member (in parallel). */
    static double[] leaveOneOutNearest(List<float[]> set) {
        return IntStream.range(0, set.size()).parallel()
                .mapToDouble(i -> rms(set.get(i), set.get(nearest(set.get(i), set, i))))
                .toArray();
    }

    /** Mean distance over all unordered pairs (NaN for fewer than two vectors). */
    static double meanPairwise(List<float[]> set) {
        double s = 0;
        int n = 0;
        for (int i = 0; i < set.size(); i++) {
            for (int j = i + 1; j < set.size(); j++) {
                s += rms(set.get(i), set.get(j));
                n++;
            }
        }
        return n == 0 ? Double.NaN : s / n;
    }

    /** Mean distance over {@code pairs} random pairs of distinct members. */
    static double meanRandomPairs(List<float[]> set, int pairs, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double s = 0;
        for (int k = 0; k < pairs; k++) {
            int i = r.nextInt(set.size());
            int j = r.nextInt(set.size() - 1);
            s += rms(set.get(i), set.get(j >= i ? j + 1 : j));
        }
        return s / pairs;
    }

    /** The p-th percentile (0..100) by linear interpolation between order statistics. */
    static double percentile(double[] values, double p) {
        double[] s = values.clone();
        Arrays.sort(s);
        double pos = p / 100 * (s.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, s.length - 1);
        return s[lo] + (pos - lo) * (s[hi] - s[lo]);
    }

    /** The category of an emoji caption (first word group in parentheses), or "" if none. */
    static String category(String caption) {
        int open = caption.lastIndexOf('(');
        int close = caption.indexOf(')', Math.max(open, 0));
        if (open < 0 || close < 0) {
            return "";
        }
        String inside = caption.substring(open + 1, close);
        int comma = inside.indexOf(',');
        return (comma < 0 ? inside : inside.substring(0, comma)).trim();
    }

    /** The emoji's name: the caption up to its first comma (skin tones come after it). */
    static String name(String caption) {
        int comma = caption.indexOf(',');
        return (comma < 0 ? caption : caption.substring(0, comma)).trim();
    }

    /**
     * Fraction of generated images whose nearest training image has the category of the
     * prompt at index {@code promptOf(i)}: with {@code shift} 0 the image's own prompt, with a
     * shift another prompt's (the chance level of the same matching).
     */
    static double categoryRate(List<String> promptCaptions, List<String> nearestCaptions,
            int shift) {
        int n = promptCaptions.size();
        int hits = 0;
        for (int i = 0; i < n; i++) {
            String want = category(promptCaptions.get((i + shift) % n));
            if (!want.isEmpty() && want.equals(category(nearestCaptions.get(i)))) {
                hits++;
            }
        }
        return (double) hits / n;
    }

    /** Chance level: the category rate averaged over every non-zero shift of the prompts. */
    static double chanceCategoryRate(List<String> promptCaptions, List<String> nearestCaptions) {
        int n = promptCaptions.size();
        double s = 0;
        for (int shift = 1; shift < n; shift++) {
            s += categoryRate(promptCaptions, nearestCaptions, shift);
        }
        return n > 1 ? s / (n - 1) : Double.NaN;
    }

    /** Distinct indices in [0, n), {@code k} of them, sorted, drawn from {@code seed}. */
    static int[] sample(int n, int k, long seed) {
        if (k > n) {
            throw new IllegalArgumentException("cannot draw " + k + " of " + n);
        }
        int[] idx = IntStream.range(0, n).toArray();
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < k; i++) {
            int j = i + r.nextInt(n - i);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        int[] out = Arrays.copyOf(idx, k);
        Arrays.sort(out);
        return out;
    }

    /**
     * A grid of equally sized images, each enlarged {@code scale} times, separated by
     * {@code gap} pixels of light grey.
     */
    static GeneratedImage grid(List<List<GeneratedImage>> rows, int scale, int gap) {
        int cw = rows.get(0).get(0).width() * scale;
        int ch = rows.get(0).get(0).height() * scale;
        int cols = rows.stream().mapToInt(List::size).max().orElse(0);
        int w = cols * cw + (cols + 1) * gap;
        int h = rows.size() * ch + (rows.size() + 1) * gap;
        int[] px = new int[w * h];
        Arrays.fill(px, 0xFFDDDDDD);
        for (int r = 0; r < rows.size(); r++) {
            List<GeneratedImage> row = new ArrayList<>(rows.get(r));
            for (int c = 0; c < row.size(); c++) {
                GeneratedImage img = row.get(c);
                int ox = gap + c * (cw + gap);
                int oy = gap + r * (ch + gap);
                for (int y = 0; y < ch; y++) {
                    for (int x = 0; x < cw; x++) {
                        px[(oy + y) * w + ox + x] = img.rgb(x / scale, y / scale);
                    }
                }
            }
        }
        return new GeneratedImage(w, h, px, null, java.util.Map.of());
    }
}
