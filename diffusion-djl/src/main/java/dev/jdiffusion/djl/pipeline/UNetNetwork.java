package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import dev.jdiffusion.djl.nn.UNet2DConditionConfig;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.weights.WeightOverlay;

/**
 * A {@link UNet2DConditionModel} as the pipeline's {@link NoiseNetwork}. Thread-safe.
 *
 * <p>The conditioning list is unpacked by what the UNet's configuration needs, so the pipeline
 * passes it along without knowing the model family:
 * <ul>
 *   <li>text models: {@code [encoder_hidden_states]};</li>
 *   <li>class-conditional models: {@code [class_labels]};</li>
 *   <li>SDXL ({@code addition_embed_type "text_time"}): {@code [encoder_hidden_states,
 *       text_embeds]} or {@code [encoder_hidden_states, text_embeds, time_ids (N, K)]}. Without
 *       time_ids, diffusers' defaults are used: original size = target size = the image being
 *       generated (the sample's latent size × the VAE factor), crop top-left (0, 0), i.e.
 *       (H, W, 0, 0, H, W).</li>
 *   <li>guidance-embedded (LCM-distilled, {@code time_cond_proj_dim}) models: the guidance
 *       embedding {@code timestep_cond} (N, time_cond_proj_dim) appended last.</li>
 * </ul>
 */
final class UNetNetwork implements NoiseNetwork {

    private final UNet2DConditionModel unet;
    private final NDManager weights;
    private final WeightOverlay overlay;
    private final int pixelsPerLatent;

    /**
     * A UNet whose samples are images themselves or that takes no time ids.
     *
     * @param unet the UNet
     * @param weights the manager of its weights
     */
    UNetNetwork(UNet2DConditionModel unet, NDManager weights) {
        this(unet, weights, 1);
    }

    /**
     * A UNet on latents of a VAE.
     *
     * @param unet the UNet
     * @param weights the manager of its weights
     * @param pixelsPerLatent the VAE's downsampling factor (1 without a VAE), which turns the
     *     latent size into the image size of SDXL's default time ids
     */
    UNetNetwork(UNet2DConditionModel unet, NDManager weights, int pixelsPerLatent) {
        this(unet, weights, pixelsPerLatent, WeightOverlay.none());
    }

    private UNetNetwork(UNet2DConditionModel unet, NDManager weights, int pixelsPerLatent,
            WeightOverlay overlay) {
        this.unet = unet;
        this.weights = weights;
        this.pixelsPerLatent = pixelsPerLatent;
        this.overlay = overlay;
    }

    /** The same UNet with some weights replaced for its forward passes. */
    UNetNetwork withOverlay(WeightOverlay replaced) {
        return new UNetNetwork(unet, weights, pixelsPerLatent, replaced);
    }

    /** The UNet block (its parameters are shared with every overlay). */
    UNet2DConditionModel unet() {
        return unet;
    }

    @Override
    public NDArray predict(NDArray scaledX, NDArray timesteps, NDList condition) {
        UNet2DConditionConfig c = unet.config();
        NDArray context = null;
        NDArray labels = null;
        NDArray textEmbeds = null;
        NDArray timeIds = null;
        if (c.usesCrossAttention()) {
            context = condition.get(0);
        } else if (c.numClassEmbeds() != null) {
            labels = condition.get(0);
        }
        // A guidance-embedded UNet's scale embedding comes last (see guidanceEmbeddingDim).
        NDArray timestepCond = c.timeCondProjDim() != null
                ? condition.get(condition.size() - 1) : null;
        int parts = condition.size() - (timestepCond != null ? 1 : 0);
        if (c.textTime() != null) {
            if (parts < 2) {
                throw new IllegalArgumentException("this UNet has SDXL's added conditioning"
                        + " (addition_embed_type \"text_time\"): the conditioner must give"
                        + " [encoder_hidden_states, text_embeds(, time_ids)], got "
                        + parts + " array(s); use SdxlConditioner");
            }
            textEmbeds = condition.get(1);
            timeIds = parts > 2 ? condition.get(2) : defaultTimeIds(scaledX);
        }
        ParameterStore ps = overlay.store(weights);
        return unet.predict(ps, scaledX, timesteps, context, labels, textEmbeds, timeIds,
                timestepCond, false);
    }

    /** (N, 6): (H, W, 0, 0, H, W) of the image the sample decodes to. */
    private NDArray defaultTimeIds(NDArray scaledX) {
        Shape s = scaledX.getShape();
        float h = s.get(2) * pixelsPerLatent;
        float w = s.get(3) * pixelsPerLatent;
        NDArray one = scaledX.getManager().create(new float[] {h, w, 0, 0, h, w}, new Shape(1, 6))
                .toDevice(scaledX.getDevice(), false);
        return one.repeat(0, s.get(0)).toType(DataType.FLOAT32, false);
    }

    @Override
    public int guidanceEmbeddingDim() {
        Integer dim = unet.config().timeCondProjDim();
        return dim == null ? 0 : dim;
    }

    @Override
    public int inChannels() {
        return unet.config().inChannels();
    }

    @Override
    public int outChannels() {
        return unet.config().outChannels();
    }

    @Override
    public int sizeMultiple() {
        return unet.config().downsampleFactor();
    }
}
