package dev.jdiffusion.djl.nn;

import static dev.jdiffusion.djl.nn.TinyModels.allFinite;
import static dev.jdiffusion.djl.nn.TinyModels.gaussian;
import static dev.jdiffusion.djl.nn.TinyModels.init;
import static dev.jdiffusion.djl.nn.TinyModels.std;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import org.junit.jupiter.api.Test;

class AutoencoderKLTest {

    @Test
    void encodesAndDecodesTinyImages() {
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(TinyModels.VAE));
        try (NDManager base = NDManager.newBaseManager("PyTorch")) {
            NDManager params = base.newSubManager();
            init(vae, params, 3);
            int paramArrays = ((BaseNDManager) params).getManagedArrays().size();
            try (NDManager m = base.newSubManager()) {
                NDArray pixels = gaussian(m, 1, 2, 3, 16, 12).tanh();
                int before = ((BaseNDManager) m).getManagedArrays().size();
                NDList posterior = vae.encode(pixels);
                assertThat(posterior).hasSize(2);
                assertThat(posterior.get(0).getShape()).isEqualTo(new Shape(2, 4, 8, 6));
                assertThat(posterior.get(1).getShape()).isEqualTo(new Shape(2, 4, 8, 6));
                float[] mean = posterior.get(0).toFloatArray();
                assertThat(allFinite(mean)).isTrue();
                assertThat(std(mean)).isGreaterThan(1e-4);
                assertThat(posterior.get(1).max().getFloat()).isLessThanOrEqualTo(20f);
                assertThat(vae.encode(pixels).get(0).toFloatArray()).containsExactly(mean);

                NDArray image = vae.decode(posterior.get(0));
                assertThat(image.getShape()).isEqualTo(new Shape(2, 3, 16, 12));
                assertThat(allFinite(image.toFloatArray())).isTrue();
                NDArray roundTrip = vae.forward(new ParameterStore(m, false), new NDList(pixels),
                        false).singletonOrThrow();
                assertThat(roundTrip.toFloatArray()).containsExactly(image.toFloatArray());
                // the training path (no in-place ops) decodes the same; the engine may pick
                // other convolution kernels for parameters that track gradients, hence 1e-5
                NDArray trainingPath = vae.decode(new ParameterStore(m, false),
                        posterior.get(0), true);
                float maxDiff = trainingPath.sub(image).abs().max().getFloat();
                assertThat(maxDiff).isLessThan(1e-5f);
                // encode ×2 (2 arrays each), max, decode ×2, diff (sub, abs, max), forward:
                // only results remain
                assertThat(((BaseNDManager) m).getManagedArrays())
                        .hasSize(before + 2 + 1 + 2 + 1 + 1 + 1 + 3);

                assertThatThrownBy(() -> vae.encode(gaussian(m, 1, 1, 3, 15, 12)))
                        .isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("multiples of 2");
                assertThatThrownBy(() -> vae.decode(gaussian(m, 1, 1, 3, 4, 4)))
                        .hasMessageContaining("(N, 4, h, w)");
            }
            assertThat(((BaseNDManager) params).getManagedArrays()).hasSize(paramArrays);
        }
    }

    @Test
    void midBlockAttentionIsSingleHeadWithGroupNorm() {
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(TinyModels.VAE));
        var names = ParameterNames.of(vae);
        assertThat(names.get("encoder.mid_block.attentions.0.to_q.weight").getShape())
                .isEqualTo(new Shape(64, 64));
        assertThat(names.get("decoder.mid_block.attentions.0.group_norm.weight").getShape())
                .isEqualTo(new Shape(64));
        assertThat(names.get("decoder.up_blocks.1.resnets.1.conv1.weight").getShape())
                .isEqualTo(new Shape(32, 32, 3, 3));
        assertThat(names).doesNotContainKey("decoder.up_blocks.1.upsamplers.0.conv.weight")
                .containsKey("decoder.up_blocks.0.upsamplers.0.conv.weight")
                .containsKey("encoder.down_blocks.0.downsamplers.0.conv.weight")
                .containsKey("quant_conv.weight").containsKey("post_quant_conv.weight");
        AutoencoderKL plain = new AutoencoderKL(AutoencoderKLConfig.fromJson(TinyModels.VAE
                .replace("\"latent_channels\"", "\"mid_block_add_attention\": false, "
                        + "\"use_quant_conv\": false, \"latent_channels\"")));
        assertThat(ParameterNames.of(plain).keySet())
                .noneMatch(k -> k.contains("attentions") || k.startsWith("quant_conv"));
    }
}
