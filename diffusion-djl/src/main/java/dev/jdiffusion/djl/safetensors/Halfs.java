package dev.jdiffusion.djl.safetensors;

/**
 * Conversions between IEEE 754 half precision, bfloat16 and single precision, in plain Java
 * (Java 17 has no {@code Float.float16ToFloat}). Stateless and thread-safe.
 */
final class Halfs {

    /** Every half-precision bit pattern's float value (256 KiB, built on first use). */
    private static final class Table {
        static final float[] HALF_TO_FLOAT = new float[65536];

        static {
            for (int h = 0; h < 65536; h++) {
                HALF_TO_FLOAT[h] = convert((short) h);
            }
        }
    }

    private Halfs() {}

    /**
     * Half to float through the table.
     *
     * @param h the half's bits
     * @return the same value as a float (exact)
     */
    static float halfToFloat(short h) {
        return Table.HALF_TO_FLOAT[h & 0xFFFF];
    }

    /**
     * The table itself, for bulk loops.
     *
     * @return the 65536-entry table (do not modify)
     */
    static float[] table() {
        return Table.HALF_TO_FLOAT;
    }

    /**
     * bfloat16 to float: the 16 bits are the upper half of the float.
     *
     * @param b the bfloat16 bits
     * @return the same value as a float (exact)
     */
    static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    /**
     * Whether a half is NaN or infinite.
     *
     * @param h the half's bits
     * @return true when the exponent bits are all ones
     */
    static boolean isHalfNonFinite(short h) {
        return (h & 0x7C00) == 0x7C00;
    }

    /** Exact half-to-float by bit manipulation (used to fill the table). */
    private static float convert(short half) {
        int h = half & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1F;
        int mant = h & 0x3FF;
        if (exp == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) {
            if (mant == 0) {
                return Float.intBitsToFloat(sign);
            }
            // Subnormal: mant * 2^-24.
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /**
     * Float to half, rounding to nearest even; values beyond the half range become infinity,
     * NaN stays NaN.
     *
     * @param f the float
     * @return the half's bits
     */
    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) {
            // Inf stays Inf; NaN keeps a non-zero (quiet) mantissa.
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15;
        if (e >= 0x1F) {
            return (short) (sign | 0x7C00);
        }
        if (e <= 0) {
            // Subnormal half or zero: shift the full significand (with its implicit 1) right.
            if (e < -10) {
                return (short) sign;
            }
            int m = mant | 0x800000;
            int shift = 14 - e; // 13 for the mantissa width difference, +1-e for the exponent
            int half = m >>> shift;
            int rem = m & ((1 << shift) - 1);
            int mid = 1 << (shift - 1);
            if (rem > mid || (rem == mid && (half & 1) != 0)) {
                half++;
            }
            return (short) (sign | half);
        }
        int half = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1FFF;
        if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
            half++; // may carry into the exponent, and up to infinity: both correct
        }
        return (short) (sign | half);
    }
}
