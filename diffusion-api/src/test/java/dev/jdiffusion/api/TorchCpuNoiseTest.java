package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * Accuracy of the float math behind {@link TorchCpuNoise} against the correctly rounded functions
 * of {@link Math}, over every input the Box–Muller step can see: u1 = 1 − u and u2 = u take the
 * 2²⁴ values k·2⁻²⁴, so each check is exhaustive.
 */
class TorchCpuNoiseTest {

    private static final int UNIFORMS = 1 << 24;
    private static final float TWO_PI = (float) (2.0 * Math.PI);

    @Test
    void generatorIsMt19937() {
        // C++ [rand.predef]: the 10000th output of a default-constructed std::mt19937 (seed 5489)
        // is 4123659995.
        TorchCpuNoise noise = new TorchCpuNoise(5489);
        int value = 0;
        for (int i = 0; i < 10_000; i++) {
            value = noise.nextInt();
        }
        assertThat(Integer.toUnsignedLong(value)).isEqualTo(4123659995L);
    }

    @Test
    void logIsWithinOneUlpOfMathLogForEveryBoxMullerInput() {
        double maxRelative = 0;
        long maxUlps = 0;
        for (int k = 1; k < UNIFORMS; k++) { // u1 = k·2⁻²⁴ in (0, 1); ln 1 = 0 is checked below
            float u1 = k * 0x1.0p-24f;
            double exact = Math.log(u1);
            float ours = TorchCpuNoise.FloatMath.log(u1);
            maxRelative = Math.max(maxRelative, Math.abs(ours - exact) / -exact);
            maxUlps = Math.max(maxUlps, ulps(ours, (float) exact));
        }
        // Measured: 1 ulp, 8.04e-8 relative (Cephes logf; 7 % of results are not the nearest).
        assertThat(maxUlps).isLessThanOrEqualTo(1);
        assertThat(maxRelative).isLessThan(1e-7);
        assertThat(TorchCpuNoise.FloatMath.log(1f)).isZero();
    }

    @Test
    void sinAndCosAreWithinOneUlpAwayFromZeroForEveryBoxMullerAngle() {
        float[] out = new float[2];
        double maxAbsolute = 0;
        long maxUlps = 0;
        for (int k = 0; k < UNIFORMS; k++) {
            float theta = TWO_PI * (k * 0x1.0p-24f); // θ as the kernel rounds it
            TorchCpuNoise.FloatMath.polar(1f, theta, out, 0, 1);
            double cos = Math.cos(theta);
            double sin = Math.sin(theta);
            maxAbsolute = Math.max(maxAbsolute, Math.abs(out[0] - cos));
            maxAbsolute = Math.max(maxAbsolute, Math.abs(out[1] - sin));
            // Near a zero of sin or cos the ulp shrinks faster than the reduction error; there
            // the absolute bound is the meaningful one.
            if (Math.abs(cos) >= 0.125) {
                maxUlps = Math.max(maxUlps, ulps(out[0], (float) cos));
            }
            if (Math.abs(sin) >= 0.125) {
                maxUlps = Math.max(maxUlps, ulps(out[1], (float) sin));
            }
        }
        // Measured: 1 ulp for |value| >= 1/8 and 7.8e-8 absolute everywhere (Cephes sinf/cosf).
        assertThat(maxUlps).isLessThanOrEqualTo(1);
        assertThat(maxAbsolute).isLessThan(1e-7);
    }

    @Test
    void blockDrawsStayCloseToBoxMullerInDoublePrecision() {
        int count = 1 << 20;
        float[] ours = new TorchCpuNoise(2024).randn(count);
        // The same uniforms, through ln, sin and cos in double precision.
        TorchCpuNoise bits = new TorchCpuNoise(2024);
        float[] uniforms = new float[count];
        for (int i = 0; i < count; i++) {
            uniforms[i] = (bits.nextInt() & 0xFFFFFF) * 0x1.0p-24f;
        }
        double maxError = 0;
        for (int block = 0; block < count; block += 16) {
            for (int j = block; j < block + 8; j++) {
                double radius = Math.sqrt(-2 * Math.log(1f - uniforms[j]));
                float theta = TWO_PI * uniforms[j + 8];
                double cos = radius * Math.cos(theta);
                double sin = radius * Math.sin(theta);
                maxError = Math.max(maxError, relativeAbove1(ours[j], cos));
                maxError = Math.max(maxError, relativeAbove1(ours[j + 8], sin));
            }
        }
        // Measured: 2.1e-7 (relative, absolute below 1): a few float ulps from the exact transform.
        assertThat(maxError).isLessThan(5e-7);
    }

    /** |value − exact| relative to max(1, |exact|): absolute for small values. */
    private static double relativeAbove1(float value, double exact) {
        return Math.abs(value - exact) / Math.max(1, Math.abs(exact));
    }

    private static long ulps(float a, float b) {
        return Math.abs((long) Float.floatToRawIntBits(a) - Float.floatToRawIntBits(b));
    }
}
