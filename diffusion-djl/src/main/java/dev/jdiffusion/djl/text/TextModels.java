package dev.jdiffusion.djl.text;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;

/** Where a text encoder's weights live, for the conditioners. */
final class TextModels {

    private TextModels() {}

    /**
     * The device of a text encoder's weights, after checking that they are all set.
     *
     * @param name how the message names the encoder
     * @throws IllegalStateException if a weight is not set
     */
    static Device deviceOf(Block model, String name) {
        for (Pair<String, Parameter> p : model.getParameters()) {
            if (!p.getValue().isInitialized()) {
                throw new IllegalStateException(name + "'s weights are not set ("
                        + p.getKey() + " is uninitialized): load or initialize them first");
            }
        }
        return model.getParameters().valueAt(0).getArray().getDevice();
    }

    /** The data type of a text encoder's weights (of its first parameter). */
    static DataType dataType(Block model) {
        return model.getParameters().valueAt(0).getArray().getDataType();
    }
}
