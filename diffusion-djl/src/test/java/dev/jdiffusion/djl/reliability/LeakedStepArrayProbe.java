package dev.jdiffusion.djl.reliability;

import ai.djl.ndarray.NDArray;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Child-JVM side of {@link LeakedStepArrayTest}: a listener hands every step's arrays to another
 * thread, which keeps reading and computing with them while the sampler goes on and releases
 * them, and after the run. Prints {@code LEAK used=N rejected=M other=K} (uses that worked,
 * that threw {@link IllegalStateException}, that threw anything else); a JVM crash shows as the
 * exit status.
 */
final class LeakedStepArrayProbe {

    private LeakedStepArrayProbe() {}

    /**
     * Entry point.
     *
     * @param args the model folder
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        ConcurrentLinkedQueue<NDArray> leaked = new ConcurrentLinkedQueue<>();
        AtomicBoolean done = new AtomicBoolean();
        AtomicInteger used = new AtomicInteger();
        AtomicInteger rejected = new AtomicInteger();
        AtomicInteger other = new AtomicInteger();
        Thread reader = new Thread(() -> {
            for (int round = 0; !done.get() || round < 3; round++) {
                if (done.get()) {
                    round++;
                }
                for (NDArray a : leaked) {
                    try {
                        a.toFloatArray();
                        a.mul(2).sum().getFloat();
                        used.incrementAndGet();
                    } catch (IllegalStateException e) {
                        rejected.incrementAndGet();
                    } catch (RuntimeException e) {
                        other.incrementAndGet();
                    }
                }
            }
        }, "leak-reader");
        try (DiffusionPipeline p = DiffusionPipeline.load(Path.of(args[0]),
                PipelineOptions.defaults())) {
            reader.start();
            for (int i = 0; i < 3; i++) {
                p.generate(GenerationRequest.builder("a cat face").steps(20).seed(i)
                        .sampler("euler").listener(e -> {
                            leaked.add(e.denoised());
                            leaked.add(e.x());
                            return true;
                        }).build());
            }
            done.set(true);
            reader.join();
        }
        System.out.println("LEAK used=" + used.get() + " rejected=" + rejected.get()
                + " other=" + other.get());
    }
}
