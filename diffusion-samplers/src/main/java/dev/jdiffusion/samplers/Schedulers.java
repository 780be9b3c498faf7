package dev.jdiffusion.samplers;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffusion.api.ModelLoadException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Creates {@link DiffusersScheduler}s: from a diffusers {@code scheduler_config.json} of any
 * scheduler class (DDIM, PNDM, Euler, EulerAncestral, LMS, Heun, DPMSolverMultistep, DDPM ...),
 * or the Stable Diffusion 1.5 schedule directly.
 *
 * <p>Only the fields that define the noise schedule are read; fields that configure a diffusers
 * step function (solver order, thresholding ...) or are unknown are ignored and logged at debug
 * level. Missing fields take the defaults of the named diffusers class. Stateless and
 * thread-safe.
 */
public final class Schedulers {

    private static final Logger LOG = LoggerFactory.getLogger(Schedulers.class);
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** Classes whose {@code timestep_spacing} defaults to leading and clip_sample to true. */
    private static final Set<String> LEADING_DEFAULT = Set.of("ddimscheduler", "ddpmscheduler",
            "pndmscheduler", "ddimparallelscheduler", "ddpmparallelscheduler", "lcmscheduler",
            "tcdscheduler");
    private static final Set<String> CLIP_DEFAULT = Set.of("ddimscheduler", "ddpmscheduler",
            "ddimparallelscheduler", "ddpmparallelscheduler");

    private Schedulers() {}

    /**
     * The schedule of Stable Diffusion 1.5: {@code scaled_linear} β 0.00085 → 0.012 over 1000
     * timesteps, {@code leading} spacing with {@code steps_offset} 1, ε prediction, as its
     * {@code scheduler_config.json} (PNDMScheduler, {@code set_alpha_to_one} false) states.
     *
     * @return the scheduler
     */
    public static DiffusersScheduler stableDiffusion15() {
        return DiffusersScheduler.of(SchedulerConfig.builder()
                .className("PNDMScheduler")
                .numTrainTimesteps(1000)
                .betas("scaled_linear", 0.00085, 0.012)
                .timestepSpacing(TimestepSpacing.LEADING)
                .stepsOffset(1)
                .predictionType(PredictionType.EPSILON)
                .setAlphaToOne(false)
                .build());
    }

    /**
     * Reads a diffusers {@code scheduler_config.json}.
     *
     * @param file the file
     * @return the scheduler
     * @throws ModelLoadException if the file cannot be read or is not a JSON object
     * @throws IllegalArgumentException if a value is invalid; the message names the file and field
     */
    public static DiffusersScheduler fromDiffusersConfig(Path file) throws ModelLoadException {
        JsonNode node;
        try {
            node = MAPPER.readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new ModelLoadException("scheduler config " + file + " is not valid JSON: "
                    + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new ModelLoadException("cannot read scheduler config " + file + ": " + e, e);
        }
        if (node == null || !node.isObject()) {
            throw new ModelLoadException("scheduler config " + file + " is not a JSON object");
        }
        try {
            return fromDiffusersConfig(node);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Reads a diffusers scheduler configuration from JSON text.
     *
     * @param json the content of a {@code scheduler_config.json}
     * @return the scheduler
     * @throws IllegalArgumentException if the text is not a JSON object or a value is invalid
     */
    public static DiffusersScheduler fromDiffusersConfig(String json) {
        JsonNode node;
        try {
            node = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(
                    "scheduler config is not valid JSON: " + e.getOriginalMessage(), e);
        }
        return fromDiffusersConfig(node);
    }

    /**
     * Reads a diffusers scheduler configuration from a parsed JSON object.
     *
     * @param node the JSON object
     * @return the scheduler
     * @throws IllegalArgumentException if the node is not an object or a value is invalid
     */
    public static DiffusersScheduler fromDiffusersConfig(JsonNode node) {
        SchedulerConfig config = configFrom(node);
        JsonNode spacing = node.get("timestep_spacing");
        DiffusersScheduler s = DiffusersScheduler.of(config, spacing != null && !spacing.isNull());
        JsonNode original = node.get("original_inference_steps"); // LCMScheduler's
        if (original != null && !original.isNull()) {
            if (!original.canConvertToInt() || !original.isIntegralNumber()) {
                throw new IllegalArgumentException("original_inference_steps must be an integer"
                        + " (got " + original + ")");
            }
            s = s.withOriginalInferenceSteps(original.intValue());
        }
        JsonNode scaling = node.get("timestep_scaling"); // LCMScheduler's
        if (scaling != null && !scaling.isNull()) {
            if (!scaling.isNumber()) {
                throw new IllegalArgumentException("timestep_scaling must be a number (got "
                        + scaling + ")");
            }
            s = s.withTimestepScaling(scaling.doubleValue());
        }
        return s;
    }

    /**
     * The {@code timestep_spacing} a diffusers scheduler class uses when its configuration names
     * none: {@code leading} for DDIM, DDPM, PNDM, LCM and TCD-style classes, {@code linspace} for
     * all others (Euler, Heun, LMS, the DPM-Solver family ...).
     *
     * @param className the class name, case-insensitive; empty for unknown
     * @return the default spacing
     */
    public static TimestepSpacing defaultSpacing(String className) {
        return LEADING_DEFAULT.contains(className.toLowerCase(Locale.ROOT))
                ? TimestepSpacing.LEADING : TimestepSpacing.LINSPACE;
    }

    /**
     * Reads the schedule-defining fields of a diffusers scheduler configuration.
     *
     * @param node the JSON object
     * @return the validated configuration
     * @throws IllegalArgumentException if the node is not an object or a value is invalid
     */
    public static SchedulerConfig configFrom(JsonNode node) {
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException("scheduler config must be a JSON object");
        }
        Fields f = new Fields(node);
        String cls = f.string("_class_name", "");
        String clsKey = cls.toLowerCase(Locale.ROOT);
        SchedulerConfig.Builder b = SchedulerConfig.builder().className(cls);
        b.numTrainTimesteps(f.integer("num_train_timesteps", 1000));
        b.betas(f.string("beta_schedule", "linear"), f.number("beta_start", 0.0001),
                f.number("beta_end", 0.02));
        b.trainedBetas(f.doubles("trained_betas"));
        b.rescaleBetasZeroSnr(f.bool("rescale_betas_zero_snr", false));
        b.timestepSpacing(TimestepSpacing.parse(f.string("timestep_spacing",
                defaultSpacing(cls).diffusersName())));
        b.stepsOffset(f.integer("steps_offset", 0));
        b.predictionType(PredictionType.parse(f.string("prediction_type", "epsilon")));
        b.clipSample(f.bool("clip_sample", CLIP_DEFAULT.contains(clsKey)),
                f.number("clip_sample_range", 1.0));
        b.setAlphaToOne(f.bool("set_alpha_to_one", true));
        b.useKarrasSigmas(f.bool("use_karras_sigmas", false));
        b.useExponentialSigmas(f.bool("use_exponential_sigmas", false));
        b.sigmaRange(f.number("sigma_min", Double.NaN), f.number("sigma_max", Double.NaN));
        b.finalSigmasType(f.string("final_sigmas_type", "zero"));
        if (f.bool("use_beta_sigmas", false)) {
            throw new IllegalArgumentException("use_beta_sigmas is not supported; use karras or"
                    + " exponential sigmas instead");
        }
        String interpolation = f.string("interpolation_type", "linear");
        if (!interpolation.equals("linear")) {
            throw new IllegalArgumentException("interpolation_type '" + interpolation
                    + "' is not supported; only 'linear'");
        }
        String timestepType = f.string("timestep_type", "discrete");
        if (!timestepType.equals("discrete")) {
            throw new IllegalArgumentException("timestep_type '" + timestepType
                    + "' is not supported; only 'discrete'");
        }
        SchedulerConfig config = b.build();
        List<String> ignored = f.unread();
        if (!ignored.isEmpty()) {
            LOG.debug("scheduler config ({}): ignoring fields {}", cls.isEmpty() ? "no class" : cls,
                    ignored);
        }
        return config;
    }

    /** Typed field access that remembers which fields were read. */
    private static final class Fields {
        private final JsonNode node;
        private final List<String> read = new ArrayList<>();

        Fields(JsonNode node) {
            this.node = node;
        }

        private JsonNode get(String name) {
            read.add(name);
            JsonNode v = node.get(name);
            return v == null || v.isNull() ? null : v;
        }

        String string(String name, String def) {
            JsonNode v = get(name);
            if (v == null) {
                return def;
            }
            if (!v.isTextual()) {
                throw new IllegalArgumentException(name + " must be a string (got " + v + ")");
            }
            return v.asText().trim();
        }

        int integer(String name, int def) {
            JsonNode v = get(name);
            if (v == null) {
                return def;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new IllegalArgumentException(name + " must be an integer (got " + v + ")");
            }
            return v.intValue();
        }

        double number(String name, double def) {
            JsonNode v = get(name);
            if (v == null) {
                return def;
            }
            if (!v.isNumber()) {
                throw new IllegalArgumentException(name + " must be a number (got " + v + ")");
            }
            return v.doubleValue();
        }

        boolean bool(String name, boolean def) {
            JsonNode v = get(name);
            if (v == null) {
                return def;
            }
            if (!v.isBoolean()) {
                throw new IllegalArgumentException(name + " must be true or false (got " + v + ")");
            }
            return v.booleanValue();
        }

        double[] doubles(String name) {
            JsonNode v = get(name);
            if (v == null) {
                return null;
            }
            if (!v.isArray()) {
                throw new IllegalArgumentException(name + " must be an array of numbers");
            }
            double[] out = new double[v.size()];
            for (int i = 0; i < out.length; i++) {
                if (!v.get(i).isNumber()) {
                    throw new IllegalArgumentException(
                            name + "[" + i + "] must be a number (got " + v.get(i) + ")");
                }
                out[i] = v.get(i).doubleValue();
            }
            return out;
        }

        List<String> unread() {
            List<String> out = new ArrayList<>();
            for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
                String n = it.next();
                if (!read.contains(n) && !n.equals("_diffusers_version")) {
                    out.add(n);
                }
            }
            return out;
        }
    }
}
