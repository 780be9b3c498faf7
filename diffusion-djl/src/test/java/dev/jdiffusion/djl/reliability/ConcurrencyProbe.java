package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.reliability.MixedWorkload.Item;
import dev.jdiffusion.djl.reliability.MixedWorkload.Outcome;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.Rss;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Child-JVM side of {@link ConcurrencyTest}: the mixed workload once sequentially on the loading
 * thread, then twice on 16 pooled threads. Prints a {@code FAIL ...} line for every request whose
 * concurrent outcome differs from its sequential one (or that was cancelled at another step) and
 * a final {@code CONCURRENCY key=value ...} line: timings, cancellations, live native arrays
 * before and after, and resident memory after each concurrent pass (the heap is fixed and
 * pre-touched, so its growth from the first pass to the second is native memory: the first pass
 * has given every pool thread its allocator arena and warmed the JIT).
 */
final class ConcurrencyProbe {

    private ConcurrencyProbe() {}

    /**
     * Entry point.
     *
     * @param args model folder, request count
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        List<Item> items = MixedWorkload.items(Integer.parseInt(args[1]), 16);
        try (DiffusionPipeline p = DiffusionPipeline.load(Path.of(args[0]),
                PipelineOptions.defaults())) {
            int baseline = NativeArrays.live();
            long t0 = System.nanoTime();
            List<Outcome> sequential = new ArrayList<>();
            for (Item it : items) {
                sequential.add(MixedWorkload.run(p, it));
            }
            long seqMs = (System.nanoTime() - t0) / 1_000_000;
            ExecutorService pool = Executors.newFixedThreadPool(16);
            long[] rss = new long[2];
            long[] parMs = new long[2];
            int cancelled = 0;
            try {
                for (int pass = 0; pass < 2; pass++) {
                    long t1 = System.nanoTime();
                    List<Future<Outcome>> futures = new ArrayList<>();
                    // Reverse order, so that no thread sees its requests in the sequential order.
                    for (int i = items.size() - 1; i >= 0; i--) {
                        Item it = items.get(i);
                        futures.add(0, pool.submit(() -> MixedWorkload.run(p, it)));
                    }
                    for (int i = 0; i < items.size(); i++) {
                        Outcome s = sequential.get(i);
                        Outcome c = futures.get(i).get(500, TimeUnit.SECONDS);
                        if (s.error() != null || c.error() != null || !s.sameAs(c)) {
                            System.out.println("FAIL pass " + pass + " request " + i + ": alone "
                                    + s + ", concurrent " + c);
                        }
                        if (c.cancelledAt() >= 0) {
                            cancelled += pass == 0 ? 1 : 0;
                            if (c.cancelledAt() != items.get(i).cancelAt()) {
                                System.out.println("FAIL pass " + pass + " request " + i
                                        + " cancelled at " + c.cancelledAt()
                                        + ", its listener said " + items.get(i).cancelAt());
                            }
                        }
                    }
                    parMs[pass] = (System.nanoTime() - t1) / 1_000_000;
                    rss[pass] = Rss.kib();
                }
            } finally {
                pool.shutdownNow();
            }
            System.out.println("CONCURRENCY requests=" + items.size() + " cancelled=" + cancelled
                    + " seqMs=" + seqMs + " parMs=" + parMs[0] + "," + parMs[1]
                    + " baselineArrays=" + baseline + " endArrays=" + NativeArrays.live()
                    + " rssPass1Kib=" + rss[0] + " rssPass2Kib=" + rss[1]);
        }
    }
}
