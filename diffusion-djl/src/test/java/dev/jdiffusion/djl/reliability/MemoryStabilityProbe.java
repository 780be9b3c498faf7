package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.reliability.MixedWorkload.Item;
import dev.jdiffusion.djl.reliability.MixedWorkload.Outcome;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.Rss;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Child-JVM side of {@link MemoryStabilityTest}: loads the pipeline on the main thread and runs
 * the mixed workload on an executor's thread (as an embedding application would), checking the
 * live native arrays after every request. Prints one {@code FAIL ...} line per request that
 * failed or left arrays behind and a final {@code MEMORY key=value ...} line with the resident
 * memory after the warm-up, its largest value after it and at the end (the heap is fixed and
 * pre-touched, so resident memory moves with native memory only).
 */
final class MemoryStabilityProbe {

    private MemoryStabilityProbe() {}

    /**
     * Entry point.
     *
     * @param args model folder, request count, warm-up count
     * @throws Exception on any failure
     */
    public static void main(String[] args) throws Exception {
        Path model = Path.of(args[0]);
        int count = Integer.parseInt(args[1]);
        int warmup = Integer.parseInt(args[2]);
        List<Item> items = MixedWorkload.items(count, 300);
        ExecutorService worker = Executors.newSingleThreadExecutor();
        try (DiffusionPipeline p = DiffusionPipeline.load(model, PipelineOptions.defaults())) {
            int baseline = NativeArrays.live();
            long rssWarm = 0;
            long rssMax = 0;
            int cancelled = 0;
            int nonFinite = 0;
            for (int i = 0; i < items.size(); i++) {
                Item it = items.get(i);
                Outcome o = worker.submit(() -> MixedWorkload.run(p, it)).get();
                if (o.error() != null) {
                    if (o.error().getMessage() != null
                            && o.error().getMessage().contains("NaN or infinite")) {
                        nonFinite++;
                    }
                    System.out.println("FAIL request " + i + " " + it.request() + ": "
                            + o.error());
                }
                cancelled += o.cancelledAt() >= 0 ? 1 : 0;
                int live = NativeArrays.live();
                if (live != baseline) {
                    System.out.println("FAIL request " + i + " left " + (live - baseline)
                            + " native arrays (baseline " + baseline + ")");
                }
                if (i == warmup - 1) {
                    rssWarm = Rss.kib();
                }
                if (i >= warmup - 1) {
                    rssMax = Math.max(rssMax, Rss.kib());
                }
            }
            System.out.println("MEMORY requests=" + items.size() + " cancelled=" + cancelled
                    + " nonFinite=" + nonFinite + " baselineArrays=" + baseline
                    + " rssWarmKib=" + rssWarm + " rssMaxKib=" + rssMax
                    + " rssEndKib=" + Rss.kib());
        } finally {
            worker.shutdownNow();
        }
    }
}
