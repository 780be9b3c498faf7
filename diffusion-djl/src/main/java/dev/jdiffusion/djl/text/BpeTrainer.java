package dev.jdiffusion.djl.text;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.internal.AtomicFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeMap;

/**
 * Learns a byte-level BPE vocabulary in CLIP's format from captions, for models trained here
 * (the default emoji model's tokenizer).
 *
 * <p>Captions are cleaned and split into words exactly as {@link ClipTokenizer} does; each
 * word's UTF-8 bytes become byte symbols, the last one marked with {@code </w>}. Starting from
 * the 256 byte symbols and their 256 {@code </w>} forms (ids 0–511, CLIP's order), the trainer
 * repeatedly merges the adjacent pair that occurs most often (weighted by word frequency) into a
 * new symbol, until the vocabulary reaches the target size (the last two ids are {@code
 * <|startoftext|>} and {@code <|endoftext|>}) or no pair occurs at least {@code minPairCount}
 * times. Ties are broken by the pair's left symbol, then its right symbol, in ascending {@link
 * String#compareTo} order, so the result depends only on the multiset of captions, not on their
 * order. A merge whose result is already a symbol is recorded in the merges but adds no id.
 *
 * <p>Immutable and thread-safe; {@link #train} keeps all its state local.
 */
public final class BpeTrainer {

    /** The smallest vocabulary: 512 byte symbols plus the two special tokens. */
    public static final int MIN_VOCAB_SIZE = 514;

    private final int vocabSize;
    private final int minPairCount;

    /**
     * Creates a trainer that merges pairs seen at least twice.
     *
     * @param vocabSize the target vocabulary size, special tokens included, at least {@value
     *     #MIN_VOCAB_SIZE}
     */
    public BpeTrainer(int vocabSize) {
        this(vocabSize, 2);
    }

    /**
     * Creates a trainer.
     *
     * @param vocabSize the target vocabulary size, special tokens included, at least {@value
     *     #MIN_VOCAB_SIZE}
     * @param minPairCount the least weighted count of a pair worth merging, at least 1
     */
    public BpeTrainer(int vocabSize, int minPairCount) {
        if (vocabSize < MIN_VOCAB_SIZE || vocabSize > 1_000_000) {
            throw new IllegalArgumentException("vocabSize must be in " + MIN_VOCAB_SIZE
                    + "..1000000 (512 byte symbols + 2 special tokens at least), got " + vocabSize);
        }
        if (minPairCount < 1) {
            throw new IllegalArgumentException("minPairCount must be at least 1, got "
                    + minPairCount);
        }
        this.vocabSize = vocabSize;
        this.minPairCount = minPairCount;
    }

    /**
     * Learns merges from captions.
     *
     * @param captions the training texts (prompts/captions); may contain any Unicode
     * @return the vocabulary and merges
     */
    public Vocabulary train(Collection<String> captions) {
        // Distinct words and their counts; a sorted map makes the word numbering canonical.
        Map<String, Integer> wordCounts = new TreeMap<>();
        for (String caption : captions) {
            for (String word : ClipTokenizer.preTokenize(ClipTokenizer.clean(caption))) {
                if (!word.equals(ClipTokenizer.START_TOKEN)
                        && !word.equals(ClipTokenizer.END_TOKEN)) {
                    wordCounts.merge(word, 1, Integer::sum);
                }
            }
        }
        List<String> symbols = new ArrayList<>(); // symbol id → text
        Map<String, Integer> symbolIds = new HashMap<>();
        List<String> tokens = new ArrayList<>(); // vocabulary id → text
        String[] alphabet = ByteUnicode.alphabet();
        for (String s : alphabet) {
            addSymbol(s, symbols, symbolIds);
        }
        for (String s : alphabet) {
            addSymbol(s + ClipTokenizer.WORD_END, symbols, symbolIds);
        }
        tokens.addAll(symbols);

        int[][] words = new int[wordCounts.size()][];
        int[] freq = new int[words.length];
        int w = 0;
        for (Map.Entry<String, Integer> e : wordCounts.entrySet()) {
            String chars = ClipTokenizer.toByteChars(e.getKey());
            int[] ids = new int[chars.length()];
            for (int i = 0; i < ids.length; i++) {
                String s = String.valueOf(chars.charAt(i));
                ids[i] = symbolIds.get(i == ids.length - 1 ? s + ClipTokenizer.WORD_END : s);
            }
            words[w] = ids;
            freq[w++] = e.getValue();
        }

        Map<Long, Long> counts = new HashMap<>();
        Map<Long, Set<Integer>> where = new HashMap<>();
        for (int i = 0; i < words.length; i++) {
            addPairs(words[i], i, freq[i], counts, where);
        }
        PriorityQueue<long[]> queue = new PriorityQueue<>((a, b) -> {
            if (a[0] != b[0]) {
                return Long.compare(b[0], a[0]); // higher count first
            }
            int c = symbols.get(left(a[1])).compareTo(symbols.get(left(b[1])));
            return c != 0 ? c : symbols.get(right(a[1])).compareTo(symbols.get(right(b[1])));
        });
        counts.forEach((pair, count) -> queue.add(new long[] {count, pair}));

        List<String> merges = new ArrayList<>();
        int target = vocabSize - 2;
        while (tokens.size() < target && !queue.isEmpty()) {
            long[] top = queue.poll();
            long pair = top[1];
            Long current = counts.get(pair);
            if (current == null || current != top[0]) {
                continue; // stale entry
            }
            if (current < minPairCount) {
                break;
            }
            int a = left(pair);
            int b = right(pair);
            String merged = symbols.get(a) + symbols.get(b);
            merges.add(symbols.get(a) + ' ' + symbols.get(b));
            if (!symbolIds.containsKey(merged)) {
                addSymbol(merged, symbols, symbolIds);
                tokens.add(merged);
            }
            int m = symbolIds.get(merged);
            Set<Long> touched = new HashSet<>();
            for (int i : new ArrayList<>(where.getOrDefault(pair, Set.of()))) {
                int[] before = words[i];
                int[] after = merge(before, a, b, m);
                if (after.length == before.length) {
                    continue; // the pair left this word in an earlier merge
                }
                removePairs(before, freq[i], counts, touched);
                addPairs(after, i, freq[i], counts, where);
                collectPairs(after, touched);
                words[i] = after;
            }
            where.remove(pair);
            for (long p : touched) {
                Long c = counts.get(p);
                if (c != null && c > 0) {
                    queue.add(new long[] {c, p});
                }
            }
        }
        tokens.add(ClipTokenizer.START_TOKEN);
        tokens.add(ClipTokenizer.END_TOKEN);
        return new Vocabulary(List.copyOf(tokens), List.copyOf(merges));
    }

    private static void addSymbol(String s, List<String> symbols, Map<String, Integer> ids) {
        ids.put(s, symbols.size());
        symbols.add(s);
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int left(long pair) {
        return (int) (pair >>> 32);
    }

    private static int right(long pair) {
        return (int) pair;
    }

    private static void addPairs(int[] word, int index, int freq, Map<Long, Long> counts,
            Map<Long, Set<Integer>> where) {
        for (int i = 0; i + 1 < word.length; i++) {
            long p = key(word[i], word[i + 1]);
            counts.merge(p, (long) freq, Long::sum);
            where.computeIfAbsent(p, k -> new HashSet<>()).add(index);
        }
    }

    private static void removePairs(int[] word, int freq, Map<Long, Long> counts,
            Set<Long> touched) {
        for (int i = 0; i + 1 < word.length; i++) {
            long p = key(word[i], word[i + 1]);
            long c = counts.get(p) - freq;
            if (c == 0) {
                counts.remove(p);
            } else {
                counts.put(p, c);
            }
            touched.add(p);
        }
    }

    private static void collectPairs(int[] word, Set<Long> touched) {
        for (int i = 0; i + 1 < word.length; i++) {
            touched.add(key(word[i], word[i + 1]));
        }
    }

    /** Replaces every (a, b) left to right by m, as {@link ClipTokenizer#bpe} does. */
    private static int[] merge(int[] word, int a, int b, int m) {
        int[] out = new int[word.length];
        int n = 0;
        for (int i = 0; i < word.length; i++) {
            if (i + 1 < word.length && word[i] == a && word[i + 1] == b) {
                out[n++] = m;
                i++;
            } else {
                out[n++] = word[i];
            }
        }
        return n == word.length ? word : java.util.Arrays.copyOf(out, n);
    }

    /**
     * A learned vocabulary in CLIP's format.
     *
     * @param tokens the vocabulary in id order: 256 byte symbols, their 256 {@code </w>} forms,
     *     the merged symbols in merge order, {@code <|startoftext|>}, {@code <|endoftext|>}
     * @param merges the merges in rank order, each "left right"
     */
    public record Vocabulary(List<String> tokens, List<String> merges) {

        /**
         * Copies the lists.
         *
         * @param tokens the vocabulary in id order
         * @param merges the merges in rank order, each "left right"
         * @throws IllegalArgumentException if a merge is not two space-separated symbols
         */
        public Vocabulary {
            tokens = List.copyOf(tokens);
            merges = List.copyOf(merges);
            for (String m : merges) {
                int space = m.indexOf(' ');
                if (space <= 0 || space != m.lastIndexOf(' ') || space == m.length() - 1) {
                    throw new IllegalArgumentException("bad merge '" + m + "'");
                }
            }
        }

        /**
         * The number of ids, the text encoder's {@code vocab_size}.
         *
         * @return the vocabulary size
         */
        public int size() {
            return tokens.size();
        }

        /**
         * The vocabulary as token → id, in id order.
         *
         * @return a new map
         */
        public Map<String, Integer> vocab() {
            Map<String, Integer> out = new LinkedHashMap<>();
            for (int i = 0; i < tokens.size(); i++) {
                out.put(tokens.get(i), i);
            }
            return out;
        }

        /**
         * Writes {@code vocab.json} (one line, token → id) and {@code merges.txt} ({@code
         * #version: 0.2}, then one merge per line) into a folder, creating it if needed; {@link
         * ClipTokenizer#load(Path)} and transformers' {@code CLIPTokenizer} read them.
         *
         * <p>Both files are written completely to temporary siblings first and then renamed
         * into place, merges before vocabulary: a failure leaves no partly written file, and an
         * existing vocabulary is not replaced unless its merges were.
         *
         * @param folder the tokenizer folder
         * @throws IOException if writing fails
         */
        public void write(Path folder) throws IOException {
            Path dir = folder.toAbsolutePath();
            Files.createDirectories(dir);
            StringBuilder sb = new StringBuilder("#version: 0.2\n");
            for (String m : merges) {
                sb.append(m).append('\n');
            }
            byte[] vocabBytes = new ObjectMapper().writeValueAsBytes(vocab());
            byte[] mergesBytes = sb.toString().getBytes(StandardCharsets.UTF_8);
            Path vocabTmp = null;
            Path mergesTmp = null;
            try {
                vocabTmp = AtomicFiles.createFile(dir, ".vocab.json.", ".tmp");
                Files.write(vocabTmp, vocabBytes);
                mergesTmp = AtomicFiles.createFile(dir, ".merges.txt.", ".tmp");
                Files.write(mergesTmp, mergesBytes);
                AtomicFiles.moveIntoPlace(mergesTmp, dir.resolve("merges.txt"));
                mergesTmp = null;
                AtomicFiles.moveIntoPlace(vocabTmp, dir.resolve("vocab.json"));
                vocabTmp = null;
            } finally {
                if (vocabTmp != null) {
                    Files.deleteIfExists(vocabTmp);
                }
                if (mergesTmp != null) {
                    Files.deleteIfExists(mergesTmp);
                }
            }
        }

        /**
         * A tokenizer over this vocabulary, padding with {@code <|endoftext|>} to 77 tokens.
         *
         * @return the tokenizer
         */
        public ClipTokenizer tokenizer() {
            List<String[]> pairs = new ArrayList<>(merges.size());
            for (String m : merges) {
                int space = m.indexOf(' ');
                pairs.add(new String[] {m.substring(0, space), m.substring(space + 1)});
            }
            return new ClipTokenizer(vocab(), pairs, ClipTokenizer.END_TOKEN,
                    ClipTokenizer.DEFAULT_MAX_LENGTH);
        }
    }
}
