package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.djl.testing.ChildJvm;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A listener that hands the event's arrays to another thread must get exceptions there, never
 * a crashed JVM (before the arrays were guarded, reading them while the sampler released them
 * ended in SIGSEGV inside the engine). Runs in a child JVM so that a crash fails this test
 * instead of killing the test run.
 */
class LeakedStepArrayTest {

    @Test
    @Timeout(value = 200, unit = TimeUnit.SECONDS)
    void arraysLeakedToAnotherThreadThrowAndNeverCrashTheJvm() throws Exception {
        ChildJvm.Result r = ChildJvm.run(LeakedStepArrayProbe.class, 256, 180,
                TinyModel.folder().toString());
        boolean crashReport;
        try (Stream<java.nio.file.Path> files = Files.list(r.workDir())) {
            crashReport = files.anyMatch(f -> f.getFileName().toString().startsWith("hs_err"));
        }
        assertThat(crashReport).as("hs_err crash report; output:\n" + r.output()).isFalse();
        assertThat(r.exitCode()).as("child exit status; output:\n" + r.output()).isZero();
        assertThat(r.lines("LEAK ")).hasSize(1);
        Map<String, String> counts = ChildJvm.Result.pairs(r.lines("LEAK ").get(0));
        System.out.println("[reliability] leaked step arrays: " + counts);
        assertThat(Integer.parseInt(counts.get("used"))).as("uses that reached the engine")
                .isZero();
        assertThat(Integer.parseInt(counts.get("other"))).as("uses failing otherwise").isZero();
        assertThat(Integer.parseInt(counts.get("rejected"))).isPositive();
    }
}
