#!/usr/bin/env python3
"""Builds the few-step reference fixtures of jdiffusion's FewStepParityTest.

Three recipes, each recorded from diffusers v0.27.2 on small random weights:

  (a) an LCM-distilled UNet (time_cond_proj_dim set) run by LatentConsistencyModelPipeline and
      LatentConsistencyModelImg2ImgPipeline with LCMScheduler: 2 and 4 steps, the guidance
      scale fed as the guidance-scale embedding, no classifier-free guidance; plus one UNet
      call with a timestep condition and the guidance-scale embedding itself;
  (b) the LCM-LoRA recipe: a plain SD model (the "sd1" fixture of make_fixtures.py) run by
      StableDiffusionPipeline with LCMScheduler.from_config and classifier-free guidance;
  (c) the Turbo recipe: the same plain model with EulerAncestralDiscreteScheduler,
      timestep_spacing "trailing", 1 and 4 steps, guidance 0.

Seeds follow make_fixtures.py: seed 42 for one image, seed 100 (+ i per image, one generator
each) for two. It reuses make_fixtures.py's tokenizer, CLIP text model, model configurations
and helpers (same PYTHONPATH):

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \\
      /usr/bin/python3 scripts/reference/make_fewstep_fixtures.py \\
      diffusion-djl/src/test/resources/reference

It writes reference/lcm/ (the LCM model folder, reference.safetensors, cases.json) and
reference/fewstep/ (reference.safetensors and cases.json of the runs on reference/sd1, whose
weights it rebuilds with make_fixtures.py's seed and checks byte for byte against the committed
ones).
"""

import filecmp
import os
import sys
import tempfile

import torch
from PIL import Image

import make_fixtures as mf
from diffusers import EulerAncestralDiscreteScheduler, LCMScheduler
from diffusers.pipelines.latent_consistency_models import \
    pipeline_latent_consistency_img2img as lcm_img2img_module
from diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_text2img import \
    LatentConsistencyModelPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from safetensors.torch import save_file

LatentConsistencyModelImg2ImgPipeline = lcm_img2img_module.LatentConsistencyModelImg2ImgPipeline

LCM_GUIDANCE = 8.0  # LatentConsistencyModelPipeline's default: w = 7
LORA_GUIDANCE = 1.5  # LCM-LoRA: a small classifier-free guidance scale
STRENGTH = 0.6
COND_DIM = 8

LCM_SCHEDULER = {  # LCM-Dreamshaper-v7's scheduler_config.json
    "_class_name": "LCMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "clip_sample_range": 1.0,
    "num_train_timesteps": 1000, "original_inference_steps": 50, "prediction_type": "epsilon",
    "rescale_betas_zero_snr": False, "set_alpha_to_one": True, "steps_offset": 1,
    "timestep_scaling": 10.0, "timestep_spacing": "leading", "trained_betas": None}

LCM_MODEL = dict(mf.MODELS["sd1"], seed=5, scheduler=LCM_SCHEDULER,
                 unet=dict(mf.MODELS["sd1"]["unet"], time_cond_proj_dim=COND_DIM))


def parts(unet, vae, scheduler):
    return dict(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=scheduler,
                safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def generators(seed, n):
    return [torch.Generator().manual_seed(seed + k) for k in range(n)]


def record(ref, cases, key, pixels, **case):
    ref[key] = mf.as_u8(pixels)
    seed = mf.SEED_ONE if case["images"] == 1 else mf.SEED_TWO
    cases.append(dict(dict(key=key, seed=seed, batch_noise="per_image", prompt=mf.PROMPT,
                           negative_prompt=mf.NEGATIVE, strength=None, spacing=None), **case))
    print(key, case, flush=True)


def lcm_runs(folder, text, tokenizer, unet, vae):
    ref, cases = {}, []
    g = torch.Generator().manual_seed(7)
    sample = torch.randn((2, 4, mf.SIZE // 2, mf.SIZE // 2), generator=g)
    ctx = torch.randn((2, 77, unet.config.cross_attention_dim), generator=g)
    cond = torch.randn((2, COND_DIM), generator=g)
    t = torch.tensor([999.0, 259.0])
    ref["unet.in.sample"], ref["unet.in.t"], ref["unet.in.context"] = sample, t, ctx
    ref["unet.in.cond"] = cond
    ref["unet.out"] = unet(sample, t, encoder_hidden_states=ctx, timestep_cond=cond).sample
    pipe = LatentConsistencyModelPipeline(**parts(unet, vae, LCMScheduler.from_config(
        LCM_SCHEDULER)))
    pipe.set_progress_bar_config(disable=True)
    w = torch.tensor([7.0, 0.5, 0.0])
    ref["guidance.in.w"] = w
    ref["guidance.embedding.%d" % COND_DIM] = pipe.get_guidance_scale_embedding(w, COND_DIM)
    ref["guidance.embedding.256"] = pipe.get_guidance_scale_embedding(w, 256)

    prompt = text(torch.tensor([tokenizer.ids(mf.PROMPT)]))
    runs = [("txt2img", 2, LCM_GUIDANCE, 1), ("txt2img", 4, LCM_GUIDANCE, 2),
            ("txt2img", 4, 1.0, 1), ("img2img", 4, LCM_GUIDANCE, 1)]
    lcm_img2img_module.retrieve_latents = mf.mean_latents
    for i, (mode, steps, guidance, n) in enumerate(runs):
        seed = mf.SEED_ONE if n == 1 else mf.SEED_TWO
        kw = dict(prompt_embeds=prompt, num_inference_steps=steps, guidance_scale=guidance,
                  num_images_per_prompt=n, generator=generators(seed, n), output_type="np")
        sched = LCMScheduler.from_config(LCM_SCHEDULER)
        if mode == "txt2img":
            p = LatentConsistencyModelPipeline(**parts(unet, vae, sched))
            p.set_progress_bar_config(disable=True)
            images = p(height=mf.SIZE, width=mf.SIZE, **kw).images
        else:
            p = LatentConsistencyModelImg2ImgPipeline(**parts(unet, vae, sched))
            p.set_progress_bar_config(disable=True)
            images = p(image=Image.fromarray(mf.init_image()), strength=STRENGTH, **kw).images
        record(ref, cases, "run.%d" % i, images, model="lcm", mode=mode, sampler="lcm",
               guidance=guidance, images=n, steps=steps,
               strength=STRENGTH if mode == "img2img" else None,
               pipeline=type(p).__name__, scheduler="LCMScheduler",
               timesteps=[float(x) for x in sched.timesteps])
    return ref, cases


def plain_runs(text, tokenizer, unet, vae):
    ref, cases = {}, []
    with torch.no_grad():
        cond = text(torch.tensor([tokenizer.ids(mf.PROMPT)]))
        uncond = text(torch.tensor([tokenizer.ids(mf.NEGATIVE)]))
    config = dict(mf.SD1_SCHEDULER)
    runs = [  # (recipe, sampler, steps, guidance, images, spacing)
        ("lcm-lora", "lcm", 4, LORA_GUIDANCE, 1, None),
        ("lcm-lora", "lcm", 2, 1.0, 2, None),
        ("lcm-lora", "lcm", 4, LORA_GUIDANCE, 2, None),
        ("turbo", "euler_a", 1, 0.0, 1, "trailing"),
        ("turbo", "euler_a", 4, 0.0, 1, "trailing"),
        ("turbo", "euler_a", 1, 0.0, 2, "trailing"),
        ("lcm-lora", "lcm", 4, LORA_GUIDANCE, 1, None),  # with timestep_scaling 0.0005
    ]
    for i, (recipe, sampler, steps, guidance, n, spacing) in enumerate(runs):
        seed = mf.SEED_ONE if n == 1 else mf.SEED_TWO
        extra = {}
        if i == 6:
            # A timestep_scaling from the scheduler config. At 10 (the default) c_skip is below
            # 1e-5 for every timestep a 4-step run visits, so the value is chosen small enough
            # that the boundary condition shows in the pixels.
            extra = dict(timestep_scaling=0.0005)
        if sampler == "lcm":
            sched = LCMScheduler.from_config(config, **extra)
        else:
            sched = EulerAncestralDiscreteScheduler.from_config(config, timestep_spacing=spacing)
        p = StableDiffusionPipeline(**parts(unet, vae, sched))
        p.set_progress_bar_config(disable=True)
        images = p(prompt_embeds=cond, negative_prompt_embeds=uncond, num_inference_steps=steps,
                   guidance_scale=guidance, num_images_per_prompt=n,
                   generator=generators(seed, n), output_type="np", height=mf.SIZE,
                   width=mf.SIZE).images
        record(ref, cases, "run.%d" % i, images, model="sd1", recipe=recipe, mode="txt2img",
               sampler=sampler, guidance=guidance, images=n, steps=steps, spacing=spacing,
               pipeline="StableDiffusionPipeline", scheduler=type(sched).__name__,
               timesteps=[float(x) for x in sched.timesteps], **extra)
    return ref, cases


def save(folder, ref, cases):
    save_file({k: (v.half() if k.startswith("run.") else v.float()).detach().contiguous()
               for k, v in ref.items()}, os.path.join(folder, "reference.safetensors"))
    mf.write_json(os.path.join(folder, "cases.json"), {"size": mf.SIZE, "cases": cases})


def main(out):
    torch.set_grad_enabled(False)
    folder, tokenizer, text, unet, vae = mf.build("lcm", LCM_MODEL, out)
    for name in ("init.png", "mask.png"):
        os.remove(os.path.join(folder, name))
    mf.write_json(os.path.join(folder, "model_index.json"), {
        "_class_name": "LatentConsistencyModelPipeline", "_diffusers_version": "0.27.2",
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "LCMScheduler"],
        "safety_checker": [None, None], "feature_extractor": [None, None],
        "image_encoder": [None, None], "requires_safety_checker": False})
    Image.fromarray(mf.init_image()).save(os.path.join(folder, "init.png"))
    ref, cases = lcm_runs(folder, text, tokenizer, unet, vae)
    save(folder, ref, cases)

    # The plain model: make_fixtures.py's sd1, rebuilt and checked against the committed files.
    with tempfile.TemporaryDirectory() as tmp:
        _, tokenizer, text, unet, vae = mf.build("sd1", mf.MODELS["sd1"], tmp)
        for sub in ("unet/diffusion_pytorch_model.safetensors",
                    "vae/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
            committed = os.path.join(out, "sd1", sub)
            if not filecmp.cmp(os.path.join(tmp, "sd1", sub), committed, shallow=False):
                sys.exit("rebuilt sd1 " + sub + " differs from " + committed
                         + ": run make_fixtures.py first")
    folder = os.path.join(out, "fewstep")
    os.makedirs(folder, exist_ok=True)
    ref, cases = plain_runs(text, tokenizer, unet, vae)
    save(folder, ref, cases)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
