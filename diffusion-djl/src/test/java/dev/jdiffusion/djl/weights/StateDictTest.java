package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDictTest {

    private static final Shape IDS = new Shape(2, 5);

    @TempDir
    Path dir;

    private NDManager m;
    private TinyNet reference;
    private Map<String, Parameter> referenceParams;
    private NDArray ids;

    @BeforeEach
    void setUp() {
        m = NDManager.newBaseManager("PyTorch");
        m.getEngine().setRandomSeed(7);
        reference = new TinyNet();
        reference.initialize(m, DataType.FLOAT32, IDS);
        referenceParams = ParameterNames.of(reference);
        // Random values everywhere (norm weights start as ones, biases as zeros).
        for (Parameter p : referenceParams.values()) {
            NDArray a = p.getArray();
            a.set(m.randomNormal(a.getShape()).toFloatArray());
        }
        ids = m.create(new int[] {1, 3, 5, 7, 9, 0, 2, 4, 6, 8}, IDS);
    }

    @AfterEach
    void tearDown() {
        m.close();
    }

    private float[] forward(TinyNet net) {
        return net.forward(new ParameterStore(m, false), new NDList(ids), false)
                .singletonOrThrow().toFloatArray();
    }

    private Path saveReference(DataType type) throws IOException {
        Path p = dir.resolve("tiny-" + type + ".safetensors");
        StateDict.save(referenceParams, p, type, Map.of("format", "pt"));
        return p;
    }

    private StateDict.LoadSummary load(TinyNet net, Path file, KeyMapping mapping, DataType type)
            throws ModelLoadException {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            return StateDict.load("tiny", ParameterNames.of(net), List.of(f), mapping, m, type);
        }
    }

    @Test
    void parameterNamesAreDotted() {
        assertThat(referenceParams.keySet()).containsExactly("embed.weight",
                "blocks.0.weight", "blocks.0.bias", "blocks.proj.weight", "blocks.proj.bias",
                "blocks.conv.weight", "blocks.conv.bias", "blocks.gn.weight", "blocks.gn.bias");
    }

    @Test
    void saveThenLoadIntoAnUninitialisedNetworkGivesIdenticalOutputs() throws IOException {
        Path file = saveReference(DataType.FLOAT32);
        TinyNet fresh = new TinyNet();
        Map<String, Parameter> params = ParameterNames.of(fresh);
        // Our blocks declare shapes; DJL's Linear/Conv2d know theirs only after initialise.
        assertThat(params.get("embed.weight").getShape()).isEqualTo(new Shape(10, 8));
        assertThat(params.get("blocks.proj.weight").getShape()).isNull();
        assertThat(params.values()).noneMatch(Parameter::isInitialized);

        StateDict.LoadSummary s = load(fresh, file, KeyMapping.identity(), DataType.FLOAT32);
        assertThat(s.tensors()).isEqualTo(9);
        assertThat(s.elements()).isEqualTo(80 + 8 + 8 + 64 + 8 + 576 + 8 + 8 + 8);
        assertThat(params.values()).allMatch(Parameter::isInitialized);
        assertThat(params.get("blocks.proj.weight").getShape()).isEqualTo(new Shape(8, 8));
        assertThat(forward(fresh)).containsExactly(forward(reference));
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            assertThat(e.getValue().getArray().toFloatArray()).as(e.getKey())
                    .containsExactly(referenceParams.get(e.getKey()).getArray().toFloatArray());
        }
    }

    @Test
    void loadingReplacesTheValuesOfAnInitialisedNetwork() throws IOException {
        Path file = saveReference(DataType.FLOAT32);
        TinyNet other = new TinyNet();
        other.initialize(m, DataType.FLOAT32, IDS);
        assertThat(forward(other)).isNotEqualTo(forward(reference));
        load(other, file, KeyMapping.identity(), DataType.FLOAT32);
        assertThat(forward(other)).containsExactly(forward(reference));
        // A later initialize() keeps the loaded values (no random re-initialisation).
        other.initialize(m, DataType.FLOAT32, IDS);
        assertThat(forward(other)).containsExactly(forward(reference));
    }

    @Test
    void float16FilesLoadAsFloat16OrFloat32() throws IOException {
        Path file = saveReference(DataType.FLOAT16);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            assertThat(f.info("blocks.conv.weight").dtype().name()).isEqualTo("F16");
        }
        TinyNet half = new TinyNet();
        load(half, file, KeyMapping.identity(), DataType.FLOAT16);
        for (Parameter p : ParameterNames.of(half).values()) {
            assertThat(p.getArray().getDataType()).isEqualTo(DataType.FLOAT16);
        }
        TinyNet full = new TinyNet();
        load(full, file, KeyMapping.identity(), DataType.FLOAT32);
        float[] expected = forward(reference);
        float[] actual = forward(full);
        // Weights rounded to 11 significant bits: outputs agree to a few parts in a thousand
        // (group norm amplifies, so allow 2e-2 absolute on values of order 1).
        for (int i = 0; i < expected.length; i++) {
            assertThat(actual[i]).isCloseTo(expected[i],
                    org.assertj.core.api.Assertions.within(2e-2f));
        }
        assertThat(actual).isNotEqualTo(expected);
    }

    @Test
    void widenMakesFloat32AllButTheKeptHalfParametersWithTheSameValues() throws IOException {
        Path file = saveReference(DataType.FLOAT16);
        TinyNet half = new TinyNet();
        load(half, file, KeyMapping.identity(), DataType.FLOAT16);
        Map<String, Parameter> params = ParameterNames.of(half);
        Map<String, float[]> before = new java.util.HashMap<>();
        params.forEach((k, p) -> before.put(k, p.getArray().toType(DataType.FLOAT32, true)
                .toFloatArray()));
        StateDict.widen(params, (name, a) -> a.getShape().dimension() >= 2, m);
        int kept = 0;
        int widened = 0;
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray a = e.getValue().getArray();
            boolean matrix = a.getShape().dimension() >= 2;
            assertThat(a.getDataType()).as(e.getKey())
                    .isEqualTo(matrix ? DataType.FLOAT16 : DataType.FLOAT32);
            assertThat(a.toType(DataType.FLOAT32, true).toFloatArray()).as(e.getKey())
                    .containsExactly(before.get(e.getKey()));
            kept += matrix ? 1 : 0;
            widened += matrix ? 0 : 1;
        }
        assertThat(kept).isPositive();
        assertThat(widened).isPositive();
    }

    @Test
    void missingExtraAndMisShapedTensorsAreAllReportedAndNothingIsLoaded() throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        referenceParams.forEach((k, v) -> tensors.put(k, v.getArray()));
        tensors.remove("blocks.0.bias");
        tensors.remove("blocks.gn.weight");
        tensors.put("extra.weight", m.ones(new Shape(3)));
        tensors.put("embed.weight", m.ones(new Shape(10, 9)));
        Path file = dir.resolve("bad.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());
        TinyNet fresh = new TinyNet();
        assertThatThrownBy(() -> load(fresh, file, KeyMapping.identity(), DataType.FLOAT32))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("cannot load the weights of tiny from " + file)
                .hasMessageContaining("4 problems")
                .hasMessageContaining("missing parameter 'blocks.0.bias' (8)")
                .hasMessageContaining("missing parameter 'blocks.gn.weight' (8)")
                .hasMessageContaining("unexpected tensor 'extra.weight' in " + file)
                .hasMessageContaining("shape mismatch for parameter 'embed.weight': the model "
                        + "expects (10, 8), 'embed.weight' in " + file + " has (10, 9)");
        assertThat(ParameterNames.of(fresh).values()).noneMatch(Parameter::isInitialized);
    }

    @Test
    void nonFiniteWeightsAreRefusedByNameAndTheNetworkIsUntouched() throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        referenceParams.forEach((k, v) -> tensors.put(k, v.getArray()));
        float[] w = referenceParams.get("blocks.proj.weight").getArray().toFloatArray();
        w[5] = Float.NaN;
        tensors.put("blocks.proj.weight", m.create(w, new Shape(8, 8)));
        float[] b = new float[8];
        b[0] = Float.POSITIVE_INFINITY;
        tensors.put("blocks.gn.bias", m.create(b));
        Path file = dir.resolve("nan.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());

        TinyNet other = new TinyNet();
        other.initialize(m, DataType.FLOAT32, IDS);
        float[] before = forward(other);
        assertThatThrownBy(() -> load(other, file, KeyMapping.identity(), DataType.FLOAT32))
                .isInstanceOf(ModelLoadException.class)
                .hasMessageContaining("2 problems")
                .hasMessageContaining("tensor 'blocks.proj.weight' contains 1 NaN or infinite")
                .hasMessageContaining("tensor 'blocks.gn.bias' contains 1 NaN or infinite");
        assertThat(forward(other)).containsExactly(before);
    }

    @Test
    void renamedAndShardedFilesLoad() throws IOException {
        Map<String, NDArray> first = new LinkedHashMap<>();
        Map<String, NDArray> second = new LinkedHashMap<>();
        referenceParams.forEach((k, v) -> (k.startsWith("blocks.") ? second : first)
                .put("model." + k, v.getArray()));
        second.put("ema.decay", m.create(0.999f));
        Path a = dir.resolve("shard-1.safetensors");
        Path b = dir.resolve("shard-2.safetensors");
        SafetensorsWriter.write(a, first, Map.of());
        SafetensorsWriter.write(b, second, Map.of());
        KeyMapping mapping = KeyMapping.renaming(
                s -> s.startsWith("model.") ? s.substring("model.".length()) : null);
        TinyNet fresh = new TinyNet();
        try (SafetensorsFile fa = SafetensorsFile.open(a);
                SafetensorsFile fb = SafetensorsFile.open(b)) {
            StateDict.LoadSummary s = StateDict.load("tiny", ParameterNames.of(fresh),
                    List.of(fa, fb), mapping, m, DataType.FLOAT32);
            assertThat(s.skipped()).containsExactly("shard-2.safetensors: ema.decay");
            // The same tensor from two shards is a conflict.
            TinyNet twice = new TinyNet();
            assertThatThrownBy(() -> StateDict.load("tiny", ParameterNames.of(twice),
                    List.of(fa, fa, fb), mapping, m, DataType.FLOAT32))
                    .hasMessageContaining("parameter 'embed.weight' is provided twice");
        }
        assertThat(forward(fresh)).containsExactly(forward(reference));
    }

    @Test
    void longProblemListsAreCut() throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        for (int i = 0; i < 40; i++) {
            tensors.put("junk." + i, m.ones(new Shape(1)));
        }
        Path file = dir.resolve("junk.safetensors");
        SafetensorsWriter.write(file, tensors, Map.of());
        assertThatThrownBy(() -> load(new TinyNet(), file, KeyMapping.identity(),
                DataType.FLOAT32))
                .hasMessageContaining("49 problems")
                .hasMessageContaining("... and 24 more");
    }

    @Test
    void savingAnUninitialisedNetworkIsAProgrammerError() {
        assertThatThrownBy(() -> StateDict.save(ParameterNames.of(new TinyNet()),
                dir.resolve("x.safetensors"), DataType.FLOAT32, Map.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("embed.weight");
    }
}
