package dev.jdiffusion.djl.nn;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.testing.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Builds Stable Diffusion 1.5's UNet and VAE from their real configs and checks every parameter
 * name and shape against the checkpoint's key list, without allocating any parameter.
 */
class Sd15StructureTest {



    /** name → shape "[a, b]" of one component in keys.tsv. */
    static Map<String, String> expected(String component) throws IOException {
        Path keys = Fixtures.sd15Keys();
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(keys)) {
            String[] f = line.split("\t");
            if (f[0].equals(component)) {
                out.put(f[1], f[2]);
            }
        }
        return out;
    }

    static Map<String, String> actual(ai.djl.nn.Block block) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : ParameterNames.of(block).entrySet()) {
            assertThat(e.getValue().isInitialized()).as(e.getKey()).isFalse();
            out.put(e.getKey(), Arrays.toString(e.getValue().getShape().getShape()));
        }
        return out;
    }

    @Test
    void unetHasExactlyTheCheckpointsNamesAndShapes() throws IOException {
        UNet2DConditionModel unet =
                new UNet2DConditionModel(UNet2DConditionConfig.fromJson(Sd15Configs.UNET));
        Map<String, String> expected = expected("unet");
        assertThat(expected).hasSize(686);
        Map<String, String> actual = actual(unet);
        assertThat(actual.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
        assertThat(actual).containsExactlyInAnyOrderEntriesOf(expected);
        long count = ParameterNames.of(unet).values().stream()
                .mapToLong(p -> p.getShape().size()).sum();
        assertThat(count).isEqualTo(859_520_964L); // SD 1.5 UNet: 859.5 M parameters
    }

    @Test
    void vaeHasExactlyTheCheckpointsNamesAndShapes() throws IOException {
        AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(Sd15Configs.VAE));
        Map<String, String> expected = expected("vae");
        assertThat(expected).hasSize(248);
        Map<String, String> actual = actual(vae);
        assertThat(actual.keySet().stream().filter(k -> !expected.containsKey(k))
                .collect(Collectors.toList())).isEmpty();
        assertThat(actual).containsExactlyInAnyOrderEntriesOf(expected);
        assertThat(vae.scalingFactor()).isEqualTo(0.18215f);
    }
}
