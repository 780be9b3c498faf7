package dev.jdiffusion.examples.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.AutoencoderTiny;
import dev.jdiffusion.djl.nn.AutoencoderTinyConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Paired A/B timing of the convolution kernels in one process: the same forward runs with the
 * system property {@code jdiffusion.conv} set to {@code plain} (oneDNN for every convolution,
 * TAESD in the default memory order) and to {@code auto} (im2col + GEMM for large weights on
 * small latents, channels-last TAESD), alternating ABBA so that a drift of the machine's speed
 * (a shared VM's neighbours) falls on both. Reports both medians and the median of the per-pair
 * ratios, which is what a noisy machine can still measure. Not thread-safe.
 */
final class KernelBenchmark {

    /** The property read by {@code dev.jdiffusion.djl.nn.ConvKernels} on every convolution. */
    static final String PROPERTY = "jdiffusion.conv";

    private KernelBenchmark() {}

    /**
     * Measures the SD UNet forward for each batch size and a TAESD decode.
     *
     * @param o the options: {@code unetConfig}, {@code latentSize}, {@code batches}, {@code
     *     textLength}, {@code repeat} (pairs per figure) and {@code warmup}
     * @param out where progress lines go
     * @return the figures
     */
    static List<Result> measure(BenchOptions o, PrintStream out) throws Exception {
        List<Result> results = new ArrayList<>();
        String before = System.getProperty(PROPERTY);
        try {
            UNet2DConditionConfig cfg = UNet2DConditionConfig.fromJson(o.unetConfig());
            int size = o.latentSize();
            try (NDManager m = NDManager.newBaseManager()) {
                UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
                Engine.getInstance().setRandomSeed(0);
                unet.initialize(m, DataType.FLOAT32);
                ParameterStore ps = new ParameterStore(m, false);
                for (int batch : o.batches()) {
                    UNetInputs in = UNetInputs.random(m, cfg, batch, size, o.textLength());
                    results.add(paired(o, out, String.format(Locale.ROOT,
                            "UNet forward batch %d, %d² latents", batch, size), () -> {
                                try (NDScope scope = new NDScope()) {
                                    scope.suppressNotUsedWarning();
                                    in.predict(unet, ps).getFloat(0, 0, 0, 0);
                                }
                            }));
                }
            }
            try (NDManager m = NDManager.newBaseManager()) {
                AutoencoderTiny taesd = new AutoencoderTiny(AutoencoderTinyConfig.fromJson("{}"));
                Engine.getInstance().setRandomSeed(0);
                taesd.initialize(m, DataType.FLOAT32);
                ParameterStore ps = new ParameterStore(m, false);
                NDArray z = m.randomNormal(new Shape(1, 4, size, size));
                results.add(paired(o, out, "TAESD decode to " + size * 8 + "²", () -> {
                    try (NDScope scope = new NDScope()) {
                        scope.suppressNotUsedWarning();
                        taesd.decode(ps, z, false).getFloat(0, 0, 0, 0);
                    }
                }));
            }
        } finally {
            if (before == null) {
                System.clearProperty(PROPERTY);
            } else {
                System.setProperty(PROPERTY, before);
            }
        }
        return results;
    }

    private static Result paired(BenchOptions o, PrintStream out, String name, Timing.Body body)
            throws Exception {
        for (int i = 0; i < o.warmup(); i++) {
            for (String mode : new String[] {"plain", "auto"}) {
                System.setProperty(PROPERTY, mode);
                body.run();
            }
        }
        int pairs = o.repeat();
        double[] plain = new double[pairs];
        double[] auto = new double[pairs];
        double[] ratio = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            boolean plainFirst = i % 2 == 0; // ABBA ...
            for (int k = 0; k < 2; k++) {
                boolean isPlain = (k == 0) == plainFirst;
                System.setProperty(PROPERTY, isPlain ? "plain" : "auto");
                long start = System.nanoTime();
                body.run();
                double s = (System.nanoTime() - start) / 1e9;
                if (isPlain) {
                    plain[i] = s;
                } else {
                    auto[i] = s;
                }
            }
            ratio[i] = plain[i] / auto[i];
        }
        Timing.Stats p = Timing.Stats.of(plain);
        Timing.Stats a = Timing.Stats.of(auto);
        Timing.Stats r = Timing.Stats.of(ratio);
        String note = String.format(Locale.ROOT, "plain %s s (%s–%s), auto %s s (%s–%s); %d"
                + " ABBA pairs; pair ratios %s–%s", Timing.fmt(p.median()), Timing.fmt(p.min()),
                Timing.fmt(p.max()), Timing.fmt(a.median()), Timing.fmt(a.min()),
                Timing.fmt(a.max()), pairs, Timing.fmt(r.min()), Timing.fmt(r.max()));
        out.printf(Locale.ROOT, "%-40s %10s %-8s %s%n", name, Timing.fmt(r.median()), "× faster",
                note);
        return new Result("kernels", name, r.median(), "× faster", note);
    }
}
