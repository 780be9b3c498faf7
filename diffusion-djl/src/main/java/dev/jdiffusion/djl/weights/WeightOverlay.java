package dev.jdiffusion.djl.weights;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Replacement values for some parameters of a network, seen by a forward pass through {@link
 * #store}: every other parameter keeps the value it holds. This is how a derived pipeline (for
 * example one with LoRAs merged into some layers) runs the very same blocks as its base without
 * changing them: the base's parameters are never written, so forward passes with and without
 * the overlay can run at the same time.
 *
 * <p>Immutable and thread-safe. The overlay does not own its arrays: whoever created them
 * closes them, after the last forward pass that uses the overlay.
 */
public final class WeightOverlay {

    private static final WeightOverlay NONE = new WeightOverlay(Map.of());

    private final Map<Parameter, NDArray> values;

    private WeightOverlay(Map<Parameter, NDArray> values) {
        this.values = values;
    }

    /**
     * The overlay that replaces nothing.
     *
     * @return the empty overlay
     */
    public static WeightOverlay none() {
        return NONE;
    }

    /**
     * An overlay of the given values.
     *
     * @param values parameter → the value a forward pass sees instead of its own (same shape,
     *     same device); copied
     * @return the overlay
     * @throws IllegalArgumentException if a value's shape differs from its parameter's
     */
    public static WeightOverlay of(Map<Parameter, NDArray> values) {
        Map<Parameter, NDArray> copy = new IdentityHashMap<>();
        for (Map.Entry<Parameter, NDArray> e : values.entrySet()) {
            Parameter p = Objects.requireNonNull(e.getKey(), "parameter");
            NDArray v = Objects.requireNonNull(e.getValue(), "value");
            if (p.isInitialized() && !p.getArray().getShape().equals(v.getShape())) {
                throw new IllegalArgumentException("the overlay value for " + p.getName()
                        + " has shape " + v.getShape() + " but the parameter has "
                        + p.getArray().getShape());
            }
            copy.put(p, v);
        }
        return copy.isEmpty() ? NONE : new WeightOverlay(copy);
    }

    /**
     * The number of parameters replaced.
     *
     * @return the count
     */
    public int size() {
        return values.size();
    }

    /**
     * Whether a parameter is replaced.
     *
     * @param parameter the parameter
     * @return true if the overlay holds a value for it
     */
    public boolean replaces(Parameter parameter) {
        return values.containsKey(parameter);
    }

    /**
     * The value that replaces a parameter.
     *
     * @param parameter the parameter
     * @return its replacement, or null if the overlay does not replace it
     */
    public NDArray get(Parameter parameter) {
        return values.get(parameter);
    }

    /**
     * A parameter store for one forward pass: replaced parameters read from the overlay, all
     * others as a plain {@code new ParameterStore(manager, false)} reads them.
     *
     * @param manager the manager of the forward pass (for device copies)
     * @return a new store
     */
    public ParameterStore store(NDManager manager) {
        if (values.isEmpty()) {
            return new ParameterStore(manager, false);
        }
        return new OverlayStore(manager, values);
    }

    /** Reads replaced parameters from the overlay. */
    private static final class OverlayStore extends ParameterStore {
        private final Map<Parameter, NDArray> values;

        OverlayStore(NDManager manager, Map<Parameter, NDArray> values) {
            super(manager, false);
            this.values = values;
        }

        @Override
        public NDArray getValue(Parameter parameter, Device device, boolean training) {
            NDArray v = parameter == null ? null : values.get(parameter);
            if (v == null) {
                return super.getValue(parameter, device, training);
            }
            if (!v.getDevice().equals(device)) {
                throw new IllegalStateException("overlay value for " + parameter.getName()
                        + " is on " + v.getDevice() + " but the forward pass runs on " + device);
            }
            return v;
        }
    }
}
