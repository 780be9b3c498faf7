package dev.jdiffusion.djl.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeTrainerTest {

    private static final String[] COLORS = {"red", "green", "blue", "yellow", "purple",
        "orange", "brown", "black", "white", "pink", "light", "dark", "medium-dark"};
    private static final String[] THINGS = {"apple", "heart", "circle", "square", "face",
        "cat", "dog", "flag", "star", "tree", "car", "book", "hand", "skin tone", "moon",
        "sun", "house", "fish", "bird", "flower", "piñata", "crème brûlée", "東京 tower"};
    private static final String[] MOODS = {"grinning", "smiling", "crying", "winking",
        "angry", "sleeping", "thinking", "kissing", "pouting", "zany"};

    /** About 4,000 emoji-like captions, some with punctuation and non-ASCII letters. */
    static List<String> emojiCaptions() {
        List<String> out = new ArrayList<>();
        for (String c : COLORS) {
            for (String t : THINGS) {
                out.add(c + " " + t);
                for (String m : MOODS) {
                    out.add(m + " " + c + " " + t);
                }
            }
        }
        for (String m : MOODS) {
            out.add(m + " face with tears of joy");
            out.add("flag: " + m);
            out.add("woman: " + m + ", côte d’ivoire");
        }
        out.add("keycap: #");
        out.add("A button (blood type)");
        out.add("🐱 cat face");
        return out;
    }

    @Test
    void smallCorpusGivesTheHandDerivedMerges() {
        // words: "ab" x3 -> [a, b</w>]; "abc" x1 -> [a, b, c</w>].
        // counts: (a, b</w>)=3, (a, b)=1, (b, c</w>)=1: first "a b</w>"; then the tie between
        // (a, b) and (b, c</w>) goes to the smaller left symbol "a"; then (ab, c</w>).
        BpeTrainer.Vocabulary v = new BpeTrainer(1000, 1).train(List.of("ab ab ab", "ABC"));
        assertThat(v.merges()).containsExactly("a b</w>", "a b", "ab c</w>");
        assertThat(v.size()).isEqualTo(512 + 3 + 2);
        assertThat(v.tokens().subList(512, 517))
                .containsExactly("ab</w>", "ab", "abc</w>", "<|startoftext|>", "<|endoftext|>");
        assertThat(v.tokenizer().tokens("ab abc abab"))
                .containsExactly("ab</w>", "abc</w>", "ab", "ab</w>");
        // With the default minimum count of 2 only the first merge is made.
        assertThat(new BpeTrainer(1000).train(List.of("ab ab ab", "ABC")).merges())
                .containsExactly("a b</w>");
    }

    @Test
    void alphabetAndSpecialTokensFollowClipsLayout() throws IOException {
        BpeTrainer.Vocabulary v = new BpeTrainer(600).train(emojiCaptions());
        assertThat(v.size()).isEqualTo(600);
        // The first 512 ids are the same symbols, in the same order, as OpenAI's vocabulary.
        List<String> clip = new ArrayList<>();
        for (int i = 0; i < 512; i++) {
            clip.add(ClipFixtures.clip().token(i));
        }
        assertThat(v.tokens().subList(0, 512)).isEqualTo(clip);
        assertThat(v.tokens().get(598)).isEqualTo("<|startoftext|>");
        assertThat(v.tokens().get(599)).isEqualTo("<|endoftext|>");
        assertThat(new HashSet<>(v.tokens())).hasSize(600);
    }

    @Test
    void aFailedWriteLeavesTheOldTokenizerWholeAndNoTemporaryFile(@TempDir Path dir)
            throws IOException {
        BpeTrainer.Vocabulary old = new BpeTrainer(600).train(List.of("red apple", "blue sky"));
        old.write(dir);
        String oldVocab = Files.readString(dir.resolve("vocab.json"), StandardCharsets.UTF_8);
        // merges.txt cannot be replaced: a non-empty folder of that name
        Files.delete(dir.resolve("merges.txt"));
        Files.createDirectories(dir.resolve("merges.txt").resolve("x"));
        BpeTrainer.Vocabulary other = new BpeTrainer(800).train(emojiCaptions());

        assertThatThrownBy(() -> other.write(dir)).isInstanceOf(IOException.class);

        assertThat(Files.readString(dir.resolve("vocab.json"), StandardCharsets.UTF_8))
                .as("the vocabulary is not replaced when its merges were not").isEqualTo(oldVocab);
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .containsExactlyInAnyOrder("vocab.json", "merges.txt");
        }
    }

    @Test
    void writtenFilesLoadAndRoundTripEveryCaption(@TempDir Path dir) throws IOException {
        List<String> captions = emojiCaptions();
        assertThat(captions).hasSizeGreaterThan(3000);
        long t0 = System.nanoTime();
        BpeTrainer.Vocabulary v = new BpeTrainer(3000).train(captions);
        long trainMs = (System.nanoTime() - t0) / 1_000_000;
        assertThat(trainMs).as("training ms").isLessThan(10_000);
        v.write(dir);
        String mergesText = Files.readString(dir.resolve("merges.txt"), StandardCharsets.UTF_8);
        assertThat(mergesText).startsWith("#version: 0.2\n");
        ClipTokenizer tok = ClipTokenizer.load(dir);
        assertThat(tok.vocabSize()).isEqualTo(v.size());
        assertThat(tok.startTokenId()).isEqualTo(v.size() - 2);
        assertThat(tok.endTokenId()).isEqualTo(v.size() - 1);
        int words = 0;
        int ids = 0;
        for (String c : captions) {
            int[] e = tok.tokenize(c);
            assertThat(e[0]).isEqualTo(tok.startTokenId());
            assertThat(e[e.length - 1]).isEqualTo(tok.endTokenId());
            for (int i = 1; i < e.length - 1; i++) {
                assertThat(e[i]).isBetween(0, v.size() - 3); // a real token, never a special
            }
            String cleaned = ClipTokenizer.clean(c);
            List<String> pre = ClipTokenizer.preTokenize(cleaned);
            assertThat(tok.decode(e)).isEqualTo(String.join(" ", pre));
            if (c.matches("[\\p{L} ]+")) { // space-separated words: the cleaned caption itself
                assertThat(tok.decode(e)).isEqualTo(cleaned);
            }
            words += pre.size();
            ids += e.length - 2;
        }
        // The vocabulary is large enough that almost every word is one token.
        assertThat((double) ids / words).isLessThan(1.05);
        assertThat(tok.decode(tok.tokenize("Grinning  CAT face"))).isEqualTo("grinning cat face");
        // Words never seen still encode, byte by byte at worst.
        int[] unseen = tok.tokenize("zebra 🦓");
        assertThat(tok.decode(unseen)).isEqualTo("zebra 🦓");
    }

    @Test
    void resultDependsOnlyOnTheCaptionsNotTheirOrder(@TempDir Path dir) throws IOException {
        List<String> captions = emojiCaptions();
        BpeTrainer trainer = new BpeTrainer(1500);
        BpeTrainer.Vocabulary a = trainer.train(captions);
        List<String> shuffled = new ArrayList<>(captions);
        Collections.shuffle(shuffled, new Random(7));
        BpeTrainer.Vocabulary b = trainer.train(shuffled);
        assertThat(b).isEqualTo(a);
        a.write(dir.resolve("a"));
        b.write(dir.resolve("b"));
        for (String f : new String[] {"vocab.json", "merges.txt"}) {
            assertThat(Files.readAllBytes(dir.resolve("b").resolve(f)))
                    .isEqualTo(Files.readAllBytes(dir.resolve("a").resolve(f)));
        }
    }

    @Test
    void mergedTokensAreInTheVocabulary() {
        BpeTrainer.Vocabulary v = new BpeTrainer(2000).train(emojiCaptions());
        Set<String> vocab = new HashSet<>(v.tokens());
        for (String m : v.merges()) {
            assertThat(vocab).contains(m.replace(" ", ""));
        }
    }

    @Test
    void stopsWhenNoPairIsFrequentEnough() {
        BpeTrainer.Vocabulary v = new BpeTrainer(5000).train(List.of("red apple", "red apple"));
        // "red</w>" and "apple</w>" need 2 + 4 merges, each pair seen twice; nothing else.
        assertThat(v.merges()).hasSize(6);
        assertThat(v.size()).isEqualTo(514 + 6);
        assertThat(v.tokenizer().tokens("red apple")).containsExactly("red</w>", "apple</w>");
        assertThat(new BpeTrainer(600).train(List.of()).size()).isEqualTo(514);
    }

    @Test
    void rejectsBadSettings() {
        assertThatThrownBy(() -> new BpeTrainer(513)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("514");
        assertThatThrownBy(() -> new BpeTrainer(1000, 0))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
