#!/usr/bin/env python3
"""Builds the SDXL reference fixtures of jdiffusion's SdxlParityTest.

A small random-weight SDXL-style model in the diffusers layout (two CLIP text encoders of
different widths, the second with a text projection; a UNet with addition_embed_type
"text_time" and transformer_layers_per_block [1, 2]; a small VAE with SDXL's scaling factor),
and what diffusers v0.27.2 computes with it: both text encoders' penultimate hidden states and
the second one's pooled, projected output; one UNet call with text_embeds and time_ids; and full
StableDiffusionXLPipeline text-to-image runs (several samplers, with and without guidance, with
an empty negative prompt, which force_zeros_for_empty_prompt turns into zeros, and with a
non-empty one), one generator per image as jdiffusion does by default.

Run it as make_fixtures.py is run (same interpreter, same PYTHONPATH; see its docstring):

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_sdxl_fixtures.py \
      diffusion-djl/src/test/resources/reference

It reuses make_fixtures.py's restated CLIP tokenizer and text model. An empty negative prompt
in jdiffusion is diffusers' default negative_prompt=None (the case force_zeros_for_empty_prompt
applies to); a non-empty one is encoded by both encoders and passed as negative embeddings.
"""

import os
import sys

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import \
    StableDiffusionXLPipeline
from safetensors.torch import save_file

import make_fixtures as mf

torch.set_grad_enabled(False)

NAME = "sdxl"
SIZE = mf.SIZE
STEPS = mf.STEPS
PROMPT = mf.PROMPT
NEGATIVE = "red apple"
GUIDANCE = mf.GUIDANCE
PROJECTION = 12
TIME_EMBED = 4
TEXT1 = dict(width=16, mlp=32, layers=3, heads=2, act="quick_gelu")
TEXT2 = dict(width=24, mlp=48, layers=3, heads=3, act="gelu")

UNET = dict(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=[8, 16], norm_num_groups=4,
            cross_attention_dim=TEXT1["width"] + TEXT2["width"], attention_head_dim=[1, 2],
            transformer_layers_per_block=[1, 2], use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=TIME_EMBED,
            projection_class_embeddings_input_dim=PROJECTION + 6 * TIME_EMBED,
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
            up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
VAE = dict(mf.VAE, scaling_factor=0.13025)
SCHEDULER = {  # SDXL base 1.0's scheduler_config.json
    "_class_name": "EulerDiscreteScheduler", "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
    "interpolation_type": "linear", "num_train_timesteps": 1000,
    "prediction_type": "epsilon", "sample_max_value": 1.0, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1, "timestep_spacing": "leading",
    "trained_betas": None, "use_karras_sigmas": False}


class ClipTextStates(mf.ClipText):
    """The restated CLIP text model with transformers' hidden_states (embeddings + each layer,
    no final layer norm) and, with a projection, CLIPTextModelWithProjection's text_embeds:
    the final-layer-normed last state at the EOS position, times text_projection (no bias).
    transformers 4.38 takes that position as argmax(input_ids) when the config's eos_token_id
    is 2 (the legacy value of the released SDXL configs) and as the first eos_token_id
    otherwise."""

    def __init__(self, vocab, projection=None, eos_token_id=2, **kw):
        super().__init__(vocab, **kw)
        self.eos_token_id = eos_token_id
        self.projection = None if projection is None else torch.nn.Linear(
            kw["width"], projection, bias=False)

    def states(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))[None]
        out = [x]
        for layer in self.layers:
            x = x + self.attention(layer, layer.ln1(x))
            x = x + layer.fc2(self.activation(layer.fc1(layer.ln2(x))))
            out.append(x)
        return out

    def pooled(self, ids):
        last = self.final(self.states(ids)[-1])
        if self.eos_token_id == 2:
            at = ids.to(torch.int).argmax(dim=-1)
        else:
            at = (ids.to(torch.int) == self.eos_token_id).int().argmax(dim=-1)
        return self.projection(last[torch.arange(last.shape[0]), at])

    def state(self):
        s = super().state()
        if self.projection is not None:
            s["text_projection.weight"] = self.projection.weight
        return s

    def write(self, folder, tokenizer):
        super().write(folder, tokenizer)
        import json
        path = os.path.join(folder, "config.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg["eos_token_id"] = self.eos_token_id
        if self.projection is not None:
            cfg["architectures"] = ["CLIPTextModelWithProjection"]
            cfg["projection_dim"] = self.projection.out_features
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)


def encode(tok1, text1, tok2, text2, prompt):
    """diffusers' SDXL encode_prompt with clip_skip None: hidden_states[-2] of both encoders
    concatenated, and the second encoder's text_embeds."""
    ids1 = torch.tensor([tok1.ids(prompt)])
    ids2 = torch.tensor([tok2.ids(prompt)])
    context = torch.cat([text1.states(ids1)[-2], text2.states(ids2)[-2]], dim=-1)
    return ids1, ids2, context, text2.pooled(ids2)


def cases():
    """(sampler, guidance, images, negative prompt, steps, spacing or None)."""
    out = []
    for s in ("euler", "dpmpp_2m", "euler_a", "ddim"):
        out += [(s, GUIDANCE, 1, ""), (s, GUIDANCE, 1, NEGATIVE), (s, 1.0, 2, "")]
    out += [("euler", GUIDANCE, 2, NEGATIVE), ("dpmpp_2m", GUIDANCE, 2, "")]
    out = [c + (STEPS, None) for c in out]
    # The SDXL-Turbo recipe (its scheduler config has trailing spacing): 1-4 steps, no guidance.
    out += [("euler_a", 0.0, 1, "", 1, "trailing"), ("euler_a", 0.0, 1, "", 4, "trailing"),
            ("euler", 0.0, 2, "", 2, "trailing")]
    return out


def main(out):
    folder = os.path.join(out, NAME)
    torch.manual_seed(5)
    tok1 = mf.Tokenizer("<|endoftext|>")
    tok2 = mf.Tokenizer("!")
    text1 = ClipTextStates(len(tok1.vocab), **TEXT1).eval()
    text2 = ClipTextStates(len(tok2.vocab), projection=PROJECTION, **TEXT2).eval()
    unet = UNet2DConditionModel(**UNET).eval()
    vae = AutoencoderKL(**VAE).eval()
    tok1.write(os.path.join(folder, "tokenizer"))
    tok2.write(os.path.join(folder, "tokenizer_2"))
    text1.write(os.path.join(folder, "text_encoder"), tok1)
    text2.write(os.path.join(folder, "text_encoder_2"), tok2)
    for sub, model in (("unet", unet), ("vae", vae)):
        model.save_config(os.path.join(folder, sub))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(folder, sub, "diffusion_pytorch_model.safetensors"))
    mf.write_json(os.path.join(folder, "scheduler", "scheduler_config.json"),
                  dict(SCHEDULER, _diffusers_version="0.27.2"))
    mf.write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "StableDiffusionXLPipeline", "_diffusers_version": "0.27.2",
        "force_zeros_for_empty_prompt": True,
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", SCHEDULER["_class_name"]],
        "image_encoder": [None, None], "feature_extractor": [None, None]})

    ref = {}
    enc = {}
    for key, prompt in (("prompt", PROMPT), ("negative", NEGATIVE), ("empty", "")):
        ids1, ids2, context, pooled = encode(tok1, text1, tok2, text2, prompt)
        enc[prompt] = (context, pooled)
        ref["text1.ids." + key] = ids1.float()
        ref["text2.ids." + key] = ids2.float()
        ref["text1.penultimate." + key] = text1.states(ids1)[-2]
        ref["text2.penultimate." + key] = text2.states(ids2)[-2]
        ref["text2.pooled." + key] = pooled
        ref["text1.last." + key] = text1(ids1)
        ref["cond.context." + key] = context
        ref["cond.pooled." + key] = pooled

    g = torch.Generator().manual_seed(7)
    sample = torch.randn((2, 4, SIZE // 2, SIZE // 2), generator=g)
    ctx = torch.randn((2, 77, UNET["cross_attention_dim"]), generator=g)
    text_embeds = torch.randn((2, PROJECTION), generator=g)
    time_ids = torch.tensor([[32.0, 32, 0, 0, 32, 32], [1024.0, 768, 16, 8, 512, 640]])
    t = torch.tensor([500.0, 37.5])
    ref.update({"unet.in.sample": sample, "unet.in.t": t, "unet.in.context": ctx,
                "unet.in.text_embeds": text_embeds, "unet.in.time_ids": time_ids})
    ref["unet.out"] = unet(sample, t, encoder_hidden_states=ctx, added_cond_kwargs={
        "text_embeds": text_embeds, "time_ids": time_ids}).sample

    runs = []
    cond, pooled = enc[PROMPT]
    for i, (sampler, guidance, n, negative, steps, spacing) in enumerate(cases()):
        seed = mf.SEED_ONE if n == 1 else mf.SEED_TWO
        sched = mf.scheduler_for(sampler, dict(SCHEDULER), spacing)
        pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=None, text_encoder_2=None,
                                         tokenizer=None, tokenizer_2=None, unet=unet,
                                         scheduler=sched, force_zeros_for_empty_prompt=True,
                                         add_watermarker=False)
        pipe.set_progress_bar_config(disable=True)
        kw = dict(prompt_embeds=cond, pooled_prompt_embeds=pooled)
        if negative:
            kw.update(negative_prompt_embeds=enc[negative][0],
                      negative_pooled_prompt_embeds=enc[negative][1])
        gen = [torch.Generator().manual_seed(seed + k) for k in range(n)]
        images = pipe(height=SIZE, width=SIZE, num_inference_steps=steps,
                      guidance_scale=guidance, num_images_per_prompt=n, generator=gen,
                      output_type="np", **kw).images
        key = "run.%d" % i
        ref[key] = mf.as_u8(images)
        runs.append(dict(key=key, mode="txt2img", sampler=sampler, guidance=guidance, images=n,
                         seed=seed, batch_noise="per_image", spacing=spacing, steps=steps,
                         strength=None, prompt=PROMPT, negative_prompt=negative,
                         scheduler=type(sched).__name__,
                         timesteps=[float(x) for x in sched.timesteps]))
        print(NAME, key, sampler, guidance, n, repr(negative), steps, spacing, flush=True)

    save_file({k: (v.half() if k.startswith("run.") else v.float()).detach().contiguous()
               for k, v in ref.items()}, os.path.join(folder, "reference.safetensors"))
    mf.write_json(os.path.join(folder, "cases.json"), {"size": SIZE, "cases": runs})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
