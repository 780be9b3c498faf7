package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffusion.api.Denoiser;

/**
 * A 2-D mixture of Gaussians and its exact denoiser: with x = x₀ + σ·ε, x given component k is
 * N(μ<sub>k</sub>, Σ<sub>k</sub> + σ²I), so E[x₀ | x] = Σ<sub>k</sub> r<sub>k</sub>(x)·(μ<sub>k</sub>
 * + Σ<sub>k</sub>(Σ<sub>k</sub> + σ²I)<sup>−1</sup>(x − μ<sub>k</sub>)) with responsibilities
 * r<sub>k</sub> ∝ w<sub>k</sub>·N(x; μ<sub>k</sub>, Σ<sub>k</sub> + σ²I). Computed in double in Java.
 */
final class GaussianMixture implements Denoiser {

    final double[] weights;
    final double[][] means; // (K, 2)
    final double[][] covs; // (K, 3): σxx, σxy, σyy

    GaussianMixture(double[] weights, double[][] means, double[][] covs) {
        this.weights = weights;
        this.means = means;
        this.covs = covs;
    }

    static GaussianMixture threeComponents() {
        return new GaussianMixture(
                new double[] {0.5, 0.3, 0.2},
                new double[][] {{-4, 0}, {3, 3}, {2, -3.5}},
                new double[][] {{0.5, 0.2, 0.3}, {0.2, 0, 0.6}, {0.4, -0.15, 0.25}});
    }

    int size() {
        return weights.length;
    }

    /** Responsibilities of each component for a point observed at noise level σ. */
    double[] responsibilities(double x, double y, double sigma) {
        int k = size();
        double[] logp = new double[k];
        double max = Double.NEGATIVE_INFINITY;
        double s2 = sigma * sigma;
        for (int c = 0; c < k; c++) {
            double a = covs[c][0] + s2;
            double b = covs[c][1];
            double d = covs[c][2] + s2;
            double det = a * d - b * b;
            double dx = x - means[c][0];
            double dy = y - means[c][1];
            double q = (d * dx * dx - 2 * b * dx * dy + a * dy * dy) / det;
            logp[c] = Math.log(weights[c]) - 0.5 * Math.log(det) - 0.5 * q;
            max = Math.max(max, logp[c]);
        }
        double sum = 0;
        for (int c = 0; c < k; c++) {
            logp[c] = Math.exp(logp[c] - max);
            sum += logp[c];
        }
        for (int c = 0; c < k; c++) {
            logp[c] /= sum;
        }
        return logp;
    }

    @Override
    public NDArray denoise(NDArray x, float sigma) {
        float[] v = x.toFloatArray(); // (N, 2)
        int n = v.length / 2;
        float[] out = new float[v.length];
        double s2 = (double) sigma * sigma;
        for (int i = 0; i < n; i++) {
            double px = v[2 * i];
            double py = v[2 * i + 1];
            double[] r = responsibilities(px, py, sigma);
            double ox = 0;
            double oy = 0;
            for (int c = 0; c < size(); c++) {
                double a = covs[c][0] + s2;
                double b = covs[c][1];
                double d = covs[c][2] + s2;
                double det = a * d - b * b;
                double dx = px - means[c][0];
                double dy = py - means[c][1];
                // u = (Σ + σ²I)^-1 (x − μ), then μ + Σ u
                double ux = (d * dx - b * dy) / det;
                double uy = (-b * dx + a * dy) / det;
                double mx = means[c][0] + covs[c][0] * ux + covs[c][1] * uy;
                double my = means[c][1] + covs[c][1] * ux + covs[c][2] * uy;
                ox += r[c] * mx;
                oy += r[c] * my;
            }
            out[2 * i] = (float) ox;
            out[2 * i + 1] = (float) oy;
        }
        return x.getManager().create(out, x.getShape());
    }
}
