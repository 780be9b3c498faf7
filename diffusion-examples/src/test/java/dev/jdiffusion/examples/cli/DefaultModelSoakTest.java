package dev.jdiffusion.examples.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.Rss;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.examples.DefaultModel;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Memory under load with the shipped default model (opt-in, about 5 minutes for 500
 * generations on 2 cores): a seeded mix of text-to-image, image-to-image and inpainting requests
 * over every sampler, guided and unguided, 1–2 images, some cancelled by their listener. The
 * number of live native arrays must return to its baseline after every request, and resident
 * memory outside the Java heap must not grow after a warm-up.
 *
 * <pre>
 * mvn -B -ntp verify -pl diffusion-examples -am -Dtest=DefaultModelSoakTest \
 *     -Dsurefire.failIfNoSpecifiedTests=false -Djdiffusion.soak=true \
 *     [-Djdiffusion.soak.generations=500]
 * </pre>
 */
@EnabledIfSystemProperty(named = "jdiffusion.soak", matches = "true")
class DefaultModelSoakTest {

    private static final int WARMUP = 50;

    @Test
    @Timeout(value = 3600, unit = TimeUnit.SECONDS)
    void liveArraysAndResidentMemoryStayFlatOverManyGenerations() throws Exception {
        int n = Integer.getInteger("jdiffusion.soak.generations", 500);
        Random rnd = new Random(500);
        List<String> samplers = Samplers.names();
        List<String> prompts = List.of("a cat face", "red apple", "grinning face",
                "flag of japan", "blue car", "", "🍎 猫 face with tears of joy");
        try (DiffusionPipeline p = DiffusionPipeline.load(DefaultModel.path(),
                PipelineOptions.defaults())) {
            int size = p.defaultSize();
            int baseline = NativeArrays.live();
            long rssWarm = 0;
            long outsideHeapWarm = 0;
            long rssMax = 0;
            int cancelled = 0;
            int images = 0;
            long t0 = System.nanoTime();
            StringBuilder trace = new StringBuilder();
            for (int i = 0; i < n; i++) {
                int steps = 10 + rnd.nextInt(11);
                int cancelAt = rnd.nextInt(6) == 0 ? rnd.nextInt(steps) : -1;
                GenerationRequest.Builder b = GenerationRequest
                        .builder(prompts.get(rnd.nextInt(prompts.size())))
                        .sampler(samplers.get(rnd.nextInt(samplers.size())))
                        .steps(steps).seed(rnd.nextInt(100_000))
                        .guidanceScale(rnd.nextInt(4) == 0 ? 1.0 : p.defaultGuidance())
                        .numImages(rnd.nextInt(5) == 0 ? 2 : 1)
                        .listener(e -> e.stepIndex() != cancelAt);
                int kind = rnd.nextInt(5);
                if (kind == 0) {
                    b.initImage(TinyModels.pattern(size, size, i)).strength(0.7);
                } else if (kind == 1) {
                    b.initImage(TinyModels.pattern(size, size, i))
                            .mask(TinyModels.leftHalfMask(size, size)).strength(1.0);
                } else {
                    b.size(size, size);
                }
                try {
                    images += p.generate(b.build()).images().size();
                    assertThat(cancelAt).as("request " + i + " should have been cancelled")
                            .isEqualTo(-1);
                } catch (GenerationCancelledException e) {
                    assertThat(e.step()).as("request " + i).isEqualTo(cancelAt);
                    cancelled++;
                }
                assertThat(NativeArrays.live()).as("live native arrays after request " + i)
                        .isEqualTo(baseline);
                if (i + 1 == WARMUP) {
                    System.gc();
                    rssWarm = Rss.kib();
                    outsideHeapWarm = rssWarm - heapKib();
                }
                if (i + 1 >= WARMUP) {
                    rssMax = Math.max(rssMax, Rss.kib());
                }
                if ((i + 1) % 50 == 0) {
                    trace.append(String.format(Locale.ROOT, " %d:%d", i + 1, Rss.kib() / 1024));
                }
            }
            System.gc();
            long rssEnd = Rss.kib();
            long outsideHeapEnd = rssEnd - heapKib();
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "[soak] %d generations of %s (%d images, %d cancelled)"
                    + " in %.0f s; live native arrays %d after every request; VmRSS after %d"
                    + " requests %d MiB, max %d MiB, end %d MiB; outside the Java heap %d → %d MiB"
                    + " (%+d MiB); VmRSS MiB by request:%s%n", n, p.modelName(), images,
                    cancelled, seconds, baseline, WARMUP, rssWarm / 1024, rssMax / 1024,
                    rssEnd / 1024, outsideHeapWarm / 1024, outsideHeapEnd / 1024,
                    (outsideHeapEnd - outsideHeapWarm) / 1024, trace);
            assertThat(cancelled).isGreaterThan(n / 20);
            if (rssWarm > 0) {
                assertThat((outsideHeapEnd - outsideHeapWarm) / 1024)
                        .as("VmRSS growth outside the Java heap in MiB").isLessThan(48);
            }
        }
    }

    private static long heapKib() {
        return Runtime.getRuntime().totalMemory() / 1024;
    }
}
