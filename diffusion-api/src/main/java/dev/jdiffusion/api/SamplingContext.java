package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.function.DoubleUnaryOperator;

/**
 * What one {@link Sampler#sample} call needs besides the model and the schedule: its own
 * {@link NoiseSource} (ancestral and SDE samplers draw fresh noise only from here, so a seed
 * reproduces a run bit for bit on the same device) and the {@link StepListener} that observes and
 * may cancel the run.
 *
 * <p>A context belongs to one call: its noise source advances as the sampler draws from it.
 * It is not thread-safe; create one per request.
 */
public final class SamplingContext {

    private final NoiseSource noise;
    private final StepListener listener;
    /** σ → training timestep of this run, or null if not known. */
    private final DoubleUnaryOperator timesteps;

    private SamplingContext(NoiseSource noise, StepListener listener,
            DoubleUnaryOperator timesteps) {
        this.noise = Objects.requireNonNull(noise, "noise");
        this.listener = Objects.requireNonNull(listener, "listener");
        this.timesteps = timesteps;
    }

    /**
     * A context with PyTorch-compatible noise for a seed and no listener.
     *
     * @param seed the seed of the noise source
     * @return a new context
     */
    public static SamplingContext seeded(long seed) {
        return new SamplingContext(NoiseSource.seeded(seed), StepListener.NONE, null);
    }

    /**
     * A context from its parts.
     *
     * @param noise the noise source, used by this call only
     * @param listener the step listener
     * @return a new context
     */
    public static SamplingContext of(NoiseSource noise, StepListener listener) {
        return new SamplingContext(noise, listener, null);
    }

    /**
     * The same noise source with another listener.
     *
     * @param newListener the listener to use
     * @return a new context sharing this context's noise source
     */
    public SamplingContext withListener(StepListener newListener) {
        return new SamplingContext(noise, newListener, timesteps);
    }

    /**
     * The same noise source and listener, with the training timesteps of the run's noise levels:
     * what the network is given for each σ (for a pipeline, the exact timesteps of its
     * schedule). Samplers whose update depends on the timestep itself, such as {@code lcm},
     * need this; the others ignore it.
     *
     * @param timestepOfSigma maps a noise level σ of the run to its training timestep
     * @return a new context sharing this context's noise source and listener
     */
    public SamplingContext withTimesteps(DoubleUnaryOperator timestepOfSigma) {
        return new SamplingContext(noise, listener,
                Objects.requireNonNull(timestepOfSigma, "timestepOfSigma"));
    }

    /**
     * The training timestep of a noise level of this run, if the context was given the run's
     * timesteps ({@link #withTimesteps}).
     *
     * @param sigma a noise level of the run
     * @return the timestep, or empty if this context does not know the run's timesteps
     */
    public OptionalDouble timestepOf(float sigma) {
        return timesteps == null ? OptionalDouble.empty()
                : OptionalDouble.of(timesteps.applyAsDouble(sigma));
    }

    /**
     * The noise source of this call.
     *
     * @return the noise source
     */
    public NoiseSource noise() {
        return noise;
    }

    /**
     * The step listener of this call.
     *
     * @return the listener
     */
    public StepListener listener() {
        return listener;
    }

    /**
     * Draws standard normal noise shaped like {@code x}, on the manager, device and data type of
     * {@code x}.
     *
     * @param x the array whose shape, manager and data type the noise takes
     * @return fresh N(0, 1) noise
     */
    public NDArray noiseLike(NDArray x) {
        NDArray n = noise.randn(x.getManager(), x.getShape());
        if (n.getDataType() != x.getDataType()) {
            NDArray converted = n.toType(x.getDataType(), false);
            n.close();
            return converted;
        }
        return n;
    }

    /**
     * Reports a finished step to the listener; samplers call this once per step, on the thread
     * that runs the sampler. The listener sees guarded views of the arrays that stop working
     * when it returns (see {@link StepEvent}); the arrays themselves stay the sampler's.
     *
     * <p>If the calling thread has been interrupted, the run stops here like a cancellation by
     * the listener, and the interrupt status stays set.
     *
     * @param stepIndex the zero-based step index
     * @param totalSteps the number of steps of the run
     * @param sigma the noise level the step started from
     * @param sigmaNext the noise level the step reached
     * @param x the new sample
     * @param denoised the step's x₀ estimate
     * @throws GenerationCancelledException if the listener cancels the run or the thread was
     *     interrupted
     */
    public void reportStep(
            int stepIndex, int totalSteps, float sigma, float sigmaNext, NDArray x,
            NDArray denoised) {
        StepEvent event = new StepEvent(stepIndex, totalSteps, sigma, sigmaNext, x, denoised);
        boolean goOn;
        try {
            goOn = listener.onStep(event);
        } finally {
            event.release();
        }
        if (!goOn) {
            throw new GenerationCancelledException(stepIndex);
        }
        if (Thread.currentThread().isInterrupted()) {
            throw new GenerationCancelledException(stepIndex, true);
        }
    }
}
