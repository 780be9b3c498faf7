package dev.jdiffusion.djl.text;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.ModelLoadException;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, as used by Stable Diffusion's {@code tokenizer/} folder
 * ({@code vocab.json} + {@code merges.txt}), producing the same ids as transformers'
 * {@code CLIPTokenizer}.
 *
 * <p>Steps: {@linkplain #clean(String) clean} the text (Unicode NFC, whitespace runs collapsed
 * to one space, stripped, lower-cased); split it into words with CLIP's pre-tokenizer pattern
 * (letters runs, single digits, punctuation runs, English contractions, the two special
 * tokens); write each word's UTF-8 bytes as printable characters; apply the BPE merges in rank
 * order with {@code </w>} marking the end of the word; map the pieces to ids; wrap them in the
 * start ({@code <|startoftext|>}, 49406 in CLIP) and end ({@code <|endoftext|>}, 49407) tokens.
 * {@link #encode(String)} truncates to {@link #maxLength()} (77) keeping the end token last and
 * pads with {@link #padTokenId()} (the end token for SD 1.x; SD 2.x's tokenizer folder names
 * {@code !}).
 *
 * <p>Differences from the reference: ftfy's mojibake repair and the HTML unescaping of OpenAI's
 * original code are not applied, nor the CJK-character splitting of transformers' slow
 * tokenizer without ftfy (the fast tokenizer and OpenAI's do not split either). A word longer
 * than {@value #MAX_WORD_BYTES} UTF-8 bytes is cut into pieces of that size before BPE, which
 * bounds the cost of a hostile prompt.
 *
 * <p>{@link #encode(String)} does work bounded by {@link #maxLength()}, whatever the length of
 * the prompt (beyond a linear clean-up): it stops tokenizing once the count of dropped tokens
 * no longer matters.
 *
 * <p>Immutable and thread-safe; word results are memoised in a concurrent cache bounded by
 * entry count and by size (about {@value #CACHE_CHARS} characters).
 */
public final class ClipTokenizer {

    /** The start-of-text special token. */
    public static final String START_TOKEN = "<|startoftext|>";
    /** The end-of-text special token (also CLIP's padding and unknown token). */
    public static final String END_TOKEN = "<|endoftext|>";
    /** The sequence length of CLIP's text encoder. */
    public static final int DEFAULT_MAX_LENGTH = 77;

    /** Suffix of a word's last BPE symbol. */
    static final String WORD_END = "</w>";
    /** CLIP's pre-tokenizer: the pieces BPE runs on; whitespace is dropped. */
    static final Pattern PRE_TOKENIZER = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d"
                    + "|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE | Pattern.UNICODE_CHARACTER_CLASS);
    private static final Pattern WHITESPACE =
            Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
    private static final int CACHE_LIMIT = 50_000;
    /** The most characters (words plus their ids, an id counted as 2) the word cache holds. */
    static final long CACHE_CHARS = 1 << 20;
    /** Longer words are not cached: they are rare, and would crowd out common ones. */
    private static final int CACHE_WORD_CHARS = 64;
    /**
     * Words longer than this many UTF-8 bytes are cut into pieces of this size before BPE,
     * whose cost grows with the square of the length (about 20 ms for 512 random letters on
     * one core). Far above any real word; a run of about 170 CJK characters without a space or
     * punctuation reaches it.
     */
    static final int MAX_WORD_BYTES = 512;
    private static final int MAX_VOCAB = 10_000_000;

    private final Map<String, Integer> encoder;
    private final String[] decoder;
    private final Map<String, Integer> ranks;
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    private final AtomicLong cachedChars = new AtomicLong();
    private final int startId;
    private final int endId;
    private final int padId;
    private final int maxLength;

    /**
     * Creates a tokenizer from an in-memory vocabulary (used by the trainer and by the loaders).
     *
     * @param vocab token → id, ids unique and non-negative
     * @param merges the merges in rank order, each as {left, right}
     * @param padToken the padding token (must be in {@code vocab})
     * @param maxLength the padded/truncated length, at least 2
     */
    ClipTokenizer(Map<String, Integer> vocab, List<String[]> merges, String padToken,
            int maxLength) {
        if (maxLength < 2) {
            throw new IllegalArgumentException("maxLength must be at least 2, got " + maxLength);
        }
        for (String special : new String[] {START_TOKEN, END_TOKEN, padToken}) {
            if (!vocab.containsKey(special)) {
                throw new IllegalArgumentException("the vocabulary lacks the token " + special);
            }
        }
        for (String symbol : ByteUnicode.alphabet()) {
            if (!vocab.containsKey(symbol) || !vocab.containsKey(symbol + WORD_END)) {
                throw new IllegalArgumentException("the vocabulary lacks the byte symbol '"
                        + symbol + "' or '" + symbol + WORD_END
                        + "': not a byte-level CLIP vocabulary");
            }
        }
        int maxId = 0;
        for (int id : vocab.values()) {
            maxId = Math.max(maxId, id);
        }
        this.decoder = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            int id = e.getValue();
            if (id < 0) {
                throw new IllegalArgumentException("negative id for token " + e.getKey());
            }
            if (decoder[id] != null) {
                throw new IllegalArgumentException("id " + id + " is used by both '"
                        + decoder[id] + "' and '" + e.getKey() + "'");
            }
            decoder[id] = e.getKey();
        }
        this.encoder = Map.copyOf(vocab);
        Map<String, Integer> r = new HashMap<>(merges.size() * 2);
        for (int i = 0; i < merges.size(); i++) {
            String[] m = merges.get(i);
            r.put(m[0] + ' ' + m[1], i); // a repeated merge keeps its last rank, as transformers
        }
        this.ranks = r;
        this.startId = vocab.get(START_TOKEN);
        this.endId = vocab.get(END_TOKEN);
        this.padId = vocab.get(padToken);
        this.maxLength = maxLength;
    }

    /**
     * Loads a diffusers/transformers {@code tokenizer/} folder: {@code vocab.json} and {@code
     * merges.txt}, plus, when present, the padding token from {@code special_tokens_map.json}
     * and {@code model_max_length} from {@code tokenizer_config.json}.
     *
     * @param folder the tokenizer folder
     * @return the tokenizer
     * @throws ModelLoadException if a file is missing or corrupt
     */
    public static ClipTokenizer load(Path folder) throws ModelLoadException {
        if (!Files.isDirectory(folder)) {
            throw new ModelLoadException("tokenizer folder not found: " + folder
                    + " (expected a folder with vocab.json and merges.txt)");
        }
        Map<String, Integer> vocab = readVocab(folder.resolve("vocab.json"));
        List<String[]> merges = readMerges(folder.resolve("merges.txt"));
        String pad = END_TOKEN;
        int maxLength = DEFAULT_MAX_LENGTH;
        Path special = folder.resolve("special_tokens_map.json");
        if (Files.exists(special)) {
            requireRegular(special, "special_tokens_map.json");
            JsonNode padNode = readJson(special).path("pad_token");
            String p = padNode.isTextual() ? padNode.asText() : padNode.path("content").asText("");
            if (!p.isEmpty()) {
                pad = p;
            }
        }
        Path config = folder.resolve("tokenizer_config.json");
        if (Files.exists(config)) {
            requireRegular(config, "tokenizer_config.json");
            JsonNode len = readJson(config).path("model_max_length");
            if (len.isNumber() && len.asDouble() >= 2 && len.asDouble() <= 100_000) {
                maxLength = len.asInt();
            }
        }
        return create(vocab, merges, pad, maxLength, folder);
    }

    /**
     * Loads a tokenizer from its two files, padding with {@code <|endoftext|>} to 77 tokens (the
     * Stable Diffusion 1.x setting).
     *
     * @param vocabJson the {@code vocab.json} file (token → id)
     * @param mergesTxt the {@code merges.txt} file (one merge per line after a version line)
     * @return the tokenizer
     * @throws ModelLoadException if a file is missing or corrupt
     */
    public static ClipTokenizer load(Path vocabJson, Path mergesTxt) throws ModelLoadException {
        return create(readVocab(vocabJson), readMerges(mergesTxt), END_TOKEN,
                DEFAULT_MAX_LENGTH, vocabJson);
    }

    private static ClipTokenizer create(Map<String, Integer> vocab, List<String[]> merges,
            String pad, int maxLength, Path where) throws ModelLoadException {
        try {
            return new ClipTokenizer(vocab, merges, pad, maxLength);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException("invalid CLIP tokenizer at " + where
                    + " (vocab.json, merges.txt): " + e.getMessage(), e);
        }
    }

    private static JsonNode readJson(Path file) throws ModelLoadException {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ModelLoadException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    static Map<String, Integer> readVocab(Path file) throws ModelLoadException {
        requireRegular(file, "vocab.json");
        Map<String, Integer> vocab = new LinkedHashMap<>(1 << 17);
        // 49k distinct keys: interning and canonicalising them would cost more than the parse.
        JsonFactory json = JsonFactory.builder()
                .disable(JsonFactory.Feature.INTERN_FIELD_NAMES)
                .disable(JsonFactory.Feature.CANONICALIZE_FIELD_NAMES)
                .build();
        try (JsonParser p = json.createParser(file.toFile())) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new ModelLoadException(
                        "corrupt vocab.json " + file + ": expected a JSON object token → id");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String token = p.currentName();
                if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) {
                    throw new ModelLoadException("corrupt vocab.json " + file + ": the id of '"
                            + token + "' is not an integer");
                }
                long id = p.getLongValue();
                if (id < 0 || id >= MAX_VOCAB) {
                    throw new ModelLoadException("corrupt vocab.json " + file + ": id " + id
                            + " of '" + token + "' is out of range 0.." + (MAX_VOCAB - 1));
                }
                vocab.put(token, (int) id);
            }
            if (t != JsonToken.END_OBJECT) {
                throw new ModelLoadException("corrupt vocab.json " + file + ": unexpected " + t);
            }
        } catch (NoSuchFileException e) {
            throw new ModelLoadException("vocab.json not found: " + file, e);
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException e) {
            throw new ModelLoadException(
                    "cannot read vocab.json " + file + ": " + e.getMessage(), e);
        }
        return vocab;
    }

    static List<String[]> readMerges(Path file) throws ModelLoadException {
        requireRegular(file, "merges.txt");
        List<String[]> merges = new ArrayList<>(1 << 16);
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if ((lineNo == 1 && line.startsWith("#version")) || line.isEmpty()) {
                    continue;
                }
                int space = line.indexOf(' ');
                if (space <= 0 || space == line.length() - 1
                        || line.indexOf(' ', space + 1) >= 0) {
                    throw new ModelLoadException("corrupt merges.txt " + file + " line " + lineNo
                            + ": expected two symbols separated by one space, got '" + line + "'");
                }
                merges.add(new String[] {line.substring(0, space), line.substring(space + 1)});
            }
        } catch (NoSuchFileException e) {
            throw new ModelLoadException("merges.txt not found: " + file, e);
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException e) {
            throw new ModelLoadException(
                    "cannot read merges.txt " + file + " (not UTF-8 text?): " + e.getMessage(), e);
        }
        return merges;
    }

    /**
     * Refuses anything but a regular file (after links) before it is opened: opening a FIFO
     * blocks until a writer comes, a device may never end.
     */
    private static void requireRegular(Path file, String what) throws ModelLoadException {
        if (!Files.exists(file)) {
            throw new ModelLoadException(what + " not found: " + file);
        }
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException(what + " " + file + " is not a regular file (a pipe,"
                    + " device or folder?); give the tokenizer's " + what + " file");
        }
    }

    /**
     * CLIP's text clean-up: Unicode NFC, whitespace runs to one space, leading/trailing space
     * removed, lower case.
     *
     * @param text any text
     * @return the cleaned text
     */
    public static String clean(String text) {
        String s = Normalizer.normalize(text, Normalizer.Form.NFC);
        s = WHITESPACE.matcher(s).replaceAll(" ").strip();
        return s.toLowerCase(Locale.ROOT);
    }

    /**
     * The words of a cleaned text as CLIP's pre-tokenizer splits it.
     *
     * @param cleaned text already passed through {@link #clean(String)}
     * @return the words, whitespace dropped
     */
    static List<String> preTokenize(String cleaned) {
        List<String> words = new ArrayList<>();
        Matcher m = PRE_TOKENIZER.matcher(cleaned);
        while (m.find()) {
            words.add(m.group());
        }
        return words;
    }

    /**
     * A word's UTF-8 bytes written as byte characters.
     *
     * @param word a word of the pre-tokenizer
     * @return one character per byte
     */
    static String toByteChars(String word) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        char[] chars = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            chars[i] = ByteUnicode.charOf(bytes[i]);
        }
        return new String(chars);
    }

    /**
     * Tokenizes without truncation or padding.
     *
     * @param text a prompt (any length; cleaned first)
     * @return the start id, the text's ids, the end id
     */
    public int[] tokenize(String text) {
        IdList ids = new IdList(64);
        ids.add(startId);
        Matcher m = PRE_TOKENIZER.matcher(clean(text));
        while (m.find()) {
            appendWord(m.group(), ids, Integer.MAX_VALUE);
        }
        ids.add(endId);
        return ids.toArray();
    }

    /**
     * The text's own ids (no start or end token), tokenizing no further than needed to know
     * that there are more than {@code limit}.
     *
     * @param text a prompt fragment (cleaned first)
     * @param limit the most ids the caller can use
     * @return the ids; longer than {@code limit} (by at least one) when the text has more
     */
    int[] textIds(String text, int limit) {
        IdList ids = new IdList(16);
        Matcher m = PRE_TOKENIZER.matcher(clean(text));
        while (ids.size() <= limit && m.find()) {
            appendWord(m.group(), ids, limit + 1);
        }
        return ids.toArray();
    }

    /**
     * Tokenizes for the text encoder: start token, text, end token, truncated to {@link
     * #maxLength()} (the end token stays last) and padded with {@link #padTokenId()}.
     *
     * @param text a prompt; the empty string gives start, end, padding
     * @return the ids (length {@link #maxLength()}), the unpadded length and whether text was
     *     dropped
     */
    public Encoding encode(String text) {
        String cleaned = clean(text);
        int keep = maxLength - 2;
        int countLimit = countLimit();
        IdList tokens = new IdList(maxLength);
        tokens.add(startId);
        int droppedFrom = cleaned.length();
        Matcher m = PRE_TOKENIZER.matcher(cleaned);
        while (tokens.size() - 1 <= countLimit && m.find()) {
            appendWord(m.group(), tokens, countLimit + 2);
            if (tokens.size() - 1 > keep && droppedFrom == cleaned.length()) {
                droppedFrom = m.start(); // the first word not kept whole
            }
        }
        int textTokens = Math.min(tokens.size() - 1, countLimit + 1);
        boolean truncated = textTokens > keep;
        int length = Math.min(textTokens, keep) + 2;
        int[] ids = new int[maxLength];
        System.arraycopy(tokens.array(), 0, ids, 0, length - 1);
        ids[length - 1] = endId;
        Arrays.fill(ids, length, maxLength, padId);
        return new Encoding(ids, length, truncated, textTokens,
                truncated ? cleaned.length() - droppedFrom : 0);
    }

    /** How far {@link #encode} counts a text's tokens: four times the length it keeps. */
    int countLimit() {
        return 4 * maxLength;
    }

    /**
     * The BPE pieces of a text, without special tokens ({@code a photo} → {@code a</w>},
     * {@code photo</w>}).
     *
     * @param text a prompt
     * @return the vocabulary entries
     */
    public List<String> tokens(String text) {
        int[] ids = tokenize(text);
        List<String> out = new ArrayList<>(ids.length - 2);
        for (int i = 1; i < ids.length - 1; i++) {
            out.add(decoder[ids[i]]);
        }
        return out;
    }

    /**
     * Turns ids back into text: start and end tokens are skipped, each {@code </w>} becomes a
     * space, bytes are decoded as UTF-8 (invalid sequences become U+FFFD) and the result is
     * stripped. For text whose words are separated by spaces this returns {@link
     * #clean(String)} of the input; otherwise words the pre-tokenizer split without a space
     * ({@code cat!}) come back space-separated ({@code cat !}). Padding with a token other than
     * the end token (SD 2's {@code !}) is not removed: pass only the first {@link
     * Encoding#length()} ids.
     *
     * @param ids token ids
     * @return the text
     * @throws IllegalArgumentException if an id is not in the vocabulary
     */
    public String decode(int[] ids) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int id : ids) {
            if (id < 0 || id >= decoder.length || decoder[id] == null) {
                throw new IllegalArgumentException("unknown token id " + id);
            }
            if (id == startId || id == endId) {
                continue;
            }
            String token = decoder[id];
            boolean wordEnd = token.endsWith(WORD_END);
            String body = wordEnd ? token.substring(0, token.length() - WORD_END.length()) : token;
            for (int i = 0; i < body.length(); i++) {
                int b = ByteUnicode.byteOf(body.charAt(i));
                if (b < 0) { // not a byte character (a hand-added token): keep its text
                    byte[] raw = String.valueOf(body.charAt(i)).getBytes(StandardCharsets.UTF_8);
                    bytes.write(raw, 0, raw.length);
                } else {
                    bytes.write(b);
                }
            }
            if (wordEnd) {
                bytes.write(' ');
            }
        }
        return bytes.toString(StandardCharsets.UTF_8).strip();
    }

    /**
     * Appends a word's ids, stopping once {@code ids} holds {@code limit} ids (a word over
     * {@value #MAX_WORD_BYTES} bytes is encoded piece by piece).
     */
    private void appendWord(String word, IdList ids, int limit) {
        if (word.equals(START_TOKEN) || word.equals(END_TOKEN)) {
            ids.add(word.equals(START_TOKEN) ? startId : endId);
            return;
        }
        if (word.length() <= CACHE_WORD_CHARS) {
            int[] cached = cache.get(word);
            if (cached != null) {
                ids.addAll(cached);
                return;
            }
        }
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= MAX_WORD_BYTES) {
            int[] w = pieceIds(bytes, 0, bytes.length, true);
            remember(word, w);
            ids.addAll(w);
            return;
        }
        for (int from = 0; from < bytes.length && ids.size() < limit; from += MAX_WORD_BYTES) {
            int to = Math.min(bytes.length, from + MAX_WORD_BYTES);
            ids.addAll(pieceIds(bytes, from, to, to == bytes.length));
        }
    }

    /** BPE of the bytes {@code [from, to)} of a word, {@code </w>} on the last if it ends it. */
    private int[] pieceIds(byte[] bytes, int from, int to, boolean wordEnd) {
        char[] chars = new char[to - from];
        for (int i = from; i < to; i++) {
            chars[i - from] = ByteUnicode.charOf(bytes[i]);
        }
        List<String> pieces = bpe(new String(chars), wordEnd);
        int[] ids = new int[pieces.size()];
        for (int i = 0; i < ids.length; i++) {
            // Unreachable with a full byte alphabet (checked on load); transformers maps
            // unknown pieces to the unknown token, <|endoftext|>.
            ids[i] = encoder.getOrDefault(pieces.get(i), endId);
        }
        return ids;
    }

    /** Caches a short word's ids while the cache is within its entry and size bounds. */
    private void remember(String word, int[] ids) {
        if (word.length() > CACHE_WORD_CHARS || cache.size() >= CACHE_LIMIT) {
            return;
        }
        long cost = word.length() + 2L * ids.length;
        if (cachedChars.addAndGet(cost) > CACHE_CHARS) {
            cachedChars.addAndGet(-cost);
            return;
        }
        if (cache.putIfAbsent(word, ids) != null) {
            cachedChars.addAndGet(-cost);
        }
    }

    /**
     * The size of the word cache.
     *
     * @return the characters of the cached words plus 2 per cached id
     */
    long cachedChars() {
        return cachedChars.get();
    }

    /**
     * Byte-pair encoding of one word: start from single byte characters, the last one with
     * {@code </w>}, and repeatedly merge every occurrence of the adjacent pair with the lowest
     * merge rank until no pair has a rank.
     *
     * @param byteChars the word's bytes as byte characters, not empty
     * @return the pieces
     */
    List<String> bpe(String byteChars) {
        return bpe(byteChars, true);
    }

    private List<String> bpe(String byteChars, boolean wordEnd) {
        List<String> word = new ArrayList<>(byteChars.length());
        for (int i = 0; i < byteChars.length() - 1; i++) {
            word.add(String.valueOf(byteChars.charAt(i)));
        }
        String last = String.valueOf(byteChars.charAt(byteChars.length() - 1));
        word.add(wordEnd ? last + WORD_END : last);
        while (word.size() > 1) {
            int best = Integer.MAX_VALUE;
            String first = null;
            String second = null;
            for (int i = 0; i < word.size() - 1; i++) {
                Integer r = ranks.get(word.get(i) + ' ' + word.get(i + 1));
                if (r != null && r < best) {
                    best = r;
                    first = word.get(i);
                    second = word.get(i + 1);
                }
            }
            if (first == null) {
                break;
            }
            List<String> merged = new ArrayList<>(word.size());
            int i = 0;
            while (i < word.size()) {
                if (i < word.size() - 1 && word.get(i).equals(first)
                        && word.get(i + 1).equals(second)) {
                    merged.add(first + second);
                    i += 2;
                } else {
                    merged.add(word.get(i));
                    i++;
                }
            }
            word = merged;
        }
        return word;
    }

    /**
     * The length {@link #encode(String)} pads and truncates to.
     *
     * @return 77 for CLIP
     */
    public int maxLength() {
        return maxLength;
    }

    /**
     * The id of {@code <|startoftext|>}.
     *
     * @return 49406 for CLIP
     */
    public int startTokenId() {
        return startId;
    }

    /**
     * The id of {@code <|endoftext|>}.
     *
     * @return 49407 for CLIP
     */
    public int endTokenId() {
        return endId;
    }

    /**
     * The id used for padding.
     *
     * @return 49407 for SD 1.x, 0 ({@code !}) for SD 2.x
     */
    public int padTokenId() {
        return padId;
    }

    /**
     * The size of the id space (highest id + 1), the text encoder's {@code vocab_size}.
     *
     * @return 49408 for CLIP
     */
    public int vocabSize() {
        return decoder.length;
    }

    /**
     * The vocabulary entry of an id.
     *
     * @param id a token id
     * @return its BPE piece, e.g. {@code cat</w>}
     * @throws IllegalArgumentException if the id is unknown
     */
    public String token(int id) {
        if (id < 0 || id >= decoder.length || decoder[id] == null) {
            throw new IllegalArgumentException("unknown token id " + id);
        }
        return decoder[id];
    }

    /**
     * The result of {@link #encode(String)}.
     *
     * @param ids the padded ids, length {@link #maxLength()}; the caller must not modify it
     * @param length the number of ids before padding, start and end tokens included
     * @param truncated whether the text had more tokens than fit and some were dropped
     * @param textTokens the number of the text's own tokens before truncation, counted up to
     *     {@code 4 * maxLength() + 1}: tokenizing stops there, so a count that high means "at
     *     least"
     * @param droppedChars for a truncated text, the number of characters of its {@linkplain
     *     #clean(String) cleaned} form from the first word not kept whole to the end; else 0
     */
    public record Encoding(int[] ids, int length, boolean truncated, int textTokens,
            int droppedChars) {

        @Override
        public boolean equals(Object o) {
            return o instanceof Encoding e && Arrays.equals(ids, e.ids) && length == e.length
                    && truncated == e.truncated && textTokens == e.textTokens
                    && droppedChars == e.droppedChars;
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids) * 31 + length;
        }

        @Override
        public String toString() {
            return "Encoding[ids=" + Arrays.toString(ids) + ", length=" + length
                    + ", truncated=" + truncated + ", textTokens=" + textTokens
                    + ", droppedChars=" + droppedChars + "]";
        }
    }

    /** A growable int array. */
    private static final class IdList {
        private int[] a;
        private int n;

        IdList(int capacity) {
            a = new int[capacity];
        }

        void add(int id) {
            if (n == a.length) {
                a = Arrays.copyOf(a, a.length * 2);
            }
            a[n++] = id;
        }

        void addAll(int[] ids) {
            if (n + ids.length > a.length) {
                a = Arrays.copyOf(a, Math.max(a.length * 2, n + ids.length));
            }
            System.arraycopy(ids, 0, a, n, ids.length);
            n += ids.length;
        }

        int size() {
            return n;
        }

        int[] array() {
            return a;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
