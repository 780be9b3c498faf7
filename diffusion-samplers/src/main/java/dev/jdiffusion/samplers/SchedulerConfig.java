package dev.jdiffusion.samplers;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * The immutable configuration of a {@link DiffusersScheduler}: the fields of a diffusers {@code
 * scheduler_config.json} that define a noise schedule. Build it with {@link #builder()} (whose
 * defaults are diffusers' {@code EulerDiscreteScheduler} defaults) or read it with {@link
 * Schedulers#fromDiffusersConfig(java.nio.file.Path)}.
 *
 * <p>The compact constructor validates every value and throws {@link IllegalArgumentException}
 * with the field name in diffusers' spelling. {@code trainedBetas} is copied in and out.
 *
 * @param className diffusers' {@code _class_name} (for example {@code "PNDMScheduler"}), or
 *     {@code ""} if unknown; it selects which class's exact timestep formulas are used
 * @param numTrainTimesteps {@code num_train_timesteps}, T ≥ 2
 * @param betaStart {@code beta_start}, β at t = 0
 * @param betaEnd {@code beta_end}, β at t = T − 1
 * @param betaSchedule {@code beta_schedule}: {@code linear}, {@code scaled_linear} or {@code
 *     squaredcos_cap_v2} (ignored when {@code trainedBetas} is given)
 * @param trainedBetas {@code trained_betas}, an explicit β table of length T, or {@code null}
 * @param rescaleBetasZeroSnr {@code rescale_betas_zero_snr}
 * @param timestepSpacing {@code timestep_spacing}
 * @param stepsOffset {@code steps_offset}, added to {@code leading} timesteps
 * @param predictionType {@code prediction_type}
 * @param clipSample {@code clip_sample}: clip the x₀ estimate to ±{@code clipSampleRange}
 * @param clipSampleRange {@code clip_sample_range}, &gt; 0
 * @param setAlphaToOne {@code set_alpha_to_one} (DDIM/PNDM): whether the final ᾱ is 1 (σ = 0)
 *     or ᾱ<sub>0</sub>; see {@link DiffusersScheduler#finalSigma()}
 * @param useKarrasSigmas {@code use_karras_sigmas}: Karras et al. σ spacing, ρ = 7
 * @param useExponentialSigmas {@code use_exponential_sigmas}: log-uniform σ spacing
 * @param sigmaMin {@code sigma_min} for Karras/exponential spacing, or NaN for the schedule's
 * @param sigmaMax {@code sigma_max} for Karras/exponential spacing, or NaN for the schedule's
 * @param finalSigmasType {@code final_sigmas_type}: {@code zero} or {@code sigma_min}
 */
public record SchedulerConfig(
        String className,
        int numTrainTimesteps,
        double betaStart,
        double betaEnd,
        String betaSchedule,
        double[] trainedBetas,
        boolean rescaleBetasZeroSnr,
        TimestepSpacing timestepSpacing,
        int stepsOffset,
        PredictionType predictionType,
        boolean clipSample,
        double clipSampleRange,
        boolean setAlphaToOne,
        boolean useKarrasSigmas,
        boolean useExponentialSigmas,
        double sigmaMin,
        double sigmaMax,
        String finalSigmasType) {

    /**
     * The most training timesteps a schedule may have (diffusion models use 1000; the schedule
     * arrays are allocated at this length, so a corrupt configuration must not ask for more).
     */
    public static final int MAX_TRAIN_TIMESTEPS = 100_000;

    /**
     * Validates the values.
     *
     * @param className see the record description
     * @param numTrainTimesteps see the record description
     * @param betaStart see the record description
     * @param betaEnd see the record description
     * @param betaSchedule see the record description
     * @param trainedBetas see the record description
     * @param rescaleBetasZeroSnr see the record description
     * @param timestepSpacing see the record description
     * @param stepsOffset see the record description
     * @param predictionType see the record description
     * @param clipSample see the record description
     * @param clipSampleRange see the record description
     * @param setAlphaToOne see the record description
     * @param useKarrasSigmas see the record description
     * @param useExponentialSigmas see the record description
     * @param sigmaMin see the record description
     * @param sigmaMax see the record description
     * @param finalSigmasType see the record description
     * @throws IllegalArgumentException if a value is out of range; the message names the field
     */
    public SchedulerConfig {
        className = className == null ? "" : className;
        Objects.requireNonNull(betaSchedule, "beta_schedule");
        Objects.requireNonNull(timestepSpacing, "timestep_spacing");
        Objects.requireNonNull(predictionType, "prediction_type");
        Objects.requireNonNull(finalSigmasType, "final_sigmas_type");
        betaSchedule = betaSchedule.trim().toLowerCase(Locale.ROOT);
        finalSigmasType = finalSigmasType.trim().toLowerCase(Locale.ROOT);
        if (numTrainTimesteps < 2 || numTrainTimesteps > MAX_TRAIN_TIMESTEPS) {
            throw new IllegalArgumentException("num_train_timesteps must be in [2, "
                    + MAX_TRAIN_TIMESTEPS + "] (got " + numTrainTimesteps + ")");
        }
        if (trainedBetas != null) {
            trainedBetas = trainedBetas.clone();
            if (trainedBetas.length != numTrainTimesteps) {
                throw new IllegalArgumentException("trained_betas has " + trainedBetas.length
                        + " values but num_train_timesteps is " + numTrainTimesteps
                        + "; make them agree");
            }
        } else {
            if (!betaSchedule.equals("linear") && !betaSchedule.equals("scaled_linear")
                    && !betaSchedule.equals("squaredcos_cap_v2")) {
                throw new IllegalArgumentException("unknown beta_schedule '" + betaSchedule
                        + "'; supported: linear, scaled_linear, squaredcos_cap_v2"
                        + " (or give trained_betas)");
            }
            if (!betaSchedule.equals("squaredcos_cap_v2")
                    && !(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1)) {
                throw new IllegalArgumentException("beta_start and beta_end must satisfy"
                        + " 0 < beta_start <= beta_end < 1 (got " + betaStart + ", " + betaEnd
                        + ")");
            }
        }
        if (stepsOffset < 0) {
            throw new IllegalArgumentException("steps_offset must be >= 0 (got " + stepsOffset
                    + ")");
        }
        if (!(clipSampleRange > 0 && Double.isFinite(clipSampleRange))) {
            throw new IllegalArgumentException(
                    "clip_sample_range must be a positive number (got " + clipSampleRange + ")");
        }
        if (useKarrasSigmas && useExponentialSigmas) {
            throw new IllegalArgumentException(
                    "use_karras_sigmas and use_exponential_sigmas cannot both be true");
        }
        if (!Double.isNaN(sigmaMin) && !(sigmaMin > 0 && Double.isFinite(sigmaMin))) {
            throw new IllegalArgumentException("sigma_min must be > 0 (got " + sigmaMin + ")");
        }
        if (!Double.isNaN(sigmaMax) && !(sigmaMax > 0 && Double.isFinite(sigmaMax))) {
            throw new IllegalArgumentException("sigma_max must be > 0 (got " + sigmaMax + ")");
        }
        if (!Double.isNaN(sigmaMin) && !Double.isNaN(sigmaMax) && !(sigmaMin < sigmaMax)) {
            throw new IllegalArgumentException("sigma_min must be < sigma_max (got " + sigmaMin
                    + ", " + sigmaMax + ")");
        }
        if (!finalSigmasType.equals("zero") && !finalSigmasType.equals("sigma_min")) {
            throw new IllegalArgumentException("final_sigmas_type must be 'zero' or 'sigma_min'"
                    + " (got '" + finalSigmasType + "')");
        }
    }

    /**
     * The explicit β table.
     *
     * @return a copy of {@code trained_betas}, or {@code null} if none was given
     */
    @Override
    public double[] trainedBetas() {
        return trainedBetas == null ? null : trainedBetas.clone();
    }

    /**
     * This configuration as diffusers' {@code scheduler_config.json}, readable by {@link
     * Schedulers#fromDiffusersConfig(String)} and by diffusers.
     *
     * @return the JSON text
     */
    public String toJson() {
        com.fasterxml.jackson.databind.ObjectMapper mapper =
                new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode n = mapper.createObjectNode();
        n.put("_class_name", className);
        n.put("num_train_timesteps", numTrainTimesteps);
        n.put("beta_start", betaStart);
        n.put("beta_end", betaEnd);
        n.put("beta_schedule", betaSchedule);
        if (trainedBetas != null) {
            com.fasterxml.jackson.databind.node.ArrayNode a = n.putArray("trained_betas");
            for (double b : trainedBetas) {
                a.add(b);
            }
        }
        n.put("rescale_betas_zero_snr", rescaleBetasZeroSnr);
        n.put("timestep_spacing", timestepSpacing.diffusersName());
        n.put("steps_offset", stepsOffset);
        n.put("prediction_type", predictionType.diffusersName());
        n.put("clip_sample", clipSample);
        n.put("clip_sample_range", clipSampleRange);
        n.put("set_alpha_to_one", setAlphaToOne);
        n.put("use_karras_sigmas", useKarrasSigmas);
        n.put("use_exponential_sigmas", useExponentialSigmas);
        if (!Double.isNaN(sigmaMin)) {
            n.put("sigma_min", sigmaMin);
        }
        if (!Double.isNaN(sigmaMax)) {
            n.put("sigma_max", sigmaMax);
        }
        if (finalSigmasType != null) {
            n.put("final_sigmas_type", finalSigmasType);
        }
        try {
            return mapper.writerWithDefaultPrettyPrinter().writeValueAsString(n);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Starts a builder with diffusers' {@code EulerDiscreteScheduler} defaults: T = 1000, linear
     * β 0.0001 → 0.02, {@code linspace} spacing, offset 0, ε prediction, no clipping, final σ 0.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A builder initialised with this configuration's values.
     *
     * @return a new builder
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.className = className;
        b.numTrainTimesteps = numTrainTimesteps;
        b.betaStart = betaStart;
        b.betaEnd = betaEnd;
        b.betaSchedule = betaSchedule;
        b.trainedBetas = trainedBetas;
        b.rescaleBetasZeroSnr = rescaleBetasZeroSnr;
        b.timestepSpacing = timestepSpacing;
        b.stepsOffset = stepsOffset;
        b.predictionType = predictionType;
        b.clipSample = clipSample;
        b.clipSampleRange = clipSampleRange;
        b.setAlphaToOne = setAlphaToOne;
        b.useKarrasSigmas = useKarrasSigmas;
        b.useExponentialSigmas = useExponentialSigmas;
        b.sigmaMin = sigmaMin;
        b.sigmaMax = sigmaMax;
        b.finalSigmasType = finalSigmasType;
        return b;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SchedulerConfig)) {
            return false;
        }
        SchedulerConfig c = (SchedulerConfig) o;
        return className.equals(c.className) && numTrainTimesteps == c.numTrainTimesteps
                && Double.compare(betaStart, c.betaStart) == 0
                && Double.compare(betaEnd, c.betaEnd) == 0
                && betaSchedule.equals(c.betaSchedule)
                && Arrays.equals(trainedBetas, c.trainedBetas)
                && rescaleBetasZeroSnr == c.rescaleBetasZeroSnr
                && timestepSpacing == c.timestepSpacing && stepsOffset == c.stepsOffset
                && predictionType == c.predictionType && clipSample == c.clipSample
                && Double.compare(clipSampleRange, c.clipSampleRange) == 0
                && setAlphaToOne == c.setAlphaToOne && useKarrasSigmas == c.useKarrasSigmas
                && useExponentialSigmas == c.useExponentialSigmas
                && Double.compare(sigmaMin, c.sigmaMin) == 0
                && Double.compare(sigmaMax, c.sigmaMax) == 0
                && finalSigmasType.equals(c.finalSigmasType);
    }

    @Override
    public int hashCode() {
        return Objects.hash(className, numTrainTimesteps, betaStart, betaEnd, betaSchedule,
                Arrays.hashCode(trainedBetas), rescaleBetasZeroSnr, timestepSpacing, stepsOffset,
                predictionType, clipSample, clipSampleRange, setAlphaToOne, useKarrasSigmas,
                useExponentialSigmas, sigmaMin, sigmaMax, finalSigmasType);
    }

    @Override
    public String toString() {
        return "SchedulerConfig{class=" + className + ", T=" + numTrainTimesteps
                + (trainedBetas != null ? ", trained_betas"
                        : ", " + betaSchedule + " " + betaStart + "->" + betaEnd)
                + (rescaleBetasZeroSnr ? ", zero-SNR" : "") + ", " + timestepSpacing
                + ", steps_offset=" + stepsOffset + ", " + predictionType
                + (clipSample ? ", clip=" + clipSampleRange : "")
                + ", set_alpha_to_one=" + setAlphaToOne
                + (useKarrasSigmas ? ", karras" : "") + (useExponentialSigmas ? ", exponential" : "")
                + ", final=" + finalSigmasType + "}";
    }

    /** Mutable builder of a {@link SchedulerConfig}; not thread-safe. */
    public static final class Builder {
        private String className = "";
        private int numTrainTimesteps = 1000;
        private double betaStart = 0.0001;
        private double betaEnd = 0.02;
        private String betaSchedule = "linear";
        private double[] trainedBetas;
        private boolean rescaleBetasZeroSnr;
        private TimestepSpacing timestepSpacing = TimestepSpacing.LINSPACE;
        private int stepsOffset;
        private PredictionType predictionType = PredictionType.EPSILON;
        private boolean clipSample;
        private double clipSampleRange = 1.0;
        private boolean setAlphaToOne = true;
        private boolean useKarrasSigmas;
        private boolean useExponentialSigmas;
        private double sigmaMin = Double.NaN;
        private double sigmaMax = Double.NaN;
        private String finalSigmasType = "zero";

        private Builder() {}

        /**
         * Sets diffusers' {@code _class_name}.
         *
         * @param v the class name, for example {@code "DDIMScheduler"}
         * @return this builder
         */
        public Builder className(String v) {
            className = v;
            return this;
        }

        /**
         * Sets {@code num_train_timesteps}.
         *
         * @param v T
         * @return this builder
         */
        public Builder numTrainTimesteps(int v) {
            numTrainTimesteps = v;
            return this;
        }

        /**
         * Sets the β range and {@code beta_schedule}.
         *
         * @param schedule {@code linear}, {@code scaled_linear} or {@code squaredcos_cap_v2}
         * @param start {@code beta_start}
         * @param end {@code beta_end}
         * @return this builder
         */
        public Builder betas(String schedule, double start, double end) {
            betaSchedule = schedule;
            betaStart = start;
            betaEnd = end;
            return this;
        }

        /**
         * Sets {@code trained_betas}.
         *
         * @param v the β table, or {@code null}
         * @return this builder
         */
        public Builder trainedBetas(double[] v) {
            trainedBetas = v == null ? null : v.clone();
            return this;
        }

        /**
         * Sets {@code rescale_betas_zero_snr}.
         *
         * @param v whether to rescale to zero terminal SNR
         * @return this builder
         */
        public Builder rescaleBetasZeroSnr(boolean v) {
            rescaleBetasZeroSnr = v;
            return this;
        }

        /**
         * Sets {@code timestep_spacing}.
         *
         * @param v the spacing
         * @return this builder
         */
        public Builder timestepSpacing(TimestepSpacing v) {
            timestepSpacing = v;
            return this;
        }

        /**
         * Sets {@code steps_offset}.
         *
         * @param v the offset, ≥ 0
         * @return this builder
         */
        public Builder stepsOffset(int v) {
            stepsOffset = v;
            return this;
        }

        /**
         * Sets {@code prediction_type}.
         *
         * @param v the prediction type
         * @return this builder
         */
        public Builder predictionType(PredictionType v) {
            predictionType = v;
            return this;
        }

        /**
         * Sets {@code clip_sample} and {@code clip_sample_range}.
         *
         * @param clip whether to clip x₀
         * @param range the clipping range, &gt; 0
         * @return this builder
         */
        public Builder clipSample(boolean clip, double range) {
            clipSample = clip;
            clipSampleRange = range;
            return this;
        }

        /**
         * Sets {@code set_alpha_to_one}.
         *
         * @param v the flag
         * @return this builder
         */
        public Builder setAlphaToOne(boolean v) {
            setAlphaToOne = v;
            return this;
        }

        /**
         * Sets {@code use_karras_sigmas}.
         *
         * @param v the flag
         * @return this builder
         */
        public Builder useKarrasSigmas(boolean v) {
            useKarrasSigmas = v;
            return this;
        }

        /**
         * Sets {@code use_exponential_sigmas}.
         *
         * @param v the flag
         * @return this builder
         */
        public Builder useExponentialSigmas(boolean v) {
            useExponentialSigmas = v;
            return this;
        }

        /**
         * Sets {@code sigma_min} and {@code sigma_max} for Karras/exponential spacing.
         *
         * @param min σ<sub>min</sub>, or NaN for the schedule's
         * @param max σ<sub>max</sub>, or NaN for the schedule's
         * @return this builder
         */
        public Builder sigmaRange(double min, double max) {
            sigmaMin = min;
            sigmaMax = max;
            return this;
        }

        /**
         * Sets {@code final_sigmas_type}.
         *
         * @param v {@code zero} or {@code sigma_min}
         * @return this builder
         */
        public Builder finalSigmasType(String v) {
            finalSigmasType = v;
            return this;
        }

        /**
         * Validates and builds the configuration.
         *
         * @return the configuration
         * @throws IllegalArgumentException if a value is out of range
         */
        public SchedulerConfig build() {
            return new SchedulerConfig(className, numTrainTimesteps, betaStart, betaEnd,
                    betaSchedule, trainedBetas, rescaleBetasZeroSnr, timestepSpacing, stepsOffset,
                    predictionType, clipSample, clipSampleRange, setAlphaToOne, useKarrasSigmas,
                    useExponentialSigmas, sigmaMin, sigmaMax, finalSigmasType);
        }
    }
}
