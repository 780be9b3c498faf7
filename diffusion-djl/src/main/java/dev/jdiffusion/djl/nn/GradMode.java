package dev.jdiffusion.djl.nn;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * The engine's autograd switch for the calling thread, set for a block of code and restored
 * afterwards: {@code try (GradMode g = GradMode.disabled()) { ... }}.
 *
 * <p>PyTorch keeps grad mode per thread and starts every thread with it on. DJL turns it off only
 * on the thread that first loads the engine, so inference on any other thread (a worker, an
 * executor, a web server's request thread) would record the autograd graph of every operation on
 * the weights and keep all activations of a run alive: memory grows with every sampler step.
 * Every inference entry point of this project (the pipeline, the UNet, VAE and text encoder
 * forwards, toy sampling) therefore turns it off for its own duration, and the trainer turns it
 * on explicitly around its forward and backward pass.
 *
 * <p>Not thread-safe by design: an instance belongs to the thread that created it and must be
 * closed on that thread, in reverse order of creation (as try-with-resources does). Engines other
 * than PyTorch are left alone.
 */
public final class GradMode implements AutoCloseable {

    private static final GradMode UNCHANGED = new GradMode(null, false);

    private final Thread owner;
    private final boolean previous;

    private GradMode(Thread owner, boolean previous) {
        this.owner = owner;
        this.previous = previous;
    }

    /**
     * Turns gradient recording off on the calling thread until {@link #close()}.
     *
     * @return the handle that restores the previous state
     */
    public static GradMode disabled() {
        return set(false);
    }

    /**
     * Turns gradient recording on on the calling thread until {@link #close()} (training).
     *
     * @return the handle that restores the previous state
     */
    public static GradMode enabled() {
        return set(true);
    }

    /**
     * For a block's forward: off for inference, left as the caller set it for training.
     *
     * @param training whether the forward trains
     * @return the handle that restores the previous state
     */
    public static GradMode offUnlessTraining(boolean training) {
        return training ? UNCHANGED : set(false);
    }

    /**
     * Whether the calling thread records gradients now.
     *
     * @return the engine's grad mode of this thread; {@code false} for engines other than
     *     PyTorch
     */
    public static boolean isEnabled() {
        return isPyTorch() && JniUtils.isGradMode();
    }

    private static GradMode set(boolean on) {
        if (!isPyTorch()) {
            return UNCHANGED;
        }
        boolean before = JniUtils.isGradMode();
        if (before != on) {
            JniUtils.setGradMode(on);
        }
        return new GradMode(Thread.currentThread(), before);
    }

    private static boolean isPyTorch() {
        return "PyTorch".equals(Engine.getInstance().getEngineName());
    }

    /**
     * Restores the grad mode the thread had before.
     *
     * @throws IllegalStateException if called on another thread than the one that created it
     */
    @Override
    public void close() {
        if (owner == null) {
            return;
        }
        if (owner != Thread.currentThread()) {
            throw new IllegalStateException("a GradMode must be closed on the thread that"
                    + " created it (" + owner.getName() + "), not on "
                    + Thread.currentThread().getName());
        }
        if (JniUtils.isGradMode() != previous) {
            JniUtils.setGradMode(previous);
        }
    }
}
