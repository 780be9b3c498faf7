package dev.jdiffusion.examples.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.lora.Lora;
import dev.jdiffusion.djl.lora.LoraMerge;
import dev.jdiffusion.djl.nn.GradMode;
import dev.jdiffusion.djl.nn.ParameterNames;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.safetensors.SafetensorsWriter;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The {@code lora} section: what the thread-safe LoRA design (a derived pipeline owning patched
 * copies of the layers a LoRA touches, {@link dev.jdiffusion.djl.weights.WeightOverlay}) costs
 * against weights merged in place: creation time, extra memory, and the UNet step time with the
 * overlay, with the base weights, and with the LoRA merged into the parameters themselves. A
 * random-weight UNet (SD 1.5 shaped by default) and a random rank-32 kohya LoRA on every
 * attention projection (stored in float16, as LoRAs are shipped).
 */
final class LoraBenchmark {

    static final int RANK = 32;

    private LoraBenchmark() {}

    static List<Result> measure(BenchOptions o, PrintStream out) throws Exception {
        List<Result> results = new ArrayList<>();
        UNet2DConditionConfig cfg = UNet2DConditionConfig.fromJson(o.unetConfig());
        Files.createDirectories(o.work());
        Path file = o.work().resolve("bench-lora-r" + RANK + ".safetensors");
        try (NDManager m = NDManager.newBaseManager(); GradMode noGrad = GradMode.disabled()) {
            UNet2DConditionModel unet = new UNet2DConditionModel(cfg);
            Engine.getInstance().setRandomSeed(0);
            unet.initialize(m, DataType.FLOAT32);
            Map<String, Parameter> params = ParameterNames.of(unet);
            int layers = writeLora(params, m, file);
            out.printf(Locale.ROOT, "UNet %s; LoRA rank %d on %d attention projections, %.1f MB"
                    + " (float16)%n", cfg.blockOutChannels(), RANK, layers,
                    Files.size(file) / 1e6);
            List<Lora> loras = List.of(Lora.of(file, 0.8));

            Timing.Stats create = Timing.time(o.warmup(), o.repeat(), () -> {
                try (NDManager own = m.newSubManager()) {
                    LoraMerge.compute(loras, params, null, own);
                }
            });
            add(results, out, "create derived (read + merge)", create.median(), "s",
                    create.spread() + "; merged in place needs the same merge, once");

            try (NDManager own = m.newSubManager()) {
                LoraMerge.Result r = LoraMerge.compute(loras, params, null, own);
                long bytes = 0;
                long total = 0;
                for (Parameter p : params.values()) {
                    NDArray v = r.unet().get(p);
                    total += p.getArray().size() * 4;
                    if (v != null) {
                        bytes += v.size() * 4;
                    }
                }
                add(results, out, "extra memory of a derived pipeline", bytes / 1e6, "MB",
                        String.format(Locale.ROOT, "%d patched weights = %.1f %% of the UNet's"
                                + " %.0f MB; merged in place: 0 (but the base is gone)",
                                r.unetLayers(), 100.0 * bytes / total, total / 1e6));

                int batch = 2;
                int size = o.latentSize();
                NDArray sample = m.randomNormal(new Shape(batch, cfg.inChannels(), size, size));
                NDArray t = m.full(new Shape(batch), 500f);
                NDArray ehs = m.randomNormal(new Shape(batch, o.textLength(),
                        cfg.crossAttentionDim().get(0)));
                String shape = "batch 2, latents " + size + "²";
                Timing.Stats base = step(o, unet, () -> new ParameterStore(m, false), sample, t,
                        ehs);
                Timing.Stats overlay = step(o, unet, () -> r.unet().store(m), sample, t, ehs);
                // Merged in place: the patched values copied into the parameters themselves.
                Map<Parameter, NDArray> saved = new LinkedHashMap<>();
                for (Parameter p : params.values()) {
                    NDArray v = r.unet().get(p);
                    if (v != null) {
                        NDArray w = p.getArray();
                        saved.put(p, w.duplicate());
                        w.subi(w).addi(v);
                    }
                }
                Timing.Stats merged = step(o, unet, () -> new ParameterStore(m, false), sample,
                        t, ehs);
                saved.forEach((p, w) -> p.getArray().subi(p.getArray()).addi(w));
                add(results, out, "UNet step, base weights", base.median(), "s",
                        shape + "; " + base.spread());
                add(results, out, "UNet step, derived (overlay)", overlay.median(), "s",
                        String.format(Locale.ROOT, "%s; %+.1f %% vs merged; %s", shape,
                                100 * (overlay.median() / merged.median() - 1),
                                overlay.spread()));
                add(results, out, "UNet step, merged in place", merged.median(), "s",
                        shape + "; " + merged.spread());
            }
        }
        return results;
    }

    /** Provides a store per forward pass. */
    private interface Stores {
        ParameterStore get();
    }

    private static Timing.Stats step(BenchOptions o, UNet2DConditionModel unet, Stores stores,
            NDArray sample, NDArray t, NDArray ehs) throws Exception {
        return Timing.time(o.warmup(), o.repeat(), () -> {
            try (NDScope scope = new NDScope()) {
                scope.suppressNotUsedWarning();
                unet.predict(stores.get(), sample, t, ehs, null, false).getFloat(0, 0, 0, 0);
            }
        });
    }

    /** A random kohya LoRA on every attention projection; returns the number of layers. */
    private static int writeLora(Map<String, Parameter> params, NDManager m, Path file)
            throws Exception {
        Map<String, NDArray> tensors = new LinkedHashMap<>();
        int layers = 0;
        try (NDManager tmp = m.newSubManager()) {
            Engine.getInstance().setRandomSeed(1);
            for (Map.Entry<String, Parameter> e : params.entrySet()) {
                String n = e.getKey();
                if (!n.matches(".*\\.attn[12]\\.(to_q|to_k|to_v|to_out\\.0)\\.weight")) {
                    continue;
                }
                Shape w = e.getValue().getArray().getShape();
                String k = "lora_unet_" + n.substring(0, n.length() - 7).replace('.', '_');
                tensors.put(k + ".lora_down.weight",
                        tmp.randomNormal(new Shape(RANK, w.get(1))).mul(0.01f));
                tensors.put(k + ".lora_up.weight",
                        tmp.randomNormal(new Shape(w.get(0), RANK)).mul(0.01f));
                tensors.put(k + ".alpha", tmp.create((float) RANK / 2));
                layers++;
            }
            SafetensorsWriter.write(file, tensors, Map.of("ss_network_dim", "" + RANK),
                    DataType.FLOAT16);
        }
        return layers;
    }

    private static void add(List<Result> results, PrintStream out, String name, double value,
            String unit, String note) {
        results.add(new Result("lora", name, value, unit, note));
        out.printf(Locale.ROOT, "%-40s %10s %-8s %s%n", name, Timing.fmt(value), unit, note);
    }
}
