package dev.jdiffusion.examples.bench;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * What a benchmark run measures and how often. Immutable and thread-safe.
 *
 * @param sections the sections to run, names from {@link BenchSuite#SECTIONS}
 * @param repeat measured runs per figure (medians are reported)
 * @param warmup unmeasured runs before measuring
 * @param model a trained model folder for the end-to-end and default-size figures, or null
 *     for the shipped default model (if in the build) or random weights of its shape
 * @param work folder for generated random-weight models (reused between runs)
 * @param tokenizer a folder with CLIP's vocab.json and merges.txt for the random-weight SD 1.5
 *     folder, or null to skip what needs it
 * @param unetConfig the UNet configuration JSON for {@code unet-sd15}, {@code profile} and
 *     {@code load}
 *     (SD 1.5's by default; smaller ones make quick checks)
 * @param latentSize the latent height and width for {@code unet-sd15}, {@code profile} and
 *     {@code vae} (64 = 512² pixels)
 * @param batches the UNet batch sizes (1 = unguided, 2 = one guided step)
 * @param textLength the encoder_hidden_states length (77 for CLIP)
 * @param matmulSize the side of the square matrices of {@code matmul}
 * @param steps sampler steps of the {@code peak} runs
 * @param images images per request of {@code default-model}
 * @param threads PyTorch intra-op threads, or 0 to keep the engine's default
 * @param decoder the final decoder of the {@code end-to-end} section: {@code vae} (the model's
 *     full VAE) or {@code taesd} (a random-weight TAESD of the real shapes)
 * @param device {@code cpu} or {@code gpu:N}: where {@link #DEVICE_SECTIONS} run (the other
 *     sections run on CPU only and are refused with another device)
 * @param half whether {@link #DEVICE_SECTIONS} store and compute in float16 (as {@code
 *     PipelineOptions.half} does on a GPU; on CPU float16 arithmetic is slow and only a check)
 */
public record BenchOptions(Set<String> sections, int repeat, int warmup, Path model, Path work,
        Path tokenizer, String unetConfig, int latentSize, List<Integer> batches,
        int textLength, int matmulSize, int steps, int images, int threads, String decoder,
        String device, boolean half) {

    /** The sections that honour {@link #device()} and {@link #half()}. */
    public static final List<String> DEVICE_SECTIONS = List.of("matmul", "unet-default",
            "unet-sd15", "vae", "pipeline-sd15");

    /**
     * Validates and copies.
     *
     * @param sections see the record component
     * @param repeat see the record component
     * @param warmup see the record component
     * @param model see the record component
     * @param work see the record component
     * @param tokenizer see the record component
     * @param unetConfig see the record component
     * @param latentSize see the record component
     * @param batches see the record component
     * @param textLength see the record component
     * @param matmulSize see the record component
     * @param steps see the record component
     * @param images see the record component
     * @param threads see the record component
     * @param decoder see the record component
     * @param device see the record component
     * @param half see the record component
     * @throws IllegalArgumentException naming the option when a value is out of range or a
     *     section is unknown
     */
    public BenchOptions {
        sections = Set.copyOf(sections);
        for (String s : sections) {
            if (!BenchSuite.SECTIONS.contains(s)) {
                throw new IllegalArgumentException("unknown section '" + s + "'; choose from "
                        + String.join(", ", BenchSuite.SECTIONS));
            }
        }
        batches = List.copyOf(batches);
        check(repeat >= 1, "--repeat must be >= 1");
        check(warmup >= 0, "--warmup must be >= 0");
        check(latentSize >= 1 && latentSize <= 512, "--latent-size must be in [1, 512]");
        check(!batches.isEmpty() && batches.stream().allMatch(b -> b >= 1 && b <= 64),
                "--batch sizes must be in [1, 64]");
        check(textLength >= 1 && textLength <= 1024, "--text-length must be in [1, 1024]");
        check(matmulSize >= 16 && matmulSize <= 16384, "--matmul-size must be in [16, 16384]");
        check(steps >= 1, "--steps must be >= 1");
        check(images >= 1 && images <= 256, "--images must be in [1, 256]");
        check(threads >= 0, "--threads must be >= 0");
        check(work != null, "a work folder is required");
        check(BenchSuite.DECODERS.contains(decoder), "--decoder must be one of "
                + String.join(", ", BenchSuite.DECODERS) + " (got " + decoder + ")");
        check(device != null && device.matches("cpu|gpu(:\\d{1,3})?"),
                "--device: expected cpu, gpu or gpu:N (got '" + device + "')");
        if (!device.equals("cpu") || half) {
            List<String> cpuOnly = sections.stream()
                    .filter(s -> !DEVICE_SECTIONS.contains(s)).sorted().toList();
            check(cpuOnly.isEmpty(), (half ? "--half" : "--device " + device) + " applies to "
                    + String.join(", ", DEVICE_SECTIONS) + " only; choose among them with"
                    + " --only (" + String.join(", ", cpuOnly) + " run on CPU in float32)");
        }
    }

    /**
     * Whether the device sections run on a GPU.
     *
     * @return true unless {@link #device()} is {@code cpu}
     */
    public boolean onGpuDevice() {
        return !device.equals("cpu");
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
