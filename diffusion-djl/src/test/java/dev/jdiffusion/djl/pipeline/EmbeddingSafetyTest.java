package dev.jdiffusion.djl.pipeline;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.api.GenerationCancelledException;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.api.GenerationResult;
import dev.jdiffusion.api.Samplers;
import dev.jdiffusion.api.StepEvent;
import dev.jdiffusion.djl.nn.AutoencoderKL;
import dev.jdiffusion.djl.nn.AutoencoderKLConfig;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.testing.NativeArrays;
import dev.jdiffusion.djl.testing.TinyModels;
import dev.jdiffusion.djl.text.ClipTextConfig;
import dev.jdiffusion.djl.text.ClipTextModel;
import dev.jdiffusion.djl.toy.Toy2dModel;
import dev.jdiffusion.djl.toy.ToyDatasets;
import dev.jdiffusion.djl.train.Batch;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What an application embedding the SDK relies on: any thread may call any inference entry
 * point without the engine recording gradients, a call stops at the next step when its thread
 * is interrupted, a listener cannot hang the pipeline by closing it, event arrays cannot be used
 * outside their callback, and events print short text.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EmbeddingSafetyTest {

    private static DiffusionPipeline pipeline;

    @BeforeAll
    static void load() throws Exception {
        pipeline = DiffusionPipeline.load(TinyPipelines.textToImage(), PipelineOptions.defaults());
    }

    @AfterAll
    static void close() {
        if (pipeline != null) {
            pipeline.close();
        }
    }

    private static GenerationRequest.Builder request() {
        return GenerationRequest.builder("a cat face").steps(6).seed(5).sampler("euler");
    }

    /** Runs a task on a thread of its own, as a web server or worker pool would. */
    private static <T> T onNewThread(Callable<T> task) throws Exception {
        CompletableFuture<T> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(task.call());
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "embedding-worker");
        t.start();
        return f.get(100, TimeUnit.SECONDS);
    }

    @Test
    void generateOnANewThreadOrAnExecutorRecordsNoGradients() throws Exception {
        Callable<List<Boolean>> probe = () -> {
            List<Boolean> seen = new ArrayList<>();
            boolean before = GradMode.isEnabled();
            pipeline.generate(request().listener(e -> {
                seen.add(GradMode.isEnabled());
                seen.add(e.denoised().hasGradient());
                seen.add(e.x().hasGradient());
                return true;
            }).build());
            seen.add(GradMode.isEnabled() != before); // restored afterwards
            return seen;
        };
        assertThat(onNewThread(probe)).as("grad mode / requires-gradient, new thread")
                .hasSize(6 * 3 + 1).containsOnly(false);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            assertThat(pool.submit(probe).get(100, TimeUnit.SECONDS)).as("executor")
                    .hasSize(6 * 3 + 1).containsOnly(false);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void networksCalledDirectlyOnANewThreadRecordNoGradientsAndRestoreTheMode()
            throws Exception {
        List<String> recorded = onNewThread(() -> {
            List<String> out = new ArrayList<>();
            try (NDManager m = NDManager.newBaseManager("PyTorch")) {
                boolean threadDefault = GradMode.isEnabled(); // PyTorch: on for a new thread
                UNet2DConditionModel unet = new UNet2DConditionModel(
                        UNet2DConditionConfig.fromJson(TinyModels.UNET));
                AutoencoderKL vae = new AutoencoderKL(AutoencoderKLConfig.fromJson(
                        TinyModels.VAE));
                ClipTextModel text = new ClipTextModel(new ClipTextConfig(50, 16, 32, 2, 2, 77,
                        "quick_gelu", 1e-5f, OptionalInt.empty()));
                TinyModels.init(unet, m, 1);
                TinyModels.init(vae, m, 2);
                TinyModels.init(text, m, 3);
                ParameterStore ps = new ParameterStore(m, false);
                NDArray ids = m.create(new int[] {1, 5, 7, 2}, new Shape(1, 4));
                NDArray context = text.encode(ps, ids, 0);
                check(out, "text encoder", context, threadDefault);
                NDArray eps = unet.predict(ps, m.randomNormal(new Shape(1, 4, 8, 8)),
                        m.create(new float[] {500}), context, null, false);
                check(out, "unet", eps, threadDefault);
                NDArray latents = vae.encode(m.randomNormal(new Shape(1, 3, 16, 16))).get(0);
                check(out, "vae encode", latents, threadDefault);
                check(out, "vae decode", vae.decode(latents), threadDefault);
                Toy2dModel toy = Toy2dModel.train(ToyDatasets.generate("ring", 256, 1), false,
                        Toy2dModel.defaultConfig(3, 1, false), p -> { });
                try (toy) {
                    check(out, "toy training", m.zeros(new Shape(1)), threadDefault);
                    toy.sample(Samplers.create("euler"), 8, 4, 1, null, 1f, 0);
                    check(out, "toy sampling", m.zeros(new Shape(1)), threadDefault);
                }
                if (!threadDefault) {
                    out.add("a new thread was expected to start with grad mode on");
                }
            }
            return out;
        });
        assertThat(recorded).isEmpty();
    }

    private static void check(List<String> out, String what, NDArray result,
            boolean threadDefault) {
        if (result.hasGradient()) {
            out.add(what + ": the output records gradients");
        }
        if (GradMode.isEnabled() != threadDefault) {
            out.add(what + ": the thread's grad mode was not restored");
        }
    }

    @Test
    void anInterruptStopsTheRunAtTheStepAndKeepsTheInterruptStatus() throws Exception {
        int before = NativeArrays.live();
        List<Integer> steps = new ArrayList<>();
        Object[] outcome = onNewThread(() -> {
            try {
                pipeline.generate(request().listener(e -> {
                    steps.add(e.stepIndex());
                    if (e.stepIndex() == 2) {
                        Thread.currentThread().interrupt();
                    }
                    return true;
                }).build());
                return new Object[] {"finished", Thread.currentThread().isInterrupted()};
            } catch (GenerationCancelledException e) {
                return new Object[] {e, Thread.currentThread().isInterrupted()};
            }
        });
        assertThat(outcome[0]).isInstanceOf(GenerationCancelledException.class);
        GenerationCancelledException e = (GenerationCancelledException) outcome[0];
        assertThat(e.step()).isEqualTo(2);
        assertThat(e.interrupted()).isTrue();
        assertThat(e.getMessage()).contains("interrupted");
        assertThat(outcome[1]).as("interrupt status kept").isEqualTo(true);
        assertThat(steps).containsExactly(0, 1, 2);
        assertThat(NativeArrays.live()).isEqualTo(before);
    }

    @Test
    void anInterruptFromAnotherThreadCancelsAndAnInterruptedCallDoesNotStart()
            throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch interrupted = new CountDownLatch(1);
        AtomicReference<Object> outcome = new AtomicReference<>();
        Thread worker = new Thread(() -> {
            try {
                pipeline.generate(request().steps(40).listener(ev -> {
                    running.countDown();
                    if (ev.stepIndex() == 0) {
                        try {
                            interrupted.await(); // returns at once if interrupted meanwhile
                        } catch (InterruptedException ie) {
                            Thread.currentThread().interrupt();
                        }
                    }
                    return true;
                }).build());
                outcome.set("finished");
            } catch (Throwable t) {
                outcome.set(new Object[] {t, Thread.currentThread().isInterrupted()});
            }
        });
        worker.start();
        assertThat(running.await(60, TimeUnit.SECONDS)).isTrue();
        worker.interrupt();
        worker.join(60_000);
        assertThat(outcome.get()).isInstanceOf(Object[].class);
        Object[] o = (Object[]) outcome.get();
        assertThat(o[0]).isInstanceOf(GenerationCancelledException.class);
        assertThat(((GenerationCancelledException) o[0]).step()).isZero();
        assertThat(o[1]).isEqualTo(true);

        Object[] early = onNewThread(() -> {
            Thread.currentThread().interrupt();
            try {
                pipeline.generate(request().build());
                return new Object[] {"finished", false};
            } catch (GenerationCancelledException e) {
                return new Object[] {e, Thread.currentThread().isInterrupted()};
            }
        });
        assertThat(early[0]).isInstanceOf(GenerationCancelledException.class);
        assertThat(((GenerationCancelledException) early[0]).step()).isEqualTo(-1);
        assertThat(early[1]).isEqualTo(true);
    }

    @Test
    void closingThePipelineFromItsOwnListenerFailsFastInsteadOfHanging() throws Exception {
        DiffusionPipeline p = DiffusionPipeline.load(TinyPipelines.textToImage(),
                PipelineOptions.defaults());
        CompletableFuture<Throwable> failure = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                p.generate(request().listener(e -> {
                    p.close();
                    return true;
                }).build());
                failure.complete(null);
            } catch (Throwable e) {
                failure.complete(e);
            }
        }, "closing-listener");
        t.setDaemon(true); // if it deadlocks, it must not keep the test JVM alive
        t.start();
        Throwable e;
        try {
            e = failure.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.TimeoutException timeout) {
            // Deadlocked: leave the pipeline open, closing it would hang this thread too.
            throw new AssertionError("generate() with a listener calling close() hung", timeout);
        }
        assertThat(e).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("close()").hasMessageContaining("return false");
        // Not closed by the failed attempt: it still generates, and closes normally.
        assertThat(p.generate(request().build()).images()).hasSize(1);
        p.close();
        assertThatThrownBy(() -> p.generate(request().build()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void eventArraysFailWithAnExceptionOutsideTheirCallback() throws Exception {
        AtomicReference<StepEvent> kept = new AtomicReference<>();
        AtomicReference<NDArray> keptArray = new AtomicReference<>();
        AtomicReference<NDArray> keptDerived = new AtomicReference<>();
        List<Throwable> otherThread = new ArrayList<>();
        List<float[]> copies = new ArrayList<>();
        try (NDManager mine = NDManager.newBaseManager("PyTorch")) {
            List<NDArray> ownCopies = new ArrayList<>();
            pipeline.generate(request().listener(e -> {
                kept.set(e);
                keptArray.set(e.denoised());
                keptDerived.set(e.x().mul(2));
                copies.add(e.xValues());
                ownCopies.add(e.copyDenoised(mine));
                assertThat(e.xValues()).containsExactly(e.x().toFloatArray());
                assertThatThrownBy(() -> e.x().close())
                        .isInstanceOf(UnsupportedOperationException.class);
                Thread t = new Thread(() -> {
                    try {
                        e.denoised().toFloatArray();
                    } catch (Throwable x) {
                        otherThread.add(x);
                    }
                });
                t.start();
                try {
                    t.join();
                } catch (InterruptedException ie) {
                    throw new AssertionError(ie);
                }
                return true;
            }).build());
            assertThat(otherThread).hasSize(6).allMatch(x -> x instanceof IllegalStateException
                    && x.getMessage().contains("thread"));
            assertThatThrownBy(() -> keptArray.get().toFloatArray())
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("after onStep returned");
            assertThatThrownBy(() -> keptDerived.get().add(1))
                    .isInstanceOf(IllegalStateException.class);
            assertThatThrownBy(() -> kept.get().xValues())
                    .isInstanceOf(IllegalStateException.class);
            assertThat(copies).hasSize(6).allMatch(c -> c.length == 4 * 8 * 8);
            // The copies on the caller's manager stay valid, on any thread.
            float[] last = onNewThread(() -> ownCopies.get(5).toFloatArray());
            assertThat(last).hasSize(4 * 8 * 8);
        }
    }

    @Test
    void eventsAndResultsPrintShortText() {
        List<String> texts = new ArrayList<>();
        GenerationResult r = pipeline.generate(request().previewEvery(1).numImages(2)
                .listener(e -> {
                    texts.add(e.toString());
                    return true;
                }).build());
        assertThat(texts).hasSize(6).allMatch(t -> t.length() < 120 && !t.contains("\n"));
        assertThat(texts.get(0)).contains("step 1/6").contains("(2, 4, 8, 8)");
        String result = r.toString();
        assertThat(result).hasSizeLessThan(600).doesNotContain("\n").contains("2 images")
                .contains(String.valueOf(r.images().get(0).seed().getAsLong()));
        assertThat(new StepEvent(0, 3, 2f, 1f, null, null).toString())
                .isEqualTo("StepEvent[step 1/3, sigma 2.000 -> 1.000]");
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            Batch b = new Batch(m.zeros(new Shape(2, 3, 4, 4)),
                    m.zeros(new Shape(2), DataType.INT32));
            assertThat(b.toString())
                    .isEqualTo("Batch[x (2, 3, 4, 4) float32, condition (2) int32]");
        }
    }

    @Test
    void anOverflowFromAHugeGuidanceScaleNamesTheScale() {
        assertThatThrownBy(() -> pipeline.generate(request().guidanceScale(1e30).build()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("NaN or infinite")
                .hasMessageContaining("guidance scale 1.00e+30")
                .hasMessageNotContaining("weights may be corrupt");
    }
}
