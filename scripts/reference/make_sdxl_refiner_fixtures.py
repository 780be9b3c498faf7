#!/usr/bin/env python3
"""Builds the SDXL image-to-image, refiner and base + refiner fixtures of jdiffusion's
SdxlRefinerParityTest.

It rebuilds the tiny SDXL base of make_sdxl_fixtures.py (same seed, same order; the weights are
checked against the committed sdxl/ folder), adds a tiny random SDXL *refiner* in the diffusers
layout (model_index.json without text_encoder/tokenizer, requires_aesthetics_score true,
force_zeros_for_empty_prompt false; the base's text_encoder_2 and tokenizer_2, as the released
refiner shares OpenCLIP ViT-bigG with the base; a UNet with cross_attention_dim = encoder 2's
width only, projection_class_embeddings_input_dim = P + 5 x addition_time_embed_dim and the
refiner's block layout DownBlock2D / CrossAttnDownBlock2D ... scaled down; the base's VAE) and
records what diffusers v0.27.2 computes:

  * img2img:  StableDiffusionXLImg2ImgPipeline on the *base* (requires_aesthetics_score false,
              6 time ids) from init.png at strength 0.6;
  * refiner:  StableDiffusionXLImg2ImgPipeline on the *refiner* from init.png (5 time ids with
              aesthetic_score 6.0 / negative_aesthetic_score 2.5);
  * ensemble: StableDiffusionXLPipeline(base, denoising_end=f, output_type="latent") and then
              StableDiffusionXLImg2ImgPipeline(refiner, image=latents, denoising_start=f), the
              same generators passed to both calls (so an ancestral sampler's refiner steps
              continue the base's noise stream, as jdiffusion does).

As in make_fixtures.py the VAE encoder's posterior is used by its mean. Run it as the other
fixture scripts are run:

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_sdxl_refiner_fixtures.py \
      diffusion-djl/src/test/resources/reference
"""

import os
import sys

import torch
from PIL import Image
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.pipelines.stable_diffusion_xl import pipeline_stable_diffusion_xl_img2img as i2i
from diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl import \
    StableDiffusionXLPipeline
from safetensors.torch import load_file, save_file

import make_fixtures as mf
import make_sdxl_fixtures as xl

torch.set_grad_enabled(False)

NAME = "sdxl-refiner"
SIZE = mf.SIZE
STEPS = mf.STEPS
STRENGTH = 0.6
REFINER_STRENGTH = 0.3  # diffusers' default for the img2img pipeline
AESTHETIC = 6.0
NEGATIVE_AESTHETIC = 2.5
REFINER_UNET = dict(sample_size=SIZE // 2, in_channels=4, out_channels=4, layers_per_block=1,
                    block_out_channels=[8, 16, 16], norm_num_groups=4,
                    cross_attention_dim=xl.TEXT2["width"], attention_head_dim=[1, 2, 2],
                    transformer_layers_per_block=[1, 2, 1], use_linear_projection=True,
                    addition_embed_type="text_time", addition_time_embed_dim=xl.TIME_EMBED,
                    projection_class_embeddings_input_dim=xl.PROJECTION + 5 * xl.TIME_EMBED,
                    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
                    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"])


def base_models(base_folder):
    """make_sdxl_fixtures.main's models, rebuilt in its order from its seed."""
    torch.manual_seed(5)
    tok1 = mf.Tokenizer("<|endoftext|>")
    tok2 = mf.Tokenizer("!")
    text1 = xl.ClipTextStates(len(tok1.vocab), **xl.TEXT1).eval()
    text2 = xl.ClipTextStates(len(tok2.vocab), projection=xl.PROJECTION, **xl.TEXT2).eval()
    unet = UNet2DConditionModel(**xl.UNET).eval()
    vae = AutoencoderKL(**xl.VAE).eval()
    saved = load_file(os.path.join(base_folder, "unet", "diffusion_pytorch_model.safetensors"))
    for k, v in unet.state_dict().items():
        assert torch.equal(saved[k], v), "the rebuilt base UNet differs from sdxl/ at " + k
    saved = load_file(os.path.join(base_folder, "text_encoder_2", "model.safetensors"))
    for k, v in text2.state().items():
        assert torch.equal(saved[k], v), "the rebuilt text_encoder_2 differs at " + k
    return tok1, text1, tok2, text2, unet, vae


def refiner_encode(tok2, text2, prompt):
    """diffusers' encode_prompt with text_encoder None: encoder 2 only."""
    ids2 = torch.tensor([tok2.ids(prompt)])
    return text2.states(ids2)[-2], text2.pooled(ids2)


def cases():
    """(mode, sampler, guidance, images, negative prompt, fraction or strength)."""
    out = []
    for s in ("euler", "dpmpp_2m", "euler_a", "ddim"):
        out += [("img2img", s, xl.GUIDANCE, 1, "", STRENGTH),
                ("img2img", s, 1.0, 2, "", STRENGTH)]
    out += [("img2img", "euler", xl.GUIDANCE, 2, xl.NEGATIVE, STRENGTH)]
    for s in ("euler", "dpmpp_2m", "euler_a", "ddim"):
        out += [("refiner", s, xl.GUIDANCE, 1, "", REFINER_STRENGTH),
                ("refiner", s, 1.0, 2, "", REFINER_STRENGTH)]
    out += [("refiner", "euler", xl.GUIDANCE, 2, xl.NEGATIVE, 0.6)]
    for s in ("euler", "dpmpp_2m", "euler_a", "ddim"):
        out += [("ensemble", s, xl.GUIDANCE, 1, "", 0.8)]
    out += [("ensemble", "euler", xl.GUIDANCE, 2, xl.NEGATIVE, 0.8),
            ("ensemble", "euler_a", 1.0, 2, "", 0.7),
            ("ensemble", "dpmpp_2m", xl.GUIDANCE, 1, "", 0.75)]
    return out


def main(out):
    base_folder = os.path.join(out, "sdxl")
    folder = os.path.join(out, NAME)
    tok1, text1, tok2, text2, unet, vae = base_models(base_folder)
    torch.manual_seed(11)
    refiner = UNet2DConditionModel(**REFINER_UNET).eval()

    tok2.write(os.path.join(folder, "tokenizer_2"))
    text2.write(os.path.join(folder, "text_encoder_2"), tok2)
    for sub, model in (("unet", refiner), ("vae", vae)):
        model.save_config(os.path.join(folder, sub))
        save_file({k: v.contiguous() for k, v in model.state_dict().items()},
                  os.path.join(folder, sub, "diffusion_pytorch_model.safetensors"))
    mf.write_json(os.path.join(folder, "scheduler", "scheduler_config.json"),
                  dict(xl.SCHEDULER, _diffusers_version="0.27.2"))
    mf.write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "StableDiffusionXLImg2ImgPipeline", "_diffusers_version": "0.27.2",
        "force_zeros_for_empty_prompt": False, "requires_aesthetics_score": True,
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": [None, None],
        "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
        "tokenizer": [None, None], "tokenizer_2": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", xl.SCHEDULER["_class_name"]],
        "image_encoder": [None, None], "feature_extractor": [None, None]})
    init = Image.fromarray(mf.init_image())
    init.save(os.path.join(folder, "init.png"))

    ref = {}
    base_enc = {p: xl.encode(tok1, text1, tok2, text2, p)[2:] for p in (xl.PROMPT, xl.NEGATIVE)}
    ref_enc = {p: refiner_encode(tok2, text2, p) for p in (xl.PROMPT, xl.NEGATIVE, "")}
    for key, p in (("prompt", xl.PROMPT), ("negative", xl.NEGATIVE), ("empty", "")):
        ref["cond.context." + key], ref["cond.pooled." + key] = ref_enc[p]

    # One refiner UNet call with 5 time ids.
    g = torch.Generator().manual_seed(7)
    sample = torch.randn((2, 4, SIZE // 2, SIZE // 2), generator=g)
    ctx = torch.randn((2, 77, REFINER_UNET["cross_attention_dim"]), generator=g)
    text_embeds = torch.randn((2, xl.PROJECTION), generator=g)
    time_ids = torch.tensor([[32.0, 32, 0, 0, 6.0], [1024.0, 768, 16, 8, 2.5]])
    t = torch.tensor([500.0, 37.5])
    ref.update({"unet.in.sample": sample, "unet.in.t": t, "unet.in.context": ctx,
                "unet.in.text_embeds": text_embeds, "unet.in.time_ids": time_ids})
    ref["unet.out"] = refiner(sample, t, encoder_hidden_states=ctx, added_cond_kwargs={
        "text_embeds": text_embeds, "time_ids": time_ids}).sample

    i2i.retrieve_latents = mf.mean_latents
    runs = []
    for i, (mode, sampler, guidance, n, negative, value) in enumerate(cases()):
        seed = mf.SEED_ONE if n == 1 else mf.SEED_TWO
        gen = [torch.Generator().manual_seed(seed + k) for k in range(n)]
        common = dict(num_inference_steps=STEPS, guidance_scale=guidance,
                      num_images_per_prompt=n, generator=gen)
        # force_zeros_for_empty_prompt (base): an empty negative prompt is negative_prompt=None.
        base_kw = dict(prompt_embeds=base_enc[xl.PROMPT][0],
                       pooled_prompt_embeds=base_enc[xl.PROMPT][1])
        if negative:
            base_kw.update(negative_prompt_embeds=base_enc[negative][0],
                           negative_pooled_prompt_embeds=base_enc[negative][1])
        # force_zeros_for_empty_prompt false (refiner): "" is encoded.
        ref_kw = dict(prompt_embeds=ref_enc[xl.PROMPT][0],
                      pooled_prompt_embeds=ref_enc[xl.PROMPT][1],
                      negative_prompt_embeds=ref_enc[negative][0],
                      negative_pooled_prompt_embeds=ref_enc[negative][1])
        sched = lambda: mf.scheduler_for(sampler, dict(xl.SCHEDULER), None)
        parts = dict(vae=vae, text_encoder=None, text_encoder_2=None, tokenizer=None,
                     tokenizer_2=None, scheduler=sched(), add_watermarker=False)
        timesteps = None
        if mode == "img2img":
            pipe = i2i.StableDiffusionXLImg2ImgPipeline(unet=unet, **parts,
                                                        requires_aesthetics_score=False,
                                                        force_zeros_for_empty_prompt=True)
            pipe.set_progress_bar_config(disable=True)
            images = pipe(image=init, strength=value, output_type="np", **common,
                          **base_kw).images
        elif mode == "refiner":
            pipe = i2i.StableDiffusionXLImg2ImgPipeline(unet=refiner, **parts,
                                                        requires_aesthetics_score=True,
                                                        force_zeros_for_empty_prompt=False)
            pipe.set_progress_bar_config(disable=True)
            images = pipe(image=init, strength=value, output_type="np", **common,
                          **ref_kw).images
        else:
            base = StableDiffusionXLPipeline(unet=unet, **parts, force_zeros_for_empty_prompt=True)
            base.set_progress_bar_config(disable=True)
            latents = base(height=SIZE, width=SIZE, denoising_end=value, output_type="latent",
                           **common, **base_kw).images
            parts["scheduler"] = sched()
            pipe = i2i.StableDiffusionXLImg2ImgPipeline(unet=refiner, **parts,
                                                        requires_aesthetics_score=True,
                                                        force_zeros_for_empty_prompt=False)
            pipe.set_progress_bar_config(disable=True)
            images = pipe(image=latents, denoising_start=value, output_type="np", **common,
                          **ref_kw).images
            timesteps = [float(x) for x in base.scheduler.timesteps]
        key = "run.%d" % i
        ref[key] = mf.as_u8(images)
        runs.append(dict(key=key, mode=mode, sampler=sampler, guidance=guidance, images=n,
                         seed=seed, steps=STEPS, prompt=xl.PROMPT, negative_prompt=negative,
                         strength=value if mode != "ensemble" else None,
                         switch=value if mode == "ensemble" else None,
                         aesthetic_score=AESTHETIC if mode != "img2img" else None,
                         negative_aesthetic_score=NEGATIVE_AESTHETIC if mode != "img2img"
                         else None, timesteps=timesteps))
        print(NAME, key, mode, sampler, guidance, n, repr(negative), value, flush=True)

    save_file({k: (v.half() if k.startswith("run.") else v.float()).detach().contiguous()
               for k, v in ref.items()}, os.path.join(folder, "reference.safetensors"))
    mf.write_json(os.path.join(folder, "cases.json"), {"size": SIZE, "cases": runs})


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
