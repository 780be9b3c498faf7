package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffusion.api.NoiseSource;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.api.StepListener;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Reproduces diffusers' own scheduler full-loop tests (huggingface/diffusers, tests/schedulers/)
 * through {@link VpDenoiser} and the σ-space samplers. The dummy model and the deterministic
 * sample are those of {@code SchedulerCommonTest} in tests/schedulers/test_schedulers.py:
 * {@code model(sample, t) = sample * t / (t + 1)} and {@code arange(768).reshape(3, 8, 8, 4) /
 * 768} permuted to (4, 3, 8, 8). diffusers asserts |Σ|x| − expected| &lt; 1e-2 and |mean|x| −
 * expected| &lt; 1e-3; these tests use the same tolerances.
 */
class DiffusersReferenceTest {

    private static NDManager manager;

    @BeforeAll
    static void start() {
        manager = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        manager.close();
    }

    /** dummy_sample_deter of test_schedulers.py, shape (4, 3, 8, 8). */
    static float[] dummySampleDeter() {
        int b = 4;
        int c = 3;
        int h = 8;
        int w = 8;
        int n = b * c * h * w;
        float[] out = new float[n];
        for (int bi = 0; bi < b; bi++) {
            for (int ci = 0; ci < c; ci++) {
                for (int hi = 0; hi < h; hi++) {
                    for (int wi = 0; wi < w; wi++) {
                        // permute(3, 0, 1, 2) of arange reshaped to (c, h, w, b)
                        int src = ((ci * h + hi) * w + wi) * b + bi;
                        out[((bi * c + ci) * h + hi) * w + wi] = (float) src / n;
                    }
                }
            }
        }
        return out;
    }

    private static final VpModel DUMMY = (scaled, t) -> scaled.mul(t / (t + 1));

    /** Result of a loop: Σ|x| and mean |x| of the VP sample. */
    record Result(double sum, double mean) {}

    /**
     * Runs a sampler like diffusers' loop.
     *
     * @param initScale factor from the dummy sample to the first x (σ-space)
     * @param captureStep step index after which to read x (-1: final result)
     * @param vpScaleSigma σ of the captured sample, to convert it back to the VP sample
     */
    private static Result run(String sampler, DiffusersScheduler scheduler, float[] sigmas,
            float[] timesteps, double initScale, int captureStep, float vpScaleSigma, long seed) {
        try (NDManager m = manager.newSubManager()) {
            NDArray x = m.create(dummySampleDeter(), new Shape(4, 3, 8, 8)).mul((float) initScale);
            VpDenoiser d = VpDenoiser.of(DUMMY, scheduler).forRun(sigmas, timesteps);
            float[][] captured = new float[1][];
            StepListener l = e -> {
                if (e.stepIndex() == captureStep) {
                    captured[0] = e.x().toFloatArray();
                }
                return true;
            };
            Sampler s = Samplers.create(sampler);
            NDArray out = s.sample(d, x, sigmas,
                    SamplingContext.of(NoiseSource.seeded(seed), l));
            float[] v = captureStep < 0 ? out.toFloatArray() : captured[0];
            double scale = 1 / Math.sqrt((double) vpScaleSigma * vpScaleSigma + 1);
            double sum = 0;
            for (float f : v) {
                sum += Math.abs(f * scale);
            }
            return new Result(sum, sum / v.length);
        }
    }

    /**
     * The loops of test_scheduler_euler.py, _euler_ancestral.py, _heun.py and _lms.py assign
     * {@code sample = scheduler.scale_model_input(sample, t)} and then pass that scaled sample
     * to {@code step()} as x: before every step the state is multiplied by 1/√(σ² + 1) and the
     * network sees it without further scaling. This reproduces that arithmetic through the
     * samplers: a listener rescales each new sample in place for the next step, and the model
     * given to {@link VpDenoiser} undoes the adapter's c_in. For Heun, diffusers scales the
     * predictor sample x₂ again in its second stage, so every second denoiser call uses the
     * plain adapter.
     */
    private static Result runScaledLoop(String sampler, DiffusersScheduler sch, int steps,
            long seed) {
        float[] sigmas = sch.sigmas(steps);
        float[] ts = sch.timesteps(steps);
        java.util.Map<Float, Float> sigmaOfT = new java.util.HashMap<>();
        for (int i = 0; i < steps; i++) {
            sigmaOfT.put(ts[i], sigmas[i]);
        }
        VpModel unscaled = (z, t) -> {
            double sg = sigmaOfT.get(t);
            return DUMMY.predict(z.mul((float) Math.sqrt(sg * sg + 1)), t);
        };
        VpDenoiser quirk = VpDenoiser.of(unscaled, sch).forRun(sigmas, ts);
        VpDenoiser plain = VpDenoiser.of(DUMMY, sch).forRun(sigmas, ts);
        boolean heun = sampler.equals("heun");
        int[] calls = {0};
        dev.jdiffusion.api.Denoiser d = (x, sigma) ->
                heun && calls[0]++ % 2 == 1 ? plain.denoise(x, sigma) : quirk.denoise(x, sigma);
        StepListener rescale = e -> {
            float next = e.sigmaNext();
            e.x().muli((float) (1 / Math.sqrt((double) next * next + 1)));
            return true;
        };
        try (NDManager m = manager.newSubManager()) {
            double s0 = sigmas[0];
            // init_noise_sigma = σ_max for linspace spacing, then the first scale_model_input
            NDArray x = m.create(dummySampleDeter(), new Shape(4, 3, 8, 8))
                    .mul((float) (s0 / Math.sqrt(s0 * s0 + 1)));
            NDArray out = Samplers.create(sampler).sample(d, x, sigmas,
                    SamplingContext.of(NoiseSource.seeded(seed), rescale));
            double sum = 0;
            for (float f : out.toFloatArray()) {
                sum += Math.abs(f);
            }
            return new Result(sum, sum / out.getShape().size());
        }
    }

    private static Result runFull(String sampler, DiffusersScheduler sch, int steps,
            double initScale) {
        return run(sampler, sch, sch.sigmas(steps), sch.timesteps(steps), initScale, -1, 0f, 0);
    }

    private static void expect(Result r, double sum, double mean) {
        assertThat(r.sum()).as("result_sum").isCloseTo(sum, within(1e-2));
        assertThat(r.mean()).as("result_mean").isCloseTo(mean, within(1e-3));
    }

    private static SchedulerConfig.Builder kdiffusionStyle(String cls) {
        // get_scheduler_config of test_scheduler_euler.py / _heun.py / _lms.py / _euler_ancestral.py
        return SchedulerConfig.builder().className(cls).numTrainTimesteps(1100)
                .betas("linear", 0.0001, 0.02);
    }

    private static DiffusersScheduler sch(SchedulerConfig.Builder b) {
        return DiffusersScheduler.of(b.build());
    }

    // init_noise_sigma is max σ for linspace spacing: the first σ of the run
    private static double initSigma(DiffusersScheduler s, int steps) {
        return s.sigmas(steps)[0];
    }

    @Test
    void eulerMatchesTestSchedulerEuler() {
        // test_scheduler_euler.py: test_full_loop_no_noise (10.0807, 0.0131),
        // test_full_loop_with_v_prediction (0.0002, 2.2676e-06),
        // test_full_loop_device_karras_sigmas (124.52299499511719, 0.16213932633399963)
        DiffusersScheduler s = sch(kdiffusionStyle("EulerDiscreteScheduler"));
        expect(runScaledLoop("euler", s, 10, 0), 10.0807, 0.0131);
        DiffusersScheduler v = sch(kdiffusionStyle("EulerDiscreteScheduler")
                .predictionType(PredictionType.V_PREDICTION));
        expect(runScaledLoop("euler", v, 10, 0), 0.0002, 2.2676e-06);
        DiffusersScheduler k = s.withSpacing("karras");
        expect(runScaledLoop("euler", k, 10, 0), 124.52299499511719,
                0.16213932633399963);
    }

    @Test
    void heunMatchesTestSchedulerHeun() {
        // test_scheduler_heun.py: test_full_loop_no_noise (0.1233, 0.0002),
        // test_full_loop_with_v_prediction (4.6934e-07, 6.1112e-10),
        // test_full_loop_device_karras_sigmas (0.00015, 1.9869554535034695e-07)
        DiffusersScheduler s = sch(kdiffusionStyle("HeunDiscreteScheduler"));
        expect(runScaledLoop("heun", s, 10, 0), 0.1233, 0.0002);
        DiffusersScheduler v = sch(kdiffusionStyle("HeunDiscreteScheduler")
                .predictionType(PredictionType.V_PREDICTION));
        expect(runScaledLoop("heun", v, 10, 0), 4.6934e-07, 6.1112e-10);
        DiffusersScheduler k = s.withSpacing("karras");
        expect(runScaledLoop("heun", k, 10, 0), 0.00015, 1.9869554535034695e-07);
    }

    @Test
    void lmsMatchesTestSchedulerLms() {
        // test_scheduler_lms.py: test_full_loop_no_noise (1006.388, 1.31),
        // test_full_loop_with_v_prediction (0.0017, 2.2676e-06),
        // test_full_loop_device_karras_sigmas (3812.9927 within 2e-2, 4.9648)
        DiffusersScheduler s = sch(kdiffusionStyle("LMSDiscreteScheduler"));
        expect(runScaledLoop("lms", s, 10, 0), 1006.388, 1.31);
        DiffusersScheduler v = sch(kdiffusionStyle("LMSDiscreteScheduler")
                .predictionType(PredictionType.V_PREDICTION));
        expect(runScaledLoop("lms", v, 10, 0), 0.0017, 2.2676e-06);
        DiffusersScheduler k = s.withSpacing("karras");
        Result r = runScaledLoop("lms", k, 10, 0);
        assertThat(r.sum()).isCloseTo(3812.9927, within(2e-2));
        assertThat(r.mean()).isCloseTo(4.9648, within(1e-3));
    }

    @Test
    void eulerAncestralMatchesTestSchedulerEulerAncestral() {
        // test_scheduler_euler_ancestral.py: test_full_loop_no_noise (152.3192, 0.1983), with
        // generator torch.manual_seed(0): our NoiseSource.seeded(0) draws the same values
        DiffusersScheduler s = sch(kdiffusionStyle("EulerAncestralDiscreteScheduler"));
        expect(runScaledLoop("euler_a", s, 10, 0), 152.3192, 0.1983);
    }

    private static SchedulerConfig.Builder ddimConfig() {
        // get_scheduler_config of test_scheduler_ddim.py
        return SchedulerConfig.builder().className("DDIMScheduler").numTrainTimesteps(1000)
                .betas("linear", 0.0001, 0.02).clipSample(true, 1.0)
                .timestepSpacing(TimestepSpacing.LEADING);
    }

    /** diffusers' DDIM loop starts from the VP sample: x = sample·√(σ₀² + 1). */
    private static double vpInit(DiffusersScheduler s, int steps) {
        double s0 = s.sigmas(steps)[0];
        return Math.sqrt(s0 * s0 + 1);
    }

    @Test
    void ddimMatchesTestSchedulerDdim() {
        // test_scheduler_ddim.py: test_full_loop_no_noise (172.0067, 0.223967),
        // test_full_loop_with_v_prediction (52.5302, 0.0684),
        // test_full_loop_with_set_alpha_to_one (149.8295, 0.1951)
        DiffusersScheduler s = sch(ddimConfig());
        assertThat(s.timesteps(10)).containsExactly(900, 800, 700, 600, 500, 400, 300, 200,
                100, 0);
        expect(runFull("ddim", s, 10, vpInit(s, 10)), 172.0067, 0.223967);
        DiffusersScheduler v = sch(ddimConfig().predictionType(PredictionType.V_PREDICTION));
        expect(runFull("ddim", v, 10, vpInit(v, 10)), 52.5302, 0.0684);
        DiffusersScheduler a = sch(ddimConfig().betas("linear", 0.01, 0.02).setAlphaToOne(true));
        expect(runFull("ddim", a, 10, vpInit(a, 10)), 149.8295, 0.1951);
    }

    @Test
    void ddimWithoutAlphaToOneStopsAtFinalSigma() {
        // test_scheduler_ddim.py: test_full_loop_with_no_set_alpha_to_one (149.0784, 0.1941).
        // diffusers' last step goes from t = 0 to ᾱ₀ (σ₀ → σ₀, a no-op), so its result is the
        // sample at σ₀ = finalSigma(), reached after step 8 of our run.
        DiffusersScheduler a = sch(ddimConfig().betas("linear", 0.01, 0.02).setAlphaToOne(false));
        float[] sigmas = a.sigmas(10);
        assertThat(a.finalSigma()).isEqualTo(sigmas[9]).isEqualTo(a.sigmaMin());
        Result r = run("ddim", a, sigmas, a.timesteps(10), vpInit(a, 10), 8, a.finalSigma(), 0);
        expect(r, 149.0784, 0.1941);
    }

    private static SchedulerConfig.Builder dpmConfig() {
        // get_scheduler_config of test_scheduler_dpm_multi.py (dpmsolver++, order 2, midpoint,
        // lower_order_final False, final_sigmas_type sigma_min)
        return SchedulerConfig.builder().className("DPMSolverMultistepScheduler")
                .numTrainTimesteps(1000).betas("linear", 0.0001, 0.02)
                .finalSigmasType("sigma_min");
    }

    /**
     * diffusers' loop ends at σ_min with a second-order step; our schedule continues to 0, so the
     * result is read after the step that reaches σ_min.
     */
    private static Result runDpmToSigmaMin(DiffusersScheduler s, int steps) {
        float[] base = s.sigmas(steps);
        float[] ts = s.timesteps(steps);
        float sigmaMin = s.finalSigma();
        if (base[steps - 1] == sigmaMin) {
            // Karras σ already end at σ_min: diffusers' extra σ_min → σ_min step is a no-op
            return run("dpmpp_2m", s, base, ts, vpInit(s, steps), steps - 2, sigmaMin, 0);
        }
        float[] sigmas = new float[steps + 2];
        System.arraycopy(base, 0, sigmas, 0, steps);
        sigmas[steps] = sigmaMin;
        float[] ts1 = java.util.Arrays.copyOf(ts, steps + 1); // t = 0 at σ_min
        return run("dpmpp_2m", s, sigmas, ts1, vpInit(s, steps), steps - 1, sigmaMin, 0);
    }

    @Test
    void dpmpp2mMatchesTestSchedulerDpmMulti() {
        // test_scheduler_dpm_multi.py: test_full_loop_no_noise (mean 0.3301),
        // test_full_loop_with_v_prediction (mean 0.2251),
        // test_full_loop_with_karras_and_v_prediction (mean 0.2096)
        DiffusersScheduler s = sch(dpmConfig());
        assertThat(s.timesteps(10)).containsExactly(999, 899, 799, 699, 599, 500, 400, 300, 200,
                100);
        assertThat(runDpmToSigmaMin(s, 10).mean()).isCloseTo(0.3301, within(1e-3));
        DiffusersScheduler v = sch(dpmConfig().predictionType(PredictionType.V_PREDICTION));
        assertThat(runDpmToSigmaMin(v, 10).mean()).isCloseTo(0.2251, within(1e-3));
        DiffusersScheduler kv = v.withSpacing("karras");
        assertThat(runDpmToSigmaMin(kv, 10).mean()).isCloseTo(0.2096, within(1e-3));
    }

    @Test
    void ddpmMatchesTestSchedulerDdpm() {
        // test_scheduler_ddpm.py: test_full_loop_no_noise (258.9606, 0.3372): all 1000
        // timesteps, fixed_small variance, clip_sample, generator torch.manual_seed(0)
        DiffusersScheduler s = sch(SchedulerConfig.builder().className("DDPMScheduler")
                .numTrainTimesteps(1000).betas("linear", 0.0001, 0.02).clipSample(true, 1.0)
                .timestepSpacing(TimestepSpacing.LEADING));
        expect(runFull("ddpm", s, 1000, vpInit(s, 1000)), 258.9606, 0.3372);
    }
}
