package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.djl.toy.Points2d;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/** Draws the toy2d picture with Java2D: data (grey), samples (coloured), trajectories. */
final class Toy2dPlot {

    private static final int SIZE = 1000;
    private static final int MARGIN_LEFT = 80;
    private static final int MARGIN_RIGHT = 40;
    private static final int MARGIN_TOP = 100;
    private static final int MARGIN_BOTTOM = 70;
    private static final double RANGE = 2.6;
    private static final Color[] PALETTE = {
        new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0xd62728),
        new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};
    private static final Color SAMPLE = new Color(0x1f77b4);
    private static final Color TRAJECTORY = new Color(0xd62728);

    private final String dataset;
    private final String sampler;
    private final int sampleSteps;
    private final int trainSteps;
    private final double distance;
    private final double baseline;
    private final long seed;
    private final boolean conditional;
    private final float guidance;

    Toy2dPlot(String dataset, String sampler, int sampleSteps, int trainSteps, double distance,
            double baseline, long seed, boolean conditional, float guidance) {
        this.dataset = dataset;
        this.sampler = sampler;
        this.sampleSteps = sampleSteps;
        this.trainSteps = trainSteps;
        this.distance = distance;
        this.baseline = baseline;
        this.seed = seed;
        this.conditional = conditional;
        this.guidance = guidance;
    }

    void write(Path file, Points2d data, float[] gen, int[] labels, float[][] paths)
            throws IOException {
        int plotW = SIZE - MARGIN_LEFT - MARGIN_RIGHT;
        int height = MARGIN_TOP + plotW + MARGIN_BOTTOM;
        BufferedImage img = new BufferedImage(SIZE, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING,
                    RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL,
                    RenderingHints.VALUE_STROKE_PURE);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, SIZE, height);
            Frame f = new Frame(MARGIN_LEFT, MARGIN_TOP, plotW);
            drawFrame(g, f);
            drawData(g, f, data.xy());
            drawSamples(g, f, gen, labels);
            drawTrajectories(g, f, paths);
            drawLegend(g, f, data.size(), gen.length / 2, paths.length, labels != null);
            drawTitle(g);
        } finally {
            g.dispose();
        }
        Map<String, String> text = new LinkedHashMap<>();
        text.put("Software", "jdiffusion toy2d");
        text.put("parameters", subtitle());
        GeneratedImage im = GeneratedImage.fromBufferedImage(img);
        // The PNG carries the run's settings as text; written atomically.
        new GeneratedImage(im.width(), im.height(), im.rgb(), seed, text).writePng(file);
    }

    /** Maps data coordinates to pixels. */
    private static final class Frame {
        final int left;
        final int top;
        final int size;

        Frame(int left, int top, int size) {
            this.left = left;
            this.top = top;
            this.size = size;
        }

        double px(double x) {
            return left + (x + RANGE) / (2 * RANGE) * size;
        }

        double py(double y) {
            return top + (RANGE - y) / (2 * RANGE) * size;
        }
    }

    private static void drawFrame(Graphics2D g, Frame f) {
        g.setColor(new Color(0xFAFAFA));
        g.fillRect(f.left, f.top, f.size, f.size);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 15));
        FontMetrics fm = g.getFontMetrics();
        for (int i = -5; i <= 5; i++) {
            double v = i * 0.5;
            boolean major = i % 2 == 0;
            g.setColor(i == 0 ? new Color(0xC8C8C8) : new Color(major ? 0xE6E6E6 : 0xF0F0F0));
            g.setStroke(new BasicStroke(i == 0 ? 1.5f : 1f));
            int x = (int) Math.round(f.px(v));
            int y = (int) Math.round(f.py(v));
            g.drawLine(x, f.top, x, f.top + f.size);
            g.drawLine(f.left, y, f.left + f.size, y);
            if (major) {
                String label = String.format(Locale.ROOT, "%d", i / 2);
                g.setColor(new Color(0x555555));
                g.drawLine(x, f.top + f.size, x, f.top + f.size + 6);
                g.drawLine(f.left - 6, y, f.left, y);
                g.drawString(label, x - fm.stringWidth(label) / 2, f.top + f.size + 24);
                g.drawString(label, f.left - 12 - fm.stringWidth(label), y + 5);
            }
        }
        g.setColor(new Color(0x555555));
        g.setStroke(new BasicStroke(1.2f));
        g.drawRect(f.left, f.top, f.size, f.size);
        g.setFont(new Font(Font.SANS_SERIF, Font.ITALIC, 17));
        g.drawString("x", f.left + f.size / 2 - 4, f.top + f.size + 52);
        g.drawString("y", f.left - 50, f.top + f.size / 2 + 5);
    }

    private static void drawData(Graphics2D g, Frame f, float[] xy) {
        g.setColor(new Color(150, 150, 150, 70));
        for (int i = 0; i < xy.length / 2; i++) {
            dot(g, f.px(xy[2 * i]), f.py(xy[2 * i + 1]), 4.0);
        }
    }

    private static void drawSamples(Graphics2D g, Frame f, float[] xy, int[] labels) {
        for (int i = 0; i < xy.length / 2; i++) {
            Color c = labels == null ? SAMPLE : PALETTE[labels[i] % PALETTE.length];
            g.setColor(new Color(c.getRed(), c.getGreen(), c.getBlue(), 170));
            dot(g, f.px(xy[2 * i]), f.py(xy[2 * i + 1]), 5.0);
        }
    }

    private static void drawTrajectories(Graphics2D g, Frame f, float[][] paths) {
        g.setStroke(new BasicStroke(1.6f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        for (float[] p : paths) {
            Path2D.Double line = new Path2D.Double();
            line.moveTo(f.px(p[0]), f.py(p[1]));
            for (int k = 1; k < p.length / 2; k++) {
                line.lineTo(f.px(p[2 * k]), f.py(p[2 * k + 1]));
            }
            g.setColor(new Color(TRAJECTORY.getRed(), TRAJECTORY.getGreen(),
                    TRAJECTORY.getBlue(), 200));
            g.draw(line);
            double sx = f.px(p[0]);
            double sy = f.py(p[1]);
            g.setColor(Color.WHITE);
            dot(g, sx, sy, 9);
            g.setColor(TRAJECTORY);
            g.setStroke(new BasicStroke(1.8f));
            g.draw(new Ellipse2D.Double(sx - 4.5, sy - 4.5, 9, 9));
            g.setStroke(new BasicStroke(1.6f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
            int last = p.length / 2 - 1;
            g.setColor(new Color(0x7f0000));
            dot(g, f.px(p[2 * last]), f.py(p[2 * last + 1]), 7);
        }
    }

    private void drawLegend(Graphics2D g, Frame f, int nData, int nGen, int nPaths,
            boolean byClass) {
        int x = f.left + 14;
        int y = f.top + 14;
        int w = 330;
        int h = 122;
        g.setColor(new Color(255, 255, 255, 225));
        g.fillRoundRect(x, y, w, h, 10, 10);
        g.setColor(new Color(0xBBBBBB));
        g.setStroke(new BasicStroke(1f));
        g.drawRoundRect(x, y, w, h, 10, 10);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 15));
        int tx = x + 40;
        int row = y + 26;
        g.setColor(new Color(150, 150, 150));
        dot(g, x + 20, row - 5, 8);
        g.setColor(new Color(0x333333));
        g.drawString("training data (" + nData + ")", tx, row);
        row += 26;
        if (byClass) {
            for (int k = 0; k < 4; k++) {
                g.setColor(PALETTE[k]);
                dot(g, x + 12 + 6 * k, row - 5, 7);
            }
        } else {
            g.setColor(SAMPLE);
            dot(g, x + 20, row - 5, 8);
        }
        g.setColor(new Color(0x333333));
        g.drawString("generated (" + nGen + (byClass ? ", colour = class" : "") + ")", tx, row);
        row += 26;
        g.setColor(TRAJECTORY);
        g.setStroke(new BasicStroke(2f));
        g.drawLine(x + 10, row - 5, x + 30, row - 5);
        g.setColor(new Color(0x333333));
        g.drawString("denoising paths (" + nPaths + "), x/\u221a(\u03c3\u00b2+1)", tx, row);
        row += 26;
        g.setColor(TRAJECTORY);
        g.setStroke(new BasicStroke(1.8f));
        g.draw(new Ellipse2D.Double(x + 15.5, row - 9.5, 9, 9));
        g.setColor(new Color(0x7f0000));
        dot(g, x + 31, row - 5, 7);
        g.setColor(new Color(0x333333));
        g.drawString("start (noise) \u2192 end (sample)", tx, row);
    }

    private void drawTitle(Graphics2D g) {
        g.setColor(new Color(0x222222));
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 24));
        String title = String.format(Locale.ROOT, "%s  \u00b7  %s, %d steps  \u00b7  "
                + "energy distance %s", dataset, sampler, sampleSteps, fmt(distance));
        FontMetrics fm = g.getFontMetrics();
        g.drawString(title, (SIZE - fm.stringWidth(title)) / 2, 42);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 16));
        g.setColor(new Color(0x555555));
        String sub = subtitle();
        fm = g.getFontMetrics();
        g.drawString(sub, (SIZE - fm.stringWidth(sub)) / 2, 72);
    }

    private String subtitle() {
        return String.format(Locale.ROOT, "MLP denoiser, %d training steps, seed %d, %s"
                + "  \u00b7  two data draws: %s", trainSteps, seed,
                conditional ? String.format(Locale.ROOT, "class-conditional (guidance %.1f)",
                        guidance) : "unconditional", fmt(baseline));
    }

    /** Four decimals, without a "-0.0000" for tiny negative U-statistics. */
    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.4f", Math.abs(v) < 5e-5 ? 0.0 : v);
    }

    private static void dot(Graphics2D g, double cx, double cy, double d) {
        g.fill(new Ellipse2D.Double(cx - d / 2, cy - d / 2, d, d));
    }
}
