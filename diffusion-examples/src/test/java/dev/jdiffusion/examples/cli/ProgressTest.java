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
    void trainingPrintsEveryNthStepWithoutATerminal() {
        StringWriter sw = new StringWriter();
        Progress p = Progress.forTraining(new PrintWriter(sw), false, "training", 4);
        for (int i = 1; i <= 10; i++) {
            p.update(i, 10, "loss " + i, "bar " + i);
        }
        List<String> lines = sw.toString().lines().toList();
        assertEquals(List.of(4, 8, 10), lines.stream()
                .map(l -> Integer.parseInt(l.split("[ /]")[2])).toList(), sw.toString());
        assertTrue(lines.get(0).matches("training step 4/10 loss 4 \\d+\\.\\d\\d it/s ETA \\d+s"),
                lines.get(0));
        assertTrue(lines.get(2).matches("training step 10/10 loss 10 \\d+\\.\\d\\d it/s"),
                lines.get(2));
    }

    @Test
    void trainingRedrawsTheBarAtMostTenTimesASecondAndAlwaysAtTheEnd() {
        StringWriter sw = new StringWriter();
        Progress p = Progress.forTraining(new PrintWriter(sw), true, "training", 4);
        for (int i = 1; i <= 1000; i++) {
            p.update(i, 1000, "loss", "loss 0.5");
        }
        String out = sw.toString();
        long frames = out.chars().filter(c -> c == '\r').count();
        assertTrue(frames >= 2 && frames < 100, frames + " frames for 1000 fast steps");
        assertTrue(out.substring(out.lastIndexOf('\r')).matches(
                "\rtraining \\[#{30}] 1000/1000 \\d+\\.\\d\\d it/s loss 0\\.5\u001b\\[K\n"), out);
    }

    @Test
    void durations() {
        assertEquals("0s", Progress.duration(0.2));
        assertEquals("59s", Progress.duration(59.4));
        assertEquals("3m05s", Progress.duration(185));
    }
}
