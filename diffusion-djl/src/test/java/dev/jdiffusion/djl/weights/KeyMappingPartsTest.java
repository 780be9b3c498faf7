package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One stored tensor filling several parameters (row slices) or a transposed one. */
class KeyMappingPartsTest {

    private static Parameter param(String name, long... shape) {
        return Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(shape)).build();
    }

    private static Path file(Path dir, NDManager m) throws Exception {
        Path file = dir.resolve("parts.safetensors");
        Map<String, NDArray> t = new LinkedHashMap<>();
        t.put("fused", m.arange(12f).reshape(6, 2)); // rows (0,1) (2,3) ... (10,11)
        t.put("proj", m.arange(6f).reshape(2, 3));
        SafetensorsWriter.write(file, t, Map.of());
        return file;
    }

    private static KeyMapping mapping(long bFrom, long bTo) {
        return new KeyMapping() {
            @Override
            public String targetName(String storedName) {
                return storedName;
            }

            @Override
            public List<Part> targets(String stored, Shape shape) {
                return stored.equals("fused")
                        ? List.of(Part.rows("a", 0, 2, shape), Part.rows("b", bFrom, bTo, shape))
                        : List.of(Part.transposed("p", shape));
            }
        };
    }

    @Test
    void rowsAndTransposesAreLoadedAsTheStoredValuesSay(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile f = SafetensorsFile.open(file(dir, m))) {
            Map<String, Parameter> ps = new LinkedHashMap<>();
            ps.put("a", param("a", 2, 2));
            ps.put("b", param("b", 4, 2));
            ps.put("p", param("p", 3, 2));
            StateDict.LoadSummary s = StateDict.load("parts", ps, List.of(f), mapping(2, 6), m,
                    DataType.FLOAT32);
            assertThat(s.tensors()).isEqualTo(3);
            assertThat(ps.get("a").getArray().toFloatArray()).containsExactly(0, 1, 2, 3);
            assertThat(ps.get("b").getArray().toFloatArray())
                    .containsExactly(4, 5, 6, 7, 8, 9, 10, 11);
            // proj = [[0 1 2] [3 4 5]]; its transpose, row-major: 0 3 1 4 2 5
            assertThat(ps.get("p").getArray().getShape()).isEqualTo(new Shape(3, 2));
            assertThat(ps.get("p").getArray().toFloatArray()).containsExactly(0, 3, 1, 4, 2, 5);
        }
    }

    @Test
    void rowsOutsideTheStoredTensorAreRefusedNamingIt(@TempDir Path dir) throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile f = SafetensorsFile.open(file(dir, m))) {
            Map<String, Parameter> ps = new LinkedHashMap<>();
            ps.put("a", param("a", 2, 2));
            ps.put("b", param("b", 4, 2));
            ps.put("p", param("p", 3, 2));
            assertThatThrownBy(() -> StateDict.load("parts", ps, List.of(f), mapping(4, 8), m,
                    DataType.FLOAT32)).isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("'fused'").hasMessageContaining("rows 4:8");
            assertThat(ps.get("a").isInitialized()).isFalse(); // all or nothing
        }
    }
}
