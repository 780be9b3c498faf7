package dev.jdiffusion.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class NoiseSourceTest {

    @Test
    void smallDrawsMatchTorchRandnForSeed42() {
        // torch.manual_seed(42); torch.randn(4) -> 0.3367, 0.1288, 0.2345, 0.2303
        float[] v = NoiseSource.seeded(42).randn(4);
        assertThat(v[0]).isCloseTo(0.3367f, within(1e-4f));
        assertThat(v[1]).isCloseTo(0.1288f, within(1e-4f));
        assertThat(v[2]).isCloseTo(0.2345f, within(1e-4f));
        assertThat(v[3]).isCloseTo(0.2303f, within(1e-4f));
    }

    @Test
    void sameSeedSameValuesDifferentSeedDifferentValues() {
        float[] a = NoiseSource.seeded(7).randn(1000);
        float[] b = NoiseSource.seeded(7).randn(1000);
        float[] c = NoiseSource.seeded(8).randn(1000);
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(c);
    }

    @Test
    void largeDrawsAreStandardNormal() {
        float[] v = NoiseSource.seeded(1).randn(200_003);
        double sum = 0;
        double sq = 0;
        for (float f : v) {
            sum += f;
            sq += f * f;
        }
        double mean = sum / v.length;
        double var = sq / v.length - mean * mean;
        // Standard errors: mean 1/sqrt(n) ~ 0.0022, variance sqrt(2/n) ~ 0.0032.
        assertThat(mean).isCloseTo(0, within(0.01));
        assertThat(var).isCloseTo(1, within(0.015));
    }
}
