package dev.jdiffusion.djl.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import java.util.Arrays;
import java.util.Locale;

/**
 * Forward latency of UNets with random weights (not a unit test). Usage: {@code UNetLatency
 * small|sd15 [runs]}. "small": block_out_channels (64, 128, 128), layers_per_block 1, 32×32,
 * batch 2; "sd15": Stable Diffusion 1.5's UNet at 64×64 latents, batch 1, text length 77.
 * Prints init time, then the median of {@code runs} forwards after one warm-up.
 */
public final class UNetLatency {

    private UNetLatency() {}

    static final String SMALL = """
            {"block_out_channels": [64, 128, 128], "layers_per_block": 1, "norm_num_groups": 32,
             "cross_attention_dim": 64, "attention_head_dim": 4, "in_channels": 4,
             "out_channels": 4,
             "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
             "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]}
            """;

    static final String SD15 = """
            {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2,
             "attention_head_dim": 8, "cross_attention_dim": 768, "norm_num_groups": 32}
            """;

    public static void main(String[] args) {
        String which = args.length > 0 ? args[0] : "small";
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        boolean sd = which.equals("sd15");
        UNet2DConditionConfig config = UNet2DConditionConfig.fromJson(sd ? SD15 : SMALL);
        int batch = sd ? 1 : 2;
        int size = sd ? 64 : 32;
        int tokens = sd ? 77 : 8;
        int width = config.crossAttentionDim().get(0);
        try (NDManager base = NDManager.newBaseManager()) {
            UNet2DConditionModel unet = new UNet2DConditionModel(config);
            Engine.getInstance().setRandomSeed(0);
            long t0 = System.nanoTime();
            unet.initialize(base, DataType.FLOAT32);
            double initS = (System.nanoTime() - t0) / 1e9;
            long params = unet.getParameters().values().stream()
                    .mapToLong(p -> p.getArray().size()).sum();
            System.out.printf(Locale.ROOT, "%s: %,d parameters, init %.1f s, device %s%n",
                    which, params, initS, base.getDevice());
            double[] ms = new double[runs];
            for (int i = -1; i < runs; i++) {
                try (NDManager m = base.newSubManager()) {
                    NDArray x = m.randomNormal(new Shape(batch, 4, size, size));
                    NDArray t = m.create(new float[batch]).add(500f);
                    NDArray ctx = m.randomNormal(new Shape(batch, tokens, width));
                    long s = System.nanoTime();
                    NDArray y = unet.forward(new ParameterStore(m, false), new NDList(x, t, ctx),
                            false).singletonOrThrow();
                    y.toFloatArray(); // wait for the result
                    if (i >= 0) {
                        ms[i] = (System.nanoTime() - s) / 1e6;
                    }
                }
            }
            Arrays.sort(ms);
            System.out.printf(Locale.ROOT, "%s forward batch %d at %dx%d: median %.1f ms, "
                    + "min %.1f, max %.1f (%d runs)%n", which, batch, size, size,
                    ms[runs / 2], ms[0], ms[runs - 1], runs);
        }
    }
}
