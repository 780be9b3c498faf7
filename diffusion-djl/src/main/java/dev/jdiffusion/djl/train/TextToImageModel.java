package dev.jdiffusion.djl.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.jdiffusion.djl.nn.UNet2DConditionModel;
import dev.jdiffusion.djl.text.ClipTextModel;

/**
 * A text encoder and a UNet trained together, as one block for {@link DiffusionTrainer}: input
 * NDList(VP-scaled sample (N, C, H, W), timestep (N), token ids (N, T)) → NDList(prediction (N,
 * C, H, W)). Its parameters are named {@code text_encoder.*} and {@code unet.*}.
 *
 * <p>Thread-safe for concurrent forwards with separate parameter stores, like its parts.
 */
public final class TextToImageModel extends AbstractBlock {

    private final ClipTextModel textEncoder;
    private final UNet2DConditionModel unet;

    /**
     * Combines the two networks; the text encoder's hidden size must equal the UNet's
     * cross-attention width.
     *
     * @param textEncoder the text encoder
     * @param unet the UNet
     */
    public TextToImageModel(ClipTextModel textEncoder, UNet2DConditionModel unet) {
        int hidden = textEncoder.config().hiddenSize();
        if (!unet.config().usesCrossAttention()
                || unet.config().crossAttentionDim().get(0) != hidden) {
            throw new IllegalArgumentException("the UNet's cross_attention_dim must equal the text"
                    + " encoder's hidden_size (" + hidden + ")");
        }
        this.textEncoder = addChildBlock("text_encoder", textEncoder);
        this.unet = addChildBlock("unet", unet);
    }

    /**
     * The text encoder.
     *
     * @return the text encoder block
     */
    public ClipTextModel textEncoder() {
        return textEncoder;
    }

    /**
     * The UNet.
     *
     * @return the UNet block
     */
    public UNet2DConditionModel unet() {
        return unet;
    }

    @Override
    protected NDList forwardInternal(
            ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDArray t = inputs.get(1);
        NDArray ids = inputs.get(2);
        NDArray context = textEncoder.forward(ps, new NDList(ids), training).singletonOrThrow();
        return new NDList(unet.predict(ps, x, t, context, null, training));
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType,
            Shape... inputShapes) {
        textEncoder.initialize(manager, dataType);
        unet.initialize(manager, dataType);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }
}
