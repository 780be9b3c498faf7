package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.NoiseSource;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.api.StepListener;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The {@code lcm} sampler against diffusers' {@code LCMScheduler.step} restated in its own
 * variance-preserving form (ᾱ from σ, c<sub>skip</sub>/c<sub>out</sub> of the timestep, fresh
 * noise between steps, the denoised sample at the end), and LCM's timestep rule against values
 * computed by hand from {@code set_timesteps}.
 */
class LcmSamplerTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    private static final Denoiser SHRINK = (x, sigma) -> x.mul(0.5f).add(0.1f);

    /** SD 1.5's schedule seen through LCMScheduler. */
    private static DiffusersScheduler lcm() {
        return Schedulers.fromDiffusersConfig(SchedulerTest.SD15_JSON).forSampler("LCMScheduler");
    }

    @Test
    void isDiscoveredAndAsksForTheLcmSchedule() {
        Sampler s = Samplers.create("lcm");
        assertThat(s).isInstanceOf(LcmSampler.class);
        assertThat(s.diffusersScheduler()).hasValue("LCMScheduler");
    }

    @Test
    void timestepRuleIsDiffusers() {
        DiffusersScheduler s = lcm();
        // k = 1000 / 50 = 20: origin timesteps 19, 39, ..., 999; 4 steps take indices
        // floor(linspace(0, 50, 4, endpoint=False)) = 0, 12, 25, 37 of the descending list.
        assertThat(s.timesteps(4)).containsExactly(999f, 759f, 499f, 259f);
        assertThat(s.timesteps(1)).containsExactly(999f);
        assertThat(s.timesteps(2)).containsExactly(999f, 499f);
        // strength 0.6: int(50 · 0.6) = 30 timesteps 19 ... 599; indices 0, 7, 15, 22
        assertThat(s.timesteps(4, 0.6)).containsExactly(599f, 459f, 299f, 159f);
        assertThat(s.sigmas(4)[0]).isEqualTo(s.sigmaOf(999));
        assertThat(s.sigmas(4)[3]).isEqualTo(s.sigmaOf(259));
        assertThat(s.sigmas(4)[4]).isZero();
        // original_inference_steps 20: k = 50, timesteps 49, ..., 999; indices 0, 5, 10, 15
        assertThat(s.withOriginalInferenceSteps(20).timesteps(4))
                .containsExactly(999f, 749f, 499f, 249f);
        assertThat(s.schedulesStrength()).isTrue();
        assertThat(s.finalSigma()).isZero(); // the last step returns the denoised sample
        float first = s.sigmas(4)[0];
        assertThat(s.initNoiseSigma(first)).isEqualTo((float) Math.sqrt(first * first + 1.0));
        // other classes keep their rules and refuse a strength
        assertThat(lcm().forSampler("DDIMScheduler").schedulesStrength()).isFalse();
        assertThatThrownBy(() -> lcm().forSampler("DDIMScheduler").sigmas(4, 0.5))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("strength");
    }

    @Test
    void tooManyStepsForTheDistillationScheduleAreRefused() {
        DiffusersScheduler s = lcm();
        assertThatThrownBy(() -> s.timesteps(51)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("51 steps");
        // strength 0.05: int(2.5) = 2 timesteps, fewer than 4 steps
        assertThatThrownBy(() -> s.sigmas(4, 0.05)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("at most 2 steps");
        assertThatThrownBy(() -> s.withOriginalInferenceSteps(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("original_inference_steps");
    }

    @Test
    void theSchedulerConfigsTimestepScalingReachesTheSampler() {
        String json = SchedulerTest.SD15_JSON.replace("\"clip_sample\": false",
                "\"clip_sample\": false, \"timestep_scaling\": 0.5");
        DiffusersScheduler s = Schedulers.fromDiffusersConfig(json).forSampler("LCMScheduler");
        assertThat(s.timestepScaling()).isEqualTo(0.5);
        assertThat(lcm().timestepScaling()).isEqualTo(LcmSampler.DEFAULT_TIMESTEP_SCALING);
        Sampler configured = s.configure(Samplers.create("lcm"));
        // t = 259, scaled 129.5: c_skip = 0.25 / (129.5² + 0.25), c_out = 129.5 / √(129.5² + 0.25)
        double[] c = ((LcmSampler) configured).scalings(259);
        assertThat(c[0]).isCloseTo(0.25 / (129.5 * 129.5 + 0.25), within(1e-15));
        assertThat(c[1]).isCloseTo(129.5 / Math.sqrt(129.5 * 129.5 + 0.25), within(1e-15));
        // other samplers pass through unchanged, and so does an LCM sampler that already fits
        Sampler euler = Samplers.create("euler");
        assertThat(s.configure(euler)).isSameAs(euler);
        assertThat(s.configure(configured)).isSameAs(configured);
        assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(SchedulerTest.SD15_JSON.replace(
                "\"clip_sample\": false", "\"clip_sample\": false, \"timestep_scaling\": 0")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("timestep_scaling");
        assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(SchedulerTest.SD15_JSON.replace(
                "\"clip_sample\": false", "\"clip_sample\": false, \"timestep_scaling\": \"x\"")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("timestep_scaling");
    }

    @Test
    void boundaryScalingsAreDiffusers() {
        LcmSampler s = new LcmSampler();
        // t = 999, scaled 9990: c_skip = 0.25 / (9990² + 0.25), c_out = 9990 / √(9990² + 0.25)
        double[] c = s.scalings(999);
        assertThat(c[0]).isCloseTo(0.25 / (9990.0 * 9990.0 + 0.25), within(1e-20));
        assertThat(c[1]).isCloseTo(9990.0 / Math.sqrt(9990.0 * 9990.0 + 0.25), within(1e-15));
        // with timestep_scaling 0.001 the skip term is large: s = 0.259 at t = 259
        double[] small = new LcmSampler(0.001).scalings(259);
        assertThat(small[0]).isCloseTo(0.25 / (0.259 * 0.259 + 0.25), within(1e-12));
        assertThatThrownBy(() -> new LcmSampler(0)).isInstanceOf(IllegalArgumentException.class);
    }

    /**
     * Three steps with a timestep scaling small enough that c_skip matters, compared with
     * diffusers' step written in the VP form: sample_VP = x·√ᾱ, denoised = c_out·x̂₀ +
     * c_skip·sample_VP, prev_VP = √ᾱ'·denoised + √(1 − ᾱ')·z, x' = prev_VP / √ᾱ'; the last
     * step returns denoised.
     */
    @Test
    void stepsMatchDiffusersStepInTheVpForm() {
        float[] sigmas = {14.6f, 3.2f, 0.7f, 0f};
        float[] timesteps = {999f, 759f, 259f};
        double scaling = 0.002;
        LcmSampler sampler = new LcmSampler(scaling);
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.create(new float[] {1f, -2f, 3f, 0.5f, -0.25f, 2f}, new Shape(2, 3))
                    .muli(sigmas[0]);
            SamplingContext ctx = SamplingContext.of(NoiseSource.seeded(5), StepListener.NONE)
                    .withTimesteps(sig -> timesteps[indexOf(sigmas, (float) sig)]);
            float[] out = sampler.sample(SHRINK, x, sigmas, ctx).toFloatArray();

            NoiseSource noise = NoiseSource.seeded(5);
            double[] cur = toDouble(x.toFloatArray());
            for (int i = 0; i < 3; i++) {
                double abar = 1 / (sigmas[i] * (double) sigmas[i] + 1);
                double s = timesteps[i] * scaling;
                double cSkip = 0.25 / (s * s + 0.25);
                double cOut = s / Math.sqrt(s * s + 0.25);
                double[] next = new double[cur.length];
                float[] z = i < 2 ? noise.randn(m, new Shape(2, 3)).toFloatArray() : null;
                double abarNext = i < 2 ? 1 / (sigmas[i + 1] * (double) sigmas[i + 1] + 1) : 1;
                for (int k = 0; k < cur.length; k++) {
                    double x0 = cur[k] * 0.5 + 0.1; // SHRINK on the σ-form sample
                    double sampleVp = cur[k] * Math.sqrt(abar);
                    double denoised = cOut * x0 + cSkip * sampleVp;
                    next[k] = i < 2 ? (Math.sqrt(abarNext) * denoised
                            + Math.sqrt(1 - abarNext) * z[k]) / Math.sqrt(abarNext) : denoised;
                }
                cur = next;
            }
            for (int k = 0; k < out.length; k++) {
                assertThat((double) out[k]).as("element " + k).isCloseTo(cur[k], within(1e-4));
            }
        }
    }

    @Test
    void reportsTheDenoisedSampleAndStopsWithIt() {
        float[] sigmas = {10f, 2f, 0f};
        List<float[]> denoised = new ArrayList<>();
        List<float[]> samples = new ArrayList<>();
        StepListener l = e -> {
            denoised.add(e.denoised().toFloatArray());
            samples.add(e.x().toFloatArray());
            return true;
        };
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(1, 4)).muli(10f);
            int before = m.getManagedArrays().size();
            NDArray out = new LcmSampler().sample(SHRINK, x, sigmas,
                    SamplingContext.of(NoiseSource.seeded(1), l).withTimesteps(s -> s > 5 ? 999
                            : 499));
            assertThat(out.toFloatArray()).containsExactly(denoised.get(1));
            assertThat(samples.get(1)).containsExactly(denoised.get(1));
            assertThat(samples.get(0)).isNotEqualTo(denoised.get(0)); // noised afresh
            assertThat(m.getManagedArrays().size()).isEqualTo(before + 1);
        }
    }

    @Test
    void withoutTimestepsTheErrorSaysWhatToPass() {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.ones(new Shape(2, 2));
            assertThatThrownBy(() -> new LcmSampler().sample(SHRINK, x, new float[] {2f, 0f},
                    SamplingContext.seeded(0)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("SamplingContext.withTimesteps");
        }
    }

    private static int indexOf(float[] values, float v) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] == v) {
                return i;
            }
        }
        throw new AssertionError("not a level of the run: " + v);
    }

    private static double[] toDouble(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }
}
