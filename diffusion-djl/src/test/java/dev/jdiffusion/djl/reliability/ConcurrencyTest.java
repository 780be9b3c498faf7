package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.djl.testing.ChildJvm;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * One pipeline, 16 threads, 200 mixed requests (all samplers, sizes 8–24, text-to-image,
 * image-to-image, inpainting, guidance on/off, some cancelled by their listener), run twice:
 * every request completes or is cancelled at its step, exactly as it does when run alone, with
 * no deadlock (bounded by the timeout), no native array left behind, and native memory flat
 * from the first concurrent pass to the second (less than 48 MiB). The pool threads are not the
 * thread that loaded the engine, so this also covers per-thread engine state (grad mode).
 * Measured in a child JVM with a fixed, pre-touched heap ({@link ChildJvm}).
 *
 * <p>Opt-in ({@code -Djdiffusion.reliability.concurrency=true}) because it takes several minutes
 * on 2 cores. Its first runs found 5 of 200 requests failing with NaN; the cause (batch noise
 * returned a view of an array whose Java-borrowed memory was released) is fixed, and the run
 * after the fix had 0 failures.
 */
@EnabledIfSystemProperty(named = "jdiffusion.reliability.concurrency", matches = "true")
class ConcurrencyTest {

    @Test
    @Timeout(value = 1500, unit = TimeUnit.SECONDS)
    void sixteenThreadsGiveTheSequentialResults() throws Exception {
        ChildJvm.Result r = ChildJvm.run(ConcurrencyProbe.class, 512, 1450,
                TinyModel.folder().toString(), "200");
        assertThat(r.exitCode()).as("child exit status; output:\n" + r.output()).isZero();
        assertThat(r.lines("CONCURRENCY ")).hasSize(1);
        Map<String, String> m = ChildJvm.Result.pairs(r.lines("CONCURRENCY ").get(0));
        long pass1 = Long.parseLong(m.get("rssPass1Kib"));
        long pass2 = Long.parseLong(m.get("rssPass2Kib"));
        System.out.printf("[reliability] concurrency: %s requests, %s cancelled, sequential %s"
                + " ms, 16 threads %s ms (two passes), %d failures; VmRSS with a fixed heap"
                + " after pass 1 %d MiB, after pass 2 %d MiB%n", m.get("requests"),
                m.get("cancelled"), m.get("seqMs"), m.get("parMs"), r.lines("FAIL ").size(),
                pass1 / 1024, pass2 / 1024);
        assertThat(r.lines("FAIL ")).isEmpty();
        assertThat(Integer.parseInt(m.get("cancelled"))).isGreaterThan(10);
        assertThat(m.get("endArrays")).as("native arrays after the run")
                .isEqualTo(m.get("baselineArrays"));
        if (pass1 > 0) { // -1 without /proc
            assertThat((pass2 - pass1) / 1024).as("native memory growth in the second pass,"
                    + " MiB").isLessThan(48);
        }
    }
}
