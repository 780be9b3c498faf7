package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.testing.Fifos;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {

    private static final int START = 49406;
    private static final int END = 49407;

    @Test
    void reproducesTheReferenceTokenIds() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        List<String> rows = Files.readAllLines(
                ClipFixtures.clipFolder().resolve("token_vectors.tsv"), StandardCharsets.UTF_8);
        assertThat(rows.get(0)).isEqualTo("text\tids");
        assertThat(rows).hasSizeGreaterThan(5);
        for (String row : rows.subList(1, rows.size())) {
            int tab = row.indexOf('\t');
            String text = row.substring(0, tab);
            int[] expected = Arrays.stream(row.substring(tab + 1).trim().split(" "))
                    .mapToInt(Integer::parseInt).toArray();
            assertThat(tok.tokenize(text)).as(text).containsExactly(expected);
        }
    }

    @Test
    void specialIdsAndSizesOfClip() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        assertThat(tok.startTokenId()).isEqualTo(START);
        assertThat(tok.endTokenId()).isEqualTo(END);
        assertThat(tok.padTokenId()).isEqualTo(END);
        assertThat(tok.maxLength()).isEqualTo(77);
        assertThat(tok.vocabSize()).isEqualTo(49408);
        assertThat(tok.tokens("a photo")).containsExactly("a</w>", "photo</w>");
    }

    @Test
    void padsWithTheEndToken() throws IOException {
        ClipTokenizer.Encoding e = ClipFixtures.clip().encode("a photo of a cat");
        assertThat(e.ids()).hasSize(77);
        assertThat(Arrays.copyOf(e.ids(), 7))
                .containsExactly(START, 320, 1125, 539, 320, 2368, END);
        for (int i = 7; i < 77; i++) {
            assertThat(e.ids()[i]).isEqualTo(END);
        }
        assertThat(e.length()).isEqualTo(7);
        assertThat(e.textTokens()).isEqualTo(5);
        assertThat(e.truncated()).isFalse();
    }

    @Test
    void emptyAndBlankPromptsAreStartEndPadding() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        for (String blank : new String[] {"", "   ", "\n\t \u00a0"}) {
            ClipTokenizer.Encoding e = tok.encode(blank);
            assertThat(e.length()).isEqualTo(2);
            assertThat(e.ids()[0]).isEqualTo(START);
            assertThat(Arrays.stream(e.ids()).skip(1)).allMatch(id -> id == END);
            assertThat(e.truncated()).isFalse();
        }
    }

    @Test
    void truncatesTo77KeepingTheEndToken() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        ClipTokenizer.Encoding fits = tok.encode("cat ".repeat(75));
        assertThat(fits.truncated()).isFalse();
        assertThat(fits.length()).isEqualTo(77);
        assertThat(fits.ids()[76]).isEqualTo(END);

        ClipTokenizer.Encoding over = tok.encode("cat ".repeat(76));
        assertThat(over.truncated()).isTrue();
        assertThat(over.textTokens()).isEqualTo(76);
        assertThat(over.droppedChars()).isEqualTo(3); // the last "cat"
        assertThat(fits.droppedChars()).isZero();

        ClipTokenizer.Encoding e = tok.encode("cat ".repeat(100));
        assertThat(e.truncated()).isTrue();
        assertThat(e.length()).isEqualTo(77);
        assertThat(e.textTokens()).isEqualTo(100);
        assertThat(e.droppedChars()).isEqualTo("cat ".repeat(25).length() - 1);
        // Counting stops at 4 x 77 tokens: the count then means "more than 308".
        assertThat(tok.encode("cat ".repeat(5000)).textTokens()).isEqualTo(4 * 77 + 1);
        assertThat(tok.encode("cat ".repeat(308)).textTokens()).isEqualTo(308);
        // A word split by the limit is dropped from its start.
        ClipTokenizer.Encoding split = tok.encode("cat ".repeat(74) + "\u00e9\u00e9\u00e9");
        assertThat(split.truncated()).isTrue();
        assertThat(split.droppedChars()).isEqualTo(3);
        assertThat(e.ids()[0]).isEqualTo(START);
        for (int i = 1; i < 76; i++) {
            assertThat(e.ids()[i]).isEqualTo(2368);
        }
        assertThat(e.ids()[76]).isEqualTo(END);
    }

    @Test
    void veryLongPromptIsTokenizedCompletelyAndQuickly() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        String text = "a photo of a cat, ".repeat(5_000); // 30,000 tokens
        long t0 = System.nanoTime();
        int[] ids = tok.tokenize(text);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertThat(ids).hasSize(30_002);
        assertThat(Arrays.copyOfRange(ids, 1, 7)).containsExactly(320, 1125, 539, 320, 2368, 267);
        assertThat(ms).as("ms for 30k tokens").isLessThan(5_000);
        assertThat(tok.encode(text).truncated()).isTrue();
    }

    @Test
    void encodeOfAHugePromptDoesWorkBoundedByWhatIsKept() throws Exception {
        ClipTokenizer tok = ClipTokenizer.load(ClipFixtures.clipFolder()); // empty word cache
        Random rnd = new Random(7);
        StringBuilder words = new StringBuilder("a photo of a cat");
        while (words.length() < 256 * 1024) { // 256 KiB of distinct made-up words
            words.append(' ');
            for (int k = 3 + rnd.nextInt(8); k > 0; k--) {
                words.append((char) ('a' + rnd.nextInt(26)));
            }
        }
        StringBuilder oneWord = new StringBuilder("cat ");
        while (oneWord.length() < 256 * 1024) { // one 256 KiB word: BPE is quadratic in length
            oneWord.append((char) ('a' + rnd.nextInt(26)));
        }
        ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "huge-encode");
            t.setDaemon(true);
            return t;
        });
        try {
            for (String prompt : new String[] {words.toString(), oneWord.toString()}) {
                Future<long[]> run = worker.submit(() -> {
                    long best = Long.MAX_VALUE;
                    ClipTokenizer.Encoding e = null;
                    for (int i = 0; i < 3; i++) {
                        long t0 = System.nanoTime();
                        e = tok.encode(prompt);
                        best = Math.min(best, System.nanoTime() - t0);
                    }
                    return new long[] {best / 1_000_000, e.truncated() ? 1 : 0, e.ids()[1]};
                });
                long[] r = run.get(60, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(r[1]).isEqualTo(1);
                assertThat(r[2]).isEqualTo(prompt.startsWith("a ") ? 320 : 2368);
                System.out.printf("[tokenizer] a 256 KiB prompt (%s) encoded in %d ms%n",
                        prompt.startsWith("a ") ? "distinct words" : "one word", r[0]);
                assertThat(r[0]).as("best ms to encode a 256 KiB prompt").isLessThan(200);
            }
        } finally {
            worker.shutdownNow();
        }
    }

    @Test
    void theWordCacheIsBoundedBySize() throws IOException {
        ClipTokenizer tok = ClipTokenizer.load(ClipFixtures.clipFolder());
        Random rnd = new Random(3);
        for (int i = 0; i < 20; i++) { // long words: 20 x 2,000 letters
            StringBuilder w = new StringBuilder();
            for (int k = 0; k < 2_000; k++) {
                w.append((char) ('a' + rnd.nextInt(26)));
            }
            tok.tokenize(w.toString());
        }
        String pad = "a".repeat(56);
        for (int i = 0; i < 14_000; i++) { // 14,000 distinct words of 64 letters: over 1.1 M
            StringBuilder w = new StringBuilder(pad);
            for (int v = i, k = 0; k < 8; k++, v /= 26) {
                w.append((char) ('a' + v % 26));
            }
            tok.tokenize(w.toString());
        }
        assertThat(tok.cachedChars()).isLessThanOrEqualTo(ClipTokenizer.CACHE_CHARS)
                .isGreaterThan(ClipTokenizer.CACHE_CHARS / 2);
        // Still correct once the cache is full.
        assertThat(tok.tokenize("a photo of a cat")).containsExactly(START, 320, 1125, 539, 320,
                2368, END);
    }

    @Test
    void unicodeTextMatchesIndependentReference() throws IOException {
        // Expected ids computed by a separate Python BPE over the same vocab/merges files.
        ClipTokenizer tok = ClipFixtures.clip();
        assertThat(tok.tokenize("Café")).containsExactly(START, 15304, END);
        assertThat(tok.tokenize("cafe\u0301")).containsExactly(START, 15304, END); // NFD → NFC
        assertThat(tok.tokenize("Naïve   RÉSUMÉ"))
                .containsExactly(START, 1097, 35689, 563, 29106, 7054, 4166, END);
        assertThat(tok.tokenize("🐱cat")).containsExactly(START, 22979, 2368, END);
        assertThat(tok.tokenize("東京 tower"))
                .containsExactly(START, 48338, 21078, 361, 4730, END);
        assertThat(tok.tokenize("École")).containsExactly(START, 3459, 8166, END);
        assertThat(tok.tokenize("hello\u00a0\u2003world")).containsExactly(START, 3306, 1002, END);
        assertThat(tok.tokenize("don't")).containsExactly(START, 847, 713, END);
        assertThat(tok.tokenize("a123b")).containsExactly(START, 320, 272, 273, 274, 321, END);
    }

    @Test
    void specialTokensInTextMapToTheirIds() throws IOException {
        assertThat(ClipFixtures.clip().tokenize("cat<|endoftext|>"))
                .containsExactly(START, 2368, END, END);
    }

    @Test
    void decodeReturnsTheCleanedText() throws IOException {
        ClipTokenizer tok = ClipFixtures.clip();
        for (String s : new String[] {"a photo of a cat", "  Naïve  RÉSUMÉ ", "🐱 東京 tower",
                "grinning face"}) {
            assertThat(tok.decode(tok.encode(s).ids())).isEqualTo(ClipTokenizer.clean(s));
        }
        assertThat(tok.decode(tok.tokenize("Hello, world!"))).isEqualTo("hello , world !");
        assertThatThrownBy(() -> tok.decode(new int[] {49408}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("49408");
    }

    @Test
    void concurrentEncodingGivesTheSameIds() throws Exception {
        ClipTokenizer tok = ClipFixtures.clip();
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            prompts.add("prompt number " + i + " with some words like tower" + i % 7 + " école");
        }
        List<int[]> serial = new ArrayList<>();
        ClipTokenizer fresh = ClipTokenizer.load(ClipFixtures.clipFolder());
        for (String p : prompts) {
            serial.add(fresh.tokenize(p));
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[]>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> tok.tokenize(p)));
            }
            for (int i = 0; i < prompts.size(); i++) {
                assertThat(futures.get(i).get()).isEqualTo(serial.get(i));
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void loadsWellUnderASecond() throws IOException {
        ClipTokenizer.load(ClipFixtures.clipFolder()); // warm-up (class loading)
        long best = Long.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            ClipTokenizer.load(ClipFixtures.clipFolder());
            best = Math.min(best, System.nanoTime() - t0);
        }
        assertThat(best / 1_000_000).as("best load time in ms").isLessThan(1_000);
    }

    @Test
    void readsPadTokenAndLengthFromTheFolder(@TempDir Path dir) throws IOException {
        copyClip(dir);
        Files.writeString(dir.resolve("special_tokens_map.json"),
                "{\"pad_token\": {\"content\": \"!\", \"lstrip\": false}}");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"model_max_length\": 16}");
        ClipTokenizer tok = ClipTokenizer.load(dir);
        assertThat(tok.padTokenId()).isZero();
        assertThat(tok.maxLength()).isEqualTo(16);
        int[] ids = tok.encode("a cat").ids();
        assertThat(ids).containsExactly(START, 320, 2368, END, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    @Test
    void missingFilesAreReportedByName(@TempDir Path dir) throws IOException {
        assertThatThrownBy(() -> ClipTokenizer.load(dir.resolve("nope")))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("nope");
        Files.copy(ClipFixtures.clipFolder().resolve("vocab.json"), dir.resolve("vocab.json"));
        assertThatThrownBy(() -> ClipTokenizer.load(dir))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("merges.txt");
    }

    @Test
    void corruptFilesAreRejected(@TempDir Path dir) throws IOException {
        copyClip(dir);
        Path vocab = dir.resolve("vocab.json");
        Path merges = dir.resolve("merges.txt");
        Files.writeString(vocab, "{\"a\": 0, \"b\": ");
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("vocab.json");
        Files.writeString(vocab, "[1, 2]");
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("JSON object");
        Files.writeString(vocab, "{\"a\": \"x\"}");
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not an integer");
        Files.writeString(vocab, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("byte symbol");

        copyClip(dir);
        Files.writeString(merges, "#version: 0.2\ni n\nthree parts here\n");
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("line 3");
        Files.write(merges, "#version: 0.2\n\u00ff( a\n".getBytes(StandardCharsets.ISO_8859_1));
        assertThatThrownBy(() -> ClipTokenizer.load(vocab, merges))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not UTF-8");
    }

    @Test
    void fifosAreRefusedWithoutHanging(@TempDir Path dir) throws Exception {
        Fifos.requireMkfifo();
        for (String f : new String[] {"vocab.json", "merges.txt"}) {
            copyClip(dir);
            Files.delete(dir.resolve(f));
            Fifos.mkfifo(dir.resolve(f));
            ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "fifo-load");
                t.setDaemon(true); // a hung load must not keep the JVM alive
                return t;
            });
            try {
                Future<Throwable> load = worker.submit(() -> {
                    try {
                        ClipTokenizer.load(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
                        return null;
                    } catch (ModelLoadException e) {
                        return e;
                    }
                });
                Throwable e = load.get(20, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(e).as(f).isInstanceOf(ModelLoadException.class);
                assertThat(e.getMessage()).contains(f, "regular file");
                assertThatThrownBy(() -> ClipTokenizer.load(dir))
                        .isInstanceOf(ModelLoadException.class).hasMessageContaining(f);
            } finally {
                worker.shutdownNow();
                Files.delete(dir.resolve(f));
            }
        }
    }

    private static void copyClip(Path dir) throws IOException {
        for (String f : new String[] {"vocab.json", "merges.txt"}) {
            Files.copy(ClipFixtures.clipFolder().resolve(f), dir.resolve(f),
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
