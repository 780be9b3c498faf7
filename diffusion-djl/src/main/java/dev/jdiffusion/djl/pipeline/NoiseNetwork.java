package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;

/**
 * The denoising network of a pipeline as the pipeline calls it: a UNet trained in the
 * variance-preserving form. Implementations are thread-safe.
 */
interface NoiseNetwork {

    /**
     * Runs the network.
     *
     * @param scaledX the VP-scaled sample (N, inChannels, h, w)
     * @param timesteps the training timestep of each batch entry (N)
     * @param condition what the conditioner produced (text embeddings or class indices), batch
     *     size N, or an empty list for an unconditional network; for a network with a {@link
     *     #guidanceEmbeddingDim()}, followed by the guidance-scale embedding (N, that dim)
     * @return the raw prediction (N, outChannels, h, w)
     */
    NDArray predict(NDArray scaledX, NDArray timesteps, NDList condition);

    /**
     * The number of input channels (9 for inpainting UNets).
     *
     * @return C<sub>in</sub>
     */
    int inChannels();

    /**
     * The number of output (latent or pixel) channels.
     *
     * @return C<sub>out</sub>
     */
    int outChannels();

    /**
     * The factor by which the spatial size of a sample must be divisible.
     *
     * @return 2<sup>(number of down blocks − 1)</sup>
     */
    int sizeMultiple();

    /**
     * The width of the guidance-scale embedding the network takes instead of classifier-free
     * guidance (LCM-distilled UNets' {@code time_cond_proj_dim}).
     *
     * @return the width, or 0 if the network takes none
     */
    default int guidanceEmbeddingDim() {
        return 0;
    }
}
