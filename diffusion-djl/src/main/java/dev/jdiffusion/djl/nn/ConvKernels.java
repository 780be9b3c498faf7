package dev.jdiffusion.djl.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Locale;

/**
 * Two CPU inference paths for 2-D convolutions, built from ordinary engine operations:
 *
 * <ul>
 *   <li><b>im2col + GEMM</b> for convolutions with few output positions. oneDNN's direct
 *       convolution is slow when a large weight meets a small image: SD 1.5's 1280-channel 3×3
 *       convolutions at 8×8 and 16×16 latents ran 1.6–2.4× faster as one matrix product over
 *       the unfolded input (docs/benchmarks.md), while at 32×32 (1024 positions) oneDNN was
 *       faster. {@link #prefersGemm} draws the line at {@link #GEMM_MAX_POSITIONS}.</li>
 *   <li><b>channels-last</b> memory order: {@link #channelsLast} gives an (N, C, H, W) array
 *       NHWC strides; convolutions, ReLU, SiLU and nearest upsampling keep that order, so a
 *       network made of them (TAESD) runs without oneDNN's layout reorders around each
 *       convolution. {@link #rowMajor} restores the default order.</li>
 * </ul>
 *
 * <p>Both give the plain convolution's results up to float rounding (the GEMM sums in another
 * order: about 1e-6 relative). They are meant for inference; training keeps DJL's convolution.
 * The system property {@value #PROPERTY} set to {@code plain} turns both off.
 *
 * <p>Stateless and thread-safe.
 */
final class ConvKernels {

    /** The system property that selects the kernels: {@code auto} (default) or {@code plain}. */
    static final String PROPERTY = "jdiffusion.conv";

    /**
     * The most output positions (N·H'·W') a k×k convolution (k > 1) is computed for as im2col +
     * GEMM. On the 2-core VM of docs/benchmarks.md a lone 1280-channel convolution was 1.7×
     * faster as GEMM at 256 positions (16×16) and 1.5× at 512 (16×16, batch 2), and 1.2× slower
     * at 1024 (640 channels, 32×32). Inside whole UNet forwards (bench section {@code kernels})
     * a limit of 512 made the guided step (batch 2) 3.5 % slower, while with 256 it was
     * unchanged within the machine's noise (0.93–1.02× in two runs) and the unguided forward
     * 1.13–1.18× faster: the unfolded input (47 MiB at 512 positions and 2560 channels) costs
     * more than it saves.
     */
    static final long GEMM_MAX_POSITIONS = 256;

    /**
     * The fewest weight elements (O·C·k²) a convolution needs for the GEMM path: below it the
     * extra engine calls of the unfolding cost more than they save (640 channels: 3.7 M elements,
     * equal times at 8×8; SD 1.5's 1280 channels: 14.7 M, 2× faster).
     */
    static final long GEMM_MIN_WEIGHT = 1L << 22;

    private ConvKernels() {}

    /**
     * Whether the kernels are enabled.
     *
     * @return false if {@value #PROPERTY} is {@code plain}
     */
    static boolean enabled() {
        return !System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT)
                .equals("plain");
    }

    /**
     * Whether a convolution in inference is better computed as im2col + GEMM: on the CPU,
     * float32, a kernel larger than 1×1, at least {@link #GEMM_MIN_WEIGHT} weight elements and
     * at most {@link #GEMM_MAX_POSITIONS} output positions.
     *
     * @param x the input (N, C, H, W)
     * @param out the output channels O
     * @param kernel the kernel side k
     * @param stride the stride
     * @param padding the zero padding on each side
     * @return true if {@link #gemm} should be used
     */
    static boolean prefersGemm(NDArray x, long out, long kernel, long stride, long padding) {
        if (kernel <= 1 || x.getDevice().isGpu() || x.getDataType() != DataType.FLOAT32) {
            return false;
        }
        Shape s = x.getShape();
        if (out * s.get(1) * kernel * kernel < GEMM_MIN_WEIGHT) {
            return false;
        }
        return s.get(0) * outputSide(s.get(2), kernel, stride, padding)
                * outputSide(s.get(3), kernel, stride, padding) <= GEMM_MAX_POSITIONS
                && enabled();
    }

    /** (in + 2·padding − kernel) / stride + 1. */
    private static long outputSide(long in, long kernel, long stride, long padding) {
        return (in + 2 * padding - kernel) / stride + 1;
    }

    /**
     * A square-kernel convolution (dilation 1, one group) as one matrix product over the
     * unfolded input: the k² shifted (and strided) windows of the padded input are stacked
     * behind each channel, which is the order of the weight's (C, k, k) axes.
     *
     * @param x the input (N, C, H, W)
     * @param w the weight (O, C, k, k), same data type and device as {@code x}
     * @param b the bias (O)
     * @param padding the zero padding on each side
     * @param stride the stride
     * @return (N, O, H', W'), on the manager of {@code x}
     */
    static NDArray gemm(NDArray x, NDArray w, NDArray b, long padding, long stride) {
        return Layers.scoped(() -> {
            Shape s = x.getShape();
            long n = s.get(0);
            long c = s.get(1);
            long o = w.getShape().get(0);
            long k = w.getShape().get(2);
            long oh = outputSide(s.get(2), k, stride, padding);
            long ow = outputSide(s.get(3), k, stride, padding);
            NDArray padded = padding == 0 ? x
                    : x.pad(new Shape(padding, padding, padding, padding), 0);
            NDList windows = new NDList();
            for (long i = 0; i < k; i++) {
                for (long j = 0; j < k; j++) {
                    windows.add(padded.get(":, :, {}:{}:{}, {}:{}:{}", i,
                            i + stride * (oh - 1) + 1, stride, j, j + stride * (ow - 1) + 1,
                            stride));
                }
            }
            NDArray cols = NDArrays.stack(windows, 2).reshape(n, c * k * k, oh * ow);
            NDArray y = w.reshape(o, c * k * k).matMul(cols); // (N, O, H'·W')
            return y.addi(b.reshape(1, o, 1)).reshape(n, o, oh, ow);
        });
    }

    /**
     * The same values with channels-last (NHWC) strides.
     *
     * @param x an (N, C, H, W) array
     * @return a new array of the same shape, on the manager of {@code x}
     */
    static NDArray channelsLast(NDArray x) {
        Shape s = x.getShape();
        // the reshape of the permuted view copies it in N, H, W, C order; permuting back gives
        // the (N, C, H, W) view of that memory
        return Layers.scoped(() -> x.transpose(0, 2, 3, 1)
                .reshape(s.get(0), s.get(2) * s.get(3) * s.get(1))
                .reshape(s.get(0), s.get(2), s.get(3), s.get(1))
                .transpose(0, 3, 1, 2));
    }

    /**
     * The same values in the default (row-major) memory order.
     *
     * @param x an (N, C, H, W) array, channels-last or not
     * @return a new array (or a view of {@code x} when it is already row-major), on the
     *     manager of {@code x}
     */
    static NDArray rowMajor(NDArray x) {
        Shape s = x.getShape();
        // reshaping a channels-last array to (N, C·H·W) copies it in row-major order
        return Layers.scoped(() -> x.reshape(s.get(0), -1).reshape(s));
    }
}
