package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.testing.Fixtures;
import dev.jdiffusion.djl.weights.LdmKeys.UnetLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Checks the rule-based LDM ↔ diffusers mapping against every SD 1.5 tensor of keys.tsv. */
class LdmKeysTest {

    record Row(String component, String diffusers, Shape shape, String ldm, Shape ldmShape) {}

    private static List<Row> rows;

    @BeforeAll
    static void readFixture() throws IOException {
        Path tsv = Fixtures.sd15Keys();
        List<String> lines = Files.readAllLines(tsv);
        assertThat(lines.get(0)).startsWith("component\tdiffusers_or_transformers_key");
        rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] c = line.split("\t");
            rows.add(new Row(c[0], c[1], shape(c[2]), c[3], shape(c[4])));
        }
        assertThat(rows).hasSize(1130);
    }

    private static Shape shape(String s) {
        String inner = s.substring(1, s.length() - 1).trim();
        return inner.isEmpty() ? new Shape()
                : new Shape(Arrays.stream(inner.split(",")).map(String::trim)
                        .mapToLong(Long::parseLong).toArray());
    }

    private static List<String> ldmNames() {
        return rows.stream().map(Row::ldm).toList();
    }

    @Test
    void layoutsAreInferredFromTheNames() {
        assertThat(UnetLayout.fromLdmNames(ldmNames())).isEqualTo(UnetLayout.SD);
        assertThat(CheckpointFamily.detect(ldmNames())).isEqualTo(CheckpointFamily.SD1);
        assertThat(UnetLayout.fromDiffusersNames(rows.stream()
                .filter(r -> r.component.equals("unet")).map(Row::diffusers).toList()))
                .isEqualTo(UnetLayout.SD);
    }

    @Test
    void everyLdmNameMapsToItsDiffusersNameAndShape() {
        int[] counts = new int[3];
        for (Row r : rows) {
            String unet = LdmKeys.unetToDiffusers(r.ldm, UnetLayout.SD);
            String vae = LdmKeys.vaeToDiffusers(r.ldm, 4);
            String text = LdmKeys.textEncoderToDiffusers(r.ldm);
            switch (r.component) {
                case "unet" -> {
                    assertThat(unet).as(r.ldm).isEqualTo(r.diffusers);
                    assertThat(vae).isNull();
                    assertThat(text).isNull();
                    assertThat(LdmKeys.unetMapping(UnetLayout.SD).targetShape(r.ldm, r.ldmShape))
                            .isEqualTo(r.shape);
                    counts[0]++;
                }
                case "vae" -> {
                    assertThat(vae).as(r.ldm).isEqualTo(r.diffusers);
                    assertThat(unet).isNull();
                    assertThat(text).isNull();
                    assertThat(LdmKeys.vaeShapeToDiffusers(vae, r.ldmShape)).as(r.ldm)
                            .isEqualTo(r.shape);
                    assertThat(LdmKeys.vaeMapping(4).targetShape(r.ldm, r.ldmShape))
                            .isEqualTo(r.shape);
                    counts[1]++;
                }
                case "text_encoder" -> {
                    assertThat(text).as(r.ldm).isEqualTo(r.diffusers);
                    assertThat(unet).isNull();
                    assertThat(vae).isNull();
                    counts[2]++;
                }
                default -> throw new AssertionError(r.component);
            }
        }
        assertThat(counts).containsExactly(686, 248, 196);
    }

    @Test
    void everyDiffusersNameMapsBackToItsLdmNameAndShape() {
        Set<String> seen = new HashSet<>();
        for (Row r : rows) {
            String back = switch (r.component) {
                case "unet" -> LdmKeys.unetToLdm(r.diffusers, UnetLayout.SD);
                case "vae" -> LdmKeys.vaeToLdm(r.diffusers, 4);
                default -> LdmKeys.textEncoderToLdm(r.diffusers);
            };
            assertThat(back).as(r.diffusers).isEqualTo(r.ldm);
            assertThat(seen.add(back)).isTrue();
            if (r.component.equals("vae")) {
                assertThat(LdmKeys.vaeShapeToLdm(r.diffusers, r.shape)).as(r.diffusers)
                        .isEqualTo(r.ldmShape);
            }
        }
    }

    @Test
    void otherLayoutsFollowTheSameArithmetic() {
        // Three levels, one layer per block, attention only in up block 2 (no fixture: the
        // arithmetic is checked by the round trip and a few hand-derived names).
        UnetLayout small = new UnetLayout(3, 1, Set.of(2));
        // input_blocks: 0 conv_in | 1 res(0,0) | 2 down(0) | 3 res(1,0) | 4 down(1) | 5 res(2,0)
        assertThat(LdmKeys.unetToDiffusers("model.diffusion_model.input_blocks.4.0.op.weight",
                small)).isEqualTo("down_blocks.1.downsamplers.0.conv.weight");
        assertThat(LdmKeys.unetToDiffusers(
                "model.diffusion_model.input_blocks.5.0.skip_connection.bias", small))
                .isEqualTo("down_blocks.2.resnets.0.conv_shortcut.bias");
        // output_blocks: level i has entries 2i, 2i+1; up block 0 has no attention: upsampler
        // at sub-index 1.
        assertThat(LdmKeys.unetToDiffusers("model.diffusion_model.output_blocks.1.1.conv.bias",
                small)).isEqualTo("up_blocks.0.upsamplers.0.conv.bias");
        assertThat(LdmKeys.unetToDiffusers(
                "model.diffusion_model.output_blocks.5.1.proj_in.weight", small))
                .isEqualTo("up_blocks.2.attentions.1.proj_in.weight");
        for (String n : List.of("conv_in.weight", "down_blocks.0.resnets.0.conv1.weight",
                "down_blocks.1.downsamplers.0.conv.weight", "up_blocks.0.upsamplers.0.conv.bias",
                "up_blocks.1.resnets.1.conv_shortcut.weight", "up_blocks.2.attentions.1.norm.bias",
                "mid_block.attentions.0.proj_out.weight", "conv_out.bias")) {
            assertThat(LdmKeys.unetToDiffusers(LdmKeys.unetToLdm(n, small), small)).isEqualTo(n);
        }
        assertThat(LdmKeys.vaeToDiffusers("first_stage_model.decoder.up.0.block.1.conv1.weight",
                3)).isEqualTo("decoder.up_blocks.2.resnets.1.conv1.weight");
    }

    @Test
    void namesThatFitNoBlockAreRefused() {
        for (String bad : List.of("model.diffusion_model.input_blocks.12.0.in_layers.0.weight",
                "model.diffusion_model.input_blocks.3.1.norm.weight",
                "model.diffusion_model.input_blocks.1.0.weird.weight",
                "model.diffusion_model.output_blocks.11.2.conv.weight",
                "model.diffusion_model.middle_block.3.norm.weight",
                "model.diffusion_model.time_embed.1.weight",
                "model.diffusion_model.label_emb.0.1.weight",
                "model.diffusion_model.input_blocks.x.0.op.weight",
                "model.diffusion_model.input_blocks.0.0.")) {
            assertThatThrownBy(() -> LdmKeys.unetToDiffusers(bad, UnetLayout.SD)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad);
            // For loading, such a name is kept so that it is reported as unexpected.
            assertThat(LdmKeys.unetMapping(UnetLayout.SD).targetName(bad)).isEqualTo(bad);
        }
        for (String bad : List.of("first_stage_model.decoder.up.4.block.0.conv1.weight",
                "first_stage_model.encoder.up.0.block.0.conv1.weight",
                "first_stage_model.encoder.mid.attn_1.query.weight",
                "first_stage_model.loss.logvar")) {
            assertThatThrownBy(() -> LdmKeys.vaeToDiffusers(bad, 4)).as(bad)
                    .isInstanceOf(IllegalArgumentException.class);
        }
        assertThatThrownBy(() -> LdmKeys.unetToLdm("down_blocks.4.resnets.0.conv1.weight",
                UnetLayout.SD)).isInstanceOf(IllegalArgumentException.class);
        assertThat(LdmKeys.unetMapping(UnetLayout.SD).targetName("model_ema.decay")).isNull();
    }

    @Test
    void textEncoderHandlesOldNamesAndTheIdsBuffer() {
        assertThat(LdmKeys.textEncoderToDiffusers(
                "cond_stage_model.transformer.embeddings.token_embedding.weight"))
                .isEqualTo("text_model.embeddings.token_embedding.weight");
        assertThat(LdmKeys.textEncoderMapping().targetName(
                "cond_stage_model.transformer.text_model.embeddings.position_ids")).isNull();
        assertThat(LdmKeys.textEncoderMapping().targetName("model.diffusion_model.out.0.bias"))
                .isNull();
    }
}
