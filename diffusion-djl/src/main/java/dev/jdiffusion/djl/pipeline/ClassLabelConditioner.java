package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Conditioner;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Conditioning of class-conditional models: a prompt names a class (by its label or its index)
 * and becomes that class's index; the empty prompt becomes the extra "null" class (index {@code
 * labels.size()}) that classifier-free-guidance training uses for "no condition".
 *
 * <p>Immutable and thread-safe.
 */
public final class ClassLabelConditioner implements Conditioner {

    private final List<String> labels;
    private final Map<String, Integer> index = new HashMap<>();

    /**
     * Creates the conditioner.
     *
     * @param labels the class names, in index order; the network has {@code labels.size() + 1}
     *     class embeddings
     */
    public ClassLabelConditioner(List<String> labels) {
        this.labels = List.copyOf(labels);
        for (int i = 0; i < this.labels.size(); i++) {
            index.put(normalise(this.labels.get(i)), i);
        }
    }

    /**
     * The class names.
     *
     * @return the labels in index order
     */
    public List<String> labels() {
        return labels;
    }

    /**
     * The index of a prompt's class.
     *
     * @param prompt a label, an index, or empty for the null class
     * @return the class index
     * @throws IllegalArgumentException for an unknown label
     */
    public int classOf(String prompt) {
        String key = normalise(prompt);
        if (key.isEmpty()) {
            return labels.size();
        }
        Integer i = index.get(key);
        if (i != null) {
            return i;
        }
        try {
            int n = Integer.parseInt(key);
            if (n >= 0 && n < labels.size()) {
                return n;
            }
        } catch (NumberFormatException ignored) {
            // fall through to the error
        }
        throw new IllegalArgumentException("prompt: unknown class '" + prompt + "'; this model"
                + " knows " + labels.size() + " classes: " + String.join(", ", labels)
                + " (or their indices 0-" + (labels.size() - 1) + ")");
    }

    @Override
    public NDList encode(NDManager manager, List<String> prompts) {
        long[] ids = new long[prompts.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = classOf(prompts.get(i));
        }
        return new NDList(manager.create(ids, new Shape(ids.length)));
    }

    private static String normalise(String s) {
        return s.trim().toLowerCase(Locale.ROOT);
    }
}
