package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.testing.Fixtures;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTextModelWithProjection;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Builds SD 2.1's, SDXL base's and SDXL refiner's networks from their published configs
 * ({@link Sd21Configs}, {@link SdxlConfigs}) and checks every parameter name and shape against
 * the diffusers/transformers side of their key tables, without allocating any parameter.
 */
class CheckpointStructureTest {

    /** name → shape "[a, b]" of one component of a key table. */
    static Map<String, String> expected(String table, String component) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Fixtures.keys(table))) {
            String[] f = line.split("\t");
            if (f[0].equals(component)) {
                out.putIfAbsent(f[1], f[2]);
            }
        }
        return out;
    }

    static Map<String, String> actual(Block block) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            assertThat(e.getValue().isInitialized()).as(e.getKey()).isFalse();
            out.put(e.getKey(), Arrays.toString(e.getValue().getShape().getShape()));
        }
        return out;
    }

    private static void check(String table, String component, Block block, int count)
            throws IOException {
        Map<String, String> expected = expected(table, component);
        assertThat(expected).as(table + " " + component).hasSize(count);
        assertThat(actual(block)).as(table + " " + component)
                .containsExactlyInAnyOrderEntriesOf(expected);
    }

    private static long parameters(Block block) {
        return ParameterNames.of(block).values().stream().mapToLong(p -> p.getShape().size())
                .sum();
    }

    @Test
    void sd21() throws IOException {
        UNet2DConditionModel unet =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(Sd21Configs.UNET));
        check("sd21", "unet", unet, 686);
        assertThat(parameters(unet)).isEqualTo(865_910_724L);
        check("sd21", "vae", new AutoencoderKL(AutoencoderKLConfig.fromJson(Sd21Configs.VAE)),
                248);
        check("sd21", "text_encoder", new ClipTextModel(Sd21Configs.textEncoder()), 372);
    }

    @Test
    void sdxlBase() throws IOException {
        UNet2DConditionModel unet =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(SdxlConfigs.UNET));
        check("sdxl-base", "unet", unet, 1680);
        assertThat(parameters(unet)).isEqualTo(2_567_463_684L);
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(SdxlConfigs.VAE));
        check("sdxl-base", "vae", vae, 248);
        assertThat(vae.scalingFactor()).isEqualTo(0.13025f);
        check("sdxl-base", "text_encoder", new ClipTextModel(SdxlConfigs.textEncoder()), 196);
        check("sdxl-base", "text_encoder_2", new ClipTextModelWithProjection(
                SdxlConfigs.textEncoder2(), ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID),
                517);
    }

    @Test
    void sdxlRefiner() throws IOException {
        UNet2DConditionModel unet = new UNet2DConditionModel(
                UNet2DConditionConfig.fromJson(SdxlConfigs.REFINER_UNET));
        check("sdxl-refiner", "unet", unet, 1220);
        check("sdxl-refiner", "vae",
                new AutoencoderKL(AutoencoderKLConfig.fromJson(SdxlConfigs.VAE)), 248);
        check("sdxl-refiner", "text_encoder_2", new ClipTextModelWithProjection(
                SdxlConfigs.textEncoder2(), ClipTextModelWithProjection.LEGACY_EOS_TOKEN_ID),
                517);
    }
}
