package dev.jdiffusion.djl.train;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.api.NoiseSource;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.safetensors.SafetensorsDtype;
import dev.jdiffusion.djl.safetensors.SafetensorsFile;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import dev.jdiffusion.djl.safetensors.TensorInfo;
import dev.jdiffusion.samplers.PredictionType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains a denoising network with the diffusion objective.
 *
 * <p>The model is any DJL {@link Block} that takes {@code NDList(x_t, t[, condition])} and
 * returns {@code NDList(prediction)}: x<sub>t</sub> = √ᾱ<sub>t</sub>·x₀ + √(1−ᾱ<sub>t</sub>)·ε
 * is the noisy input in the variance-preserving form (same shape as the data), t the float32
 * timestep per example (N), and the optional condition the data's condition (class ids, token
 * ids, embeddings). The prediction has the shape of x<sub>t</sub> and is compared with the
 * {@link PredictionType} target by a (min-SNR-weighted) mean squared error.
 *
 * <p>Each step draws, from {@code (seed, step)} only: the batch (epochs are seeded
 * permutations of the data), a uniform timestep per example, the noise (a {@link
 * NoiseSource#seeded} stream), and the condition dropout. The engine's global random generator is
 * never used, so two runs with the same seed and configuration produce bit-identical weights on
 * the same machine, and a run resumed from a checkpoint ({@link #loadCheckpoint}) continues
 * exactly as the uninterrupted run would have. Weights not yet initialised are initialised in
 * Java from the seed: U(±1/√fan_in) for tensors of two or more dimensions, 1 for scales and 0 for
 * biases.
 *
 * <p>The update is AdamW written on the parameter arrays (moments kept for checkpoints), after
 * clipping the gradient by its global norm; an exponential moving average (EMA) of the weights is
 * kept with decay min(emaDecay, (1 + s)/(10 + s)) at step s, and the EMA weights are what {@link
 * #copyEmaInto} and {@link #saveEmaWeights} hand out for sampling. Every step runs in its own
 * {@link NDScope} and sub-manager; optimizer moments and EMA live in the trainer's manager and are
 * updated in place, so memory stays flat.
 *
 * <p>Not thread-safe: one thread drives a trainer. {@link #close()} releases the trainer's
 * manager, including the model's parameters if the trainer initialised them.
 */
public final class DiffusionTrainer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DiffusionTrainer.class);

    static final String FORMAT = "jdiffusion-train-checkpoint";
    private static final Pattern CHECKPOINT_NAME =
            Pattern.compile("checkpoint-(\\d{8,18})\\.safetensors");
    private static final long SALT_INIT = 0x1A2B3C4D5E6F7081L;
    private static final long SALT_EPOCH = 0x2B3C4D5E6F708192L;
    private static final long SALT_STEP = 0x3C4D5E6F708192A3L;

    private final Block model;
    private final TrainingData data;
    private final TrainingConfig config;
    private final TrainingListener listener;
    private static final int MAX_CONSECUTIVE_SKIPS = 20;

    private final Path checkpointDir;
    private int consecutiveSkips;
    private final int checkpointEvery;
    private final NDManager manager;
    private final ParameterStore parameterStore;
    private final Map<String, Parameter> trainable;
    private final Map<String, NDArray> ema = new LinkedHashMap<>();
    private final Map<String, NDArray> adamM = new LinkedHashMap<>();
    private final Map<String, NDArray> adamV = new LinkedHashMap<>();
    private final double[] sqrtAlphaBar;
    private final double[] sqrtOneMinusAlphaBar;
    private final double[] snr;
    private long step;
    private long permEpoch = -1;
    private int[] perm;

    private DiffusionTrainer(Builder b) {
        this.model = b.model;
        this.data = b.data;
        this.config = b.config;
        this.listener = b.listener;
        this.checkpointDir = b.checkpointDir;
        this.checkpointEvery = b.checkpointEvery;
        this.manager = b.parentManager == null ? NDManager.newBaseManager()
                : b.parentManager.newSubManager();
        this.manager.setName("diffusion-trainer");
        this.parameterStore = new ParameterStore(manager, false);
        double[] abar = config.schedule().alphasCumprod();
        sqrtAlphaBar = new double[abar.length];
        sqrtOneMinusAlphaBar = new double[abar.length];
        snr = new double[abar.length];
        for (int t = 0; t < abar.length; t++) {
            sqrtAlphaBar[t] = Math.sqrt(abar[t]);
            sqrtOneMinusAlphaBar[t] = Math.sqrt(1 - abar[t]);
            snr[t] = abar[t] / (1 - abar[t]);
        }
        try {
            initializeIfNeeded();
            Map<String, Parameter> params = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : ParameterNames.of(model).entrySet()) {
                if (e.getValue().requiresGradient()) {
                    params.put(e.getKey(), e.getValue());
                }
            }
            if (params.isEmpty()) {
                throw new IllegalArgumentException("the model has no trainable parameters");
            }
            this.trainable = params;
            for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
                NDArray w = e.getValue().getArray();
                if (w.getDataType() != DataType.FLOAT32) {
                    throw new IllegalArgumentException("parameter " + e.getKey() + " is "
                            + w.getDataType() + "; the trainer trains float32 weights only");
                }
                w.setRequiresGradient(true);
                ema.put(e.getKey(), manager.create(w.toFloatArray(), w.getShape()));
                NDArray m = manager.zeros(w.getShape());
                NDArray v = manager.zeros(w.getShape());
                adamM.put(e.getKey(), m);
                adamV.put(e.getKey(), v);
            }
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /**
     * A builder.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    private void initializeIfNeeded() {
        Map<String, Parameter> all = ParameterNames.of(model);
        boolean needed = all.values().stream().anyMatch(p -> !p.isInitialized());
        if (!needed) {
            return;
        }
        for (Map.Entry<String, Parameter> e : all.entrySet()) {
            String name = e.getKey();
            Parameter p = e.getValue();
            p.setInitializer((m, shape, type) -> {
                NDArray a = m.create(initialValues(config.seed(), name, p.getType(), shape),
                        shape);
                return type == DataType.FLOAT32 ? a : a.toType(type, false);
            });
        }
        Shape[] shapes;
        try (NDManager sub = manager.newSubManager()) {
            Batch b = data.batch(sub, new int[] {0});
            Shape x = b.x().getShape();
            shapes = b.condition() == null ? new Shape[] {x, new Shape(1)}
                    : new Shape[] {x, new Shape(1), b.condition().getShape()};
        }
        model.initialize(manager, DataType.FLOAT32, shapes);
    }

    /** Deterministic initial values of one parameter, from the seed and its name only. */
    static float[] initialValues(long seed, String name, Parameter.Type type, Shape shape) {
        int n = Math.toIntExact(shape.size());
        float[] out = new float[n];
        boolean scale = type == Parameter.Type.GAMMA || type == Parameter.Type.RUNNING_VAR
                || (shape.dimension() == 1 && name.endsWith("weight"));
        if (shape.dimension() < 2 || type == Parameter.Type.BIAS || type == Parameter.Type.BETA
                || type == Parameter.Type.RUNNING_MEAN) {
            if (scale) {
                java.util.Arrays.fill(out, 1f);
            }
            return out;
        }
        long fanIn = shape.size() / shape.get(0);
        double bound = 1 / Math.sqrt(fanIn);
        SplittableRandom r = new SplittableRandom(mix(mix(seed, SALT_INIT), fnv(name)));
        for (int i = 0; i < n; i++) {
            out[i] = (float) ((2 * r.nextDouble() - 1) * bound);
        }
        return out;
    }

    /**
     * The configuration.
     *
     * @return the immutable configuration of this run
     */
    public TrainingConfig config() {
        return config;
    }

    /**
     * The number of steps finished (restored by {@link #loadCheckpoint}).
     *
     * @return steps done, 0 before the first
     */
    public long step() {
        return step;
    }

    /**
     * Trains until {@link TrainingConfig#steps()} steps are done, saving a checkpoint every
     * {@code checkpointEvery} steps and after the last one when a checkpoint folder is set, and
     * deleting older ones beyond {@link TrainingConfig#keepCheckpoints()}.
     *
     * @return the progress of the last step, or {@code null} if no step was left to do
     * @throws IOException if a checkpoint cannot be written
     */
    public TrainingProgress train() throws IOException {
        return train(config.steps());
    }

    /**
     * Trains until step {@code untilStep} (at most {@link TrainingConfig#steps()}), following
     * the learning-rate schedule of the full run: stopping early and resuming later gives the
     * same weights as training straight through.
     *
     * @param untilStep the step to stop after
     * @return the progress of the last step, or {@code null} if no step was left to do
     * @throws IOException if a checkpoint cannot be written
     */
    public TrainingProgress train(long untilStep) throws IOException {
        long end = Math.min(untilStep, config.steps());
        TrainingProgress last = null;
        long start = System.nanoTime();
        long startStep = step;
        while (step < end) {
            last = trainStep();
            if (checkpointDir != null
                    && (step % checkpointEvery == 0 || step == end)) {
                saveCheckpoint(checkpointDir.resolve(checkpointName(step)));
                pruneCheckpoints(step);
            }
        }
        if (last != null) {
            double secs = (System.nanoTime() - start) / 1e9;
            LOG.info("trained {} steps in {} s ({} steps/s), final loss {}", step - startStep,
                    String.format(Locale.ROOT, "%.1f", secs),
                    String.format(Locale.ROOT, "%.1f", (step - startStep) / secs),
                    String.format(Locale.ROOT, "%.4f", last.loss()));
        }
        return last;
    }

    /**
     * Runs one optimizer step.
     *
     * @return what the step did
     * @throws IllegalStateException if the loss is not finite, or the configuration asks for
     *     condition dropout on data without a null condition
     */
    public TrainingProgress trainStep() {
        long s = step;
        long t0 = System.nanoTime();
        int batch = config.batchSize();
        int[] indices = batchIndices(s, batch);
        SplittableRandom rnd = new SplittableRandom(mix(mix(config.seed(), SALT_STEP), s));
        int timesteps = config.schedule().size();
        int[] ts = new int[batch];
        for (int i = 0; i < batch; i++) {
            ts[i] = rnd.nextInt(timesteps);
        }
        boolean[] drop = new boolean[batch];
        boolean anyDrop = false;
        for (int i = 0; i < batch; i++) {
            drop[i] = config.conditionDropout() > 0 && rnd.nextDouble() < config.conditionDropout();
            anyDrop |= drop[i];
        }
        long noiseSeed = rnd.nextLong();
        double lr = config.learningRateAt(s);
        float lossValue;
        double gradNorm;
        // Off for the data, the target and the update, on just for the forward and backward.
        try (GradMode off = GradMode.disabled(); NDScope scope = new NDScope();
                NDManager sm = manager.newSubManager()) {
            scope.suppressNotUsedWarning();
            Batch b = data.batch(sm, indices);
            NDArray x0 = b.x().toType(DataType.FLOAT32, false);
            Shape shape = x0.getShape();
            if (shape.get(0) != batch) {
                throw new IllegalStateException("data returned batch size " + shape.get(0)
                        + " for " + batch + " indices");
            }
            Shape perExample = new Shape(batch).addAll(ones(shape.dimension() - 1));
            float[] a = new float[batch];
            float[] sg = new float[batch];
            float[] tf = new float[batch];
            float[] w = new float[batch];
            for (int i = 0; i < batch; i++) {
                a[i] = (float) sqrtAlphaBar[ts[i]];
                sg[i] = (float) sqrtOneMinusAlphaBar[ts[i]];
                tf[i] = ts[i];
                w[i] = (float) lossWeight(ts[i]);
            }
            NDArray ca = sm.create(a, perExample);
            NDArray cs = sm.create(sg, perExample);
            NDArray eps = sm.create(
                    NoiseSource.seeded(noiseSeed).randn(Math.toIntExact(shape.size())), shape);
            NDArray xt = x0.mul(ca).add(eps.mul(cs));
            NDArray cond = b.condition();
            if (anyDrop) {
                cond = dropCondition(sm, cond, drop);
            }
            NDArray target;
            switch (config.predictionType()) {
                case EPSILON:
                    target = eps;
                    break;
                case V_PREDICTION:
                    target = eps.mul(ca).sub(x0.mul(cs));
                    break;
                case SAMPLE:
                    target = x0;
                    break;
                default:
                    throw new AssertionError(config.predictionType());
            }
            NDArray t = sm.create(tf);
            NDList inputs = cond == null ? new NDList(xt, t) : new NDList(xt, t, cond);
            NDArray loss;
            try (GradMode on = GradMode.enabled();
                    GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray pred = model.forward(parameterStore, inputs, true).singletonOrThrow();
                if (!pred.getShape().equals(shape)) {
                    throw new IllegalStateException("the model returned shape " + pred.getShape()
                            + " for input shape " + shape + "; it must predict per element");
                }
                NDArray perEx = pred.sub(target).square().reshape(batch, -1).mean(new int[] {1});
                loss = perEx.mul(sm.create(w)).mean();
                gc.backward(loss);
            }
            lossValue = loss.getFloat();
            gradNorm = Float.isFinite(lossValue) ? update(s, lr) : Double.NaN;
            if (!Double.isFinite(gradNorm)) {
                // A non-finite loss or gradient would poison the weights and Adam's moments:
                // skip the update (the gradients are cleared), as mixed-precision scalers do.
                zeroGradients();
                consecutiveSkips++;
                LOG.warn("step {}: non-finite {} ({}); update skipped", s + 1,
                        Float.isFinite(lossValue) ? "gradient norm" : "loss",
                        Float.isFinite(lossValue) ? gradNorm : lossValue);
                if (consecutiveSkips >= MAX_CONSECUTIVE_SKIPS) {
                    throw new IllegalStateException("loss or gradients non-finite for "
                            + consecutiveSkips + " steps in a row (last at step " + (s + 1)
                            + "); lower the learning rate or set a gradient-clipping norm");
                }
            } else {
                consecutiveSkips = 0;
            }
        }
        step = s + 1;
        double secs = Math.max(1e-9, (System.nanoTime() - t0) / 1e9);
        TrainingProgress progress = new TrainingProgress(
                step, config.steps(), lossValue, lr, gradNorm, batch / secs);
        if (step % config.logEvery() == 0 || step == config.steps()) {
            LOG.info(String.format(Locale.ROOT,
                    "step %d/%d loss %.5f lr %.2e grad-norm %.3f %.0f examples/s", step,
                    config.steps(), lossValue, lr, gradNorm, progress.examplesPerSecond()));
        }
        listener.onStep(progress);
        return progress;
    }

    private NDArray dropCondition(NDManager sm, NDArray cond, boolean[] drop) {
        int batch = drop.length;
        NDArray nul = data.nullCondition(sm, batch);
        if (cond == null || nul == null) {
            throw new IllegalStateException("conditionDropout is " + config.conditionDropout()
                    + " but the training data has no condition/null condition; set it to 0");
        }
        Shape maskShape = new Shape(batch).addAll(ones(cond.getShape().dimension() - 1));
        NDArray mask = sm.create(drop, maskShape).broadcast(cond.getShape());
        return NDArrays.where(mask, nul.toType(cond.getDataType(), false), cond);
    }

    /** Clips, applies AdamW and the EMA in place; returns the global gradient norm. */
    private double update(long s, double lr) {
        List<NDArray> grads = new ArrayList<>(trainable.size());
        List<NDArray> squares = new ArrayList<>(trainable.size());
        for (Parameter p : trainable.values()) {
            NDArray g = p.getArray().getGradient();
            grads.add(g);
            squares.add(g.square().sum());
        }
        double norm = Math.sqrt(NDArrays.stack(new NDList(squares)).sum().getFloat());
        if (!Double.isFinite(norm)) {
            return norm; // the caller skips this step and clears the gradients
        }
        double clip = config.gradClipNorm() > 0 && norm > config.gradClipNorm()
                ? config.gradClipNorm() / (norm + 1e-6) : 1.0;
        double b1 = config.beta1();
        double b2 = config.beta2();
        double bc1 = 1 - Math.pow(b1, s + 1);
        double bc2 = 1 - Math.pow(b2, s + 1);
        double decay = Math.min(config.emaDecay(), (1.0 + s) / (10.0 + s));
        int i = 0;
        for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
            NDArray g = grads.get(i++);
            NDArray w = e.getValue().getArray();
            NDArray m = adamM.get(e.getKey());
            NDArray v = adamV.get(e.getKey());
            m.muli(b1).addi(g.mul((1 - b1) * clip));
            v.muli(b2).addi(g.square().muli((1 - b2) * clip * clip));
            NDArray denom = v.div(bc2).sqrt().addi(config.epsilon());
            if (config.weightDecay() > 0 && w.getShape().dimension() >= 2) {
                w.muli(1 - lr * config.weightDecay());
            }
            w.subi(m.div(denom).muli(lr / bc1));
            ema.get(e.getKey()).muli(decay).addi(w.mul(1 - decay));
        }
        zeroGradients(); // gradients accumulate in PyTorch: reset for the next step
        return norm;
    }

    /** Clears every gradient in place; safe for gradients holding NaN or infinity. */
    private void zeroGradients() {
        for (Parameter p : trainable.values()) {
            p.getArray().getGradient().set(new NDIndex("..."), 0);
        }
    }

    private double lossWeight(int t) {
        double gamma = config.minSnrGamma();
        return gamma <= 0 ? 1 : minSnrWeight(config.predictionType(), snr[t], gamma);
    }

    /**
     * The min-SNR-γ loss weight (Hang et al. 2023) of an example whose timestep has signal-to-
     * noise ratio snr = ᾱ/(1−ᾱ): min(snr, γ)/snr for ε, min(snr, γ)/(snr + 1) for v, and
     * min(snr, γ) for x₀ prediction, which gives every prediction type the weight min(snr, γ)
     * on the x₀ error.
     */
    static double minSnrWeight(PredictionType type, double snr, double gamma) {
        double clipped = Math.min(snr, gamma);
        switch (type) {
            case EPSILON:
                return clipped / snr;
            case V_PREDICTION:
                return clipped / (snr + 1);
            case SAMPLE:
                return clipped;
            default:
                throw new AssertionError(type);
        }
    }

    /** The example indices of a step: position s·B … in the concatenation of seeded epochs. */
    int[] batchIndices(long s, int batch) {
        int n = data.size();
        int[] out = new int[batch];
        for (int i = 0; i < batch; i++) {
            long pos = s * batch + i;
            out[i] = permutation(pos / n)[(int) (pos % n)];
        }
        return out;
    }

    private int[] permutation(long epoch) {
        if (epoch != permEpoch) {
            int n = data.size();
            int[] p = new int[n];
            for (int i = 0; i < n; i++) {
                p[i] = i;
            }
            SplittableRandom r = new SplittableRandom(mix(mix(config.seed(), SALT_EPOCH), epoch));
            for (int i = n - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int tmp = p[i];
                p[i] = p[j];
                p[j] = tmp;
            }
            perm = p;
            permEpoch = epoch;
        }
        return perm;
    }

    /**
     * Saves the full training state atomically (temporary file in the same folder, then
     * rename) as safetensors: {@code model.*} weights, {@code ema.*} weights, {@code adam_m.*}
     * and {@code adam_v.*} moments, and metadata with the step and seed (all randomness of a
     * step derives from them).
     *
     * @param file the checkpoint file
     * @throws IOException if it cannot be written
     */
    public void saveCheckpoint(Path file) throws IOException {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
            String k = e.getKey();
            tensors.put("model." + k, e.getValue().getArray());
            tensors.put("ema." + k, ema.get(k));
            tensors.put("adam_m." + k, adamM.get(k));
            tensors.put("adam_v." + k, adamV.get(k));
        }
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.put("step", Long.toString(step));
        meta.put("seed", Long.toString(config.seed()));
        meta.put("batch_size", Integer.toString(config.batchSize()));
        meta.put("prediction_type", config.predictionType().diffusersName());
        meta.put("config", config.toString());
        SafetensorsWriter.write(file, tensors, meta, DataType.FLOAT32);
        LOG.debug("saved checkpoint {} at step {}", file, step);
    }

    /**
     * Restores the state saved by {@link #saveCheckpoint}: weights, EMA, optimizer moments and
     * the step count. Continuing with {@link #train()} then gives the same weights as the
     * uninterrupted run. The file is validated before anything is overwritten; see {@link
     * #resumeLatest} to fall back to an older checkpoint when the newest is torn.
     *
     * @param file the checkpoint file
     * @throws ModelLoadException if the file is missing, corrupt, of another run (seed or batch
     *     size differ), or its tensors do not match the model's parameters
     * @throws IOException if it cannot be read
     */
    public void loadCheckpoint(Path file) throws IOException {
        restoreFrom(file, new boolean[1]);
        LOG.info("resumed from {} at step {}", file, step);
    }

    /**
     * Validates a checkpoint completely, then restores it; {@code changed[0]} is set once the
     * trainer's arrays start to be overwritten.
     */
    private void restoreFrom(Path file, boolean[] changed) throws IOException {
        try (SafetensorsFile c = SafetensorsFile.open(file)) {
            Map<String, String> meta = c.metadata();
            if (!FORMAT.equals(meta.get("format"))) {
                throw new ModelLoadException(file + " is not a training checkpoint (format "
                        + meta.get("format") + ", expected " + FORMAT + ")");
            }
            if (!Long.toString(config.seed()).equals(meta.get("seed"))
                    || !Integer.toString(config.batchSize()).equals(meta.get("batch_size"))) {
                throw new ForeignCheckpointException(file + " was written by a run with seed "
                        + meta.get("seed") + " and batch size " + meta.get("batch_size")
                        + "; this trainer has seed " + config.seed() + " and batch size "
                        + config.batchSize() + ". Resume with the same configuration.");
            }
            long restored;
            try {
                restored = Long.parseLong(meta.get("step"));
            } catch (NumberFormatException e) {
                throw new ModelLoadException(file + ": invalid step '" + meta.get("step") + "'",
                        e);
            }
            int expected = 4 * trainable.size();
            if (c.names().size() != expected) {
                throw new ForeignCheckpointException(file + " holds " + c.names().size()
                        + " tensors but this model needs " + expected + " (4 per parameter)");
            }
            Map<String, NDArray> targets = new LinkedHashMap<>();
            for (Map.Entry<String, Parameter> e : trainable.entrySet()) {
                String k = e.getKey();
                targets.put("model." + k, e.getValue().getArray());
                targets.put("ema." + k, ema.get(k));
                targets.put("adam_m." + k, adamM.get(k));
                targets.put("adam_v." + k, adamV.get(k));
            }
            for (Map.Entry<String, NDArray> e : targets.entrySet()) {
                check(c, e.getKey(), e.getValue());
            }
            changed[0] = true;
            for (Map.Entry<String, NDArray> e : targets.entrySet()) {
                e.getValue().set(c.readFloats(e.getKey()));
            }
            step = restored;
        }
    }

    /** Checks that a checkpoint has an F32 tensor of the target's shape under {@code key}. */
    private static void check(SafetensorsFile c, String key, NDArray target)
            throws ModelLoadException {
        if (!c.contains(key)) {
            throw new ForeignCheckpointException(c.path() + " has no tensor '" + key + "'");
        }
        TensorInfo t = c.info(key);
        if (t.dtype() != SafetensorsDtype.F32) {
            throw new ModelLoadException(c.path() + ": tensor '" + key + "' has dtype "
                    + t.dtype() + "; training checkpoints hold F32 tensors only");
        }
        if (!t.shape().equals(target.getShape())) {
            throw new ForeignCheckpointException(c.path() + ": tensor '" + key + "' has shape "
                    + t.shape() + " but the model expects " + target.getShape());
        }
    }

    /**
     * Resumes from the newest intact checkpoint {@code checkpoint-<step>.safetensors} with a
     * step of at most {@code maxStep} in the checkpoint folder (see {@link
     * Builder#optCheckpoints}). A checkpoint that cannot be read (torn by a crash or a full
     * disk, truncated, not a checkpoint) is skipped with a warning that names it, and the next
     * older one is tried; if none is intact, training starts from step 0. A checkpoint of
     * another run or model is never skipped: it fails.
     *
     * @param maxStep the largest step to resume from (for example the step training will stop
     *     at)
     * @return the checkpoint resumed from (or none) and the newer ones skipped
     * @throws ModelLoadException if a checkpoint was written by another run (seed or batch size
     *     differ) or for another model, or if reading failed after the trainer's state began to
     *     be overwritten and no older checkpoint could restore it
     * @throws IOException if the folder or a file cannot be read for another reason
     * @throws IllegalStateException if no checkpoint folder is set
     */
    public Resumed resumeLatest(long maxStep) throws IOException {
        if (checkpointDir == null) {
            throw new IllegalStateException("no checkpoint folder: set optCheckpoints");
        }
        Map<Path, String> skipped = new LinkedHashMap<>();
        boolean[] changed = new boolean[1];
        List<Map.Entry<Long, Path>> found = checkpoints(checkpointDir);
        for (int i = found.size() - 1; i >= 0; i--) {
            Path file = found.get(i).getValue();
            if (found.get(i).getKey() > maxStep) {
                continue;
            }
            try {
                restoreFrom(file, changed);
            } catch (ForeignCheckpointException e) {
                throw e;
            } catch (ModelLoadException e) {
                LOG.warn("skipping unreadable checkpoint {}: {}", file, e.getMessage());
                skipped.put(file, e.getMessage());
                continue;
            }
            if (!skipped.isEmpty()) {
                LOG.warn("resumed from {} at step {}, the newest intact checkpoint", file, step);
            } else {
                LOG.info("resumed from {} at step {}", file, step);
            }
            return new Resumed(file, step, skipped);
        }
        if (changed[0]) {
            throw new ModelLoadException("no intact checkpoint in " + checkpointDir + " and the"
                    + " last one failed while it was being restored: build a new trainer");
        }
        if (!skipped.isEmpty()) {
            LOG.warn("no intact checkpoint in {}: training starts at step 0", checkpointDir);
        }
        return new Resumed(null, step, skipped);
    }

    /**
     * What {@link #resumeLatest} did.
     *
     * @param checkpoint the checkpoint resumed from, or {@code null} if none was intact
     * @param step the step training continues after (0 without a checkpoint)
     * @param skipped newer checkpoints that could not be read → why, newest first
     */
    public record Resumed(Path checkpoint, long step, Map<Path, String> skipped) {
        /**
         * Copies the map of skipped checkpoints.
         *
         * @param checkpoint see the record description
         * @param step see the record description
         * @param skipped see the record description
         */
        public Resumed {
            skipped = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(skipped));
        }
    }

    /** The file name of the checkpoint of a step. */
    static String checkpointName(long step) {
        return String.format(Locale.ROOT, "checkpoint-%08d.safetensors", step);
    }

    /** Checkpoints in a folder (regular files named by {@link #checkpointName}), oldest first. */
    private static List<Map.Entry<Long, Path>> checkpoints(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Map.Entry<Long, Path>> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Matcher m = CHECKPOINT_NAME.matcher(p.getFileName().toString());
                if (m.matches() && Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) {
                    out.add(Map.entry(Long.parseLong(m.group(1)), p));
                }
            }
        }
        out.sort(Map.Entry.comparingByKey());
        return out;
    }

    /**
     * Deletes checkpoints of steps up to {@code current} beyond the newest {@link
     * TrainingConfig#keepCheckpoints()}; later ones (of an earlier, longer run) are left alone.
     */
    private void pruneCheckpoints(long current) throws IOException {
        int keep = config.keepCheckpoints();
        if (keep == 0) {
            return;
        }
        List<Map.Entry<Long, Path>> older = new ArrayList<>();
        for (Map.Entry<Long, Path> e : checkpoints(checkpointDir)) {
            if (e.getKey() <= current) {
                older.add(e);
            }
        }
        for (int i = 0; i < older.size() - keep; i++) {
            Files.deleteIfExists(older.get(i).getValue());
            LOG.debug("deleted old checkpoint {}", older.get(i).getValue());
        }
    }

    /** A checkpoint that is intact but belongs to another run or model: never skipped. */
    private static final class ForeignCheckpointException extends ModelLoadException {
        private static final long serialVersionUID = 1L;

        ForeignCheckpointException(String message) {
            super(message);
        }
    }

    /**
     * Copies the EMA weights into a block of the same architecture (for sampling). The target's
     * parameters must be initialised with the same names and shapes. If {@code target} is the
     * trained model itself, training should not continue afterwards.
     *
     * @param target the block that receives the EMA weights
     * @throws IllegalArgumentException if a parameter is missing or has another shape
     */
    public void copyEmaInto(Block target) {
        Map<String, Parameter> params = ParameterNames.of(target);
        for (Map.Entry<String, NDArray> e : ema.entrySet()) {
            Parameter p = params.get(e.getKey());
            if (p == null || !p.isInitialized()) {
                throw new IllegalArgumentException("target block has no initialised parameter '"
                        + e.getKey() + "'; initialise a block of the same architecture first");
            }
            if (!p.getArray().getShape().equals(e.getValue().getShape())) {
                throw new IllegalArgumentException("parameter '" + e.getKey() + "' has shape "
                        + p.getArray().getShape() + " in the target but "
                        + e.getValue().getShape() + " in training");
            }
            p.getArray().set(e.getValue().toFloatArray());
        }
    }

    /**
     * Saves the EMA weights under the model's parameter names as safetensors (F32), atomically.
     *
     * @param file the weights file
     * @throws IOException if it cannot be written
     */
    public void saveEmaWeights(Path file) throws IOException {
        SafetensorsWriter.write(file, ema,
                Map.of("format", "pt", "step", Long.toString(step)), DataType.FLOAT32);
    }

    /** The number of arrays alive in the trainer's manager and its sub-managers (for tests). */
    int liveArrays() {
        return manager.getManagedArrays().size();
    }

    @Override
    public void close() {
        manager.close();
    }

    private static Shape ones(int n) {
        long[] d = new long[n];
        java.util.Arrays.fill(d, 1);
        return new Shape(d);
    }

    /** SplitMix64-style mixing of two longs into a well-spread seed. */
    static long mix(long a, long b) {
        long z = a * 0x9E3779B97F4A7C15L + b + 0x632BE59BD9B4E019L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static long fnv(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte c : s.getBytes(java.nio.charset.StandardCharsets.UTF_8)) {
            h ^= c & 0xFF;
            h *= 0x100000001b3L;
        }
        return h;
    }

    /** Builds a {@link DiffusionTrainer}. Not thread-safe. */
    public static final class Builder {
        private Block model;
        private TrainingData data;
        private TrainingConfig config;
        private TrainingListener listener = TrainingListener.NONE;
        private Path checkpointDir;
        private int checkpointEvery;
        private NDManager parentManager;

        private Builder() {}

        /**
         * Sets the network to train (required).
         *
         * @param value a block taking {@code NDList(x_t, t[, condition])}
         * @return this builder
         */
        public Builder setModel(Block value) {
            this.model = value;
            return this;
        }

        /**
         * Sets the training data (required).
         *
         * @param value the data set
         * @return this builder
         */
        public Builder setData(TrainingData value) {
            this.data = value;
            return this;
        }

        /**
         * Sets the configuration (required).
         *
         * @param value the configuration
         * @return this builder
         */
        public Builder setConfig(TrainingConfig value) {
            this.config = value;
            return this;
        }

        /**
         * Sets a listener called after every step.
         *
         * @param value the listener
         * @return this builder
         */
        public Builder optListener(TrainingListener value) {
            this.listener = Objects.requireNonNull(value, "listener");
            return this;
        }

        /**
         * Saves checkpoints {@code checkpoint-<step>.safetensors} into a folder during {@link
         * DiffusionTrainer#train()}, keeping the newest {@link TrainingConfig#keepCheckpoints()};
         * {@link DiffusionTrainer#resumeLatest} resumes from them.
         *
         * @param folder the folder (created if missing)
         * @param every save every this many steps (and after the last step), ≥ 1
         * @return this builder
         */
        public Builder optCheckpoints(Path folder, int every) {
            this.checkpointDir = Objects.requireNonNull(folder, "folder");
            this.checkpointEvery = every;
            return this;
        }

        /**
         * Sets the manager under which the trainer creates its own; by default a new base
         * manager on the default device.
         *
         * @param value the parent manager
         * @return this builder
         */
        public Builder optManager(NDManager value) {
            this.parentManager = value;
            return this;
        }

        /**
         * Validates the settings, initialises missing weights from the seed, and creates the
         * optimizer and EMA state.
         *
         * @return the trainer
         * @throws IllegalArgumentException if a required setting is missing or invalid
         */
        public DiffusionTrainer build() {
            if (model == null || data == null || config == null) {
                throw new IllegalArgumentException(
                        "setModel, setData and setConfig are required");
            }
            if (data.size() <= 0) {
                throw new IllegalArgumentException("the training data is empty");
            }
            if (checkpointDir != null && checkpointEvery < 1) {
                throw new IllegalArgumentException(
                        "checkpoint interval must be >= 1 (got " + checkpointEvery + ")");
            }
            return new DiffusionTrainer(this);
        }
    }
}
