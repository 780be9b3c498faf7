package dev.jdiffusion.djl.reliability;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file as editable values, independent of the reader under test: tensors by name
 * (dtype, shape, raw little-endian bytes) and metadata; {@link #bytes()} writes it back in the
 * standard layout. Lets tests build files with any content, valid or not.
 */
final class RawSafetensors {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One tensor: a dtype name, a shape and its raw bytes. */
    static final class Tensor {
        String dtype;
        long[] shape;
        byte[] data;

        Tensor(String dtype, long[] shape, byte[] data) {
            this.dtype = dtype;
            this.shape = shape;
            this.data = data;
        }

        Tensor copy() {
            return new Tensor(dtype, shape.clone(), data.clone());
        }
    }

    final Map<String, Tensor> tensors = new LinkedHashMap<>();
    final Map<String, String> metadata = new LinkedHashMap<>();

    static RawSafetensors parse(byte[] file) {
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int n = (int) b.getLong(0);
        RawSafetensors out = new RawSafetensors();
        try {
            JsonNode header = JSON.readTree(new String(file, 8, n, StandardCharsets.UTF_8));
            Iterator<Map.Entry<String, JsonNode>> it = header.fields();
            while (it.hasNext()) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(
                            m -> out.metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                JsonNode t = e.getValue();
                long[] shape = new long[t.get("shape").size()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.get("shape").get(i).asLong();
                }
                int start = 8 + n + t.get("data_offsets").get(0).asInt();
                int end = 8 + n + t.get("data_offsets").get(1).asInt();
                out.tensors.put(e.getKey(), new Tensor(t.get("dtype").asText(), shape,
                        Arrays.copyOfRange(file, start, end)));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }

    RawSafetensors copy() {
        RawSafetensors c = new RawSafetensors();
        tensors.forEach((k, v) -> c.tensors.put(k, v.copy()));
        c.metadata.putAll(metadata);
        return c;
    }

    List<String> names() {
        return new ArrayList<>(tensors.keySet());
    }

    /** The header object this file would be written with. */
    ObjectNode header() {
        ObjectNode h = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = h.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            ObjectNode t = h.putObject(e.getKey());
            t.put("dtype", e.getValue().dtype);
            var s = t.putArray("shape");
            for (long d : e.getValue().shape) {
                s.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.getValue().data.length);
            offset += e.getValue().data.length;
        }
        return h;
    }

    byte[] bytes() {
        return bytes(header());
    }

    /** Writes a given header followed by the tensors' data in order. */
    byte[] bytes(JsonNode header) {
        try {
            byte[] h = JSON.writeValueAsBytes(header);
            int pad = (8 - h.length % 8) % 8;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            len.putLong(h.length + pad);
            out.write(len.array());
            out.write(h);
            for (int i = 0; i < pad; i++) {
                out.write(' ');
            }
            for (Tensor t : tensors.values()) {
                out.write(t.data);
            }
            return out.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Float32 data of a tensor as floats (F32 only). */
    static float[] floats(Tensor t) {
        ByteBuffer b = ByteBuffer.wrap(t.data).order(ByteOrder.LITTLE_ENDIAN);
        float[] f = new float[t.data.length / 4];
        for (int i = 0; i < f.length; i++) {
            f[i] = b.getFloat(i * 4);
        }
        return f;
    }

    static byte[] f32(float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }
}
