package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * {@link AutoencoderTiny} against diffusers' {@code AutoencoderTiny} (v0.27.2) on random weights:
 * fixtures written by scripts/reference/make_decoder_fixtures.py (a 4-stage ReLU TAESD with 4
 * latent channels, and a 3-stage SiLU one with 16).
 */
class AutoencoderTinyTest {

    static Path fixture(String name) {
        try {
            return Path.of(AutoencoderTinyTest.class.getResource("/reference/" + name).toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("fixture folder reference/" + name + " is missing", e);
        }
    }

    /** max |a − b| / max |b|. */
    static double relativeError(NDArray actual, NDArray expected) {
        assertThat(actual.getShape()).isEqualTo(expected.getShape());
        return actual.sub(expected).abs().max().getFloat() / expected.abs().max().getFloat();
    }

    static AutoencoderTiny load(Path dir, NDManager m) throws Exception {
        AutoencoderTiny taesd = new AutoencoderTiny(
                AutoencoderTinyConfig.fromJson(dir.resolve("config.json")));
        try (SafetensorsFile f = SafetensorsFile.open(
                dir.resolve("diffusion_pytorch_model.safetensors"))) {
            StateDict.load("taesd", ParameterNames.of(taesd), List.of(f), KeyMapping.identity(),
                    m, DataType.FLOAT32);
        }
        return taesd;
    }

    @ParameterizedTest
    @ValueSource(strings = {"taesd", "taesd-silu"})
    void encodeAndDecodeMatchDiffusers(String name) throws Exception {
        Path dir = fixture(name);
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile ref = SafetensorsFile.open(dir.resolve("reference.safetensors"))) {
            AutoencoderTiny taesd = load(dir, m);
            ParameterStore ps = new ParameterStore(m, false);
            NDArray encoded = taesd.encode(ps, ref.read("in.pixels", m), false);
            NDArray decoded = taesd.decode(ps, ref.read("in.latents", m), false);
            NDArray expected = ref.read("decoded", m);
            assertThat(relativeError(encoded, ref.read("encoded", m))).isLessThan(1e-4);
            assertThat(relativeError(decoded, expected)).isLessThan(1e-4);
            // the inputs reach the soft clamp: |z| up to ~6 becomes < 3
            assertThat(ref.read("in.latents", m).abs().max().getFloat()).isGreaterThan(3f);
            // encode → decode keeps the image size
            assertThat(taesd.decode(encoded).getShape().slice(2))
                    .isEqualTo(ref.read("in.pixels", m).getShape().slice(2));
        }
    }

    @Test
    void rejectsWrongInputsWithClearMessages() throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            AutoencoderTiny taesd = load(fixture("taesd"), m);
            assertThatThrownBy(() -> taesd.decode(m.zeros(new Shape(1, 16, 4, 4))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("latents must be (N, 4, h, w)");
            assertThatThrownBy(() -> taesd.encode(m.zeros(new Shape(1, 3, 60, 64))))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("multiples of 8");
        }
        assertThatThrownBy(() -> AutoencoderTinyConfig.fromJson(
                "{\"_class_name\": \"AutoencoderKL\", \"latent_channels\": 4}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not AutoencoderTiny");
        assertThatThrownBy(() -> AutoencoderTinyConfig.fromJson(
                "{\"encoder_block_out_channels\": [8, 16]}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must all be equal");
        assertThatThrownBy(() -> AutoencoderTinyConfig.fromJson("{\"act_fn\": \"mish\"}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("act_fn");
    }

    @Test
    void defaultConfigurationIsTaesd() {
        AutoencoderTinyConfig c = AutoencoderTinyConfig.fromJson("{}");
        assertThat(c.downsampleFactor()).isEqualTo(8);
        assertThat(c.scalingFactor()).isEqualTo(1f);
        // TAESD: 2.4 M parameters in all (1.2 M each half); diffusers' count for the default
        long n = ParameterNames.of(new AutoencoderTiny(c)).values().stream()
                .mapToLong(p -> p.getShape().size()).sum();
        assertThat(n).isEqualTo(2_445_063L);
    }
}
