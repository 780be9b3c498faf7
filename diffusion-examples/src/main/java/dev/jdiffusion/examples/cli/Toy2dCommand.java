package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.toy.Points2d;
import dev.jdiffusion.djl.toy.Toy2dModel;
import dev.jdiffusion.djl.toy.ToyDatasets;
import dev.jdiffusion.djl.toy.ToyMetrics;
import dev.jdiffusion.djl.train.TrainingConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Trains a small diffusion model on a 2-D toy distribution, samples it, and draws the data, the
 * generated points and a few denoising trajectories into a PNG.
 */
@Command(
        name = "toy2d",
        mixinStandardHelpOptions = true,
        description = "Train a diffusion model on a 2-D toy distribution, sample it and plot"
                + " data, samples and denoising trajectories to a PNG. The default 3000 steps"
                + " take about half a minute on 2 idle CPU cores and up to tens of minutes when"
                + " other work shares them (progress and ETA are shown).")
public final class Toy2dCommand implements Callable<Integer> {

    @Option(names = "--dataset", defaultValue = "moons",
            description = "moons, ring, spiral or mixture (default: ${DEFAULT-VALUE})")
    String dataset;

    @Option(names = "--steps", defaultValue = "3000",
            description = "training steps (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--sampler", defaultValue = "euler",
            description = "sampler name, e.g. euler, ddim, dpmpp_2m (default: ${DEFAULT-VALUE})")
    String sampler;

    @Option(names = "--sample-steps", defaultValue = "40",
            description = "sampler steps (default: ${DEFAULT-VALUE})")
    int sampleSteps;

    @Option(names = "--seed", defaultValue = "0",
            description = "seed of data, training and sampling (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--conditional",
            description = "condition on the class labels (moons, spiral, mixture) and colour "
                    + "the samples by class")
    boolean conditional;

    @Option(names = "--guidance", defaultValue = "1.0",
            description = "classifier-free guidance scale for --conditional "
                    + "(default: ${DEFAULT-VALUE})")
    float guidance;

    @Option(names = "--points", defaultValue = "2000",
            description = "points to generate (default: ${DEFAULT-VALUE})")
    int points;

    @Option(names = {"-o", "--output"}, defaultValue = "toy2d.png",
            description = "output PNG (default: ${DEFAULT-VALUE})")
    Path output;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (steps < 1 || sampleSteps < 1 || points < 2) {
            throw new IllegalArgumentException(
                    "--steps, --sample-steps must be >= 1 and --points >= 2");
        }
        PrintWriter out = spec.commandLine().getOut();
        Points2d data = ToyDatasets.generate(dataset, 8192, seed);
        if (conditional && data.numClasses() == 0) {
            throw new IllegalArgumentException("--conditional needs labelled data; '" + dataset
                    + "' has none (use moons, spiral or mixture)");
        }
        Sampler s = Samplers.create(sampler);
        TrainingConfig config = Toy2dModel.defaultConfig(steps, seed, conditional);
        out.printf(Locale.ROOT, "training on %s (%d points, %s) for %d steps...%n",
                dataset, data.size(), conditional ? "class-conditional" : "unconditional", steps);
        Progress progress = Progress.forTraining(out, Progress.onTerminal(), "training",
                Math.max(1, steps / 20));
        long t0 = System.nanoTime();
        try (Toy2dModel model = Toy2dModel.train(data, conditional, config, p -> {
            String loss = String.format(Locale.ROOT, "loss %.4f", p.loss());
            progress.update((int) p.step(), (int) p.totalSteps(), loss, loss);
        })) {
            double trainSecs = (System.nanoTime() - t0) / 1e9;
            int[] labels = null;
            if (conditional) {
                labels = new int[points];
                for (int i = 0; i < points; i++) {
                    labels[i] = i % data.numClasses();
                }
            }
            long t1 = System.nanoTime();
            Toy2dModel.Sample sample =
                    model.sample(s, points, sampleSteps, seed + 1, labels, guidance, 24);
            double sampleSecs = (System.nanoTime() - t1) / 1e9;
            float[] heldOut = ToyDatasets.generate(dataset, points, seed + 1_000_003).xy();
            float[] gen = sample.xy();
            double distance = ToyMetrics.energyDistance(gen, heldOut);
            double baseline = ToyMetrics.energyDistance(
                    ToyDatasets.generate(dataset, points, seed + 2_000_003).xy(), heldOut);
            Toy2dPlot plot = new Toy2dPlot(dataset, sample.sampler(), sampleSteps, steps,
                    distance, baseline, seed, conditional, guidance);
            plot.write(output, data, gen, labels, sample.trajectories());
            out.printf(Locale.ROOT, "trained in %.1f s (%.0f steps/s), final loss %.4f;"
                    + " sampled %d points with %s in %.2f s%n", trainSecs, steps / trainSecs,
                    model.lastProgress().loss(), points, sample.sampler(), sampleSecs);
            out.printf(Locale.ROOT, "energy distance to held-out data %.4f "
                    + "(two data draws: %.4f)%n", distance, baseline);
            out.println("wrote " + output.toAbsolutePath());
        }
        return 0;
    }
}
