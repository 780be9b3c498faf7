package dev.jdiffusion.djl.text;

/**
 * A prompt that the prompt language cannot read: an unbalanced bracket, a weight that is not a
 * number, or a construct jdiffusion does not support. The message gives the position (0-based,
 * in UTF-16 characters of the prompt) and an excerpt of the prompt with a caret under it:
 *
 * <pre>
 * prompt syntax error at position 6: unclosed '(' ...
 *   a cat (face
 *         ^
 * </pre>
 *
 * <p>Immutable.
 */
public final class PromptParseException extends IllegalArgumentException {

    /** The serialization version. */
    private static final long serialVersionUID = 1L;

    /** Characters of the prompt shown on each side of the position. */
    static final int CONTEXT = 30;

    /** @serial the 0-based character index of the problem */
    private final int position;

    PromptParseException(String prompt, int position, String problem) {
        super("prompt syntax error at position " + position + ": " + problem + "\n"
                + excerpt(prompt, position));
        this.position = position;
    }

    /**
     * Where the problem is.
     *
     * @return the 0-based character index in the prompt
     */
    public int position() {
        return position;
    }

    /** Two lines: the prompt around the position (controls shown as spaces), and a caret. */
    static String excerpt(String prompt, int position) {
        int from = Math.max(0, position - CONTEXT);
        int to = Math.min(prompt.length(), position + CONTEXT);
        StringBuilder line = new StringBuilder("  ");
        if (from > 0) {
            line.append("...");
        }
        int caret = line.length() + (position - from);
        for (int i = from; i < to; i++) {
            char c = prompt.charAt(i);
            line.append(Character.isISOControl(c) || c == '\u2028' || c == '\u2029' ? ' ' : c);
        }
        if (to < prompt.length()) {
            line.append("...");
        }
        return line + "\n" + " ".repeat(caret) + "^";
    }
}
