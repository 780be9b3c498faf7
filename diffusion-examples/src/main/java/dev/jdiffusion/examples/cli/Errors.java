package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The app's error reporting: one line {@code jdiffusion: error: MESSAGE} on standard error.
 * Usage errors add a hint to the command's help and exit with 2; failures while running exit
 * with 1 and show their stack trace only with {@code --verbose}.
 */
final class Errors implements IExecutionExceptionHandler, IParameterExceptionHandler {

    static final String PREFIX = "jdiffusion: error: ";
    static final int FAILURE = 1;
    static final int USAGE = 2;

    @Override
    public int handleParseException(ParameterException ex, String[] args) {
        CommandLine cmd = ex.getCommandLine();
        PrintWriter err = cmd.getErr();
        String message = oneLine(ex.getMessage());
        err.println(PREFIX + message);
        if (ex instanceof UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
            err.println("did you mean: " + String.join(", ", u.getSuggestions()) + "?");
        }
        err.println("see '" + cmd.getCommandSpec().qualifiedName() + " --help'");
        if (verbose(cmd.getParseResult())) {
            ex.printStackTrace(err);
        }
        err.flush();
        return USAGE;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cmd, ParseResult parseResult) {
        PrintWriter err = cmd.getErr();
        boolean verbose = verbose(parseResult);
        err.println(PREFIX + describe(ex, verbose));
        if (verbose) {
            ex.printStackTrace(err);
        }
        err.flush();
        return FAILURE;
    }

    /** A user-facing one-line description of a failure. */
    static String describe(Throwable ex, boolean verbose) {
        Throwable e = ex instanceof UncheckedIOException u && u.getCause() != null
                ? u.getCause() : ex;
        String msg = e.getMessage();
        if (e instanceof dev.jdiffusion.djl.text.PromptParseException) {
            return msg.strip(); // the excerpt and caret lines under it belong to the message
        }
        if (e instanceof ModelLoadException || e instanceof IllegalArgumentException) {
            // Written for users by the library (ModelLoadException is an IOException: first).
            return oneLine(msg != null ? msg : e.getClass().getSimpleName());
        }
        if (e instanceof NoSuchFileException f) {
            return "file not found: " + f.getFile();
        }
        if (e instanceof AccessDeniedException f) {
            return "permission denied: " + f.getFile();
        }
        if (e instanceof GenerationCancelledException) {
            return "cancelled";
        }
        if (e instanceof IOException) {
            return oneLine(msg != null ? msg : e.getClass().getSimpleName());
        }
        // Anything else is unexpected: say what it was and how to see more.
        String what = e.getClass().getName() + (msg != null ? ": " + shorten(oneLine(msg)) : "");
        return verbose ? what : what + " (run with --verbose for details)";
    }

    private static String oneLine(String s) {
        String first = s.strip().lines().findFirst().orElse("");
        return first.isEmpty() ? s.strip() : first;
    }

    /** Engine messages can run to kilobytes: keep the first 160 characters. */
    private static String shorten(String s) {
        return s.length() <= 160 ? s : s.substring(0, 157) + "...";
    }

    private static boolean verbose(ParseResult result) {
        for (ParseResult p = result; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }
}
