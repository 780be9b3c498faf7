package dev.jdiffusion.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.djl.toy.Points2d;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Toy2dPlotTest {

    @Test
    void drawsDataSamplesAndTrajectoriesWhereTheyBelong(@TempDir Path dir) throws Exception {
        // Data: many points at (−1, −1); one generated point at (1, 1); a path from (0, 2) to
        // (1, 1).
        float[] data = new float[400];
        java.util.Arrays.fill(data, -1f);
        Points2d points = new Points2d("test", data, null, 0);
        float[][] paths = {{0f, 2f, 0.5f, 1.5f, 1f, 1f}};
        Path file = dir.resolve("plot.png");
        new Toy2dPlot("test", "euler", 2, 10, 0.0123, 0.0004, 5, false, 1f)
                .write(file, points, new float[] {1f, 1f, 1.2f, 1.2f}, null, paths);
        GeneratedImage img = GeneratedImage.read(file);
        assertThat(img.width()).isEqualTo(1000);
        // Plot area: 880 px for [−2.6, 2.6] starting at (80, 100).
        int[] dataPx = pixel(-1, -1);
        int[] genPx = pixel(1.2, 1.2);
        int[] midPath = pixel(0.25, 1.75);
        int grey = img.rgb(dataPx[0], dataPx[1]);
        assertThat(channel(grey, 16)).isEqualTo(channel(grey, 0)).isLessThan(200); // grey
        int blue = img.rgb(genPx[0], genPx[1]);
        assertThat(channel(blue, 0)).isGreaterThan(channel(blue, 16) + 50); // blue sample
        int red = img.rgb(midPath[0], midPath[1]);
        assertThat(channel(red, 16)).isGreaterThan(channel(red, 0) + 50); // red trajectory
        assertThat(img.rgb(500, 2)).isEqualTo(0xFFFFFF); // white margin
        // Settings travel with the PNG.
        GeneratedImage back = GeneratedImage.read(file);
        assertThat(back.width()).isEqualTo(1000);
    }

    private static int[] pixel(double x, double y) {
        double range = 2.6;
        return new int[] {(int) Math.round(80 + (x + range) / (2 * range) * 880),
            (int) Math.round(100 + (range - y) / (2 * range) * 880)};
    }

    private static int channel(int rgb, int shift) {
        return (rgb >> shift) & 0xFF;
    }
}
