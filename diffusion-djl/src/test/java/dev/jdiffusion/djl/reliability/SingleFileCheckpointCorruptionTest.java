package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.reliability.RawSafetensors.Tensor;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.weights.SingleFileCheckpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Generated corruptions of a tiny single-file checkpoint (LDM names, written by {@link
 * SingleFileCheckpoint#save}), opened and loaded into the tiny UNet, VAE and text encoder: every
 * case ends in a {@code ModelLoadException} naming the file, or (for changes that leave a valid
 * checkpoint) loads.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class SingleFileCheckpointCorruptionTest {

    private static final int SCALE = ModelFolderCorruptionTest.SCALE;
    private static final ClipTextConfig TEXT = new ClipTextConfig(600, 16, 32, 2, 2, 77,
            "quick_gelu", 1e-5f, OptionalInt.empty());
    private static Path dir;
    private static byte[] pristine;
    private static int counter;

    @BeforeAll
    static void write() throws IOException {
        dir = TinyModel.scratch("single-file-");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            UNet2DConditionModel unet = unet();
            AutoencoderKL vae = vae();
            ClipTextModel text = new ClipTextModel(TEXT);
            Engine.getInstance().setRandomSeed(11);
            unet.initialize(m, DataType.FLOAT32);
            vae.initialize(m, DataType.FLOAT32);
            text.initialize(m, DataType.FLOAT32);
            Path f = dir.resolve("tiny.safetensors");
            SingleFileCheckpoint.save(f, ParameterNames.of(unet), ParameterNames.of(vae),
                    ParameterNames.of(text), DataType.FLOAT32, Map.of("note", "tiny"));
            pristine = Files.readAllBytes(f);
        }
        LoadOutcome o = loadBytes(pristine);
        assertThat(o.kind()).as(o.toString()).isEqualTo(LoadOutcome.Kind.LOADED);
    }

    @AfterAll
    static void clean() {
        TinyModel.deleteTree(dir);
    }

    private static UNet2DConditionModel unet() {
        return new UNet2DConditionModel(UNet2DConditionConfig.fromJson(TinyModel.UNET));
    }

    private static AutoencoderKL vae() {
        return new AutoencoderKL(AutoencoderKLConfig.fromJson(TinyModel.VAE));
    }

    /** Writes the bytes to a new file, opens it and loads all three components. */
    private static LoadOutcome loadBytes(byte[] bytes) {
        Path f = dir.resolve("case" + counter++ + ".safetensors");
        TinyModel.replace(f, bytes);
        try {
            return LoadOutcome.attempt(() -> {
                try (NDManager m = NDManager.newBaseManager("PyTorch");
                        SingleFileCheckpoint c = SingleFileCheckpoint.open(f)) {
                    c.loadUnet(ParameterNames.of(unet()), m, DataType.FLOAT32);
                    c.loadVae(ParameterNames.of(vae()), m, DataType.FLOAT32);
                    c.loadTextEncoder(ParameterNames.of(new ClipTextModel(TEXT)), m,
                            DataType.FLOAT32);
                }
            });
        } finally {
            try {
                Files.deleteIfExists(f);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    @Test
    void truncatedAndMutatedBytes() {
        CaseLog log = new CaseLog("single-file bytes");
        Random rnd = new Random(91);
        int header = 8 + (int) ByteBuffer.wrap(pristine).order(ByteOrder.LITTLE_ENDIAN)
                .getLong(0);
        List<Integer> cuts = new ArrayList<>(List.of(0, 4, 8, header - 1, header,
                pristine.length - 1));
        for (int i = 0; i < 14 * SCALE; i++) {
            cuts.add(rnd.nextInt(pristine.length));
        }
        for (int cut : cuts) {
            log.mustRefuse("cut at " + cut, loadBytes(Arrays.copyOf(pristine, cut)), "case");
        }
        for (int i = 0; i < 60 * SCALE; i++) {
            byte[] b = pristine.clone();
            int at = rnd.nextInt(header);
            b[at] = (byte) rnd.nextInt(256);
            log.refuseOrWork("byte " + at + " = " + (b[at] & 0xFF), loadBytes(b), "case");
        }
        log.mustRefuse("pickle", loadBytes(new byte[] {(byte) 0x80, 2, '}', 'q', 0, '.', 0, 0,
            0, 0}), "pickle");
        log.mustRefuse("zip", loadBytes(new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}),
                "pickle");
        log.assertClean();
    }

    @Test
    void tensorLevelCorruptions() {
        CaseLog log = new CaseLog("single-file tensors");
        Random rnd = new Random(92);
        RawSafetensors orig = RawSafetensors.parse(pristine);
        List<String> names = orig.names();
        List<String> shuffled = new ArrayList<>(names);
        Collections.shuffle(shuffled, rnd);
        for (String name : shuffled.subList(0, 30 * SCALE)) {
            RawSafetensors f = orig.copy();
            f.tensors.remove(name);
            log.mustRefuse("without " + name, loadBytes(f.bytes()));
        }
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (int i = 0; i < 15 * SCALE; i++) {
            String name = names.get(rnd.nextInt(names.size()));
            RawSafetensors f = orig.copy();
            Tensor t = f.tensors.get(name);
            float[] v = RawSafetensors.floats(t);
            v[rnd.nextInt(v.length)] = bad[i % 3];
            t.data = RawSafetensors.f32(v);
            log.mustRefuse(name + " " + bad[i % 3], loadBytes(f.bytes()), name);
        }
        for (int i = 0; i < 15 * SCALE; i++) {
            String name = names.get(rnd.nextInt(names.size()));
            RawSafetensors f = orig.copy();
            Tensor t = f.tensors.get(name);
            if (i % 2 == 0) {
                t.dtype = "I32";
            } else {
                long[] n = new long[t.shape.length + 1];
                n[0] = 1;
                System.arraycopy(t.shape, 0, n, 1, t.shape.length);
                n[n.length - 1] = t.shape[t.shape.length - 1];
                t.shape = n;
                t.data = Arrays.copyOf(t.data, t.data.length);
                if (t.shape.length == 2) { // (1, d) vs (d): same count, must still mismatch
                    t.shape = new long[] {2, t.shape[1]};
                    t.data = Arrays.copyOf(t.data, t.data.length * 2);
                }
            }
            log.mustRefuse(name + (i % 2 == 0 ? " I32" : " reshaped"), loadBytes(f.bytes()),
                    name);
        }
        // Hostile names: huge block indices, empty segments, path-like names.
        String[] hostile = {"model.diffusion_model.input_blocks.99999999999.0.weight",
            "model.diffusion_model.input_blocks.2147483648.1.proj_in.weight",
            "model.diffusion_model.output_blocks.-1.0.weight",
            "model.diffusion_model..weight", "model.diffusion_model.",
            "first_stage_model.encoder.down.99999999.block.0.conv1.weight",
            "first_stage_model.decoder.up.12345678901234567890.block.0.conv1.weight",
            "cond_stage_model.transformer.text_model.encoder.layers.999999999.mlp.fc1.weight",
            "cond_stage_model.transformer.../../etc/passwd",
            "model.diffusion_model.middle_block.7.transformer_blocks.0.attn1.to_q.weight"};
        for (String h : hostile) {
            RawSafetensors f = orig.copy();
            f.tensors.put(h, new Tensor("F32", new long[] {2}, new byte[8]));
            log.mustRefuse("extra " + h, loadBytes(f.bytes()));
        }
        // Tensors under no component prefix (EMA copies, buffers) are ignored.
        RawSafetensors f = orig.copy();
        f.tensors.put("model_ema.decay", new Tensor("F32", new long[] {}, new byte[4]));
        f.tensors.put("alphas_cumprod", new Tensor("F32", new long[] {3}, new byte[12]));
        log.mustWork("with EMA/buffer tensors", loadBytes(f.bytes()));
        log.assertClean();
    }

    @Test
    void pipelineLoadOfSingleFiles() throws IOException {
        CaseLog log = new CaseLog("single-file pipeline");
        Path file = dir.resolve("model.safetensors");
        TinyModel.replace(file, pristine);
        // No tokenizer beside it.
        log.mustRefuse("no tokenizer", LoadOutcome.attempt(file, false), "tokenizer");
        // With a tokenizer: the tiny checkpoint is not Stable Diffusion 1.x sized.
        Path tok = Files.createDirectories(dir.resolve("tokenizer"));
        for (String n : List.of("vocab.json", "merges.txt")) {
            Files.copy(TinyModel.folder().resolve("tokenizer").resolve(n), tok.resolve(n));
        }
        log.mustRefuse("tiny checkpoint as SD 1.5", LoadOutcome.attempt(file, false),
                "shape mismatch");
        for (int cut : new int[] {0, 8, 100, pristine.length / 2}) {
            TinyModel.replace(file, Arrays.copyOf(pristine, cut));
            log.mustRefuse("cut " + cut, LoadOutcome.attempt(file, false), "model.safetensors");
        }
        for (String name : List.of("model.ckpt", "model.bin", "model.pt", "model.txt")) {
            Path other = dir.resolve(name);
            TinyModel.replace(other, pristine);
            log.mustRefuse(name, LoadOutcome.attempt(other, false), name);
        }
        log.assertClean();
    }
}
