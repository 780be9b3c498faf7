package dev.jdiffusion.djl.nn;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Reading and writing diffusers' {@code config.json} files: typed field access with messages
 * that name the file's field, and the "int or per-block list" convention.
 */
final class ConfigJson {

    static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final String what;
    private final JsonNode root;

    private ConfigJson(String what, JsonNode root) {
        this.what = what;
        this.root = root;
    }

    static ConfigJson parse(String what, String json) {
        JsonNode root;
        try {
            root = MAPPER.readTree(Objects.requireNonNull(json, "json"));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(what + " is not valid JSON: "
                    + e.getOriginalMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException(what + " must be a JSON object");
        }
        return new ConfigJson(what, root);
    }

    private IllegalArgumentException bad(String field, String expected) {
        return new IllegalArgumentException(what + ": field \"" + field + "\" must be " + expected
                + " (got " + root.get(field) + ")");
    }

    /** Whether the field is written at all (possibly as null). */
    boolean present(String field) {
        return root.has(field);
    }

    private boolean absent(String field) {
        JsonNode n = root.get(field);
        return n == null || n.isNull();
    }

    int integer(String field, int def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.canConvertToInt() || !(n.isIntegralNumber()
                || (n.isNumber() && n.asDouble() == Math.rint(n.asDouble())))) {
            throw bad(field, "an integer");
        }
        return n.asInt();
    }

    Integer optInteger(String field) {
        return absent(field) ? null : integer(field, 0);
    }

    float number(String field, float def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.isNumber()) {
            throw bad(field, "a number");
        }
        return (float) n.asDouble();
    }

    Float optNumber(String field) {
        return absent(field) ? null : number(field, 0f);
    }

    boolean bool(String field, boolean def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.isBoolean()) {
            throw bad(field, "true or false");
        }
        return n.asBoolean();
    }

    String string(String field, String def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.isTextual()) {
            throw bad(field, "a string");
        }
        return n.asText();
    }

    List<String> strings(String field, List<String> def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.isArray()) {
            throw bad(field, "a list of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isTextual()) {
                throw bad(field, "a list of strings");
            }
            out.add(e.asText());
        }
        return out;
    }

    List<Integer> integers(String field, List<Integer> def) {
        if (absent(field)) {
            return def;
        }
        JsonNode n = root.get(field);
        if (!n.isArray()) {
            throw bad(field, "a list of integers");
        }
        List<Integer> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                throw bad(field, "a list of integers");
            }
            out.add(e.asInt());
        }
        return out;
    }

    /** An int (repeated {@code count} times) or a list of ints; {@code def} when absent. */
    List<Integer> intOrList(String field, int count, Integer def) {
        if (absent(field)) {
            return def == null ? null : Collections.nCopies(count, def);
        }
        JsonNode n = root.get(field);
        if (n.isArray()) {
            return integers(field, null);
        }
        return Collections.nCopies(count, integer(field, 0));
    }

    /** Rejects a field whose value is set to anything but its default. */
    void requireDefault(String field, Object def, String feature) {
        if (absent(field)) {
            return;
        }
        JsonNode n = root.get(field);
        JsonNode d = MAPPER.valueToTree(def);
        boolean same = d.isNull() ? n.isNull()
                : d.isNumber() ? n.isNumber() && n.asDouble() == d.asDouble() : d.equals(n);
        if (!same) {
            throw new IllegalArgumentException(what + ": " + feature + " is not supported (field \""
                    + field + "\" is " + n + "; only " + d + " is)");
        }
    }

    /** A list as one int when all elements are equal, else as a JSON list. */
    static void putIntOrList(ObjectNode node, String field, List<Integer> values) {
        if (values.stream().distinct().count() == 1) {
            node.put(field, values.get(0));
        } else {
            ArrayNode a = node.putArray(field);
            values.forEach(a::add);
        }
    }

    static void putInts(ObjectNode node, String field, List<Integer> values) {
        ArrayNode a = node.putArray(field);
        values.forEach(a::add);
    }

    static void putStrings(ObjectNode node, String field, List<String> values) {
        ArrayNode a = node.putArray(field);
        values.forEach(a::add);
    }

    static String write(ObjectNode node) {
        try {
            return MAPPER.writerWithDefaultPrettyPrinter().writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    static void checkRange(String what, long value, long min, long max) {
        check(value >= min && value <= max,
                what + " must be in [" + min + ", " + max + "] (got " + value + ")");
    }
}
