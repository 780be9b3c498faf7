package dev.jdiffusion.djl.pipeline;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How a pipeline turns latents into images and images into latents: an optional tiny
 * autoencoder (TAESD) as the final decoder and for previews, tiled VAE encoding and decoding for
 * large images, and the preview decoder.
 *
 * <p>Immutable and thread-safe. Given to {@link DiffusionPipeline#load(Path, PipelineOptions,
 * DecoderOptions)}; the TAESD folder is read and checked when the pipeline loads.
 *
 * @param taesd a TAESD folder in diffusers' layout ({@code config.json} of an {@code
 *     AutoencoderTiny} and {@code diffusion_pytorch_model.safetensors}: {@code madebyollin/taesd}
 *     for SD 1.x/2.x, {@code madebyollin/taesdxl} for SDXL), or null for none
 * @param taesdFinal whether the final images are decoded with the TAESD instead of the VAE
 *     (several times faster, some fine detail lost); needs {@code taesd}
 * @param tiledVae whether the VAE encodes and decodes in overlapping tiles of its {@code
 *     sample_size} (diffusers' {@code enable_tiling}), so that 1024² and larger images fit in
 *     the memory of a 512² one; results differ slightly from untiled ones
 * @param previews how previews are decoded; {@link PreviewDecoder#TAESD} needs {@code taesd}
 */
public record DecoderOptions(Path taesd, boolean taesdFinal, boolean tiledVae,
        PreviewDecoder previews) {

    /**
     * Validates the options.
     *
     * @param taesd see the record component
     * @param taesdFinal see the record component
     * @param tiledVae see the record component
     * @param previews see the record component
     * @throws IllegalArgumentException if TAESD is asked for without a folder
     */
    public DecoderOptions {
        Objects.requireNonNull(previews, "previews");
        if (taesd == null && (taesdFinal || previews == PreviewDecoder.TAESD)) {
            throw new IllegalArgumentException("TAESD decoding (" + (taesdFinal ? "final images"
                    : "previews") + ") needs a TAESD folder: give one with withTaesd(path)");
        }
    }

    /**
     * The VAE for everything, untiled; previews decoded with the VAE (the behaviour without
     * options).
     *
     * @return the default options
     */
    public static DecoderOptions defaults() {
        return new DecoderOptions(null, false, false, PreviewDecoder.VAE);
    }

    /**
     * A TAESD folder used for the final images and for previews.
     *
     * @param folder the TAESD folder
     * @return new options
     */
    public DecoderOptions withTaesd(Path folder) {
        return new DecoderOptions(Objects.requireNonNull(folder, "folder"), true, tiledVae,
                PreviewDecoder.TAESD);
    }

    /**
     * The same options with the final images decoded by the TAESD or by the VAE.
     *
     * @param useTaesd whether the TAESD decodes the final images
     * @return new options
     * @throws IllegalArgumentException if {@code useTaesd} and no TAESD folder is set
     */
    public DecoderOptions withTaesdFinal(boolean useTaesd) {
        return new DecoderOptions(taesd, useTaesd, tiledVae, previews);
    }

    /**
     * The same options with or without tiled VAE encoding and decoding.
     *
     * @param tiled whether the VAE works in tiles
     * @return new options
     */
    public DecoderOptions withTiledVae(boolean tiled) {
        return new DecoderOptions(taesd, taesdFinal, tiled, previews);
    }

    /**
     * The same options with another preview decoder.
     *
     * @param decoder the preview decoder
     * @return new options
     * @throws IllegalArgumentException if {@code decoder} is TAESD and no TAESD folder is set
     */
    public DecoderOptions withPreviews(PreviewDecoder decoder) {
        return new DecoderOptions(taesd, taesdFinal, tiledVae, decoder);
    }
}
