package dev.jdiffusion.samplers;

import java.util.Locale;

/**
 * How the inference timesteps are picked among the training timesteps, as diffusers' {@code
 * timestep_spacing} (Lin et al. 2023, table 2). The exact formulas, which differ slightly
 * between diffusers' scheduler classes, are applied by {@link DiffusersScheduler}.
 */
public enum TimestepSpacing {

    /** Multiples of ⌊T / n⌋ counted up from 0, plus {@code steps_offset}. */
    LEADING("leading"),

    /** n evenly spaced values from T − 1 down to 0. */
    LINSPACE("linspace"),

    /** Multiples of T / n counted down from T, minus 1. */
    TRAILING("trailing");

    private final String diffusersName;

    TimestepSpacing(String diffusersName) {
        this.diffusersName = diffusersName;
    }

    /**
     * The name diffusers uses in {@code scheduler_config.json}.
     *
     * @return for example {@code "leading"}
     */
    public String diffusersName() {
        return diffusersName;
    }

    /**
     * Parses diffusers' name of a spacing.
     *
     * @param name {@code leading}, {@code linspace} or {@code trailing}; case-insensitive
     * @return the spacing
     * @throws IllegalArgumentException for any other name
     */
    public static TimestepSpacing parse(String name) {
        if (name != null) {
            String n = name.trim().toLowerCase(Locale.ROOT);
            for (TimestepSpacing s : values()) {
                if (s.diffusersName.equals(n)) {
                    return s;
                }
            }
        }
        throw new IllegalArgumentException("unknown timestep_spacing '" + name
                + "'; supported: leading, linspace, trailing");
    }
}
