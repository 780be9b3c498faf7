package dev.jdiffusion.djl.weights;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.djl.testing.Fixtures;
import dev.jdiffusion.djl.weights.KeyMapping.Part;
import dev.jdiffusion.djl.weights.LdmKeys.UnetLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * Checks the LDM/SGM ↔ diffusers mapping of SD 2.x, SDXL base and SDXL refiner single files
 * against every row of their key tables (fixtures/{sd21,sdxl-base,sdxl-refiner}/keys.tsv, made
 * by scripts/reference/make_key_tables.py with diffusers v0.27.2's conversion functions).
 */
class CheckpointKeyTablesTest {

    record Row(String component, String diffusers, Shape shape, String ldm, Shape ldmShape,
            String view) {}

    static List<Row> rows(String family) throws IOException {
        List<String> lines = Files.readAllLines(Fixtures.keys(family));
        assertThat(lines.get(0)).isEqualTo("component\tdiffusers_or_transformers_key\tshape\t"
                + "ldm_single_file_key\tldm_shape\tldm_view");
        List<Row> rows = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] c = line.split("\t");
            assertThat(c).as(line).hasSize(6);
            rows.add(new Row(c[0], c[1], c[2].equals("-") ? null : shape(c[2]), c[3],
                    shape(c[4]), c[5]));
        }
        return rows;
    }

    static Shape shape(String s) {
        String inner = s.substring(1, s.length() - 1).trim();
        return inner.isEmpty() ? new Shape()
                : new Shape(Arrays.stream(inner.split(",")).map(String::trim)
                        .mapToLong(Long::parseLong).toArray());
    }

    private static CheckpointFamily familyOf(String table) {
        return switch (table) {
            case "sd21" -> CheckpointFamily.SD2;
            case "sdxl-base" -> CheckpointFamily.SDXL_BASE;
            default -> CheckpointFamily.SDXL_REFINER;
        };
    }

    private static UnetLayout layoutOf(String table) {
        return switch (table) {
            case "sd21" -> UnetLayout.SD;
            // Three levels; up blocks 0 and 1 have attention (down block 0 has none).
            case "sdxl-base" -> new UnetLayout(3, 2, Set.of(0, 1));
            // Four levels, attention in the two middle ones.
            default -> new UnetLayout(4, 2, Set.of(1, 2));
        };
    }

    /** The mapping the loader uses for a component of the table's family. */
    private static KeyMapping mapping(String table, String component) {
        CheckpointFamily family = familyOf(table);
        return switch (component) {
            case "unet" -> LdmKeys.unetMapping(layoutOf(table));
            case "vae" -> LdmKeys.vaeMapping(4);
            case "text_encoder" -> SingleFileCheckpoint.textEncoderMapping(family, false,
                    table.equals("sd21") ? 23 : 12, false);
            case "text_encoder_2" -> SingleFileCheckpoint.textEncoderMapping(family, true, 32,
                    true);
            default -> throw new AssertionError(component);
        };
    }

    private static List<String> components(String table) {
        return switch (table) {
            case "sd21" -> List.of("unet", "vae", "text_encoder");
            case "sdxl-base" -> List.of("unet", "vae", "text_encoder", "text_encoder_2");
            default -> List.of("unet", "vae", "text_encoder_2");
        };
    }

    private static String view(Part p) {
        return p.transposed() ? "transpose"
                : p.fromRow() >= 0 ? "rows " + p.fromRow() + ":" + p.toRow() : "-";
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd21", "sdxl-base", "sdxl-refiner"})
    void familyAndLayoutAreRecognisedFromTheNames(String table) throws IOException {
        List<Row> rows = rows(table);
        List<String> ldm = rows.stream().map(Row::ldm).distinct().toList();
        assertThat(CheckpointFamily.detect(ldm)).isEqualTo(familyOf(table));
        assertThat(UnetLayout.fromLdmNames(ldm)).isEqualTo(layoutOf(table));
        assertThat(UnetLayout.fromDiffusersNames(rows.stream()
                .filter(r -> r.component.equals("unet")).map(Row::diffusers).toList()))
                .isEqualTo(layoutOf(table));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd21", "sdxl-base", "sdxl-refiner"})
    void everyStoredTensorMapsToItsDiffusersNamesShapesAndViews(String table)
            throws IOException {
        List<Row> rows = rows(table);
        Map<String, List<Row>> byLdm = new LinkedHashMap<>();
        for (Row r : rows) {
            byLdm.computeIfAbsent(r.ldm, k -> new ArrayList<>()).add(r);
        }
        Map<String, Integer> counts = new TreeMap<>();
        for (Map.Entry<String, List<Row>> e : byLdm.entrySet()) {
            String ldm = e.getKey();
            Shape ldmShape = e.getValue().get(0).ldmShape;
            Set<String> expected = new HashSet<>();
            String component = e.getValue().get(0).component;
            for (Row r : e.getValue()) {
                assertThat(r.component).as(ldm).isEqualTo(component);
                assertThat(r.ldmShape).as(ldm).isEqualTo(ldmShape);
                if (r.diffusers.equals("-")) {
                    continue;
                }
                expected.add(r.diffusers + " " + r.shape + " " + r.view);
            }
            // Every component's mapping is asked: exactly the right one claims the tensor.
            for (String c : components(table)) {
                Set<String> actual = new HashSet<>();
                for (Part p : mapping(table, c).targets(ldm, ldmShape)) {
                    actual.add(p.name() + " " + p.shape() + " " + view(p));
                }
                if (c.equals(component)) {
                    assertThat(actual).as(ldm).isEqualTo(expected);
                } else {
                    assertThat(actual).as(c + " must not claim " + ldm).isEmpty();
                }
            }
            counts.merge(component, e.getValue().size(), Integer::sum);
        }
        Map<String, Integer> expectedCounts = switch (table) {
            case "sd21" -> Map.of("unet", 686, "vae", 248, "text_encoder", 372, "unused", 14);
            case "sdxl-base" -> Map.of("unet", 1680, "vae", 248, "text_encoder", 196,
                    "text_encoder_2", 517, "unused", 1);
            default -> Map.of("unet", 1220, "vae", 248, "text_encoder_2", 517, "unused", 1);
        };
        assertThat(counts).isEqualTo(new TreeMap<>(expectedCounts));
    }

    @ParameterizedTest
    @ValueSource(strings = {"sd21", "sdxl-base", "sdxl-refiner"})
    void everyDiffusersNameMapsBackToItsStoredName(String table) throws IOException {
        CheckpointFamily family = familyOf(table);
        UnetLayout layout = layoutOf(table);
        Set<String> diffusers = new HashSet<>();
        for (Row r : rows(table)) {
            String back = switch (r.component) {
                case "unet" -> LdmKeys.unetToLdm(r.diffusers, layout);
                case "vae" -> LdmKeys.vaeToLdm(r.diffusers, 4);
                case "text_encoder" -> family == CheckpointFamily.SD2
                        ? OpenClipKeys.toStored(family.textEncoderPrefix(), r.diffusers)
                        : family.textEncoderPrefix() + r.diffusers;
                case "text_encoder_2" -> OpenClipKeys.toStored(family.textEncoder2Prefix(),
                        r.diffusers);
                default -> r.ldm;
            };
            assertThat(back).as(r.diffusers).isEqualTo(r.ldm);
            if (r.component.equals("vae")) {
                assertThat(LdmKeys.vaeShapeToLdm(r.diffusers, r.shape)).as(r.diffusers)
                        .isEqualTo(r.ldmShape);
            } else if (r.view.equals("-") && r.shape != null) {
                assertThat(r.shape).as(r.diffusers).isEqualTo(r.ldmShape);
            }
            if (!r.component.equals("unused")) {
                assertThat(diffusers.add(r.component + ":" + r.diffusers)).as(r.diffusers)
                        .isTrue();
            }
        }
    }

    @Test
    void sd2sLastResblockAndTheClipScalarsAreSkipped() {
        KeyMapping sd2 = SingleFileCheckpoint.textEncoderMapping(CheckpointFamily.SD2, false,
                23, false);
        String p = "cond_stage_model.model.";
        assertThat(sd2.targets(p + "transformer.resblocks.23.mlp.c_fc.weight",
                new Shape(4096, 1024))).isEmpty();
        assertThat(sd2.targets(p + "logit_scale", new Shape())).isEmpty();
        assertThat(sd2.targets(p + "text_projection", new Shape(1024, 1024))).isEmpty();
        // A resblock beyond the dropped one is not skipped: it maps to a layer the 23-layer
        // model lacks, and the load reports it as unexpected.
        assertThat(sd2.targets(p + "transformer.resblocks.24.ln_1.weight", new Shape(1024)))
                .extracting(Part::name)
                .containsExactly("text_model.encoder.layers.24.layer_norm1.weight");
        // A fused projection that is not three equal parts is kept whole (and then refused).
        assertThat(sd2.targets(p + "transformer.resblocks.0.attn.in_proj_bias", new Shape(100)))
                .extracting(Part::name)
                .containsExactly(p + "transformer.resblocks.0.attn.in_proj_bias");
        assertThatThrownBy(() -> OpenClipKeys.toStored(p, "text_model.encoder.weird"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("weird");
    }

    @Test
    void labelEmbIsSdxlsAdditionEmbedding() {
        UnetLayout base = new UnetLayout(3, 2, Set.of(0, 1));
        assertThat(LdmKeys.unetToDiffusers("model.diffusion_model.label_emb.0.2.bias", base))
                .isEqualTo("add_embedding.linear_2.bias");
        assertThat(LdmKeys.unetToLdm("add_embedding.linear_1.weight", base))
                .isEqualTo("model.diffusion_model.label_emb.0.0.weight");
        assertThatThrownBy(() -> LdmKeys.unetToDiffusers(
                "model.diffusion_model.label_emb.0.1.weight", base))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void namesOfNoKnownFamilyAreRefusedSayingWhatWasFound() {
        assertThatThrownBy(() -> CheckpointFamily.detect(List.of(
                "model.diffusion_model.out.2.bias", "conditioner.embedders.1.model.ln_final.bias")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("found conditioner.embedders.1.*")
                .hasMessageContaining("SDXL refiner");
        assertThatThrownBy(() -> CheckpointFamily.detect(List.of("x")))
                .hasMessageContaining("no text encoder tensors");
    }
}
