package dev.jdiffusion.api;

import java.util.Objects;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * Typed, immutable settings of a sampler algorithm. Every setting is optional: an unset setting
 * means "the algorithm's default", and a setting an algorithm does not use is ignored.
 *
 * <ul>
 *   <li>{@code eta} (η): the amount of fresh noise per step of DDIM and the ancestral/SDE
 *       samplers, 0 (deterministic) to 1 (full ancestral).
 *   <li>{@code churn}, {@code churnSigmaMin}, {@code churnSigmaMax}: the stochasticity of the
 *       Euler and Heun samplers of Karras et al. (2022), applied to σ in [min, max].
 *   <li>{@code noiseScale}: the scale of the fresh noise (s_noise), usually 1.
 *   <li>{@code order}: the order of multistep methods such as LMS.
 * </ul>
 *
 * <p>Instances are immutable and thread-safe; build them with {@link #builder()}.
 */
public final class SamplerOptions {

    private static final SamplerOptions DEFAULTS = builder().build();

    private final Double eta;
    private final Double churn;
    private final Double churnSigmaMin;
    private final Double churnSigmaMax;
    private final Double noiseScale;
    private final Integer order;

    private SamplerOptions(Builder b) {
        this.eta = b.eta;
        this.churn = b.churn;
        this.churnSigmaMin = b.churnSigmaMin;
        this.churnSigmaMax = b.churnSigmaMax;
        this.noiseScale = b.noiseScale;
        this.order = b.order;
    }

    /**
     * Options with nothing set: every algorithm uses its defaults.
     *
     * @return the shared empty options
     */
    public static SamplerOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Starts building options.
     *
     * @return a new builder with nothing set
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The stochasticity η.
     *
     * @return η if set
     */
    public OptionalDouble eta() {
        return opt(eta);
    }

    /**
     * Karras et al.'s S_churn.
     *
     * @return the churn if set
     */
    public OptionalDouble churn() {
        return opt(churn);
    }

    /**
     * The smallest σ at which churn is applied (S_tmin).
     *
     * @return the value if set
     */
    public OptionalDouble churnSigmaMin() {
        return opt(churnSigmaMin);
    }

    /**
     * The largest σ at which churn is applied (S_tmax).
     *
     * @return the value if set
     */
    public OptionalDouble churnSigmaMax() {
        return opt(churnSigmaMax);
    }

    /**
     * The scale of fresh noise (S_noise).
     *
     * @return the value if set
     */
    public OptionalDouble noiseScale() {
        return opt(noiseScale);
    }

    /**
     * The order of a multistep method.
     *
     * @return the order if set
     */
    public OptionalInt order() {
        return order == null ? OptionalInt.empty() : OptionalInt.of(order);
    }

    private static OptionalDouble opt(Double d) {
        return d == null ? OptionalDouble.empty() : OptionalDouble.of(d);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SamplerOptions)) {
            return false;
        }
        SamplerOptions other = (SamplerOptions) o;
        return Objects.equals(eta, other.eta)
                && Objects.equals(churn, other.churn)
                && Objects.equals(churnSigmaMin, other.churnSigmaMin)
                && Objects.equals(churnSigmaMax, other.churnSigmaMax)
                && Objects.equals(noiseScale, other.noiseScale)
                && Objects.equals(order, other.order);
    }

    @Override
    public int hashCode() {
        return Objects.hash(eta, churn, churnSigmaMin, churnSigmaMax, noiseScale, order);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("SamplerOptions{");
        append(sb, "eta", eta);
        append(sb, "churn", churn);
        append(sb, "churnSigmaMin", churnSigmaMin);
        append(sb, "churnSigmaMax", churnSigmaMax);
        append(sb, "noiseScale", noiseScale);
        append(sb, "order", order);
        return sb.append('}').toString();
    }

    private static void append(StringBuilder sb, String name, Object value) {
        if (value != null) {
            if (sb.charAt(sb.length() - 1) != '{') {
                sb.append(", ");
            }
            sb.append(name).append('=').append(value);
        }
    }

    /** Builder of {@link SamplerOptions}; not thread-safe. */
    public static final class Builder {
        private Double eta;
        private Double churn;
        private Double churnSigmaMin;
        private Double churnSigmaMax;
        private Double noiseScale;
        private Integer order;

        private Builder() {}

        /**
         * Sets η.
         *
         * @param eta the stochasticity, in [0, 1]
         * @return this builder
         */
        public Builder optEta(double eta) {
            this.eta = eta;
            return this;
        }

        /**
         * Sets Karras et al.'s S_churn.
         *
         * @param churn the churn, ≥ 0
         * @return this builder
         */
        public Builder optChurn(double churn) {
            this.churn = churn;
            return this;
        }

        /**
         * Sets the σ range in which churn is applied.
         *
         * @param min S_tmin, ≥ 0
         * @param max S_tmax, ≥ min
         * @return this builder
         */
        public Builder optChurnRange(double min, double max) {
            this.churnSigmaMin = min;
            this.churnSigmaMax = max;
            return this;
        }

        /**
         * Sets the scale of fresh noise.
         *
         * @param noiseScale S_noise, &gt; 0
         * @return this builder
         */
        public Builder optNoiseScale(double noiseScale) {
            this.noiseScale = noiseScale;
            return this;
        }

        /**
         * Sets the order of a multistep method.
         *
         * @param order the order, ≥ 1
         * @return this builder
         */
        public Builder optOrder(int order) {
            this.order = order;
            return this;
        }

        /**
         * Validates and builds the options.
         *
         * @return the immutable options
         * @throws IllegalArgumentException if a value is out of range
         */
        public SamplerOptions build() {
            if (eta != null && !(eta >= 0 && eta <= 1)) {
                throw new IllegalArgumentException("eta must be in [0, 1] (got " + eta + ")");
            }
            if (churn != null && !(churn >= 0)) {
                throw new IllegalArgumentException("churn must be >= 0 (got " + churn + ")");
            }
            if (churnSigmaMin != null
                    && !(churnSigmaMin >= 0 && churnSigmaMax >= churnSigmaMin)) {
                throw new IllegalArgumentException(
                        "churn range must satisfy 0 <= min <= max (got ["
                                + churnSigmaMin + ", " + churnSigmaMax + "])");
            }
            if (noiseScale != null && !(noiseScale > 0 && Double.isFinite(noiseScale))) {
                throw new IllegalArgumentException(
                        "noiseScale must be a positive finite number (got " + noiseScale + ")");
            }
            if (order != null && order < 1) {
                throw new IllegalArgumentException("order must be >= 1 (got " + order + ")");
            }
            return new SamplerOptions(this);
        }
    }
}
