package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.jdiffusion.api.Samplers;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Each built-in sampler names its diffusers scheduler class, and a model schedule seen through
 * that class ({@link DiffusersScheduler#forSampler}) has the class's default spacing where the
 * config names none, its timestep rule, initial noise and final level. Expected values are
 * diffusers' formulas evaluated by hand. No engine needed.
 */
class SamplerScheduleTest {

    private static final Map<String, String> CLASSES = Map.of(
            "ddim", "DDIMScheduler", "ddpm", "DDPMScheduler", "euler", "EulerDiscreteScheduler",
            "euler_a", "EulerAncestralDiscreteScheduler", "heun", "HeunDiscreteScheduler",
            "lms", "LMSDiscreteScheduler", "dpmpp_2m", "DPMSolverMultistepScheduler",
            "dpmpp_2m_sde", "DPMSolverMultistepScheduler");

    /** Stable Diffusion 1.5's config: PNDM, no timestep_spacing. */
    private static DiffusersScheduler sd15() {
        return Schedulers.fromDiffusersConfig(SchedulerTest.SD15_JSON);
    }

    @Test
    void everyBuiltInSamplerNamesItsDiffusersClass() {
        CLASSES.forEach((sampler, cls) ->
                assertThat(Samplers.create(sampler).diffusersScheduler()).as(sampler)
                        .hasValue(cls));
    }

    @Test
    void configWithoutSpacingTakesTheSamplersClassDefault() {
        DiffusersScheduler s = sd15();
        assertThat(s.spacingGiven()).isFalse();
        assertThat(s.config().timestepSpacing()).isEqualTo(TimestepSpacing.LEADING); // PNDM's
        DiffusersScheduler euler = s.forSampler("EulerDiscreteScheduler");
        assertThat(euler.config().timestepSpacing()).isEqualTo(TimestepSpacing.LINSPACE);
        // linspace(0, 999, 10)[::-1] = 999, 888, ..., 0 (fractional steps of 111)
        assertThat(euler.timesteps(10)).containsExactly(999f, 888f, 777f, 666f, 555f, 444f,
                333f, 222f, 111f, 0f);
        assertThat(s.forSampler("DDIMScheduler").config().timestepSpacing())
                .isEqualTo(TimestepSpacing.LEADING);
        assertThat(s.forSampler("DDIMScheduler").timesteps(10)[0]).isEqualTo(901f);
    }

    @Test
    void dpmSolverUsesItsOwnRuleWithoutTheZeroTimestep() {
        DiffusersScheduler dpm = sd15().forSampler("DPMSolverMultistepScheduler");
        // linspace(0, 999, 11).round()[::-1][:-1]: 999, 899.1 -> 899, ..., 599.4 -> 599,
        // 499.5 -> 500, ..., 99.9 -> 100
        assertThat(dpm.timesteps(10)).containsExactly(999f, 899f, 799f, 699f, 599f, 500f, 400f,
                300f, 200f, 100f);
        float[] sigmas = dpm.sigmas(10);
        assertThat(sigmas[0]).isEqualTo(dpm.sigmaOf(999));
        assertThat(sigmas[9]).isEqualTo(dpm.sigmaOf(100));
        assertThat(sigmas[10]).isZero();
    }

    @Test
    void explicitSpacingWinsOverTheClassDefault() {
        String json = SchedulerTest.SD15_JSON.replace("\"steps_offset\": 1,",
                "\"steps_offset\": 1, \"timestep_spacing\": \"trailing\",");
        DiffusersScheduler s = Schedulers.fromDiffusersConfig(json);
        assertThat(s.spacingGiven()).isTrue();
        assertThat(s.forSampler("EulerDiscreteScheduler").config().timestepSpacing())
                .isEqualTo(TimestepSpacing.TRAILING);
        assertThat(sd15().withSpacing("leading").forSampler("EulerDiscreteScheduler").config()
                .timestepSpacing()).isEqualTo(TimestepSpacing.LEADING);
    }

    @Test
    void initialNoiseFollowsTheClass() {
        DiffusersScheduler s = sd15();
        float s0 = 14.6146f;
        double vp = Math.sqrt((double) s0 * s0 + 1);
        // Euler-style: σ_max for linspace/trailing, √(σ_max² + 1) for leading
        assertThat(s.forSampler("EulerDiscreteScheduler").initNoiseSigma(s0)).isEqualTo(s0);
        assertThat((double) s.withSpacing("leading").forSampler("EulerDiscreteScheduler")
                .initNoiseSigma(s0)).isCloseTo(vp, within(1e-5));
        // DDIM, DDPM, DPM-Solver: init_noise_sigma = 1 in the VP form
        for (String cls : new String[] {"DDIMScheduler", "DDPMScheduler",
                "DPMSolverMultistepScheduler"}) {
            assertThat((double) s.forSampler(cls).initNoiseSigma(s0)).as(cls)
                    .isCloseTo(vp, within(1e-5));
        }
    }

    @Test
    void onlyClassesWithFinalAlphaCumprodStopShortOfZero() {
        DiffusersScheduler s = sd15(); // set_alpha_to_one false
        assertThat(s.forSampler("DDIMScheduler").finalSigma()).isEqualTo(s.sigmaMin());
        assertThat(s.forSampler("DDPMScheduler").finalSigma()).isZero();
        assertThat(s.forSampler("EulerDiscreteScheduler").finalSigma()).isZero();
        DiffusersScheduler one = DiffusersScheduler.of(s.config().toBuilder().setAlphaToOne(true)
                .build());
        assertThat(one.forSampler("DDIMScheduler").finalSigma()).isZero();
    }
}
