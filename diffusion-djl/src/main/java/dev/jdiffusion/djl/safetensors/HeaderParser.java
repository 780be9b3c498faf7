package dev.jdiffusion.djl.safetensors;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses and validates a safetensors JSON header against the size of the data section that
 * follows it. Stateless; every failure is a {@link ModelLoadException} naming the file, the
 * tensor and the problem.
 */
final class HeaderParser {

    /** The header key that holds free-form string metadata instead of a tensor. */
    static final String METADATA_KEY = "__metadata__";

    /** The most dimensions a tensor may have (PyTorch itself stays far below). */
    static final int MAX_RANK = 64;

    private static final JsonFactory JSON = JsonFactory.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** The parsed header: tensors in header order, and the metadata. */
    record Header(Map<String, TensorInfo> tensors, Map<String, String> metadata) {}

    private HeaderParser() {}

    /**
     * Parses a header.
     *
     * @param json the header bytes (UTF-8 JSON, possibly padded with spaces)
     * @param dataLength the size of the data section after the header
     * @param file the file's name for messages
     * @return the validated header
     * @throws ModelLoadException if the header is not a valid safetensors header for that data
     */
    static Header parse(byte[] json, long dataLength, String file) throws ModelLoadException {
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = Map.of();
        try (JsonParser p = JSON.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw fail(file, "the header is not a JSON object");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (METADATA_KEY.equals(name)) {
                    if (!metadata.isEmpty()) {
                        throw fail(file, "duplicate key '" + METADATA_KEY + "'");
                    }
                    metadata = parseMetadata(p, file);
                    continue;
                }
                if (tensors.containsKey(name)) {
                    throw fail(file, "duplicate tensor name '" + name + "'");
                }
                tensors.put(name, parseTensor(p, name, dataLength, file));
            }
            if (t != JsonToken.END_OBJECT) {
                throw fail(file, "the header is not a well-formed JSON object");
            }
            if (p.nextToken() != null) {
                throw fail(file, "unexpected content after the header's JSON object");
            }
        } catch (ModelLoadException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // JsonParseException (syntax, bad UTF-8, duplicate keys inside entries), stream
            // constraint violations, and number conversions all end here.
            throw new ModelLoadException(file + ": invalid safetensors header: "
                    + firstLine(e.getMessage()), e);
        }
        checkLayout(tensors, dataLength, file);
        return new Header(Collections.unmodifiableMap(tensors), metadata);
    }

    private static Map<String, String> parseMetadata(JsonParser p, String file)
            throws IOException {
        if (p.nextToken() != JsonToken.START_OBJECT) {
            throw fail(file, "'" + METADATA_KEY + "' must be an object of strings");
        }
        Map<String, String> out = new LinkedHashMap<>();
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_STRING) {
                throw fail(file, "metadata value '" + key + "' is not a string");
            }
            out.put(key, p.getText());
        }
        if (p.currentToken() != JsonToken.END_OBJECT) {
            throw fail(file, "'" + METADATA_KEY + "' is not a well-formed object");
        }
        return out.isEmpty() ? Map.of() : Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseTensor(JsonParser p, String name, long dataLength, String file)
            throws IOException {
        String where = "tensor '" + name + "'";
        if (p.nextToken() != JsonToken.START_OBJECT) {
            throw fail(file, where + ": entry is not an object");
        }
        SafetensorsDtype dtype = null;
        long[] shape = null;
        long[] offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            switch (field) {
                case "dtype" -> {
                    if (p.nextToken() != JsonToken.VALUE_STRING) {
                        throw fail(file, where + ": 'dtype' is not a string");
                    }
                    String d = p.getText();
                    dtype = SafetensorsDtype.parse(d);
                    if (dtype == null) {
                        throw fail(file, where + ": unknown dtype '" + clip(d)
                                + "' (known: " + SafetensorsDtype.allNames() + ")");
                    }
                }
                case "shape" -> shape = longArray(p, where + ": 'shape'", MAX_RANK, file);
                case "data_offsets" -> offsets = longArray(p, where + ": 'data_offsets'", 2, file);
                default -> throw fail(file, where + ": unknown field '" + clip(field) + "'");
            }
        }
        if (p.currentToken() != JsonToken.END_OBJECT) {
            throw fail(file, where + ": entry is not a well-formed object");
        }
        if (dtype == null || shape == null || offsets == null) {
            throw fail(file, where + ": entry must have 'dtype', 'shape' and 'data_offsets'");
        }
        if (offsets.length != 2) {
            throw fail(file, where + ": 'data_offsets' must be [begin, end]");
        }
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end) {
            throw fail(file, where + ": data_offsets begin " + begin + " > end " + end);
        }
        if (end > dataLength) {
            throw fail(file, where + ": data_offsets [" + begin + ", " + end
                    + "] run past the data section of " + dataLength + " bytes (truncated file?)");
        }
        long elements = 1;
        long bytes;
        try {
            for (long d : shape) {
                elements = Math.multiplyExact(elements, d);
            }
            bytes = Math.multiplyExact(elements, (long) dtype.size());
        } catch (ArithmeticException e) {
            throw fail(file, where + ": shape " + java.util.Arrays.toString(shape)
                    + " has more elements than can be addressed");
        }
        if (bytes != end - begin) {
            throw fail(file, where + ": shape " + java.util.Arrays.toString(shape) + " of "
                    + dtype + " needs " + bytes + " bytes but data_offsets span " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    /** Reads an array of non-negative integers of at most {@code max} entries. */
    private static long[] longArray(JsonParser p, String what, int max, String file)
            throws IOException {
        if (p.nextToken() != JsonToken.START_ARRAY) {
            throw fail(file, what + " is not an array");
        }
        long[] values = new long[max];
        int n = 0;
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT) {
                throw fail(file, what + " must contain only integers");
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw fail(file, what + " holds a number too large: " + clip(p.getText()));
            }
            long v = p.getLongValue();
            if (v < 0) {
                throw fail(file, what + " holds a negative number " + v);
            }
            if (n == max) {
                throw fail(file, what + " has more than " + max + " entries");
            }
            values[n++] = v;
        }
        return java.util.Arrays.copyOf(values, n);
    }

    /** Tensors must tile the data section exactly: no gap, no overlap, nothing left over. */
    private static void checkLayout(Map<String, TensorInfo> tensors, long dataLength, String file)
            throws ModelLoadException {
        List<TensorInfo> sorted = new ArrayList<>(tensors.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin)
                .thenComparingLong(TensorInfo::end));
        long expected = 0;
        String previous = null;
        for (TensorInfo info : sorted) {
            if (info.begin() != expected) {
                String after = previous == null ? "the start of the data section"
                        : "tensor '" + previous + "' (which ends at " + expected + ")";
                throw fail(file, "tensor '" + info.name() + "' begins at " + info.begin()
                        + (info.begin() > expected ? ", leaving a gap after " : ", overlapping ")
                        + after);
            }
            expected = info.end();
            previous = info.name();
        }
        if (expected != dataLength) {
            throw fail(file, "the tensors cover " + expected + " bytes but the data section has "
                    + dataLength + " (trailing bytes not described by the header)");
        }
    }

    private static ModelLoadException fail(String file, String problem) {
        return new ModelLoadException(file + ": invalid safetensors header: " + problem);
    }

    private static String clip(String s) {
        return s.length() <= 80 ? s : s.substring(0, 80) + "...";
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "malformed JSON";
        }
        int nl = s.indexOf('\n');
        return clip(nl < 0 ? s : s.substring(0, nl));
    }
}
