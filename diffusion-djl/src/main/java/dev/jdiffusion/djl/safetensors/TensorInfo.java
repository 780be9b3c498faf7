package dev.jdiffusion.djl.safetensors;

import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

/**
 * One tensor's entry in a safetensors header, after validation. Immutable and thread-safe.
 *
 * @param name the tensor's key, e.g. {@code conv_in.weight}
 * @param dtype the stored element type
 * @param dims the shape, outermost first; empty for a scalar (a copy is kept and returned)
 * @param begin the first byte of the data, relative to the start of the data section
 * @param end one past the last byte, relative to the start of the data section
 */
public record TensorInfo(String name, SafetensorsDtype dtype, long[] dims, long begin, long end) {

    /**
     * Creates the entry.
     *
     * @param name the tensor's key
     * @param dtype the stored element type
     * @param dims the shape
     * @param begin first byte, relative to the data section
     * @param end one past the last byte, relative to the data section
     */
    public TensorInfo {
        dims = dims.clone();
    }

    /**
     * The shape, outermost first.
     *
     * @return a copy of the dimensions
     */
    @Override
    public long[] dims() {
        return dims.clone();
    }

    /**
     * The shape as a DJL shape.
     *
     * @return the shape
     */
    public Shape shape() {
        return new Shape(dims);
    }

    /**
     * The number of elements (validated on open not to overflow).
     *
     * @return the product of the dimensions; 1 for a scalar
     */
    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /**
     * The number of stored bytes.
     *
     * @return {@code end - begin}
     */
    public long byteLength() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && t.dtype == dtype
                && Arrays.equals(t.dims, dims) && t.begin == begin && t.end == end;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + Arrays.hashCode(dims)) * 31 + Long.hashCode(begin);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(dims) + " [" + begin + ", " + end + ")";
    }
}
