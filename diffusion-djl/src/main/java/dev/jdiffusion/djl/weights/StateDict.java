package dev.jdiffusion.djl.weights;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.initializer.Initializer;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.BiPredicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads a network's parameters from safetensors files, and saves them, under the PyTorch dotted
 * names of {@link dev.jdiffusion.djl.nn.ParameterNames#of}.
 *
 * <p>Loading is all or nothing. Every file's tensors are first matched against the parameters
 * through a {@link KeyMapping}: each parameter must be provided exactly once, with the shape it
 * declares; a tensor that maps to no parameter is unexpected. All problems are gathered and
 * reported in one {@link ModelLoadException}. Only then is the data read (NaN and infinite
 * values are refused, naming the tensor) into fresh arrays; the parameters are assigned only
 * when every tensor has been read. A parameter may be uninitialised (no array: its declared
 * shape, e.g. from {@code optShape}, is checked and no random initialisation happens; without a
 * declared shape it takes the file's shape) or initialised (its old array is closed and
 * replaced).
 *
 * <p>DJL caveat: a DJL block whose parameter shapes come from {@code prepare} (DJL's {@code
 * Linear}, {@code Conv2d}) and that was loaded without {@code initialize} works for forward
 * passes, but a later {@code block.initialize(...)} throws (DJL re-derives the shapes and
 * refuses to set them on a parameter that has an array). Either declare shapes up front ({@code
 * optShape}, as the blocks of {@code dev.jdiffusion.djl.nn} do) or initialise before loading.
 *
 * <p>Stateless; a load must not run concurrently with anything else that uses the same
 * parameters.
 */
public final class StateDict {

    /** The most problems listed in one exception message. */
    static final int MAX_LISTED = 25;

    private static final Logger LOG = LoggerFactory.getLogger(StateDict.class);

    private StateDict() {}

    /**
     * What a successful load did.
     *
     * @param tensors the number of parameters filled
     * @param elements the total number of values loaded
     * @param skipped stored names the mapping skipped, as {@code file: name}
     */
    public record LoadSummary(int tensors, long elements, List<String> skipped) {

        /**
         * Creates the summary.
         *
         * @param tensors the number of parameters filled
         * @param elements the total number of values loaded
         * @param skipped stored names the mapping skipped
         */
        public LoadSummary {
            skipped = List.copyOf(skipped);
        }
    }

    private record Source(SafetensorsFile file, String stored, KeyMapping.Part part) {}

    /** Null if the part fits the stored tensor, else what it views the tensor as. */
    private static String checkPart(KeyMapping.Part part, Shape stored, long elementCount) {
        Shape shape = part.shape();
        if (part.transposed()) {
            boolean fits = stored.dimension() == 2 && shape.get(0) == stored.get(1)
                    && shape.get(1) == stored.get(0);
            return fits ? null : "its transpose " + shape;
        }
        if (part.fromRow() >= 0) {
            long rowsStored = stored.dimension() == 0 ? 0 : stored.get(0);
            long perRow = rowsStored == 0 ? 0 : elementCount / rowsStored;
            boolean fits = part.toRow() <= rowsStored
                    && shape.size() == (part.toRow() - part.fromRow()) * perRow;
            return fits ? null : describe(part) + " of shape " + shape;
        }
        return shape.size() == elementCount ? null : shape + ", a different element count";
    }

    private static String describe(KeyMapping.Part part) {
        return part.transposed() ? "transposed"
                : "rows " + part.fromRow() + ":" + part.toRow();
    }

    /**
     * Loads every parameter of a model from one or more files.
     *
     * @param model the model's name for messages, e.g. {@code "unet"}
     * @param parameters dotted name → parameter, from {@code ParameterNames.of(block)}
     * @param files the files to read (for a sharded checkpoint, all its shards)
     * @param mapping stored name → parameter name (and shape view)
     * @param manager owns the loaded arrays; its device is where they go
     * @param dataType {@link DataType#FLOAT32} or {@link DataType#FLOAT16}: the parameters'
     *     type after loading, whatever the stored type
     * @return what was loaded
     * @throws ModelLoadException listing every missing, unexpected, duplicated, mis-shaped,
     *     unreadable or non-finite tensor; the parameters are then left untouched
     * @throws IllegalArgumentException if the data type is not FLOAT32 or FLOAT16
     */
    public static LoadSummary load(String model, Map<String, Parameter> parameters,
            List<SafetensorsFile> files, KeyMapping mapping, NDManager manager,
            DataType dataType) throws ModelLoadException {
        Objects.requireNonNull(mapping, "mapping");
        if (dataType != DataType.FLOAT32 && dataType != DataType.FLOAT16) {
            throw new IllegalArgumentException("weights load as FLOAT32 or FLOAT16, not "
                    + dataType);
        }
        List<String> problems = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        Map<String, Source> plan = new LinkedHashMap<>();
        for (SafetensorsFile file : files) {
            for (TensorInfo info : file.tensors().values()) {
                String stored = info.name();
                List<KeyMapping.Part> parts = mapping.targets(stored, info.shape());
                if (parts.isEmpty()) {
                    skipped.add(file.path().getFileName() + ": " + stored);
                    continue;
                }
                String where = "'" + stored + "' in " + file.path();
                if (!info.dtype().isReadableAsFloat()) {
                    problems.add("tensor " + where + " has dtype " + info.dtype()
                            + ", not a floating-point type");
                }
                for (KeyMapping.Part part : parts) {
                    String target = part.name();
                    Shape shape = part.shape();
                    Parameter p = parameters.get(target);
                    if (p == null) {
                        problems.add("unexpected tensor " + where
                                + (target.equals(stored) ? "" : " (as '" + target + "')")
                                + ": the model has no such parameter");
                        continue;
                    }
                    Source previous = plan.get(target);
                    if (previous != null) {
                        problems.add("parameter '" + target + "' is provided twice: by '"
                                + previous.stored + "' in " + previous.file.path() + " and by "
                                + where);
                        continue;
                    }
                    plan.put(target, new Source(file, stored, part));
                    String partProblem = checkPart(part, info.shape(), info.elementCount());
                    if (partProblem != null) {
                        problems.add("the key mapping views " + where + " of shape "
                                + info.shape() + " as " + partProblem);
                    } else if (p.getShape() != null
                            && !Arrays.equals(p.getShape().getShape(), shape.getShape())) {
                        problems.add("shape mismatch for parameter '" + target + "': the model "
                                + "expects " + p.getShape() + ", " + where + " has " + shape
                                + (shape.equals(info.shape()) ? "" : " (stored " + info.shape()
                                        + (part.isWhole() ? "" : ", " + describe(part)) + ")"));
                    }
                }
            }
        }
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            if (!plan.containsKey(e.getKey())) {
                Shape s = e.getValue().getShape();
                problems.add("missing parameter '" + e.getKey() + "'"
                        + (s == null ? "" : " " + s) + ": no tensor maps to it");
            }
        }
        if (!problems.isEmpty()) {
            throw failure(model, files, problems);
        }

        // Each stored tensor is read once, whatever the number of parameters it fills; a part
        // that is a slice or a transpose is a view of it (no copy).
        Map<Source, List<String>> reads = new LinkedHashMap<>();
        for (Map.Entry<String, Source> e : plan.entrySet()) {
            Source src = e.getValue();
            reads.computeIfAbsent(new Source(src.file, src.stored, null), k -> new ArrayList<>())
                    .add(e.getKey());
        }
        long elements = 0;
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        try (NDManager staging = manager.newSubManager()) {
            for (Map.Entry<Source, List<String>> r : reads.entrySet()) {
                Source src = r.getKey();
                NDArray full;
                try {
                    full = src.file.read(src.stored, staging, dataType, true);
                } catch (ModelLoadException ex) {
                    problems.add(ex.getMessage());
                    continue;
                }
                for (String target : r.getValue()) {
                    KeyMapping.Part part = plan.get(target).part;
                    NDArray a = full;
                    if (part.transposed()) {
                        a = full.transpose();
                    } else if (part.fromRow() >= 0) {
                        a = full.get(part.fromRow() + ":" + part.toRow());
                    }
                    if (!Arrays.equals(a.getShape().getShape(), part.shape().getShape())) {
                        a = a.reshape(part.shape());
                    }
                    arrays.put(target, a);
                    elements += a.size();
                }
            }
            if (!problems.isEmpty()) {
                throw failure(model, files, problems);
            }
            for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
                NDArray a = e.getValue();
                a.attach(manager);
                assign(parameters.get(e.getKey()), a, manager);
            }
        }
        LOG.debug("loaded {} tensors ({} values) into {}; skipped {}", arrays.size(), elements,
                model, skipped.size());
        return new LoadSummary(arrays.size(), elements, skipped);
    }

    /**
     * Saves every parameter of a model to one file, under its dotted name.
     *
     * @param parameters dotted name → parameter; all must be initialised
     * @param file the target file (written atomically)
     * @param storeAs {@link DataType#FLOAT32} or {@link DataType#FLOAT16}
     * @param metadata string metadata for the header; may be empty
     * @throws IOException if writing fails
     * @throws IllegalArgumentException if a parameter has no value or the type is unsupported
     */
    public static void save(Map<String, Parameter> parameters, Path file, DataType storeAs,
            Map<String, String> metadata) throws IOException {
        Objects.requireNonNull(storeAs, "storeAs");
        Map<String, NDArray> arrays = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            if (!e.getValue().isInitialized()) {
                throw new IllegalArgumentException("parameter '" + e.getKey()
                        + "' has no value; initialise or load the model before saving it");
            }
            arrays.put(e.getKey(), e.getValue().getArray());
        }
        SafetensorsWriter.write(file, arrays, metadata, storeAs);
    }

    /**
     * Converts float16 parameters to float32 in place, except those {@code keepHalf} accepts:
     * for models whose large matrices stay in float16 to save memory while vectors (biases,
     * norms) are kept exact.
     *
     * @param parameters the parameters by name
     * @param keepHalf which float16 parameters to leave as they are
     * @param manager the manager that owns the parameters
     */
    public static void widen(Map<String, Parameter> parameters,
            BiPredicate<String, NDArray> keepHalf, NDManager manager) {
        for (Map.Entry<String, Parameter> e : parameters.entrySet()) {
            Parameter p = e.getValue();
            if (!p.isInitialized() || p.getArray().getDataType() != DataType.FLOAT16
                    || keepHalf.test(e.getKey(), p.getArray())) {
                continue;
            }
            NDArray wide = p.getArray().toType(DataType.FLOAT32, true);
            wide.attach(manager);
            assign(p, wide, manager);
        }
    }

    /** Puts an array into a parameter, whether or not it already has a shape or an array. */
    static void assign(Parameter p, NDArray array, NDManager manager) {
        if (p.isInitialized()) {
            p.close(); // frees the old array; the declared shape stays
        }
        if (p.getShape() == null) {
            p.setArray(array);
            return;
        }
        // Parameter.setArray refuses a parameter with a declared shape: hand the array over
        // through a one-off initializer instead, then restore the original one.
        Initializer original = p.getInitializer();
        p.setInitializer((m, shape, type) -> array);
        try {
            p.initialize(manager, array.getDataType());
        } finally {
            p.setInitializer(original);
        }
    }

    private static ModelLoadException failure(String model, List<SafetensorsFile> files,
            List<String> problems) {
        StringBuilder sb = new StringBuilder("cannot load the weights of ").append(model)
                .append(" from ");
        for (int i = 0; i < files.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(files.get(i).path());
        }
        sb.append(": ").append(problems.size())
                .append(problems.size() == 1 ? " problem" : " problems");
        for (int i = 0; i < Math.min(MAX_LISTED, problems.size()); i++) {
            sb.append("\n  - ").append(problems.get(i));
        }
        if (problems.size() > MAX_LISTED) {
            sb.append("\n  ... and ").append(problems.size() - MAX_LISTED).append(" more");
        }
        return new ModelLoadException(sb.toString());
    }
}
