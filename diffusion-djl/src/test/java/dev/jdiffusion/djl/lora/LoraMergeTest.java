package dev.jdiffusion.djl.lora;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.nn.Parameter;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every patched weight equals {@code W + weight·alpha/rank · up·down} computed in plain Java,
 * for each supported naming scheme, linear and convolution layers, several LoRAs at once; and
 * malformed or foreign files are refused with messages that say why.
 */
class LoraMergeTest {

    private static NDManager manager;
    private static Map<String, Parameter> unet;
    private static Map<String, Parameter> text;

    @TempDir
    Path dir;

    @BeforeAll
    static void models() {
        manager = NDManager.newBaseManager("PyTorch");
        UNet2DConditionModel u = new UNet2DConditionModel(
                UNet2DConditionConfig.fromJson(TinyModels.UNET));
        ClipTextModel t = new ClipTextModel(new ClipTextConfig(100, 16, 32, 2, 2, 77,
                "quick_gelu", 1e-5f, OptionalInt.empty()));
        TinyModels.init(u, manager, 2);
        TinyModels.init(t, manager, 1);
        unet = ParameterNames.of(u);
        text = ParameterNames.of(t);
    }

    @AfterAll
    static void close() {
        manager.close();
    }

    private static long[] shape(Map<String, Parameter> params, String name) {
        assertThat(params).containsKey(name);
        return params.get(name).getArray().getShape().getShape();
    }

    private static float[] values(Map<String, Parameter> params, String name) {
        return params.get(name).getArray().toFloatArray();
    }

    /** All attention projections of the UNet (diffusers names, without ".weight"). */
    private static List<String> attentionModules() {
        List<String> out = new ArrayList<>();
        for (String n : unet.keySet()) {
            if (n.matches(".*\\.attn[12]\\.(to_q|to_k|to_v|to_out\\.0)\\.weight")) {
                out.add(n.substring(0, n.length() - ".weight".length()));
            }
        }
        return out;
    }

    private static void assertMerged(LoraMerge.Result r, Map<String, Parameter> params,
            String name, float[] expected) {
        Parameter p = params.get(name);
        var overlay = params == unet ? r.unet() : r.textEncoder();
        assertThat(overlay.replaces(p)).as(name).isTrue();
        float[] got = overlay.get(p).toFloatArray();
        assertThat(LoraFixtures.maxDiff(got, expected)).as(name).isLessThan(1e-5);
    }

    @Test
    void kohyaNamesPatchEveryAttentionLayerAConvolutionAndTheTextEncoder() throws Exception {
        LoraFixtures f = new LoraFixtures(manager, 7);
        Map<String, LoraFixtures.Pair> pairs = new LinkedHashMap<>();
        List<String> modules = attentionModules();
        assertThat(modules).hasSizeGreaterThanOrEqualTo(8);
        for (String m : modules) {
            String k = "lora_unet_" + m.replace('.', '_');
            pairs.put(m + ".weight", f.add(k + ".lora_down.weight", k + ".lora_up.weight",
                    k + ".alpha", 2f, shape(unet, m + ".weight"), 4));
        }
        // LoCon: 3x3 down convolution, 1x1 up, no alpha (alpha = rank).
        String conv = "down_blocks.0.resnets.0.conv1.weight";
        assertThat(shape(unet, conv)).hasSize(4).contains(3L);
        pairs.put(conv, f.add("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight",
                "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", null, 0,
                shape(unet, conv), 3));
        Map<String, LoraFixtures.Pair> tePairs = new LinkedHashMap<>();
        for (String m : List.of("text_model.encoder.layers.0.self_attn.q_proj",
                "text_model.encoder.layers.1.mlp.fc1")) {
            String k = "lora_te_" + m.replace('.', '_');
            tePairs.put(m + ".weight", f.add(k + ".lora_down.weight", k + ".lora_up.weight",
                    k + ".alpha", 1f, shape(text, m + ".weight"), 2));
        }
        Path file = f.write(dir.resolve("style.safetensors"));
        Map<String, float[]> before = new LinkedHashMap<>();
        pairs.keySet().forEach(n -> before.put(n, values(unet, n)));

        LoraMerge.Result r;
        try (NDManager own = manager.newSubManager()) {
            r = LoraMerge.compute(List.of(Lora.of(file, 0.7)), unet, text, own);
            assertThat(r.unetLayers()).isEqualTo(pairs.size());
            assertThat(r.textEncoderLayers()).isEqualTo(2);
            for (var e : pairs.entrySet()) {
                assertMerged(r, unet, e.getKey(),
                        LoraFixtures.merged(before.get(e.getKey()), e.getValue(), 0.7));
            }
            for (var e : tePairs.entrySet()) {
                assertMerged(r, text, e.getKey(),
                        LoraFixtures.merged(values(text, e.getKey()), e.getValue(), 0.7));
            }
            assertThat(r.unet().replaces(unet.get("conv_in.weight"))).isFalse();
        }
        // The model's own weights are untouched.
        for (var e : before.entrySet()) {
            assertThat(values(unet, e.getKey())).containsExactly(e.getValue());
        }
    }

    @Test
    void ldmNamedKohyaKeysMapThroughTheOriginalBlockNumbering() throws Exception {
        // Tiny UNet: one layer per block, attention in down block 0 and up block 1.
        LoraFixtures f = new LoraFixtures(manager, 8);
        String k1 = "lora_unet_input_blocks_1_1_transformer_blocks_0_attn2_to_k";
        String w1 = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
        String k2 = "lora_unet_output_blocks_3_1_proj_in";
        String w2 = "up_blocks.1.attentions.1.proj_in.weight";
        var p1 = f.add(k1 + ".lora_down.weight", k1 + ".lora_up.weight", k1 + ".alpha", 8f,
                shape(unet, w1), 4);
        var p2 = f.add(k2 + ".lora_down.weight", k2 + ".lora_up.weight", null, 0,
                shape(unet, w2), 2);
        Path file = f.write(dir.resolve("ldm.safetensors"));
        try (NDManager own = manager.newSubManager()) {
            LoraMerge.Result r = LoraMerge.compute(List.of(Lora.of(file, 1.0)), unet, text, own);
            assertThat(r.unetLayers()).isEqualTo(2);
            assertMerged(r, unet, w1, LoraFixtures.merged(values(unet, w1), p1, 1.0));
            assertMerged(r, unet, w2, LoraFixtures.merged(values(unet, w2), p2, 1.0));
        }
    }

    @Test
    void diffusersPeftAndOlderDiffusersNames() throws Exception {
        LoraFixtures f = new LoraFixtures(manager, 9);
        String a = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v";
        String t = "text_model.encoder.layers.0.self_attn.out_proj";
        String attn = "up_blocks.1.attentions.0.transformer_blocks.0.attn2";
        String old = "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2";
        var pa = f.add("unet." + a + ".lora_A.weight", "unet." + a + ".lora_B.weight", null, 0,
                shape(unet, a + ".weight"), 4);
        var pt = f.add("text_encoder." + t + ".lora_A.weight",
                "text_encoder." + t + ".lora_B.weight", null, 0, shape(text, t + ".weight"), 4);
        var pp = f.add(attn + ".processor.to_out_lora.down.weight",
                attn + ".processor.to_out_lora.up.weight", null, 0,
                shape(unet, attn + ".to_out.0.weight"), 2);
        var po = f.add("unet." + old + ".lora.down.weight", "unet." + old + ".lora.up.weight",
                "unet." + old + ".alpha", 1f, shape(unet, old + ".weight"), 2);
        Path file = f.write(dir.resolve("peft.safetensors"));
        try (NDManager own = manager.newSubManager()) {
            LoraMerge.Result r = LoraMerge.compute(List.of(Lora.of(file, 0.5)), unet, text, own);
            assertThat(r.unetLayers()).isEqualTo(3);
            assertThat(r.textEncoderLayers()).isEqualTo(1);
            assertMerged(r, unet, a + ".weight",
                    LoraFixtures.merged(values(unet, a + ".weight"), pa, 0.5));
            assertMerged(r, text, t + ".weight",
                    LoraFixtures.merged(values(text, t + ".weight"), pt, 0.5));
            assertMerged(r, unet, attn + ".to_out.0.weight",
                    LoraFixtures.merged(values(unet, attn + ".to_out.0.weight"), pp, 0.5));
            assertMerged(r, unet, old + ".weight",
                    LoraFixtures.merged(values(unet, old + ".weight"), po, 0.5));
        }
    }

    @Test
    void severalLorasAddUpEachWithItsOwnWeight() throws Exception {
        String m = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
        String k = "lora_unet_" + m.replace('.', '_');
        LoraFixtures f1 = new LoraFixtures(manager, 10);
        var p1 = f1.add(k + ".lora_down.weight", k + ".lora_up.weight", k + ".alpha", 3f,
                shape(unet, m + ".weight"), 4);
        LoraFixtures f2 = new LoraFixtures(manager, 11);
        var p2 = f2.add("unet." + m + ".lora_A.weight", "unet." + m + ".lora_B.weight", null, 0,
                shape(unet, m + ".weight"), 8);
        Path a = f1.write(dir.resolve("a.safetensors"));
        Path b = f2.write(dir.resolve("b.safetensors"));
        try (NDManager own = manager.newSubManager()) {
            LoraMerge.Result r = LoraMerge.compute(List.of(Lora.of(a, 0.6), Lora.of(b, -1.25)),
                    unet, text, own);
            assertThat(r.unetLayers()).isEqualTo(1);
            assertMerged(r, unet, m + ".weight",
                    LoraFixtures.merged(values(unet, m + ".weight"), p1, 0.6, p2, -1.25));
        }
    }

    private ModelLoadException refusal(Path file) {
        try (NDManager own = manager.newSubManager()) {
            LoraMerge.compute(List.of(Lora.of(file, 1)), unet, text, own);
        } catch (ModelLoadException e) {
            return e;
        }
        throw new AssertionError("not refused: " + file);
    }

    @Test
    void keysThatMatchNothingAreRefusedWithACountAndExamples() throws Exception {
        LoraFixtures f = new LoraFixtures(manager, 12);
        String good = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
        f.add(good + ".lora_down.weight", good + ".lora_up.weight", null, 0,
                shape(unet, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"), 2);
        f.add("lora_unet_mid_block_attentions_7_proj_in.lora_down.weight",
                "lora_unet_mid_block_attentions_7_proj_in.lora_up.weight", null, 0,
                new long[] {16, 16}, 2);
        f.add("lora_unet_nowhere.lora_down.weight", "lora_unet_nowhere.lora_up.weight", null, 0,
                new long[] {16, 16}, 2);
        ModelLoadException e = refusal(f.write(dir.resolve("foreign.safetensors")));
        assertThat(e.getMessage()).contains("2 of 3 LoRA layers fit no weight")
                .contains("lora_unet_nowhere").contains("lora_unet_mid_block_attentions_7_proj_in");
    }

    @Test
    void aLayerOfTheWrongShapeIsRefused() throws Exception {
        LoraFixtures f = new LoraFixtures(manager, 13);
        String k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
        f.add(k + ".lora_down.weight", k + ".lora_up.weight", null, 0, new long[] {16, 2048}, 4);
        ModelLoadException e = refusal(f.write(dir.resolve("sdxl-shaped.safetensors")));
        assertThat(e.getMessage()).contains("1 of 1 LoRA layers fit no weight")
                .contains("do not make the weight's shape");
    }

    @Test
    void sdxlLyCorisVariantsIncompleteLayersAndUnknownNamesAreRefused() throws Exception {
        LoraFixtures sdxl = new LoraFixtures(manager, 14);
        sdxl.add("lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
                "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", null, 0,
                new long[] {16, 16}, 2);
        // An SDXL LoRA on an SD 1.x model: its second-encoder layers have nowhere to go.
        assertThat(refusal(sdxl.write(dir.resolve("xl.safetensors"))).getMessage())
                .contains("1 of 1 LoRA layers fit no weight").contains("text_encoder_2");

        LoraFixtures loha = new LoraFixtures(manager, 15);
        loha.raw("lora_unet_down_blocks_0_attentions_0_proj_in.hada_w1_a", 16, 2);
        assertThat(refusal(loha.write(dir.resolve("loha.safetensors"))).getMessage())
                .contains("LoHa").contains("not supported");

        LoraFixtures half = new LoraFixtures(manager, 16);
        half.raw("lora_unet_conv_in.lora_down.weight", 2, 4, 3, 3);
        assertThat(refusal(half.write(dir.resolve("half.safetensors"))).getMessage())
                .contains("1 layers lack their down or up tensor").contains("lora_unet_conv_in");

        LoraFixtures junk = new LoraFixtures(manager, 17);
        junk.raw("some_random_tensor", 3);
        assertThat(refusal(junk.write(dir.resolve("junk.safetensors"))).getMessage())
                .contains("1 tensor names fit no LoRA naming scheme").contains("some_random_tensor");
    }

    @Test
    void picklesAreRefusedBeforeReading() throws Exception {
        Path pt = Files.write(dir.resolve("style.pt"), new byte[] {(byte) 0x80, 2, 0});
        assertThat(refusal(pt).getMessage()).contains("refusing to load a pickle");
    }

    @Test
    void textEncoderLayersNeedATextEncoder() throws Exception {
        LoraFixtures f = new LoraFixtures(manager, 18);
        String t = "text_model.encoder.layers.0.self_attn.q_proj";
        f.add("lora_te_" + t.replace('.', '_') + ".lora_down.weight",
                "lora_te_" + t.replace('.', '_') + ".lora_up.weight", null, 0,
                shape(text, t + ".weight"), 2);
        Path file = f.write(dir.resolve("te.safetensors"));
        try (NDManager own = manager.newSubManager()) {
            assertThatThrownBy(() -> LoraMerge.compute(List.of(Lora.of(file, 1)), unet, null, own))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("this model has no text encoder");
        }
    }
}
