package dev.jdiffusion.examples.cli;

import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code jdiffusion samplers}: the installed sampler plug-ins, one per line. */
@Command(name = "samplers", mixinStandardHelpOptions = true,
        description = "List the installed samplers (names for generate --sampler).")
final class SamplersCommand implements Callable<Integer> {

    /** One-line descriptions of the built-in samplers; plug-ins are listed without one. */
    static final Map<String, String> DESCRIPTIONS = Map.of(
            "ddim", "DDIM (eta 0): deterministic; the same as euler in sigma space",
            "ddpm", "DDPM ancestral steps: stochastic, made for many steps (100+)",
            "dpmpp_2m", "DPM-Solver++(2M): deterministic 2nd-order multistep, good at 15-30"
                    + " steps",
            "dpmpp_2m_sde", "DPM-Solver++(2M) SDE: stochastic 2nd-order multistep",
            "euler", "Euler on the probability-flow ODE: deterministic, simple and robust",
            "euler_a", "Euler ancestral: fresh noise every step, stochastic; varied detail",
            "heun", "Heun 2nd order: deterministic, 2 network calls per step",
            "lcm", "Latent Consistency: 2-8 steps, for LCM-distilled models and LCM-LoRA"
                    + " only",
            "lms", "linear multistep (order 4): deterministic, few network calls");

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        List<String> names = Samplers.names();
        String fallback = PipelineOptions.defaults().defaultSampler();
        int width = names.stream().mapToInt(String::length).max().orElse(0);
        for (String name : names) {
            String text = DESCRIPTIONS.getOrDefault(name, "(plug-in)");
            if (name.equals(fallback)) {
                text += " [default unless the model names one]";
            }
            out.println(String.format(Locale.ROOT, "%-" + width + "s  %s", name, text));
        }
        out.flush();
        return 0;
    }
}
