package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.djl.lora.LoraFixtures;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code generate --lora}, {@code --lora-dir} with prompt tags, and the PNG round trip. */
class LoraCliTest {

    @TempDir
    static Path tmp;

    private static Path loras;
    private static int layers;

    @BeforeAll
    static void writeLora() throws Exception {
        loras = Files.createDirectories(tmp.resolve("loras"));
        Path unet = TinyModel.textToImage().resolve("unet/diffusion_pytorch_model.safetensors");
        try (NDManager m = NDManager.newBaseManager("PyTorch");
                SafetensorsFile u = SafetensorsFile.open(unet)) {
            LoraFixtures f = new LoraFixtures(m, 3);
            for (TensorInfo info : u.tensors().values()) {
                String n = info.name();
                if (n.matches(".*\\.attn[12]\\.(to_q|to_k|to_v|to_out\\.0)\\.weight")) {
                    String k = "lora_unet_" + n.substring(0, n.length() - 7).replace('.', '_');
                    f.add(k + ".lora_down.weight", k + ".lora_up.weight", k + ".alpha", 4f,
                            info.dims(), 4);
                    layers++;
                }
            }
            f.write(loras.resolve("style.safetensors"));
        }
    }

    private static String model() {
        return TinyModel.textToImage().toString();
    }

    private static GeneratedImage generate(String prompt, String... extra) throws Exception {
        Path png = Files.createTempFile(tmp, "img", ".png");
        String[] base = {"generate", prompt, "--model", model(), "--steps", "2", "--seed", "3",
            "--scale", "1", "-o", png.toString()};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        CliTest.Run r = CliTest.run(args);
        assertEquals(0, r.code(), r.err());
        if (extra.length > 0) {
            assertTrue(r.out().contains("patched " + layers + " UNet and 0 text encoder weights"),
                    r.out());
        }
        return GeneratedImage.read(png);
    }

    @Test
    void loraOptionAndPromptTagGiveTheSameImageAndTheImageRoundTrips() throws Exception {
        GeneratedImage plain = generate("a cat face");
        String file = loras.resolve("style.safetensors").toString();
        GeneratedImage byOption = generate("a cat face", "--lora", file + ":0.8");
        GeneratedImage byTag = generate("a cat face <lora:style:0.8>", "--lora-dir",
                loras.toString());
        assertFalse(java.util.Arrays.equals(plain.rgb(), byOption.rgb()), "the LoRA has effect");
        // "a cat face " and "a cat face" tokenise alike.
        assertArrayEquals(byOption.rgb(), byTag.rgb());

        ImageParameters p = byOption.parameters().orElseThrow();
        assertEquals("a cat face <lora:style:0.8>", p.prompt());
        assertTrue(p.settings().get("Lora hashes").matches("style: [0-9a-f]{12}"),
                p.settings().toString());
        assertEquals("a cat face <lora:style:0.8>", byTag.parameters().orElseThrow().prompt());

        // The recorded prompt, given back with the LoRA folder, draws the same image.
        GeneratedImage again = generate(p.prompt(), "--lora-dir", loras.toString());
        assertArrayEquals(byOption.rgb(), again.rgb());
    }

    @Test
    void unresolvableLorasAreUsageErrorsBeforeLoading() {
        CliTest.Run noDir = CliTest.run("generate", "a <lora:style:1>", "--model",
                "/nonexistent/model");
        assertEquals(2, noDir.code(), noDir.err());
        assertTrue(noDir.err().contains("--lora-dir"), noDir.err());
        CliTest.Run missing = CliTest.run("generate", "a <lora:nope:1>", "--lora-dir",
                loras.toString(), "--model", "/nonexistent/model");
        assertEquals(2, missing.code(), missing.err());
        assertTrue(missing.err().contains("nope.safetensors does not exist"), missing.err());
        CliTest.Run file = CliTest.run("generate", "a", "--lora", "/no/such.safetensors:0.5",
                "--model", "/nonexistent/model");
        assertEquals(2, file.code(), file.err());
        assertTrue(file.err().contains("file not found: /no/such.safetensors"), file.err());
    }

    @Test
    void aPickleLoraIsRefusedInOneLine() throws Exception {
        Path pt = Files.write(tmp.resolve("evil.pt"), new byte[] {(byte) 0x80, 2, 0});
        CliTest.Run r = CliTest.run("generate", "a cat", "--model", model(), "--steps", "1",
                "--lora", pt.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("refusing to load a pickle"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
    }

    @Test
    void specsSplitTheWeightOffTheLastColonOnly() {
        assertEquals(0.5, LoraOptions.parseSpec("a/b.safetensors:0.5").weight());
        assertEquals(Path.of("a/b.safetensors"), LoraOptions.parseSpec("a/b.safetensors:0.5")
                .file());
        assertEquals(1.0, LoraOptions.parseSpec("C:/x/b.safetensors").weight());
        assertEquals(Path.of("C:/x/b.safetensors"), LoraOptions.parseSpec("C:/x/b.safetensors")
                .file());
        assertEquals("b", LoraOptions.parseSpec("C:/x/b.safetensors:-1").name());
    }
}
