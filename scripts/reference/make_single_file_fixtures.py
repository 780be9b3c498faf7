#!/usr/bin/env python3
"""Writes the small SD 2.x and SDXL reference models as single-file checkpoints.

The diffusers folders diffusion-djl/src/test/resources/reference/sd2 (make_fixtures.py) and
reference/sdxl (make_sdxl_fixtures.py) are converted to the original (LDM/SGM) layout by code
independent of jdiffusion's reader, and stored in float16 (to keep them small; the test
compares them with the folders rounded to float16 the same way).

The text encoders are converted by the functions of diffusers v0.27.2 themselves
(scripts/convert_diffusers_to_original_stable_diffusion.py's convert_text_enc_state_dict_v20,
scripts/convert_diffusers_to_original_sdxl.py's convert_openai/openclip_text_enc_state_dict, in
/tmp/ref/diffusers). Their UNet and VAE functions cannot be used on these small models: they
hard-code SD's four (SDXL's three) levels of two layers, and the small models have two levels
of one. The UNet and VAE are converted here by the same renaming rules with the levels, layers
and attention blocks taken from the model (`unet_names`, `vae_names`); before writing anything,
the script checks that these rules give exactly the names and shapes of diffusers' functions on
the real SD 1.5, SD 2.1, SDXL base and SDXL refiner layouts (the key tables in
diffusion-djl/src/test/resources/fixtures, made from diffusers' functions by make_key_tables.py).

Two things the conversion functions do not write but the released files hold are added as
those files have them, so that the loader meets them: SD 2.x's OpenCLIP-H keeps one resblock
more than diffusers' text encoder (here a copy of the last layer, perturbed, as resblock N) and
its text_projection; OpenCLIP's logit_scale (SD 2.x and SDXL).

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_single_file_fixtures.py \
      diffusion-djl/src/test/resources/reference
"""

import contextlib
import importlib.util
import io
import os
import sys

import torch
from safetensors.torch import load_file, save_file

torch.set_grad_enabled(False)
SCRIPTS = "/tmp/ref/diffusers/scripts"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SD = load_script("convert_diffusers_to_original_stable_diffusion")
XL = load_script("convert_diffusers_to_original_sdxl")


def weights(folder, sub, name):
    return load_file(os.path.join(folder, sub, name))


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


RESNET = [("norm1.", "in_layers.0."), ("conv1.", "in_layers.2."), ("norm2.", "out_layers.0."),
          ("conv2.", "out_layers.3."), ("time_emb_proj.", "emb_layers.1."),
          ("conv_shortcut.", "skip_connection.")]


def unet_names(config):
    """diffusers UNet prefix -> LDM prefix, for the levels/layers/attention of a config."""
    levels = len(config["block_out_channels"])
    per = config["layers_per_block"] + 1
    down_attn = [t.startswith("CrossAttn") for t in config["down_block_types"]]
    up_attn = [t.startswith("CrossAttn") for t in config["up_block_types"]]
    m = {"conv_in.": "input_blocks.0.0.", "time_embedding.linear_1.": "time_embed.0.",
         "time_embedding.linear_2.": "time_embed.2.", "conv_norm_out.": "out.0.",
         "conv_out.": "out.2.", "add_embedding.linear_1.": "label_emb.0.0.",
         "add_embedding.linear_2.": "label_emb.0.2.",
         "mid_block.attentions.0.": "middle_block.1."}
    for j in range(2):
        for hf, sd in RESNET:
            m["mid_block.resnets.%d.%s" % (j, hf)] = "middle_block.%d.%s" % (2 * j, sd)
    for i in range(levels):
        for j in range(per):
            if j < per - 1:
                n = per * i + j + 1
                for hf, sd in RESNET:
                    m["down_blocks.%d.resnets.%d.%s" % (i, j, hf)] = "input_blocks.%d.0.%s" % (n, sd)
                if down_attn[i]:
                    m["down_blocks.%d.attentions.%d." % (i, j)] = "input_blocks.%d.1." % n
            n = per * i + j
            for hf, sd in RESNET:
                m["up_blocks.%d.resnets.%d.%s" % (i, j, hf)] = "output_blocks.%d.0.%s" % (n, sd)
            if up_attn[i]:
                m["up_blocks.%d.attentions.%d." % (i, j)] = "output_blocks.%d.1." % n
        if i < levels - 1:
            m["down_blocks.%d.downsamplers.0.conv." % i] = "input_blocks.%d.0.op." % (per * (i + 1))
            m["up_blocks.%d.upsamplers.0." % i] = "output_blocks.%d.%d." % (
                per * i + per - 1, 2 if up_attn[i] else 1)
    return m


def vae_names(config):
    """diffusers VAE prefix -> LDM prefix (decoder levels are numbered from the bottom)."""
    levels = len(config["block_out_channels"])
    layers = config["layers_per_block"]
    m = {"encoder.conv_norm_out.": "encoder.norm_out.", "decoder.conv_norm_out.": "decoder.norm_out."}
    res = [("norm1.", "norm1."), ("conv1.", "conv1."), ("norm2.", "norm2."), ("conv2.", "conv2."),
           ("conv_shortcut.", "nin_shortcut.")]
    attn = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."),
            ("to_out.0.", "proj_out.")]
    for side in ("encoder.", "decoder."):
        for j in range(2):
            for hf, sd in res:
                m["%smid_block.resnets.%d.%s" % (side, j, hf)] = "%smid.block_%d.%s" % (side, j + 1, sd)
        for hf, sd in attn:
            m["%smid_block.attentions.0.%s" % (side, hf)] = "%smid.attn_1.%s" % (side, sd)
    for i in range(levels):
        for j in range(layers):
            for hf, sd in res:
                m["encoder.down_blocks.%d.resnets.%d.%s" % (i, j, hf)] = \
                    "encoder.down.%d.block.%d.%s" % (i, j, sd)
        for j in range(layers + 1):
            for hf, sd in res:
                m["decoder.up_blocks.%d.resnets.%d.%s" % (i, j, hf)] = \
                    "decoder.up.%d.block.%d.%s" % (levels - 1 - i, j, sd)
        if i < levels - 1:
            m["encoder.down_blocks.%d.downsamplers.0." % i] = "encoder.down.%d.downsample." % i
            m["decoder.up_blocks.%d.upsamplers.0." % i] = "decoder.up.%d.upsample." % (levels - 1 - i)
    return m


def rename(name, prefixes):
    best = max((p for p in prefixes if name.startswith(p)), key=len, default=None)
    return name if best is None else prefixes[best] + name[len(best):]


def convert_unet(state, config):
    m = unet_names(config)
    return {"model.diffusion_model." + rename(k, m): v for k, v in state.items()}


def convert_vae(state, config):
    m = vae_names(config)
    out = {}
    for k, v in state.items():
        ldm = rename(k, m)
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and v.dim() == 2:
            v = v.reshape(*v.shape, 1, 1)
        out["first_stage_model." + ldm] = v
    return out


def check_against_diffusers(fixtures):
    """The rules above give the names/shapes of diffusers' functions on the real layouts."""
    import make_key_tables as kt
    cases = [("sd15", kt.UNET_SD21, None), ("sd21", kt.UNET_SD21, kt.VAE_SD),
             ("sdxl-base", kt.UNET_SDXL_BASE, kt.VAE_SDXL),
             ("sdxl-refiner", kt.UNET_SDXL_REFINER, kt.VAE_SDXL)]
    for table, unet_cfg, vae_cfg in cases:
        vae_cfg = vae_cfg or kt.VAE_SD
        with open(os.path.join(fixtures, table, "keys.tsv")) as f:
            rows = [line.rstrip("\n").split("\t") for line in f][1:]
        for component, cfg, convert in (("unet", unet_cfg, convert_unet),
                                        ("vae", vae_cfg, convert_vae)):
            expected = {r[3]: r[4] for r in rows if r[0] == component}
            state = {r[1]: torch.empty(eval(r[2]), device="meta") for r in rows
                     if r[0] == component}
            got = {k: "[" + ", ".join(str(x) for x in v.shape) + "]"
                   for k, v in convert(state, cfg).items()}
            assert got == expected, (table, component, sorted(set(got) ^ set(expected))[:5])
        print("rules match diffusers' conversion on", table)


def config(folder, sub):
    import json
    with open(os.path.join(folder, sub, "config.json")) as f:
        return json.load(f)


def sd2(folder):
    unet = convert_unet(weights(folder, "unet", "diffusion_pytorch_model.safetensors"),
                        config(folder, "unet"))
    vae = convert_vae(weights(folder, "vae", "diffusion_pytorch_model.safetensors"),
                      config(folder, "vae"))
    text = weights(folder, "text_encoder", "model.safetensors")
    text = {k: v for k, v in text.items() if not k.endswith("position_ids")}
    # the same test convert_diffusers_to_original_stable_diffusion.py's main applies
    layers = 1 + max(int(k.split(".")[3]) for k in text if k.startswith("text_model.encoder."))
    text = {"transformer." + k: v for k, v in text.items()}
    text = quiet(SD.convert_text_enc_state_dict_v20, text)
    out = dict(unet)
    out.update(vae)
    out.update({"cond_stage_model.model." + k: v for k, v in text.items()})
    # The released files' extras: one more resblock, text_projection, logit_scale.
    g = torch.Generator().manual_seed(7)
    last = "cond_stage_model.model.transformer.resblocks.%d." % (layers - 1)
    extra = "cond_stage_model.model.transformer.resblocks.%d." % layers
    for k in [k for k in out if k.startswith(last)]:
        v = out[k]
        out[extra + k[len(last):]] = v + 0.1 * torch.randn(v.shape, generator=g)
    width = out["cond_stage_model.model.ln_final.weight"].shape[0]
    out["cond_stage_model.model.text_projection"] = torch.randn((width, width), generator=g)
    out["cond_stage_model.model.logit_scale"] = torch.tensor(4.6052)
    return out


def unet_vae(folder):
    out = convert_unet(weights(folder, "unet", "diffusion_pytorch_model.safetensors"),
                       config(folder, "unet"))
    out.update(convert_vae(weights(folder, "vae", "diffusion_pytorch_model.safetensors"),
                           config(folder, "vae")))
    return out


def openclip_g(folder, prefix):
    """text_encoder_2 as OpenCLIP-bigG under prefix, as the main of
    convert_diffusers_to_original_sdxl.py writes it (text_projection transposed)."""
    text2 = weights(folder, "text_encoder_2", "model.safetensors")
    text2 = {k: v for k, v in text2.items() if not k.endswith("position_ids")}
    out = {prefix + k: v for k, v in XL.convert_openclip_text_enc_state_dict(text2).items()}
    out[prefix + "text_projection"] = out.pop(prefix + "text_projection.weight").T.contiguous()
    out[prefix + "logit_scale"] = torch.tensor(4.6052)
    return out


def sdxl(folder):
    out = unet_vae(folder)
    text1 = XL.convert_openai_text_enc_state_dict(
        weights(folder, "text_encoder", "model.safetensors"))
    out.update({"conditioner.embedders.0.transformer." + k: v for k, v in text1.items()})
    out.update(openclip_g(folder, "conditioner.embedders.1.model."))
    return out


def sdxl_refiner(folder):
    """The refiner: the UNet, the VAE and OpenCLIP-bigG alone as conditioner.embedders.0."""
    out = unet_vae(folder)
    out.update(openclip_g(folder, "conditioner.embedders.0.model."))
    return out


def half(state):
    return {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}


def main(out):
    check_against_diffusers(os.path.join(os.path.dirname(out.rstrip("/")), "fixtures"))
    target = os.path.join(out, "single-file")
    os.makedirs(target, exist_ok=True)
    for name, convert in (("sd2", sd2), ("sdxl", sdxl), ("sdxl-refiner", sdxl_refiner)):
        state = half(convert(os.path.join(out, name)))
        path = os.path.join(target, name + ".safetensors")
        save_file(state, path)
        print(path, len(state), "tensors", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
