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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

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

    @Option(names = {"-o", "--output"}, required = true, description = "Model folder to write.")
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

    @Option(names = "--name", defaultValue = "jdiffusion-emoji", description = "Model name.")
    String name;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(work);
        Path tokDir = work.resolve("tokenizer");
        if (!Files.isRegularFile(tokDir.resolve("merges.txt"))) {
            List<String> captions = captions(data);
            new BpeTrainer(vocab).train(captions).write(tokDir);
            System.out.println("trained a BPE vocabulary on " + captions.size() + " captions");
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
                    .optConditionDropout(0.1).optSeed(seed).optLogEvery(25).build();
            Path ckpts = Files.createDirectories(work.resolve("checkpoints"));
            int until = stopAfter > 0 ? stopAfter : steps; // the bar ends where this run stops
            Progress progress = Progress.forTraining(new PrintWriter(System.out, true),
                    Progress.onTerminal(), "training", 25);
            try (DiffusionTrainer trainer = DiffusionTrainer.builder().setModel(model)
                    .setData(dataset).setConfig(config).optCheckpoints(ckpts, checkpointEvery)
                    .optManager(manager)
                    .optListener(p -> progress.update((int) p.step(), until,
                            String.format(Locale.ROOT, "loss %.4f lr %.2e %.1f img/s",
                                    p.loss(), p.learningRate(), p.examplesPerSecond()),
                            String.format(Locale.ROOT, "loss %.4f", p.loss())))
                    .build()) {
                Path latest = latest(ckpts, stopAfter > 0 ? stopAfter : steps);
                if (latest != null) {
                    trainer.loadCheckpoint(latest);
                    System.out.println("resumed from " + latest + " at step " + trainer.step());
                }
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
                    .metadata(Map.of("training_command", command, "seed", Long.toString(seed)))
                    .write(output);
            System.out.println("wrote model to " + output);
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

    private static List<String> captions(Path dir) throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(f -> f.toString().endsWith(".txt")).sorted().toList()) {
                out.add(Files.readString(p, StandardCharsets.UTF_8).trim());
            }
        }
        return out;
    }

    /** The newest checkpoint at or before {@code maxStep}. */
    private static Path latest(Path dir, long maxStep) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+\\.safetensors"))
                    .filter(p -> Long.parseLong(p.getFileName().toString().replaceAll("\\D", ""))
                            <= maxStep)
                    .max(Path::compareTo).orElse(null);
        }
    }
}
