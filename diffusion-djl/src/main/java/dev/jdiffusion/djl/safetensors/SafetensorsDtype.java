package dev.jdiffusion.djl.safetensors;

/**
 * The element types a safetensors header may name, with their size in bytes.
 *
 * <p>Every type is accepted by {@link SafetensorsFile#open} (the header is validated against its
 * size); only the floating-point types {@link #F32}, {@link #F16}, {@link #BF16} and {@link #F64}
 * can be read as weights. Reading an integer, boolean or 8-bit float tensor as weights fails with
 * a {@link dev.jdiffusion.api.ModelLoadException} that names the tensor and its type.
 */
public enum SafetensorsDtype {
    /** Boolean, one byte. */
    BOOL(1),
    /** Unsigned 8-bit integer. */
    U8(1),
    /** Signed 8-bit integer. */
    I8(1),
    /** 8-bit float, 5 exponent bits. */
    F8_E5M2(1),
    /** 8-bit float, 4 exponent bits. */
    F8_E4M3(1),
    /** Signed 16-bit integer. */
    I16(2),
    /** Unsigned 16-bit integer. */
    U16(2),
    /** IEEE 754 half precision. */
    F16(2),
    /** bfloat16: the upper half of an IEEE 754 single. */
    BF16(2),
    /** Signed 32-bit integer. */
    I32(4),
    /** Unsigned 32-bit integer. */
    U32(4),
    /** IEEE 754 single precision. */
    F32(4),
    /** IEEE 754 double precision. */
    F64(8),
    /** Signed 64-bit integer. */
    I64(8),
    /** Unsigned 64-bit integer. */
    U64(8);

    private final int size;

    SafetensorsDtype(int size) {
        this.size = size;
    }

    /**
     * The size of one element.
     *
     * @return bytes per element
     */
    public int size() {
        return size;
    }

    /**
     * Whether tensors of this type can be read as floating-point weights.
     *
     * @return true for F32, F16, BF16 and F64
     */
    public boolean isReadableAsFloat() {
        return this == F32 || this == F16 || this == BF16 || this == F64;
    }

    /**
     * The type a header names.
     *
     * @param name the header's {@code dtype} string, e.g. {@code "F16"}
     * @return the type, or null when the name is not a safetensors type
     */
    static SafetensorsDtype parse(String name) {
        for (SafetensorsDtype t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /**
     * All type names, for error messages.
     *
     * @return e.g. {@code "BOOL, U8, ..."}
     */
    static String allNames() {
        StringBuilder sb = new StringBuilder();
        for (SafetensorsDtype t : values()) {
            if (sb.length() > 0) {
                sb.append(", ");
            }
            sb.append(t.name());
        }
        return sb.toString();
    }
}
