package dev.jdiffusion.djl.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The trigger words of textual-inversion embeddings as token sequences, found in a fragment's
 * tokens as AUTOMATIC1111 finds them ({@code find_embedding_at_position}): a trigger matches
 * where the fragment's ids continue with the trigger's own ids, the longest trigger first.
 * Immutable and thread-safe.
 */
final class Triggers {

    /** No embeddings. */
    static final Triggers NONE = new Triggers(Map.of());

    /**
     * One trigger.
     *
     * @param word the trigger word
     * @param ids its token ids
     * @param vectors the vectors it stands for, each of the text encoder's width
     */
    record Trigger(String word, int[] ids, float[][] vectors) {}

    private final Map<Integer, List<Trigger>> byFirstId;

    private Triggers(Map<Integer, List<Trigger>> byFirstId) {
        this.byFirstId = byFirstId;
    }

    /**
     * Binds embeddings to an encoder.
     *
     * @param embeddings the embeddings
     * @param tokenizer the encoder's tokenizer
     * @param hiddenSize the encoder's width
     * @param chunkLength the most vectors one embedding may have
     * @return the triggers
     * @throws IllegalArgumentException if an embedding does not fit the encoder, a trigger
     *     word has no tokens, or two embeddings share a trigger
     */
    static Triggers of(List<TextualInversion> embeddings, ClipTokenizer tokenizer,
            int hiddenSize, int chunkLength) {
        return of(embeddings, tokenizer, chunkLength, (e, word) -> e.vectorsFor(word, hiddenSize));
    }

    /**
     * Binds embeddings to an encoder, taking each trigger's vectors with {@code vectors}.
     *
     * @param vectors (embedding, trigger word) → the vectors for this encoder; throws
     *     IllegalArgumentException if the embedding does not fit it
     */
    static Triggers of(List<TextualInversion> embeddings, ClipTokenizer tokenizer,
            int chunkLength, java.util.function.BiFunction<TextualInversion, String, float[][]>
                    vectors) {
        Map<Integer, List<Trigger>> map = new HashMap<>();
        Map<String, String> seen = new HashMap<>();
        for (TextualInversion e : embeddings) {
            for (String word : e.triggers()) {
                float[][] v = vectors.apply(e, word);
                if (v.length > chunkLength) {
                    throw new IllegalArgumentException(e.source() + ": '" + word + "' has "
                            + v.length + " vectors, more than the " + chunkLength
                            + " tokens of a chunk");
                }
                int[] ids = tokenizer.textIds(word, 1000);
                if (ids.length == 0 || ids.length > 1000) {
                    throw new IllegalArgumentException(e.source() + ": the trigger word '"
                            + word + "' has no tokens (or too many); rename the file or give a"
                            + " trigger word");
                }
                String key = Arrays.toString(ids);
                String other = seen.putIfAbsent(key, e.source() + " ('" + word + "')");
                if (other != null) {
                    throw new IllegalArgumentException("two embeddings have the same trigger"
                            + " word: " + other + " and " + e.source() + " ('" + word
                            + "'); give one of them another trigger word");
                }
                map.computeIfAbsent(ids[0], k -> new ArrayList<>())
                        .add(new Trigger(word, ids, v));
            }
        }
        for (List<Trigger> list : map.values()) {
            list.sort(Comparator.comparingInt((Trigger t) -> t.ids().length).reversed());
        }
        return map.isEmpty() ? NONE : new Triggers(Map.copyOf(map));
    }

    /**
     * The trigger that starts at a position.
     *
     * @param tokens a fragment's ids
     * @param position where to look
     * @return the longest trigger found there, or {@code null}
     */
    Trigger at(int[] tokens, int position) {
        List<Trigger> candidates = byFirstId.get(tokens[position]);
        if (candidates == null) {
            return null;
        }
        for (Trigger t : candidates) {
            int[] ids = t.ids();
            if (position + ids.length <= tokens.length && Arrays.equals(tokens, position,
                    position + ids.length, ids, 0, ids.length)) {
                return t;
            }
        }
        return null;
    }

    boolean isEmpty() {
        return byFirstId.isEmpty();
    }
}
