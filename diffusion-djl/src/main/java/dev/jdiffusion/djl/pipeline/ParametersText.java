package dev.jdiffusion.djl.pipeline;

import dev.jdiffusion.api.ImageParameters;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The {@code parameters} PNG text that Stable Diffusion tools write and read:
 *
 * <pre>
 * a cat face
 * Negative prompt: blurry
 * Steps: 20, Sampler: euler_a, CFG scale: 7.5, Seed: 42, Size: 32x32, Model: emoji
 * </pre>
 *
 * <p>Written by {@link ImageParameters#text()}, which quotes prompts and values that could
 * otherwise be mistaken for other lines or settings.
 */
final class ParametersText {

    private ParametersText() {}

    /** The parameters text; {@code extra} settings (e.g. {@code Lora hashes}) come last. */
    static String format(String prompt, String negative, int steps, String sampler,
            double guidance, long seed, int width, int height, String model, Double strength,
            String spacing, int clipSkip, Map<String, String> extra) {
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("Steps", Integer.toString(steps));
        settings.put("Sampler", sampler);
        settings.put("CFG scale", number(guidance));
        settings.put("Seed", Long.toString(seed));
        settings.put("Size", width + "x" + height);
        settings.put("Model", model);
        if (spacing != null) {
            settings.put("Schedule", spacing);
        }
        if (clipSkip > 0) {
            settings.put("Clip skip", Integer.toString(clipSkip + 1)); // AUTOMATIC1111 counts from 1
        }
        if (strength != null) {
            settings.put("Denoising strength", number(strength));
        }
        settings.putAll(extra);
        return new ImageParameters(prompt, negative, settings).text();
    }

    private static String number(double v) {
        if (v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%.1f", v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }
}
