package dev.jdiffusion.examples.cli;

import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.samplers.SchedulerConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A tiny random-weight latent text-to-image model in the diffusers layout (UNet with 16/32
 * channels, a VAE that halves the size, a 2-layer CLIP encoder with its own BPE vocabulary),
 * written once per test JVM. Native size 16x16 pixels.
 */
final class TinyModel {

    private static Path textModel;
    /** Parameter counts of the networks as built (from the blocks, not from the files). */
    static long unetParams;
    static long vaeParams;
    static long textParams;

    private TinyModel() {}

    /** The model folder (built on first use). */
    static synchronized Path textToImage() {
        if (textModel == null) {
            try {
                Path root = Files.createTempDirectory("jdiffusion-cli-tiny-");
                Runtime.getRuntime().addShutdownHook(new Thread(
                        () -> TinyModels.deleteTree(root)));
                Path dir = root.resolve("tiny");
                SchedulerConfig sched = SchedulerConfig.builder().className("DDPMScheduler")
                        .betas("scaled_linear", 0.00085, 0.012).build();
                TinyModels.Counts counts = TinyModels.writeTextToImage(dir, sched, "tiny-text",
                        1f);
                unetParams = counts.unet();
                vaeParams = counts.vae();
                textParams = counts.text();
                textModel = dir;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return textModel;
    }
}
