package dev.jdiffusion.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jdiffusion.api.StepEvent;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The two progress styles: a redrawn bar on a terminal, plain lines otherwise. */
class ProgressTest {

    private static String run(boolean terminal, int steps) throws InterruptedException {
        StringWriter sw = new StringWriter();
        Progress p = new Progress(new PrintWriter(sw), terminal, "generating");
        for (int i = 0; i < steps; i++) {
            Thread.sleep(5); // a measurable rate
            p.onStep(new StepEvent(i, steps, 10f / (i + 1), 10f / (i + 2), null, null));
        }
        return sw.toString();
    }

    @Test
    void terminalRedrawsOneLineAndEndsIt() throws InterruptedException {
        String out = run(true, 4);
        List<String> frames = List.of(out.split("\r", -1)).subList(1, 5);
        assertEquals(4, out.chars().filter(c -> c == '\r').count());
        assertEquals(1, out.chars().filter(c -> c == '\n').count(), "one newline, at the end");
        assertTrue(out.endsWith("\n"));
        assertTrue(frames.get(0).startsWith("generating [########......................] 1/4"
                + " -- it/s ETA --\u001b[K"), frames.get(0));
        assertTrue(frames.get(1).matches("generating \\[#{15}\\.{15}] 2/4 \\d+\\.\\d\\d it/s"
                + " ETA \\d+s\u001b\\[K"), frames.get(1));
        assertTrue(frames.get(3).matches("generating \\[#{30}] 4/4 \\d+\\.\\d\\d it/s\u001b\\[K\n"),
                frames.get(3));
    }

    @Test
    void plainLinesOtherwise() throws InterruptedException {
        List<String> lines = run(false, 3).lines().toList();
        assertEquals(3, lines.size());
        assertEquals("generating step 1/3 sigma=10.0000", lines.get(0));
        assertTrue(lines.get(2).matches("generating step 3/3 sigma=3\\.3333 \\d+\\.\\d\\d it/s"),
                lines.get(2));
    }

    @Test
    void durations() {
        assertEquals("0s", Progress.duration(0.2));
        assertEquals("59s", Progress.duration(59.4));
        assertEquals("3m05s", Progress.duration(185));
    }
}
