package dev.jdiffusion.djl.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import dev.jdiffusion.api.Conditioner;
import dev.jdiffusion.api.GenerationRequest;
import dev.jdiffusion.djl.text.ClipConditioner;
import dev.jdiffusion.djl.text.PromptSyntax;
import dev.jdiffusion.djl.text.SdxlConditioner;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A request's text conditioning: the model's conditioner with the request's clip skip, prompt
 * syntax and (SDXL) second prompts, and the guided pair [uncond; cond] with the shorter side
 * padded by encodings of the empty prompt (one empty 77-token chunk each; zeros for SDXL's
 * all-zero empty negative prompt), as AUTOMATIC1111 pads with its {@code pad_cond_uncond}
 * option, so that both sides have the same length.
 */
final class TextConditioning {

    private TextConditioning() {}

    /**
     * The conditioner a request uses, its prompts checked (parsed and tokenized) before any
     * native work.
     *
     * @param prompt the request's prompt as it is encoded (a LoRA pipeline's tags removed)
     *
     * @throws IllegalArgumentException for a clip skip out of range, an unknown syntax, a
     *     prompt that cannot be read or is too long, or second prompts for a model with one
     *     text encoder
     */
    static Conditioner forRequest(Conditioner base, GenerationRequest r, String prompt) {
        boolean second = r.prompt2() != null || r.negativePrompt2() != null;
        if (base instanceof SdxlConditioner sdxl) {
            return forRequest(sdxl, r, prompt);
        }
        if (!(base instanceof ClipConditioner clip)) {
            if (r.clipSkip().isPresent() || r.promptSyntax() != null || second) {
                throw new IllegalArgumentException("clipSkip, promptSyntax, prompt2 and"
                        + " negativePrompt2 apply to models with CLIP text encoders; this model"
                        + " has none");
            }
            return base;
        }
        if (second) {
            throw new IllegalArgumentException("prompt2 and negativePrompt2 are for a model's"
                    + " second text encoder (SDXL's text_encoder_2); this model has one text"
                    + " encoder: put the text in prompt / negativePrompt");
        }
        ClipConditioner c = clip;
        if (r.clipSkip().isPresent()) {
            c = c.withClipSkip(r.clipSkip().getAsInt());
        }
        if (r.promptSyntax() != null) {
            c = c.withSyntax(PromptSyntax.of(r.promptSyntax()));
        }
        c.chunkCount(prompt);
        c.chunkCount(r.negativePrompt());
        return c;
    }

    private static Conditioner forRequest(SdxlConditioner sdxl, GenerationRequest r,
            String prompt) {
        SdxlConditioner c = sdxl;
        if (r.clipSkip().isPresent()) {
            c = c.withClipSkip(r.clipSkip().getAsInt());
        }
        if (r.promptSyntax() != null) {
            c = c.withSyntax(PromptSyntax.of(r.promptSyntax()));
        }
        c = c.withSecondPrompts(r.prompt2(), r.negativePrompt2());
        for (String p : new String[] {prompt, r.negativePrompt(), r.prompt2(),
                r.negativePrompt2()}) {
            if (p != null) {
                c.chunkCount(p);
            }
        }
        return c;
    }

    /**
     * The PNG parameters' settings of a request's second prompts ({@code Prompt 2}, {@code
     * Negative prompt 2}, where given), followed by {@code more}.
     */
    static Map<String, String> recorded(GenerationRequest r, Map<String, String> more) {
        if (r.prompt2() == null && r.negativePrompt2() == null) {
            return more;
        }
        Map<String, String> out = new LinkedHashMap<>();
        if (r.prompt2() != null) {
            out.put("Prompt 2", r.prompt2());
        }
        if (r.negativePrompt2() != null) {
            out.put("Negative prompt 2", r.negativePrompt2());
        }
        out.putAll(more);
        return out;
    }

    /** The clip skip a request's conditioner uses (0 without a CLIP text encoder). */
    static int clipSkip(Conditioner c) {
        if (c instanceof SdxlConditioner sdxl) {
            return sdxl.clipSkip();
        }
        return c instanceof ClipConditioner clip ? clip.clipSkip() : 0;
    }

    /**
     * Encodes a request's prompts for n images of width × height pixels: {@code [uncond;
     * cond]} along the batch when guided, the prompt alone otherwise; an SDXL conditioner's
     * time ids per side are appended as a third entry.
     */
    static NDList encode(Conditioner c, NDManager rm, String prompt, String negative, int n,
            boolean guided, int width, int height) {
        NDList out = encode(c, rm, prompt, negative, n, guided);
        if (c instanceof SdxlConditioner sdxl) {
            NDArray ids = sdxl.timeIds(rm, n, height, width, false);
            out.add(guided ? NDArrays.concat(new NDList(sdxl.timeIds(rm, n, height, width, true),
                    ids), 0) : ids);
        }
        return out;
    }

    /**
     * Encodes a request's prompts for n images: {@code [uncond; cond]} along the batch when
     * guided, the prompt alone otherwise.
     */
    static NDList encode(Conditioner c, NDManager rm, String prompt, String negative, int n,
            boolean guided) {
        NDList cond = c.encode(rm, Collections.nCopies(n, prompt));
        if (!guided) {
            return cond;
        }
        NDList uncond = c.encodeNegative(rm, Collections.nCopies(n, negative));
        NDList out = new NDList();
        NDList empty = null;
        // SDXL's all-zero empty negative stays zeros when padded (diffusers: zeros_like of the
        // prompt's embeddings, whatever their length).
        boolean zeros = c instanceof SdxlConditioner s && s.isZeroNegative(negative);
        for (int i = 0; i < cond.size(); i++) {
            NDArray u = uncond.get(i);
            NDArray k = cond.get(i);
            if (u.getShape().dimension() == 3 && u.getShape().get(1) != k.getShape().get(1)) {
                if (empty == null) {
                    empty = c.unconditional(rm, n);
                }
                NDArray pad = empty.get(i); // (N, 77, D)
                if (u.getShape().get(1) < k.getShape().get(1)) {
                    u = padTo(u, zeros ? pad.zerosLike() : pad, k.getShape().get(1));
                } else {
                    k = padTo(k, pad, u.getShape().get(1));
                }
            }
            out.add(NDArrays.concat(new NDList(u, k), 0));
        }
        return out;
    }

    /** (N, T, D) → (N, length, D) with copies of {@code pad} (N, 77, D) appended. */
    private static NDArray padTo(NDArray z, NDArray pad, long length) {
        NDList parts = new NDList(z);
        long t = z.getShape().get(1);
        while (t < length) {
            parts.add(pad);
            t += pad.getShape().get(1);
        }
        return NDArrays.concat(parts, 1);
    }
}
