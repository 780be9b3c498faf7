package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.jdiffusion.api.GeneratedImage;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QualityMetricsTest {

    @Test
    void vectorAndDistanceAreInUnitsOfFullScale() {
        GeneratedImage white = solid(0xFFFFFF);
        GeneratedImage black = solid(0x000000);
        GeneratedImage red = solid(0xFF0000);
        assertEquals(1.0, QualityMetrics.rms(QualityMetrics.vector(white),
                QualityMetrics.vector(black)), 1e-9);
        // Red differs from white in two of three channels by full scale.
        assertEquals(Math.sqrt(2.0 / 3), QualityMetrics.rms(QualityMetrics.vector(white),
                QualityMetrics.vector(red)), 1e-6);
        assertArrayEquals(new float[] {1, 0, 0}, Arrays.copyOf(QualityMetrics.vector(red), 3));
        assertThrows(IllegalArgumentException.class,
                () -> QualityMetrics.rms(new float[2], new float[3]));
    }

    @Test
    void nearestSkipsTheGivenIndexAndLeaveOneOutUsesIt() {
        List<float[]> set = List.of(new float[] {0f}, new float[] {0.1f}, new float[] {0.5f},
                new float[] {1f});
        assertEquals(1, QualityMetrics.nearest(new float[] {0.12f}, set, -1));
        assertEquals(0, QualityMetrics.nearest(new float[] {0.1f}, set, 1));
        double[] loo = QualityMetrics.leaveOneOutNearest(set);
        assertArrayEquals(new double[] {0.1, 0.1, 0.4, 0.5}, loo, 1e-6);
    }

    @Test
    void pairwiseMeansAndPercentiles() {
        List<float[]> set = List.of(new float[] {0f}, new float[] {1f}, new float[] {0.5f});
        // pairs: 1, 0.5, 0.5
        assertEquals(2.0 / 3, QualityMetrics.meanPairwise(set), 1e-9);
        assertEquals(2.0 / 3, QualityMetrics.meanRandomPairs(set, 30_000, 1), 0.01);
        double[] v = {4, 1, 3, 2, 5};
        assertEquals(1, QualityMetrics.percentile(v, 0));
        assertEquals(3, QualityMetrics.percentile(v, 50));
        assertEquals(1.4, QualityMetrics.percentile(v, 10), 1e-9);
        assertEquals(5, QualityMetrics.percentile(v, 100));
    }

    @Test
    void captionsParseNameAndCategory() {
        String c = "waving hand, wave (people & body, hand-fingers-open), medium skin tone";
        assertEquals("people & body", QualityMetrics.category(c));
        assertEquals("waving hand", QualityMetrics.name(c));
        assertEquals("symbols", QualityMetrics.category("keycap: *, keycap star (symbols, keycap)"));
        assertEquals("", QualityMetrics.category("no category here"));
    }

    @Test
    void categoryRateAndItsChanceLevel() {
        List<String> prompts = List.of("a (x, s)", "b (y, s)", "c (z, s)", "d (x, s)");
        // Nearest images: right category for the first three, wrong for the last.
        List<String> nearest = List.of("p (x, s)", "q (y, s)", "r (z, s)", "t (y, s)");
        assertEquals(0.75, QualityMetrics.categoryRate(prompts, nearest, 0), 1e-12);
        // Shift 1 pairs no category, shift 2 one (y), shift 3 one (x): (0 + 1/4 + 1/4) / 3.
        assertEquals(1.0 / 6, QualityMetrics.chanceCategoryRate(prompts, nearest), 1e-12);
    }

    @Test
    void sampleDrawsDistinctSortedIndicesReproducibly() {
        int[] a = QualityMetrics.sample(100, 10, 5);
        assertArrayEquals(a, QualityMetrics.sample(100, 10, 5));
        assertEquals(10, Arrays.stream(a).distinct().count());
        for (int i = 1; i < a.length; i++) {
            assertEquals(true, a[i] > a[i - 1]);
        }
        assertThrows(IllegalArgumentException.class, () -> QualityMetrics.sample(3, 4, 1));
    }

    @Test
    void gridPlacesEnlargedCellsBetweenGaps() {
        GeneratedImage g = QualityMetrics.grid(List.of(List.of(solid(0x112233), solid(0x445566))),
                2, 1);
        // Two 2x2 cells enlarged to 4x4, gaps of 1: width 1+4+1+4+1, height 1+4+1.
        assertEquals(11, g.width());
        assertEquals(6, g.height());
        assertEquals(0xDDDDDD, g.rgb(0, 0) & 0xFFFFFF);
        assertEquals(0x112233, g.rgb(1, 1) & 0xFFFFFF);
        assertEquals(0x112233, g.rgb(4, 4) & 0xFFFFFF);
        assertEquals(0xDDDDDD, g.rgb(5, 1) & 0xFFFFFF);
        assertEquals(0x445566, g.rgb(6, 1) & 0xFFFFFF);
    }

    private static GeneratedImage solid(int rgb) {
        int[] px = new int[4];
        Arrays.fill(px, rgb);
        return new GeneratedImage(2, 2, px, null, Map.of());
    }
}
