package dev.jdiffusion.samplers;

import java.util.Locale;

/**
 * What a variance-preserving network predicts, named as in diffusers' {@code prediction_type}.
 * Only {@link VpDenoiser} looks at it; samplers never do.
 */
public enum PredictionType {

    /** The added noise ε ({@code "epsilon"}); x₀ = x − σ·ε. */
    EPSILON("epsilon"),

    /** The velocity v = √ᾱ·ε − √(1 − ᾱ)·x₀ ({@code "v_prediction"}). */
    V_PREDICTION("v_prediction"),

    /** The clean sample x₀ itself ({@code "sample"}). */
    SAMPLE("sample");

    private final String diffusersName;

    PredictionType(String diffusersName) {
        this.diffusersName = diffusersName;
    }

    /**
     * The name diffusers uses in {@code scheduler_config.json}.
     *
     * @return for example {@code "v_prediction"}
     */
    public String diffusersName() {
        return diffusersName;
    }

    /**
     * Parses diffusers' name of a prediction type.
     *
     * @param name {@code epsilon}, {@code v_prediction} or {@code sample}; case-insensitive
     * @return the prediction type
     * @throws IllegalArgumentException for any other name
     */
    public static PredictionType parse(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (PredictionType p : values()) {
                if (p.diffusersName.equals(n)) {
                    return p;
                }
            }
        }
        throw new IllegalArgumentException("unknown prediction_type '" + name
                + "'; supported: epsilon, v_prediction, sample");
    }
}
