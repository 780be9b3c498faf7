package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.weights.KeyMapping;
import dev.jdiffusion.djl.weights.StateDict;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The VAE as a codec: weight types, force_upcast, and overflow reported instead of drawn. */
class VaeCodecTest {

    private static AutoencoderKL load(NDManager m) throws Exception {
        Path dir = DiffusersParityTest.fixture("sd1").resolve("vae");
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(
                dir.resolve("config.json")));
        try (SafetensorsFile f = SafetensorsFile.open(
                dir.resolve("diffusion_pytorch_model.safetensors"))) {
            StateDict.load("vae", ParameterNames.of(vae), List.of(f), KeyMapping.identity(), m,
                    DataType.FLOAT32);
        }
        return vae;
    }

    @Test
    void aDecodeThatOverflowsIsReportedNotDrawnBlack() throws Exception {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            AutoencoderKL vae = load(m);
            VaeCodec codec = new VaeCodec(vae, m);
            NDArray z = m.randomNormal(new Shape(1, 4, 4, 4));
            NDArray ok = codec.decode(z);
            assertThat(ok.getDataType()).isEqualTo(DataType.FLOAT32);
            assertThat(ok.isNaN().any().getBoolean()).isFalse();
            // One huge weight in the last convolution makes the pixels overflow to ±∞ / NaN.
            Parameter out = ParameterNames.of(vae).get("decoder.conv_out.weight");
            out.getArray().set(new ai.djl.ndarray.index.NDIndex("0"), Float.POSITIVE_INFINITY);
            assertThatThrownBy(() -> codec.decode(z)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("NaN or infinite pixels")
                    .hasMessageContaining("weights are not finite");
        }
    }

    @Test
    void theFloat16AdviceNamesForceUpcast() {
        assertThat(VaeCodec.overflowAdvice(DataType.FLOAT16)).contains("float16")
                .contains("\"force_upcast\": true").contains("vae/config.json");
        assertThat(VaeCodec.overflowAdvice(DataType.FLOAT32)).doesNotContain("force_upcast");
    }

    @Test
    void aForceUpcastVaeStaysFloat32UnderHalfPrecision() throws Exception {
        AutoencoderKLConfig upcast = AutoencoderKLConfig.fromJson(
                DiffusersParityTest.fixture("sd1").resolve("vae/config.json"));
        AutoencoderKLConfig plain = AutoencoderKLConfig.fromJson(upcast.toJson()
                .replace("\"force_upcast\":true", "\"force_upcast\":false")
                .replace("\"force_upcast\" : true", "\"force_upcast\" : false"));
        assertThat(upcast.forceUpcast()).isTrue();
        assertThat(plain.forceUpcast()).isFalse();
        PipelineOptions gpuHalf = new PipelineOptions("gpu:0", true, "euler");
        assertThat(ModelFolder.vaeDataType(gpuHalf, upcast)).isEqualTo(DataType.FLOAT32);
        assertThat(ModelFolder.vaeDataType(gpuHalf, plain)).isEqualTo(DataType.FLOAT16);
        assertThat(ModelFolder.vaeDataType(gpuHalf.withHalf(false), plain))
                .isEqualTo(DataType.FLOAT32);
        // On CPU only the UNet is ever kept in half precision.
        assertThat(ModelFolder.vaeDataType(new PipelineOptions("cpu", true, "euler"), plain))
                .isEqualTo(DataType.FLOAT32);
    }
}
