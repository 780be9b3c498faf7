package dev.jdiffusion.djl.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.jdiffusion.samplers.PredictionType;
import org.junit.jupiter.api.Test;

class TrainingConfigTest {

    @Test
    void learningRateWarmsUpLinearlyThenDecaysByCosine() {
        TrainingConfig c = TrainingConfig.builder().optSteps(110).optWarmupSteps(10)
                .optLearningRate(1e-3, 1e-5).build();
        assertThat(c.learningRateAt(0)).isCloseTo(1e-4, within(1e-12));
        assertThat(c.learningRateAt(4)).isCloseTo(5e-4, within(1e-12));
        assertThat(c.learningRateAt(10)).isCloseTo(1e-3, within(1e-12));
        // Halfway through the 100 decay steps the cosine is at the midpoint of peak and end.
        assertThat(c.learningRateAt(60)).isCloseTo((1e-3 + 1e-5) / 2, within(1e-12));
        assertThat(c.learningRateAt(110)).isCloseTo(1e-5, within(1e-12));
    }

    @Test
    void minSnrWeightsFollowHangEtAl() {
        // SNR 10 > γ = 5: ε weight 5/10, v weight 5/11, x₀ weight 5.
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.EPSILON, 10, 5)).isEqualTo(0.5);
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.V_PREDICTION, 10, 5))
                .isCloseTo(5.0 / 11, within(1e-15));
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.SAMPLE, 10, 5)).isEqualTo(5);
        // SNR 0.5 < γ: ε weight 1, v weight 0.5/1.5, x₀ weight 0.5.
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.EPSILON, 0.5, 5)).isEqualTo(1);
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.V_PREDICTION, 0.5, 5))
                .isCloseTo(1.0 / 3, within(1e-15));
        assertThat(DiffusionTrainer.minSnrWeight(PredictionType.SAMPLE, 0.5, 5)).isEqualTo(0.5);
    }

    @Test
    void invalidSettingsAreRejectedWithTheFieldName() {
        assertThatThrownBy(() -> TrainingConfig.builder().optEmaDecay(1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("emaDecay");
        assertThatThrownBy(() -> TrainingConfig.builder().optConditionDropout(-0.1).build())
                .hasMessageContaining("conditionDropout");
        assertThatThrownBy(() -> TrainingConfig.builder().optLearningRate(1e-3, 1e-2).build())
                .hasMessageContaining("minLearningRate");
        assertThat(PredictionType.parse("v_prediction")).isEqualTo(PredictionType.V_PREDICTION);
        assertThatThrownBy(() -> PredictionType.parse("x0")).hasMessageContaining("epsilon");
    }
}
