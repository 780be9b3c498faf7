package dev.jdiffusion.djl.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import dev.jdiffusion.djl.reliability.LoadOutcome.Kind;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Tallies the cases of one generated category and the ones whose outcome broke the category's
 * rule; {@link #assertClean()} fails listing the first offenders and prints the tally.
 */
final class CaseLog {

    private final String category;
    private final Map<Kind, Integer> counts = new EnumMap<>(Kind.class);
    private final List<String> failures = new ArrayList<>();
    private final long start = System.nanoTime();
    private long slowest;
    private int total;

    CaseLog(String category) {
        this.category = category;
    }

    /**
     * Records a case that must be refused with a message containing every one of {@code
     * mentions} (case-insensitive).
     */
    void mustRefuse(String name, LoadOutcome o, String... mentions) {
        record(o);
        if (o.kind() != Kind.REFUSED) {
            fail(name, o);
            return;
        }
        String msg = o.message() == null ? "" : o.message().toLowerCase(Locale.ROOT);
        for (String m : mentions) {
            if (!msg.contains(m.toLowerCase(Locale.ROOT))) {
                failures.add(name + ": message does not mention '" + m + "': " + o.message());
                note(failures.get(failures.size() - 1));
                return;
            }
        }
    }

    /**
     * Records a case that may be refused (message naming {@code mentions}) or load and work,
     * but nothing else.
     */
    void refuseOrWork(String name, LoadOutcome o, String... mentions) {
        if (o.kind() == Kind.LOADED) {
            record(o);
            return;
        }
        mustRefuse(name, o, mentions);
    }

    /** Records a case that must load and generate. */
    void mustWork(String name, LoadOutcome o) {
        record(o);
        if (o.kind() != Kind.LOADED) {
            fail(name, o);
        }
    }

    private void record(LoadOutcome o) {
        total++;
        counts.merge(o.kind(), 1, Integer::sum);
        slowest = Math.max(slowest, o.millis());
    }

    private void fail(String name, LoadOutcome o) {
        String trace = "";
        if (o.error() != null && o.kind() != Kind.REFUSED) {
            StackTraceElement[] st = o.error().getStackTrace();
            trace = st.length > 0 ? " at " + st[0] : "";
        }
        failures.add(name + ": " + o + trace);
        note(failures.get(failures.size() - 1));
    }

    /** Appends a failure to target/reliability-failures.txt as it happens. */
    private void note(String line) {
        try {
            java.nio.file.Files.writeString(java.nio.file.Path.of("target",
                    "reliability-failures.txt"), category + " | " + line + "\n",
                    java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    int total() {
        return total;
    }

    void assertClean() {
        long ms = (System.nanoTime() - start) / 1_000_000;
        System.out.printf(Locale.ROOT, "[reliability] %-28s %5d cases %s, slowest %d ms,"
                + " %d ms in all, %d failures%n", category, total, counts, slowest, ms,
                failures.size());
        assertThat(failures).as(category + ": " + failures.size() + " of " + total
                + " cases broke the rule").isEmpty();
    }
}
