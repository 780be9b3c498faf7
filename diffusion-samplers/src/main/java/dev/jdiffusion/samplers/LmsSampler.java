package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplerOptions;
import dev.jdiffusion.api.SamplerProvider;
import dev.jdiffusion.api.SamplingContext;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.Optional;

/**
 * The linear multistep method (k-diffusion's {@code sample_lms}, diffusers' {@code
 * LMSDiscreteScheduler}): the slopes d<sub>j</sub> = (x − D)/σ of the last {@code order} steps
 * are interpolated by a Lagrange polynomial in σ and integrated exactly over [σ<sub>i</sub>,
 * σ<sub>i+1</sub>] (4-point Gauss–Legendre quadrature, exact up to degree 7). The first steps use
 * the lower orders available. Deterministic; the slope history is local to a call.
 *
 * <p>{@code sigmas} may also end at a positive level: the run stops there, every step an
 * ordinary one (the first stage of a base + refiner generation).
 *
 * <p>Immutable and thread-safe.
 */
public final class LmsSampler implements Sampler {

    /** The registry name. */
    public static final String NAME = "lms";

    private static final double[] GL_NODES = {
        -0.8611363115940526, -0.3399810435848563, 0.3399810435848563, 0.8611363115940526};
    private static final double[] GL_WEIGHTS = {
        0.3478548451374538, 0.6521451548625461, 0.6521451548625461, 0.3478548451374538};

    private final int order;

    /** The order-4 sampler. */
    public LmsSampler() {
        this(4);
    }

    /**
     * A sampler of a given order.
     *
     * @param order the number of past slopes used, 1 to 4
     * @throws IllegalArgumentException if the order is out of range
     */
    public LmsSampler(int order) {
        if (order < 1 || order > 4) {
            throw new IllegalArgumentException("lms order must be in [1, 4] (got " + order + ")");
        }
        this.order = order;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, float[] sigmas, SamplingContext ctx) {
        int steps = SamplerSupport.checkSigmas(sigmas, true); // may stop at a positive level
        double[] s = new double[sigmas.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = sigmas[i];
        }
        Deque<NDArray> slopes = new ArrayDeque<>(); // newest first
        NDArray cur = x;
        try {
            for (int i = 0; i < steps; i++) {
                NDArray nx;
                NDArray d;
                try (NDScope scope = new NDScope()) {
                    scope.suppressNotUsedWarning();
                    NDArray denoised = denoiser.denoise(cur, sigmas[i]);
                    d = cur.sub(denoised).divi(sigmas[i]);
                    slopes.addFirst(d);
                    int curOrder = Math.min(i + 1, order);
                    nx = cur.duplicate();
                    Iterator<NDArray> it = slopes.iterator();
                    for (int j = 0; j < curOrder; j++) {
                        nx.addi(it.next().mul((float) coefficient(curOrder, s, i, j)));
                    }
                    ctx.reportStep(i, steps, sigmas[i], sigmas[i + 1], nx, denoised);
                    NDScope.unregister(nx, d);
                }
                while (slopes.size() > order) {
                    slopes.removeLast().close();
                }
                SamplerSupport.release(cur, x);
                cur = nx;
            }
            return SamplerSupport.onManagerOf(cur, x);
        } catch (RuntimeException e) {
            SamplerSupport.release(cur, x);
            throw e;
        } finally {
            for (NDArray d : slopes) {
                d.close();
            }
        }
    }

    /**
     * ∫ over [σ<sub>i</sub>, σ<sub>i+1</sub>] of the Lagrange basis polynomial of node
     * σ<sub>i−j</sub> through σ<sub>i</sub>, …, σ<sub>i−order+1</sub>.
     */
    static double coefficient(int order, double[] t, int i, int j) {
        double a = t[i];
        double b = t[i + 1];
        double half = (b - a) / 2;
        double mid = (a + b) / 2;
        double sum = 0;
        for (int q = 0; q < GL_NODES.length; q++) {
            double tau = mid + half * GL_NODES[q];
            double prod = 1;
            for (int k = 0; k < order; k++) {
                if (k != j) {
                    prod *= (tau - t[i - k]) / (t[i - j] - t[i - k]);
                }
            }
            sum += GL_WEIGHTS[q] * prod;
        }
        return half * sum;
    }

    /**
     * The diffusers class this sampler matches: its default
     * spacing, timestep rule and initial noise apply.
     *
     * @return {@code "LMSDiscreteScheduler"}
     */
    @Override
    public Optional<String> diffusersScheduler() {
        return Optional.of("LMSDiscreteScheduler");
    }

    @Override
    public String toString() {
        return NAME + "{order=" + order + "}";
    }

    /** Service provider of {@value #NAME}: reads order (default 4). */
    public static final class Provider implements SamplerProvider {

        /** Creates the provider (used by {@link java.util.ServiceLoader}). */
        public Provider() {}

        @Override
        public String name() {
            return NAME;
        }

        @Override
        public Sampler create(SamplerOptions options) {
            return new LmsSampler(options.order().orElse(4));
        }
    }
}
