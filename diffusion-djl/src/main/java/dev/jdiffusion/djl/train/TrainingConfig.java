package dev.jdiffusion.djl.train;

import dev.jdiffusion.samplers.NoiseSchedule;
import dev.jdiffusion.samplers.PredictionType;
import java.util.Objects;

/**
 * The settings of a {@link DiffusionTrainer} run, as an immutable value. Build one with {@link
 * #builder()}; the canonical constructor validates every field and throws {@link
 * IllegalArgumentException} naming the field and its allowed range.
 *
 * <p>Learning rate: linear warm-up from 0 to {@code learningRate} over {@code warmupSteps}, then
 * cosine decay to {@code minLearningRate} at {@code steps}. Optimizer: AdamW (decoupled weight
 * decay, applied to parameters with two or more dimensions). Loss: mean squared error against
 * the {@code predictionType} target, optionally weighted by min-SNR-γ.
 *
 * @param schedule the training noise schedule; timesteps are drawn uniformly from [0, T)
 * @param predictionType what the network predicts
 * @param steps the total number of optimizer steps, ≥ 1
 * @param batchSize examples per step, ≥ 1
 * @param learningRate the peak learning rate, &gt; 0
 * @param minLearningRate the learning rate at the end of the cosine decay, in [0, learningRate]
 * @param warmupSteps linear warm-up steps, in [0, steps]
 * @param beta1 AdamW's first-moment decay, in [0, 1)
 * @param beta2 AdamW's second-moment decay, in [0, 1)
 * @param epsilon AdamW's denominator epsilon, &gt; 0
 * @param weightDecay decoupled weight decay, ≥ 0
 * @param gradClipNorm the largest global gradient L2 norm; gradients above it are scaled down;
 *     0 turns clipping off
 * @param emaDecay the decay of the exponential moving average of the weights, in [0, 1); 0
 *     makes the EMA equal the latest weights
 * @param minSnrGamma γ of min-SNR-γ loss weighting (Hang et al. 2023, 5 is their choice); 0
 *     turns weighting off
 * @param conditionDropout the probability, in [0, 1), that an example's condition is replaced
 *     by the data set's null condition (classifier-free-guidance training)
 * @param seed the seed of every random choice: weight initialisation, batches, timesteps, noise
 *     and dropout
 * @param logEvery log progress through SLF4J every this many steps, ≥ 1
 * @param keepCheckpoints how many checkpoints {@link DiffusionTrainer#train()} keeps in its
 *     checkpoint folder: after saving one it deletes the older ones beyond this number; 0 keeps
 *     all
 */
public record TrainingConfig(
        NoiseSchedule schedule,
        PredictionType predictionType,
        int steps,
        int batchSize,
        double learningRate,
        double minLearningRate,
        int warmupSteps,
        double beta1,
        double beta2,
        double epsilon,
        double weightDecay,
        double gradClipNorm,
        double emaDecay,
        double minSnrGamma,
        double conditionDropout,
        long seed,
        int logEvery,
        int keepCheckpoints) {

    /**
     * Validates the settings.
     *
     * @param schedule see the record description
     * @param predictionType see the record description
     * @param steps see the record description
     * @param batchSize see the record description
     * @param learningRate see the record description
     * @param minLearningRate see the record description
     * @param warmupSteps see the record description
     * @param beta1 see the record description
     * @param beta2 see the record description
     * @param epsilon see the record description
     * @param weightDecay see the record description
     * @param gradClipNorm see the record description
     * @param emaDecay see the record description
     * @param minSnrGamma see the record description
     * @param conditionDropout see the record description
     * @param seed see the record description
     * @param logEvery see the record description
     * @param keepCheckpoints see the record description
     */
    public TrainingConfig {
        Objects.requireNonNull(schedule, "schedule");
        Objects.requireNonNull(predictionType, "predictionType");
        check(steps >= 1, "steps must be >= 1 (got " + steps + ")");
        check(batchSize >= 1, "batchSize must be >= 1 (got " + batchSize + ")");
        check(learningRate > 0 && Double.isFinite(learningRate),
                "learningRate must be > 0 (got " + learningRate + ")");
        check(minLearningRate >= 0 && minLearningRate <= learningRate,
                "minLearningRate must be in [0, learningRate] (got " + minLearningRate + ")");
        check(warmupSteps >= 0 && warmupSteps <= steps,
                "warmupSteps must be in [0, steps] (got " + warmupSteps + ")");
        check(beta1 >= 0 && beta1 < 1, "beta1 must be in [0, 1) (got " + beta1 + ")");
        check(beta2 >= 0 && beta2 < 1, "beta2 must be in [0, 1) (got " + beta2 + ")");
        check(epsilon > 0, "epsilon must be > 0 (got " + epsilon + ")");
        check(weightDecay >= 0, "weightDecay must be >= 0 (got " + weightDecay + ")");
        check(gradClipNorm >= 0, "gradClipNorm must be >= 0, 0 = off (got " + gradClipNorm + ")");
        check(emaDecay >= 0 && emaDecay < 1, "emaDecay must be in [0, 1) (got " + emaDecay + ")");
        check(minSnrGamma >= 0, "minSnrGamma must be >= 0, 0 = off (got " + minSnrGamma + ")");
        check(conditionDropout >= 0 && conditionDropout < 1,
                "conditionDropout must be in [0, 1) (got " + conditionDropout + ")");
        check(logEvery >= 1, "logEvery must be >= 1 (got " + logEvery + ")");
        check(keepCheckpoints >= 0,
                "keepCheckpoints must be >= 0, 0 = keep all (got " + keepCheckpoints + ")");
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /**
     * The learning rate of a step: linear warm-up, then cosine decay.
     *
     * @param step the zero-based index of the step
     * @return the learning rate to use for it
     */
    public double learningRateAt(long step) {
        if (step < warmupSteps) {
            return learningRate * (step + 1) / warmupSteps;
        }
        int decaySteps = steps - warmupSteps;
        if (decaySteps <= 0) {
            return learningRate;
        }
        double progress = Math.min(1.0, (double) (step - warmupSteps) / decaySteps);
        return minLearningRate
                + 0.5 * (learningRate - minLearningRate) * (1 + Math.cos(Math.PI * progress));
    }

    /**
     * A builder with defaults suited to small models: linear β 1e-4→0.02 over 1000 timesteps,
     * ε-prediction, 1000 steps of batch 64, learning rate 1e-3 with 100 warm-up steps decaying
     * to 1e-5, AdamW (0.9, 0.999, 1e-8, weight decay 0.01), clipping at norm 1, EMA 0.999,
     * no min-SNR weighting, no condition dropout, seed 0, log every 100 steps, keep the 3
     * newest checkpoints.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A builder that starts from this configuration.
     *
     * @return a new builder with every field of this record
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.schedule = schedule;
        b.predictionType = predictionType;
        b.steps = steps;
        b.batchSize = batchSize;
        b.learningRate = learningRate;
        b.minLearningRate = minLearningRate;
        b.warmupSteps = warmupSteps;
        b.beta1 = beta1;
        b.beta2 = beta2;
        b.epsilon = epsilon;
        b.weightDecay = weightDecay;
        b.gradClipNorm = gradClipNorm;
        b.emaDecay = emaDecay;
        b.minSnrGamma = minSnrGamma;
        b.conditionDropout = conditionDropout;
        b.seed = seed;
        b.logEvery = logEvery;
        b.keepCheckpoints = keepCheckpoints;
        return b;
    }

    /** Builds a {@link TrainingConfig}. Not thread-safe. */
    public static final class Builder {
        private NoiseSchedule schedule = NoiseSchedule.linear(1000, 1e-4, 0.02);
        private PredictionType predictionType = PredictionType.EPSILON;
        private int steps = 1000;
        private int batchSize = 64;
        private double learningRate = 1e-3;
        private double minLearningRate = 1e-5;
        private int warmupSteps = 100;
        private double beta1 = 0.9;
        private double beta2 = 0.999;
        private double epsilon = 1e-8;
        private double weightDecay = 0.01;
        private double gradClipNorm = 1.0;
        private double emaDecay = 0.999;
        private double minSnrGamma;
        private double conditionDropout;
        private long seed;
        private int logEvery = 100;
        private int keepCheckpoints = 3;

        private Builder() {}

        /**
         * Sets the training noise schedule.
         *
         * @param value the schedule
         * @return this builder
         */
        public Builder optSchedule(NoiseSchedule value) {
            this.schedule = value;
            return this;
        }

        /**
         * Sets the prediction target.
         *
         * @param value the prediction type
         * @return this builder
         */
        public Builder optPredictionType(PredictionType value) {
            this.predictionType = value;
            return this;
        }

        /**
         * Sets the number of steps; a warm-up longer than this is shortened to it.
         *
         * @param value total optimizer steps
         * @return this builder
         */
        public Builder optSteps(int value) {
            this.steps = value;
            return this;
        }

        /**
         * Sets the batch size.
         *
         * @param value examples per step
         * @return this builder
         */
        public Builder optBatchSize(int value) {
            this.batchSize = value;
            return this;
        }

        /**
         * Sets the peak and final learning rates.
         *
         * @param peak the rate after warm-up
         * @param end the rate at the last step
         * @return this builder
         */
        public Builder optLearningRate(double peak, double end) {
            this.learningRate = peak;
            this.minLearningRate = end;
            return this;
        }

        /**
         * Sets the warm-up length.
         *
         * @param value linear warm-up steps
         * @return this builder
         */
        public Builder optWarmupSteps(int value) {
            this.warmupSteps = value;
            return this;
        }

        /**
         * Sets AdamW's moment decays and epsilon.
         *
         * @param b1 first-moment decay
         * @param b2 second-moment decay
         * @param eps denominator epsilon
         * @return this builder
         */
        public Builder optAdam(double b1, double b2, double eps) {
            this.beta1 = b1;
            this.beta2 = b2;
            this.epsilon = eps;
            return this;
        }

        /**
         * Sets the decoupled weight decay.
         *
         * @param value the decay; 0 turns it off
         * @return this builder
         */
        public Builder optWeightDecay(double value) {
            this.weightDecay = value;
            return this;
        }

        /**
         * Sets the gradient-clipping norm.
         *
         * @param value the largest global L2 norm; 0 turns clipping off
         * @return this builder
         */
        public Builder optGradClipNorm(double value) {
            this.gradClipNorm = value;
            return this;
        }

        /**
         * Sets the EMA decay.
         *
         * @param value the decay in [0, 1)
         * @return this builder
         */
        public Builder optEmaDecay(double value) {
            this.emaDecay = value;
            return this;
        }

        /**
         * Sets γ of min-SNR-γ loss weighting.
         *
         * @param value γ; 0 turns weighting off
         * @return this builder
         */
        public Builder optMinSnrGamma(double value) {
            this.minSnrGamma = value;
            return this;
        }

        /**
         * Sets the classifier-free-guidance dropout probability of the condition.
         *
         * @param value the probability in [0, 1)
         * @return this builder
         */
        public Builder optConditionDropout(double value) {
            this.conditionDropout = value;
            return this;
        }

        /**
         * Sets the seed.
         *
         * @param value the seed of all randomness
         * @return this builder
         */
        public Builder optSeed(long value) {
            this.seed = value;
            return this;
        }

        /**
         * Sets how often progress is logged.
         *
         * @param value every this many steps
         * @return this builder
         */
        public Builder optLogEvery(int value) {
            this.logEvery = value;
            return this;
        }

        /**
         * Sets how many checkpoints training keeps in its checkpoint folder (the newest ones).
         *
         * @param value the number kept, ≥ 1, or 0 to keep all
         * @return this builder
         */
        public Builder optKeepCheckpoints(int value) {
            this.keepCheckpoints = value;
            return this;
        }

        /**
         * Validates and builds the configuration.
         *
         * @return the configuration
         * @throws IllegalArgumentException naming the first invalid field
         */
        public TrainingConfig build() {
            return new TrainingConfig(schedule, predictionType, steps, batchSize, learningRate,
                    minLearningRate, Math.min(warmupSteps, Math.max(steps, 1)), beta1, beta2,
                    epsilon, weightDecay, gradClipNorm, emaDecay, minSnrGamma, conditionDropout,
                    seed, logEvery, keepCheckpoints);
        }
    }
}
