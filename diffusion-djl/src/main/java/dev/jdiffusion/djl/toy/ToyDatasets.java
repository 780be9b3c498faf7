package dev.jdiffusion.djl.toy;

import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Seeded 2-D toy distributions for training and checking diffusion models in seconds. Each is
 * scaled to lie roughly within [−2, 2]²; the same seed always gives the same points.
 *
 * <ul>
 *   <li>{@code moons}: two interleaved half circles (labels: 0 upper, 1 lower), noise 0.05.
 *   <li>{@code ring}: a circle of radius 1.5 with radial noise 0.05; unlabelled.
 *   <li>{@code spiral}: two interleaved spiral arms (labels: the arm), noise 0.04.
 *   <li>{@code mixture}: 8 isotropic Gaussians (σ = {@value #MIXTURE_STD}) with centres evenly
 *       spaced on a circle of radius {@value #MIXTURE_RADIUS}; label = component.
 * </ul>
 *
 * <p>Stateless and thread-safe.
 */
public final class ToyDatasets {

    /** The names accepted by {@link #generate}. */
    public static final List<String> NAMES = List.of("moons", "ring", "spiral", "mixture");

    /** The number of mixture components. */
    public static final int MIXTURE_COMPONENTS = 8;

    /** The radius of the circle the mixture centres lie on. */
    public static final double MIXTURE_RADIUS = 1.6;

    /** The standard deviation of each mixture component. */
    public static final double MIXTURE_STD = 0.15;

    private ToyDatasets() {}

    /**
     * Generates a distribution by name.
     *
     * @param name one of {@link #NAMES}
     * @param n the number of points
     * @param seed the seed
     * @return the points
     * @throws IllegalArgumentException for an unknown name or n &lt; 1
     */
    public static Points2d generate(String name, int n, long seed) {
        switch (name.toLowerCase(Locale.ROOT)) {
            case "moons":
                return moons(n, seed);
            case "ring":
                return ring(n, seed);
            case "spiral":
                return spiral(n, seed);
            case "mixture":
                return mixture(n, seed);
            default:
                throw new IllegalArgumentException(
                        "unknown toy dataset '" + name + "'; use one of " + NAMES);
        }
    }

    /**
     * Two moons.
     *
     * @param n the number of points
     * @param seed the seed
     * @return the points, labelled by moon
     */
    public static Points2d moons(int n, long seed) {
        SplittableRandom r = random(n, seed);
        float[] xy = new float[2 * n];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int moon = r.nextInt(2);
            double a = Math.PI * r.nextDouble();
            double x = moon == 0 ? Math.cos(a) : 1 - Math.cos(a);
            double y = moon == 0 ? Math.sin(a) : 0.5 - Math.sin(a);
            x += 0.05 * r.nextGaussian();
            y += 0.05 * r.nextGaussian();
            xy[2 * i] = (float) ((x - 0.5) * 1.25);
            xy[2 * i + 1] = (float) ((y - 0.25) * 1.25);
            labels[i] = moon;
        }
        return new Points2d("moons", xy, labels, 2);
    }

    /**
     * A ring.
     *
     * @param n the number of points
     * @param seed the seed
     * @return the points, unlabelled
     */
    public static Points2d ring(int n, long seed) {
        SplittableRandom r = random(n, seed);
        float[] xy = new float[2 * n];
        for (int i = 0; i < n; i++) {
            double a = 2 * Math.PI * r.nextDouble();
            double rad = 1.5 + 0.05 * r.nextGaussian();
            xy[2 * i] = (float) (rad * Math.cos(a));
            xy[2 * i + 1] = (float) (rad * Math.sin(a));
        }
        return new Points2d("ring", xy, null, 0);
    }

    /**
     * Two spiral arms.
     *
     * @param n the number of points
     * @param seed the seed
     * @return the points, labelled by arm
     */
    public static Points2d spiral(int n, long seed) {
        SplittableRandom r = random(n, seed);
        float[] xy = new float[2 * n];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int arm = r.nextInt(2);
            double u = Math.sqrt(r.nextDouble());
            double theta = 0.3 + u * 2.5 * Math.PI;
            double rad = 1.8 * theta / (0.3 + 2.5 * Math.PI);
            double a = theta + arm * Math.PI;
            xy[2 * i] = (float) (rad * Math.cos(a) + 0.04 * r.nextGaussian());
            xy[2 * i + 1] = (float) (rad * Math.sin(a) + 0.04 * r.nextGaussian());
            labels[i] = arm;
        }
        return new Points2d("spiral", xy, labels, 2);
    }

    /**
     * The Gaussian mixture.
     *
     * @param n the number of points
     * @param seed the seed
     * @return the points, labelled by component
     */
    public static Points2d mixture(int n, long seed) {
        SplittableRandom r = random(n, seed);
        float[][] c = mixtureCenters();
        float[] xy = new float[2 * n];
        int[] labels = new int[n];
        for (int i = 0; i < n; i++) {
            int k = r.nextInt(MIXTURE_COMPONENTS);
            xy[2 * i] = (float) (c[k][0] + MIXTURE_STD * r.nextGaussian());
            xy[2 * i + 1] = (float) (c[k][1] + MIXTURE_STD * r.nextGaussian());
            labels[i] = k;
        }
        return new Points2d("mixture", xy, labels, MIXTURE_COMPONENTS);
    }

    /**
     * The mixture's component centres.
     *
     * @return {@link #MIXTURE_COMPONENTS} (x, y) pairs; component k at angle 2πk/8
     */
    public static float[][] mixtureCenters() {
        float[][] c = new float[MIXTURE_COMPONENTS][2];
        for (int k = 0; k < MIXTURE_COMPONENTS; k++) {
            double a = 2 * Math.PI * k / MIXTURE_COMPONENTS;
            c[k][0] = (float) (MIXTURE_RADIUS * Math.cos(a));
            c[k][1] = (float) (MIXTURE_RADIUS * Math.sin(a));
        }
        return c;
    }

    private static SplittableRandom random(int n, long seed) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be >= 1 (got " + n + ")");
        }
        return new SplittableRandom(seed);
    }
}
