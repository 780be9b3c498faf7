package dev.jdiffusion.examples.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.examples.bench.Op.Kind;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FlopCounterTest {

    @Test
    void countsATinyUNetAsByHand() {
        // One level of 32 channels, no attention, no mid block, 8×8 input, batch 1.
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson("""
                {"block_out_channels": [32], "down_block_types": ["DownBlock2D"],
                 "up_block_types": ["UpBlock2D"], "mid_block_type": null,
                 "layers_per_block": 1, "norm_num_groups": 8,
                 "in_channels": 4, "out_channels": 4}""");
        List<Op> ops = FlopCounter.unet(c, 1, 8, 8, 77);
        long time = 2L * 32 * 128 + 2L * 128 * 128; // time MLP, temb = 4 · 32
        long convIn = 2L * 4 * 32 * 9 * 64;
        long down = 2 * (2L * 32 * 32 * 9 * 64) + 2L * 128 * 32; // two 3×3 convs + temb proj
        // up: 2 resnets of (32 + 32 skip) → 32: conv1, conv2, 1×1 shortcut, temb proj
        long up = 2 * (2L * 64 * 32 * 9 * 64 + 2L * 32 * 32 * 9 * 64 + 2L * 64 * 32 * 64
                + 2L * 128 * 32);
        long convOut = 2L * 32 * 4 * 9 * 64;
        FlopCounter.Totals t = FlopCounter.totals(ops);
        assertThat(t.gemm()).isEqualTo(time + convIn + down + up + convOut)
                .isEqualTo(10_321_920L);
        assertThat(t.attention()).isZero();
        assertThat(ops.stream().filter(o -> o.kind() == Kind.GROUP_NORM).count())
                .isEqualTo(2 + 4 + 1);
    }

    @Test
    void countsAttentionMatmulsAsByHand() {
        // 32 channels, 2 heads, cross-attention to 5 tokens of width 16, 4×4 input: one
        // transformer in the down block, one after each of the up block's 2 resnets.
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson("""
                {"block_out_channels": [32], "down_block_types": ["CrossAttnDownBlock2D"],
                 "up_block_types": ["CrossAttnUpBlock2D"], "mid_block_type": null,
                 "layers_per_block": 1, "norm_num_groups": 8, "attention_head_dim": 2,
                 "cross_attention_dim": 16, "in_channels": 4, "out_channels": 4}""");
        List<Op> ops = FlopCounter.unet(c, 1, 4, 4, 5);
        long self = 2 * (2L * 16 * 16 * 32); // q·kᵀ and p·v over 16 positions, inner 32
        long cross = 2 * (2L * 16 * 5 * 32);
        assertThat(FlopCounter.totals(ops).attention()).isEqualTo(3 * (self + cross))
                .isEqualTo(129_024L);
        // the cross-attention keys and values project the 5 tokens from width 16
        assertThat(ops).contains(new Op("down_blocks.0", "attention", Kind.LINEAR,
                new long[] {5, 16, 32}));
    }

    @Test
    void reproducesThePublishedStableDiffusionFigures() {
        // Reference: SD 1.5 UNet at 64×64 latents, batch 1, 77 tokens ≈ 803 GFLOP (convs and
        // GEMMs 677, attention 126); VAE decode to 512² ≈ 2,515 GFLOP.
        FlopCounter.Totals u = FlopCounter.totals(FlopCounter.unet(
                UNet2DConditionConfig.fromJson(Sd15Configs.UNET), 1, 64, 64, 77));
        assertThat(u.total() / 1e9).isCloseTo(803, within(8.0));
        assertThat(u.gemm() / 1e9).isCloseTo(677, within(7.0));
        assertThat(u.attention() / 1e9).isCloseTo(126, within(1.5));
        FlopCounter.Totals v = FlopCounter.totals(FlopCounter.vaeDecoder(
                AutoencoderKLConfig.fromJson(Sd15Configs.VAE), 1, 64, 64));
        assertThat(v.total() / 1e9).isCloseTo(2515, within(25.0));
    }

    @Test
    void batchScalesLinearly() {
        UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(Sd15Configs.UNET);
        long one = FlopCounter.totals(FlopCounter.unet(c, 1, 16, 16, 77)).total();
        long two = FlopCounter.totals(FlopCounter.unet(c, 2, 16, 16, 77)).total();
        assertThat(two).isEqualTo(2 * one);
    }

    @Test
    void coversEveryWeightMatrixOfTheRealNetworks() {
        // Each conv/linear op carries one weight tensor (Cout·Cin·k² or out·in values): their sum
        // must equal the networks' own weight tensors of rank >= 2 (embeddings aside), so no
        // layer is missing or counted twice.
        for (String json : List.of(Sd15Configs.UNET, RandomModels.DEFAULT_UNET)) {
            UNet2DConditionConfig c = UNet2DConditionConfig.fromJson(json);
            assertThat(opWeights(FlopCounter.unet(c, 1, 32, 32, 77)))
                    .isEqualTo(modelWeights(new UNet2DConditionModel(c), "decoder.none"));
        }
        AutoencoderKLConfig v = AutoencoderKLConfig.fromJson(Sd15Configs.VAE);
        assertThat(opWeights(FlopCounter.vaeDecoder(v, 1, 8, 8)))
                .isEqualTo(modelWeights(new AutoencoderKL(v), "encoder.", "quant_conv."));
    }

    private static long opWeights(List<Op> ops) {
        long n = 0;
        for (Op op : ops) {
            long[] d = op.dims();
            if (op.kind() == Kind.CONV) {
                n += d[1] * d[2] * d[3] * d[3];
            } else if (op.kind() == Kind.LINEAR) {
                n += d[1] * d[2];
            }
        }
        return n;
    }

    private static long modelWeights(Block model, String... excludedPrefixes) {
        long n = 0;
        for (Map.Entry<String, Parameter> e : ParameterNames.of(model).entrySet()) {
            boolean excluded = false;
            for (String prefix : excludedPrefixes) {
                excluded |= e.getKey().startsWith(prefix);
            }
            if (!excluded && e.getValue().getShape().dimension() >= 2) {
                n += e.getValue().getShape().size();
            }
        }
        return n;
    }
}
