package dev.jdiffusion.djl.nn;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import java.util.Random;

/** Tiny configurations and input helpers shared by the network tests. */
final class TinyModels {

    private TinyModels() {}

    /** Two resolutions (32, 64), 2 groups, 1 layer, cross-attention width 16, 2 heads. */
    static final String UNET = """
            {
              "_class_name": "UNet2DConditionModel",
              "block_out_channels": [32, 64],
              "layers_per_block": 1,
              "norm_num_groups": 2,
              "cross_attention_dim": 16,
              "attention_head_dim": 2,
              "in_channels": 4,
              "out_channels": 4,
              "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
              "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
              "some_future_field": {"ignored": true}
            }
            """;

    /** A class-conditional model without any attention (unconditional on text). */
    static final String UNET_CLASSES = """
            {
              "block_out_channels": [16, 32, 32],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "in_channels": 3,
              "out_channels": 3,
              "down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D"],
              "up_block_types": ["UpBlock2D", "UpBlock2D", "UpBlock2D"],
              "mid_block_type": "UNetMidBlock2D",
              "num_class_embeds": 5
            }
            """;

    static final String VAE = """
            {
              "block_out_channels": [32, 64],
              "layers_per_block": 1,
              "norm_num_groups": 4,
              "latent_channels": 4,
              "scaling_factor": 0.5
            }
            """;

    /** Initialises a block's parameters with the engine seeded, for reproducible weights. */
    static void init(ai.djl.nn.Block block, NDManager manager, long seed) {
        Engine.getInstance().setRandomSeed((int) seed);
        block.initialize(manager, DataType.FLOAT32);
    }

    static NDArray gaussian(NDManager m, long seed, long... shape) {
        Random r = new Random(seed);
        Shape s = new Shape(shape);
        float[] v = new float[(int) s.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return m.create(v, s);
    }

    static ParameterStore store(NDManager m) {
        return new ParameterStore(m, false);
    }

    static boolean allFinite(float[] v) {
        for (float x : v) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs(a[i] - b[i]));
        }
        return d;
    }

    static double std(float[] v) {
        double mean = 0;
        for (float x : v) {
            mean += x;
        }
        mean /= v.length;
        double var = 0;
        for (float x : v) {
            var += (x - mean) * (x - mean);
        }
        return Math.sqrt(var / v.length);
    }
}
