package dev.jdiffusion.djl.reliability;

import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.ModelLoadException;
import dev.jdiffusion.djl.pipeline.DiffusionPipeline;
import dev.jdiffusion.djl.pipeline.PipelineOptions;
import java.nio.file.Path;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What loading a (possibly corrupt) model did: refused with a {@link ModelLoadException},
 * loaded (and then generated one 1-step image, or failed to), or anything else (another
 * exception or error, or no answer within the time limit).
 *
 * @param kind the outcome
 * @param message the exception's message, or null
 * @param error the throwable for unexpected outcomes, or null
 * @param millis how long the load took
 */
record LoadOutcome(Kind kind, String message, Throwable error, long millis) {

    /** The possible outcomes. */
    enum Kind {
        /** ModelLoadException. */
        REFUSED,
        /** Loaded, and a 1-step generation at the default size worked. */
        LOADED,
        /** Loaded, but generating failed: the loader let a broken model through. */
        LOADED_BUT_BROKEN,
        /** Another exception or error from the loader. */
        OTHER,
        /** No answer in time. */
        HANG
    }

    /** The longest a single load may take. */
    static final long LIMIT_SECONDS = 20;

    private static final ExecutorService WORKER = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "load-attempt");
        t.setDaemon(true);
        return t;
    });

    /**
     * Loads a model in a worker thread with a time limit.
     *
     * @param model the folder or file
     * @param generate whether to generate a 1-step image when it loads
     * @return the outcome
     */
    static LoadOutcome attempt(Path model, boolean generate) {
        long start = System.nanoTime();
        Future<LoadOutcome> f = WORKER.submit(() -> run(model, generate, start));
        try {
            return f.get(LIMIT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new LoadOutcome(Kind.HANG, null, e, ms(start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new LoadOutcome(Kind.OTHER, null, e, ms(start));
        } catch (ExecutionException e) {
            return new LoadOutcome(Kind.OTHER, e.getCause().toString(), e.getCause(), ms(start));
        }
    }

    /** Any loading action. */
    @FunctionalInterface
    interface Action {
        void run() throws Exception;
    }

    /**
     * Runs a loading action in a worker thread with a time limit: REFUSED for a {@link
     * ModelLoadException}, LOADED if it returns, OTHER for anything else.
     *
     * @param action the action
     * @return the outcome
     */
    static LoadOutcome attempt(Action action) {
        long start = System.nanoTime();
        Future<LoadOutcome> f = WORKER.submit(() -> {
            try {
                action.run();
                return new LoadOutcome(Kind.LOADED, null, null, ms(start));
            } catch (ModelLoadException e) {
                return new LoadOutcome(Kind.REFUSED, e.getMessage(), e, ms(start));
            } catch (Throwable t) {
                return new LoadOutcome(Kind.OTHER, String.valueOf(t), t, ms(start));
            }
        });
        try {
            return f.get(LIMIT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            return new LoadOutcome(Kind.HANG, null, e, ms(start));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new LoadOutcome(Kind.OTHER, null, e, ms(start));
        } catch (ExecutionException e) {
            return new LoadOutcome(Kind.OTHER, e.getCause().toString(), e.getCause(), ms(start));
        }
    }

    private static LoadOutcome run(Path model, boolean generate, long start) {
        DiffusionPipeline p;
        try {
            p = DiffusionPipeline.load(model, PipelineOptions.defaults());
        } catch (ModelLoadException e) {
            return new LoadOutcome(Kind.REFUSED, e.getMessage(), e, ms(start));
        } catch (Throwable t) { // OutOfMemoryError included: that is the finding
            return new LoadOutcome(Kind.OTHER, String.valueOf(t), t, ms(start));
        }
        long loaded = ms(start);
        try (p) {
            if (generate) {
                // At most 64 px: a model may legitimately default to 512 px, too slow here.
                int size = Math.min(p.defaultSize(), 64);
                p.generate(GenerationRequest.builder(p.isConditional() ? "a cat" : "")
                        .size(size, size).steps(1).seed(1).build());
            }
            return new LoadOutcome(Kind.LOADED, null, null, loaded);
        } catch (Throwable t) {
            return new LoadOutcome(Kind.LOADED_BUT_BROKEN, String.valueOf(t), t, loaded);
        }
    }

    private static long ms(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    @Override
    public String toString() {
        return kind + " in " + millis + " ms: " + message;
    }
}
