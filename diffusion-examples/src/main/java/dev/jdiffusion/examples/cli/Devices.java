package dev.jdiffusion.examples.cli;

import ai.djl.engine.Engine;

/** The GPU check of the commands that take {@code --device}. Stateless and thread-safe. */
final class Devices {

    private Devices() {}

    /**
     * Fails with a clear message, not the engine's, when the GPU {@code device} names is not
     * there.
     *
     * @param device {@code gpu} or {@code gpu:N} (already checked for form)
     * @throws IllegalArgumentException naming {@code --device} when the PyTorch engine sees no
     *     such GPU
     */
    static void requireGpu(String device) {
        int id = device.contains(":") ? Integer.parseInt(device.substring(4)) : 0;
        int count = Engine.getEngine("PyTorch").getGpuCount();
        if (id >= count) {
            throw new IllegalArgumentException("--device " + device + ": "
                    + (count == 0 ? "no GPU is usable by the PyTorch engine on this machine"
                            : "the PyTorch engine sees only " + count + " GPU(s)")
                    + "; use --device cpu");
        }
    }
}
