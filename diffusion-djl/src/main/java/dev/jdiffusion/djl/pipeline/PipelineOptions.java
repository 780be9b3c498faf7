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
 * @param half whether to compute in float16 (GPU only; on CPU, float16 weights are converted to
 *     float32, which is about 300 times faster there)
 * @param defaultSampler the sampler used when a request names none
 */
public record PipelineOptions(String device, boolean half, String defaultSampler) {

    /**
     * Validates the options.
     *
     * @param device the device
     * @param half whether to compute in float16
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
        if (half && device.equals("cpu")) {
            throw new IllegalArgumentException(
                    "half precision is for GPUs; on cpu weights are computed in float32");
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
        return new PipelineOptions(newDevice, half && !newDevice.equals("cpu"), defaultSampler);
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
