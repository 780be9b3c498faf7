package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GeneratedImage;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.train.ImageCaptionFolder;
import dev.jdiffusion.examples.DefaultModel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code jdiffusion eval --data FOLDER}: how well a text-to-image model follows its training
 * captions, whether it copies, and how much its images vary with the seed; measured against the
 * image + caption folder it was trained on, in plain pixel space (root-mean-square distance of
 * RGB in [0, 1] at the model's size).
 *
 * <ul>
 *   <li><b>fidelity</b>: {@code --prompts} captions drawn from the folder (fixed seed) are used
 *       as prompts, one image each; the nearest training image to each generated image should
 *       have the prompt's category (and, stricter, its emoji name). The chance level of the same
 *       matching, pairing each image with the other prompts, is reported beside it.</li>
 *   <li><b>novelty</b>: the distribution of nearest-training-image distances of the generated
 *       images beside that of the training images to their nearest other training image.</li>
 *   <li><b>diversity</b>: the first {@code --diversity-prompts} prompts with 8 seeds each; mean
 *       pairwise distance of the 8, beside the mean distance of random training pairs.</li>
 * </ul>
 *
 * Writes {@code report.md} and {@code contact-sheet.png} (per row: the prompt's own training
 * image, the 8 seeds, the training image nearest to the first seed) to the output folder.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Measure prompt fidelity, novelty and diversity of a text-to-image model"
                + " against its image + caption training folder.")
final class EvalCommand implements Callable<Integer> {

    private static final int SEEDS = 8;

    @Option(names = "--data", required = true, description = "Training folder (images + .txt).")
    Path data;

    @Option(names = "--model", description = "Model folder (default: the shipped emoji model).")
    Path model;

    @Option(names = "--prompts", defaultValue = "50", description = "Prompts for fidelity and"
            + " novelty (default 50).")
    int prompts;

    @Option(names = "--diversity-prompts", defaultValue = "8",
            description = "Prompts generated with 8 seeds each (default 8).")
    int diversityPrompts;

    @Option(names = "--steps", defaultValue = "20", description = "Sampler steps (default 20).")
    int steps;

    @Option(names = "--sampler", description = "Sampler (model default if not given).")
    String sampler;

    @Option(names = "--seed", defaultValue = "2026", description = "Seed of the prompt choice"
            + " and of the images (default 2026).")
    long seed;

    @Option(names = {"-o", "--output"}, defaultValue = "eval", description = "Output folder.")
    Path output;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        if (prompts < 2 || diversityPrompts < 0 || diversityPrompts > prompts) {
            throw new ParameterException(spec.commandLine(), "--prompts must be at least 2 and"
                    + " --diversity-prompts between 0 and --prompts");
        }
        Path modelDir = model != null ? model : DefaultModel.path();
        try (DiffusionPipeline pipeline = DiffusionPipeline.load(modelDir,
                PipelineOptions.defaults())) {
            int size = pipeline.defaultSize();
            ImageCaptionFolder folder = ImageCaptionFolder.open(data, size, size, null, false);
            int n = folder.size();
            if (n < prompts) {
                throw new IOException(data + " holds " + n + " images; --prompts needs at least "
                        + prompts);
            }
            List<String> captions = new ArrayList<>(n);
            List<float[]> train = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                captions.add(folder.caption(i));
                train.add(QualityMetrics.vector(folder.image(i)));
            }
            out.printf(Locale.ROOT, "%d training images at %dx%d; model %s%n", n, size, size,
                    pipeline.modelName());
            out.flush();

            int[] chosen = QualityMetrics.sample(n, prompts, seed);
            List<String> promptCaptions = new ArrayList<>();
            List<List<GeneratedImage>> generated = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int k = 0; k < prompts; k++) {
                String prompt = captions.get(chosen[k]);
                promptCaptions.add(prompt);
                GenerationRequest.Builder b = GenerationRequest.builder(prompt).steps(steps)
                        .sampler(sampler).guidanceScale(pipeline.defaultGuidance())
                        .numImages(k < diversityPrompts ? SEEDS : 1).seed(seed + 100L * k);
                generated.add(pipeline.generate(b.build()).images());
            }
            double genSeconds = (System.nanoTime() - t0) / 1e9;

            // Fidelity and novelty from the first image of every prompt.
            List<String> nearestCaptions = new ArrayList<>();
            double[] nnGen = new double[prompts];
            int[] nnIndex = new int[prompts];
            int nameHits = 0;
            int captionHits = 0;
            for (int k = 0; k < prompts; k++) {
                float[] v = QualityMetrics.vector(generated.get(k).get(0));
                nnIndex[k] = QualityMetrics.nearest(v, train, -1);
                nnGen[k] = QualityMetrics.rms(v, train.get(nnIndex[k]));
                String nc = captions.get(nnIndex[k]);
                nearestCaptions.add(nc);
                nameHits += QualityMetrics.name(nc).equals(QualityMetrics.name(
                        promptCaptions.get(k))) ? 1 : 0;
                captionHits += nc.equals(promptCaptions.get(k)) ? 1 : 0;
            }
            double category = QualityMetrics.categoryRate(promptCaptions, nearestCaptions, 0);
            double chance = QualityMetrics.chanceCategoryRate(promptCaptions, nearestCaptions);
            double[] nnTrain = QualityMetrics.leaveOneOutNearest(train);

            double[] diversity = new double[diversityPrompts];
            for (int k = 0; k < diversityPrompts; k++) {
                diversity[k] = QualityMetrics.meanPairwise(generated.get(k).stream()
                        .map(QualityMetrics::vector).toList());
            }
            double trainPairs = QualityMetrics.meanRandomPairs(train, 20_000, seed);

            Files.createDirectories(output);
            String report = report(pipeline.modelName(), n, size, category, chance, nameHits,
                    captionHits, nnGen, nnTrain, diversity, trainPairs, promptCaptions,
                    nearestCaptions, genSeconds);
            Files.writeString(output.resolve("report.md"), report, StandardCharsets.UTF_8);
            if (diversityPrompts > 0) {
                List<List<GeneratedImage>> rows = new ArrayList<>();
                for (int k = 0; k < diversityPrompts; k++) {
                    List<GeneratedImage> row = new ArrayList<>();
                    row.add(folder.image(chosen[k]));
                    row.addAll(generated.get(k));
                    row.add(folder.image(nnIndex[k]));
                    rows.add(row);
                }
                QualityMetrics.grid(rows, Math.max(1, 64 / size), 4)
                        .writePng(output.resolve("contact-sheet.png"));
            }
            out.print(report);
            out.println("wrote " + output.resolve("report.md")
                    + (diversityPrompts > 0 ? " and " + output.resolve("contact-sheet.png") : ""));
            out.flush();
        }
        return 0;
    }

    private String report(String name, int n, int size, double category, double chance,
            int nameHits, int captionHits, double[] nnGen, double[] nnTrain, double[] diversity,
            double trainPairs, List<String> promptCaptions, List<String> nearestCaptions,
            double genSeconds) {
        StringBuilder r = new StringBuilder();
        r.append(String.format(Locale.ROOT, "# Quality of %s%n%n", name));
        r.append(String.format(Locale.ROOT, "Training folder: %d images, compared at %dx%d in RGB"
                + " (root-mean-square distance, 0..1). %d prompts (training captions drawn with"
                + " seed %d), %d steps, sampler %s, model-default guidance; generation took"
                + " %.1f s.%n%n", n, size, size, prompts, seed, steps,
                sampler != null ? sampler : "model default", genSeconds));
        r.append("## Prompt fidelity (nearest training image of each generated image)\n\n");
        r.append(String.format(Locale.ROOT, "- has the prompt's category: %.0f %% (%d of %d);"
                + " chance level of the same matching: %.0f %%%n", 100 * category,
                Math.round(category * prompts), prompts, 100 * chance));
        r.append(String.format(Locale.ROOT, "- is the prompt's emoji (any skin tone): %d of %d;"
                + " exactly the prompt's caption: %d of %d%n%n", nameHits, prompts, captionHits,
                prompts));
        r.append("## Novelty (distance to the nearest training image)\n\n");
        r.append("| | min | 5 % | 25 % | median | 75 % | max |\n|---|---|---|---|---|---|---|\n");
        r.append(row("generated → nearest training image", nnGen));
        r.append(row("training image → nearest other training image", nnTrain));
        double p5 = QualityMetrics.percentile(nnTrain, 5);
        long closer = Arrays.stream(nnGen).filter(d -> d < p5).count();
        r.append(String.format(Locale.ROOT, "%nGenerated images closer to a training image than"
                + " the 5th percentile of training-to-training distances (%.3f): %d of %d.%n%n",
                p5, closer, prompts));
        if (diversity.length > 0) {
            r.append("## Diversity (8 seeds per prompt, mean pairwise distance)\n\n");
            for (int k = 0; k < diversity.length; k++) {
                r.append(String.format(Locale.ROOT, "- %s: %.3f%n", promptCaptions.get(k),
                        diversity[k]));
            }
            r.append(String.format(Locale.ROOT, "%nMean over prompts %.3f; random pairs of"
                    + " training images %.3f.%n%n", Arrays.stream(diversity).average()
                    .orElse(Double.NaN), trainPairs));
        }
        r.append("## Prompts and nearest training captions\n\n");
        for (int k = 0; k < promptCaptions.size(); k++) {
            r.append(String.format(Locale.ROOT, "%d. %s → %s%n", k + 1, promptCaptions.get(k),
                    nearestCaptions.get(k)));
        }
        return r.toString();
    }

    private static String row(String label, double[] d) {
        return String.format(Locale.ROOT, "| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f |%n",
                label, QualityMetrics.percentile(d, 0), QualityMetrics.percentile(d, 5),
                QualityMetrics.percentile(d, 25), QualityMetrics.percentile(d, 50),
                QualityMetrics.percentile(d, 75), QualityMetrics.percentile(d, 100));
    }
}
