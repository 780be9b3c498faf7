package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.StepEvent;
import dev.jdiffusion.api.StepListener;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * Step progress for the terminal: a redrawn bar with steps, it/s and ETA when attached to a
 * console, one plain line per step otherwise (logs, pipes, CI).
 */
final class Progress implements StepListener {

    private final PrintWriter out;
    private final boolean terminal;
    private final String label;
    private long start;

    Progress(PrintWriter out, boolean terminal, String label) {
        this.out = out;
        this.terminal = terminal;
        this.label = label;
    }

    @Override
    public boolean onStep(StepEvent e) {
        long now = System.nanoTime();
        if (e.stepIndex() == 0 || start == 0) {
            start = now;
        }
        int done = e.stepIndex() + 1;
        double elapsed = (now - start) / 1e9;
        // The first step's own duration is not in `elapsed`; rate counts steps after the first.
        double rate = done > 1 ? (done - 1) / Math.max(elapsed, 1e-9) : 0;
        double eta = rate > 0 ? (e.totalSteps() - done) / rate : 0;
        String speed = rate > 0 ? String.format(Locale.ROOT, "%.2f it/s", rate) : "-- it/s";
        if (terminal) {
            int width = 30;
            int filled = (int) Math.round(width * (double) done / e.totalSteps());
            String tail = e.isLast() ? "" : " ETA " + (rate > 0 ? duration(eta) : "--");
            // \r redraws the line, ESC[K clears what a longer previous line left behind.
            out.print(String.format(Locale.ROOT, "\r%s [%s%s] %d/%d %s%s\u001b[K", label,
                    "#".repeat(filled), ".".repeat(width - filled), done, e.totalSteps(), speed,
                    tail));
            if (e.isLast()) {
                out.println();
            }
        } else {
            out.println(String.format(Locale.ROOT, "%s step %d/%d sigma=%.4f%s", label,
                    done, e.totalSteps(), e.sigma(), rate > 0 ? " " + speed : ""));
        }
        out.flush();
        return true;
    }

    /** {@code 42s} or {@code 3m05s}. */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s < 60 ? s + "s" : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
