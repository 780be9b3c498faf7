package dev.jdiffusion.djl.toy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.Denoiser;
import dev.jdiffusion.api.NoiseSource;
import dev.jdiffusion.api.Sampler;
import dev.jdiffusion.api.SamplingContext;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.train.DiffusionTrainer;
import dev.jdiffusion.djl.train.TrainingConfig;
import dev.jdiffusion.djl.train.TrainingListener;
import dev.jdiffusion.djl.train.TrainingProgress;
import dev.jdiffusion.samplers.DiffusersScheduler;
import dev.jdiffusion.samplers.NoiseSchedule;
import dev.jdiffusion.samplers.PredictionType;
import dev.jdiffusion.samplers.SchedulerConfig;
import dev.jdiffusion.samplers.SigmaSchedules;
import dev.jdiffusion.samplers.VpDenoiser;
import dev.jdiffusion.samplers.VpModel;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A trained 2-D diffusion model: an {@link MlpDenoiser} holding the EMA weights of a {@link
 * DiffusionTrainer} run on {@link Points2d}, ready to sample with any {@link Sampler} (for
 * example {@code Samplers.create("euler")}). The network is adapted to D(x, σ) by the samplers
 * module's {@link VpDenoiser} on a {@link DiffusersScheduler} of the training schedule.
 *
 * <p>Sampling is thread-safe (each call works in its own sub-manager); {@link #close()} releases
 * the weights.
 */
public final class Toy2dModel implements AutoCloseable {

    /** ρ of the Karras et al. noise-level spacing used for sampling. */
    private static final double KARRAS_RHO = 7;

    /** Hidden width of the toy MLP. */
    static final int HIDDEN = 128;

    /** Residual blocks of the toy MLP. */
    static final int DEPTH = 3;

    private final NDManager manager;
    private final MlpDenoiser block;
    private final ParameterStore parameterStore;
    private final TrainingConfig config;
    private final DiffusersScheduler scheduler;
    private final TrainingProgress lastProgress;

    private Toy2dModel(NDManager manager, MlpDenoiser block, TrainingConfig config,
            TrainingProgress lastProgress) {
        this.manager = manager;
        this.block = block;
        this.parameterStore = new ParameterStore(manager, false);
        this.config = config;
        this.scheduler = scheduler(config.schedule(), config.predictionType());
        this.lastProgress = lastProgress;
    }

    /** The points and denoising trajectories of one sampling run. */
    public static final class Sample {
        private final String sampler;
        private final float[] xy;
        private final float[][] trajectories;

        Sample(String sampler, float[] xy, float[][] trajectories) {
            this.sampler = sampler;
            this.xy = xy;
            this.trajectories = trajectories;
        }

        /**
         * The name of the sampler that produced the points.
         *
         * @return the sampler's registry name
         */
        public String sampler() {
            return sampler;
        }

        /**
         * The generated points.
         *
         * @return a copy, x₀, y₀, x₁, y₁, …
         */
        public float[] xy() {
            return xy.clone();
        }

        /**
         * The paths of the first tracked points from noise to data, each position scaled by
         * 1/√(σ²+1) (the variance-preserving view), so a path starts at unit-variance noise and
         * ends at its generated point.
         *
         * @return one array per tracked point, (x, y) at the start and after every step: 2·(steps
         *     + 1) values; copies
         */
        public float[][] trajectories() {
            float[][] out = new float[trajectories.length][];
            for (int i = 0; i < out.length; i++) {
                out[i] = trajectories[i].clone();
            }
            return out;
        }
    }

    /**
     * The configuration {@link #train} uses by default for the toy data: linear β 1e-4→0.02 over
     * 1000 timesteps, ε-prediction, batch 512, learning rate 3e-3 with 100 warm-up steps and
     * cosine decay to 3e-5, no weight decay, clipping at norm 1, EMA 0.995, min-SNR-5
     * weighting, and condition dropout 0.2 for conditional models.
     *
     * @param steps the number of training steps
     * @param seed the seed
     * @param conditional whether the model is class-conditional
     * @return the configuration
     */
    public static TrainingConfig defaultConfig(int steps, long seed, boolean conditional) {
        return TrainingConfig.builder()
                .optSchedule(NoiseSchedule.linear(1000, 1e-4, 0.02))
                .optPredictionType(PredictionType.EPSILON)
                .optSteps(steps)
                .optBatchSize(512)
                .optLearningRate(3e-3, 3e-5)
                .optWarmupSteps(100)
                .optWeightDecay(0)
                .optGradClipNorm(1.0)
                .optEmaDecay(0.995)
                .optMinSnrGamma(5)
                .optConditionDropout(conditional ? 0.2 : 0)
                .optSeed(seed)
                .optLogEvery(500)
                .build();
    }

    /**
     * Trains a toy model.
     *
     * @param data the training points
     * @param conditional whether to condition on the points' class labels
     * @param config the training configuration
     * @param listener receives progress after every step
     * @return the model with the run's EMA weights
     * @throws IllegalArgumentException if {@code conditional} but the points have no labels
     */
    public static Toy2dModel train(Points2d data, boolean conditional, TrainingConfig config,
            TrainingListener listener) {
        return train(data, conditional, config, listener, HIDDEN, DEPTH);
    }

    static Toy2dModel train(Points2d data, boolean conditional, TrainingConfig config,
            TrainingListener listener, int hidden, int depth) {
        int classes = conditional ? data.numClasses() : 0;
        MlpDenoiser trained = new MlpDenoiser(2, hidden, depth, classes);
        NDManager manager = NDManager.newBaseManager();
        try {
            MlpDenoiser ema = new MlpDenoiser(2, hidden, depth, classes);
            ema.initialize(manager, DataType.FLOAT32, ema.inputShapes(1));
            TrainingProgress last;
            try (DiffusionTrainer trainer = DiffusionTrainer.builder().setModel(trained)
                    .setData(data.toTrainingData(conditional)).setConfig(config)
                    .optListener(listener).optManager(manager).build()) {
                last = trainer.train();
                trainer.copyEmaInto(ema);
            }
            return new Toy2dModel(manager, ema, config, last);
        } catch (IOException e) {
            manager.close();
            throw new UncheckedIOException(e); // no checkpoint folder is set: not expected
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * The network with the EMA weights.
     *
     * @return the block (owned by this model)
     */
    public MlpDenoiser block() {
        return block;
    }

    /**
     * The training configuration.
     *
     * @return the configuration the model was trained with
     */
    public TrainingConfig config() {
        return config;
    }

    /**
     * The progress of the last training step.
     *
     * @return the last progress event
     */
    public TrainingProgress lastProgress() {
        return lastProgress;
    }

    /**
     * The noise levels of a sampling run: Karras et al.'s spacing (ρ = 7) between the training
     * schedule's smallest and largest σ, then 0.
     *
     * @param steps the number of sampler steps, ≥ 1
     * @return {@code steps + 1} descending values ending with 0
     */
    public float[] sigmas(int steps) {
        return karrasSigmas(config.schedule(), steps);
    }

    static float[] karrasSigmas(NoiseSchedule schedule, int steps) {
        double[] s = schedule.sigmas();
        return SigmaSchedules.karras(steps, s[0], s[s.length - 1], KARRAS_RHO);
    }

    /**
     * The scheduler that maps a noise level back to the training timestep the network was
     * trained at (log σ interpolated on the training schedule), with the prediction type the
     * network was trained for.
     */
    static DiffusersScheduler scheduler(NoiseSchedule schedule, PredictionType predictionType) {
        return DiffusersScheduler.of(SchedulerConfig.builder()
                .numTrainTimesteps(schedule.size())
                .trainedBetas(schedule.betas())
                .predictionType(predictionType)
                .build());
    }

    /**
     * Adapts a toy network to D(x, σ): the network gets the VP-scaled points, a batch of the
     * timestep and, for a conditional model, the labels; with labels and a guidance scale other
     * than 1 it also runs on the null labels and mixes out = out_u + g·(out_c − out_u) before
     * the prediction is turned into x₀.
     */
    static Denoiser denoiser(Block block, ParameterStore parameterStore,
            DiffusersScheduler scheduler, NDArray labels, NDArray nullLabels, float guidance) {
        VpModel net = (scaled, t) -> {
            NDArray ts = scaled.getManager().full(new Shape(scaled.getShape().get(0)), t);
            NDArray out = forward(block, parameterStore, scaled, ts, labels);
            if (labels != null && guidance != 1f) {
                NDArray uncond = forward(block, parameterStore, scaled, ts, nullLabels);
                out = uncond.add(out.sub(uncond).mul(guidance));
            }
            return out;
        };
        return VpDenoiser.of(net, scheduler);
    }

    private static NDArray forward(Block block, ParameterStore parameterStore, NDArray x,
            NDArray t, NDArray labels) {
        NDList in = labels == null ? new NDList(x, t) : new NDList(x, t, labels);
        try (GradMode g = GradMode.disabled()) {
            return block.forward(parameterStore, in, false).singletonOrThrow();
        }
    }

    /**
     * Generates points.
     *
     * @param sampler the sampler
     * @param n the number of points
     * @param steps the number of sampler steps
     * @param seed the seed of the starting noise (and of any noise the sampler draws)
     * @param labels one class per point for a conditional model, or {@code null} for
     *     unconditional samples (the null class)
     * @param guidanceScale the classifier-free guidance scale (1 = plain conditional)
     * @param tracked how many of the first points to record trajectories for
     * @return the points and trajectories
     */
    public Sample sample(Sampler sampler, int n, int steps, long seed, int[] labels,
            float guidanceScale, int tracked) {
        if (labels != null && block.numClasses() == 0) {
            throw new IllegalArgumentException("this model is unconditional; pass labels = null");
        }
        if (labels != null && labels.length != n) {
            throw new IllegalArgumentException("need one label per point");
        }
        int k = Math.min(tracked, n);
        float[] sig = sigmas(steps);
        float[][] paths = new float[k][2 * (steps + 1)];
        try (NDManager sm = manager.newSubManager()) {
            NoiseSource noise = NoiseSource.seeded(seed);
            NDArray x = noise.randn(sm, new Shape(n, 2)).muli(sig[0]);
            record(paths, x.toFloatArray(), 0, sig[0]);
            NDArray lab = labels == null ? null : sm.create(labels);
            NDArray nul = labels == null ? null : sm.full(new Shape(n), block.nullClass(),
                    DataType.INT32);
            Denoiser d = denoiser(block, parameterStore, scheduler, lab, nul, guidanceScale);
            SamplingContext ctx = SamplingContext.of(noise, event -> {
                if (k > 0) {
                    record(paths, event.x().get("0:" + k).toFloatArray(), event.stepIndex() + 1,
                            event.sigmaNext());
                }
                return true;
            });
            NDArray out = sampler.sample(d, x, sig, ctx);
            return new Sample(sampler.name(), out.toFloatArray(), paths);
        }
    }

    /** Stores the tracked points of one step, scaled by 1/√(σ²+1) (the VP view). */
    private static void record(float[][] paths, float[] xy, int step, float sigma) {
        float c = (float) (1 / Math.sqrt((double) sigma * sigma + 1));
        for (int i = 0; i < paths.length; i++) {
            paths[i][2 * step] = xy[2 * i] * c;
            paths[i][2 * step + 1] = xy[2 * i + 1] * c;
        }
    }

    @Override
    public void close() {
        manager.close();
    }

    @Override
    public String toString() {
        return "Toy2dModel{" + block + ", steps=" + config.steps() + ", seed=" + config.seed()
                + ", classes=" + block.numClasses() + "}";
    }
}
