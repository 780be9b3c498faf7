package dev.jdiffusion.djl.safetensors;

import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.concat;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.f32;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.file;
import static dev.jdiffusion.djl.safetensors.SafetensorsBytes.u16;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsRoundTripTest {

    @TempDir
    Path dir;

    private static float[] randomFloats(int n, long seed) {
        Random r = new Random(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian() * 3;
        }
        return v;
    }

    @Test
    void writerProducesExactlyTheExpectedBytes() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("b", m.create(new float[] {1, -2, 0.5f}, new Shape(1, 3)).toType(
                    DataType.FLOAT16, false));
            t.put("a", m.create(new float[] {1, -2}));
            Path p = dir.resolve("x.safetensors");
            SafetensorsWriter.write(p, t, Map.of("format", "pt"));
            String json = "{\"__metadata__\":{\"format\":\"pt\"},"
                    + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    + "\"b\":{\"dtype\":\"F16\",\"shape\":[1,3],\"data_offsets\":[8,14]}}   ";
            byte[] expected = concat(
                    new byte[] {(byte) 144, 0, 0, 0, 0, 0, 0, 0},
                    json.getBytes(StandardCharsets.US_ASCII),
                    new byte[] {0, 0, (byte) 0x80, 0x3F, 0, 0, 0, (byte) 0xC0},
                    new byte[] {0, 0x3C, 0, (byte) 0xC0, 0, 0x38});
            assertThat(Files.readAllBytes(p)).containsExactly(expected);
        }
    }

    @Test
    void handBuiltFileReadsKnownValues() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"__metadata__\":{\"k\":\"v\"},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]}}";
        // F16: 1.0, -0.5, 65504 (largest half).
        Path p = write(file(header, concat(f32(1, 2, 3, -4.25f), u16(0x3C00, 0xB800, 0x7BFF))));
        try (SafetensorsFile f = SafetensorsFile.open(p);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertThat(f.names()).containsExactly("w", "h");
            assertThat(f.metadata()).containsExactly(Map.entry("k", "v"));
            TensorInfo w = f.info("w");
            assertThat(w.dtype()).isEqualTo(SafetensorsDtype.F32);
            assertThat(w.dims()).containsExactly(2, 2);
            assertThat(w.begin()).isZero();
            assertThat(w.end()).isEqualTo(16);
            NDArray wa = f.read("w", m);
            assertThat(wa.getShape()).isEqualTo(new Shape(2, 2));
            assertThat(wa.toFloatArray()).containsExactly(1, 2, 3, -4.25f);
            assertThat(f.readFloats("h")).containsExactly(1f, -0.5f, 65504f);
            assertThat(f.read("h", m).toFloatArray()).containsExactly(1f, -0.5f, 65504f);
        }
    }

    @Test
    void bf16IsConvertedInJava() throws IOException {
        // bf16 bits are the top 16 bits of the float: 1.0, -2.0, 0.5, 3.140625, -0.0, 1e-40-ish.
        int[] bits = {0x3F80, 0xC000, 0x3F00, 0x4049, 0x8000, 0x0001};
        float[] expected = {1f, -2f, 0.5f, 3.140625f, -0f, Float.intBitsToFloat(0x00010000)};
        String header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[6],\"data_offsets\":[0,12]}}";
        Path p = write(file(header, u16(bits)));
        try (SafetensorsFile f = SafetensorsFile.open(p);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray a = f.read("b", m);
            assertThat(a.getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(a.toFloatArray()).containsExactly(expected);
            assertThat(f.readFloats("b")).containsExactly(expected);
            NDArray h = f.read("b", m, DataType.FLOAT16, true);
            assertThat(h.getDataType()).isEqualTo(DataType.FLOAT16);
            // 3.140625 is exact in half (3 + 9/64); 1e-40 underflows to zero.
            assertThat(h.toType(DataType.FLOAT32, false).toFloatArray())
                    .containsExactly(1f, -2f, 0.5f, 3.140625f, -0f, 0f);
        }
    }

    @Test
    void f64IsReadAsFloat() throws IOException {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN);
        b.putDouble(0.1).putDouble(-1e10);
        String header = "{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
        try (SafetensorsFile f = SafetensorsFile.open(write(file(header, b.array())))) {
            assertThat(f.readFloats("d")).containsExactly(0.1f, -1e10f);
        }
    }

    @Test
    void f32RoundTripIsExactAndMetadataSurvives() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] v = randomFloats(3 * 5 * 7, 1);
            Map<String, NDArray> t = Map.of(
                    "z.weight", m.create(v, new Shape(3, 5, 7)),
                    "scalar", m.create(2.5f),
                    "empty", m.create(new Shape(0, 4), DataType.FLOAT32));
            Path p = dir.resolve("rt.safetensors");
            SafetensorsWriter.write(p, t, Map.of("format", "pt", "note", "ünïcode"));
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                assertThat(f.names()).containsExactly("empty", "scalar", "z.weight");
                assertThat(f.metadata()).containsEntry("note", "ünïcode");
                assertThat(f.read("z.weight", m).toFloatArray()).containsExactly(v);
                assertThat(f.read("z.weight", m).getShape()).isEqualTo(new Shape(3, 5, 7));
                assertThat(f.info("scalar").dims()).isEmpty();
                assertThat(f.read("scalar", m).getShape()).isEqualTo(new Shape());
                assertThat(f.readFloats("scalar")).containsExactly(2.5f);
                assertThat(f.read("empty", m).getShape()).isEqualTo(new Shape(0, 4));
            }
            assertThat((Files.size(p) - 8 - 4 * (v.length + 1)) % 8).isZero();
        }
    }

    @Test
    void f16RoundTripMatchesTheEngineRounding() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] v = randomFloats(1000, 2);
            v[0] = 70000f; // overflows half: +inf in both conversions
            v[1] = 1e-6f; // subnormal half
            v[2] = 6.1035156e-5f; // smallest normal half
            NDArray full = m.create(v);
            // Engine (torch) conversion is the reference for our Java conversion.
            float[] reference = full.toType(DataType.FLOAT16, false)
                    .toType(DataType.FLOAT32, false).toFloatArray();
            Path p16 = dir.resolve("h.safetensors");
            SafetensorsWriter.write(p16, Map.of("x", full.toType(DataType.FLOAT16, false)),
                    Map.of());
            Path p32to16 = dir.resolve("c.safetensors");
            SafetensorsWriter.write(p32to16, Map.of("x", full), Map.of(), DataType.FLOAT16);
            Path p32 = dir.resolve("f.safetensors");
            SafetensorsWriter.write(p32, Map.of("x", full), Map.of());
            for (Path p : List.of(p16, p32to16)) {
                try (SafetensorsFile f = SafetensorsFile.open(p)) {
                    assertThat(f.info("x").dtype()).isEqualTo(SafetensorsDtype.F16);
                    assertThat(f.read("x", m).toFloatArray()).containsExactly(reference);
                    assertThat(f.read("x", m, DataType.FLOAT16, false)
                            .toType(DataType.FLOAT32, false).toFloatArray())
                            .containsExactly(reference);
                }
            }
            try (SafetensorsFile f = SafetensorsFile.open(p32)) {
                // Our Java float->half rounding equals the engine's.
                assertThat(f.read("x", m, DataType.FLOAT16, false)
                        .toType(DataType.FLOAT32, false).toFloatArray())
                        .containsExactly(reference);
                assertThatThrownBy(() -> f.read("x", m, DataType.FLOAT16, true))
                        .isInstanceOf(ModelLoadException.class)
                        .hasMessageContaining("'x'").hasMessageContaining("too large for");
            }
        }
    }

    @Test
    void everyHalfConvertsLikeTheEngine() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            ByteBuffer all = ByteBuffer.allocateDirect(65536 * 2).order(ByteOrder.nativeOrder());
            for (int h = 0; h < 65536; h++) {
                all.putShort((short) h);
            }
            all.rewind();
            float[] torch = m.create(all, new Shape(65536), DataType.FLOAT16)
                    .toType(DataType.FLOAT32, false).toFloatArray();
            for (int h = 0; h < 65536; h++) {
                float ours = Halfs.halfToFloat((short) h);
                if (Float.isNaN(torch[h])) {
                    assertThat(ours).as("half %04x", h).isNaN();
                    assertThat(Halfs.isHalfNonFinite((short) h)).isTrue();
                } else {
                    assertThat(Float.floatToRawIntBits(ours)).as("half %04x", h)
                            .isEqualTo(Float.floatToRawIntBits(torch[h]));
                    assertThat(Halfs.isHalfNonFinite((short) h))
                            .isEqualTo(Float.isInfinite(torch[h]));
                }
            }
            // Float -> half: random bit patterns over the whole range, and every tie between
            // neighbouring halves.
            Random r = new Random(5);
            float[] probe = new float[200_000];
            for (int i = 0; i < probe.length; i++) {
                probe[i] = i % 2 == 0 ? Float.intBitsToFloat(r.nextInt())
                        : (float) (r.nextGaussian() * Math.pow(2, r.nextInt(40) - 28));
                if (i < 65536 && !Float.isNaN(torch[i]) && !Float.isNaN(torch[(i + 1) & 0xFFFF])
                        && i % 2 == 1) {
                    probe[i] = (torch[i - 1] + torch[i]) / 2;
                }
            }
            float[] back = m.create(probe).toType(DataType.FLOAT16, false)
                    .toType(DataType.FLOAT32, false).toFloatArray();
            for (int i = 0; i < probe.length; i++) {
                float ours = Halfs.halfToFloat(Halfs.floatToHalf(probe[i]));
                if (Float.isNaN(probe[i])) {
                    assertThat(ours).isNaN();
                } else {
                    assertThat(ours).as("float %s", probe[i]).isEqualTo(back[i]);
                }
            }
        }
    }

    @Test
    void tinyMappingWindowsGiveTheSameValues() throws IOException {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float[] v = randomFloats(999, 3);
            Path p = dir.resolve("w.safetensors");
            SafetensorsWriter.write(p, Map.of("a", m.create(v),
                    "b", m.create(v).toType(DataType.FLOAT16, false)), Map.of());
            try (SafetensorsFile big = SafetensorsFile.open(p);
                    SafetensorsFile small = SafetensorsFile.open(p, 8)) {
                for (String n : List.of("a", "b")) {
                    assertThat(small.readFloats(n)).containsExactly(big.readFloats(n));
                    assertThat(small.read(n, m).toFloatArray())
                            .containsExactly(big.readFloats(n));
                    assertThat(small.read(n, m, DataType.FLOAT16, true)
                            .toType(DataType.FLOAT32, false).toFloatArray())
                            .containsExactly(big.read(n, m, DataType.FLOAT16, true)
                                    .toType(DataType.FLOAT32, false).toFloatArray());
                }
            }
        }
    }

    @Test
    void nonFiniteValuesAreRefusedWhenAsked() throws IOException {
        String header = "{\"f\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                + "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[12,16]},"
                + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]}}";
        Path p = write(file(header, concat(f32(1, Float.NaN, Float.NEGATIVE_INFINITY),
                u16(0x3C00, 0x7C00), u16(0x7FC0, 0x3F80))));
        try (SafetensorsFile f = SafetensorsFile.open(p);
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertThat(f.read("f", m).toFloatArray()[1]).isNaN();
            for (DataType t : List.of(DataType.FLOAT32, DataType.FLOAT16)) {
                assertThatThrownBy(() -> f.read("f", m, t, true))
                        .isInstanceOf(ModelLoadException.class)
                        .hasMessageContaining("tensor 'f' contains 2 NaN or infinite");
                assertThatThrownBy(() -> f.read("h", m, t, true))
                        .hasMessageContaining("tensor 'h' contains 1 NaN or infinite");
                assertThatThrownBy(() -> f.read("b", m, t, true))
                        .hasMessageContaining("tensor 'b' contains 1 NaN or infinite");
            }
        }
    }

    @Test
    void aFileThatShrinksAfterOpenIsReportedAndAClosedFileRefusesReads() throws IOException {
        String header = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
        Path p = write(file(header, f32(1, 2, 3, 4)));
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(p,
                    java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(Files.size(p) - 4);
            }
            assertThatThrownBy(() -> f.readFloats("w")).isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("shrank");
            f.close();
            assertThatThrownBy(() -> f.readFloats("w")).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void integerTensorsAreValidatedButNotReadAsWeights() throws IOException {
        String header = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
        try (SafetensorsFile f = SafetensorsFile.open(write(file(header, new byte[16])));
                NDManager m = NDManager.newBaseManager("PyTorch")) {
            assertThat(f.info("ids").dtype()).isEqualTo(SafetensorsDtype.I64);
            assertThatThrownBy(() -> f.read("ids", m)).isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("'ids' has dtype I64");
            assertThatThrownBy(() -> f.info("nope")).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void concurrentReadsAgree() throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Map<String, NDArray> t = new LinkedHashMap<>();
            for (int i = 0; i < 16; i++) {
                t.put("t" + i, m.create(randomFloats(5000, i)).toType(DataType.FLOAT16, false));
            }
            Path p = dir.resolve("c.safetensors");
            SafetensorsWriter.write(p, t, Map.of());
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try (SafetensorsFile f = SafetensorsFile.open(p)) {
                List<Future<Boolean>> results = new ArrayList<>();
                for (int rep = 0; rep < 8; rep++) {
                    for (String name : t.keySet()) {
                        float[] expected = t.get(name).toType(DataType.FLOAT32, false)
                                .toFloatArray();
                        results.add(pool.submit(() -> java.util.Arrays.equals(
                                f.readFloats(name), expected)));
                    }
                }
                for (Future<Boolean> r : results) {
                    assertThat(r.get()).isTrue();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void failedWriteLeavesTheOldFileAndNoTemporaries() throws IOException {
        Path p = dir.resolve("keep.safetensors");
        Files.writeString(p, "old");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray good = m.create(new float[] {1, 2});
            NDArray closed = m.create(new float[] {3, 4});
            closed.close();
            Map<String, NDArray> t = new LinkedHashMap<>();
            t.put("a", good);
            t.put("b", closed);
            assertThatThrownBy(() -> SafetensorsWriter.write(p, t, Map.of()))
                    .isInstanceOf(RuntimeException.class);
            assertThatThrownBy(() -> SafetensorsWriter.write(p,
                    Map.of("__metadata__", good), Map.of()))
                    .isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> SafetensorsWriter.write(p,
                    Map.of("i", m.create(new int[] {1})), Map.of()))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'i'");
        }
        assertThat(Files.readString(p)).isEqualTo("old");
        try (Stream<Path> s = Files.list(dir)) {
            assertThat(s.map(x -> x.getFileName().toString())).containsExactly("keep.safetensors");
        }
    }

    @Test
    void pickleFilesGetAHint() throws IOException {
        byte[] zip = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0, 0, 0};
        byte[] pickle = {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46};
        for (byte[] b : List.of(zip, pickle)) {
            assertThatThrownBy(() -> SafetensorsFile.open(write(b)))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("pickle").hasMessageContaining(".safetensors");
        }
        assertThatThrownBy(() -> SafetensorsFile.open(dir.resolve("missing.safetensors")))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("not found");
    }

    private int counter;

    private Path write(byte[] bytes) throws IOException {
        Path p = dir.resolve("f" + (counter++) + ".safetensors");
        Files.write(p, bytes);
        return p;
    }
}
