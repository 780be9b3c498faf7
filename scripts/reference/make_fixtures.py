#!/usr/bin/env python3
"""Builds the reference fixtures of jdiffusion's DiffusersParityTest.

It writes small random-weight models in the diffusers layout and records what diffusers
(v0.27.2, its StableDiffusion pipelines and schedulers) computes with them: CLIP text-encoder
hidden states, one UNet call, VAE encode/decode, and full text-to-image, image-to-image
(strength 0.6) and inpainting runs for every jdiffusion sampler, with and without guidance, with
one and two images, with one generator per image (jdiffusion's default, seed + i) and with one
shared generator (diffusers' num_images_per_prompt recipe).

Nothing here is needed to build or test jdiffusion; the outputs are committed under
diffusion-djl/src/test/resources/reference/. To regenerate them:

  apt-get update && apt-get install -y python3-torch python3-filelock python3-regex \
      python3-requests python3-importlib-metadata python3-pil python3-numpy python3-yaml \
      python3-tqdm python3-packaging
  # diffusers v0.27.2 and huggingface_hub v0.22.2 sources (pure Python): check out the
  # repositories huggingface/diffusers at tag v0.27.2 into /tmp/ref/diffusers and
  # huggingface/huggingface_hub at tag v0.22.2 into /tmp/ref/hub
  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_fixtures.py diffusion-djl/src/test/resources/reference

(/usr/bin/python3 is Debian's interpreter, the one python3-torch installs into; the
`safetensors` package is replaced by the small stand-in in scripts/reference/safetensors.)
transformers is not used: the CLIP text model is restated below (CLIPTextModel semantics: causal
self-attention, quick_gelu or gelu, final layer norm, penultimate-layer option), and so is the
CLIP BPE tokenizer (for the plain lower-case ASCII prompts used here).

Two places where jdiffusion's maths differs from diffusers' on purpose are aligned in the
reference, so that the images can be compared: the VAE encoder's posterior is used by its mean
(diffusers samples it with the generator), and inpainting pastes the init pixels back outside
the mask (diffusers only does that with padding_mask_crop).
"""

import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image

import diffusers
from diffusers import (AutoencoderKL, DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler,
                       EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                       HeunDiscreteScheduler, LMSDiscreteScheduler, UNet2DConditionModel)
# The pipeline modules are imported directly: without transformers' package metadata diffusers'
# top level exports placeholders for them (scripts/reference/transformers has the names they
# import).
from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as img2img_module
from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_inpaint as inpaint_module
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline

StableDiffusionImg2ImgPipeline = img2img_module.StableDiffusionImg2ImgPipeline
StableDiffusionInpaintPipeline = inpaint_module.StableDiffusionInpaintPipeline
from safetensors.torch import save_file

assert diffusers.__version__ == "0.27.2", diffusers.__version__
torch.set_grad_enabled(False)

SIZE = 32
STEPS = 10
PROMPT = "a cat face"
NEGATIVE = ""
SEED_ONE = 42
SEED_TWO = 100
GUIDANCE = 5.0
STRENGTH = 0.6

# --------------------------------------------------------------------------------------------
# CLIP BPE tokenizer (plain lower-case ASCII words only)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


MERGES = [("c", "a"), ("ca", "t</w>"), ("f", "a"), ("fa", "c"), ("fac", "e</w>"), ("r", "e"),
          ("re", "d</w>"), ("a", "p"), ("ap", "p"), ("l", "e</w>")]


class Tokenizer:
    def __init__(self, pad_token):
        units = list(bytes_to_unicode().values())
        vocab = units + [u + "</w>" for u in units] + ["".join(m) for m in MERGES]
        vocab += ["<|startoftext|>", "<|endoftext|>"]
        self.vocab = {t: i for i, t in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(MERGES)}
        self.pad_token = pad_token

    def bpe(self, word):
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        while len(parts) > 1:
            pairs = [(self.ranks.get((a, b), math.inf), i)
                     for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == math.inf:
                break
            a, b = parts[i], parts[i + 1]
            merged = []
            j = 0
            while j < len(parts):
                if j < len(parts) - 1 and parts[j] == a and parts[j + 1] == b:
                    merged.append(a + b)
                    j += 2
                else:
                    merged.append(parts[j])
                    j += 1
            parts = merged
        return parts

    def ids(self, text, length=77):
        words = " ".join(text.split()).lower().split(" ") if text.strip() else []
        assert all(w.isascii() and w.isalpha() for w in words), text
        toks = [t for w in words for t in self.bpe(w)]
        ids = [self.vocab["<|startoftext|>"]] + [self.vocab[t] for t in toks][:length - 2]
        ids.append(self.vocab["<|endoftext|>"])
        ids += [self.vocab[self.pad_token]] * (length - len(ids))
        return ids

    def write(self, folder):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.vocab, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            for a, b in MERGES:
                f.write(a + " " + b + "\n")
        special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                   "unk_token": "<|endoftext|>", "pad_token": self.pad_token}
        with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
            json.dump(special, f, indent=2)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            json.dump({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer",
                       "do_lower_case": True}, f, indent=2)


# --------------------------------------------------------------------------------------------
# CLIP text model, restated with transformers' parameter names


class ClipText(torch.nn.Module):
    def __init__(self, vocab, width, mlp, layers, heads, act, length=77, eps=1e-5):
        super().__init__()
        self.cfg = dict(vocab_size=vocab, hidden_size=width, intermediate_size=mlp,
                        num_hidden_layers=layers, num_attention_heads=heads, hidden_act=act,
                        max_position_embeddings=length, layer_norm_eps=eps)
        self.heads = heads
        self.act = act
        self.tok = torch.nn.Embedding(vocab, width)
        self.pos = torch.nn.Embedding(length, width)
        self.layers = torch.nn.ModuleList()
        for _ in range(layers):
            layer = torch.nn.Module()
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                setattr(layer, n, torch.nn.Linear(width, width))
            layer.ln1 = torch.nn.LayerNorm(width, eps=eps)
            layer.ln2 = torch.nn.LayerNorm(width, eps=eps)
            layer.fc1 = torch.nn.Linear(width, mlp)
            layer.fc2 = torch.nn.Linear(mlp, width)
            self.layers.append(layer)
        self.final = torch.nn.LayerNorm(width, eps=eps)
        for ln in [self.final] + [m for l in self.layers for m in (l.ln1, l.ln2)]:
            torch.nn.init.normal_(ln.weight, 1.0, 0.2)
            torch.nn.init.normal_(ln.bias, 0.0, 0.2)

    def activation(self, x):
        if self.act == "quick_gelu":
            return x * torch.sigmoid(1.702 * x)
        return torch.nn.functional.gelu(x)

    def attention(self, layer, x):
        b, t, d = x.shape
        hd = d // self.heads
        q = (layer.q_proj(x) * hd ** -0.5).view(b, t, self.heads, hd).transpose(1, 2)
        k = layer.k_proj(x).view(b, t, self.heads, hd).transpose(1, 2)
        v = layer.v_proj(x).view(b, t, self.heads, hd).transpose(1, 2)
        causal = torch.full((t, t), float("-inf")).triu(1)
        w = torch.softmax(q @ k.transpose(-1, -2) + causal, dim=-1)
        return layer.out_proj((w @ v).transpose(1, 2).reshape(b, t, d))

    def forward(self, ids, skip=0):
        """Last hidden state (skip 0) or the output of layer -(skip+1), both after final LN."""
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1]))[None]
        states = [x]
        for layer in self.layers:
            x = x + self.attention(layer, layer.ln1(x))
            x = x + layer.fc2(self.activation(layer.fc1(layer.ln2(x))))
            states.append(x)
        return self.final(states[-(skip + 1)])

    def state(self):
        s = {"text_model.embeddings.token_embedding.weight": self.tok.weight,
             "text_model.embeddings.position_embedding.weight": self.pos.weight,
             "text_model.embeddings.position_ids": torch.arange(self.pos.num_embeddings)[None],
             "text_model.final_layer_norm.weight": self.final.weight,
             "text_model.final_layer_norm.bias": self.final.bias}
        for i, l in enumerate(self.layers):
            p = "text_model.encoder.layers.%d." % i
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                s[p + "self_attn." + n + ".weight"] = getattr(l, n).weight
                s[p + "self_attn." + n + ".bias"] = getattr(l, n).bias
            for src, dst in (("ln1", "layer_norm1"), ("ln2", "layer_norm2"), ("fc1", "mlp.fc1"),
                             ("fc2", "mlp.fc2")):
                s[p + dst + ".weight"] = getattr(l, src).weight
                s[p + dst + ".bias"] = getattr(l, src).bias
        return s

    def write(self, folder, tokenizer):
        os.makedirs(folder, exist_ok=True)
        cfg = dict(self.cfg, architectures=["CLIPTextModel"], model_type="clip_text_model",
                   bos_token_id=tokenizer.vocab["<|startoftext|>"],
                   eos_token_id=tokenizer.vocab["<|endoftext|>"],
                   pad_token_id=tokenizer.vocab[tokenizer.pad_token], torch_dtype="float32",
                   attention_dropout=0.0, dropout=0.0, initializer_factor=1.0,
                   initializer_range=0.02, projection_dim=self.cfg["hidden_size"])
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_file({k: v.contiguous() for k, v in self.state().items()},
                  os.path.join(folder, "model.safetensors"), {"format": "pt"})


# --------------------------------------------------------------------------------------------
# Model configurations

VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 16],
           down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
           layers_per_block=1, norm_num_groups=4, sample_size=SIZE, scaling_factor=0.18215)

SD1_SCHEDULER = {  # Stable Diffusion 1.5's scheduler_config.json: no timestep_spacing
    "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
    "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
    "trained_betas": None}
SD2_SCHEDULER = {  # Stable Diffusion 2.1's: DDIM, v-prediction, no timestep_spacing
    "_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
    "prediction_type": "v_prediction", "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None}
INPAINT_SCHEDULER = {  # an explicit timestep_spacing, which every sampler must keep
    "_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "num_train_timesteps": 1000,
    "set_alpha_to_one": True, "steps_offset": 1, "timestep_spacing": "trailing"}

MODELS = {
    "sd1": dict(
        unet=dict(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1,
                  block_out_channels=[8, 16], norm_num_groups=4, cross_attention_dim=16,
                  attention_head_dim=2,
                  down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                  up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"]),
        text=dict(width=16, mlp=32, layers=2, heads=2, act="quick_gelu"), pad="<|endoftext|>",
        scheduler=SD1_SCHEDULER, seed=1),
    "sd2": dict(
        unet=dict(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1,
                  block_out_channels=[8, 16], norm_num_groups=4, cross_attention_dim=24,
                  attention_head_dim=[1, 2], use_linear_projection=True,
                  upcast_attention=True,
                  down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                  up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]),
        text=dict(width=24, mlp=48, layers=3, heads=3, act="gelu"), pad="!",
        scheduler=SD2_SCHEDULER, seed=2),
    "inpaint": dict(
        unet=dict(sample_size=SIZE // 2, in_channels=9, out_channels=4, layers_per_block=1,
                  block_out_channels=[8, 16], norm_num_groups=2, cross_attention_dim=16,
                  attention_head_dim=4,
                  down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
                  up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"]),
        text=dict(width=16, mlp=32, layers=2, heads=4, act="quick_gelu"), pad="<|endoftext|>",
        scheduler=INPAINT_SCHEDULER, seed=3),
}

CLASS_UNET = dict(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1,
                  block_out_channels=[8, 16], norm_num_groups=4, num_class_embeds=4,
                  down_block_types=["DownBlock2D", "DownBlock2D"],
                  up_block_types=["UpBlock2D", "UpBlock2D"], mid_block_type="UNetMidBlock2D")

SAMPLERS = {
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "heun": (HeunDiscreteScheduler, {}),
    "lms": (LMSDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "ddpm": (DDPMScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {}),
    "dpmpp_2m_sde": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++"}),
}


def scheduler_for(sampler, config, spacing):
    cls, extra = SAMPLERS[sampler]
    kw = dict(extra)
    if spacing in ("karras", "exponential"):
        kw["use_karras_sigmas" if spacing == "karras" else "use_exponential_sigmas"] = True
    elif spacing is not None:
        kw["timestep_spacing"] = spacing
    return cls.from_config(config, **kw)


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)


def init_image():
    """A smooth, deterministic RGB test picture (uint8, SIZE x SIZE)."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    r = 127.5 + 120 * np.sin(x / 5.0)
    g = 127.5 + 120 * np.cos(y / 7.0)
    b = 127.5 + 120 * np.sin((x + y) / 9.0)
    return np.stack([r, g, b], -1).round().clip(0, 255).astype(np.uint8)


def left_half_mask():
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[:, : SIZE // 2] = 255
    return m


def mean_latents(enc, generator=None, sample_mode="sample"):
    return enc.latent_dist.mode()


def as_u8(images):
    """diffusers' numpy output in [0, 1] -> 8-bit values, as numpy_to_pil rounds them."""
    return torch.from_numpy((images * 255).round().astype(np.float32))


# --------------------------------------------------------------------------------------------


def build(name, spec, out):
    folder = os.path.join(out, name)
    torch.manual_seed(spec["seed"])
    tokenizer = Tokenizer(spec["pad"])
    text = ClipText(len(tokenizer.vocab), **spec["text"]).eval()
    unet = UNet2DConditionModel(**spec["unet"]).eval()
    vae = AutoencoderKL(**VAE).eval()
    tokenizer.write(os.path.join(folder, "tokenizer"))
    text.write(os.path.join(folder, "text_encoder"), tokenizer)
    for sub, model in (("unet", unet), ("vae", vae)):
        model.save_config(os.path.join(folder, sub))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(folder, sub, "diffusion_pytorch_model.safetensors"))
    write_json(os.path.join(folder, "scheduler", "scheduler_config.json"),
               dict(spec["scheduler"], _diffusers_version="0.27.2"))
    write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "StableDiffusionInpaintPipeline" if name == "inpaint"
        else "StableDiffusionPipeline",
        "_diffusers_version": "0.27.2", "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", spec["scheduler"]["_class_name"]],
        "safety_checker": [None, None], "feature_extractor": [None, None],
        "requires_safety_checker": False})
    Image.fromarray(init_image()).save(os.path.join(folder, "init.png"))
    Image.fromarray(left_half_mask(), "L").convert("RGB").save(os.path.join(folder, "mask.png"))
    return folder, tokenizer, text, unet, vae


def components(tokenizer, text, unet, vae, ref, seed):
    g = torch.Generator().manual_seed(seed)
    for key, prompt in (("prompt", PROMPT), ("negative", NEGATIVE)):
        ids = torch.tensor([tokenizer.ids(prompt)])
        ref["text.ids." + key] = ids.float()
        ref["text.hidden." + key] = text(ids)
        ref["text.skip1." + key] = text(ids, skip=1)
    cin = unet.config.in_channels
    sample = torch.randn((2, cin, SIZE // 2, SIZE // 2), generator=g)
    ctx = torch.randn((2, 77, unet.config.cross_attention_dim), generator=g)
    t = torch.tensor([500.0, 37.5])
    ref["unet.in.sample"], ref["unet.in.t"], ref["unet.in.context"] = sample, t, ctx
    ref["unet.out"] = unet(sample, t, encoder_hidden_states=ctx).sample
    pixels = torch.from_numpy(init_image()).permute(2, 0, 1)[None].float() / 127.5 - 1
    ref["vae.in.pixels"] = pixels
    ref["vae.mean"] = vae.encode(pixels).latent_dist.mean
    latent = torch.randn((1, 4, SIZE // 2, SIZE // 2), generator=g)
    ref["vae.in.latent"] = latent
    ref["vae.decoded"] = vae.decode(latent).sample


def cases_for(name):
    """(mode, sampler, guidance, images, batch_noise, spacing) of every recorded run."""
    out = []
    for s in SAMPLERS:
        if name == "inpaint":
            out += [("inpaint", s, GUIDANCE, 1, "per_image", None),
                    ("inpaint", s, 1.0, 2, "per_image", None)]
            continue
        out += [("txt2img", s, GUIDANCE, 1, "per_image", None),
                ("txt2img", s, 1.0, 2, "per_image", None),
                ("img2img", s, GUIDANCE, 2, "per_image", None),
                ("img2img", s, 1.0, 1, "per_image", None)]
        if name == "sd1":
            out.append(("txt2img", s, GUIDANCE, 2, "shared", None))
    if name == "sd1":
        out += [("txt2img", "euler", GUIDANCE, 1, "per_image", "leading"),
                ("txt2img", "euler", GUIDANCE, 1, "per_image", "karras"),
                ("txt2img", "dpmpp_2m", GUIDANCE, 1, "per_image", "karras"),
                ("txt2img", "ddim", GUIDANCE, 1, "per_image", "trailing"),
                ("txt2img", "lms", GUIDANCE, 1, "per_image", "trailing")]
    return out


def run(name, folder, text, tokenizer, unet, vae, ref):
    cases = []
    with torch.no_grad():
        cond = text(torch.tensor([tokenizer.ids(PROMPT)]))
        uncond = text(torch.tensor([tokenizer.ids(NEGATIVE)]))
    init = Image.fromarray(init_image())
    mask = Image.fromarray(left_half_mask(), "L")
    init_u8 = torch.from_numpy(init_image().astype(np.float32))
    keep = torch.from_numpy(left_half_mask() < 128)[..., None]
    img2img_module.retrieve_latents = mean_latents
    inpaint_module.retrieve_latents = mean_latents
    for i, (mode, sampler, guidance, n, batch, spacing) in enumerate(cases_for(name)):
        seed = SEED_ONE if n == 1 else SEED_TWO
        sched = scheduler_for(sampler, dict(MODELS[name]["scheduler"]), spacing)
        parts = dict(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=sched,
                     safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        gen = (torch.Generator().manual_seed(seed) if batch == "shared"
               else [torch.Generator().manual_seed(seed + k) for k in range(n)])
        kw = dict(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=STEPS,
                  guidance_scale=guidance, num_images_per_prompt=n, generator=gen,
                  output_type="np")
        cls = {"txt2img": StableDiffusionPipeline, "img2img": StableDiffusionImg2ImgPipeline,
               "inpaint": StableDiffusionInpaintPipeline}[mode]
        pipe = cls(**parts)
        pipe.set_progress_bar_config(disable=True)
        if mode == "txt2img":
            images = pipe(height=SIZE, width=SIZE, **kw).images
        elif mode == "img2img":
            images = pipe(image=init, strength=STRENGTH,
                                                             **kw).images
        else:
            images = pipe(
                image=init, mask_image=mask, strength=STRENGTH, height=SIZE, width=SIZE,
                **kw).images
        pixels = as_u8(images)
        if mode == "inpaint":
            pixels = torch.where(keep[None], init_u8[None], pixels)
        key = "run.%d" % i
        ref[key] = pixels
        cases.append(dict(key=key, mode=mode, sampler=sampler, guidance=guidance, images=n,
                          seed=seed, batch_noise=batch, spacing=spacing, steps=STEPS,
                          strength=STRENGTH if mode != "txt2img" else None, prompt=PROMPT,
                          negative_prompt=NEGATIVE, scheduler=type(sched).__name__,
                          timesteps=[float(t) for t in sched.timesteps]))
        print(name, key, mode, sampler, guidance, n, batch, spacing, flush=True)
    return cases


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, spec in MODELS.items():
        folder, tokenizer, text, unet, vae = build(name, spec, out)
        ref = {}
        components(tokenizer, text, unet, vae, ref, 7)
        cases = run(name, folder, text, tokenizer, unet, vae, ref)
        # Images as float16 (their 8-bit values are exact in it), everything else float32.
        save_file({k: (v.half() if k.startswith("run.") else v.float()).detach().contiguous()
                   for k, v in ref.items()},
                  os.path.join(folder, "reference.safetensors"))
        write_json(os.path.join(folder, "cases.json"), {"size": SIZE, "cases": cases})

    # A class-conditional UNet (num_class_embeds): one call.
    folder = os.path.join(out, "classes")
    torch.manual_seed(4)
    unet = UNet2DConditionModel(**CLASS_UNET).eval()
    unet.save_config(os.path.join(folder, "unet"))
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()},
              os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors"))
    g = torch.Generator().manual_seed(7)
    sample = torch.randn((3, 3, 8, 8), generator=g)
    t = torch.tensor([999.0, 250.0, 3.0])
    labels = torch.tensor([0, 3, 1])
    out_ = unet(sample, t, encoder_hidden_states=None, class_labels=labels).sample
    save_file({"unet.in.sample": sample, "unet.in.t": t, "unet.in.labels": labels.float(),
               "unet.out": out_.contiguous()}, os.path.join(folder, "reference.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
