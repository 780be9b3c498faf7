package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.AutoencoderTinyTest.fixture;
import static dev.jdiffusion.djl.nn.AutoencoderTinyTest.relativeError;
import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Tiled VAE encode/decode against diffusers' {@code enable_tiling} (v0.27.2) on a random VAE
 * with sample_size 16 (8-latent tiles, stride 6, 4-pixel blends): latents 20×14 are 4×3 tiles,
 * the last ones partial (fixtures by scripts/reference/make_decoder_fixtures.py).
 */
class TiledVaeTest {

    @Test
    void tiledDecodeAndEncodeMatchDiffusers() throws Exception {
        Path dir = fixture("tiled");
        Path vaeDir = dir.resolve("vae");
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"));
                SafetensorsFile weights = SafetensorsFile.open(
                        vaeDir.resolve("diffusion_pytorch_model.safetensors"))) {
            AutoencoderKL vae = new AutoencoderKL(
                    AutoencoderKLConfig.fromJson(vaeDir.resolve("config.json")));
            StateDict.load("vae", ParameterNames.of(vae), List.of(weights),
                    KeyMapping.identity(), m, DataType.FLOAT32);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray latents = ref.read("in.latents", m);
            NDArray pixels = ref.read("in.pixels", m);

            NDArray tiled = vae.decodeTiled(ps, latents);
            assertThat(tiled.getShape()).isEqualTo(new Shape(2, 3, 40, 28));
            assertThat(relativeError(tiled, ref.read("decoded.tiled", m))).isLessThan(1e-4);
            // tiling really changes the result: the plain decode is another image
            assertThat(relativeError(vae.decode(ps, latents, false), ref.read("decoded.plain", m)))
                    .isLessThan(1e-4);
            assertThat(relativeError(tiled, ref.read("decoded.plain", m))).isGreaterThan(1e-2);

            NDArray mean = vae.encodeTiled(ps, pixels).get(0);
            assertThat(mean.getShape()).isEqualTo(new Shape(1, 4, 20, 13));
            assertThat(relativeError(mean, ref.read("encoded.tiled", m))).isLessThan(1e-4);
            assertThat(relativeError(mean, ref.read("encoded.plain", m))).isGreaterThan(1e-2);

            // no larger than a tile: decoded whole, exactly as decode
            NDArray small = latents.get(":, :, :8, :8");
            assertThat(vae.decodeTiled(ps, small).toFloatArray())
                    .containsExactly(vae.decode(ps, small, false).toFloatArray());
        }
    }

    @Test
    void blendsAreLinearRamps() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            NDArray a = m.full(new Shape(1, 1, 6, 3), 1f);
            NDArray b = m.zeros(new Shape(1, 1, 5, 3));
            float[] v = TiledVae.blendV(a, b, 4).toFloatArray();
            // rows 0..3 of b get (1 - y/4) of a's last rows, row 4 stays
            float[] expected = {1f, 0.75f, 0.5f, 0.25f, 0f};
            for (int y = 0; y < 5; y++) {
                for (int x = 0; x < 3; x++) {
                    assertThat(v[y * 3 + x]).isEqualTo(expected[y]);
                }
            }
            float[] h = TiledVae.blendH(a.get(":, :, :, :2"), m.zeros(new Shape(1, 1, 6, 3)), 4)
                    .toFloatArray(); // extent limited to a's 2 columns
            assertThat(h[0]).isEqualTo(1f);
            assertThat(h[1]).isEqualTo(0.5f);
            assertThat(h[2]).isEqualTo(0f);
        }
    }
}
