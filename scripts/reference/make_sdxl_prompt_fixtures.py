#!/usr/bin/env python3
"""Builds the prompt fixtures of jdiffusion's SdxlParityTest: clip skip, prompt_2 /
negative_prompt_2 and a weighted prompt on the small SDXL model of make_sdxl_fixtures.py.

It rebuilds that model exactly as make_sdxl_fixtures.py does (same seed, same order), checks
that its weights equal the committed folder's bit for bit, and writes only two new files there,
sdxl/prompts.safetensors and sdxl/prompt-cases.json; reference.safetensors and cases.json are
left as they are.

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \\
      /usr/bin/python3 scripts/reference/make_sdxl_prompt_fixtures.py \\
      diffusion-djl/src/test/resources/reference

What diffusers v0.27.2's StableDiffusionXLPipeline.encode_prompt does, restated:
- clip_skip k: both encoders hand on hidden_states[-(k + 2)]; the pooled output (text_embeds)
  is unchanged. diffusers applies clip_skip to the prompt only and encodes a negative prompt
  with hidden_states[-2]; jdiffusion (like AUTOMATIC1111, and like its SD 1.x path) applies it
  to the negative prompt too, so the runs with a non-empty negative prompt pass negative
  embeddings computed with the clip skip. With an empty negative prompt diffusers zeros it
  (force_zeros_for_empty_prompt) and the run is exactly diffusers'.
- prompt_2: encoder 2 reads prompt_2 (prompt_2 or prompt), encoder 1 the prompt; the pooled
  output is encoder 2's, so of prompt_2. negative_prompt_2 likewise. diffusers zeros the
  negative side when negative_prompt is None, whatever negative_prompt_2 is; jdiffusion zeros
  it only when both are empty, which is diffusers called with negative_prompt="" (then never
  zeroed): the run "negative '' + negative_prompt_2" is that call.
- A weighted prompt as AUTOMATIC1111 reads it for SDXL: each encoder's states multiplied by the
  token weights, then scaled back to the unweighted mean (per encoder, per prompt); the pooled
  output unweighted. "a (cat:1.3) face" has the tokens of "a cat face", "cat" at position 2.
- A long prompt as AUTOMATIC1111 reads it: LONG has 100 tokens and no comma, so chunks of 75
  and 25 tokens, each wrapped in start/end tokens and padded to 77, encoded on its own (with its
  weights) and joined along the sequence (154 tokens); the pooled output is the first chunk's.
  Its runs pass these 154-token embeddings to diffusers; the negative side is diffusers'
  zeros_like (empty negative) or "red apple" followed by the empty prompt's chunk (jdiffusion
  pads the shorter side with the empty prompt, as AUTOMATIC1111's pad_cond_uncond does).
"""

import os
import sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import \
    StableDiffusionXLPipeline
from safetensors.torch import load_file, save_file

import make_fixtures as mf
import make_sdxl_fixtures as mx

torch.set_grad_enabled(False)

PROMPT = mx.PROMPT
PROMPT2 = "blue sky"
NEGATIVE = mx.NEGATIVE
NEGATIVE2 = "green tree"
CLIP_SKIP = 1
# 100 one-token words ("a", "cat", "face", "red"); "cat" of the 97th word weighted 1.3.
LONG_WORDS = " ".join(["a cat face red cat"] * 19) + " a cat face red cat"
LONG = " ".join(["a cat face red cat"] * 19) + " a (cat:1.3) face red cat"
LONG_WEIGHTS = {96: 1.3}  # token index (0-based, without the start token) -> weight


def rebuild(folder):
    """make_sdxl_fixtures.main's model, checked against the committed files."""
    torch.manual_seed(5)
    tok1 = mf.Tokenizer("<|endoftext|>")
    tok2 = mf.Tokenizer("!")
    text1 = mx.ClipTextStates(len(tok1.vocab), **mx.TEXT1).eval()
    text2 = mx.ClipTextStates(len(tok2.vocab), projection=mx.PROJECTION, **mx.TEXT2).eval()
    unet = UNet2DConditionModel(**mx.UNET).eval()
    vae = AutoencoderKL(**mx.VAE).eval()
    for sub, state in (("text_encoder/model.safetensors", text1.state()),
                       ("text_encoder_2/model.safetensors", text2.state()),
                       ("unet/diffusion_pytorch_model.safetensors", unet.state_dict()),
                       ("vae/diffusion_pytorch_model.safetensors", vae.state_dict())):
        stored = load_file(os.path.join(folder, sub))
        checked = [k for k in state if k in stored]
        assert len(checked) == len(stored), (sub, sorted(set(stored) - set(checked)))
        for k in checked:
            assert torch.equal(stored[k], state[k].to(stored[k].dtype)), (sub, k)
    return tok1, text1, tok2, text2, unet, vae


def side(tok, text, prompt, skip, weights=None):
    """One encoder: ids, hidden_states[-(skip + 2)] (weighted, mean restored), pooled."""
    ids = torch.tensor([tok.ids(prompt)])
    z = text.states(ids)[-(skip + 2)]
    if weights is not None:
        w = torch.ones(1, ids.shape[1], 1)
        for at, value in weights.items():
            w[0, at, 0] = value
        mean = z.mean()
        z = z * w
        z = z * (mean / z.mean())
    pooled = text.pooled(ids) if text.projection is not None else None
    return z, pooled


def encode(m, prompt, prompt2=None, skip=0, weights=None):
    """(encoder_hidden_states, text_embeds) as encode_prompt makes them."""
    tok1, text1, tok2, text2 = m
    z1, _ = side(tok1, text1, prompt, skip, weights)
    z2, pooled = side(tok2, text2, prompt2 or prompt, skip, weights)
    return torch.cat([z1, z2], dim=-1), pooled


def encode_long(m, words, weights):
    """AUTOMATIC1111's chunks of 75 tokens (no comma in the text), both encoders."""
    tok1, text1, tok2, text2 = m
    tokens1 = tok1.ids(words, length=1000)[1:]
    tokens1 = tokens1[:tokens1.index(tok1.vocab["<|endoftext|>"])]
    parts = []
    pooled = None
    for start in range(0, len(tokens1), 75):
        chunk = " ".join(words.split()[start:start + 75])  # one token per word
        w = {at - start + 1: v for at, v in weights.items() if start <= at < start + 75}
        z1, _ = side(tok1, text1, chunk, 0, w or None)
        z2, p = side(tok2, text2, chunk, 0, w or None)
        parts.append(torch.cat([z1, z2], dim=-1))
        pooled = p if pooled is None else pooled
    return torch.cat(parts, dim=1), pooled


def cases():
    """(key, sampler, guidance, images, clip skip, prompt_2, negative, negative_2)."""
    return [
        ("prompt.0", "euler", mx.GUIDANCE, 1, CLIP_SKIP, None, "", None),
        ("prompt.1", "euler", mx.GUIDANCE, 1, CLIP_SKIP, None, NEGATIVE, None),
        ("prompt.2", "dpmpp_2m", mx.GUIDANCE, 1, 0, PROMPT2, "", None),
        ("prompt.3", "euler", mx.GUIDANCE, 1, 0, PROMPT2, NEGATIVE, NEGATIVE2),
        ("prompt.4", "euler", mx.GUIDANCE, 1, 0, None, "", NEGATIVE2),
        ("prompt.5", "euler_a", mx.GUIDANCE, 2, CLIP_SKIP, PROMPT2, NEGATIVE, NEGATIVE2),
        ("prompt.6", "euler", mx.GUIDANCE, 1, 0, None, "", None),
        ("prompt.7", "dpmpp_2m", mx.GUIDANCE, 1, 0, None, NEGATIVE, None),
    ]


def main(out):
    folder = os.path.join(out, mx.NAME)
    tok1, text1, tok2, text2, unet, vae = rebuild(folder)
    m = (tok1, text1, tok2, text2)
    ref = {}
    for key, prompt in (("prompt", PROMPT), ("negative", NEGATIVE), ("empty", "")):
        context, pooled = encode(m, prompt, skip=CLIP_SKIP)
        ref["clipskip1.context." + key] = context
        ref["clipskip1.pooled." + key] = pooled
        assert torch.equal(pooled, encode(m, prompt)[1]), "clip skip leaves the pooled output"
    for key, (a, b) in (("prompt", (PROMPT, PROMPT2)), ("negative", (NEGATIVE, NEGATIVE2))):
        context, pooled = encode(m, a, b)
        ref["pair.context." + key] = context
        ref["pair.pooled." + key] = pooled
    context, pooled = encode(m, PROMPT, weights={2: 1.3})
    ref["weighted.context"] = context
    ref["weighted.pooled"] = pooled
    assert len(LONG_WORDS.split()) == 100
    long_cond = encode_long(m, LONG_WORDS, LONG_WEIGHTS)
    assert long_cond[0].shape == (1, 154, mx.UNET["cross_attention_dim"])
    ref["long.context"], ref["long.pooled"] = long_cond
    empty_chunk = encode(m, "")[0]

    runs = []
    for key, sampler, guidance, n, skip, prompt2, negative, negative2 in cases():
        seed = mf.SEED_ONE if n == 1 else mf.SEED_TWO
        sched = mf.scheduler_for(sampler, dict(mx.SCHEDULER), None)
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=None, text_encoder_2=None,
                                         tokenizer=None, tokenizer_2=None, unet=unet,
                                         scheduler=sched, force_zeros_for_empty_prompt=True,
                                         add_watermarker=False)
        pipe.set_progress_bar_config(disable=True)
        long = key in ("prompt.6", "prompt.7")
        prompt = LONG if long else PROMPT
        cond, pooled = long_cond if long else encode(m, PROMPT, prompt2, skip)
        kw = dict(prompt_embeds=cond, pooled_prompt_embeds=pooled)
        if negative or negative2:
            u, up = encode(m, negative, negative2, skip)
            if long:
                u = torch.cat([u, empty_chunk], dim=1)
            kw.update(negative_prompt_embeds=u, negative_pooled_prompt_embeds=up)
        gen = [torch.Generator().manual_seed(seed + k) for k in range(n)]
        images = pipe(height=mx.SIZE, width=mx.SIZE, num_inference_steps=mx.STEPS,
                      guidance_scale=guidance, num_images_per_prompt=n, generator=gen,
                      output_type="np", **kw).images
        ref[key] = mf.as_u8(images)
        runs.append(dict(key=key, sampler=sampler, guidance=guidance, images=n, seed=seed,
                         steps=mx.STEPS, prompt=prompt, prompt_2=prompt2, clip_skip=skip,
                         negative_prompt=negative, negative_prompt_2=negative2))
        print(key, sampler, n, skip, repr(prompt2), repr(negative), repr(negative2), flush=True)

    save_file({k: (v.half() if k.startswith("prompt.") else v.float()).detach().contiguous()
               for k, v in ref.items()}, os.path.join(folder, "prompts.safetensors"))
    mf.write_json(os.path.join(folder, "prompt-cases.json"), {"size": mx.SIZE, "cases": runs})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
