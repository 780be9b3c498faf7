package dev.jdiffusion.examples.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;

/**
 * Random inputs of one UNet forward at timestep 500: latents, and text context when the UNet
 * cross-attends. Immutable; the arrays belong to the manager they were made on.
 *
 * @param sample (N, in_channels, size, size) standard normal
 * @param timestep (N) filled with 500
 * @param context (N, textLength, cross_attention_dim) standard normal, or null
 */
record UNetInputs(NDArray sample, NDArray timestep, NDArray context) {

    static UNetInputs random(NDManager m, UNet2DConditionConfig cfg, int batch, int size,
            int textLength) {
        return new UNetInputs(m.randomNormal(new Shape(batch, cfg.inChannels(), size, size)),
                m.full(new Shape(batch), 500f), cfg.usesCrossAttention()
                        ? m.randomNormal(new Shape(batch, textLength,
                                cfg.crossAttentionDim().get(0)))
                        : null);
    }

    /**
     * The same inputs with latents and context in another floating-point type (the timestep
     * stays float32: the UNet casts its embedding to the latents' type).
     */
    UNetInputs toType(DataType type) {
        if (sample.getDataType() == type) {
            return this;
        }
        return new UNetInputs(sample.toType(type, false), timestep,
                context == null ? null : context.toType(type, false));
    }

    /** The UNet's noise prediction for these inputs, without class labels, in inference. */
    NDArray predict(UNet2DConditionModel unet, ParameterStore ps) {
        return unet.predict(ps, sample, timestep, context, null, false);
    }
}
