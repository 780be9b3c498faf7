package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.djl.nn.AutoencoderTiny;
import dev.jdiffusion.djl.nn.AutoencoderTinyConfig;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.djl.weights.StateDict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --taesd DIR} and {@code --tiled-vae} on the tiny model. */
class DecoderCliTest {

    @TempDir
    Path tmp;

    /** A random 2-stage TAESD (factor 2, 4 latent channels), fitting the tiny model's VAE. */
    private Path taesd() throws Exception {
        String config = """
                {"_class_name": "AutoencoderTiny", "encoder_block_out_channels": [8, 8],
                 "decoder_block_out_channels": [8, 8], "num_encoder_blocks": [1, 1],
                 "num_decoder_blocks": [1, 1], "latent_channels": 4}
                """;
        Path dir = Files.createDirectories(tmp.resolve("taesd"));
        Files.writeString(dir.resolve("config.json"), config);
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            AutoencoderTiny t = new AutoencoderTiny(AutoencoderTinyConfig.fromJson(config));
            TinyModels.init(t, m, 9);
            StateDict.save(ParameterNames.of(t), dir.resolve("diffusion_pytorch_model.safetensors"),
                    DataType.FLOAT32, Map.of());
        }
        return dir;
    }

    @Test
    void taesdAndTiledVaeOptionsGenerate() throws Exception {
        String model = TinyModel.textToImage().toString();
        Path vae = tmp.resolve("vae.png");
        Path tiny = tmp.resolve("taesd.png");
        Path tiled = tmp.resolve("tiled.png");
        String[] common = {"generate", "a cat face", "--model", model, "--steps", "2",
            "--seed", "3", "--scale", "1"};
        assertEquals(0, CliTest.run(concat(common, "-o", vae.toString())).code());
        CliTest.Run r = CliTest.run(concat(common, "-o", tiny.toString(), "--taesd",
                taesd().toString()));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, CliTest.run(concat(common, "-o", tiled.toString(), "--tiled-vae")).code());
        int[] a = GeneratedImage.read(vae).rgb();
        // the tiny model's VAE has no sample_size (512-pixel tiles): a 16x16 image is one tile
        assertTrue(Arrays.equals(a, GeneratedImage.read(tiled).rgb()));
        assertNotEquals(Arrays.hashCode(a), Arrays.hashCode(GeneratedImage.read(tiny).rgb()));
    }

    @Test
    void missingTaesdFolderIsOneLine() {
        Path missing = tmp.resolve("nope");
        CliTest.Run r = CliTest.run("generate", "a cat", "--model",
                TinyModel.textToImage().toString(), "--taesd", missing.toString());
        assertEquals(1, r.code());
        assertTrue(r.errLines().get(0).startsWith("jdiffusion: error: TAESD folder not found: "
                + missing), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
