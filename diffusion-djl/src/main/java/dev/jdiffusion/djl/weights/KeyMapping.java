package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.types.Shape;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * How the tensors of a file become a model's parameters: each stored name maps to a parameter
 * name (or to nothing, when the tensor belongs to another model or is a known buffer), and the
 * stored shape may be viewed as another shape of the same element count (an LDM VAE stores its
 * attention projections as 1×1 convolutions, (C, C, 1, 1), where diffusers has linear (C, C)).
 *
 * <p>Implementations must be stateless and thread-safe.
 */
@FunctionalInterface
public interface KeyMapping {

    /**
     * The parameter a stored tensor fills.
     *
     * @param storedName the tensor's name in the file
     * @return the parameter's dotted name, or null to skip the tensor (it is then neither loaded
     *     nor reported as unexpected)
     */
    String targetName(String storedName);

    /**
     * The shape the stored tensor is viewed as; the element count must stay the same.
     *
     * @param storedName the tensor's name in the file
     * @param storedShape its shape in the file
     * @return the shape to compare with the parameter and load as; by default the stored one
     */
    default Shape targetShape(String storedName, Shape storedShape) {
        return storedShape;
    }

    /**
     * Names are used as they are.
     *
     * @return the identity mapping
     */
    static KeyMapping identity() {
        return name -> name;
    }

    /**
     * Names are renamed by a function; shapes are kept.
     *
     * @param rename stored name → parameter name, or null to skip
     * @return the mapping
     */
    static KeyMapping renaming(Function<String, String> rename) {
        Objects.requireNonNull(rename, "rename");
        return rename::apply;
    }

    /**
     * This mapping, but skipping the tensors a predicate selects (for example buffers such as
     * {@code text_model.embeddings.position_ids} that some files carry and models do not).
     *
     * @param skip selects stored names to skip
     * @return the combined mapping
     */
    default KeyMapping skipping(Predicate<String> skip) {
        Objects.requireNonNull(skip, "skip");
        KeyMapping self = this;
        return new KeyMapping() {
            @Override
            public String targetName(String storedName) {
                return skip.test(storedName) ? null : self.targetName(storedName);
            }

            @Override
            public Shape targetShape(String storedName, Shape storedShape) {
                return self.targetShape(storedName, storedShape);
            }
        };
    }
}
