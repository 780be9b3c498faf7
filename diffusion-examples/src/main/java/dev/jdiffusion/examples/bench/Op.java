package dev.jdiffusion.examples.bench;

import java.util.Arrays;
import java.util.Locale;

/**
 * One compute operation of a network forward pass, with the sizes that determine its cost:
 * what {@link FlopCounter} enumerates and {@link OpProfiler} times. Immutable and thread-safe.
 *
 * <p>FLOPs count 2 per multiply-add (the usual GEMM convention); normalisations, activations,
 * softmax and element-wise additions count 0 (they are memory-bound and listed for timing only).
 *
 * @param block the network block the operation belongs to, e.g. {@code down_blocks.0}
 * @param part {@code resnet}, {@code attention} (a whole spatial transformer), {@code sampler}
 *     (up/downsampling convolutions) or {@code io} (conv_in, conv_out, time embedding)
 * @param kind what the operation is
 * @param dims the sizes, as documented on each {@link Kind}
 */
public record Op(String block, String part, Kind kind, long[] dims) {

    /** Operation kinds and the meaning of their {@code dims}. */
    public enum Kind {
        /** 2-D convolution: {N, Cin, Cout, kernel, stride, Hin, Win, padding}. */
        CONV,
        /** Fully connected layer: {rows, in, out}. */
        LINEAR,
        /**
         * Attention core, softmax(q·kᵀ)·v over heads: {B, heads, T (queries), S (keys), d}; the
         * q, k, v and output projections are separate {@link #LINEAR} ops.
         */
        ATTENTION,
        /** Group normalisation with affine: {N, C, H·W, groups}. */
        GROUP_NORM,
        /** Layer normalisation over the last axis: {rows, C}. */
        LAYER_NORM
    }

    /**
     * Copies {@code dims}.
     *
     * @param block see the record component
     * @param part see the record component
     * @param kind see the record component
     * @param dims see the record component
     */
    public Op {
        dims = dims.clone();
    }

    /**
     * The sizes (a copy).
     *
     * @return the dims as documented on the kind
     */
    @Override
    public long[] dims() {
        return dims.clone();
    }

    /**
     * Floating-point operations, 2 per multiply-add.
     *
     * @return FLOPs of the GEMM-like work of this op; 0 for normalisations
     */
    public long flops() {
        return switch (kind) {
            case CONV -> 2 * dims[0] * dims[1] * dims[2] * dims[3] * dims[3]
                    * outSize(dims[5], dims[3], dims[4], dims[7])
                    * outSize(dims[6], dims[3], dims[4], dims[7]);
            case LINEAR -> 2 * dims[0] * dims[1] * dims[2];
            case ATTENTION -> 2 * 2 * dims[0] * dims[1] * dims[2] * dims[3] * dims[4];
            case GROUP_NORM, LAYER_NORM -> 0;
        };
    }

    /**
     * Output size of a convolution along one axis.
     *
     * @param in input size
     * @param kernel kernel size
     * @param stride stride
     * @param padding padding on each side
     * @return (in + 2·padding − kernel) / stride + 1
     */
    static long outSize(long in, long kernel, long stride, long padding) {
        return (in + 2 * padding - kernel) / stride + 1;
    }

    /**
     * A key that is equal for ops of the same kind and sizes (they cost the same).
     *
     * @return e.g. {@code CONV[2, 320, 320, 3, 1, 64, 64, 1]}
     */
    public String shapeKey() {
        return kind + Arrays.toString(dims);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Op other && block.equals(other.block) && part.equals(other.part)
                && kind == other.kind && Arrays.equals(dims, other.dims);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * (31 * block.hashCode() + part.hashCode()) + kind.hashCode())
                + Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s/%s %s", block, part, shapeKey());
    }
}
