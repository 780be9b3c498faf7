package dev.jdiffusion.djl.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * A minimal safetensors writer and reader for F32 tensors only, used for training checkpoints.
 *
 * <p>Format: 8-byte little-endian header length, a JSON header {@code {name: {dtype, shape,
 * data_offsets}}} with an optional {@code __metadata__} string map, padded with spaces to a
 * multiple of 8 bytes, then the little-endian data in key order.
 *
 * <p>TO BE REPLACED by {@code dev.jdiffusion.djl.safetensors} at merge (written here because that
 * package was being written concurrently).
 */
final class F32Safetensors {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String METADATA = "__metadata__";
    private static final long MAX_HEADER = 100L * 1024 * 1024;

    /** One tensor: its shape and row-major values. */
    record Tensor(long[] shape, float[] data) {
        Tensor {
            long n = 1;
            for (long d : shape) {
                if (d < 0) {
                    throw new IllegalArgumentException("negative dimension in " + Arrays.toString(
                            shape));
                }
                n *= d;
            }
            if (n != data.length) {
                throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs "
                        + n + " values but got " + data.length);
            }
        }
    }

    /** What a file holds. */
    record Contents(SortedMap<String, Tensor> tensors, Map<String, String> metadata) {}

    private F32Safetensors() {}

    /**
     * Writes tensors atomically: to a temporary file in the target's folder, then renamed over
     * the target, so a crash never leaves a half-written file under the target name.
     */
    static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata)
            throws IOException {
        SortedMap<String, Tensor> sorted = new TreeMap<>(tensors);
        if (sorted.containsKey(METADATA)) {
            throw new IllegalArgumentException(METADATA + " is reserved and cannot name a tensor");
        }
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = header.putObject(METADATA);
            new TreeMap<>(metadata).forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "F32");
            ArrayNode shape = t.putArray("shape");
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long end = offset + 4L * e.getValue().data().length;
            t.putArray("data_offsets").add(offset).add(end);
            offset = end;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        int padded = (json.length + 7) / 8 * 8;
        byte[] headerBytes = Arrays.copyOf(json, padded);
        Arrays.fill(headerBytes, json.length, padded, (byte) ' ');

        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName() + ".", ".tmp");
        try {
            try (OutputStream out = Files.newOutputStream(tmp)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                len.putLong(padded);
                out.write(len.array());
                out.write(headerBytes);
                ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
                for (Tensor t : sorted.values()) {
                    for (float v : t.data()) {
                        if (!buf.hasRemaining()) {
                            out.write(buf.array(), 0, buf.position());
                            buf.clear();
                        }
                        buf.putFloat(v);
                    }
                }
                out.write(buf.array(), 0, buf.position());
            }
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Reads a file written by {@link #write} (or any safetensors file whose tensors are F32). */
    static Contents read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new ModelLoadException("checkpoint file not found: " + file);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw new ModelLoadException(file + " is not a safetensors file (too short)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > MAX_HEADER || 8 + headerLen > size) {
                throw new ModelLoadException(file + ": invalid safetensors header length "
                        + headerLen + " for a file of " + size + " bytes");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            JsonNode header;
            try {
                header = JSON.readTree(new String(hb.array(), StandardCharsets.UTF_8).trim());
            } catch (IOException e) {
                throw new ModelLoadException(file + ": safetensors header is not valid JSON", e);
            }
            long dataStart = 8 + headerLen;
            long dataSize = size - dataStart;
            Map<String, String> metadata = new LinkedHashMap<>();
            SortedMap<String, Tensor> tensors = new TreeMap<>();
            Iterator<Map.Entry<String, JsonNode>> it = header.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                if (METADATA.equals(e.getKey())) {
                    e.getValue().fields().forEachRemaining(
                            m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                tensors.put(e.getKey(), readTensor(ch, file, e.getKey(), e.getValue(), dataStart,
                        dataSize));
            }
            return new Contents(tensors, metadata);
        }
    }

    private static Tensor readTensor(
            FileChannel ch, Path file, String name, JsonNode info, long dataStart, long dataSize)
            throws IOException {
        String dtype = info.path("dtype").asText();
        if (!"F32".equals(dtype)) {
            throw new ModelLoadException(file + ": tensor '" + name + "' has dtype " + dtype
                    + "; this checkpoint reader supports F32 only");
        }
        JsonNode shapeNode = info.path("shape");
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong();
            count *= shape[i];
        }
        JsonNode offs = info.path("data_offsets");
        long begin = offs.path(0).asLong(-1);
        long end = offs.path(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataSize || end - begin != 4 * count
                || count > Integer.MAX_VALUE) {
            throw new ModelLoadException(file + ": tensor '" + name + "' has data_offsets ["
                    + begin + ", " + end + "] inconsistent with shape " + Arrays.toString(shape)
                    + " and " + dataSize + " data bytes; the file is corrupt or truncated");
        }
        ByteBuffer bb = ByteBuffer.allocate((int) (end - begin)).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, bb, dataStart + begin);
        float[] data = new float[(int) count];
        bb.asFloatBuffer().get(data);
        return new Tensor(shape, data);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position)
            throws IOException {
        long pos = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos);
            if (n < 0) {
                throw new ModelLoadException("unexpected end of file at byte " + pos);
            }
            pos += n;
        }
        buf.flip();
    }
}
