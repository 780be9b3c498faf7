package dev.jdiffusion.djl.pipeline;

import java.util.Locale;
import java.util.Objects;

/**
 * How a pipeline is loaded: the device, the data type of the weights in compute, and the
 * sampler used when a request names none.
 *
 * <p>Immutable and thread-safe.
 *
 * @param device {@code "cpu"} or {@code "gpu:N"}
 * @param half half-precision weights. On a GPU, everything is stored and computed in float16.
 *     On CPU, the UNet's convolution and linear weights are stored in float16 (half the
 *     memory: 1.6 instead of 3.3 GiB for Stable Diffusion 1.5) and widened to float32 one layer
 *     at a time as they are used; computation stays in float32 (float16 arithmetic is far
 *     slower on CPUs), and images differ from float32 weights only by the rounding of the
 *     weights
 * @param defaultSampler the sampler used when a request names none
 */
public record PipelineOptions(String device, boolean half, String defaultSampler) {

    /**
     * Validates the options.
     *
     * @param device the device
     * @param half whether weights are kept in half precision
     * @param defaultSampler the default sampler's registry name
     */
    public PipelineOptions {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(defaultSampler, "defaultSampler");
        device = device.trim().toLowerCase(Locale.ROOT);
        if (!device.equals("cpu") && !device.matches("gpu(:\\d+)?")) {
            throw new IllegalArgumentException(
                    "device must be 'cpu' or 'gpu:N' (got '" + device + "')");
        }
    }

    /**
     * CPU, float32, Euler ancestral.
     *
     * @return the default options
     */
    public static PipelineOptions defaults() {
        return new PipelineOptions("cpu", false, "euler_a");
    }

    /**
     * The same options on another device.
     *
     * @param newDevice {@code "cpu"} or {@code "gpu:N"}
     * @return new options
     */
    public PipelineOptions withDevice(String newDevice) {
        return new PipelineOptions(newDevice, half, defaultSampler);
    }

    /**
     * The same options with or without half-precision weights.
     *
     * @param halfWeights whether weights are kept in half precision (see {@link #half()})
     * @return new options
     */
    public PipelineOptions withHalf(boolean halfWeights) {
        return new PipelineOptions(device, halfWeights, defaultSampler);
    }

    /**
     * The same options with another default sampler.
     *
     * @param sampler the registry name
     * @return new options
     */
    public PipelineOptions withDefaultSampler(String sampler) {
        return new PipelineOptions(device, half, sampler);
    }
}
