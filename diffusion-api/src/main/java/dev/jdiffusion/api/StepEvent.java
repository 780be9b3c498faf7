package dev.jdiffusion.api;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.Locale;
import java.util.Objects;

/**
 * What one sampler step produced.
 *
 * <p>The numbers are plain values. The arrays belong to the sampler and live only until its step
 * ends, so what {@link #x()} and {@link #denoised()} return are <em>views</em> that work only on
 * the thread that received the event and only during the {@link StepListener#onStep} call (the
 * arrays derived from them too). Used anywhere else (kept in a field and read after the
 * callback, or handed to another thread) they throw {@link IllegalStateException}; they never
 * touch released memory. They cannot be closed, attached or detached. To keep data, copy it
 * inside the callback: {@link #xValues()} and {@link #denoisedValues()} return Java arrays,
 * {@link #copyX(NDManager)} and {@link #copyDenoised(NDManager)} engine arrays that the given
 * manager owns.
 *
 * <p>Thread-safe for its numbers; see above for the arrays. An event built directly with the
 * public constructor (for example in a test) guards its arrays for the constructing thread and
 * stays valid there.
 */
public final class StepEvent {

    private final int stepIndex;
    private final int totalSteps;
    private final float sigma;
    private final float sigmaNext;
    private final NDArray rawX;
    private final NDArray rawDenoised;
    private final StepArrays.Lease lease;
    private final NDArray x;
    private final NDArray denoised;
    private final String description;

    /**
     * Creates an event; its array views are valid on the calling thread.
     *
     * @param stepIndex the zero-based index of the finished step
     * @param totalSteps the number of steps of the run
     * @param sigma the noise level the step started from
     * @param sigmaNext the noise level the step reached (0 after the last step)
     * @param x the current sample at {@code sigmaNext}, or null
     * @param denoised the step's estimate of the clean sample x₀, or null
     */
    public StepEvent(int stepIndex, int totalSteps, float sigma, float sigmaNext, NDArray x,
            NDArray denoised) {
        this.stepIndex = stepIndex;
        this.totalSteps = totalSteps;
        this.sigma = sigma;
        this.sigmaNext = sigmaNext;
        this.rawX = x;
        this.rawDenoised = denoised;
        this.lease = new StepArrays.Lease(stepIndex);
        this.x = StepArrays.view(lease, x);
        this.denoised = StepArrays.view(lease, denoised);
        // Read now, on the reporting thread: toString may run anywhere, at any time.
        this.description = x == null ? ""
                : ", x " + x.getShape() + " " + x.getDataType().toString().toLowerCase(Locale.ROOT);
    }

    /** Ends the validity of the array views (the reporter calls this when onStep returns). */
    void release() {
        lease.end();
    }

    /**
     * The zero-based index of the finished step.
     *
     * @return the step index
     */
    public int stepIndex() {
        return stepIndex;
    }

    /**
     * The number of steps of the run.
     *
     * @return the step count
     */
    public int totalSteps() {
        return totalSteps;
    }

    /**
     * The noise level the step started from.
     *
     * @return σ of the step's start
     */
    public float sigma() {
        return sigma;
    }

    /**
     * The noise level the step reached.
     *
     * @return σ after the step, 0 after the last step
     */
    public float sigmaNext() {
        return sigmaNext;
    }

    /**
     * The current sample at {@link #sigmaNext()}, as a view valid only during the callback on
     * its thread (see the class description).
     *
     * @return the view, or null if the reporter gave none
     */
    public NDArray x() {
        return x;
    }

    /**
     * The step's estimate of the clean sample x₀ (a cheap preview of the result), as a view
     * valid only during the callback on its thread (see the class description).
     *
     * @return the view, or null if the reporter gave none
     */
    public NDArray denoised() {
        return denoised;
    }

    /**
     * The shape of the sample, e.g. (N, C, H, W).
     *
     * @return the shape, or null without a sample
     * @throws IllegalStateException outside the callback or on another thread
     */
    public Shape shape() {
        return x == null ? null : x.getShape();
    }

    /**
     * A copy of the current sample as float32 values in row-major order.
     *
     * @return a new array
     * @throws IllegalStateException outside the callback, on another thread, or without a sample
     */
    public float[] xValues() {
        return values(rawX, "x");
    }

    /**
     * A copy of the x₀ estimate as float32 values in row-major order.
     *
     * @return a new array
     * @throws IllegalStateException outside the callback, on another thread, or without one
     */
    public float[] denoisedValues() {
        return values(rawDenoised, "denoised");
    }

    /**
     * A copy of the current sample on its device, owned by {@code manager} (close it there).
     *
     * @param manager the manager that owns the copy
     * @return the copy, usable on any thread until {@code manager} closes
     * @throws IllegalStateException outside the callback, on another thread, or without a sample
     */
    public NDArray copyX(NDManager manager) {
        return copy(rawX, "x", manager);
    }

    /**
     * A copy of the x₀ estimate on its device, owned by {@code manager} (close it there).
     *
     * @param manager the manager that owns the copy
     * @return the copy, usable on any thread until {@code manager} closes
     * @throws IllegalStateException outside the callback, on another thread, or without one
     */
    public NDArray copyDenoised(NDManager manager) {
        return copy(rawDenoised, "denoised", manager);
    }

    private float[] values(NDArray raw, String what) {
        lease.check();
        if (raw == null) {
            throw new IllegalStateException("this event has no " + what + " array");
        }
        return raw.toType(DataType.FLOAT32, false).toFloatArray();
    }

    private NDArray copy(NDArray raw, String what, NDManager manager) {
        Objects.requireNonNull(manager, "manager");
        lease.check();
        if (raw == null) {
            throw new IllegalStateException("this event has no " + what + " array");
        }
        NDArray copy = raw.duplicate();
        NDScope.unregister(copy); // outlives the sampler's step scope
        copy.attach(manager);
        return copy;
    }

    /**
     * Whether this is the last step of the run.
     *
     * @return {@code true} after the final step
     */
    public boolean isLast() {
        return stepIndex == totalSteps - 1;
    }

    /**
     * A one-line summary: step, noise levels and the sample's shape, never array contents.
     *
     * @return the summary
     */
    @Override
    public String toString() {
        return String.format(Locale.ROOT, "StepEvent[step %d/%d, sigma %.4g -> %.4g%s]",
                stepIndex + 1, totalSteps, sigma, sigmaNext, description);
    }
}
