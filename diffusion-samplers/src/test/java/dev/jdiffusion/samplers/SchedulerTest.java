package dev.jdiffusion.samplers;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.jdiffusion.api.ModelLoadException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Timestep and σ tables, spacing options and reading diffusers configs. No engine needed. */
class SchedulerTest {

    /** scheduler/scheduler_config.json of Stable Diffusion 1.5 (runwayml/stable-diffusion-v1-5). */
    static final String SD15_JSON = "{\n"
            + "  \"_class_name\": \"PNDMScheduler\",\n"
            + "  \"_diffusers_version\": \"0.6.0\",\n"
            + "  \"beta_end\": 0.012,\n"
            + "  \"beta_schedule\": \"scaled_linear\",\n"
            + "  \"beta_start\": 0.00085,\n"
            + "  \"num_train_timesteps\": 1000,\n"
            + "  \"set_alpha_to_one\": false,\n"
            + "  \"skip_prk_steps\": true,\n"
            + "  \"steps_offset\": 1,\n"
            + "  \"trained_betas\": null,\n"
            + "  \"clip_sample\": false\n"
            + "}\n";

    @Test
    void sd15SigmaRange() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        assertThat(s.numTrainTimesteps()).isEqualTo(1000);
        assertThat(s.predictionType()).isEqualTo(PredictionType.EPSILON);
        // widely quoted values for SD 1.x: σ_max 14.6146, σ_min 0.0292
        assertThat((double) s.sigmaMax()).isCloseTo(14.6146, within(1e-3));
        assertThat((double) s.sigmaMin()).isCloseTo(0.0292, within(1e-4));
        // σ_min by hand: ᾱ₀ = 1 − 0.00085, σ = √(0.00085 / 0.99915) = 0.029167
        assertThat((double) s.sigmaMin()).isCloseTo(0.029167, within(2e-6));
        assertThat(s.finalSigma()).isEqualTo(s.sigmaMin()); // set_alpha_to_one false
    }

    @Test
    void sd15LeadingTimesteps() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        float[] ts = s.timesteps(50);
        // leading: step_ratio = 1000 // 50 = 20; arange(50) * 20 reversed + steps_offset 1
        assertThat(ts).hasSize(50);
        for (int i = 0; i < 50; i++) {
            assertThat(ts[i]).isEqualTo(981 - 20 * i);
        }
        float[] sig = s.sigmas(50);
        assertThat(sig).hasSize(51);
        assertThat(sig[50]).isZero();
        assertThat(sig[0]).isEqualTo(s.sigmaOf(981));
        assertThat(sig[49]).isEqualTo(s.sigmaOf(1));
        for (int i = 1; i < 51; i++) {
            assertThat(sig[i]).isLessThan(sig[i - 1]);
        }
    }

    @Test
    void sd15TrailingAndLinspaceTimesteps() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        // trailing: np.arange(1000, 0, -20.0).round() - 1 = 999, 979, ..., 19
        float[] tr = s.withSpacing("trailing").timesteps(50);
        assertThat(tr[0]).isEqualTo(999);
        assertThat(tr[1]).isEqualTo(979);
        assertThat(tr[49]).isEqualTo(19);
        // trailing with 3 steps: arange(1000, 0, -333.33) = 1000, 666.67, 333.33 → round − 1
        assertThat(s.withSpacing("trailing").timesteps(3)).containsExactly(999, 666, 332);
        // linspace (PNDM rounds like DDIM): np.linspace(0, 999, 50).round()[::-1];
        // step 999/49 = 20.387755: 48·step = 978.61 → 979, 47·step = 958.22 → 958, 1·step → 20
        float[] ls = s.withSpacing("linspace").timesteps(50);
        assertThat(ls[0]).isEqualTo(999);
        assertThat(ls[1]).isEqualTo(979);
        assertThat(ls[2]).isEqualTo(958);
        assertThat(ls[48]).isEqualTo(20);
        assertThat(ls[49]).isEqualTo(0);
        // Euler-style classes keep fractional linspace timesteps (np.linspace(..., float32))
        DiffusersScheduler euler = DiffusersScheduler.of(s.config().toBuilder()
                .className("EulerDiscreteScheduler").timestepSpacing(TimestepSpacing.LINSPACE)
                .build());
        assertThat((double) euler.timesteps(50)[1]).isCloseTo(978.6122, within(1e-3));
        // DPM-Solver family, leading: step_ratio = 1000 // 51 = 19; 50·19 + 1 = 951, ..., 20
        DiffusersScheduler dpm = DiffusersScheduler.of(s.config().toBuilder()
                .className("DPMSolverMultistepScheduler").build());
        float[] dts = dpm.timesteps(50);
        assertThat(dts[0]).isEqualTo(951);
        assertThat(dts[49]).isEqualTo(20);
    }

    @Test
    void karrasAndExponentialSpacing() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        float[] lead = s.sigmas(20);
        float[] k = s.withSpacing("karras").sigmas(20);
        assertThat(k).hasSize(21);
        assertThat(k[20]).isZero();
        // Euler-style: bounds are the first and last σ of the spaced schedule
        assertThat((double) k[0]).isCloseTo(lead[0], within(1e-5));
        assertThat((double) k[19]).isCloseTo(lead[19], within(1e-6));
        // σ^(1/7) evenly spaced
        double d0 = Math.pow(k[1], 1 / 7.0) - Math.pow(k[0], 1 / 7.0);
        for (int i = 1; i < 19; i++) {
            double di = Math.pow(k[i + 1], 1 / 7.0) - Math.pow(k[i], 1 / 7.0);
            assertThat(di).isCloseTo(d0, within(1e-5));
        }
        float[] e = s.withSpacing("exponential").sigmas(20);
        double r0 = Math.log(e[1] / e[0]);
        for (int i = 1; i < 19; i++) {
            assertThat(Math.log(e[i + 1] / e[i])).isCloseTo(r0, within(1e-5));
        }
        // timesteps of Karras σ are fractional and map back to the same σ
        float[] kt = s.withSpacing("karras").timesteps(20);
        for (int i = 0; i < 20; i++) {
            assertThat((double) s.timestepOf(k[i])).isCloseTo(kt[i], within(1e-3));
        }
        // leading again turns σ spacing off
        assertThat(s.withSpacing("karras").withSpacing("leading").sigmas(20)).containsExactly(lead);
        assertThatThrownBy(() -> s.withSpacing("cosine"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("karras");
    }

    @Test
    void sigmaTimestepConversion() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        for (int t : new int[] {0, 1, 250, 500, 998, 999}) {
            assertThat((double) s.timestepOf(s.sigmaOf(t))).isCloseTo(t, within(1e-3));
        }
        // log-σ interpolation: halfway in log σ between t = 500 and 501 is t = 500.5
        double mid = Math.sqrt((double) s.sigmaOf(500) * s.sigmaOf(501));
        assertThat((double) s.timestepOf((float) mid)).isCloseTo(500.5, within(1e-3));
        assertThat(s.timestepOf(1e-6f)).isZero();
        assertThat(s.timestepOf(1e6f)).isEqualTo(999f);
    }

    @Test
    void zeroTerminalSnr() {
        DiffusersScheduler s = DiffusersScheduler.of(Schedulers.stableDiffusion15().config()
                .toBuilder().rescaleBetasZeroSnr(true).timestepSpacing(TimestepSpacing.TRAILING)
                .build());
        assertThat(s.noiseSchedule().alphaCumprod(999)).isZero();
        // diffusers replaces ᾱ_T = 0 by 2^-24: σ = √((1 − 2^-24)/2^-24) ≈ 4096
        assertThat((double) s.sigmas(10)[0]).isCloseTo(4096, within(0.01));
        // ᾱ₀ unchanged by the rescale
        assertThat(s.noiseSchedule().alphaCumprod(0)).isCloseTo(1 - 0.00085, within(1e-12));
    }

    @Test
    void tooManyStepsRejected() {
        DiffusersScheduler s = Schedulers.stableDiffusion15();
        assertThatThrownBy(() -> s.sigmas(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> s.sigmas(1001)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("steps");
    }

    @Test
    void readsSd15Config(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("scheduler_config.json");
        Files.writeString(f, SD15_JSON);
        DiffusersScheduler s = Schedulers.fromDiffusersConfig(f);
        assertThat(s.config()).isEqualTo(Schedulers.stableDiffusion15().config());
        assertThat(s.timesteps(50)[0]).isEqualTo(981);
    }

    @Test
    void unknownFieldsIgnoredAndClassDefaultsApplied() {
        DiffusersScheduler s = Schedulers.fromDiffusersConfig("{\"_class_name\":"
                + "\"DPMSolverMultistepScheduler\", \"solver_order\": 2, \"algorithm_type\":"
                + "\"dpmsolver++\", \"made_up_field\": [1, 2], \"use_karras_sigmas\": true,"
                + "\"prediction_type\": \"v_prediction\"}");
        assertThat(s.config().useKarrasSigmas()).isTrue();
        assertThat(s.predictionType()).isEqualTo(PredictionType.V_PREDICTION);
        assertThat(s.config().timestepSpacing()).isEqualTo(TimestepSpacing.LINSPACE);
        DiffusersScheduler ddim = Schedulers.fromDiffusersConfig("{\"_class_name\":"
                + "\"DDIMScheduler\"}");
        assertThat(ddim.config().timestepSpacing()).isEqualTo(TimestepSpacing.LEADING);
        assertThat(ddim.config().clipSample()).isTrue();
    }

    @Test
    void invalidValuesRejected() {
        String[][] bad = {
            {"{\"beta_schedule\": \"cubic\"}", "beta_schedule"},
            {"{\"num_train_timesteps\": \"many\"}", "num_train_timesteps"},
            {"{\"num_train_timesteps\": 1}", "num_train_timesteps"},
            {"{\"timestep_spacing\": \"middle\"}", "timestep_spacing"},
            {"{\"prediction_type\": \"noise\"}", "prediction_type"},
            {"{\"steps_offset\": -1}", "steps_offset"},
            {"{\"beta_start\": 0.5, \"beta_end\": 0.1}", "beta_start"},
            {"{\"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2]}", "trained_betas"},
            {"{\"use_karras_sigmas\": true, \"use_exponential_sigmas\": true}", "both"},
            {"{\"clip_sample\": \"yes\"}", "clip_sample"},
            {"{\"final_sigmas_type\": \"one\"}", "final_sigmas_type"},
            {"[1, 2]", "object"},
            {"{not json", "JSON"},
        };
        for (String[] b : bad) {
            assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(b[0])).as(b[0])
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(b[1]);
        }
    }

    @Test
    void trainedBetasUsed() {
        DiffusersScheduler s = Schedulers.fromDiffusersConfig("{\"num_train_timesteps\": 3,"
                + "\"trained_betas\": [0.1, 0.2, 0.5]}");
        // ᾱ = 0.9, 0.72, 0.36 → σ₂ = √(0.64/0.36) = 4/3
        assertThat((double) s.sigmaMax()).isCloseTo(4.0 / 3, within(1e-6));
    }

    @Test
    void unreadableFilesAreModelLoadErrors(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(dir.resolve("missing.json")))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("missing.json");
        Path broken = dir.resolve("broken.json");
        Files.writeString(broken, "{\"beta_start\": ");
        assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(broken))
                .isInstanceOf(ModelLoadException.class).hasMessageContaining("broken.json");
        Path invalid = dir.resolve("invalid.json");
        Files.writeString(invalid, "{\"beta_schedule\": \"cubic\"}");
        assertThatThrownBy(() -> Schedulers.fromDiffusersConfig(invalid))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("invalid.json").hasMessageContaining("cubic");
    }
}
