package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
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
     * @param dim the width, ≥ 1
     * @return (N, dim) float32
     */
    static NDArray of(NDManager manager, double w, int batch, int dim) {
        int half = dim / 2;
        double step = Math.log(10000) / (half - 1);
        float scaled = (float) w * 1000f;
        float[] row = new float[dim];
        for (int i = 0; i < half; i++) {
            float f = (float) Math.exp((float) i * (float) -step);
            float arg = scaled * f;
            row[i] = (float) Math.sin(arg);
            row[half + i] = (float) Math.cos(arg);
        }
        float[] all = new float[batch * dim];
        for (int b = 0; b < batch; b++) {
            System.arraycopy(row, 0, all, b * dim, dim);
        }
        return manager.create(all, new Shape(batch, dim));
    }
}
