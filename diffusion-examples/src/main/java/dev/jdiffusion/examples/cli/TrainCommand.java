package dev.jdiffusion.examples.cli;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.pipeline.ModelWriter;
import dev.jdiffusion.djl.text.BpeTrainer;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.text.ClipTokenizer;
import dev.jdiffusion.djl.train.DiffusionTrainer;
import dev.jdiffusion.djl.train.ImageCaptionFolder;
import dev.jdiffusion.djl.train.TextToImageModel;
import dev.jdiffusion.djl.train.TrainingConfig;
import dev.jdiffusion.samplers.NoiseSchedule;
import dev.jdiffusion.samplers.PredictionType;
import dev.jdiffusion.samplers.SchedulerConfig;
import dev.jdiffusion.samplers.TimestepSpacing;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion train}: trains a small pixel-space text-to-image model (a CLIP-architecture
 * text encoder with its own BPE vocabulary, and a UNet) on a folder of images with same-name
 * {@code .txt} captions, and saves it in the diffusers layout. Resumable from its checkpoints.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a small text-to-image model on a folder of images + .txt captions"
                + " (see `toy2d` for the 2-D demo).")
final class TrainCommand implements Callable<Integer> {

    @Option(names = "--data", required = true, description = "Folder of images and captions.")
    Path data;

    @Option(names = "--work", required = true,
            description = "Working folder: tokenizer, checkpoints (resumed if present).")
    Path work;

    @Option(names = {"-o", "--output"}, required = true, description = "Model folder to write:"
            + " new, empty, or a model folder jdiffusion wrote (replaced). Never the data or work"
            + " folder, nor a folder around or inside them.")
    Path output;

    @Option(names = "--size", defaultValue = "32", description = "Image size (default 32).")
    int size;

    @Option(names = "--steps", defaultValue = "3200", description = "Optimizer steps.")
    int steps;

    @Option(names = "--batch", defaultValue = "32", description = "Batch size.")
    int batch;

    @Option(names = "--lr", defaultValue = "5e-4", description = "Peak learning rate.")
    double lr;

    @Option(names = "--channels", defaultValue = "48,96,144",
            description = "UNet block_out_channels.")
    String channels;

    @Option(names = "--text-width", defaultValue = "128", description = "Text encoder width.")
    int textWidth;

    @Option(names = "--text-layers", defaultValue = "3", description = "Text encoder layers.")
    int textLayers;

    @Option(names = "--vocab", defaultValue = "2048", description = "BPE vocabulary size.")
    int vocab;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of everything.")
    long seed;

    @Option(names = "--checkpoint-every", defaultValue = "200", description = "Checkpoint period.")
    int checkpointEvery;

    @Option(names = "--stop-after", defaultValue = "0", description = "Stop after this step"
            + " (keeping the learning-rate schedule of --steps) and write the model; 0 = run all"
            + " steps. Resuming later continues the same run.")
    int stopAfter;

    @Option(names = "--keep-checkpoints", defaultValue = "3", description = "Checkpoints kept"
            + " in the work folder, the newest (default 3; 0 keeps all).")
    int keepCheckpoints;

    @Option(names = "--name", defaultValue = "jdiffusion-emoji", description = "Model name.")
    String name;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (keepCheckpoints < 0) {
            throw new ParameterException(spec.commandLine(),
                    "--keep-checkpoints must be >= 0 (0 keeps all), got " + keepCheckpoints);
        }
        checkOutput();
        Files.createDirectories(work);
        Path tokDir = work.resolve("tokenizer");
        if (!Files.isRegularFile(tokDir.resolve("merges.txt"))) {
            List<String> captions = captions(data);
            new BpeTrainer(vocab).train(captions).write(tokDir);
            out.println("trained a BPE vocabulary on " + captions.size() + " captions");
            out.flush();
        }
        ClipTokenizer tokenizer = ClipTokenizer.load(tokDir);

        int[] ch = Arrays.stream(channels.split(",")).map(String::trim)
                .mapToInt(Integer::parseInt).toArray();
        UNet2DConditionConfig unetConfig = UNet2DConditionConfig.fromJson(unetJson(ch));
        ClipTextConfig textConfig = new ClipTextConfig(tokenizer.vocabSize(), textWidth,
                4 * textWidth, textLayers, 4, tokenizer.maxLength(), "quick_gelu", 1e-5f,
                OptionalInt.empty());
        SchedulerConfig scheduler = SchedulerConfig.builder()
                .className("EulerDiscreteScheduler").numTrainTimesteps(1000)
                .betas("linear", 1e-4, 0.02).timestepSpacing(TimestepSpacing.TRAILING)
                .clipSample(true, 1.0).build(); // pixel space: keep x0 estimates in [-1, 1]

        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            ClipTextModel text = new ClipTextModel(textConfig);
            UNet2DConditionModel unet = new UNet2DConditionModel(unetConfig);
            TextToImageModel model = new TextToImageModel(text, unet);
            Engine.getInstance().setRandomSeed((int) seed);
            model.initialize(manager, DataType.FLOAT32);

            ImageCaptionFolder dataset = ImageCaptionFolder.open(data, size, size,
                    s -> tokenizer.encode(s).ids(), true);
            TrainingConfig config = TrainingConfig.builder()
                    .optSchedule(NoiseSchedule.linear(1000, 1e-4, 0.02))
                    .optPredictionType(PredictionType.EPSILON)
                    .optSteps(steps).optBatchSize(batch).optLearningRate(lr, lr / 25)
                    .optWarmupSteps(Math.min(200, steps / 10)).optWeightDecay(0.01)
                    .optGradClipNorm(1.0).optEmaDecay(0.999).optMinSnrGamma(5)
                    .optConditionDropout(0.1).optSeed(seed).optLogEvery(25)
                    .optKeepCheckpoints(keepCheckpoints).build();
            Path ckpts = Files.createDirectories(work.resolve("checkpoints"));
            int until = stopAfter > 0 ? stopAfter : steps; // the bar ends where this run stops
            Progress progress = Progress.forTraining(out,
                    Progress.onTerminal(), "training", 25);
            try (DiffusionTrainer trainer = DiffusionTrainer.builder().setModel(model)
                    .setData(dataset).setConfig(config).optCheckpoints(ckpts, checkpointEvery)
                    .optManager(manager)
                    .optListener(p -> progress.update((int) p.step(), until,
                            String.format(Locale.ROOT, "loss %.4f lr %.2e %.1f img/s",
                                    p.loss(), p.learningRate(), p.examplesPerSecond()),
                            String.format(Locale.ROOT, "loss %.4f", p.loss())))
                    .build()) {
                DiffusionTrainer.Resumed resumed =
                        trainer.resumeLatest(stopAfter > 0 ? stopAfter : steps);
                resumed.skipped().forEach((file, why) -> out.println(
                        "skipped unreadable checkpoint " + file + " (" + why + ")"));
                if (resumed.checkpoint() != null) {
                    out.println("resumed from " + resumed.checkpoint() + " at step "
                            + resumed.step() + (resumed.skipped().isEmpty() ? ""
                                    : ", the newest intact checkpoint"));
                } else if (!resumed.skipped().isEmpty()) {
                    out.println("no intact checkpoint: training starts at step 0");
                }
                out.flush();
                trainer.train(stopAfter > 0 ? stopAfter : steps);
                trainer.copyEmaInto(model);
            }
            String command = "jdiffusion train --data DATA --work WORK -o OUT --size " + size
                    + " --steps " + steps + " --batch " + batch + " --lr " + lr + " --channels "
                    + channels + " --text-width " + textWidth + " --text-layers " + textLayers
                    + " --vocab " + vocab + " --seed " + seed + " --name " + name
                    + (stopAfter > 0 ? " --stop-after " + stopAfter : "");
            ModelWriter.of(unet, scheduler).textEncoder(text, tokDir).name(name)
                    .defaults(4.0, "euler_a").half(true)
                    // Captions are read as written (brackets included), as in training.
                    .promptSyntax(dev.jdiffusion.djl.text.PromptSyntax.PLAIN)
                    .metadata(Map.of("training_command", command, "seed", Long.toString(seed)))
                    .write(output);
            out.println("wrote model to " + output);
            out.flush();
        }
        return 0;
    }

    private String unetJson(int[] ch) {
        StringBuilder down = new StringBuilder();
        StringBuilder up = new StringBuilder();
        for (int i = 0; i < ch.length; i++) {
            down.append(i == 0 ? "\"DownBlock2D\"" : ", \"CrossAttnDownBlock2D\"");
            up.append(i == ch.length - 1 ? ", \"UpBlock2D\""
                    : (i == 0 ? "" : ", ") + "\"CrossAttnUpBlock2D\"");
        }
        return String.format(Locale.ROOT, """
                {"block_out_channels": %s, "layers_per_block": 1, "norm_num_groups": 16,
                 "cross_attention_dim": %d, "attention_head_dim": 4, "in_channels": 3,
                 "out_channels": 3, "sample_size": %d,
                 "down_block_types": [%s], "up_block_types": [%s]}
                """, Arrays.toString(ch), textWidth, size, down, up);
    }

    /** The captions of the training images, by the data set's own caption rule. */
    private List<String> captions(Path dir) throws IOException {
        ImageCaptionFolder folder = ImageCaptionFolder.open(dir, size, size, null, false);
        List<String> out = new ArrayList<>(folder.size());
        for (int i = 0; i < folder.size(); i++) {
            out.add(folder.caption(i));
        }
        return out;
    }

    /**
     * Refuses an output folder that would replace the data or work folder (or one around or
     * inside them) or a folder jdiffusion did not write, before anything is trained.
     */
    private void checkOutput() throws IOException {
        Path out = real(output);
        for (Map.Entry<String, Path> e : List.of(Map.entry("--data", data),
                Map.entry("--work", work))) {
            Path other = real(e.getValue());
            String relation = out.equals(other) ? "is" : out.startsWith(other) ? "is inside"
                    : other.startsWith(out) ? "contains" : null;
            if (relation != null) {
                throw new ParameterException(spec.commandLine(), "-o " + output + " " + relation
                        + " the " + e.getKey() + " folder " + e.getValue()
                        + "; write the model to a folder of its own");
            }
        }
        ModelWriter.checkReplaceable(output);
    }

    /** The path with symbolic links resolved as far as it exists. */
    private static Path real(Path p) throws IOException {
        Path abs = p.toAbsolutePath().normalize();
        if (Files.exists(abs)) {
            return abs.toRealPath();
        }
        Path parent = abs.getParent();
        return parent == null ? abs : real(parent).resolve(abs.getFileName());
    }
}
