package dev.jdiffusion.djl.lora;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.nn.Parameter;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsDtype;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Key coverage against diffusers v0.27.2: for every patchable weight of SD 1.5 (354 matrices
 * and kernels of the UNet and text encoder), the kohya name and the name diffusers' own
 * {@code _convert_kohya_lora_to_diffusers} turns it into (fixture made by
 * {@code scripts/reference/lora_key_coverage.py}) both resolve to that weight; where diffusers'
 * conversion yields no real module path, the kohya name still must.
 */
class LoraKeyCoverageTest {

    private static final Path FILE = Path.of("fixture.safetensors");

    private static LoraFile.Layer layer(String down, String up) throws Exception {
        Map<String, TensorInfo> t = new LinkedHashMap<>();
        t.put(down, new TensorInfo(down, SafetensorsDtype.F32, new long[] {1, 1}, 0, 4));
        t.put(up, new TensorInfo(up, SafetensorsDtype.F32, new long[] {1, 1}, 4, 8));
        List<LoraFile.Layer> layers = LoraFile.parse(FILE, t);
        assertThat(layers).hasSize(1);
        return layers.get(0);
    }

    @Test
    void kohyaAndDiffusersConvertedNamesReachTheSameSd15Weights() throws Exception {
        Map<String, Parameter> unet = ParameterNames.of(new UNet2DConditionModel(
                UNet2DConditionConfig.fromJson(Sd15Configs.UNET)));
        Map<String, Parameter> text = ParameterNames.of(new ClipTextModel(ClipTextConfig.sd15()));
        String tsv;
        try (InputStream in = getClass().getResourceAsStream(
                "/reference/lora/kohya_to_diffusers.tsv")) {
            tsv = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        int rows = 0;
        int agreed = 0;
        List<String> diffusersBroken = new ArrayList<>();
        for (String line : tsv.lines().skip(1).toList()) {
            String[] f = line.split("\t");
            String parameter = f[1];
            String kohya = f[2];
            String diffusersDown = f[3];
            rows++;
            LoraFile.Layer k = layer(kohya + ".lora_down.weight", kohya + ".lora_up.weight");
            assertThat(LoraMerge.targetName(k, unet, text)).as(kohya).isEqualTo(parameter);
            String diffusersUp = diffusersDown.replace(".down.", ".up.");
            String viaDiffusers;
            try {
                viaDiffusers = LoraMerge.targetName(layer(diffusersDown, diffusersUp), unet,
                        text);
            } catch (dev.jdiffusion.api.ModelLoadException e) {
                viaDiffusers = null;
            }
            if (viaDiffusers == null) {
                diffusersBroken.add(kohya + " -> " + diffusersDown);
            } else {
                assertThat(viaDiffusers).as(diffusersDown).isEqualTo(parameter);
                agreed++;
            }
        }
        assertThat(rows).isEqualTo(354);
        // diffusers v0.27.2 turns conv_in, conv_out and time_embedding.linear_1/2 into
        // conv.in / conv.out / time.embedding.linear.N, which name no module.
        assertThat(diffusersBroken).hasSize(rows - agreed)
                .allSatisfy(s -> assertThat(s).containsAnyOf("conv_in", "conv_out",
                        "time_embedding"));
        assertThat(agreed).isEqualTo(rows - 4);
    }
}
