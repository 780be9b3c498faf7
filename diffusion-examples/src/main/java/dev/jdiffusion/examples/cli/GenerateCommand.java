package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.pipeline.DecoderOptions;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.text.TextualInversion;
import dev.jdiffusion.examples.DefaultModel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code jdiffusion generate PROMPT}: text-to-image, image-to-image and inpainting. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate images from a prompt (with the shipped emoji model unless --model"
                + " is given).")
final class GenerateCommand implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", defaultValue = "",
            description = "What to draw, e.g. \"a cat face\". Empty for unconditional models.")
    String prompt;

    @Option(names = "--negative", defaultValue = "", description = "Negative prompt.")
    String negative;

    @Option(names = "--prompt-2", paramLabel = "TEXT", description = "SDXL: the prompt of the"
            + " second text encoder (diffusers' prompt_2; default: the prompt).")
    String prompt2;

    @Option(names = "--negative-prompt-2", paramLabel = "TEXT", description = "SDXL: the"
            + " negative prompt of the second text encoder (default: --negative).")
    String negativePrompt2;

    @Option(names = "--steps", defaultValue = "20", description = "Sampler steps (default 20).")
    int steps;

    @Option(names = "--sampler", description = "Sampler name (see `jdiffusion samplers`).")
    String sampler;

    @Option(names = "--spacing",
            description = "Schedule spacing: leading, trailing, linspace, karras, exponential.")
    String spacing;

    @Option(names = "--guidance", description = "Classifier-free guidance scale (model default"
            + " if not given; <= 1 disables guidance).")
    Double guidance;

    @Option(names = "--seed", description = "Seed of the first image (random if not given).")
    Long seed;

    @Option(names = {"-n", "--num-images"}, defaultValue = "1", description = "Number of images.")
    int count;

    @Option(names = "--width", description = "Width in pixels (model default if not given).")
    Integer width;

    @Option(names = "--height", description = "Height in pixels (model default if not given).")
    Integer height;

    @Option(names = "--init-image", description = "Init image for image-to-image; its size is"
            + " the generation size unless --resize is given.")
    Path initImage;

    @Option(names = "--resize", description = "Scale the init image (and mask) to --width x"
            + " --height, or to the model's default size.")
    boolean resize;

    @Option(names = "--allow-large", description = "Allow sizes of more than 4 times the"
            + " model's default pixel count (slow: the time grows with the pixel count).")
    boolean allowLarge;

    @Option(names = "--strength", defaultValue = "0.8",
            description = "Image-to-image strength in [0, 1] (default 0.8).")
    double strength;

    @Option(names = "--mask", description = "Inpainting mask (white = repaint).")
    Path mask;

    @Option(names = "--model", description = "A diffusers model folder or single-file"
            + " .safetensors checkpoint (default: the shipped emoji model).")
    Path model;

    @Option(names = "--embedding", paramLabel = "FILE", description = "A textual-inversion"
            + " embedding (.safetensors; repeatable): its trigger word (the file name, or"
            + " diffusers' key) in the prompt becomes its vectors.")
    List<Path> embeddings = new ArrayList<>();

    @Option(names = "--clip-skip", paramLabel = "N", description = "Skip the last N text-encoder"
            + " layers (0 = the last layer; AUTOMATIC1111's \"Clip skip 2\" is 1; default: the"
            + " model's).")
    Integer clipSkip;

    @Option(names = "--lora", paramLabel = "PATH[:WEIGHT]", description = "Apply a LoRA"
            + " (.safetensors) with a weight (default 1); repeatable.")
    List<String> loraSpecs = new java.util.ArrayList<>();

    @Option(names = "--lora-dir", description = "Folder of LoRAs that <lora:name:weight> tags in"
            + " the prompt name (name.safetensors).")
    Path loraDir;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or gpu:N.")
    String device;

    @Option(names = "--half", description = "Keep weights in float16: half the memory (on CPU"
            + " the UNet's layers are widened to float32 as they are used).")
    boolean half;

    @Option(names = "--taesd", description = "A TAESD folder (diffusers AutoencoderTiny, e.g."
            + " madebyollin/taesd for SD 1.x, taesdxl for SDXL): decode the images with it,"
            + " many times faster than the VAE, with a little less fine detail.")
    Path taesd;

    @Option(names = "--tiled-vae", description = "Run the VAE in overlapping tiles of its"
            + " sample_size: 1024x1024 and larger images in the memory of a 512x512 one.")
    boolean tiledVae;

    @Option(names = {"-o", "--output"}, defaultValue = "out",
            description = "Output folder, or a .png file name for a single image.")
    Path output;

    @Option(names = "--sheet", description = "Also write all images side by side into this PNG"
            + " (a contact sheet, enlarged like the copies of --scale).")
    Path sheet;

    @Option(names = "--scale", defaultValue = "0",
            description = "Also write a copy enlarged this many times (0 = automatic for small"
                    + " models: to at least 256 pixels).")
    int scale;

    @Option(names = "--refiner", description = "An SDXL refiner folder: the model denoises the"
            + " first --refiner-switch of the schedule, the refiner the rest (base + refiner).")
    Path refiner;

    @Option(names = "--refiner-switch", defaultValue = "0.8", description = "The fraction of"
            + " the schedule the model runs before the refiner takes over (default 0.8).")
    double refinerSwitch;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        // Everything that can be checked without the model is checked first: a typo should not
        // cost a model load.
        checkDevice();
        if (sampler != null && !Samplers.names().contains(sampler)) {
            throw usage("--sampler: unknown sampler '" + sampler + "'; installed: "
                    + String.join(", ", Samplers.names()));
        }
        GenerationRequest.Builder b = GenerationRequest.builder(prompt)
                .negativePrompt(negative).steps(steps).numImages(count).sampler(sampler)
                .spacing(spacing).strength(strength)
                .guidanceScale(guidance != null ? guidance : 0).clipSkip(clipSkip)
                .prompt2(prompt2).negativePrompt2(negativePrompt2);
        if (seed != null) {
            b.seed(seed);
        }
        if (width != null || height != null) {
            // Provisional (64 for the side not given): the model's size is set once it is loaded.
            b.size(width != null ? positive(width, "--width") : 64,
                    height != null ? positive(height, "--height") : 64);
        }
        GeneratedImage init = initImage != null
                ? GeneratedImage.read(requireFile(initImage, "--init-image")) : null;
        GeneratedImage maskImage = mask != null
                ? GeneratedImage.read(requireFile(mask, "--mask")) : null;
        if (resize && init == null) {
            throw usage("--resize scales the init image: give --init-image too");
        }
        b.initImage(init).mask(maskImage);
        List<TextualInversion> loaded = new ArrayList<>();
        for (Path e : embeddings) {
            loaded.add(TextualInversion.load(requireFile(e, "--embedding")));
        }
        try {
            b.build();
        } catch (IllegalArgumentException e) {
            throw usage(optionNames(e.getMessage()));
        }
        List<dev.jdiffusion.djl.lora.Lora> loras;
        try {
            loras = LoraOptions.resolve(prompt, loraSpecs, loraDir);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        Path modelDir = model != null ? model : DefaultModel.path();
        if (!device.equals("cpu")) {
            Devices.requireGpu(device);
        }
        PipelineOptions opts = PipelineOptions.defaults().withDevice(device).withHalf(half);
        DecoderOptions decoders = DecoderOptions.defaults().withTiledVae(tiledVae);
        if (taesd != null) {
            decoders = decoders.withTaesd(taesd);
        }
        try (DiffusionPipeline base = DiffusionPipeline.load(modelDir, opts, decoders);
                DiffusionPipeline patched = loras.isEmpty() ? base : base.withLoras(loras)) {
            patched.loras().ifPresent(r -> out.printf(Locale.ROOT, "LoRAs %s: patched %d UNet and"
                    + " %d text encoder weights%n", r.loras().stream().map(l -> l.name() + ":"
                    + l.weight()).toList(), r.unetLayers(), r.textEncoderLayers()));
            DiffusionPipeline pipeline = loaded.isEmpty() ? patched
                    : withEmbeddings(patched, loaded);
            b.guidanceScale(guidance != null ? guidance : pipeline.defaultGuidance());
            int def = pipeline.defaultSize();
            // A side not given is the model's; without --width/--height the init image's size.
            boolean sized = width != null || height != null || resize;
            int w = width != null ? width : init != null && !sized ? init.width() : def;
            int h = height != null ? height : init != null && !sized ? init.height() : def;
            if (sized) {
                b.size(w, h);
            }
            if (init != null) {
                if (resize && (init.width() != w || init.height() != h)) {
                    out.printf(Locale.ROOT, "init image is %dx%d: scaled to %dx%d%n",
                            init.width(), init.height(), w, h);
                    b.initImage(Images.resize(init, w, h));
                } else if (width == null && height == null && (w != def || h != def)) {
                    out.printf(Locale.ROOT, "init image is %dx%d: generating at %dx%d (the"
                            + " model's default size is %dx%d; --resize scales the init image"
                            + " to it)%n", w, h, w, h, def, def);
                }
                if (resize && maskImage != null
                        && (maskImage.width() != w || maskImage.height() != h)) {
                    b.mask(Images.resize(maskImage, w, h));
                }
            }
            checkPixelCount(w, h, def);
            b.listener(new Progress(out, Progress.onTerminal(), "generating"));
            GenerationResult result;
            if (refiner != null) {
                try (DiffusionPipeline second = DiffusionPipeline.load(refiner, opts, decoders);
                        dev.jdiffusion.api.Pipeline both = pipeline.withRefiner(second,
                                refinerSwitch)) {
                    result = both.generate(b.build());
                }
            } else {
                result = pipeline.generate(b.build());
            }
            if (sheet != null) {
                writeSheet(result, out);
            }
            int i = 0;
            for (GeneratedImage img : result.images()) {
                Path file = target(i++, img);
                img.writePng(file);
                out.println("wrote " + file + " (seed " + img.seed().orElseThrow() + ")");
                int factor = scale > 0 ? scale : (img.width() < 256 ? (256 + img.width() - 1)
                        / img.width() : 1);
                if (factor > 1) {
                    Path big = sibling(file, "-x" + factor);
                    Images.enlarge(img, factor).writePng(big);
                    out.println("wrote " + big + " (enlarged " + factor + "x)");
                }
            }
            out.printf(Locale.ROOT, "done in %.2f s%n", result.elapsed().toMillis() / 1000.0);
            out.flush();
        }
        return 0;
    }

    private DiffusionPipeline withEmbeddings(DiffusionPipeline base,
            List<TextualInversion> loaded) {
        try {
            return base.withEmbeddings(loaded);
        } catch (IllegalArgumentException e) {
            throw usage("--embedding: " + e.getMessage());
        }
    }

    /**
     * Refuses sizes of more than 4 times the model's default pixel count unless --allow-large is
     * given: the time grows with the pixel count, and a large init image would otherwise run
     * for minutes without a word.
     */
    private void checkPixelCount(int w, int h, int def) {
        double ratio = (double) w * h / ((double) def * def);
        if (ratio > 4 && !allowLarge) {
            boolean fromInit = width == null && height == null && !resize;
            throw usage(String.format(Locale.ROOT, "%s %dx%d, %.0fx the pixels of this model's"
                    + " default %dx%d, which takes about %.0fx as long per step; add --allow-large"
                    + " to generate at %dx%d anyway%s",
                    fromInit ? "the init image sets" : "--width/--height ask for", w, h, ratio,
                    def, def, ratio, w, h, fromInit ? ", or --resize to scale the init image to "
                            + def + "x" + def : ""));
        }
    }

    private void writeSheet(GenerationResult result, PrintWriter out) throws IOException {
        List<GeneratedImage> images = result.images();
        int factor = Math.max(1, (128 + images.get(0).width() - 1) / images.get(0).width());
        if (sheet.getParent() != null) {
            Files.createDirectories(sheet.getParent());
        }
        QualityMetrics.grid(List.of(images), factor, 4).writePng(sheet);
        out.println("wrote " + sheet + " (" + images.size() + " images side by side)");
    }

    private void checkDevice() {
        if (!device.matches("cpu|gpu(:\\d{1,3})?")) {
            throw usage("--device: expected cpu, gpu or gpu:N (got '" + device + "')");
        }
    }

    private int positive(int value, String option) {
        if (value <= 0) {
            throw usage(option + " must be a positive multiple of 8 (got " + value + ")");
        }
        return value;
    }

    private Path requireFile(Path file, String option) {
        if (!Files.isRegularFile(file)) {
            throw usage(option + ": file not found: " + file);
        }
        return file;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** Rewrites the request builder's field names in a message as this command's options. */
    static String optionNames(String message) {
        String[][] names = {{"numImages", "--num-images"}, {"guidanceScale", "--guidance"},
            {"width", "--width"}, {"height", "--height"}, {"steps", "--steps"},
            {"strength", "--strength"}, {"spacing", "--spacing"}, {"mask", "--mask"},
            {"clipSkip", "--clip-skip"}};
        String m = message;
        for (String[] n : names) {
            if (m.startsWith(n[0] + " ")) {
                m = n[1] + m.substring(n[0].length());
                break;
            }
        }
        return m.replace("initImage", "--init-image");
    }

    private Path target(int index, GeneratedImage img) throws IOException {
        String name = output.getFileName().toString();
        if (name.toLowerCase(Locale.ROOT).endsWith(".png")) {
            return count == 1 ? output : sibling(output, "-" + index);
        }
        Files.createDirectories(output);
        String stem = slug(prompt.isEmpty() ? "image" : prompt);
        return output.resolve(stem + "-" + img.seed().orElseThrow() + ".png");
    }

    private static Path sibling(Path file, String suffix) {
        String name = file.getFileName().toString();
        String base = name.endsWith(".png") ? name.substring(0, name.length() - 4) : name;
        return file.resolveSibling(base + suffix + ".png");
    }

    static String slug(String text) {
        String s = text.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-")
                .replaceAll("(^-|-$)", "");
        if (s.isEmpty()) {
            s = "image";
        }
        return s.length() > 40 ? s.substring(0, 40) : s;
    }
}
