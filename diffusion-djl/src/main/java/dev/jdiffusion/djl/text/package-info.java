/**
 * The CLIP text side of Stable Diffusion: the byte-level BPE tokenizer ({@link
 * dev.jdiffusion.djl.text.ClipTokenizer}), a trainer for new vocabularies in the same format
 * ({@link dev.jdiffusion.djl.text.BpeTrainer}), the text transformer as a DJL block ({@link
 * dev.jdiffusion.djl.text.ClipTextModel}, parameters named as transformers'
 * {@code CLIPTextModel}) and the {@link dev.jdiffusion.api.Conditioner} that joins them ({@link
 * dev.jdiffusion.djl.text.ClipConditioner}).
 */
package dev.jdiffusion.djl.text;
