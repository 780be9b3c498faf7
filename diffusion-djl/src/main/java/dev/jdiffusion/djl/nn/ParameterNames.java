package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.BlockList;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The parameters of a block under the dotted names PyTorch and diffusers use ({@code
 * down_blocks.0.resnets.1.conv1.weight}), so weights load one to one from checkpoints.
 *
 * <p>DJL stores a child block under {@code "%02d" + name} (its position, then its name); this
 * class removes that prefix and joins the path with dots. Blocks in this package therefore name
 * their children and parameters exactly as the checkpoint keys do.
 */
public final class ParameterNames {

    private ParameterNames() {}

    /**
     * All parameters of a block and its descendants, in declaration order.
     *
     * @param block the root block
     * @return dotted name → parameter
     */
    public static Map<String, Parameter> of(Block block) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect(block, "", out);
        return out;
    }

    private static void collect(Block block, String prefix, Map<String, Parameter> out) {
        for (Pair<String, Parameter> p : block.getDirectParameters()) {
            out.put(prefix + p.getValue().getName(), p.getValue());
        }
        BlockList children = block.getChildren();
        for (int i = 0; i < children.size(); i++) {
            Pair<String, Block> child = children.get(i);
            collect(child.getValue(), prefix + childName(child.getKey(), i + 1) + ".", out);
        }
    }

    /**
     * Gives a parameter its value, e.g. a tensor read from a checkpoint. Works whether or not the
     * parameter has been initialised (a previous array is closed) and even though its shape was
     * declared up front (which DJL's {@link Parameter#setArray} alone refuses). The parameter
     * takes the array as it is: it stays attached to its own manager.
     *
     * @param parameter the parameter, e.g. from {@link #of}
     * @param value the new value; its shape must equal the declared shape, if any
     * @throws IllegalArgumentException if the shapes differ
     */
    public static void assign(Parameter parameter, NDArray value) {
        Shape declared = parameter.getShape();
        if (declared != null && !declared.equals(value.getShape())) {
            throw new IllegalArgumentException("parameter " + parameter.getName() + " has shape "
                    + declared + " but the value has shape " + value.getShape());
        }
        if (parameter.isInitialized() && parameter.getArray() == value) {
            return;
        }
        parameter.close(); // frees a previous array, if any
        parameter.setShape(null);
        parameter.setArray(value);
    }

    /**
     * The name a child was added under, without DJL's position prefix.
     *
     * @param key the key in {@link Block#getChildren()}
     * @param position the 1-based position of the child
     * @return the plain name
     */
    static String childName(String key, int position) {
        String prefix = String.format(Locale.ROOT, "%02d", position);
        return key.startsWith(prefix) ? key.substring(prefix.length()) : key;
    }
}
