package dev.jdiffusion.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.Scheduler;
import java.util.Arrays;
import java.util.Objects;

/**
 * Turns a {@link VpModel} into a {@link Denoiser} D(x, σ) → x₀, so that samplers work in σ space
 * and never see prediction types or timesteps:
 *
 * <ul>
 *   <li>input scaling c<sub>in</sub> = 1/√(σ² + 1) (the VP sample);
 *   <li>timestep t = {@link Scheduler#timestepOf}(σ), or the exact timestep of the run where σ is
 *       one of the run's noise levels ({@link #forRun});
 *   <li>ε prediction: x₀ = x − σ·ε; v prediction: x₀ = x/(σ² + 1) − σ/√(σ² + 1)·v; sample
 *       prediction: x₀ = the output;
 *   <li>optionally x₀ clipped to ±range (diffusers' {@code clip_sample}).
 * </ul>
 *
 * <p>Intermediate arrays are left to the caller's {@code NDScope} or sub-manager (every built-in
 * sampler runs each step in one). Immutable and thread-safe if the model is.
 */
public final class VpDenoiser implements Denoiser {

    private final VpModel model;
    private final Scheduler scheduler;
    private final PredictionType predictionType;
    private final float clipRange;
    /** σ values of a run, sorted ascending, and their timesteps; empty if not pinned. */
    private final float[] runSigmas;
    private final float[] runTimesteps;

    private VpDenoiser(VpModel model, Scheduler scheduler, PredictionType predictionType,
            float clipRange, float[] runSigmas, float[] runTimesteps) {
        this.model = Objects.requireNonNull(model, "model");
        this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
        this.predictionType = Objects.requireNonNull(predictionType, "predictionType");
        this.clipRange = clipRange;
        this.runSigmas = runSigmas;
        this.runTimesteps = runTimesteps;
    }

    /**
     * An adapter with the prediction type and clipping of a scheduler's configuration.
     *
     * @param model the network
     * @param scheduler the schedule the network was trained with
     * @return the denoiser
     */
    public static VpDenoiser of(VpModel model, DiffusersScheduler scheduler) {
        SchedulerConfig c = scheduler.config();
        return of(model, scheduler, c.predictionType(),
                c.clipSample() ? c.clipSampleRange() : Double.NaN);
    }

    /**
     * An adapter with explicit settings.
     *
     * @param model the network
     * @param scheduler converts σ to the network's timestep
     * @param predictionType what the network predicts
     * @param clipRange clip x₀ to ±clipRange, or NaN for no clipping
     * @return the denoiser
     * @throws IllegalArgumentException if {@code clipRange} is not NaN and not positive
     */
    public static VpDenoiser of(VpModel model, Scheduler scheduler,
            PredictionType predictionType, double clipRange) {
        if (!Double.isNaN(clipRange) && !(clipRange > 0)) {
            throw new IllegalArgumentException("clipRange must be > 0 or NaN (got " + clipRange
                    + ")");
        }
        return new VpDenoiser(model, scheduler, predictionType, (float) clipRange, new float[0],
                new float[0]);
    }

    /**
     * A copy that passes the network the exact timesteps of a run, as diffusers does, for the
     * noise levels of that run (for example fractional {@code linspace} timesteps, or rounded
     * DPM-Solver Karras timesteps); other σ still go through {@link Scheduler#timestepOf}.
     *
     * @param sigmas noise levels of the run (a trailing 0 is ignored)
     * @param timesteps the timestep of each non-zero noise level
     * @return the pinned denoiser
     * @throws IllegalArgumentException if there are fewer timesteps than non-zero noise levels
     */
    public VpDenoiser forRun(float[] sigmas, float[] timesteps) {
        int n = 0;
        for (float s : sigmas) {
            if (s > 0) {
                n++;
            }
        }
        if (timesteps.length < n) {
            throw new IllegalArgumentException("need a timestep for each of the " + n
                    + " non-zero noise levels (got " + timesteps.length + ")");
        }
        Integer[] order = new Integer[n];
        float[] s = new float[n];
        int k = 0;
        for (float v : sigmas) {
            if (v > 0) {
                s[k] = v;
                order[k] = k;
                k++;
            }
        }
        Arrays.sort(order, (a, b) -> Float.compare(s[a], s[b]));
        float[] rs = new float[n];
        float[] rt = new float[n];
        for (int i = 0; i < n; i++) {
            rs[i] = s[order[i]];
            rt[i] = timesteps[order[i]];
        }
        return new VpDenoiser(model, scheduler, predictionType, clipRange, rs, rt);
    }

    /**
     * A copy pinned to the run of {@code steps} steps of a scheduler ({@link #forRun(float[],
     * float[])} with its sigmas and timesteps).
     *
     * @param diffusers the scheduler
     * @param steps the number of steps
     * @return the pinned denoiser
     */
    public VpDenoiser forRun(DiffusersScheduler diffusers, int steps) {
        return forRun(diffusers.sigmas(steps), diffusers.timesteps(steps));
    }

    /**
     * The training timestep the network gets for a noise level.
     *
     * @param sigma the noise level
     * @return the timestep
     */
    public float timestepFor(float sigma) {
        int i = Arrays.binarySearch(runSigmas, sigma);
        return i >= 0 ? runTimesteps[i] : scheduler.timestepOf(sigma);
    }

    @Override
    public NDArray denoise(NDArray x, float sigma) {
        double s2 = (double) sigma * sigma;
        float cIn = (float) (1 / Math.sqrt(s2 + 1));
        NDArray scaled = x.mul(cIn); // VP sample
        NDArray out = model.predict(scaled, timestepFor(sigma));
        NDArray x0;
        switch (predictionType) {
            case EPSILON:
                x0 = x.sub(out.mul(sigma));
                break;
            case V_PREDICTION:
                x0 = x.mul((float) (1 / (s2 + 1))).subi(out.mul(sigma * cIn));
                break;
            case SAMPLE:
            default:
                x0 = out;
                break;
        }
        if (!Float.isNaN(clipRange)) {
            x0 = x0.clip(-clipRange, clipRange);
        }
        return x0;
    }
}
