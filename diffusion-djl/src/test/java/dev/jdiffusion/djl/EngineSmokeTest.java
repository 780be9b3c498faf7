package dev.jdiffusion.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.convolutional.Conv2d;
import dev.jdiffusion.api.NoiseSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** Starts the PyTorch engine offline from the Maven native jars and runs a real op. */
class EngineSmokeTest {

    @Test
    void engineStartsOfflineWithCacheUnderTarget() {
        assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
        String cache = System.getProperty("DJL_CACHE_DIR");
        assertThat(cache).contains("target");
        Engine engine = Engine.getEngine("PyTorch");
        assertThat(engine.getVersion()).isEqualTo("2.7.1");
        assertThat(Files.isDirectory(Paths.get(cache))).isTrue();
    }

    @Test
    void convolutionMatchesHandComputation() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // 1x1x3x3 input 1..9, 1x1x2x2 kernel [[1,0],[0,-1]], bias 0.5, no padding.
            NDArray x = m.arange(1f, 10f).reshape(1, 1, 3, 3);
            NDArray w = m.create(new float[] {1, 0, 0, -1}, new Shape(1, 1, 2, 2));
            NDArray b = m.create(new float[] {0.5f});
            NDArray y = Conv2d.conv2d(x, w, b, new Shape(1, 1), new Shape(0, 0), new Shape(1, 1), 1).singletonOrThrow();
            // out[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere.
            assertThat(y.getShape()).isEqualTo(new Shape(1, 1, 2, 2));
            for (float v : y.toFloatArray()) {
                assertThat(v).isCloseTo(-3.5f, within(1e-6f));
            }
        }
    }

    @Test
    void javaNoiseEqualsTorchRandnOfTheSameSeed() {
        // DJL's global generator after setRandomSeed(s) is torch.manual_seed(s): a reference for
        // our per-request generator, for the vectorised (>= 16, ragged tails included) and scalar
        // (< 16) paths. x86-64 libtorch runs the AVX2 kernel that NoiseSource emulates, so there
        // the vectorised values agree bit for bit; elsewhere (libm kernels) within float rounding.
        boolean x86 = System.getProperty("os.arch").matches("amd64|x86_64");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            for (int size : new int[] {4, 15, 16, 37, 4 * 8 * 8, 4 * 64 * 64 + 5}) {
                Engine.getEngine("PyTorch").setRandomSeed(1234);
                float[] torch = m.randomNormal(new Shape(size)).toFloatArray();
                float[] ours = NoiseSource.seeded(1234).randn(size);
                for (int i = 0; i < size; i++) {
                    assertThat(ours[i]).as("size %d index %d", size, i)
                            .isCloseTo(torch[i], within(2e-6f * Math.max(1, Math.abs(torch[i]))));
                }
                if (x86 && size >= 16) {
                    assertThat(ours).as("size %d", size).containsExactly(torch);
                }
            }
        }
    }

    @Test
    void cacheDirectoryIsFresh() {
        Path cache = Paths.get(System.getProperty("DJL_CACHE_DIR"));
        assertThat(cache.toAbsolutePath().toString()).endsWith(Paths.get("target", "djl-cache").toString());
    }
}
