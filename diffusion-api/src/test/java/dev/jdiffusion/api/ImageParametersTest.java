package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageParametersTest {

    /** Prompts that try to break out of their line, or that lose something when stripped. */
    static final String[] HOSTILE = {
        "", "cat", "cat\nNegative prompt: dog", "Negative prompt: dog",
        "cat\nSteps: 99, Sampler: evil, CFG scale: 1, Seed: 1, Size: 8x8, Model: x",
        "Steps: 99, Sampler: evil, CFG scale: 1, Seed: 1", "\"quoted\"", "\"", "\"a\" and \"b\"",
        "back\\slash\\n", "\\\"", "tab\there", "cr\rlf\r\n", " leading", "trailing ", "\n", " ",
        "\u00a0nbsp\u00a0", "ünïcødé 猫の顔 😀🏳️‍🌈", "\u2028line\u2029para\u0085nel",
        "NUL\u0000mid\u0007\u001b[31m\u007f", "lone \uD800 high", "lone \uDC00 low", "\uDBFF",
        "a, b: c", "{\"json\": [1, 2]}", "Negative prompt:", "x".repeat(5000),
    };

    private static Map<String, String> settings(String model) {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("Steps", "20");
        s.put("Sampler", "euler_a");
        s.put("CFG scale", "7.5");
        s.put("Seed", "42");
        s.put("Size", "32x32");
        s.put("Model", model);
        return s;
    }

    @Test
    void ordinaryParametersAreWrittenInTheAutomatic1111Format() {
        ImageParameters p = new ImageParameters("a cat face, smiling", "blurry, dark",
                settings("emoji"));
        assertThat(p.text()).isEqualTo("a cat face, smiling\nNegative prompt: blurry, dark\n"
                + "Steps: 20, Sampler: euler_a, CFG scale: 7.5, Seed: 42, Size: 32x32, Model: emoji");
        assertThat(new ImageParameters("猫 (café)", "", settings("my model")).text())
                .isEqualTo("猫 (café)\nSteps: 20, Sampler: euler_a, CFG scale: 7.5, Seed: 42,"
                        + " Size: 32x32, Model: my model");
        // Values with a comma, colon or line break are JSON-quoted, as AUTOMATIC1111 does.
        assertThat(new ImageParameters("x", "", settings("a, b: \"c\"\n")).text())
                .endsWith(", Model: \"a, b: \\\"c\\\"\\n\"");
    }

    @Test
    void readsTextWrittenByAutomatic1111() {
        String a1111 = "masterpiece, a cat\nwearing a hat\nNegative prompt: lowres,\nbad hands\n"
                + "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x768,"
                + " Model hash: abc123, Model: v1-5, Lora hashes: \"detail: 1a2b, style: 3c4d\","
                + " Version: v1.9.0";
        ImageParameters p = ImageParameters.parse(a1111).orElseThrow();
        assertThat(p.prompt()).isEqualTo("masterpiece, a cat\nwearing a hat");
        assertThat(p.negativePrompt()).isEqualTo("lowres,\nbad hands");
        assertThat(p.settings()).containsEntry("Sampler", "DPM++ 2M Karras")
                .containsEntry("Seed", "1234").containsEntry("Size", "512x768")
                .containsEntry("Lora hashes", "detail: 1a2b, style: 3c4d")
                .containsEntry("Version", "v1.9.0").hasSize(9);
        assertThat(ImageParameters.parse("just a caption")).isEmpty();
        assertThat(ImageParameters.parse("a\nSteps: 20, Seed: 1")).isEmpty(); // 2 entries only
    }

    @Test
    void aPromptCannotForgeTheNegativePromptOrSettings() {
        ImageParameters genuine = new ImageParameters("cat", "dog", settings("m"));
        ImageParameters forged = new ImageParameters("cat\nNegative prompt: dog", "",
                settings("m"));
        assertThat(forged.text()).isNotEqualTo(genuine.text());
        assertThat(ImageParameters.parse(forged.text()).orElseThrow().negativePrompt()).isEmpty();

        ImageParameters injected = new ImageParameters(
                "cat\nSteps: 99, Sampler: evil, CFG scale: 1, Seed: 1, Size: 8x8, Model: x", "",
                settings("m"));
        assertThat(ImageParameters.parse(injected.text()).orElseThrow().settings())
                .isEqualTo(settings("m"));
    }

    @Test
    void hostilePromptsRoundTripAndStayOnTheirLines() {
        List<String> prompts = new ArrayList<>(List.of(HOSTILE));
        Random rnd = new Random(13);
        for (int i = 0; i < 300; i++) { // random UTF-16, surrogates and controls included
            StringBuilder sb = new StringBuilder();
            for (int k = rnd.nextInt(40); k > 0; k--) {
                sb.append(rnd.nextInt(4) == 0 ? HOSTILE[rnd.nextInt(HOSTILE.length)]
                        : String.valueOf((char) rnd.nextInt(rnd.nextBoolean() ? 0x80 : 0x10000)));
            }
            prompts.add(sb.toString());
        }
        for (String prompt : prompts) {
            for (String negative : new String[] {"", "dog", prompt}) {
                String model = prompt.length() < 100 ? prompt : "m";
                Map<String, String> s = settings(model);
                ImageParameters p = new ImageParameters(prompt, negative, s);
                String text = p.text();
                assertThat(ImageParameters.parse(text)).as(escape(text)).contains(p);
                // One line for the prompt, one for a negative prompt, one for the settings.
                assertThat(text.split("\n", -1)).as(escape(text))
                        .hasSize(negative.isEmpty() ? 2 : 3);
                assertThat(text.chars().filter(c -> c < 0x20 && c != '\n')).isEmpty();
            }
        }
    }

    @Test
    void hostilePromptsSurviveAPngFile(@TempDir Path dir) throws Exception {
        int i = 0;
        for (String prompt : HOSTILE) {
            ImageParameters p = new ImageParameters(prompt, prompt, settings("m"));
            GeneratedImage img = new GeneratedImage(1, 1, new int[] {0}, 1L,
                    Map.of(GeneratedImage.PARAMETERS_KEY, p.text()));
            Path file = dir.resolve("p" + i++ + ".png");
            img.writePng(file);
            assertThat(GeneratedImage.read(file).parameters()).as(escape(prompt)).contains(p);
        }
    }

    @Test
    void hugeSettingsLinesParseInLinearTime() {
        String big = "x".repeat(1 << 20);
        // A long quoted value (a regex with an alternation under + recurses once per char).
        ImageParameters p = new ImageParameters("a", "", settings("\"" + big + ", \\ \""));
        long t0 = System.nanoTime();
        assertThat(ImageParameters.parse(p.text())).contains(p);
        // A long run that never reaches a colon, and a long one of failing starts.
        assertThat(ImageParameters.parse("a\n" + big + " Steps: 1, Seed: 2, Size: 3"))
                .map(q -> q.settings().get("Steps")).isEmpty();
        assertThat(ImageParameters.parse("a\nAa: 1, Bb: 2, " + ", :".repeat(300_000) + " Cc: 3"))
                .map(q -> q.settings().keySet()).contains(java.util.Set.of("Aa", "Bb", "Cc"));
        // Keys have two characters or more, as in AUTOMATIC1111's pattern.
        assertThat(ImageParameters.parse("a\nA: 1, Bb: 2, Cc: 3, Dd: 4")).map(q -> q.settings()
                .keySet()).contains(java.util.Set.of("Bb", "Cc", "Dd"));
        assertThat((System.nanoTime() - t0) / 1_000_000).as("ms").isLessThan(2_000);
    }

    @Test
    void theSettingsScannerFindsWhatAutomatic1111sPatternFinds() {
        // AUTOMATIC1111's pattern, run by Java's engine on lines short enough for its stack.
        java.util.regex.Pattern a1111 = java.util.regex.Pattern.compile(
                "\\s*(\\w[\\w \\-/]+):\\s*(\"(?:\\\\.|[^\\\\\"])+\"|[^,]*)(?:,|$)");
        char[] alphabet = {'a', 'B', '1', '_', ' ', ' ', ':', ':', ',', ',', '"', '"', '\\', '-',
            '/', 'n', '\t'};
        Random rnd = new Random(11);
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder();
            for (int k = rnd.nextInt(30); k > 0; k--) {
                sb.append(alphabet[rnd.nextInt(alphabet.length)]);
            }
            String line = sb.toString();
            Map<String, String> expected = new LinkedHashMap<>();
            java.util.regex.Matcher m = a1111.matcher(line);
            while (m.find()) {
                String key = m.group(1);
                String v = m.group(2);
                if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
                    String u = ImageParameters.unquote(v);
                    v = u != null ? u : v;
                }
                if (!key.endsWith(" ")) { // not a key this class can write
                    expected.put(key, v);
                }
            }
            assertThat(ImageParameters.settingsLine(line)).as(line).isEqualTo(expected);
        }
    }

    @Test
    void rejectsSettingsReadersWouldNotRecognise() {
        Map<String, String> two = new LinkedHashMap<>();
        two.put("Steps", "20");
        two.put("Seed", "1");
        assertThatThrownBy(() -> new ImageParameters("a", "", two))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 3");
        Map<String, String> bad = settings("m");
        bad.put("Bad:key", "1");
        assertThatThrownBy(() -> new ImageParameters("a", "", bad))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Bad:key");
        assertThatThrownBy(() -> new ImageParameters(null, "", settings("m")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    private static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            sb.append(c < 0x20 || c > 0x7e ? String.format("\\u%04x", (int) c) : String.valueOf(c));
        }
        return sb.length() > 300 ? sb.substring(0, 300) + "..." : sb.toString();
    }
}
