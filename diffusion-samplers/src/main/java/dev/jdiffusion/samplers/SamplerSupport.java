package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Objects;

/** Checks shared by the built-in samplers. */
final class SamplerSupport {

    private SamplerSupport() {}

    /**
     * Validates a noise schedule: at least two entries, finite, strictly descending, ending in 0.
     *
     * @return the number of steps
     */
    static int checkSigmas(float[] sigmas) {
        return checkSigmas(sigmas, false);
    }

    /**
     * Validates a noise schedule like {@link #checkSigmas(float[])}, optionally also accepting a
     * positive last level at which the run stops (DDIM with diffusers' {@code set_alpha_to_one =
     * false}).
     *
     * @return the number of steps
     */
    static int checkSigmas(float[] sigmas, boolean positiveEnd) {
        Objects.requireNonNull(sigmas, "sigmas");
        if (sigmas.length < 2) {
            throw new IllegalArgumentException("sigmas needs at least 2 entries (one step from"
                    + " sigmas[0] to 0); got " + sigmas.length);
        }
        for (int i = 0; i < sigmas.length; i++) {
            if (!Float.isFinite(sigmas[i]) || sigmas[i] < 0) {
                throw new IllegalArgumentException(
                        "sigmas[" + i + "] must be finite and >= 0 (got " + sigmas[i] + ")");
            }
            if (i > 0 && !(sigmas[i] < sigmas[i - 1])) {
                throw new IllegalArgumentException("sigmas must be strictly descending, but"
                        + " sigmas[" + i + "] = " + sigmas[i] + " >= sigmas[" + (i - 1) + "] = "
                        + sigmas[i - 1]);
            }
        }
        if (!positiveEnd && sigmas[sigmas.length - 1] != 0f) {
            throw new IllegalArgumentException("sigmas must end with 0 (got "
                    + sigmas[sigmas.length - 1] + "); append 0 to the schedule");
        }
        return sigmas.length - 1;
    }

    /** Makes sure the result lives on the caller's manager. */
    static NDArray onManagerOf(NDArray result, NDArray input) {
        NDManager m = input.getManager();
        if (result.getManager() != m) {
            result.attach(m);
        }
        return result;
    }

    /** Closes an array this sampler created (never the caller's input). */
    static void release(NDArray owned, NDArray input) {
        if (owned != null && owned != input) {
            owned.close();
        }
    }

    static double inRange(String what, double v, double min, double max) {
        if (!(v >= min && v <= max)) {
            throw new IllegalArgumentException(
                    what + " must be in [" + min + ", " + max + "] (got " + v + ")");
        }
        return v;
    }
}
