package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.ImageParameters;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.TinyModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Seeded random generation requests on the tiny model. An independent oracle (the documented
 * ranges, and the model's size multiple of 4) says whether each is valid: valid ones must
 * generate images of the asked size whose PNG parameters round-trip; invalid ones must fail with
 * {@link IllegalArgumentException} quickly, before native work (no native array is left, none is
 * created on the way).
 */
@Timeout(value = 600, unit = TimeUnit.SECONDS)
class RequestPropertyTest {

    private static final int CASES = 120;
    private static DiffusionPipeline pipeline;
    private static Path pngDir;

    @BeforeAll
    static void load() throws Exception {
        pipeline = DiffusionPipeline.load(TinyModel.folder(), PipelineOptions.defaults());
        pngDir = TinyModel.scratch("png-");
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
        TinyModel.deleteTree(pngDir);
    }

    // Weight-free: the tiny encoder's states have mean ~0, so weights would scale them wildly
    // (see ClipConditioner); weights are tested on an encoder with biases in ClipConditionerTest.
    private static final String[] A1111_VALID = {"\\(literal\\) BREAK apple", "style: anime",
        "BREAK", "a (cat:1) face", "a " + "cat, ".repeat(40) + "dog", "a\\[b\\]"};

    private static final String[] A1111_INVALID = {"a (red fox", "a red) fox", "([a)]",
        "(a:1.x)", "(a BREAK b)", "[a:b:0.5]", "[a|b]", "a AND b"};

    /** Prompts of every kind the text encoder may meet. */
    static String prompt(Random rnd) {
        String[] pieces = {"a cat face", "😀🐱‍👤🏳️‍🌈", "猫の顔、赤いりんご", "قطة حمراء", "חתול אדום",
            "\u0000\u0007\u001b[31m", "e\u0301\u0301\u0301", "\uD800", "\uDC00x",
            "<|endoftext|>", "<|startoftext|>", "'s 're", "\t\n\r ", "Ω≈ç√∫", "ＡＢＣ", "🙂".repeat(40),
            "", " ", "\u202Eevil", "NUL\u0000mid", "x".repeat(500)};
        int kind = rnd.nextInt(10);
        if (kind == 0) {
            return "";
        }
        if (kind == 1) { // far more than 77 tokens, within the 600 of 8 chunks
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < 20 + rnd.nextInt(60); i++) {
                sb.append(rnd.nextBoolean() ? pieces[0] : "red apple").append(", ");
            }
            return sb.toString();
        }
        if (kind == 2) { // random code points, surrogates included
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < rnd.nextInt(60); i++) {
                sb.append((char) rnd.nextInt(0x10000));
            }
            return sb.toString();
        }
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 1 + rnd.nextInt(3); i++) {
            sb.append(pieces[rnd.nextInt(pieces.length)]);
        }
        return sb.toString();
    }

    /** A request and whether the oracle deems it valid (with the reason when not). */
    private record Case(GenerationRequest.Builder builder, String invalid, int width,
            int height, int images) {}

    private static Case randomCase(Random rnd) {
        List<String> invalid = new ArrayList<>();
        GenerationRequest.Builder b = GenerationRequest.builder(prompt(rnd));
        b.negativePrompt(rnd.nextInt(4) == 0 ? prompt(rnd) : "");
        // Arbitrary text is read literally; the A1111 syntax gets prompts of its own.
        b.promptSyntax("plain");
        int syntaxCase = rnd.nextInt(16);
        if (syntaxCase == 0) {
            b.promptSyntax("a1111").prompt(A1111_VALID[rnd.nextInt(A1111_VALID.length)])
                    .negativePrompt("");
        } else if (syntaxCase == 1) {
            b.promptSyntax("a1111").prompt(A1111_INVALID[rnd.nextInt(A1111_INVALID.length)])
                    .negativePrompt("");
            invalid.add("prompt syntax");
        } else if (syntaxCase == 2) {
            b.prompt("cat ".repeat(601)); // 601 tokens: more than 8 chunks of 75
            invalid.add("prompt too long");
        }
        int w = 16;
        int h = 16;
        boolean init = rnd.nextInt(4) == 0;
        boolean sized = rnd.nextInt(3) > 0;
        if (sized) {
            int[] sizes = {8, 16, 24, 32, 12, 20, 4, 0, -8, 4104, Integer.MIN_VALUE, 1 << 20};
            w = sizes[rnd.nextInt(rnd.nextInt(5) == 0 ? sizes.length : 4)];
            h = sizes[rnd.nextInt(rnd.nextInt(5) == 0 ? sizes.length : 4)];
            b.size(w, h);
            if (!validSize(w) || !validSize(h)) {
                invalid.add("size " + w + "x" + h);
            }
        }
        if (init) {
            int iw = rnd.nextInt(6) == 0 ? 24 : (validSize(w) ? w : 16);
            int ih = validSize(h) ? h : 16;
            b.initImage(TinyModels.pattern(iw, ih, rnd.nextInt(100)));
            if (sized && (iw != w || ih != h)) {
                invalid.add("init image size");
            } else if (!sized) {
                w = iw;
                h = ih;
            }
            if (rnd.nextBoolean()) {
                int mw = rnd.nextInt(6) == 0 ? iw + 8 : iw;
                b.mask(TinyModels.leftHalfMask(mw, ih));
                if (mw != iw) {
                    invalid.add("mask size");
                }
            }
        } else if (rnd.nextInt(12) == 0) {
            b.mask(TinyModels.leftHalfMask(16, 16));
            invalid.add("mask without init image");
        }
        int steps = rnd.nextInt(8) == 0 ? new int[] {0, -1, 1001, Integer.MIN_VALUE}[rnd.nextInt(4)]
                : 1 + rnd.nextInt(4);
        b.steps(steps);
        if (steps < 1 || steps > GenerationRequest.MAX_STEPS) {
            invalid.add("steps");
        }
        double g = rnd.nextInt(8) == 0
                ? new double[] {-1, Double.NaN, Double.POSITIVE_INFINITY, 1e300}[rnd.nextInt(4)]
                : rnd.nextDouble() * 12;
        b.guidanceScale(g);
        if (!(g >= 0) || g > Float.MAX_VALUE) { // the sampler computes in float
            invalid.add("guidance");
        }
        double gr = rnd.nextInt(8) == 0 ? new double[] {-0.1, 1.5, Double.NaN}[rnd.nextInt(3)]
                : (rnd.nextBoolean() ? 0 : rnd.nextDouble());
        b.guidanceRescale(gr);
        if (!(gr >= 0 && gr <= 1)) {
            invalid.add("rescale");
        }
        double s = rnd.nextInt(8) == 0 ? new double[] {-0.01, 1.01, Double.NaN}[rnd.nextInt(3)]
                : rnd.nextDouble();
        b.strength(s);
        if (!(s >= 0 && s <= 1)) {
            invalid.add("strength");
        }
        int n = rnd.nextInt(10) == 0 ? new int[] {0, -3, 65}[rnd.nextInt(3)] : 1 + rnd.nextInt(2);
        b.numImages(n);
        if (n < 1 || n > GenerationRequest.MAX_IMAGES) {
            invalid.add("numImages");
        }
        List<String> names = Samplers.names();
        String sampler = rnd.nextInt(10) == 0 ? new String[] {"nope", " ", "EULER", "euler a"}[
                rnd.nextInt(4)] : names.get(rnd.nextInt(names.size()));
        b.sampler(sampler);
        String normal = sampler.trim().toLowerCase(Locale.ROOT);
        if (!names.contains(normal)) {
            invalid.add("sampler");
        }
        // LCM's timestep rule takes the strength: int(50 · strength) distillation timesteps must
        // cover the steps (diffusers raises the same).
        if (normal.equals("lcm") && init && s >= 0 && s <= 1 && steps >= 1
                && steps <= GenerationRequest.MAX_STEPS && (int) (50 * s) < steps) {
            invalid.add("lcm strength below steps / 50");
        }
        if (rnd.nextInt(3) == 0) {
            String sp = rnd.nextInt(5) == 0 ? "bogus" : List.copyOf(
                    GenerationRequest.SPACINGS).get(rnd.nextInt(GenerationRequest.SPACINGS.size()));
            b.spacing(sp);
            if (!GenerationRequest.SPACINGS.contains(sp)) {
                invalid.add("spacing");
            }
        }
        int preview = rnd.nextInt(10) == 0 ? -1 : rnd.nextInt(3);
        b.previewEvery(preview);
        if (preview < 0) {
            invalid.add("previewEvery");
        }
        b.seed(rnd.nextLong());
        int outW = validSize(w) ? w : 16;
        int outH = validSize(h) ? h : 16;
        return new Case(b, invalid.isEmpty() ? null : String.join(", ", invalid), outW, outH, n);
    }

    /** Valid for this model: a multiple of 8 (the API) and of 4 (the model), up to 4096. */
    private static boolean validSize(int v) {
        return v >= 8 && v <= GenerationRequest.MAX_SIZE && v % 8 == 0;
    }

    @Test
    void randomRequestsGenerateOrFailFastBeforeNativeWork() throws Exception {
        Random rnd = new Random(2024);
        int valid = 0;
        int rejected = 0;
        long slowestRejectNanos = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < CASES; i++) {
            Case c = randomCase(rnd);
            int before = NativeArrays.live();
            long t0 = System.nanoTime();
            GenerationResult result = null;
            Throwable error = null;
            try {
                result = pipeline.generate(c.builder().build());
            } catch (Throwable t) {
                error = t;
            }
            long nanos = System.nanoTime() - t0;
            int after = NativeArrays.live();
            String name = "case " + i + " (" + (c.invalid() == null ? "valid" : c.invalid())
                    + ")";
            if (after != before) {
                failures.add(name + ": native arrays " + before + " -> " + after);
            }
            if (c.invalid() != null) {
                rejected++;
                slowestRejectNanos = Math.max(slowestRejectNanos, nanos);
                if (!(error instanceof IllegalArgumentException)) {
                    failures.add(name + ": expected IllegalArgumentException, got "
                            + (error == null ? "a result" : error));
                } else if (nanos > 200_000_000L) {
                    failures.add(name + ": rejected after " + nanos / 1_000_000 + " ms");
                } else if (nativeFrames(error)) {
                    failures.add(name + ": rejected during native work: " + error);
                }
                continue;
            }
            valid++;
            if (nanos > 1_000_000_000L) {
                System.out.println("[reliability] slow request " + name + ": " + nanos / 1_000_000
                        + " ms: " + c.builder().build());
            }
            if (error != null) {
                failures.add(name + ": " + error);
                continue;
            }
            assertThat(result.images()).as(name).hasSize(c.images());
            for (GeneratedImage img : result.images()) {
                if (img.width() != c.width() || img.height() != c.height()) {
                    failures.add(name + ": image " + img.width() + "x" + img.height());
                }
            }
            // The PNG carries the prompt, whatever its characters.
            GeneratedImage img = result.images().get(0);
            Path png = pngDir.resolve("i" + i + ".png");
            img.writePng(png);
            // Read back, the parameters give the exact prompts and seed of the request.
            GenerationRequest request = c.builder().build();
            ImageParameters parsed = GeneratedImage.read(png).parameters().orElse(null);
            if (parsed == null || !parsed.prompt().equals(request.prompt())
                    || !parsed.negativePrompt().equals(request.negativePrompt())
                    || !parsed.settings().get("Seed").equals(
                            Long.toString(img.seed().orElseThrow()))) {
                failures.add(name + ": the parameters read back are " + (parsed == null ? "absent"
                        : escape(parsed.prompt()) + " / " + escape(parsed.negativePrompt())
                                + " / " + parsed.settings()) + "; expected "
                        + escape(request.prompt()) + " / " + escape(request.negativePrompt()));
            }
            String back = PngText.read(png).get(GeneratedImage.PARAMETERS_KEY);
            String written = img.text().get(GeneratedImage.PARAMETERS_KEY);
            // Lone surrogates have no UTF-8 form: they are written as '?', as Java encodes them.
            String expected = new String(written.getBytes(StandardCharsets.UTF_8),
                    StandardCharsets.UTF_8).replace('\uFFFD', '?');
            if (!expected.equals(back)) {
                int at = 0;
                while (back != null && at < Math.min(expected.length(), back.length())
                        && expected.charAt(at) == back.charAt(at)) {
                    at++;
                }
                failures.add(name + ": PNG parameters do not round-trip; first difference at "
                        + at + " of " + expected.length() + ": '" + escape(expected.substring(
                        at, Math.min(expected.length(), at + 20))) + "' vs '" + (back == null
                        ? "null" : escape(back.substring(at, Math.min(back.length(), at + 20))))
                        + "'");
            }
        }
        System.out.printf(Locale.ROOT, "[reliability] requests: %d valid generated, %d invalid"
                + " rejected (slowest rejection %.2f ms), %d failures%n", valid, rejected,
                slowestRejectNanos / 1e6, failures.size());
        assertThat(valid).isGreaterThan(CASES / 4);
        assertThat(rejected).isGreaterThan(CASES / 4);
        assertThat(failures).isEmpty();
    }

    @Test
    void promptsOverTheTokenLimitAreEncodedInFullNotTruncated() {
        // ~ 210 tokens: 3 chunks. Before chunking, everything past 75 tokens was dropped and
        // both requests gave the same image.
        GenerationResult full = pipeline.generate(GenerationRequest.builder(
                "a red apple and a blue car ".repeat(30)).steps(2).seed(5).build());
        GenerationResult cut = pipeline.generate(GenerationRequest.builder(
                "a red apple and a blue car ".repeat(15)).steps(2).seed(5).build());
        assertThat(full.images().get(0).rgb()).isNotEqualTo(cut.images().get(0).rgb());
        assertThatThrownBy(() -> pipeline.generate(GenerationRequest.builder(
                "cat ".repeat(601)).steps(2).seed(5).build()))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("600");
    }

    /** Whether the exception was thrown from inside the run or the engine, not validation. */
    private static boolean nativeFrames(Throwable t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if (e.getClassName().startsWith("ai.djl")
                    || (e.getClassName().endsWith("DiffusionPipeline")
                            && e.getMethodName().equals("run"))) {
                return true;
            }
        }
        return false;
    }

    private static String escape(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder sb = new StringBuilder();
        for (char ch : s.toCharArray()) {
            sb.append(ch < 0x20 || ch > 0x7e ? String.format(Locale.ROOT, "\\u%04x", (int) ch)
                    : String.valueOf(ch));
        }
        return sb.toString();
    }
}
