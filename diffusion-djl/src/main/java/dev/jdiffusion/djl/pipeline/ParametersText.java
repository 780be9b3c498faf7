package dev.jdiffusion.djl.pipeline;

import java.util.Locale;

/**
 * The {@code parameters} PNG text that Stable Diffusion tools write and read:
 *
 * <pre>
 * a cat face
 * Negative prompt: blurry
 * Steps: 20, Sampler: euler_a, CFG scale: 7.5, Seed: 42, Size: 32x32, Model: emoji
 * </pre>
 */
final class ParametersText {

    private ParametersText() {}

    static String format(String prompt, String negative, int steps, String sampler,
            double guidance, long seed, int width, int height, String model, Double strength,
            String spacing) {
        StringBuilder sb = new StringBuilder(prompt);
        if (!negative.isEmpty()) {
            sb.append("\nNegative prompt: ").append(negative);
        }
        sb.append("\nSteps: ").append(steps)
                .append(", Sampler: ").append(sampler)
                .append(", CFG scale: ").append(number(guidance))
                .append(", Seed: ").append(seed)
                .append(", Size: ").append(width).append('x').append(height)
                .append(", Model: ").append(model);
        if (spacing != null) {
            sb.append(", Schedule: ").append(spacing);
        }
        if (strength != null) {
            sb.append(", Denoising strength: ").append(number(strength));
        }
        return sb.toString();
    }

    private static String number(double v) {
        if (v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }
}
