package dev.jdiffusion.djl.train;

import java.util.Locale;

/**
 * What a denoising network is trained to output for a noisy input x<sub>t</sub> = √ᾱ·x₀ +
 * √(1−ᾱ)·ε, named as diffusers' {@code prediction_type}.
 */
public enum PredictionType {

    /** The noise ε ({@code epsilon}). */
    EPSILON("epsilon"),

    /** The velocity v = √ᾱ·ε − √(1−ᾱ)·x₀ ({@code v_prediction}, Salimans &amp; Ho 2022). */
    V_PREDICTION("v_prediction"),

    /** The clean sample x₀ ({@code sample}). */
    SAMPLE("sample");

    private final String configName;

    PredictionType(String configName) {
        this.configName = configName;
    }

    /**
     * The name used in diffusers' scheduler configs.
     *
     * @return {@code epsilon}, {@code v_prediction} or {@code sample}
     */
    public String configName() {
        return configName;
    }

    /**
     * Looks a prediction type up by its diffusers name.
     *
     * @param name {@code epsilon}, {@code v_prediction} or {@code sample} (case-insensitive)
     * @return the prediction type
     * @throws IllegalArgumentException for any other name
     */
    public static PredictionType of(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (PredictionType p : values()) {
            if (p.configName.equals(n)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown prediction_type '" + name
                + "'; use epsilon, v_prediction or sample");
    }
}
