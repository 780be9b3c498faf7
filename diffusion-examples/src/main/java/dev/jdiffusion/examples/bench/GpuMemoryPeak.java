package dev.jdiffusion.examples.bench;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;
import java.lang.management.MemoryUsage;

/**
 * The most GPU memory in use while it runs, sampled by a daemon thread: CUDA's {@code
 * cudaMemGetInfo} (total minus free) for the whole device, so it counts the CUDA context and
 * what PyTorch's caching allocator holds, as {@code nvidia-smi} does, and any other process on
 * that GPU. A figure between samples can be missed; allocations that stay (weights, the
 * allocator's cache) cannot. Used by one thread; {@link #close()} stops the sampler.
 */
final class GpuMemoryPeak implements AutoCloseable {

    private final Device device;
    private final Thread sampler;
    private final long atStart;
    private volatile long peak;
    private volatile boolean stop;

    private GpuMemoryPeak(Device device, long periodMillis) {
        this.device = device;
        this.atStart = used();
        this.peak = atStart;
        this.sampler = new Thread(() -> {
            while (!stop) {
                peak = Math.max(peak, used());
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "gpu-memory-peak");
        sampler.setDaemon(true);
        sampler.start();
    }

    /**
     * Starts sampling.
     *
     * @param device a GPU
     * @param periodMillis milliseconds between samples
     * @return the running sampler
     * @throws IllegalStateException if CUDA's runtime library cannot be reached
     */
    static GpuMemoryPeak start(Device device, long periodMillis) {
        return new GpuMemoryPeak(device, periodMillis);
    }

    private long used() {
        MemoryUsage u = CudaUtils.getGpuMemory(device);
        return u.getUsed();
    }

    /** Bytes in use when sampling started. */
    long atStart() {
        return atStart;
    }

    /** The most bytes in use seen so far, including a last sample taken now. */
    long peak() {
        peak = Math.max(peak, used());
        return peak;
    }

    @Override
    public void close() throws InterruptedException {
        stop = true;
        sampler.interrupt();
        sampler.join();
    }
}
