package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.djl.text.PromptParser.Fragment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The parser against AUTOMATIC1111's documented examples: the docstring of {@code
 * parse_prompt_attention} in its {@code modules/prompt_parser.py} and the wiki's
 * "Attention/emphasis" cheat sheet, restated here as facts (text fragment → weight).
 */
class PromptParserTest {

    private static Fragment f(String text, double weight) {
        return Fragment.text(text, weight);
    }

    private static List<Fragment> parse(String prompt) {
        return PromptParser.parse(prompt);
    }

    // ----- parse_prompt_attention's docstring -------------------------------------------------

    @Test
    void docstringPlainText() {
        assertThat(parse("normal text")).containsExactly(f("normal text", 1.0));
    }

    @Test
    void docstringOneEmphasizedWord() {
        assertThat(parse("an (important) word"))
                .containsExactly(f("an ", 1.0), f("important", 1.1), f(" word", 1.0));
    }

    @Test
    void docstringEscapes() {
        assertThat(parse("\\(literal\\]")).containsExactly(f("(literal]", 1.0));
    }

    @Test
    void docstringNeighboursOfEqualWeightAreJoined() {
        assertThat(parse("(unnecessary)(parens)")).containsExactly(f("unnecessaryparens", 1.1));
    }

    @Test
    void docstringUnbalancedIsAnErrorHereNotAGuess() {
        // AUTOMATIC1111: [['unbalanced', 1.1]] (it closes the bracket at the end).
        assertThatThrownBy(() -> parse("(unbalanced"))
                .isInstanceOf(PromptParseException.class)
                .hasMessageContaining("position 0").hasMessageContaining("unclosed '('")
                .hasMessageContaining("  (unbalanced\n  ^");
    }

    @Test
    void docstringLongExampleWithItsUnclosedBracketMadeExplicit() {
        String a1111 = "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).";
        // AUTOMATIC1111 closes the first '(' at the end of the prompt; jdiffusion asks for it:
        PromptParseException e = org.junit.jupiter.api.Assertions.assertThrows(
                PromptParseException.class, () -> parse(a1111));
        assertThat(e.position()).isEqualTo(2);
        // ... and with the ')' written, the docstring's result to the last bit of each double.
        assertThat(parse(a1111 + ")")).containsExactly(
                f("a ", 1.0),
                f("house", 1.5730000000000004),
                f(" ", 1.1),
                f("on", 1.0),
                f(" a ", 1.1),
                f("hill", 0.55),
                f(", sun, ", 1.1),
                f("sky", 1.4641000000000006),
                f(".", 1.1));
    }

    // ----- the wiki's cheat sheet -------------------------------------------------------------

    @Test
    void wikiCheatSheet() {
        assertThat(parse("a (word)")).containsExactly(f("a ", 1.0), f("word", 1.1));
        assertThat(parse("a ((word))")).containsExactly(f("a ", 1.0), f("word", 1.1 * 1.1));
        assertThat(parse("a ((word))").get(1).weight()).isCloseTo(1.21, within());
        assertThat(parse("a [word]")).containsExactly(f("a ", 1.0), f("word", 1 / 1.1));
        assertThat(parse("a (word:1.5)")).containsExactly(f("a ", 1.0), f("word", 1.5));
        assertThat(parse("a (word:0.25)")).containsExactly(f("a ", 1.0), f("word", 0.25));
        assertThat(parse("a \\(word\\)")).containsExactly(f("a (word)", 1.0));
        assertThat(parse("anime_\\(character\\)")).containsExactly(f("anime_(character)", 1.0));
    }

    @Test
    void wikiTheNewImplementationKeepsAllText() {
        // "a (((farm))), daytime" keeps its comma (the old implementation ate it).
        assertThat(parse("a (((farm))), daytime"))
                .containsExactly(f("a ", 1.0), f("farm", 1.1 * 1.1 * 1.1), f(", daytime", 1.0));
    }

    private static org.assertj.core.data.Offset<Double> within() {
        return org.assertj.core.data.Offset.offset(1e-12);
    }

    // ----- BREAK, colons, backslashes ---------------------------------------------------------

    @Test
    void breakIsAnUpperCaseWordOfItsOwn() {
        assertThat(parse("a cat BREAK a dog")).containsExactly(f("a cat ", 1.0), Fragment.BREAK,
                f("a dog", 1.0));
        assertThat(parse("BREAK")).containsExactly(Fragment.BREAK);
        assertThat(parse("a BREAK BREAK b")).containsExactly(f("a ", 1.0), Fragment.BREAK,
                Fragment.BREAK, f("b", 1.0));
        assertThat(parse("(cat) BREAK,dog")).containsExactly(f("cat", 1.1), f(" ", 1.0),
                Fragment.BREAK, f(",dog", 1.0));
        assertThat(parse("break BREAKS XBREAK Break")).containsExactly(
                f("break BREAKS XBREAK Break", 1.0));
    }

    @Test
    void colonsThatStartNoWeightAreText() {
        assertThat(parse("style: anime")).containsExactly(f("style: anime", 1.0));
        assertThat(parse("(style: anime)")).containsExactly(f("style: anime", 1.1));
        assertThat(parse("(a:-1)")).containsExactly(f("a", -1.0));
        assertThat(parse("(a:.5)")).containsExactly(f("a", 0.5));
        assertThat(parse("(a:2.)")).containsExactly(f("a", 2.0));
        assertThat(parse("((a:0)b)")).containsExactly(f("a", 0.0), f("b", 1.1));
    }

    @Test
    void aLoneBackslashIsDroppedAsInA1111() {
        assertThat(parse("a\\b \\\\ c")).containsExactly(f("ab \\ c", 1.0));
    }

    @Test
    void emptyPromptIsOneEmptyFragment() {
        assertThat(parse("")).containsExactly(f("", 1.0));
        assertThat(parse("()")).containsExactly(f("", 1.0));
    }

    // ----- where jdiffusion is stricter -------------------------------------------------------

    @Test
    void errorsPointAtThePosition() {
        expectError("a cat) face", 5, "')' without a matching '('");
        expectError("a [cat", 2, "unclosed '['");
        expectError("([a)]", 3, "')' closes the '[' at position 1");
        expectError("(a:1.x)", 3, "the weight '1.x' is not a number");
        expectError("(a:1.2.3)", 3, "the weight '1.2.3' is not a number");
        expectError("(a: 1.3)", 3, "no spaces are allowed around a weight");
        expectError("(a BREAK b)", 3, "BREAK inside the '(' at position 0");
        expectError("[cat:dog:0.5]", 4, "prompt editing");
        expectError("[cat|dog]", 4, "alternation");
        expectError("cat AND dog", 4, "AND");
        expectError("(".repeat(PromptParser.MAX_DEPTH + 1) + "a", PromptParser.MAX_DEPTH,
                "nested deeper");
    }

    @Test
    void theExcerptIsShortAndOnOneLine() {
        String prompt = "x".repeat(100) + "\n(" + "y".repeat(100);
        PromptParseException e = org.junit.jupiter.api.Assertions.assertThrows(
                PromptParseException.class, () -> parse(prompt));
        assertThat(e.position()).isEqualTo(101);
        String[] lines = e.getMessage().split("\n");
        assertThat(lines).hasSize(3);
        assertThat(lines[1]).startsWith("  ...").endsWith("...")
                .hasSize(2 + 3 + 2 * PromptParseException.CONTEXT + 3);
        assertThat(lines[1].charAt(lines[2].length() - 1)).isEqualTo('(');
        assertThat(e).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aHugePromptIsParsedInLinearTime() {
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 1 << 20) {
            sb.append("((a:1.2)) [b] c, ");
        }
        long t0 = System.nanoTime();
        List<Fragment> out = parse(sb.toString());
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("[parser] 1 MiB prompt parsed in " + ms + " ms into " + out.size()
                + " fragments");
        assertThat(out).hasSizeGreaterThan(100_000);
        assertThat(ms).isLessThan(5_000);
        // Deep nesting is bounded too: 1 MiB of brackets at the limit.
        String deep = "(".repeat(PromptParser.MAX_DEPTH) + "a" + ")".repeat(PromptParser.MAX_DEPTH);
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            many.add(deep);
        }
        assertThat(parse(String.join(" ", many)).get(0).weight())
                .isEqualTo(Math.pow(1.1, PromptParser.MAX_DEPTH), within(1e-9));
    }

    private static org.assertj.core.data.Offset<Double> within(double d) {
        return org.assertj.core.data.Offset.offset(d);
    }

    private static void expectError(String prompt, int position, String message) {
        PromptParseException e = org.junit.jupiter.api.Assertions.assertThrows(
                PromptParseException.class, () -> parse(prompt), prompt);
        assertThat(e.position()).as(prompt).isEqualTo(position);
        assertThat(e.getMessage()).as(prompt).contains(message)
                .contains("prompt syntax error at position " + position);
        String[] lines = e.getMessage().split("\n");
        int caret = lines[2].indexOf('^');
        assertThat(lines[1].charAt(caret)).as(prompt + ": the character above the caret")
                .isEqualTo(prompt.charAt(position));
        if (position < PromptParseException.CONTEXT) {
            assertThat(caret - 2).as(prompt + ": caret column").isEqualTo(position);
        }
    }
}
