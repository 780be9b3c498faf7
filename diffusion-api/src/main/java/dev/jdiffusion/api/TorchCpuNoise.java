package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Java re-implementation of PyTorch's CPU {@code randn}: an MT19937 engine seeded like {@code
 * torch.manual_seed}, float uniforms from 24 random bits, and PyTorch's two normal transforms —
 * Box–Muller over blocks of 16 for tensors of at least 16 elements, and the scalar double-precision
 * path (which caches the second value of each pair) for smaller ones.
 *
 * <p>For tensors of at least 16 elements, x86-64 PyTorch builds run the AVX2 kernel {@code
 * normal_fill_16_AVX2} (also on AVX-512 CPUs, where the normal kernel is not dispatched to
 * AVX-512), whose log, sin and cos are the single-precision Cephes algorithms of {@code
 * avx_mathfun.h}. {@link FloatMath} evaluates the same algorithms with the same float roundings,
 * so the values equal that PyTorch's bit for bit (checked on 12.6 million values against DJL's
 * libtorch 2.7.1); builds without AVX2 (e.g. aarch64) use libm and differ by a few ulp.
 */
final class TorchCpuNoise implements NoiseSource {

    private static final int N = 624;
    private static final int M = 397;
    private static final int UPPER_MASK = 0x80000000;
    private static final int LOWER_MASK = 0x7fffffff;
    private static final int MATRIX_A = 0x9908b0df;

    /** Box–Muller block size of PyTorch's vectorised {@code normal_fill}. */
    private static final int BLOCK = 16;
    private static final int HALF_BLOCK = BLOCK / 2;

    /** {@code _mm256_set1_ps(2.0f * c10::pi<double>)}: 2π rounded to float. */
    private static final float TWO_PI = (float) (2.0 * Math.PI);

    private final int[] mt = new int[N];
    private int index;
    private double cachedNormal;
    private boolean hasCachedNormal;

    TorchCpuNoise(long seed) {
        mt[0] = (int) seed;
        for (int i = 1; i < N; i++) {
            mt[i] = 1812433253 * (mt[i - 1] ^ (mt[i - 1] >>> 30)) + i;
        }
        index = N;
    }

    @Override
    public NDArray randn(NDManager manager, Shape shape) {
        long size = shape.size();
        if (size > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("noise tensor too large: " + shape);
        }
        return manager.create(randn((int) size), shape);
    }

    @Override
    public float[] randn(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0 (got " + count + ")");
        }
        float[] out = new float[count];
        if (count >= BLOCK) {
            fillBlocks(out);
        } else {
            for (int i = 0; i < count; i++) {
                out[i] = (float) nextDoubleNormal();
            }
        }
        return out;
    }

    /** PyTorch's {@code normal_fill}: uniforms for all, Box–Muller per 16, redo a ragged tail. */
    private void fillBlocks(float[] data) {
        int size = data.length;
        fillFloatUniforms(data, 0, size);
        for (int i = 0; i + BLOCK <= size; i += BLOCK) {
            boxMuller16(data, i);
        }
        if (size % BLOCK != 0) {
            int start = size - BLOCK;
            fillFloatUniforms(data, start, size);
            boxMuller16(data, start);
        }
    }

    /**
     * Turns 16 uniforms in [0, 1) into 16 normals: u1 = 1 − data[j] (so log sees (0, 1]) and u2 =
     * data[j + 8] give radius √(−2 ln u1) and angle θ = 2π·u2; data[j] = radius·cos θ and data[j +
     * 8] = radius·sin θ.
     */
    private static void boxMuller16(float[] data, int offset) {
        for (int j = offset; j < offset + HALF_BLOCK; j++) {
            float u1 = 1f - data[j];
            float u2 = data[j + HALF_BLOCK];
            float radius = (float) Math.sqrt(-2f * FloatMath.log(u1));
            FloatMath.polar(radius, TWO_PI * u2, data, j, j + HALF_BLOCK);
        }
    }

    /**
     * The single-precision Cephes log and sin/cos (S. L. Moshier's {@code logf}, {@code sinf},
     * {@code cosf}) in the form of J. Pommier's {@code avx_mathfun.h} that PyTorch's AVX2 normal
     * kernel calls, with the fused multiply-adds GCC forms from its separate multiplies and adds
     * (the first multiply feeding an add is fused). Every {@link Math#fma} and every plain float
     * operation below mirrors one rounding of that kernel; reordering them changes the last bit.
     * {@link Math#fma} is one instruction on every CPU with FMA (all AVX2 x86-64 CPUs, all
     * aarch64); without it the JDK computes the same value slowly.
     *
     * <p>Accuracy against the correctly rounded functions over every input the Box–Muller step can
     * see is checked by {@code TorchCpuNoiseTest}.
     */
    static final class FloatMath {

        /** The 23 stored mantissa bits of a float, and the exponent field of ½. */
        private static final int MANTISSA_MASK = 0x007fffff;
        private static final int HALF_EXPONENT = 0x3f000000;
        /** Stored mantissa bits of √½: a smaller m is doubled, keeping f = m − 1 near 0. */
        private static final int SQRT_HALF_MANTISSA =
                Float.floatToRawIntBits(0.707106781186547524f) & MANTISSA_MASK;
        /** ln 2 split into 0.693359375 (exact in 9 bits) plus a small correction. */
        private static final float LN2_HI = 0.693359375f;
        private static final float LN2_LO = -2.12194440e-4f;
        /** Cephes {@code logf} polynomial: ln(1 + x) ≈ x − x²/2 + x³·P(x), P of degree 8. */
        private static final float LOG_P0 = 7.0376836292E-2f;
        private static final float LOG_P1 = -1.1514610310E-1f;
        private static final float LOG_P2 = 1.1676998740E-1f;
        private static final float LOG_P3 = -1.2420140846E-1f;
        private static final float LOG_P4 = 1.4249322787E-1f;
        private static final float LOG_P5 = -1.6668057665E-1f;
        private static final float LOG_P6 = 2.0000714765E-1f;
        private static final float LOG_P7 = -2.4999993993E-1f;
        private static final float LOG_P8 = 3.3333331174E-1f;

        /** 4/π, to find the octant of θ. */
        private static final float FOUR_OVER_PI = 1.27323954473516f;
        /** π/4 split in three floats (Cody–Waite) so θ − k·π/4 loses no bits. */
        private static final float PI_4_A = 0.78515625f;
        private static final float PI_4_B = 2.4187564849853515625e-4f;
        private static final float PI_4_C = 3.77489497744594108e-8f;
        /** Cephes {@code cosf} on [−π/4, π/4]: 1 − x²/2 + x⁴·C(x²). */
        private static final float COS_C0 = 2.443315711809948E-005f;
        private static final float COS_C1 = -1.388731625493765E-003f;
        private static final float COS_C2 = 4.166664568298827E-002f;
        /** Cephes {@code sinf} on [−π/4, π/4]: x + x³·S(x²). */
        private static final float SIN_S0 = -1.9515295891E-4f;
        private static final float SIN_S1 = 8.3321608736E-3f;
        private static final float SIN_S2 = -1.6666654611E-1f;

        private FloatMath() {}

        /**
         * Natural logarithm of a positive normal float: with x = m·2^e, m in [½, 1), moved to
         * [√½, √2) by m ← 2m, e ← e − 1 when m < √½, ln x = e·ln 2 + ln(1 + f) with f = m − 1.
         */
        static float log(float x) {
            int bits = Float.floatToRawIntBits(x);
            int mantissa = bits & MANTISSA_MASK;
            // −1 when m < √½ (the 23 stored bits compare like m itself), else 0; no branch, as
            // the comparison is a coin flip on random input.
            int below = (mantissa - SQRT_HALF_MANTISSA) >> 31;
            float e = (bits >>> 23) - 126 + below;
            float m = Float.intBitsToFloat(mantissa | HALF_EXPONENT); // in [½, 1)
            // f = m − 1, or (m − 1) + m = 2m − 1 (exact) when below.
            float f = (m - 1f) + Float.intBitsToFloat(Float.floatToRawIntBits(m) & below);
            float z = f * f;
            float p = Math.fma(LOG_P0, f, LOG_P1); // Horner, one rounding per step
            p = Math.fma(p, f, LOG_P2);
            p = Math.fma(p, f, LOG_P3);
            p = Math.fma(p, f, LOG_P4);
            p = Math.fma(p, f, LOG_P5);
            p = Math.fma(p, f, LOG_P6);
            p = Math.fma(p, f, LOG_P7);
            p = Math.fma(p, f, LOG_P8);
            float y = Math.fma(p * f, z, e * LN2_LO); // f³·P(f) + e·ln2_lo
            y = Math.fma(z, -0.5f, y); // − f²/2
            float sum = f + y;
            return Math.fma(e, LN2_HI, sum);
        }

        /**
         * Writes radius·cos θ to {@code out[cosAt]} and radius·sin θ to {@code out[sinAt]}, for θ
         * in [0, 2π] (the kernel's θ = 2π·u2 is never negative, so its handling of the sign of θ is
         * left out). The octant ⌊4θ/π⌋ rounded up to even, j, gives x = θ − j·π/4 in [−π/4, π/4];
         * by the quadrant j/2 either the sin or the cos polynomial of x serves, with a sign.
         */
        static void polar(float radius, float theta, float[] out, int cosAt, int sinAt) {
            int octant = ((int) (theta * FOUR_OVER_PI) + 1) & ~1;
            float k = octant;
            float x = Math.fma(k, -PI_4_A, theta);
            x = Math.fma(k, -PI_4_B, x);
            x = Math.fma(k, -PI_4_C, x);
            float z = x * x;

            float c = Math.fma(COS_C0, z, COS_C1);
            c = Math.fma(c, z, COS_C2);
            c = Math.fma(c * z, z, -(z * 0.5f)); // x⁴·C(x²) − x²/2
            c = c + 1f;

            float s = Math.fma(SIN_S0, z, SIN_S1);
            s = Math.fma(s, z, SIN_S2);
            s = Math.fma(s * z, x, x); // x + x³·S(x²)

            // Quadrants 1 and 3 (octant & 2) swap the polynomials: sin θ = ±cos x, cos θ = ∓sin x.
            // sin θ < 0 for octant 4..7; cos θ < 0 for octant 2..5, i.e. when (octant − 2) & 4 = 0.
            // Selected with bit masks, not branches, as octants are random.
            int sBits = Float.floatToRawIntBits(s);
            int cBits = Float.floatToRawIntBits(c);
            int swap = (sBits ^ cBits) & -((octant >> 1) & 1);
            int sinSign = (octant & 4) << 29;
            int cosSign = (~(octant - 2) & 4) << 29;
            out[cosAt] = radius * Float.intBitsToFloat(cBits ^ swap ^ cosSign);
            out[sinAt] = radius * Float.intBitsToFloat(sBits ^ swap ^ sinSign);
        }
    }

    /** PyTorch's {@code normal_distribution<double>}, with its cached second value. */
    private double nextDoubleNormal() {
        if (hasCachedNormal) {
            hasCachedNormal = false;
            return cachedNormal;
        }
        double u1 = nextDoubleUniform();
        double u2 = nextDoubleUniform();
        double r = Math.sqrt(-2.0 * Math.log1p(-u2));
        double theta = 2.0 * Math.PI * u1;
        cachedNormal = r * Math.sin(theta);
        hasCachedNormal = true;
        return r * Math.cos(theta);
    }

    /** {@code uniform_real_distribution<float>(0, 1)} for data[from..to): 24 random bits·2⁻²⁴. */
    private void fillFloatUniforms(float[] data, int from, int to) {
        int i = from;
        while (i < to) {
            if (index >= N) {
                twist();
            }
            int count = Math.min(to - i, N - index);
            toFloatUniforms(mt, index, data, i, count);
            index += count;
            i += count;
        }
    }

    /** Tempers {@code count} state words from {@code mt[at]} into uniforms at {@code data[to]}. */
    private static void toFloatUniforms(int[] mt, int at, float[] data, int to, int count) {
        for (int k = 0; k < count; k++) {
            data[to + k] = (temper(mt[at + k]) & 0xFFFFFF) * 0x1.0p-24f;
        }
    }

    private double nextDoubleUniform() {
        long hi = nextInt() & 0xFFFFFFFFL;
        long lo = nextInt() & 0xFFFFFFFFL;
        long bits = (hi << 32) | lo;
        return (bits & ((1L << 53) - 1)) * 0x1.0p-53;
    }

    /** The next raw 32-bit output of the generator (package-private for tests). */
    int nextInt() {
        if (index >= N) {
            twist();
        }
        return temper(mt[index++]);
    }

    /** MT19937 tempering of one state word. */
    private static int temper(int y) {
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y;
    }

    /** Regenerates all 624 state words; split in three loops so no index needs a modulo. */
    private void twist() {
        int i = 0;
        for (; i < N - M; i++) {
            mt[i] = mt[i + M] ^ mix(mt[i], mt[i + 1]);
        }
        for (; i < N - 1; i++) {
            mt[i] = mt[i + M - N] ^ mix(mt[i], mt[i + 1]);
        }
        mt[N - 1] = mt[M - 1] ^ mix(mt[N - 1], mt[0]);
        index = 0;
    }

    /** (upper bit of a | lower 31 bits of b) · A in MT19937's twist: shift, xor A if odd. */
    private static int mix(int a, int b) {
        int y = (a & UPPER_MASK) | (b & LOWER_MASK);
        return (y >>> 1) ^ (-(y & 1) & MATRIX_A);
    }
}
