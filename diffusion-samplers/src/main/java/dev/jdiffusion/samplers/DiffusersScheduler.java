package dev.jdiffusion.samplers;

import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Scheduler;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;

/**
 * The noise schedule of a model trained in the variance-preserving form, built from an immutable
 * {@link SchedulerConfig} and computing exactly the timesteps and noise levels diffusers'
 * schedulers compute in {@code set_timesteps}.
 *
 * <p>σ<sub>t</sub> = √((1 − ᾱ<sub>t</sub>) / ᾱ<sub>t</sub>) for each training timestep t; the
 * inference timesteps follow {@code timestep_spacing} ({@code leading} with {@code steps_offset},
 * {@code linspace}, {@code trailing}); their σ are interpolated linearly between training
 * timesteps; Karras (ρ = 7) or exponential σ spacing replaces them when enabled, with timesteps
 * from log-σ interpolation. The small differences between diffusers' scheduler classes are kept:
 * DDIM/DDPM/PNDM-style classes round {@code linspace} timesteps, the DPM-Solver family spaces n + 1
 * points and drops the last and takes Karras bounds from the whole training table, Euler-style
 * classes (and unknown or absent class names) keep fractional {@code linspace} timesteps.
 * {@code LCMScheduler} has a timestep rule of its own that ignores the spacing: the
 * {@code original_inference_steps} (default 50) timesteps k·i − 1 of the distillation schedule
 * (k = T / original steps, i = 1 … original steps · strength), of which every run takes {@code
 * steps} evenly spaced by index, starting with the largest (see {@link #timesteps(int, double)}).
 *
 * <p>{@link #sigmas(int)} always ends with 0: the built-in samplers denoise completely. Where
 * diffusers stops at a non-zero final σ ({@code set_alpha_to_one = false} for DDIM/PNDM, {@code
 * final_sigmas_type = sigma_min}) that level is available from {@link #finalSigma()}.
 *
 * <p>Immutable and thread-safe.
 */
public final class DiffusersScheduler implements Scheduler {

    private static final double KARRAS_RHO = 7.0;

    /** Which diffusers class family's exact timestep formulas apply. */
    enum Flavour {
        EULER, DDIM, DPM_SOLVER
    }

    private static final Set<String> DDIM_LIKE = Set.of("ddimscheduler", "ddpmscheduler",
            "pndmscheduler", "ddimparallelscheduler", "ddpmparallelscheduler", "lcmscheduler",
            "tcdscheduler", "ddiminversescheduler");
    private static final Set<String> DPM_LIKE = Set.of("dpmsolvermultistepscheduler",
            "dpmsolversinglestepscheduler", "deismultistepscheduler", "unipcmultistepscheduler",
            "sasolverscheduler", "dpmsolvermultistepinversescheduler");

    private final SchedulerConfig config;
    private final NoiseSchedule schedule;
    /** σ per training timestep, ascending in t. */
    private final double[] trainSigmas;
    private final double[] logSigmas;
    /** Classes whose final step goes to {@code final_alpha_cumprod} ({@code set_alpha_to_one}). */
    private static final Set<String> FINAL_ALPHA = Set.of("ddimscheduler", "pndmscheduler",
            "ddimparallelscheduler", "tcdscheduler");
    /** diffusers' default of {@code LCMScheduler}'s {@code original_inference_steps}. */
    public static final int DEFAULT_ORIGINAL_INFERENCE_STEPS = 50;

    private final Flavour flavour;
    /** Whether {@code timestep_spacing} was given, rather than a class default. */
    private final boolean spacingGiven;
    /** Whether the class is LCMScheduler, whose timestep rule is its own. */
    private final boolean lcm;
    /** LCMScheduler's {@code original_inference_steps}. */
    private final int originalInferenceSteps;
    /** LCMScheduler's {@code timestep_scaling}. */
    private final double timestepScaling;

    private DiffusersScheduler(SchedulerConfig config, boolean spacingGiven) {
        this(config, spacingGiven, DEFAULT_ORIGINAL_INFERENCE_STEPS,
                LcmSampler.DEFAULT_TIMESTEP_SCALING);
    }

    private DiffusersScheduler(SchedulerConfig config, boolean spacingGiven,
            int originalInferenceSteps, double timestepScaling) {
        this.config = Objects.requireNonNull(config, "config");
        this.spacingGiven = spacingGiven;
        if (originalInferenceSteps < 1) {
            throw new IllegalArgumentException("original_inference_steps must be >= 1 (got "
                    + originalInferenceSteps + ")");
        }
        if (!(timestepScaling > 0 && Double.isFinite(timestepScaling))) {
            throw new IllegalArgumentException("timestep_scaling must be a positive finite"
                    + " number (got " + timestepScaling + ")");
        }
        this.originalInferenceSteps = originalInferenceSteps;
        this.timestepScaling = timestepScaling;
        this.lcm = config.className().equalsIgnoreCase("LCMScheduler");
        NoiseSchedule s = config.trainedBetas() != null
                ? NoiseSchedule.ofBetas(config.trainedBetas())
                : NoiseSchedule.named(config.betaSchedule(), config.numTrainTimesteps(),
                        config.betaStart(), config.betaEnd());
        if (config.rescaleBetasZeroSnr()) {
            s = s.rescaledZeroTerminalSnr();
        }
        this.schedule = s;
        this.trainSigmas = float32Sigmas(s);
        this.logSigmas = new double[trainSigmas.length];
        for (int i = 0; i < trainSigmas.length; i++) {
            logSigmas[i] = Math.log(trainSigmas[i]);
        }
        String cls = config.className().toLowerCase(Locale.ROOT);
        this.flavour = DDIM_LIKE.contains(cls) ? Flavour.DDIM
                : DPM_LIKE.contains(cls) ? Flavour.DPM_SOLVER : Flavour.EULER;
    }

    /**
     * σ per training timestep computed the way diffusers does: β and 1 − β in float32, ᾱ as a
     * float32 cumulative product (accumulated in double, as PyTorch's CPU kernel does), σ in
     * float32; a terminal ᾱ of 0 (zero-terminal-SNR) becomes 2<sup>−24</sup>. This keeps the
     * tables within float32 rounding of diffusers', which its reference tests are sensitive to.
     */
    private static double[] float32Sigmas(NoiseSchedule s) {
        double[] betas = s.betas();
        double[] out = new double[betas.length];
        double prod = 1;
        for (int i = 0; i < betas.length; i++) {
            prod *= 1f - (float) betas[i];
            float abar = Math.max((float) prod, 0x1.0p-24f);
            out[i] = (float) Math.sqrt((1f - abar) / abar);
        }
        return out;
    }

    /**
     * Builds the scheduler of a configuration.
     *
     * @param config the configuration
     * @return the scheduler
     * @throws IllegalArgumentException if the β table derived from the configuration is invalid
     */
    public static DiffusersScheduler of(SchedulerConfig config) {
        return new DiffusersScheduler(config, true);
    }

    /**
     * Builds the scheduler of a configuration read from a file that may omit {@code
     * timestep_spacing}.
     *
     * @param config the configuration, with the class default filled in where the file names
     *     no spacing
     * @param spacingGiven whether the file named a spacing; if not, {@link #forSampler} replaces
     *     it with the default of the sampler's class
     * @return the scheduler
     */
    static DiffusersScheduler of(SchedulerConfig config, boolean spacingGiven) {
        return new DiffusersScheduler(config, spacingGiven);
    }

    /**
     * Whether the timestep spacing is the configuration's own (or a request's) rather than the
     * default of the configuration's class.
     *
     * @return {@code false} if the scheduler config omitted {@code timestep_spacing}
     */
    public boolean spacingGiven() {
        return spacingGiven;
    }

    /**
     * This schedule as diffusers' {@code from_config} of another scheduler class builds it from
     * the same configuration: that class's timestep formulas, initial noise and final noise
     * level, and, if the configuration names no {@code timestep_spacing}, that class's default
     * spacing ({@code leading} for DDIM/DDPM/PNDM-style classes, {@code linspace} for the
     * others). An explicit spacing is kept.
     *
     * @param diffusersClass the class, for example {@code "DPMSolverMultistepScheduler"}
     * @return the schedule (this one if nothing changes)
     */
    public DiffusersScheduler forSampler(String diffusersClass) {
        Objects.requireNonNull(diffusersClass, "diffusersClass");
        SchedulerConfig.Builder b = config.toBuilder().className(diffusersClass);
        if (!spacingGiven) {
            b.timestepSpacing(Schedulers.defaultSpacing(diffusersClass));
        }
        SchedulerConfig c = b.build();
        return c.equals(config) ? this
                : new DiffusersScheduler(c, spacingGiven, originalInferenceSteps, timestepScaling);
    }

    /**
     * A copy with another {@code original_inference_steps}, the length of the distillation
     * schedule that {@code LCMScheduler}'s timestep rule picks its timesteps from (other classes
     * ignore it).
     *
     * @param steps the number of timesteps of the distillation schedule, ≥ 1 (an LCM run
     *     fails if it exceeds T)
     * @return the new scheduler (this one if nothing changes)
     * @throws IllegalArgumentException if {@code steps} &lt; 1
     */
    public DiffusersScheduler withOriginalInferenceSteps(int steps) {
        return steps == originalInferenceSteps ? this
                : new DiffusersScheduler(config, spacingGiven, steps, timestepScaling);
    }

    /**
     * A copy with another {@code timestep_scaling}, the factor of the timestep in {@code
     * LCMScheduler}'s boundary-condition scalings (see {@link LcmSampler}; other samplers
     * ignore it).
     *
     * @param scaling the factor, &gt; 0 and finite (diffusers' default {@value
     *     LcmSampler#DEFAULT_TIMESTEP_SCALING})
     * @return the new scheduler (this one if nothing changes)
     * @throws IllegalArgumentException if {@code scaling} is out of range
     */
    public DiffusersScheduler withTimestepScaling(double scaling) {
        return scaling == timestepScaling ? this
                : new DiffusersScheduler(config, spacingGiven, originalInferenceSteps, scaling);
    }

    /**
     * {@code LCMScheduler}'s {@code timestep_scaling}.
     *
     * @return the factor (default {@value LcmSampler#DEFAULT_TIMESTEP_SCALING})
     */
    public double timestepScaling() {
        return timestepScaling;
    }

    /**
     * The sampler as this schedule's configuration parameterises it: an {@link LcmSampler}
     * takes the configuration's {@code timestep_scaling}; every other sampler is returned as
     * it is. A pipeline calls this once per run, after choosing the sampler.
     *
     * @param sampler the chosen sampler
     * @return the sampler to run
     */
    public Sampler configure(Sampler sampler) {
        if (sampler instanceof LcmSampler lcmSampler
                && lcmSampler.timestepScaling() != timestepScaling) {
            return new LcmSampler(timestepScaling);
        }
        return sampler;
    }

    /**
     * {@code LCMScheduler}'s {@code original_inference_steps}.
     *
     * @return the length of the distillation schedule (default {@value
     *     #DEFAULT_ORIGINAL_INFERENCE_STEPS})
     */
    public int originalInferenceSteps() {
        return originalInferenceSteps;
    }

    /**
     * Whether this class's timestep rule itself takes the image-to-image strength (as {@code
     * LCMScheduler}'s {@code set_timesteps(strength=…)} does), so that an image-to-image run
     * takes all {@link #sigmas(int, double)} instead of the tail of {@link #sigmas(int)}.
     *
     * @return {@code true} for {@code LCMScheduler}
     */
    public boolean schedulesStrength() {
        return lcm;
    }

    /**
     * The scale of the initial noise of a text-to-image run that starts at {@code firstSigma},
     * in σ form, as diffusers' {@code init_noise_sigma} of this configuration's class sets it:
     * DDIM/DDPM/PNDM-style classes and the DPM-Solver family start from unit noise in the
     * variance-preserving form, which is √(σ₀² + 1) in σ form; Euler-style classes start at σ₀
     * with {@code linspace} or {@code trailing} spacing and at √(σ₀² + 1) otherwise.
     *
     * @param firstSigma σ₀, the first noise level of the run
     * @return the factor of the unit Gaussian noise
     */
    public float initNoiseSigma(float firstSigma) {
        TimestepSpacing s = config.timestepSpacing();
        if (flavour == Flavour.EULER
                && (s == TimestepSpacing.LINSPACE || s == TimestepSpacing.TRAILING)) {
            return firstSigma;
        }
        return (float) Math.sqrt((double) firstSigma * firstSigma + 1);
    }

    /**
     * The spacing a run of this schedule uses, as a request names it.
     *
     * @return {@code karras}, {@code exponential}, or the timestep spacing's diffusers name
     */
    public String spacingName() {
        return config.useKarrasSigmas() ? "karras" : config.useExponentialSigmas()
                ? "exponential" : config.timestepSpacing().diffusersName();
    }

    /**
     * The configuration this scheduler was built from.
     *
     * @return the immutable configuration
     */
    public SchedulerConfig config() {
        return config;
    }

    /**
     * A copy with another spacing, as a request's spacing option selects it: {@code leading},
     * {@code linspace} or {@code trailing} set {@code timestep_spacing} and turn σ spacing off;
     * {@code karras} or {@code exponential} keep the timestep spacing (which bounds the σ range
     * as in diffusers) and turn that σ spacing on.
     *
     * @param spacing the spacing name; case-insensitive
     * @return the new scheduler (this one if nothing changes)
     * @throws IllegalArgumentException for an unknown name
     */
    public DiffusersScheduler withSpacing(String spacing) {
        Objects.requireNonNull(spacing, "spacing");
        String s = spacing.trim().toLowerCase(Locale.ROOT);
        SchedulerConfig.Builder b = config.toBuilder();
        switch (s) {
            case "karras":
                b.useKarrasSigmas(true).useExponentialSigmas(false);
                break;
            case "exponential":
                b.useKarrasSigmas(false).useExponentialSigmas(true);
                break;
            case "leading":
            case "linspace":
            case "trailing":
                b.timestepSpacing(TimestepSpacing.parse(s))
                        .useKarrasSigmas(false)
                        .useExponentialSigmas(false);
                break;
            default:
                throw new IllegalArgumentException("unknown spacing '" + spacing
                        + "'; supported: leading, linspace, trailing, karras, exponential");
        }
        SchedulerConfig c = b.build();
        boolean given = spacingGiven || !s.equals("karras") && !s.equals("exponential");
        return c.equals(config) && given == spacingGiven ? this
                : new DiffusersScheduler(c, given, originalInferenceSteps, timestepScaling);
    }

    /**
     * What the model predicts; used by {@link VpDenoiser}.
     *
     * @return the prediction type
     */
    public PredictionType predictionType() {
        return config.predictionType();
    }

    /**
     * The training noise schedule (after any zero-terminal-SNR rescale).
     *
     * @return the β/ᾱ/σ tables
     */
    public NoiseSchedule noiseSchedule() {
        return schedule;
    }

    /**
     * The number of training timesteps T.
     *
     * @return T
     */
    public int numTrainTimesteps() {
        return trainSigmas.length;
    }

    /**
     * The largest trained noise level, σ at t = T − 1.
     *
     * @return σ<sub>max</sub>
     */
    public float sigmaMax() {
        return (float) trainSigmas[trainSigmas.length - 1];
    }

    /**
     * The smallest trained noise level, σ at t = 0.
     *
     * @return σ<sub>min</sub>
     */
    public float sigmaMin() {
        return (float) trainSigmas[0];
    }

    /**
     * The noise level at which diffusers' scheduler of this configuration stops: σ<sub>min</sub>
     * if {@code final_sigmas_type} is {@code sigma_min} or a class with {@code
     * final_alpha_cumprod} (DDIM, PNDM, TCD; not DDPM) has {@code set_alpha_to_one =
     * false}, otherwise 0 (also for LCM, whose last step returns its denoised sample whatever
     * {@code set_alpha_to_one} says). {@link #sigmas(int)} itself always ends with 0.
     *
     * @return the final noise level of diffusers' loop
     */
    public float finalSigma() {
        boolean sigmaMinFinal = config.finalSigmasType().equals("sigma_min")
                || (FINAL_ALPHA.contains(config.className().toLowerCase(Locale.ROOT))
                        && !config.setAlphaToOne());
        return sigmaMinFinal ? sigmaMin() : 0f;
    }

    @Override
    public float[] sigmas(int steps) {
        return sigmas(steps, 1.0);
    }

    /**
     * The noise levels of a run whose timestep rule takes the image-to-image strength ({@link
     * #schedulesStrength()}); for other classes the strength must be 1 and this equals {@link
     * #sigmas(int)}.
     *
     * @param steps the number of sampler steps, ≥ 1
     * @param strength the image-to-image strength in (0, 1], 1 for text-to-image
     * @return {@code steps + 1} values, descending, ending with 0
     * @throws IllegalArgumentException if {@code steps} or {@code strength} is out of range for
     *     this schedule
     */
    public float[] sigmas(int steps, double strength) {
        double[][] plan = plan(steps, strength);
        float[] out = new float[steps + 1];
        for (int i = 0; i < steps; i++) {
            out[i] = (float) plan[0][i];
            if (!(out[i] > 0) || (i > 0 && !(out[i] < out[i - 1]))) {
                throw new IllegalArgumentException(steps + " steps are too many for this "
                        + "schedule: noise levels repeat (" + config.timestepSpacing()
                        + " spacing over " + numTrainTimesteps() + " training timesteps)");
            }
        }
        out[steps] = 0f;
        return out;
    }

    /**
     * The training timesteps matching {@link #sigmas(int)}, one per step: integers for the
     * spaced schedules ({@code linspace} of Euler-style classes may be fractional), fractional
     * values from log-σ interpolation for Karras/exponential σ.
     *
     * @param steps the number of steps, ≥ 1
     * @return {@code steps} timesteps, descending
     * @throws IllegalArgumentException if {@code steps} &lt; 1
     */
    public float[] timesteps(int steps) {
        return timesteps(steps, 1.0);
    }

    /**
     * The training timesteps matching {@link #sigmas(int, double)}. For {@code LCMScheduler}:
     * with k = T / original steps and m = ⌊original steps · strength⌋, the distillation
     * timesteps k·i − 1 for i = m … 1 (descending), of which the run takes those at the indices
     * ⌊j·m / steps⌋, j = 0 … steps − 1 (diffusers' {@code set_timesteps}).
     *
     * @param steps the number of steps, ≥ 1
     * @param strength the image-to-image strength in (0, 1], 1 for text-to-image
     * @return {@code steps} timesteps, descending
     * @throws IllegalArgumentException if {@code steps} or {@code strength} is out of range
     */
    public float[] timesteps(int steps, double strength) {
        double[][] plan = plan(steps, strength);
        float[] out = new float[steps];
        for (int i = 0; i < steps; i++) {
            out[i] = (float) plan[1][i];
        }
        return out;
    }

    @Override
    public float timestepOf(float sigma) {
        return (float) sigmaToT(sigma);
    }

    @Override
    public float sigmaOf(float timestep) {
        return (float) interpSigma(timestep);
    }

    /** Returns {sigmas (steps values, no trailing zero), timesteps}. */
    private double[][] plan(int n, double strength) {
        int t = numTrainTimesteps();
        if (n < 1 || n > t) {
            throw new IllegalArgumentException(
                    "steps must be in [1, " + t + "] (got " + n + ")");
        }
        if (!(strength > 0 && strength <= 1)) {
            throw new IllegalArgumentException("strength must be in (0, 1] (got " + strength
                    + ")");
        }
        if (!lcm && strength != 1.0) {
            throw new IllegalArgumentException("the " + config.className() + " timestep rule"
                    + " does not take a strength; slice sigmas(steps) for image-to-image");
        }
        if (lcm) {
            double[] ts = lcmTimesteps(n, t, strength);
            double[] sig = new double[n];
            for (int i = 0; i < n; i++) {
                sig[i] = interpSigma(ts[i]);
            }
            return new double[][] {sig, ts};
        }
        double[] ts = spacedTimesteps(n, t);
        double[] sig = new double[n];
        for (int i = 0; i < n; i++) {
            sig[i] = interpSigma(ts[i]);
        }
        if (config.useKarrasSigmas() || config.useExponentialSigmas()) {
            double max;
            double min;
            if (flavour == Flavour.DPM_SOLVER) {
                max = trainSigmas[t - 1];
                min = trainSigmas[0];
            } else {
                max = sig[0];
                min = sig[n - 1];
            }
            if (!Double.isNaN(config.sigmaMin())) {
                min = config.sigmaMin();
            }
            if (!Double.isNaN(config.sigmaMax())) {
                max = config.sigmaMax();
            }
            double[] spaced = config.useKarrasSigmas()
                    ? SigmaSchedules.karrasDouble(n, min, max, KARRAS_RHO)
                    : SigmaSchedules.exponentialDouble(n, min, max);
            boolean round = flavour == Flavour.DPM_SOLVER && config.useKarrasSigmas()
                    && !config.betaSchedule().equals("squaredcos_cap_v2");
            for (int i = 0; i < n; i++) {
                sig[i] = spaced[i];
                ts[i] = round ? Math.rint(sigmaToT(sig[i])) : sigmaToT(sig[i]);
            }
        }
        return new double[][] {sig, ts};
    }

    /** LCMScheduler.set_timesteps: every skipping-step-th distillation timestep, by index. */
    private double[] lcmTimesteps(int n, int t, double strength) {
        int original = originalInferenceSteps;
        if (original > t) {
            throw new IllegalArgumentException("original_inference_steps (" + original
                    + ") cannot exceed num_train_timesteps (" + t + ")");
        }
        int k = t / original;
        int m = (int) (original * strength); // distillation timesteps k·i − 1, i = 1 … m
        if (m / n < 1) {
            throw new IllegalArgumentException(n + " steps are too many for LCM at strength "
                    + strength + ": only " + m + " of the " + original
                    + " original_inference_steps timesteps are in range; use at most " + m
                    + " steps or a higher strength");
        }
        if (n > original) {
            throw new IllegalArgumentException("LCM takes at most original_inference_steps = "
                    + original + " steps (got " + n + ")");
        }
        double[] ts = new double[n];
        for (int j = 0; j < n; j++) {
            // np.floor(np.linspace(0, m, n, endpoint=False)) into the descending list
            int index = (int) Math.floor(j * ((double) m / n));
            ts[j] = (double) (m - index) * k - 1;
        }
        return ts;
    }

    private double[] spacedTimesteps(int n, int t) {
        double[] ts = new double[n];
        TimestepSpacing spacing = config.timestepSpacing();
        int offset = config.stepsOffset();
        if (spacing == TimestepSpacing.TRAILING) {
            // np.arange(T, 0, -T / n).round() - 1
            double ratio = (double) t / n;
            for (int i = 0; i < n; i++) {
                ts[i] = Math.rint(t - i * ratio) - 1;
            }
        } else if (flavour == Flavour.DPM_SOLVER) {
            if (spacing == TimestepSpacing.LINSPACE) {
                // np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
                double step = (t - 1.0) / n;
                for (int i = 0; i < n; i++) {
                    int j = n - i;
                    ts[i] = j == n ? t - 1 : Math.rint(j * step);
                }
            } else {
                // (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1] + steps_offset
                int ratio = t / (n + 1);
                for (int i = 0; i < n; i++) {
                    ts[i] = (double) (n - i) * ratio + offset;
                }
            }
        } else if (spacing == TimestepSpacing.LINSPACE) {
            // np.linspace(0, T - 1, n)[::-1]: float32 for Euler-style, rounded for DDIM-style
            double step = n == 1 ? 0 : (t - 1.0) / (n - 1);
            for (int i = 0; i < n; i++) {
                int j = n - 1 - i;
                double v = (n > 1 && j == n - 1) ? t - 1 : j * step;
                ts[i] = flavour == Flavour.DDIM ? Math.rint(v) : (float) v;
            }
        } else {
            // LEADING: (np.arange(0, n) * (T // n)).round()[::-1] + steps_offset
            int ratio = t / n;
            for (int i = 0; i < n; i++) {
                ts[i] = (double) (n - 1 - i) * ratio + offset;
            }
        }
        for (double v : ts) {
            if (v < 0 || v > t - 1) {
                throw new IllegalArgumentException("timestep " + v + " is outside [0, " + (t - 1)
                        + "]: lower steps_offset (" + offset + ") or change the spacing");
            }
        }
        return ts;
    }

    /** np.interp(t, arange(T), sigmas): linear in σ, clamped at both ends. */
    private double interpSigma(double t) {
        int last = trainSigmas.length - 1;
        if (!(t > 0)) {
            return trainSigmas[0];
        }
        if (t >= last) {
            return trainSigmas[last];
        }
        int lo = (int) Math.floor(t);
        double w = t - lo;
        return trainSigmas[lo] + w * (trainSigmas[lo + 1] - trainSigmas[lo]);
    }

    /** diffusers' _sigma_to_t: interpolation of log σ between training timesteps. */
    private double sigmaToT(double sigma) {
        double ls = Math.log(Math.max(sigma, 1e-10));
        int n = logSigmas.length;
        // index of the last training log σ not above log σ, clipped to [0, T - 2]
        int lo = 0;
        int a = 0;
        int b = n - 1;
        if (ls >= logSigmas[0]) {
            while (a < b) {
                int mid = (a + b + 1) >>> 1;
                if (logSigmas[mid] <= ls) {
                    a = mid;
                } else {
                    b = mid - 1;
                }
            }
            lo = Math.min(a, n - 2);
        }
        double low = logSigmas[lo];
        double high = logSigmas[lo + 1];
        double w = (low - ls) / (low - high);
        w = Math.max(0, Math.min(1, w));
        return (1 - w) * lo + w * (lo + 1);
    }

    @Override
    public String toString() {
        return "DiffusersScheduler" + config;
    }
}
