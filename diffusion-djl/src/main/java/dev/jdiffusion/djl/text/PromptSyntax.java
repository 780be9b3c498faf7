package dev.jdiffusion.djl.text;

import java.util.Locale;

/**
 * How a prompt's text is read before it is tokenized.
 *
 * <p>A model folder's {@code jdiffusion.json} may name its syntax as {@code "prompt_syntax"};
 * Stable Diffusion models default to {@link #A1111}. A request may override it.
 */
public enum PromptSyntax {
    /** The text as it is: brackets and {@code BREAK} are ordinary characters and words. */
    PLAIN,
    /**
     * AUTOMATIC1111's emphasis syntax: {@code (word)} ×1.1, {@code (word:1.3)}, {@code [word]}
     * ÷1.1, {@code \(} for a literal bracket, {@code BREAK} to start a new 75-token chunk.
     * jdiffusion is stricter than AUTOMATIC1111 in a few places and fails with a {@link
     * PromptParseException} there rather than guess (see {@code PromptParser}).
     */
    A1111;

    /**
     * The syntax of a name.
     *
     * @param name {@code "plain"} or {@code "a1111"}, in any case
     * @return the syntax
     * @throws IllegalArgumentException for any other name
     */
    public static PromptSyntax of(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "plain" -> PLAIN;
            case "a1111" -> A1111;
            default -> throw new IllegalArgumentException("unknown prompt syntax '" + name
                    + "': use \"plain\" or \"a1111\"");
        };
    }

    /**
     * The name used in {@code jdiffusion.json} and requests.
     *
     * @return {@code "plain"} or {@code "a1111"}
     */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }
}
