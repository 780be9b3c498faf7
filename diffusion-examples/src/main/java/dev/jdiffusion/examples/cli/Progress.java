package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.StepEvent;
import dev.jdiffusion.api.StepListener;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * Progress for the terminal: a redrawn bar with count, it/s and ETA when attached to a console,
 * plain lines otherwise (logs, pipes, CI). Used for sampler steps ({@link #onStep}) and for
 * training steps ({@link #update}). Not thread-safe: one reporting thread.
 */
final class Progress implements StepListener {

    private final PrintWriter out;
    private final boolean terminal;
    private final String label;
    private final int plainEvery;
    private final long minRedrawNanos;
    private long start;
    private int firstDone;
    private long lastDraw;

    /**
     * Progress of sampler steps: every step is drawn (a bar frame or a plain line).
     *
     * @param out where to write
     * @param terminal whether {@code out} is a terminal (redrawn bar) or not (plain lines)
     * @param label the line's first word
     */
    Progress(PrintWriter out, boolean terminal, String label) {
        this(out, terminal, label, 1, 0);
    }

    private Progress(PrintWriter out, boolean terminal, String label, int plainEvery,
            long minRedrawNanos) {
        this.out = out;
        this.terminal = terminal;
        this.label = label;
        this.plainEvery = plainEvery;
        this.minRedrawNanos = minRedrawNanos;
    }

    /**
     * Progress of many short steps (training): the bar is redrawn at most ten times a second;
     * without a terminal one line is written every {@code plainEvery} steps and at the end.
     *
     * @param out where to write
     * @param terminal whether {@code out} is a terminal
     * @param label the line's first word
     * @param plainEvery steps between plain lines
     * @return a new progress display
     */
    static Progress forTraining(PrintWriter out, boolean terminal, String label,
            int plainEvery) {
        return new Progress(out, terminal, label, Math.max(1, plainEvery), 100_000_000L);
    }

    /** Whether this process writes to a terminal ({@link System#console()} is present). */
    static boolean onTerminal() {
        return System.console() != null;
    }

    @Override
    public boolean onStep(StepEvent e) {
        update(e.stepIndex() + 1, e.totalSteps(),
                String.format(Locale.ROOT, "sigma=%.4f", e.sigma()), null);
        return true;
    }

    /**
     * Reports that {@code done} of {@code total} steps are complete.
     *
     * @param done completed steps, 1..total (may start above 1 when a run resumes)
     * @param total all steps
     * @param plainDetail appended to plain lines (e.g. {@code sigma=...}), or {@code null}
     * @param barDetail appended to the bar (e.g. the loss), or {@code null}
     */
    void update(int done, int total, String plainDetail, String barDetail) {
        long now = System.nanoTime();
        if (start == 0 || done <= firstDone) {
            start = now;
            firstDone = done;
            lastDraw = 0;
        }
        boolean last = done >= total;
        double elapsed = (now - start) / 1e9;
        // The first step's own duration is not in `elapsed`; rate counts steps after the first.
        double rate = done > firstDone ? (done - firstDone) / Math.max(elapsed, 1e-9) : 0;
        double eta = rate > 0 ? (total - done) / rate : 0;
        String speed = rate > 0 ? String.format(Locale.ROOT, "%.2f it/s", rate) : "-- it/s";
        if (terminal) {
            if (!last && lastDraw != 0 && now - lastDraw < minRedrawNanos) {
                return;
            }
            lastDraw = now;
            int width = 30;
            int filled = (int) Math.round(width * (double) done / total);
            String tail = last ? "" : " ETA " + (rate > 0 ? duration(eta) : "--");
            // \r redraws the line, ESC[K clears what a longer previous line left behind.
            out.print(String.format(Locale.ROOT, "\r%s [%s%s] %d/%d %s%s%s\u001b[K", label,
                    "#".repeat(filled), ".".repeat(width - filled), done, total, speed, tail,
                    barDetail != null ? " " + barDetail : ""));
            if (last) {
                out.println();
            }
        } else {
            if (!last && done % plainEvery != 0) {
                return;
            }
            out.println(String.format(Locale.ROOT, "%s step %d/%d%s%s%s", label, done, total,
                    plainDetail != null ? " " + plainDetail : "", rate > 0 ? " " + speed : "",
                    rate > 0 && !last ? " ETA " + duration(eta) : ""));
        }
        out.flush();
    }

    /** {@code 42s} or {@code 3m05s}. */
    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s < 60 ? s + "s" : String.format(Locale.ROOT, "%dm%02ds", s / 60, s % 60);
    }
}
