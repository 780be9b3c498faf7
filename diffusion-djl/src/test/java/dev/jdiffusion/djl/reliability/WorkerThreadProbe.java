package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.testing.Rss;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Child-JVM side of {@link WorkerThreadTest}: generates with one pipeline on the thread that
 * loaded it, on a new thread per request and on an executor's pooled thread, in alternating
 * rounds, and prints for each run the growth of resident memory from the first step to the
 * largest value seen at any step (the heap is fixed and pre-touched, so this is native memory)
 * and the time per step, one {@code PROBE key=value ...} line each.
 */
final class WorkerThreadProbe {

    private WorkerThreadProbe() {}

    /**
     * Entry point.
     *
     * @param args model folder, rounds, steps
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        int rounds = Integer.parseInt(args[1]);
        int steps = Integer.parseInt(args[2]);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            for (int i = 0; i < 2; i++) { // warm-up on every kind of thread
                measure(p, steps);
                onNewThread(() -> measure(p, steps));
                pool.submit(() -> measure(p, steps)).get();
            }
            for (int round = 0; round < rounds; round++) {
                print("main", round, measure(p, steps));
                print("thread", round, onNewThread(() -> measure(p, steps)));
                print("executor", round, pool.submit(() -> measure(p, steps)).get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Growth of VmRSS over the steps of one run and its time per step. */
    record Measure(long growthKib, double msPerStep) {}

    static Measure measure(DiffusionPipeline p, int steps) {
        long[] rss = new long[steps];
        long[] time = new long[steps];
        GenerationRequest r = GenerationRequest.builder("a cat face").size(32, 32).numImages(2)
                .steps(steps).seed(7).sampler("euler").guidanceScale(5).listener(e -> {
                    rss[e.stepIndex()] = Rss.kib();
                    time[e.stepIndex()] = System.nanoTime();
                    return true;
                }).build();
        p.generate(r);
        long max = 0;
        for (long v : rss) {
            max = Math.max(max, v);
        }
        return new Measure(max - rss[0], (time[steps - 1] - time[0]) / 1e6 / (steps - 1));
    }

    private static Measure onNewThread(java.util.function.Supplier<Measure> body)
            throws InterruptedException {
        AtomicReference<Object> out = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                out.set(body.get());
            } catch (Throwable e) {
                out.set(e);
            }
        }, "probe-worker");
        t.start();
        t.join();
        if (out.get() instanceof Throwable e) {
            throw new IllegalStateException("generation on a new thread failed", e);
        }
        return (Measure) out.get();
    }

    private static void print(String mode, int round, Measure m) {
        System.out.printf(Locale.ROOT, "PROBE mode=%s round=%d growthKib=%d msPerStep=%.3f%n",
                mode, round, m.growthKib(), m.msPerStep());
    }
}
