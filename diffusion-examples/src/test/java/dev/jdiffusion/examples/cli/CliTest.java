package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jdiffusion.api.GeneratedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Runs the app's commands in-process on a tiny random-weight model. */
class CliTest {

    @TempDir
    Path tmp;

    /** Exit code and captured output of one run. */
    record Run(int code, String out, String err) {
        List<String> errLines() {
            return err.lines().toList();
        }
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    private static String model() {
        return TinyModel.textToImage().toString();
    }

    private static void assertNoStackTrace(Run r) {
        assertFalse(r.err.contains("\tat ") || r.err.contains("Exception"), r.err);
    }

    // ------------------------------------------------------------------ generate

    @Test
    void generateWithHalfWeightsIsCloseToFloat32() throws IOException {
        Path full = tmp.resolve("full.png");
        Path half = tmp.resolve("half.png");
        Run a = run("generate", "a cat face", "--model", model(), "--steps", "2", "--seed", "7",
                "--sampler", "euler", "-o", full.toString(), "--scale", "1");
        Run b = run("generate", "a cat face", "--model", model(), "--steps", "2", "--seed", "7",
                "--sampler", "euler", "-o", half.toString(), "--scale", "1", "--half");
        assertEquals(0, a.code, a.err);
        assertEquals(0, b.code, b.err);
        int[] x = GeneratedImage.read(full).rgb();
        int[] y = GeneratedImage.read(half).rgb();
        int max = 0;
        for (int i = 0; i < x.length; i++) {
            for (int shift = 0; shift <= 16; shift += 8) {
                max = Math.max(max, Math.abs(((x[i] >> shift) & 0xFF) - ((y[i] >> shift) & 0xFF)));
            }
        }
        assertTrue(max <= 8, "float16 weights moved a pixel channel by " + max);
    }

    @Test
    void generateWritesPngNamedBySeedWithParameters() throws IOException {
        Path dir = tmp.resolve("out");
        Run r = run("generate", "a cat face", "--model", model(), "--steps", "2", "--seed", "7",
                "--sampler", "euler", "-o", dir.toString(), "--scale", "1");
        assertEquals(0, r.code, r.err);
        assertEquals("", r.err);
        Path png = dir.resolve("a-cat-face-7.png");
        assertTrue(Files.isRegularFile(png), r.out);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(1, files.count(), "--scale 1 writes no enlarged copy");
        }
        GeneratedImage img = GeneratedImage.read(png);
        assertEquals(16, img.width(), "native size of the tiny model: 8 latents x VAE factor 2");
        String params = pngText(png).get(GeneratedImage.PARAMETERS_KEY);
        assertTrue(params.startsWith("a cat face\n"), params);
        assertTrue(params.contains("Steps: 2, Sampler: euler, CFG scale: 5.0, Seed: 7,"
                + " Size: 16x16, Model: tiny-text"), params);
        assertTrue(r.out.contains("wrote " + png + " (seed 7)"), r.out);
        // Not a terminal here: one plain progress line per step.
        assertEquals(2, r.out.lines().filter(l -> l.startsWith("generating step ")).count(),
                r.out);
    }

    @Test
    void sameSeedGivesIdenticalPixelsAndAnotherSeedDoesNot() throws IOException {
        int[][] pixels = new int[3][];
        long[] seeds = {11, 11, 12};
        for (int i = 0; i < 3; i++) {
            Path dir = tmp.resolve("run" + i);
            Run r = run("generate", "dog face", "--model", model(), "--steps", "3",
                    "--seed", Long.toString(seeds[i]), "-o", dir.toString(), "--scale", "1");
            assertEquals(0, r.code, r.err);
            pixels[i] = GeneratedImage.read(dir.resolve("dog-face-" + seeds[i] + ".png")).rgb();
        }
        assertArrayEquals(pixels[0], pixels[1]);
        assertFalse(Arrays.equals(pixels[0], pixels[2]), "seed 12 must differ from seed 11");
    }

    @Test
    void twoImagesGetConsecutiveSeedsAndEnlargedCopies() {
        Path dir = tmp.resolve("two");
        Run r = run("generate", "blue car", "--model", model(), "--steps", "2", "--seed", "5",
                "-n", "2", "-o", dir.toString());
        assertEquals(0, r.code, r.err);
        for (String f : List.of("blue-car-5.png", "blue-car-6.png", "blue-car-5-x16.png",
                "blue-car-6-x16.png")) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f + " in " + r.out);
        }
    }

    @Test
    void secondPromptsReachSdxlAndAreRefusedForOneTextEncoder() throws IOException {
        Path sdxl = Path.of("..", "diffusion-djl", "src", "test", "resources", "reference",
                "sdxl").toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(sdxl), sdxl.toString());
        Path png = tmp.resolve("two.png");
        Run r = run("generate", "a cat face", "--model", sdxl.toString(), "--steps", "2",
                "--seed", "7", "--prompt-2", "blue sky", "--negative-prompt-2", "green tree",
                "-o", png.toString(), "--scale", "1");
        assertEquals(0, r.code, r.err);
        String parameters = pngText(png).get("parameters");
        assertTrue(parameters.contains("Prompt 2: blue sky"), parameters);
        assertTrue(parameters.contains("Negative prompt 2: green tree"), parameters);
        Run one = run("generate", "a cat", "--model", model(), "--steps", "2",
                "--prompt-2", "a dog");
        assertEquals(1, one.code, one.err);
        assertTrue(one.err.contains("one text encoder"), one.err);
    }

    @Test
    void clipSkipEmbeddingsAndPromptSyntaxErrors() throws IOException {
        Path png = tmp.resolve("skip.png");
        Run r = run("generate", "a cat face", "--model", model(), "--steps", "2", "--seed", "7",
                "--clip-skip", "1", "-o", png.toString(), "--scale", "1");
        assertEquals(0, r.code, r.err);
        assertTrue(pngText(png).get("parameters").contains("Clip skip: 2"),
                pngText(png).toString());
        Run negative = run("generate", "a cat", "--clip-skip", "-1");
        assertEquals(2, negative.code);
        assertTrue(negative.err.contains("--clip-skip must be >= 0"), negative.err);
        // A syntax error keeps its excerpt and caret lines.
        Run bad = run("generate", "a (cat face", "--model", model(), "--steps", "2");
        assertEquals(1, bad.code, bad.err);
        assertEquals(List.of("jdiffusion: error: prompt syntax error at position 2: unclosed '(':"
                + " close it with ')', or write \\( for a literal bracket", "  a (cat face",
                "    ^"), bad.errLines().subList(0, 3));
        // An embedding: the file name is the trigger word.
        Path emb = tmp.resolve("zq.safetensors");
        writeSafetensors(emb, new String[][] {{"emb_params", "F32", "2,16"}});
        Path out = tmp.resolve("emb.png");
        Run e = run("generate", "a zq cat", "--model", model(), "--steps", "2", "--seed", "7",
                "--embedding", emb.toString(), "-o", out.toString(), "--scale", "1");
        assertEquals(0, e.code, e.err);
        Path wide = tmp.resolve("wide.safetensors");
        writeSafetensors(wide, new String[][] {{"emb_params", "F32", "1,768"}});
        Run w = run("generate", "a cat", "--model", model(), "--steps", "2",
                "--embedding", wide.toString());
        assertEquals(2, w.code, w.err);
        assertTrue(w.err.contains("--embedding: ") && w.err.contains("hidden size is 16"), w.err);
        Path pt = tmp.resolve("style.pt");
        Files.write(pt, new byte[] {'P', 'K', 3, 4});
        Run p = run("generate", "a cat", "--model", model(), "--embedding", pt.toString());
        assertEquals(1, p.code, p.err);
        assertTrue(p.err.contains("refusing to load a pickle"), p.err);
        assertNoStackTrace(p);
    }

    @Test
    void missingModelIsOneLineAndExitCodeOne() {
        Path missing = tmp.resolve("missing");
        Run r = run("generate", "a cat", "--model", missing.toString());
        assertEquals(1, r.code);
        assertEquals(List.of("jdiffusion: error: model not found: " + missing
                + " (give a diffusers model folder or a .safetensors checkpoint)"), r.errLines());
        assertNoStackTrace(r);
    }

    @Test
    void verboseAddsTheStackTraceBeforeOrAfterTheSubcommand() {
        String missing = tmp.resolve("missing").toString();
        for (String[] args : List.of(new String[] {"--verbose", "generate", "--model", missing},
                new String[] {"generate", "--model", missing, "--verbose"})) {
            Run r = run(args);
            assertEquals(1, r.code, String.join(" ", args));
            assertTrue(r.errLines().get(0).startsWith("jdiffusion: error: model not found"),
                    r.err);
            assertTrue(r.err.contains("ModelLoadException") && r.err.contains("\tat "), r.err);
        }
    }

    @Test
    void corruptWeightsAreOneLine() throws IOException {
        Path copy = tmp.resolve("corrupt");
        copyTree(TinyModel.textToImage(), copy);
        Path weights = copy.resolve("unet/diffusion_pytorch_model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, Arrays.copyOf(bytes, bytes.length / 2));
        Run r = run("generate", "a cat", "--model", copy.toString(), "--steps", "2");
        assertEquals(1, r.code);
        assertEquals(1, r.errLines().size(), r.err);
        assertTrue(r.err.startsWith("jdiffusion: error: ") && r.err.contains("unet"), r.err);
        assertNoStackTrace(r);
    }

    @Test
    void unknownOptionIsAUsageErrorWithHint() {
        Run r = run("generate", "--bogus");
        assertEquals(2, r.code);
        assertEquals("jdiffusion: error: Unknown option: '--bogus'", r.errLines().get(0));
        assertEquals("see 'jdiffusion generate --help'", r.errLines().get(r.errLines().size() - 1));
        assertTrue(r.errLines().size() <= 3, r.err);
        assertEquals("", r.out, "no usage dump");
    }

    @Test
    void badValueIsAUsageError() {
        Run r = run("generate", "--steps", "many");
        assertEquals(2, r.code);
        assertTrue(r.errLines().get(0).startsWith("jdiffusion: error: ")
                && r.errLines().get(0).contains("--steps"), r.err);
    }

    @Test
    void impossibleSizeIsOneLineBeforeLoadingTheModel() {
        // A model path that does not exist proves the check runs before loading.
        Run r = run("generate", "a cat", "--width", "30", "--model", "/nonexistent/model");
        assertEquals(2, r.code, r.err);
        assertEquals("jdiffusion: error: --width must be a positive multiple of 8 up to 4096"
                + " (got 30)", r.errLines().get(0));
        assertEquals(List.of("see 'jdiffusion generate --help'"), r.errLines().subList(1, 2));
        Run zero = run("generate", "--height", "0", "--model", "/nonexistent/model");
        assertEquals(2, zero.code);
        assertTrue(zero.errLines().get(0).contains("--height must be a positive"), zero.err);
    }

    @Test
    void unknownSamplerAndDeviceAreUsageErrors() {
        Run s = run("generate", "--sampler", "nope", "--model", "/nonexistent/model");
        assertEquals(2, s.code);
        assertTrue(s.errLines().get(0).contains("unknown sampler 'nope'")
                && s.errLines().get(0).contains("dpmpp_2m"), s.err);
        Run d = run("generate", "--device", "tpu", "--model", "/nonexistent/model");
        assertEquals(2, d.code);
        assertTrue(d.errLines().get(0).contains("--device"), d.err);
    }

    @Test
    void missingInitImageIsNamed() {
        Path img = tmp.resolve("nope.png");
        Run r = run("generate", "--init-image", img.toString(), "--model", model());
        assertEquals(2, r.code);
        assertEquals("jdiffusion: error: --init-image: file not found: " + img,
                r.errLines().get(0));
    }

    @Test
    void requestRangeErrorsUseOptionNames() {
        Run r = run("generate", "a cat", "--model", "/nonexistent/model", "--guidance", "-1");
        assertEquals(2, r.code, r.err);
        assertEquals("jdiffusion: error: --guidance must be a finite number >= 0 (got -1.0)",
                r.errLines().get(0));
    }

    @Test
    void problemsFoundByThePipelineAreOneLineWithExitCodeOne() throws IOException {
        Path init = tmp.resolve("init.png");
        new GeneratedImage(8, 8, new int[64], null, java.util.Map.of()).writePng(init);
        Run r = run("generate", "a cat", "--model", model(), "--init-image", init.toString(),
                "--width", "16", "--steps", "2", "-o", tmp.resolve("o").toString());
        assertEquals(1, r.code, r.err);
        assertEquals(List.of("jdiffusion: error: initImage is 8x8 but the request asks for 16x16;"
                + " resize the image or leave width/height unset"), r.errLines());
    }

    @Test
    void initImageOfAnotherSizeIsNamedAndResizable() throws IOException {
        Path init = tmp.resolve("init32.png");
        new GeneratedImage(32, 32, new int[32 * 32], null, java.util.Map.of()).writePng(init);
        Path kept = tmp.resolve("kept.png");
        Run r = run("generate", "a cat", "--model", model(), "--init-image", init.toString(),
                "--steps", "2", "-o", kept.toString(), "--scale", "1");
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.contains("init image is 32x32: generating at 32x32 (the model's default"
                + " size is 16x16; --resize scales the init image to it)"), r.out);
        assertEquals(32, GeneratedImage.read(kept).width());
        Path scaled = tmp.resolve("scaled.png");
        Run s = run("generate", "a cat", "--model", model(), "--init-image", init.toString(),
                "--resize", "--steps", "2", "-o", scaled.toString(), "--scale", "1");
        assertEquals(0, s.code, s.err);
        assertTrue(s.out.contains("init image is 32x32: scaled to 16x16"), s.out);
        GeneratedImage img = GeneratedImage.read(scaled);
        assertEquals(16, img.width());
        assertEquals(16, img.height());
    }

    @Test
    void sizesOverFourTimesTheDefaultNeedAllowLarge() throws IOException {
        Path init = tmp.resolve("init48.png");
        new GeneratedImage(48, 48, new int[48 * 48], null, java.util.Map.of()).writePng(init);
        Run r = run("generate", "a cat", "--model", model(), "--init-image", init.toString(),
                "--steps", "2", "-o", tmp.resolve("big.png").toString());
        assertEquals(2, r.code, r.out);
        assertEquals("jdiffusion: error: the init image sets 48x48, 9x the pixels of this"
                + " model's default 16x16, which takes about 9x as long per step; add"
                + " --allow-large to generate at 48x48 anyway, or --resize to scale the init"
                + " image to 16x16", r.errLines().get(0));
        Run w = run("generate", "a cat", "--model", model(), "--width", "48", "--height", "48",
                "--steps", "2", "-o", tmp.resolve("wide.png").toString());
        assertEquals(2, w.code, w.out);
        assertTrue(w.errLines().get(0).startsWith("jdiffusion: error: --width/--height ask for"
                + " 48x48, 9x the pixels"), w.err);
        assertFalse(w.err.contains("--resize"), w.err);
        Path big = tmp.resolve("allowed.png");
        Run a = run("generate", "a cat", "--model", model(), "--init-image", init.toString(),
                "--allow-large", "--steps", "2", "-o", big.toString(), "--scale", "1");
        assertEquals(0, a.code, a.err);
        assertEquals(48, GeneratedImage.read(big).width());
        Run n = run("generate", "a cat", "--model", model(), "--resize");
        assertEquals(2, n.code);
        assertTrue(n.errLines().get(0).contains("--resize scales the init image"), n.err);
    }

    @Test
    void sheetPutsAllImagesSideBySide() throws IOException {
        Path sheet = tmp.resolve("docs").resolve("sheet.png");
        Run r = run("generate", "blue car", "--model", model(), "--steps", "2", "--seed", "5",
                "-n", "3", "-o", tmp.resolve("o").toString(), "--sheet", sheet.toString());
        assertEquals(0, r.code, r.err);
        GeneratedImage img = GeneratedImage.read(sheet);
        // 16-pixel images enlarged 8x to 128, 4-pixel gaps around and between them.
        assertEquals(3 * 128 + 4 * 4, img.width());
        assertEquals(128 + 2 * 4, img.height());
        GeneratedImage second = GeneratedImage.read(tmp.resolve("o").resolve("blue-car-6.png"));
        assertEquals(second.rgb(3, 5), img.rgb(4 + 128 + 4 + 3 * 8, 4 + 5 * 8));
    }

    @Test
    void randomBytesAsSafetensorsAreReportedAsSuchNotAsAMissingTokenizer() throws IOException {
        byte[] junk = new byte[4096];
        new java.util.Random(3).nextBytes(junk);
        Path file = Files.write(tmp.resolve("junk.safetensors"), junk);
        Run r = run("generate", "a cat", "--model", file.toString(), "--steps", "2");
        assertEquals(1, r.code, r.err);
        assertEquals(1, r.errLines().size(), r.err);
        assertFalse(r.err.contains("tokenizer"), r.err);
        assertTrue(r.err.contains(file.toString()), r.err);
    }

    // ------------------------------------------------------------------ info

    @Test
    void infoDescribesAFolderFromItsFiles() {
        Run r = run("info", model());
        assertEquals(0, r.code, r.err);
        String o = r.out;
        assertTrue(o.contains("model:        tiny-text"), o);
        assertTrue(o.contains("diffusers folder, StableDiffusionPipeline"), o);
        assertTrue(o.contains("family:       custom"), o);
        assertRow(o, "unet", TinyModel.unetParams, "F32");
        assertRow(o, "vae", TinyModel.vaeParams, "F32");
        assertRow(o, "text_encoder", TinyModel.textParams, "F32");
        assertRow(o, "total", TinyModel.unetParams + TinyModel.vaeParams + TinyModel.textParams,
                "F32");
        assertTrue(o.contains("channels [16, 32], 4 in / 4 out channels"), o);
        assertTrue(o.lines().anyMatch(l -> l.startsWith("  tokenizer") && l.contains("CLIP BPE")),
                o);
        assertTrue(o.lines().anyMatch(l -> l.startsWith("  scheduler") && l.contains(
                "DDPMScheduler")), o);
        assertTrue(o.contains("size:         16x16 pixels (latents 8x8x4, VAE factor 2);"
                + " sizes must be multiples of 8"), o);
        assertTrue(o.contains("conditioning: text prompt (CLIP encoder"), o);
        assertTrue(o.contains("scheduler:    DDPMScheduler, scaled_linear betas 0.00085..0.012"
                + " over 1000 steps, prediction epsilon, spacing linspace"), o);
        assertTrue(o.contains("defaults:     guidance 5.0, sampler euler (jdiffusion.json)"), o);
        assertFalse(o.contains("check:"), "no load without --check");
    }

    @Test
    void generateWithARefinerRecordsItAndInfoNamesIt() throws IOException {
        Path ref = Path.of("..", "diffusion-djl", "src", "test", "resources", "reference");
        Path png = tmp.resolve("two.png");
        Run r = run("generate", "a cat face", "--model", ref.resolve("sdxl").toString(),
                "--refiner", ref.resolve("sdxl-refiner").toString(), "--refiner-switch", "0.7",
                "--steps", "4", "--seed", "7", "--sampler", "euler", "-o", png.toString(),
                "--scale", "1");
        assertEquals(0, r.code, r.err);
        String params = GeneratedImage.read(png).text().get(GeneratedImage.PARAMETERS_KEY);
        assertTrue(params.contains("Refiner: sdxl-refiner") && params.contains(
                "Refiner switch at: 0.7") && params.contains("Model: sdxl,"), params);
        Run bad = run("generate", "a cat face", "--model", ref.resolve("sdxl").toString(),
                "--refiner", ref.resolve("sdxl-refiner").toString(), "--refiner-switch", "1.5",
                "--steps", "2", "-o", tmp.resolve("bad.png").toString());
        assertTrue(bad.code != 0 && bad.err.contains("switchAt must be in (0, 1)"), bad.err);
        Run info = run("info", ref.resolve("sdxl-refiner").toString());
        assertEquals(0, info.code, info.err);
        assertTrue(info.out.contains("family:       SDXL refiner (text_encoder_2 only"), info.out);
    }

    @Test
    void infoNamesTheSdxlFamilyAndItsSecondTextEncoder() {
        // The SDXL reference fixture of diffusion-djl's SdxlParityTest.
        Path dir = Path.of("..", "diffusion-djl", "src", "test", "resources", "reference",
                "sdxl");
        Run r = run("info", dir.toString());
        assertEquals(0, r.code, r.err);
        String o = r.out;
        assertTrue(o.contains("family:       SDXL (base"), o);
        assertTrue(o.lines().anyMatch(l -> l.startsWith("  text_encoder_2")
                && l.contains("CLIPTextModelWithProjection, 3 layers, width 24, projection 12")),
                o);
        assertTrue(o.lines().anyMatch(l -> l.startsWith("  tokenizer_2")), o);
        assertTrue(o.contains("scaling factor 0.13025"), o);
        assertTrue(o.contains("conditioning: text prompt (two CLIP encoders"), o);
    }

    @Test
    void infoShowsTheWholeTrainingCommandAfterItsLabel() throws IOException {
        Path dir = dev.jdiffusion.examples.DefaultModel.path(tmp.resolve("cache"));
        Run r = run("info", dir.toString());
        assertEquals(0, r.code, r.err);
        String line = r.out.lines().filter(l -> l.startsWith("training command"))
                .findFirst().orElseThrow(() -> new AssertionError(r.out));
        assertTrue(line.startsWith("training command: jdiffusion train --data DATA --work WORK"
                + " -o OUT --size 32 --steps 3600"), line);
        assertTrue(line.endsWith(" --name jdiffusion-emoji"), line);
    }

    private static void assertRow(String out, String name, long params, String dtype) {
        String count = String.format(Locale.ROOT, "%,d", params);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("  " + name + " ")
                && l.contains(" " + count + " params") && l.contains(dtype)),
                name + " with " + count + " parameters in\n" + out);
    }

    @Test
    void infoCheckLoadsTheModel() {
        Run r = run("info", "--check", model());
        assertEquals(0, r.code, r.err);
        assertTrue(r.out.lines().anyMatch(l -> l.startsWith("check:        ok: all weights"
                + " loaded in ")), r.out);
    }

    @Test
    void infoOfMissingOrNonModelPathsIsOneLine() throws IOException {
        Path missing = tmp.resolve("none");
        Run r = run("info", missing.toString());
        assertEquals(1, r.code);
        assertEquals(List.of("jdiffusion: error: model not found: " + missing
                + " (give a diffusers model folder or a .safetensors checkpoint)"), r.errLines());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        Run e = run("info", empty.toString());
        assertEquals(1, e.code);
        assertEquals(1, e.errLines().size(), e.err);
        assertTrue(e.err.contains("not a diffusers model folder"), e.err);
        Path pickle = Files.write(tmp.resolve("model.ckpt"), new byte[] {(byte) 0x80, 2});
        Run p = run("info", pickle.toString());
        assertEquals(1, p.code);
        assertEquals(1, p.errLines().size(), p.err);
        assertTrue(p.err.contains("safetensors"), p.err);
    }

    @Test
    void infoGroupsASingleFileCheckpointByKeyPrefix() throws IOException {
        Path file = tmp.resolve("mini.safetensors");
        // Hand-written safetensors: 2x3 F16 + 4 F16 UNet, 5 F32 VAE, 77 I64 position ids and a
        // 2x2 F32 text weight, one F32 scalar outside the known prefixes.
        String[][] tensors = {
            {"model.diffusion_model.input_blocks.0.0.weight", "F16", "2,3"},
            {"model.diffusion_model.out.2.bias", "F16", "4"},
            {"first_stage_model.encoder.down.0.block.0.norm1.weight", "F32", "5"},
            {"cond_stage_model.transformer.text_model.embeddings.position_ids", "I64", "1,77"},
            {"cond_stage_model.transformer.text_model.final_layer_norm.weight", "F32", "2,2"},
            {"model_ema.decay", "F32", ""},
        };
        writeSafetensors(file, tensors);
        Run r = run("info", file.toString());
        assertEquals(0, r.code, r.err);
        String o = r.out;
        assertTrue(o.contains("model:        mini"), o);
        assertTrue(o.contains("single-file checkpoint, 6 tensors"), o);
        assertRow(o, "unet", 10, "F16");
        assertRow(o, "vae", 5, "F32");
        assertRow(o, "text_encoder", 4, "F32+I64"); // position ids are not parameters
        assertRow(o, "model_ema", 1, "F32");
        assertRow(o, "total", 20, "F32"); // every tensor of the file
        assertTrue(o.contains("structure:    not loadable: "), o);
        assertTrue(o.contains("tokenizer     missing"), o);
    }

    // ------------------------------------------------------------------ toy2d

    @Test
    void toy2dShowsTrainingProgressAndItsTime() {
        Path png = tmp.resolve("moons.png");
        Run r = run("toy2d", "--steps", "40", "--sample-steps", "2", "--points", "32", "-o",
                png.toString());
        assertEquals(0, r.code, r.err);
        List<String> steps = r.out.lines().filter(l -> l.startsWith("training step ")).toList();
        assertEquals(20, steps.size(), "a line every 2 of 40 steps without a terminal:\n" + r.out);
        assertTrue(steps.get(1).matches("training step 4/40 loss \\d+\\.\\d{4} \\d+\\.\\d\\d it/s"
                + " ETA \\d+m?\\d*s"), steps.get(1));
        assertTrue(steps.get(19).matches("training step 40/40 loss \\d+\\.\\d{4} \\d+\\.\\d\\d"
                + " it/s"), steps.get(19));
        assertTrue(r.out.lines().anyMatch(l -> l.matches("trained in \\d+\\.\\d s .*")), r.out);
        assertTrue(Files.isRegularFile(png));
    }

    // ------------------------------------------------------------------ samplers, main

    @Test
    void samplersListsTheBuiltInsWithDescriptions() {
        Run r = run("samplers");
        assertEquals(0, r.code);
        List<String> lines = r.out.lines().toList();
        assertEquals(List.of("ddim", "ddpm", "dpmpp_2m", "dpmpp_2m_sde", "euler", "euler_a",
                "heun", "lcm", "lms"), lines.stream().map(l -> l.split("\\s+")[0]).toList());
        assertTrue(lines.stream().allMatch(l -> l.split("\\s+").length > 2), r.out);
        assertTrue(lines.stream().filter(l -> l.contains("[default")).toList().get(0)
                .startsWith("euler_a "), r.out);
    }

    @Test
    void noSubcommandPrintsUsage() {
        Run r = run();
        assertEquals(0, r.code);
        assertTrue(r.out.contains("Usage: jdiffusion") && r.out.contains("info"), r.out);
    }

    @Test
    void unknownSubcommandIsAUsageError() {
        Run r = run("generat");
        assertEquals(2, r.code);
        assertTrue(r.errLines().get(0).startsWith("jdiffusion: error: "), r.err);
        assertTrue(r.err.contains("generate"), "suggests the near name: " + r.err);
        assertEquals("see 'jdiffusion --help'", r.errLines().get(r.errLines().size() - 1));
    }

    @Test
    void describesUnexpectedFailuresWithAHintToVerbose() {
        assertEquals("java.lang.IllegalStateException: boom (run with --verbose for details)",
                Errors.describe(new IllegalStateException("boom\nsecond line"), false));
        assertEquals("file not found: /a/b",
                Errors.describe(new java.nio.file.NoSuchFileException("/a/b"), false));
        assertEquals("bad value", Errors.describe(new IllegalArgumentException("bad value"),
                true));
    }

    // ------------------------------------------------------------------ helpers

    /** The tEXt chunks of a PNG file, read from its bytes. */
    private static java.util.Map<String, String> pngText(Path png) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(png)); // big-endian
        b.position(8); // signature
        java.util.Map<String, String> text = new java.util.HashMap<>();
        while (b.remaining() >= 12) {
            int length = b.getInt();
            byte[] type = new byte[4];
            b.get(type);
            byte[] data = new byte[length];
            b.get(data);
            b.getInt(); // CRC
            if (new String(type, StandardCharsets.US_ASCII).equals("tEXt")) {
                int zero = 0;
                while (data[zero] != 0) {
                    zero++;
                }
                text.put(new String(data, 0, zero, StandardCharsets.ISO_8859_1),
                        new String(data, zero + 1, length - zero - 1,
                                StandardCharsets.ISO_8859_1));
            }
        }
        return text;
    }

    private static void writeSafetensors(Path file, String[][] tensors) throws IOException {
        StringBuilder header = new StringBuilder("{");
        long offset = 0;
        for (String[] t : tensors) {
            long n = 1;
            String shape = t[2].isEmpty() ? "" : t[2];
            for (String d : shape.isEmpty() ? new String[0] : shape.split(",")) {
                n *= Long.parseLong(d);
            }
            int size = switch (t[1]) {
                case "F16" -> 2;
                case "F32" -> 4;
                default -> 8;
            };
            long end = offset + n * size;
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(t[0]).append("\":{\"dtype\":\"").append(t[1])
                    .append("\",\"shape\":[").append(shape).append("],\"data_offsets\":[")
                    .append(offset).append(',').append(end).append("]}");
            offset = end;
        }
        header.append('}');
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer buf = ByteBuffer.allocate(8 + h.length + (int) offset)
                .order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(h.length).put(h);
        Files.write(file, buf.array());
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }
}
