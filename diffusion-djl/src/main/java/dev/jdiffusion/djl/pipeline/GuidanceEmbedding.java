package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The guidance-scale embedding of LCM-distilled UNets (diffusers' {@code
 * get_guidance_scale_embedding}, after Imagen/VDM's sinusoidal embedding): for w = guidance
 * scale − 1 (the Imagen form of the scale that diffusers' pipelines use) and half = dim / 2, the
 * row [sin(1000·w·f<sub>i</sub>), cos(1000·w·f<sub>i</sub>)] with f<sub>i</sub> = exp(−i·ln(10000)
 * / (half − 1)), zero-padded to an odd width. Computed in float32 as diffusers does.
 */
final class GuidanceEmbedding {

    private GuidanceEmbedding() {}

    /**
     * The embedding of one scale, repeated for a batch.
     *
     * @param manager where the array is created
     * @param w the scale in Imagen form (guidance scale − 1)
     * @param batch the batch size N
     * @param dim the width, ≥ 4
     * @return (N, dim) float32
     * @throws IllegalArgumentException if {@code dim} &lt; 4
     */
    static NDArray of(NDManager manager, double w, int batch, int dim) {
        if (dim < 4) {
            throw new IllegalArgumentException("the guidance-scale embedding needs a width of at"
                    + " least 4 (time_cond_proj_dim is " + dim + ")");
        }
        int half = dim / 2;
        // diffusers: log(tensor(10000.0)) / (half − 1), a float32 division
        float step = (float) Math.log(10000) / (float) (half - 1);
        try (NDManager tmp = manager.newSubManager()) {
            // float32 as in diffusers; the engine's exp keeps the frequencies bit-equal to
            // torch's, which matters at arguments of several thousand radians.
            NDArray freqs = tmp.arange(0f, (float) half, 1f, DataType.FLOAT32)
                    .mul(-step).exp(); // (half)
            NDArray args = freqs.mul((float) w * 1000f).reshape(1, half); // (1, half)
            NDArray row = args.sin().concat(args.cos(), 1); // (1, 2·half)
            if (dim % 2 == 1) {
                row = row.pad(new Shape(0, 1), 0);
            }
            NDArray out = row.repeat(0, batch); // (N, dim)
            out.attach(manager);
            return out;
        }
    }
}
