package dev.jdiffusion.examples.cli;

import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;
import picocli.CommandLine.Spec;

/**
 * The {@code jdiffusion} command-line app.
 *
 * <p>Errors are one line on standard error ({@code jdiffusion: error: ...}) with exit code 2 for
 * usage errors (unknown option, bad value) and 1 for failures while running (model not found or
 * corrupt, impossible request); {@code --verbose} adds the stack trace and the engine's info
 * logs.
 */
@Command(
        name = "jdiffusion",
        mixinStandardHelpOptions = true,
        version = "jdiffusion 0.1.0-SNAPSHOT",
        description = "Diffusion image generation in Java.",
        subcommands = {GenerateCommand.class, InfoCommand.class, SamplersCommand.class,
                TrainCommand.class, Toy2dCommand.class, BenchCommand.class, EvalCommand.class})
public final class Main implements Callable<Integer> {

    /** System property of slf4j-simple's default level (overrides simplelogger.properties). */
    static final String LOG_LEVEL = "org.slf4j.simpleLogger.defaultLogLevel";
    /** System property of the level of DJL's CUDA probe, quiet unless --verbose. */
    static final String CUDA_LOG_LEVEL = "org.slf4j.simpleLogger.log.ai.djl.util.cuda.CudaUtils";

    @Spec
    CommandSpec spec;

    /** Creates the top-level command (picocli instantiates it). */
    public Main() {}

    /**
     * Switches on stack traces and info logging. A global option: accepted before or after the
     * subcommand. Logging levels only change if no logger has been created yet, which holds when
     * the app starts (options are parsed before any engine class is touched).
     *
     * @param verbose whether the option was given
     */
    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "Show stack traces of errors and the engine's info logs.")
    void setVerbose(boolean verbose) {
        if (verbose) {
            System.setProperty(LOG_LEVEL, "info");
            System.setProperty(CUDA_LOG_LEVEL, "info");
        }
    }

    /**
     * Runs the app and exits with its exit code (0 success, 1 failure, 2 usage error).
     *
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        // Before anything touches DJL: no telemetry probe or downloads at engine start.
        System.setProperty("ai.djl.offline", "true");
        System.exit(commandLine().execute(args));
    }

    /**
     * The app's command line with its error handling installed (one-line errors, exit codes);
     * tests run commands in-process through it, redirecting output with {@code setOut/setErr}.
     *
     * @return a new command line
     */
    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        Errors errors = new Errors();
        cl.setExecutionExceptionHandler(errors);
        cl.setParameterExceptionHandler(errors);
        return cl;
    }

    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getOut());
        return 0;
    }
}
