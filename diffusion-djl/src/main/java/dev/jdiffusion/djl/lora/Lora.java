package dev.jdiffusion.djl.lora;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Objects;

/**
 * One LoRA to apply and how strongly: a {@code .safetensors} file and the user's weight (the
 * multiplier A1111 writes as {@code <lora:name:weight>}; 1 is the strength it was trained at,
 * 0 turns it off, negative values invert it). The effective scale of each layer is {@code
 * weight × alpha / rank}.
 *
 * @param file the LoRA file ({@code .safetensors})
 * @param weight the multiplier; finite
 * @param name the name used in prompts and image parameters (by default the file name without
 *     {@code .safetensors})
 */
public record Lora(Path file, double weight, String name) {

    /**
     * Checks the values.
     *
     * @param file the LoRA file
     * @param weight the multiplier
     * @param name the name; not blank
     * @throws IllegalArgumentException if the weight is not finite or the name is blank
     */
    public Lora {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(name, "name");
        if (!Double.isFinite(weight)) {
            throw new IllegalArgumentException("LoRA weight must be finite, got " + weight
                    + " for " + file);
        }
        if (name.isBlank()) {
            throw new IllegalArgumentException("LoRA name must not be blank (" + file + ")");
        }
    }

    /**
     * A LoRA named after its file.
     *
     * @param file the LoRA file
     * @param weight the multiplier
     * @return the LoRA
     */
    public static Lora of(Path file, double weight) {
        return new Lora(file, weight, nameOf(file));
    }

    /**
     * The name A1111 gives a LoRA file: its file name without the {@code .safetensors}
     * extension.
     *
     * @param file the file
     * @return the name
     */
    public static String nameOf(Path file) {
        String n = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        return n.toLowerCase(Locale.ROOT).endsWith(".safetensors")
                ? n.substring(0, n.length() - ".safetensors".length()) : n;
    }
}
