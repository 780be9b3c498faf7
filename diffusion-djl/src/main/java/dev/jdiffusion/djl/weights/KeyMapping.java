package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.types.Shape;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * How the tensors of a file become a model's parameters: each stored name maps to a parameter
 * name (or to nothing, when the tensor belongs to another model or is a known buffer), and the
 * stored shape may be viewed as another shape of the same element count (an LDM VAE stores its
 * attention projections as 1×1 convolutions, (C, C, 1, 1), where diffusers has linear (C, C)).
 * A mapping may also split one stored tensor into several parameters, or transpose it, by
 * overriding {@link #targets}: OpenCLIP stores an attention's q, k and v projections as one
 * (3D, D) {@code in_proj_weight} and its text projection as the transpose of a linear weight.
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
     * The parameters a stored tensor fills. By default one, the whole tensor under {@link
     * #targetName} viewed as {@link #targetShape}; none when the name is skipped.
     *
     * @param storedName the tensor's name in the file
     * @param storedShape its shape in the file
     * @return the parts, each filling one parameter; empty to skip the tensor
     */
    default List<Part> targets(String storedName, Shape storedShape) {
        String name = targetName(storedName);
        return name == null ? List.of()
                : List.of(Part.whole(name, targetShape(storedName, storedShape)));
    }

    /**
     * What of a stored tensor one parameter takes.
     *
     * @param name the parameter's dotted name
     * @param shape the parameter's shape, as the part is loaded
     * @param fromRow with {@code toRow}: the rows [fromRow, toRow) of the stored tensor's first
     *     dimension; both -1 for the whole tensor
     * @param toRow the end of the rows, exclusive; -1 for the whole tensor
     * @param transposed whether the part is the stored 2-D matrix transposed
     */
    record Part(String name, Shape shape, long fromRow, long toRow, boolean transposed) {

        /**
         * Checks the part.
         *
         * @param name the parameter name
         * @param shape the loaded shape
         * @param fromRow first row, or -1
         * @param toRow end row, or -1
         * @param transposed whether transposed
         * @throws IllegalArgumentException if the rows are not a non-empty range or both -1,
         *     or a transposed part is a slice or not 2-D
         */
        public Part {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(shape, "shape");
            boolean whole = fromRow == -1 && toRow == -1;
            if (!whole && (fromRow < 0 || toRow <= fromRow)) {
                throw new IllegalArgumentException("rows [" + fromRow + ", " + toRow
                        + ") of a stored tensor are not a range");
            }
            if (transposed && (!whole || shape.dimension() != 2)) {
                throw new IllegalArgumentException("only a whole 2-D tensor can be transposed, "
                        + "not " + shape + " for '" + name + "'");
            }
        }

        /**
         * The whole stored tensor, viewed as a shape of the same element count.
         *
         * @param name the parameter name
         * @param shape the shape to load as
         * @return the part
         */
        public static Part whole(String name, Shape shape) {
            return new Part(name, shape, -1, -1, false);
        }

        /**
         * Rows [from, to) of the stored tensor's first dimension.
         *
         * @param name the parameter name
         * @param from the first row
         * @param to the end row, exclusive
         * @param storedShape the stored tensor's shape
         * @return the part, of shape (to − from, rest of the stored shape)
         */
        public static Part rows(String name, long from, long to, Shape storedShape) {
            long[] dims = storedShape.getShape().clone();
            if (dims.length == 0) {
                throw new IllegalArgumentException("a scalar has no rows to take for '" + name
                        + "'");
            }
            dims[0] = to - from;
            return new Part(name, new Shape(dims), from, to, false);
        }

        /**
         * The stored 2-D matrix transposed.
         *
         * @param name the parameter name
         * @param storedShape the stored (A, B) shape
         * @return the part, of shape (B, A)
         */
        public static Part transposed(String name, Shape storedShape) {
            if (storedShape.dimension() != 2) {
                throw new IllegalArgumentException("only a 2-D tensor can be transposed, not "
                        + storedShape + " for '" + name + "'");
            }
            return new Part(name, new Shape(storedShape.get(1), storedShape.get(0)), -1, -1,
                    true);
        }

        /**
         * Whether the part is the whole stored tensor, not transposed.
         *
         * @return true for a whole part
         */
        public boolean isWhole() {
            return fromRow == -1 && !transposed;
        }
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

            @Override
            public List<Part> targets(String storedName, Shape storedShape) {
                return skip.test(storedName) ? List.of()
                        : self.targets(storedName, storedShape);
            }
        };
    }
}
