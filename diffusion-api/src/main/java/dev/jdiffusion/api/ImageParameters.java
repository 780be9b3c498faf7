package dev.jdiffusion.api;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The generation parameters that Stable Diffusion tools store in a PNG's {@value
 * GeneratedImage#PARAMETERS_KEY} text (the AUTOMATIC1111 "infotext"): the prompt, an optional
 * {@code Negative prompt:} line, and a last line of settings:
 *
 * <pre>
 * a cat face
 * Negative prompt: blurry
 * Steps: 20, Sampler: euler_a, CFG scale: 7.5, Seed: 42, Size: 32x32, Model: emoji
 * </pre>
 *
 * <p>{@link #text()} writes ordinary prompts as they are, so every reader of that format reads
 * them. A prompt that a reader could mistake for something else (one with a line break or
 * another control character, one that starts with {@code Negative prompt:} or a quote, or with
 * space at either end, one with an unpaired surrogate) is written on its line as a JSON string
 * literal instead ({@code "cat\nNegative prompt: dog"}), and so are setting values with a comma,
 * colon or any of those characters, as AUTOMATIC1111 quotes them. {@link #parse(String)}
 * reverses this, so {@code parse(p.text())} equals {@code p} for any parameters, and no prompt
 * can forge a negative prompt or a setting. Other readers show such a prompt in its quoted
 * form. (A prompt written by another tool that happens to be one whole JSON string literal is
 * read unquoted.)
 *
 * @param prompt the prompt, possibly empty
 * @param negativePrompt the negative prompt, empty for none
 * @param settings the settings line in order, key → value; at least {@value #MIN_SETTINGS}
 *     entries (with fewer, readers take the line for part of the prompt); keys are a letter,
 *     digit or {@code _} followed by such characters, spaces, {@code -} or {@code /}, ending
 *     in a non-space; values any text
 */
public record ImageParameters(String prompt, String negativePrompt, Map<String, String> settings) {

    /** The fewest settings that mark the last line as the settings line. */
    public static final int MIN_SETTINGS = 3;

    private static final String NEGATIVE = "Negative prompt:";

    /**
     * Validates and copies.
     *
     * @param prompt the prompt, possibly empty
     * @param negativePrompt the negative prompt, empty for none
     * @param settings the settings in order; copied
     * @throws IllegalArgumentException if a value is null, there are fewer than {@value
     *     #MIN_SETTINGS} settings or a key is not a valid settings key
     */
    public ImageParameters {
        if (prompt == null || negativePrompt == null || settings == null) {
            throw new IllegalArgumentException("prompt, negativePrompt and settings must not be"
                    + " null (use \"\" for no prompt)");
        }
        if (settings.size() < MIN_SETTINGS) {
            throw new IllegalArgumentException("at least " + MIN_SETTINGS + " settings are needed"
                    + " for readers to recognise the settings line (got " + settings.keySet()
                    + "); add Steps, Sampler, Seed or the like");
        }
        Map<String, String> copy = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (e.getKey() == null || !validKey(e.getKey())) {
                throw new IllegalArgumentException("invalid settings key '" + e.getKey()
                        + "': use letters, digits, '_', spaces, '-' or '/', starting with a letter"
                        + " or digit and ending in no space");
            }
            if (e.getValue() == null) {
                throw new IllegalArgumentException("the value of setting '" + e.getKey()
                        + "' must not be null");
            }
            copy.put(e.getKey(), e.getValue());
        }
        settings = Collections.unmodifiableMap(copy);
    }

    /**
     * The clip skip of these settings in diffusers' convention, read from AUTOMATIC1111's
     * {@code Clip skip: N} (N = 1 is the last layer, so the result is N − 1).
     *
     * @return the clip skip, 0 when the setting is absent
     * @throws IllegalArgumentException if the setting is not a positive integer
     */
    public int clipSkip() {
        String v = settings.get("Clip skip");
        if (v == null) {
            return 0;
        }
        try {
            int n = Integer.parseInt(v.strip());
            if (n >= 1) {
                return n - 1;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("the setting 'Clip skip: " + v + "' is not a"
                + " positive integer");
    }

    /**
     * Reads a parameters text, written by this class or by another Stable Diffusion tool.
     *
     * @param text the text of a PNG's {@value GeneratedImage#PARAMETERS_KEY} entry
     * @return the parameters, or empty if the text has no settings line (a last line of at
     *     least {@value #MIN_SETTINGS} {@code key: value} entries)
     */
    public static Optional<ImageParameters> parse(String text) {
        String[] lines = text.strip().split("\n", -1);
        Map<String, String> settings = settingsLine(lines[lines.length - 1]);
        if (settings.size() < MIN_SETTINGS) {
            return Optional.empty();
        }
        StringBuilder prompt = new StringBuilder();
        StringBuilder negative = new StringBuilder();
        boolean inNegative = false;
        for (int i = 0; i < lines.length - 1; i++) {
            String line = lines[i].strip();
            if (line.startsWith(NEGATIVE)) {
                inNegative = true;
                line = line.substring(NEGATIVE.length()).strip();
            }
            StringBuilder target = inNegative ? negative : prompt;
            if (target.length() > 0) {
                target.append('\n');
            }
            target.append(line);
        }
        return Optional.of(new ImageParameters(unquoteWhole(prompt.toString()),
                unquoteWhole(negative.toString()), settings));
    }

    /**
     * The {@code key: value} entries of a settings line, found as AUTOMATIC1111 finds every
     * match of {@code \\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)}, a
     * quoted value unquoted; scanned by hand in linear time (that regex recurses once per
     * character of a quoted value in Java's engine, overflowing the stack on a long one).
     */
    static Map<String, String> settingsLine(String line) {
        Map<String, String> out = new LinkedHashMap<>();
        int n = line.length();
        int p = 0;
        while (p < n) {
            int k = p;
            while (k < n && Character.isWhitespace(line.charAt(k))) {
                k++;
            }
            if (k >= n || !isWordChar(line.charAt(k))) {
                p = Math.max(p + 1, k);
                continue;
            }
            int keyStart = k;
            while (k < n && isKeyChar(line.charAt(k))) {
                k++;
            }
            // Every start inside this run ends at the same character: skip them all.
            if (k >= n || line.charAt(k) != ':' || k - keyStart < 2) {
                p = Math.max(p + 1, k);
                continue;
            }
            String key = line.substring(keyStart, k);
            int v = k + 1;
            while (v < n && Character.isWhitespace(line.charAt(v))) {
                v++;
            }
            String value = null;
            int end = -1;
            if (v < n && line.charAt(v) == '"') {
                int q = v + 1;
                while (q < n && line.charAt(q) != '"') {
                    q += line.charAt(q) == '\\' ? 2 : 1;
                }
                if (q < n && q > v + 1 && (q + 1 == n || line.charAt(q + 1) == ',')) {
                    String quoted = line.substring(v, q + 1);
                    String unquoted = unquote(quoted);
                    value = unquoted != null ? unquoted : quoted;
                    end = q + 1;
                }
            }
            if (value == null) {
                int comma = line.indexOf(',', v);
                end = comma < 0 ? n : comma;
                value = line.substring(v, end);
                if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
                    String unquoted = unquote(value);
                    value = unquoted != null ? unquoted : value;
                }
            }
            if (validKey(key)) {
                out.put(key, value); // a later repeat wins, as in AUTOMATIC1111
            }
            p = end < n ? end + 1 : n;
        }
        return out;
    }

    /** A letter, digit or {@code _} (Python's {@code \\w}). */
    private static boolean isWordChar(char c) {
        return Character.isLetterOrDigit(c) || c == '_';
    }

    private static boolean isKeyChar(char c) {
        return isWordChar(c) || c == ' ' || c == '-' || c == '/';
    }

    private static boolean validKey(String key) {
        if (key.length() < 2 || !isWordChar(key.charAt(0))
                || key.charAt(key.length() - 1) == ' ') {
            return false;
        }
        for (int i = 1; i < key.length(); i++) {
            if (!isKeyChar(key.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    /**
     * The text to store under {@value GeneratedImage#PARAMETERS_KEY}.
     *
     * @return the prompt line, the negative prompt line if there is a negative prompt, the
     *     settings line; prompts and values quoted where needed (see the class description)
     */
    public String text() {
        StringBuilder sb = new StringBuilder();
        sb.append(promptNeedsQuotes(prompt) ? quote(prompt) : prompt);
        if (!negativePrompt.isEmpty()) {
            sb.append('\n').append(NEGATIVE).append(' ')
                    .append(promptNeedsQuotes(negativePrompt) ? quote(negativePrompt)
                            : negativePrompt);
        }
        sb.append('\n');
        boolean first = true;
        for (Map.Entry<String, String> e : settings.entrySet()) {
            if (!first) {
                sb.append(", ");
            }
            first = false;
            String v = e.getValue();
            boolean quoted = v.isEmpty() || v.indexOf(',') >= 0 || v.indexOf(':') >= 0
                    || needsEscape(v);
            sb.append(e.getKey()).append(": ").append(quoted ? quote(v) : v);
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return text();
    }

    private static boolean promptNeedsQuotes(String p) {
        return !p.isEmpty() && (needsEscape(p) || p.startsWith(NEGATIVE));
    }

    /** Whether a text could not stand on its line as it is. */
    private static boolean needsEscape(String s) {
        if (s.isEmpty()) {
            return false;
        }
        if (s.charAt(0) == '"' || isSpace(s.charAt(0)) || isSpace(s.charAt(s.length() - 1))) {
            return true;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (isControl(c) || unpairedSurrogate(s, i)) {
                return true;
            }
        }
        return false;
    }

    /** Space that a reader's strip() may remove (Python strips more than Java's strip()). */
    private static boolean isSpace(char c) {
        return Character.isWhitespace(c) || Character.isSpaceChar(c) || isControl(c);
    }

    /** C0 and C1 controls, DEL, and the Unicode line and paragraph separators. */
    private static boolean isControl(char c) {
        return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == '\u2028' || c == '\u2029';
    }

    private static boolean unpairedSurrogate(String s, int i) {
        char c = s.charAt(i);
        if (Character.isHighSurrogate(c)) {
            return i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1));
        }
        if (Character.isLowSurrogate(c)) {
            return i == 0 || !Character.isHighSurrogate(s.charAt(i - 1));
        }
        return false;
    }

    /** A JSON string literal; non-ASCII kept as it is, controls and lone surrogates escaped. */
    static String quote(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 8).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (isControl(c) || unpairedSurrogate(s, i)) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }

    /** The text of a prompt that is one whole JSON string literal, else the prompt itself. */
    private static String unquoteWhole(String s) {
        if (s.length() >= 2 && s.charAt(0) == '"' && s.charAt(s.length() - 1) == '"') {
            String u = unquote(s);
            if (u != null) {
                return u;
            }
        }
        return s;
    }

    /**
     * Decodes a JSON string literal.
     *
     * @return the text, or null if {@code s} is not exactly one JSON string literal
     */
    static String unquote(String s) {
        if (s.length() < 2 || s.charAt(0) != '"' || s.charAt(s.length() - 1) != '"') {
            return null;
        }
        StringBuilder sb = new StringBuilder(s.length());
        int end = s.length() - 1;
        for (int i = 1; i < end; i++) {
            char c = s.charAt(i);
            if (c == '"') {
                return null; // an unescaped quote before the end: not one literal
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (++i >= end) {
                return null;
            }
            char e = s.charAt(i);
            switch (e) {
                case '"', '\\', '/' -> sb.append(e);
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'u' -> {
                    if (i + 4 >= end) {
                        return null;
                    }
                    int code = 0;
                    for (int k = 1; k <= 4; k++) {
                        int d = Character.digit(s.charAt(i + k), 16);
                        if (d < 0) {
                            return null;
                        }
                        code = code * 16 + d;
                    }
                    sb.append((char) code);
                    i += 4;
                }
                default -> {
                    return null;
                }
            }
        }
        return sb.toString();
    }
}
