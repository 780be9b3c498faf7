package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.Samplers;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code jdiffusion} command-line app. */
@Command(
        name = "jdiffusion",
        mixinStandardHelpOptions = true,
        version = "jdiffusion 0.1.0-SNAPSHOT",
        description = "Diffusion image generation in Java.",
        subcommands = {GenerateCommand.class, TrainCommand.class, Toy2dCommand.class,
                Main.SamplersCommand.class})
public final class Main implements Callable<Integer> {

    /**
     * Runs the app.
     *
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        System.setProperty("ai.djl.offline", "true");
        System.exit(new CommandLine(new Main()).execute(args));
    }

    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    /** Lists the installed sampler plug-ins. */
    @Command(name = "samplers", description = "List the installed samplers.")
    static final class SamplersCommand implements Callable<Integer> {
        @Override
        public Integer call() {
            Samplers.names().forEach(System.out::println);
            return 0;
        }
    }
}
