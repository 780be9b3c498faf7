package dev.jdiffusion.examples.cli;

import dev.jdiffusion.djl.nn.Sd15Configs;
import dev.jdiffusion.examples.DefaultModel;
import dev.jdiffusion.examples.bench.BenchOptions;
import dev.jdiffusion.examples.bench.BenchSuite;
import dev.jdiffusion.examples.bench.Result;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jdiffusion bench}: measures what the project claims (UNet and VAE latency, achieved
 * GFLOP/s against the machine's matrix-multiply peak, sampler overhead, load time, cold start,
 * peak memory, end-to-end images/s), on CPU or, for the network sections, a GPU. See {@code
 * docs/benchmarks.md}.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Run benchmarks (medians over repeated runs after warm-up) and print a"
                + " Markdown table. Sections: matmul, sampler, unet-default, unet-sd15, profile,"
                + " vae, load, cold-start, peak, default-model, lora; opt-in (--only):"
                + " kernels, end-to-end, pipeline-sd15, unet-sdxl.")
final class BenchCommand implements Callable<Integer> {

    @Option(names = "--only", split = ",", paramLabel = "SECTION",
            description = "Sections to run, comma-separated (default: all).")
    List<String> only;

    @Option(names = "--decoder", defaultValue = "vae",
            description = "Final decoder of the end-to-end section: vae (default) or taesd"
                    + " (random TAESD weights).")
    String decoder;

    @Option(names = "--skip", split = ",", paramLabel = "SECTION",
            description = "Sections to leave out.")
    List<String> skip;

    @Option(names = "--repeat", defaultValue = "3",
            description = "Measured runs per figure (default 3; small sections run more).")
    int repeat;

    @Option(names = "--warmup", defaultValue = "1", description = "Warm-up runs (default 1).")
    int warmup;

    @Option(names = "--model", description = "A trained default-size model folder for the"
            + " end-to-end figures (default: the shipped model, if in this build).")
    Path model;

    @Option(names = "--work", description = "Folder for random-weight models, reused between"
            + " runs (default: <tmp>/jdiffusion-bench).")
    Path work;

    @Option(names = "--tokenizer", description = "CLIP tokenizer folder (vocab.json,"
            + " merges.txt) for the random-weight SD 1.5 model of `load` and `peak`.")
    Path tokenizer;

    @Option(names = "--unet-config", description = "A UNet config.json for unet-sd15, load and"
            + " profile (default: Stable Diffusion 1.5).")
    Path unetConfig;

    @Option(names = "--latent-size", defaultValue = "64",
            description = "Latent height/width for unet-sd15, profile, vae (default 64 = 512²).")
    int latentSize;

    @Option(names = "--batch", split = ",", defaultValue = "1,2",
            description = "UNet batch sizes (default 1,2; 2 = one guided step).")
    List<Integer> batches;

    @Option(names = "--text-length", defaultValue = "77", description = "Text tokens (77).")
    int textLength;

    @Option(names = "--matmul-size", defaultValue = "4096",
            description = "Matrix side for matmul (default 4096).")
    int matmulSize;

    @Option(names = "--steps", defaultValue = "2", description = "Steps of the peak and"
            + " pipeline-sd15 runs (2).")
    int steps;

    @Option(names = "--images", defaultValue = "4",
            description = "Images per request for default-model (4).")
    int images;

    @Option(names = "--threads", defaultValue = "0",
            description = "PyTorch intra-op threads (0 = engine default).")
    int threads;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu or gpu:N for matmul,"
            + " unet-default, unet-sd15, vae and pipeline-sd15 (default cpu; GPU runs also"
            + " report the peak GPU memory in use).")
    String device;

    @Option(names = "--half", description = "float16 weights and arithmetic in matmul,"
            + " unet-default, unet-sd15 and vae; float16 weights in pipeline-sd15 (as"
            + " generate --half).")
    boolean half;

    @Override
    public Integer call() throws Exception {
        BenchOptions options = options();
        if (options.onGpuDevice()) {
            Devices.requireGpu(options.device());
        }
        List<Result> results = new BenchSuite(options, System.out).run();
        return results.stream().anyMatch(r -> r.name().equals("failed")) ? 1 : 0;
    }

    /** The suite options these arguments describe (validated). */
    BenchOptions options() throws IOException {
        Set<String> sections = new LinkedHashSet<>(only != null ? only
                : BenchSuite.DEFAULT_SECTIONS);
        if (skip != null) {
            sections.removeAll(skip);
        }
        Path trained = model;
        if (trained == null) {
            try {
                trained = DefaultModel.path();
            } catch (IOException noDefaultModel) {
                trained = null; // not in this build: default-size figures use random weights
            }
        }
        Path workDir = work != null ? work
                : Path.of(System.getProperty("java.io.tmpdir"), "jdiffusion-bench");
        String unetJson = unetConfig != null
                ? Files.readString(unetConfig, StandardCharsets.UTF_8) : Sd15Configs.UNET;
        return new BenchOptions(sections, repeat, warmup, trained, workDir, tokenizer, unetJson,
                latentSize, batches, textLength, matmulSize, steps, images, threads, decoder,
                device, half);
    }
}
