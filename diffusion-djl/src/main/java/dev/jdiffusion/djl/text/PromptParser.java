package dev.jdiffusion.djl.text;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * AUTOMATIC1111's emphasis syntax ({@code parse_prompt_attention} of its {@code
 * prompt_parser.py}) read into weighted text fragments and chunk breaks.
 *
 * <ul>
 *   <li>{@code (text)} multiplies the weight of {@code text} by 1.1, {@code [text]} by 1/1.1;
 *       brackets nest and multiply ({@code ((text))} is 1.21);
 *   <li>{@code (text:1.3)} multiplies by the number (any of {@code [+-]?[.\d]+}: {@code 0.5},
 *       {@code .5}, {@code -1}, {@code 2.});
 *   <li>{@code \(}, {@code \)}, {@code \[}, {@code \]}, {@code \\} are the literal characters; a
 *       backslash before any other character is dropped, as AUTOMATIC1111 drops it;
 *   <li>{@code BREAK} in upper case as a word of its own ends the current 75-token chunk;
 *   <li>a {@code :} that does not start a weight is text ({@code style: anime}).
 * </ul>
 *
 * <p>The weights are the same doubles as AUTOMATIC1111's (multiplied in the same order) and
 * neighbouring fragments of equal weight are joined as it joins them, so each fragment is
 * tokenized as there.
 *
 * <p><b>Stricter than AUTOMATIC1111</b>, which never fails and guesses instead; each of these is
 * a {@link PromptParseException} with the position:
 *
 * <ul>
 *   <li>an unclosed {@code (} or {@code [} (AUTOMATIC1111 closes it at the end of the prompt)
 *       and a {@code )} or {@code ]} without its opening bracket (AUTOMATIC1111 keeps it as
 *       text);
 *   <li>crossed brackets such as {@code ([a)]} (AUTOMATIC1111 counts round and square brackets
 *       separately);
 *   <li>a weight that is not a number, {@code (a:1.x)} or {@code (a:1.2.3)}, or written with a
 *       space, {@code (a: 1.3)} (AUTOMATIC1111 reads the first and the last as text at 1.1 and
 *       fails on the second);
 *   <li>{@code BREAK} inside brackets (AUTOMATIC1111 then tokenizes the word {@code break} with
 *       weight −1.1);
 *   <li>prompt editing and alternation, {@code [from:to:when]} and {@code [a|b]}, and composable
 *       prompts with {@code AND}, which jdiffusion does not implement;
 *   <li>brackets nested deeper than {@value #MAX_DEPTH}.
 * </ul>
 *
 * <p>Linear in the prompt length. Stateless and thread-safe.
 */
final class PromptParser {

    /** The round-bracket multiplier. */
    static final double ROUND = 1.1;
    /** The square-bracket multiplier, as AUTOMATIC1111 computes it. */
    static final double SQUARE = 1 / 1.1;
    /** The deepest bracket nesting accepted (real prompts use fewer than ten). */
    static final int MAX_DEPTH = 64;

    private static final Pattern WEIGHT = Pattern.compile("[+-]?[.\\d]+\\)");

    /**
     * A piece of the prompt with its weight, or a chunk break.
     *
     * @param text the text, empty for a break
     * @param weight the multiplier of the text's tokens
     * @param isBreak whether this is a {@code BREAK}
     */
    record Fragment(String text, double weight, boolean isBreak) {

        static Fragment text(String text, double weight) {
            return new Fragment(text, weight, false);
        }

        static final Fragment BREAK = new Fragment("", 1.0, true);
    }

    private PromptParser() {}

    /**
     * Parses a prompt.
     *
     * @param prompt any text
     * @return the fragments in order; never empty (the empty prompt is one empty fragment)
     * @throws PromptParseException where the prompt is not valid in this syntax
     */
    static List<Fragment> parse(String prompt) {
        return new Run(prompt).parse();
    }

    /** The prompt read as {@link PromptSyntax#PLAIN}: one fragment of weight 1. */
    static List<Fragment> plain(String prompt) {
        return List.of(Fragment.text(prompt, 1.0));
    }

    /** One parse: the result so far, the open brackets and the text not yet emitted. */
    private static final class Run {
        private final String s;
        private final List<StringBuilder> texts = new ArrayList<>();
        private final List<Double> weights = new ArrayList<>();
        private final List<Boolean> breaks = new ArrayList<>();
        private final Deque<int[]> open = new ArrayDeque<>(); // {char, position, first index}
        private final StringBuilder pending = new StringBuilder();

        Run(String s) {
            this.s = s;
        }

        List<Fragment> parse() {
            int n = s.length();
            int i = 0;
            while (i < n) {
                char c = s.charAt(i);
                switch (c) {
                    case '\\' -> {
                        if (i + 1 < n && "()[]\\".indexOf(s.charAt(i + 1)) >= 0) {
                            pending.append(s.charAt(i + 1));
                            i += 2;
                        } else {
                            i++; // a lone backslash is dropped, as AUTOMATIC1111 does
                        }
                        continue;
                    }
                    case '(', '[' -> {
                        if (open.size() >= MAX_DEPTH) {
                            throw error(i, "brackets nested deeper than " + MAX_DEPTH);
                        }
                        flush();
                        open.push(new int[] {c, i, texts.size()});
                    }
                    case ')' -> close(i, '(', ROUND);
                    case ']' -> close(i, '[', SQUARE);
                    case ':' -> {
                        int end = colon(i);
                        if (end > i) {
                            i = end;
                            continue;
                        }
                        pending.append(c);
                    }
                    case '|' -> {
                        if (!open.isEmpty() && open.peek()[0] == '[') {
                            throw error(i, "alternation [a|b] is not supported; write \\[ and"
                                    + " \\] for literal brackets");
                        }
                        pending.append(c);
                    }
                    default -> {
                        int word = keyword(i);
                        if (word > 0) {
                            i += word;
                            continue;
                        }
                        pending.append(c);
                    }
                }
                i++;
            }
            if (!open.isEmpty()) {
                int[] o = open.peek();
                throw error(o[1], "unclosed '" + (char) o[0] + "': close it with '"
                        + (o[0] == '(' ? ')' : ']') + "', or write \\" + (char) o[0]
                        + " for a literal bracket");
            }
            flush();
            return fragments();
        }

        /** Handles a closing bracket. */
        private void close(int at, char opener, double multiplier) {
            char closer = opener == '(' ? ')' : ']';
            if (open.isEmpty()) {
                throw error(at, "'" + closer + "' without a matching '" + opener + "'; write \\"
                        + closer + " for a literal bracket");
            }
            int[] o = open.peek();
            if (o[0] != opener) {
                throw error(at, "'" + closer + "' closes the '" + (char) o[0] + "' at position "
                        + o[1] + "; brackets must nest");
            }
            flush();
            open.pop();
            multiply(o[2], multiplier);
        }

        /**
         * At a colon: a weight {@code :1.3)} closes the innermost round bracket and the index
         * after it is returned; a colon that is text returns {@code at}.
         */
        private int colon(int at) {
            if (open.isEmpty()) {
                return at;
            }
            int[] o = open.peek();
            if (o[0] == '[') {
                throw error(at, "prompt editing [from:to:when] is not supported; write \\[ and"
                        + " \\] for literal brackets");
            }
            Matcher m = WEIGHT.matcher(s).region(at + 1, s.length());
            if (m.lookingAt()) {
                String number = s.substring(at + 1, m.end() - 1);
                double w;
                try {
                    w = Double.parseDouble(number);
                } catch (NumberFormatException e) {
                    throw error(at + 1, "the weight '" + number + "' is not a number");
                }
                flush();
                open.pop();
                multiply(o[2], w);
                return m.end();
            }
            // Text up to the next syntax character: a weight written wrongly, or text?
            int end = at + 1;
            while (end < s.length() && "()[]:\\".indexOf(s.charAt(end)) < 0) {
                end++;
            }
            if (end < s.length() && s.charAt(end) == ')') {
                String raw = s.substring(at + 1, end);
                String t = raw.strip();
                boolean oneWord = !t.isEmpty() && t.chars().noneMatch(Character::isWhitespace);
                if (oneWord && "+-.0123456789".indexOf(t.charAt(0)) >= 0) {
                    if (WEIGHT.matcher(t + ")").matches()) {
                        throw error(at + 1, "no spaces are allowed around a weight: write ("
                                + "...:" + t + ")");
                    }
                    throw error(at + 1, "the weight '" + t + "' is not a number: write e.g."
                            + " (word:1.3)");
                }
            }
            return at;
        }

        /**
         * The length of a {@code BREAK} (with the white space after it) starting at {@code at},
         * or 0 when there is none; fails on {@code BREAK} in brackets and on {@code AND}.
         */
        private int keyword(int at) {
            if (!wordStart(at)) {
                return 0;
            }
            if (isWord(at, "AND")) {
                throw error(at, "composable prompts (AND) are not supported; write 'and' for"
                        + " the word");
            }
            if (!isWord(at, "BREAK")) {
                return 0;
            }
            if (!open.isEmpty()) {
                int[] o = open.peek();
                throw error(at, "BREAK inside the '" + (char) o[0] + "' at position " + o[1]
                        + "; close the bracket first");
            }
            flush();
            texts.add(new StringBuilder());
            weights.add(1.0);
            breaks.add(true);
            int end = at + "BREAK".length();
            while (end < s.length() && Character.isWhitespace(s.charAt(end))) {
                end++;
            }
            return end - at;
        }

        private boolean wordStart(int at) {
            return at == 0 || !wordChar(s.charAt(at - 1));
        }

        private boolean isWord(int at, String word) {
            int end = at + word.length();
            return s.startsWith(word, at) && (end == s.length() || !wordChar(s.charAt(end)));
        }

        private static boolean wordChar(char c) {
            return Character.isLetterOrDigit(c) || c == '_';
        }

        private void flush() {
            if (pending.length() > 0) {
                texts.add(new StringBuilder(pending));
                weights.add(1.0);
                breaks.add(false);
                pending.setLength(0);
            }
        }

        private void multiply(int from, double multiplier) {
            for (int k = from; k < weights.size(); k++) {
                if (!breaks.get(k)) {
                    weights.set(k, weights.get(k) * multiplier);
                }
            }
        }

        /** The result with neighbouring texts of equal weight joined. */
        private List<Fragment> fragments() {
            List<Fragment> out = new ArrayList<>();
            StringBuilder run = null;
            double w = 0;
            for (int k = 0; k < texts.size(); k++) {
                if (breaks.get(k)) {
                    if (run != null) {
                        out.add(Fragment.text(run.toString(), w));
                        run = null;
                    }
                    out.add(Fragment.BREAK);
                } else if (run != null && weights.get(k) == w) {
                    run.append(texts.get(k));
                } else {
                    if (run != null) {
                        out.add(Fragment.text(run.toString(), w));
                    }
                    run = new StringBuilder(texts.get(k));
                    w = weights.get(k);
                }
            }
            if (run != null) {
                out.add(Fragment.text(run.toString(), w));
            }
            if (out.isEmpty()) {
                out.add(Fragment.text("", 1.0));
            }
            return out;
        }

        private PromptParseException error(int at, String problem) {
            return new PromptParseException(s, at, problem);
        }
    }
}
