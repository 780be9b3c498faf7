package dev.jdiffusion.djl.safetensors;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.jdiffusion.api.internal.AtomicFiles;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;

/**
 * Writes tensors to a safetensors file that any safetensors reader accepts: the {@code
 * __metadata__} entry first, then the tensors sorted by name, their data in the same order with
 * no gaps, the JSON header padded with spaces to a multiple of 8 bytes, all data little-endian.
 *
 * <p>The file is written to a temporary file in the same folder, forced to disk, then renamed
 * over the target atomically: after a failure nothing half-written is left under the target
 * name. FLOAT32 and FLOAT16 arrays are written as F32 and F16; either can be converted to the
 * other on the way. Stateless and thread-safe (two threads writing the same target both
 * succeed; the last rename wins).
 */
public final class SafetensorsWriter {

    private static final JsonFactory JSON = new JsonFactory();

    private SafetensorsWriter() {}

    /**
     * Writes arrays in their own type (FLOAT32 or FLOAT16).
     *
     * @param path the target file; replaced if it exists
     * @param tensors name → array (any device)
     * @param metadata string metadata for {@code __metadata__}; may be empty
     * @throws IOException if writing fails (the target is then untouched)
     * @throws IllegalArgumentException if a name is {@code __metadata__} or an array's type is
     *     neither FLOAT32 nor FLOAT16
     */
    public static void write(Path path, Map<String, NDArray> tensors,
            Map<String, String> metadata) throws IOException {
        write(path, tensors, metadata, null);
    }

    /**
     * Writes arrays, converting every one to one stored type.
     *
     * @param path the target file; replaced if it exists
     * @param tensors name → array (FLOAT32 or FLOAT16, any device)
     * @param metadata string metadata for {@code __metadata__}; may be empty
     * @param storeAs {@link DataType#FLOAT32} or {@link DataType#FLOAT16}, or null to keep
     *     each array's own type
     * @throws IOException if writing fails (the target is then untouched)
     * @throws IllegalArgumentException if a name is {@code __metadata__} or a type is
     *     unsupported
     */
    public static void write(Path path, Map<String, NDArray> tensors,
            Map<String, String> metadata, DataType storeAs) throws IOException {
        if (storeAs != null && storeAs != DataType.FLOAT32 && storeAs != DataType.FLOAT16) {
            throw new IllegalArgumentException("storeAs must be FLOAT32 or FLOAT16, not "
                    + storeAs);
        }
        TreeMap<String, NDArray> sorted = new TreeMap<>(tensors);
        TreeMap<String, DataType> types = new TreeMap<>();
        for (Map.Entry<String, NDArray> e : sorted.entrySet()) {
            if (HeaderParser.METADATA_KEY.equals(e.getKey())) {
                throw new IllegalArgumentException("'" + HeaderParser.METADATA_KEY
                        + "' is reserved and cannot name a tensor");
            }
            DataType t = e.getValue().getDataType();
            if (t != DataType.FLOAT32 && t != DataType.FLOAT16) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' is " + t
                        + "; only FLOAT32 and FLOAT16 arrays can be written");
            }
            types.put(e.getKey(), storeAs != null ? storeAs : t);
        }
        byte[] header = header(sorted, types, metadata == null ? Map.of() : metadata);

        Path target = path.toAbsolutePath();
        Path dir = target.getParent();
        Files.createDirectories(dir);
        Path tmp = AtomicFiles.createFile(dir, "." + target.getFileName() + ".", ".tmp");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                len.putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Map.Entry<String, NDArray> e : sorted.entrySet()) {
                    writeTensor(ch, e.getKey(), e.getValue(), types.get(e.getKey()));
                }
                ch.force(true);
            }
            AtomicFiles.moveIntoPlace(tmp, target);
            done = true;
        } finally {
            if (!done) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** The JSON header, space-padded to a multiple of 8 bytes. */
    private static byte[] header(TreeMap<String, NDArray> tensors, Map<String, DataType> types,
            Map<String, String> metadata) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart(HeaderParser.METADATA_KEY);
                for (Map.Entry<String, String> m : new TreeMap<>(metadata).entrySet()) {
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            long offset = 0;
            for (Map.Entry<String, NDArray> e : tensors.entrySet()) {
                DataType t = types.get(e.getKey());
                long[] shape = e.getValue().getShape().getShape();
                long bytes = e.getValue().size() * t.getNumOfBytes();
                g.writeObjectFieldStart(e.getKey());
                g.writeStringField("dtype", t == DataType.FLOAT16 ? "F16" : "F32");
                g.writeArrayFieldStart("shape");
                for (long d : shape) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(offset);
                g.writeNumber(offset + bytes);
                g.writeEndArray();
                g.writeEndObject();
                offset += bytes;
            }
            g.writeEndObject();
        }
        int pad = (8 - out.size() % 8) % 8;
        for (int i = 0; i < pad; i++) {
            out.write(' ');
        }
        byte[] bytes = out.toByteArray();
        return bytes;
    }

    private static void writeTensor(FileChannel ch, String name, NDArray array, DataType type)
            throws IOException {
        long expected = array.size() * type.getNumOfBytes();
        if (expected == 0) {
            return;
        }
        try (NDManager scratch = NDManager.newBaseManager(Device.cpu(),
                array.getManager().getEngine().getEngineName())) {
            NDArray a = array;
            if (!a.getDevice().equals(Device.cpu())) {
                a = a.toDevice(Device.cpu(), true);
                a.attach(scratch);
            }
            if (a.getDataType() != type) {
                a = a.toType(type, true);
                a.attach(scratch);
            }
            ByteBuffer data = a.toByteBuffer(true);
            if (data.remaining() != expected) {
                throw new IOException("tensor '" + name + "' produced " + data.remaining()
                        + " bytes, expected " + expected);
            }
            if (data.order() != ByteOrder.LITTLE_ENDIAN) {
                data = toLittleEndian(data, type);
            }
            writeFully(ch, data);
        }
    }

    private static ByteBuffer toLittleEndian(ByteBuffer data, DataType type) {
        ByteBuffer le = ByteBuffer.allocate(data.remaining()).order(ByteOrder.LITTLE_ENDIAN);
        if (type == DataType.FLOAT16) {
            le.asShortBuffer().put(data.asShortBuffer());
        } else {
            le.asFloatBuffer().put(data.asFloatBuffer());
        }
        return le;
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }
}
