package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraFixtures;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SDXL LoRAs (kohya {@code lora_unet_} / {@code lora_te1_} / {@code lora_te2_}) on the small
 * SDXL reference model: the derived pipeline draws what a model whose files hold the weights
 * merged in plain Java draws, for the UNet (diffusers and original LDM block names) and both
 * text encoders.
 */
class SdxlLoraPipelineTest {

    private static final double WEIGHT = 0.9;

    @TempDir
    static Path tmp;

    private static Path loraFile;
    private static Path text2Only;
    private static Path mergedModel;
    private static int unetPairs;
    private static DiffusionPipeline base;

    @BeforeAll
    static void prepare() throws Exception {
        Path model = DiffusersParityTest.fixture("sdxl");
        mergedModel = tmp.resolve("merged");
        LoraFixtures.copyTree(model, mergedModel);
        String unetFile = "unet/diffusion_pytorch_model.safetensors";
        String text1File = "text_encoder/model.safetensors";
        String text2File = "text_encoder_2/model.safetensors";
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile u = SafetensorsFile.open(model.resolve(unetFile));
                SafetensorsFile t1 = SafetensorsFile.open(model.resolve(text1File));
                SafetensorsFile t2 = SafetensorsFile.open(model.resolve(text2File))) {
            LoraFixtures f = new LoraFixtures(m, 31);
            Map<String, Object[]> unetMerge = new LinkedHashMap<>();
            for (String n : u.tensors().keySet()) {
                if (n.matches("down_blocks\\.0\\..*\\.attn[12]\\.(to_q|to_v)\\.weight")) {
                    String k = "lora_unet_" + n.substring(0, n.length() - 7).replace('.', '_');
                    unetMerge.put(n, new Object[] {f.add(k + ".lora_down.weight",
                            k + ".lora_up.weight", k + ".alpha", 2f, u.info(n).dims(), 4),
                            WEIGHT});
                }
            }
            // The original (SGM) UNet's name, as kohya's SDXL scripts write it: with one layer
            // per block, input_blocks are conv_in, (res, attn) of level 0, its downsampler,
            // then (res, attn) of level 1.
            String deep = "down_blocks.1.attentions.0.transformer_blocks.1.attn2.to_k.weight";
            String ldm = "lora_unet_input_blocks_3_1_transformer_blocks_1_attn2_to_k";
            unetMerge.put(deep, new Object[] {f.add(ldm + ".lora_down.weight",
                    ldm + ".lora_up.weight", null, 0, u.info(deep).dims(), 2), WEIGHT});
            unetPairs = unetMerge.size();
            String q1 = "text_model.encoder.layers.0.self_attn.v_proj.weight";
            String k1 = "lora_te1_" + q1.substring(0, q1.length() - 7).replace('.', '_');
            Object[] text1Pair = {f.add(k1 + ".lora_down.weight", k1 + ".lora_up.weight",
                    k1 + ".alpha", 1f, t1.info(q1).dims(), 2), WEIGHT};
            String q2 = "text_model.encoder.layers.1.mlp.fc1.weight";
            String k2 = "lora_te2_" + q2.substring(0, q2.length() - 7).replace('.', '_');
            LoraFixtures.Pair pair2 = f.add(k2 + ".lora_down.weight", k2 + ".lora_up.weight",
                    k2 + ".alpha", 1f, t2.info(q2).dims(), 2);
            loraFile = f.write(tmp.resolve("xl-style.safetensors"));
            LoraFixtures.rewrite(m, u, unetMerge, mergedModel.resolve(unetFile));
            LoraFixtures.rewrite(m, t1, Map.of(q1, text1Pair), mergedModel.resolve(text1File));
            LoraFixtures.rewrite(m, t2, Map.of(q2, new Object[] {pair2, WEIGHT}),
                    mergedModel.resolve(text2File));

            LoraFixtures only2 = new LoraFixtures(m, 32);
            only2.add("text_encoder_2." + q2.substring(0, q2.length() - 7) + ".lora_A.weight",
                    "text_encoder_2." + q2.substring(0, q2.length() - 7) + ".lora_B.weight",
                    null, 0, t2.info(q2).dims(), 2);
            text2Only = only2.write(tmp.resolve("te2-peft.safetensors"));
        }
        base = DiffusionPipeline.load(model, PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (base != null) {
            base.close();
        }
    }

    private static int[] image(DiffusionPipeline p, String prompt) {
        return p.generate(GenerationRequest.builder(prompt).steps(3).seed(7).guidanceScale(4)
                .sampler("euler").build()).images().get(0).rgb();
    }

    @Test
    void derivedSdxlPipelineDrawsWhatThePreMergedModelDraws() throws Exception {
        int[] before = image(base, "a lighthouse");
        try (DiffusionPipeline derived = base.withLoras(List.of(Lora.of(loraFile, WEIGHT)));
                DiffusionPipeline merged = DiffusionPipeline.load(mergedModel,
                        PipelineOptions.defaults())) {
            assertThat(derived.loras()).hasValueSatisfying(r -> {
                assertThat(r.unetLayers()).isEqualTo(unetPairs);
                assertThat(r.textEncoder().size()).isEqualTo(1);
                assertThat(r.textEncoder2().size()).isEqualTo(1);
                assertThat(r.textEncoderLayers()).isEqualTo(2);
            });
            int[] viaLora = image(derived, "a lighthouse");
            int[] viaFiles = image(merged, "a lighthouse");
            assertThat(LoraPipelineTest.maxChannelDiff(viaLora, viaFiles)).isLessThanOrEqualTo(1);
            assertThat(LoraPipelineTest.maxChannelDiff(viaLora, before))
                    .as("the LoRA changes the image").isGreaterThan(3);
        }
        assertThat(image(base, "a lighthouse")).containsExactly(before);
    }

    @Test
    void aSecondEncoderLayerAloneChangesTheConditioning() throws Exception {
        try (DiffusionPipeline derived = base.withLoras(List.of(Lora.of(text2Only, 4.0)))) {
            assertThat(derived.loras().orElseThrow().unetLayers()).isZero();
            assertThat(derived.loras().orElseThrow().textEncoder2().size()).isEqualTo(1);
            assertThat(image(derived, "a lighthouse")).isNotEqualTo(image(base, "a lighthouse"));
        }
    }

    @Test
    void anSd1LoraOnSdxlIsRefusedWithTheLayersThatDoNotFit() throws Exception {
        Path sd1 = TinyPipelines.textToImage();
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile u = SafetensorsFile.open(
                        sd1.resolve("unet/diffusion_pytorch_model.safetensors"))) {
            LoraFixtures f = new LoraFixtures(m, 33);
            String n = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
            String k = "lora_unet_" + n.substring(0, n.length() - 7).replace('.', '_');
            f.add(k + ".lora_down.weight", k + ".lora_up.weight", null, 0, u.info(n).dims(), 2);
            Path file = f.write(tmp.resolve("sd1.safetensors"));
            assertThatThrownBy(() -> base.withLoras(List.of(Lora.of(file, 1))))
                    .isInstanceOf(ModelLoadException.class)
                    .hasMessageContaining("1 of 1 LoRA layers fit no weight");
        }
    }

    /** The token-embedding row of {@code word} in an encoder's weights, or null if not one token. */
    private static float[][] tokenRow(Path model, String encoder, String tokenizer, String word)
            throws Exception {
        dev.jdiffusion.djl.text.ClipTokenizer tok =
                dev.jdiffusion.djl.text.ClipTokenizer.load(model.resolve(tokenizer));
        int[] ids = tok.encode(word).ids();
        int end = tok.encode("").ids()[1];
        if (ids[2] != end) {
            return null;
        }
        try (SafetensorsFile f = SafetensorsFile.open(model.resolve(encoder
                + "/model.safetensors"))) {
            String key = "text_model.embeddings.token_embedding.weight";
            int width = (int) f.info(key).dims()[1];
            float[] all = f.readFloats(key);
            return new float[][] {java.util.Arrays.copyOfRange(all, ids[1] * width,
                    (ids[1] + 1) * width)};
        }
    }

    @Test
    void sdxlEmbeddingPairsReplaceTheTriggerInBothEncodersAndCombineWithLoras()
            throws Exception {
        Path model = DiffusersParityTest.fixture("sdxl");
        // An embedding whose vectors are the token embeddings of a word in each encoder: the
        // trigger must then encode exactly as the word does.
        Path file = tmp.resolve("zq.safetensors");
        String word = null;
        float[][] l = null;
        float[][] g = null;
        for (String w : List.of("dog", "cat", "red", "face", "apple", "a")) {
            l = tokenRow(model, "text_encoder", "tokenizer", w);
            g = tokenRow(model, "text_encoder_2", "tokenizer_2", w);
            if (l != null && g != null) {
                word = w;
                break;
            }
        }
        assertThat(word).as("a word of one token in both tokenizers").isNotNull();
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            dev.jdiffusion.djl.safetensors.SafetensorsWriter.write(file, Map.of(
                    "clip_l", m.create(l[0], new ai.djl.ndarray.types.Shape(1, l[0].length)),
                    "clip_g", m.create(g[0], new ai.djl.ndarray.types.Shape(1, g[0].length))),
                    Map.of());
        }
        List<dev.jdiffusion.djl.text.TextualInversion> ti =
                List.of(dev.jdiffusion.djl.text.TextualInversion.load(file));
        DiffusionPipeline withTi = base.withEmbeddings(ti);
        assertThat(image(withTi, "a zq cat")).containsExactly(image(base, "a " + word + " cat"));
        assertThat(image(withTi, "a zq cat")).isNotEqualTo(image(base, "a zq cat"));
        assertThat(image(withTi, "a red apple")).containsExactly(image(base, "a red apple"));
        // With LoRAs, in either order.
        try (DiffusionPipeline lora = base.withLoras(List.of(Lora.of(loraFile, WEIGHT)));
                DiffusionPipeline tiThenLora = withTi.withLoras(List.of(
                        Lora.of(loraFile, WEIGHT)))) {
            int[] expected = image(lora, "a " + word + " cat");
            assertThat(image(lora.withEmbeddings(ti), "a zq cat")).containsExactly(expected);
            assertThat(image(tiThenLora, "a zq cat")).containsExactly(expected);
        }
        // A single-encoder (SD 1.x) embedding does not fit SDXL.
        assertThatThrownBy(() -> base.withEmbeddings(List.of(
                dev.jdiffusion.djl.text.TextualInversion.of("zz", new float[][] {new float[8]}))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("clip_l/clip_g pair");
    }
}
