package dev.jdiffusion.djl.lora;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The {@code <lora:name:weight>} tags of A1111 prompts: found, parsed and stripped from the text
 * that is encoded. {@code <lora:name>} means weight 1. A1111's longer forms (separate text
 * encoder and UNet multipliers, named arguments) are refused with a message that gives the
 * position, as is a malformed weight. Other {@code <...>} text is left alone.
 *
 * <p>Stateless and thread-safe.
 */
public final class LoraTags {

    private static final String OPEN = "<lora:";

    private LoraTags() {}

    /**
     * One tag.
     *
     * @param name the LoRA's name (a file {@code name.safetensors} in a LoRA folder)
     * @param weight its multiplier
     */
    public record Tag(String name, double weight) {

        /**
         * The tag as A1111 writes it, e.g. {@code <lora:film:0.8>}.
         *
         * @return the tag text
         */
        public String text() {
            return "<lora:" + name + ":" + number(weight) + ">";
        }
    }

    /**
     * A prompt split into its text and its tags.
     *
     * @param text the prompt without the tags (what the text encoder should see)
     * @param tags the tags in order of appearance
     */
    public record Parsed(String text, List<Tag> tags) {

        /**
         * Copies the list.
         *
         * @param text the text
         * @param tags the tags
         */
        public Parsed {
            Objects.requireNonNull(text, "text");
            tags = List.copyOf(tags);
        }
    }

    /**
     * Finds and removes the LoRA tags of a prompt.
     *
     * @param prompt the prompt as typed
     * @return the text without the tags, and the tags
     * @throws IllegalArgumentException if a tag is unterminated, has an empty name, more than
     *     one weight or a weight that is not a finite number; the message gives the position
     */
    public static Parsed parse(String prompt) {
        StringBuilder text = new StringBuilder(prompt.length());
        List<Tag> tags = new ArrayList<>();
        int i = 0;
        while (true) {
            int at = prompt.indexOf(OPEN, i);
            if (at < 0) {
                text.append(prompt, i, prompt.length());
                break;
            }
            text.append(prompt, i, at);
            int end = prompt.indexOf('>', at);
            if (end < 0) {
                throw new IllegalArgumentException("prompt: the LoRA tag at position " + at
                        + " has no closing '>'; write <lora:name:weight>");
            }
            String body = prompt.substring(at + OPEN.length(), end);
            String[] parts = body.split(":", -1);
            String name = parts[0].strip();
            if (name.isEmpty()) {
                throw new IllegalArgumentException("prompt: the LoRA tag at position " + at
                        + " has no name; write <lora:name:weight>");
            }
            if (parts.length > 2) {
                throw new IllegalArgumentException("prompt: the LoRA tag '"
                        + prompt.substring(at, end + 1) + "' at position " + at + " has more"
                        + " than one weight; separate text encoder and UNet weights are not"
                        + " supported, write <lora:" + name + ":weight>");
            }
            double weight = 1;
            if (parts.length == 2) {
                try {
                    weight = Double.parseDouble(parts[1].strip());
                } catch (NumberFormatException e) {
                    weight = Double.NaN;
                }
                if (!Double.isFinite(weight)) {
                    throw new IllegalArgumentException("prompt: the weight '" + parts[1]
                            + "' of the LoRA tag at position " + at + " is not a number");
                }
            }
            tags.add(new Tag(name, weight));
            i = end + 1;
        }
        return new Parsed(text.toString(), tags);
    }

    /**
     * Formats a weight as A1111 does in tags: the shortest decimal form, {@code 1} rather than
     * {@code 1.0}.
     *
     * @param weight the weight
     * @return the text
     */
    static String number(double weight) {
        if (weight == Math.rint(weight) && Math.abs(weight) < 1e15) {
            return Long.toString((long) weight);
        }
        return String.format(Locale.ROOT, "%s", weight);
    }
}
