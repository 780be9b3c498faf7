package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.reliability.MixedWorkload.Item;
import dev.jdiffusion.djl.reliability.MixedWorkload.Outcome;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.Rss;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 200 generations of the tiny model (all samplers, image-to-image, inpainting, about one in five
 * cancelled): the number of live native arrays returns to its baseline after every single
 * request (tolerance 0), and resident memory (VmRSS) after a warm-up of 60 requests grows by
 * less than 48 MiB over the remaining 140 (allocator and JIT noise; a leak of one 16×16 image's
 * activations per request would exceed it).
 *
 * <p>This run found a bug: now and then a request that generated cleanly alone failed with
 * "NaN or infinite values at step k" (1 in 300 sequentially). The batch noise returned a view of
 * an array whose memory the engine borrowed from Java and released early; fixed in BatchNoise.
 * Any request failing with NaN now fails the test.
 */
class MemoryStabilityTest {

    @Test
    @Timeout(value = 1500, unit = TimeUnit.SECONDS) // ~60 s on an idle 2-core machine
    void nativeArraysAndResidentMemoryStayFlat() throws Exception {
        List<Item> items = MixedWorkload.items(200, 300);
        try (DiffusionPipeline p = DiffusionPipeline.load(TinyModel.folder(),
                PipelineOptions.defaults())) {
            int baseline = NativeArrays.live();
            long rssWarm = 0;
            long heapWarm = 0;
            long rssMax = 0;
            int cancelled = 0;
            int maxArrays = baseline;
            int nonFinite = 0;
            for (int i = 0; i < items.size(); i++) {
                Outcome o = MixedWorkload.run(p, items.get(i));
                if (o.error() instanceof IllegalStateException e
                        && e.getMessage().contains("NaN or infinite")) {
                    nonFinite++;
                    System.out.println("[reliability] KNOWN BUG: request " + i + " "
                            + items.get(i).request() + ": " + e.getMessage());
                } else {
                    assertThat(o.error()).as("request " + i).isNull();
                }
                cancelled += o.cancelledAt() >= 0 ? 1 : 0;
                int live = NativeArrays.live();
                maxArrays = Math.max(maxArrays, live);
                assertThat(live).as("native arrays after request " + i).isEqualTo(baseline);
                if (i == 59) {
                    System.gc();
                    System.gc();
                    rssWarm = Rss.kib();
                    heapWarm = heapKib();
                }
                if (i >= 59) {
                    rssMax = Math.max(rssMax, Rss.kib());
                }
            }
            System.gc();
            long rssEnd = Rss.kib();
            long heapEnd = heapKib();
            System.out.printf(Locale.ROOT, "[reliability] memory: %d generations (%d cancelled),"
                    + " live native arrays %d before and after every request; VmRSS after"
                    + " warm-up %d MiB, max %d MiB, end %d MiB (growth %+d MiB)%n", items.size(),
                    cancelled, baseline, rssWarm / 1024, rssMax / 1024, rssEnd / 1024,
                    (rssEnd - rssWarm) / 1024);
            assertThat(cancelled).isGreaterThan(15);
            assertThat(nonFinite).as("requests failing with NaN").isZero();
            if (rssWarm > 0) {
                // Memory outside the Java heap: a JVM that shares its fork with other test classes
                // may grow its committed heap at any time, which is not a leak of this code.
                long nativeGrowth = (rssEnd - heapEnd) - (rssWarm - heapWarm);
                assertThat(nativeGrowth / 1024).as("VmRSS growth outside the Java heap in MiB")
                        .isLessThan(48);
            }
        }
    }

    /** The committed Java heap in KiB. */
    private static long heapKib() {
        return Runtime.getRuntime().totalMemory() / 1024;
    }
}
