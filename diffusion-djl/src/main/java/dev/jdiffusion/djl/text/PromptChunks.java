package dev.jdiffusion.djl.text;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A parsed prompt cut into the chunks the text encoder reads, as AUTOMATIC1111's {@code
 * tokenize_line} (in {@code sd_hijack_clip.py}) cuts it: each fragment is tokenized on its own;
 * the tokens fill chunks of {@code maxLength − 2} (75) tokens, each then wrapped in the start and
 * end tokens and padded to {@code maxLength} (77); a {@code BREAK} ends the chunk; when a chunk
 * is full and a comma lies within the last {@value #COMMA_BACKTRACK} tokens, the tokens after
 * that comma move on to the next chunk; a textual-inversion trigger becomes its vectors'
 * placeholders and never straddles two chunks.
 *
 * <p>Differences from AUTOMATIC1111: a trigger whose placeholders move to the next chunk with
 * the comma rule takes its vectors along (AUTOMATIC1111 leaves them behind, on the old chunk's
 * padding); more than {@code maxChunks} chunks is an error, not a longer sequence.
 */
final class PromptChunks {

    /** AUTOMATIC1111's default {@code comma_padding_backtrack}. */
    static final int COMMA_BACKTRACK = 20;

    /**
     * Vectors that replace the token embeddings from {@code offset} on.
     *
     * @param offset the first position in the chunk (the start token is position 0)
     * @param vectors one vector per position
     */
    record Fix(int offset, float[][] vectors) {}

    /**
     * One chunk.
     *
     * @param ids {@code maxLength} token ids
     * @param weights one multiplier per id (1 for the start, end and padding tokens)
     * @param fixes textual-inversion vectors to put in
     */
    record Chunk(int[] ids, float[] weights, List<Fix> fixes) {

        /** Whether any weight differs from 1. */
        boolean weighted() {
            for (float w : weights) {
                if (w != 1f) {
                    return true;
                }
            }
            return false;
        }
    }

    private final ClipTokenizer tokenizer;
    private final Triggers triggers;
    private final int length;
    private final int maxChunks;
    private final int comma;

    PromptChunks(ClipTokenizer tokenizer, Triggers triggers, int maxChunks) {
        this.tokenizer = tokenizer;
        this.triggers = triggers;
        this.length = tokenizer.maxLength() - 2;
        this.maxChunks = maxChunks;
        this.comma = tokenizer.textIds(",", 1)[0];
    }

    /**
     * The textual-inversion vectors of a batch of chunks as the text model takes them.
     *
     * @param manager the manager of the arrays
     * @param batch one chunk per prompt, all of one length T
     * @param hidden the text encoder's width D
     * @param type the text encoder's data type
     * @return {@code NDList(values (N, T, D), mask (N, T, D) boolean)}, or null if no chunk has
     *     vectors
     */
    static NDList fixArrays(NDManager manager, Chunk[] batch, int hidden, DataType type) {
        boolean fixed = false;
        for (Chunk c : batch) {
            fixed |= !c.fixes().isEmpty();
        }
        if (!fixed) {
            return null;
        }
        int n = batch.length;
        int t = batch[0].ids().length;
        float[] values = new float[n * t * hidden];
        boolean[] mask = new boolean[n * t * hidden]; // where() does not broadcast
        for (int i = 0; i < n; i++) {
            for (Fix f : batch[i].fixes()) {
                for (int v = 0; v < f.vectors().length; v++) {
                    int pos = i * t + f.offset() + v;
                    System.arraycopy(f.vectors()[v], 0, values, pos * hidden, hidden);
                    Arrays.fill(mask, pos * hidden, (pos + 1) * hidden, true);
                }
            }
        }
        Shape shape = new Shape(n, t, hidden);
        return new NDList(manager.create(values, shape).toType(type, false),
                manager.create(mask, shape));
    }

    /** The chunk of the empty prompt: start, end, padding. */
    Chunk empty() {
        return new Builder().finish();
    }

    /**
     * Cuts fragments into chunks.
     *
     * @param fragments the parsed prompt
     * @return at least one chunk
     * @throws IllegalArgumentException if the prompt needs more than {@code maxChunks} chunks
     */
    List<Chunk> of(List<PromptParser.Fragment> fragments) {
        List<Chunk> chunks = new ArrayList<>();
        Builder chunk = new Builder();
        int budget = maxChunks * length; // no prompt that fits has more tokens
        for (PromptParser.Fragment f : fragments) {
            if (f.isBreak()) {
                add(chunks, chunk);
                chunk = new Builder();
                continue;
            }
            int[] tokens = tokenizer.textIds(f.text(), budget);
            if (tokens.length > budget) {
                throw tooLong();
            }
            float weight = (float) f.weight();
            int position = 0;
            while (position < tokens.length) {
                int token = tokens[position];
                if (token == comma) {
                    chunk.lastComma = chunk.size;
                } else if (chunk.size == length && chunk.lastComma >= 0
                        && chunk.size - chunk.lastComma <= COMMA_BACKTRACK) {
                    Builder rest = chunk.split(chunk.lastComma + 1);
                    add(chunks, chunk);
                    chunk = rest;
                }
                if (chunk.size == length) {
                    add(chunks, chunk);
                    chunk = new Builder();
                }
                Triggers.Trigger t = triggers.at(tokens, position);
                if (t == null) {
                    chunk.add(token, weight);
                    position++;
                    continue;
                }
                int n = t.vectors().length;
                if (chunk.size + n > length) {
                    add(chunks, chunk);
                    chunk = new Builder();
                }
                chunk.fixes.add(new Fix(chunk.size, t.vectors()));
                for (int k = 0; k < n; k++) {
                    chunk.add(0, weight);
                }
                position += t.ids().length;
            }
            budget = Math.max(0, budget - tokens.length);
        }
        if (chunk.size > 0 || chunks.isEmpty()) {
            add(chunks, chunk);
        }
        return chunks;
    }

    private void add(List<Chunk> chunks, Builder chunk) {
        if (chunks.size() == maxChunks) {
            throw tooLong();
        }
        chunks.add(chunk.finish());
    }

    private IllegalArgumentException tooLong() {
        return new IllegalArgumentException("the prompt is too long: it needs more than "
                + maxChunks + " chunks of " + length + " tokens (" + maxChunks * length
                + " tokens, BREAK counting as the rest of its chunk), the most jdiffusion"
                + " encodes; shorten it");
    }

    /** A chunk being filled: text tokens only, without start and end tokens. */
    private final class Builder {
        private int[] ids = new int[length];
        private float[] weights = new float[length];
        private List<Fix> fixes = new ArrayList<>();
        private int size;
        private int lastComma = -1;

        void add(int id, float weight) {
            ids[size] = id;
            weights[size] = weight;
            size++;
        }

        /** Moves the tokens from {@code at} on (and their fixes) into a new builder. */
        Builder split(int at) {
            Builder rest = new Builder();
            for (int k = at; k < size; k++) {
                rest.add(ids[k], weights[k]);
            }
            List<Fix> keep = new ArrayList<>();
            for (Fix f : fixes) {
                if (f.offset() >= at) {
                    rest.fixes.add(new Fix(f.offset() - at, f.vectors()));
                } else {
                    keep.add(f);
                }
            }
            fixes = keep;
            size = at;
            return rest;
        }

        Chunk finish() {
            int total = length + 2;
            int[] out = new int[total];
            float[] w = new float[total];
            Arrays.fill(w, 1f);
            out[0] = tokenizer.startTokenId();
            System.arraycopy(ids, 0, out, 1, size);
            System.arraycopy(weights, 0, w, 1, size);
            out[size + 1] = tokenizer.endTokenId();
            Arrays.fill(out, size + 2, total, tokenizer.padTokenId());
            List<Fix> shifted = new ArrayList<>(fixes.size());
            for (Fix f : fixes) {
                shifted.add(new Fix(f.offset() + 1, f.vectors()));
            }
            return new Chunk(out, w, List.copyOf(shifted));
        }
    }
}
