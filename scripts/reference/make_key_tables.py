#!/usr/bin/env python3
"""Writes the key tables of single-file SD 2.1 (768-v), SDXL base 1.0 and SDXL refiner 1.0
checkpoints: every tensor's diffusers/transformers name and shape next to its name and shape in
the original (LDM/SGM) single file, as diffusion-djl/src/test/resources/fixtures/sd15/keys.tsv
does for SD 1.5.

No weights are allocated. The diffusers networks are built from the published configs (written
below as facts) with every torch layer created on the `meta` device; the transformers CLIP text
encoders' names and shapes follow from their configs (transformers is not installed here: its
CLIPTextModel names are restated in `clip_text`). The single-file names come from running the
conversion functions of diffusers v0.27.2 (scripts/convert_diffusers_to_original_stable_diffusion.py
and scripts/convert_diffusers_to_original_sdxl.py in /tmp/ref/diffusers) on those state dicts:
once on meta tensors for the shapes, once on small tag tensors (each row holding the id of its
source tensor and its row number) to find out which stored tensor, rows and orientation each
diffusers tensor becomes (OpenCLIP's fused in_proj_weight/in_proj_bias, the transposed
text_projection).

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_key_tables.py diffusion-djl/src/test/resources/fixtures

Columns: component, diffusers_or_transformers_key, shape, ldm_single_file_key, ldm_shape,
ldm_view. ldm_view is `-` when the stored tensor is the diffusers tensor (possibly viewed as
another shape of the same size: the VAE's 1x1-convolution attention weights), `rows a:b` when
the diffusers tensor is rows [a, b) of the stored one (q, k, v of a fused in_proj), and
`transpose` when it is the stored matrix transposed (OpenCLIP's text_projection).

Rows of component `unused` are tensors the released single files hold that no diffusers model
has (diffusers key and shape `-`), restated by hand: SD 2.x's OpenCLIP-H keeps its 24th
resblock (diffusers' text_encoder has num_hidden_layers 23: SD 2.x conditions on the
penultimate layer), its text_projection and logit_scale; OpenCLIP-bigG keeps logit_scale.
"""

import contextlib
import importlib.util
import io
import os
import sys

import torch

from diffusers import AutoencoderKL, UNet2DConditionModel

torch.set_grad_enabled(False)

SCRIPTS = "/tmp/ref/diffusers/scripts"

# ---------------------------------------------------------------- published configs (facts)

VAE_SD = dict(  # stabilityai/stable-diffusion-2-1 vae/config.json (SD 1.x has the same)
    act_fn="silu", block_out_channels=[128, 256, 512, 512],
    down_block_types=["DownEncoderBlock2D"] * 4, in_channels=3, latent_channels=4,
    layers_per_block=2, norm_num_groups=32, out_channels=3, sample_size=768,
    up_block_types=["UpDecoderBlock2D"] * 4)
VAE_SDXL = dict(VAE_SD, sample_size=1024, scaling_factor=0.13025, force_upcast=True)

UNET_SD21 = dict(  # stabilityai/stable-diffusion-2-1 unet/config.json
    act_fn="silu", attention_head_dim=[5, 10, 20, 20], block_out_channels=[320, 640, 1280, 1280],
    center_input_sample=False, cross_attention_dim=1024,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "DownBlock2D"],
    downsample_padding=1, dual_cross_attention=False, flip_sin_to_cos=True, freq_shift=0,
    in_channels=4, layers_per_block=2, mid_block_scale_factor=1, norm_eps=1e-05,
    norm_num_groups=32, num_class_embeds=None, only_cross_attention=False, out_channels=4,
    sample_size=96,
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                    "CrossAttnUpBlock2D"],
    upcast_attention=True, use_linear_projection=True)

UNET_SDXL_BASE = dict(  # stabilityai/stable-diffusion-xl-base-1.0 unet/config.json
    act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64,
    addition_time_embed_dim=256, attention_head_dim=[5, 10, 20],
    block_out_channels=[320, 640, 1280], center_input_sample=False, class_embed_type=None,
    conv_in_kernel=3, conv_out_kernel=3, cross_attention_dim=2048,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    downsample_padding=1, dual_cross_attention=False, flip_sin_to_cos=True, freq_shift=0,
    in_channels=4, layers_per_block=2, mid_block_scale_factor=1,
    mid_block_type="UNetMidBlock2DCrossAttn", norm_eps=1e-05, norm_num_groups=32,
    num_attention_heads=None, num_class_embeds=None, only_cross_attention=False,
    out_channels=4, projection_class_embeddings_input_dim=2816,
    resnet_time_scale_shift="default", sample_size=128, time_cond_proj_dim=None,
    time_embedding_type="positional", transformer_layers_per_block=[1, 2, 10],
    up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    upcast_attention=None, use_linear_projection=True)

UNET_SDXL_REFINER = dict(  # stabilityai/stable-diffusion-xl-refiner-1.0 unet/config.json
    act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64,
    addition_time_embed_dim=256, attention_head_dim=[6, 12, 24, 24],
    block_out_channels=[384, 768, 1536, 1536], center_input_sample=False,
    class_embed_type=None, conv_in_kernel=3, conv_out_kernel=3, cross_attention_dim=1280,
    down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                      "DownBlock2D"],
    downsample_padding=1, dual_cross_attention=False, flip_sin_to_cos=True, freq_shift=0,
    in_channels=4, layers_per_block=2, mid_block_scale_factor=1,
    mid_block_type="UNetMidBlock2DCrossAttn", norm_eps=1e-05, norm_num_groups=32,
    num_attention_heads=None, num_class_embeds=None, only_cross_attention=False,
    out_channels=4, projection_class_embeddings_input_dim=2560,
    resnet_time_scale_shift="default", sample_size=128, time_cond_proj_dim=None,
    time_embedding_type="positional", transformer_layers_per_block=4,
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    upcast_attention=None, use_linear_projection=True)

# text_encoder/config.json values that decide names and shapes
TEXT_SD21 = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096,
                 num_hidden_layers=23, max_position_embeddings=77, projection_dim=None)
TEXT_CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                   num_hidden_layers=12, max_position_embeddings=77, projection_dim=None)
TEXT_BIGG = dict(vocab_size=49408, hidden_size=1280, intermediate_size=5120,
                 num_hidden_layers=32, max_position_embeddings=77, projection_dim=1280)


# ---------------------------------------------------------------- structure without weights

@contextlib.contextmanager
def on_meta():
    """Every torch layer a diffusers model builds is created on the meta device."""
    layers = [torch.nn.Linear, torch.nn.Conv2d, torch.nn.GroupNorm, torch.nn.LayerNorm,
              torch.nn.Embedding]
    originals = {cls: cls.__init__ for cls in layers}

    def patched(original):
        def init(self, *args, **kwargs):
            kwargs["device"] = "meta"
            original(self, *args, **kwargs)
        return init

    for cls in layers:
        cls.__init__ = patched(originals[cls])
    try:
        yield
    finally:
        for cls, init in originals.items():
            cls.__init__ = init


def shapes_of(model):
    out = {}
    for k, v in model.state_dict().items():
        assert v.device.type == "meta", k
        out[k] = tuple(v.shape)
    return out


def clip_text(cfg):
    """transformers' CLIPTextModel / CLIPTextModelWithProjection state dict names and shapes."""
    d, m = cfg["hidden_size"], cfg["intermediate_size"]
    s = {"text_model.embeddings.token_embedding.weight": (cfg["vocab_size"], d),
         "text_model.embeddings.position_embedding.weight": (cfg["max_position_embeddings"], d)}
    for i in range(cfg["num_hidden_layers"]):
        p = "text_model.encoder.layers.%d." % i
        for n in ("k_proj", "v_proj", "q_proj", "out_proj"):
            s[p + "self_attn." + n + ".weight"] = (d, d)
            s[p + "self_attn." + n + ".bias"] = (d,)
        s[p + "layer_norm1.weight"] = (d,)
        s[p + "layer_norm1.bias"] = (d,)
        s[p + "mlp.fc1.weight"] = (m, d)
        s[p + "mlp.fc1.bias"] = (m,)
        s[p + "mlp.fc2.weight"] = (d, m)
        s[p + "mlp.fc2.bias"] = (d,)
        s[p + "layer_norm2.weight"] = (d,)
        s[p + "layer_norm2.bias"] = (d,)
    s["text_model.final_layer_norm.weight"] = (d,)
    s["text_model.final_layer_norm.bias"] = (d,)
    if cfg["projection_dim"] is not None:
        s["text_projection.weight"] = (cfg["projection_dim"], d)
    return s


# ---------------------------------------------------------------- the oracle

def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SD = load_script("convert_diffusers_to_original_stable_diffusion")
XL = load_script("convert_diffusers_to_original_sdxl")


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def sd_unet(sd):
    return {"model.diffusion_model." + k: v for k, v in SD.convert_unet_state_dict(sd).items()}


def xl_unet(sd):
    return {"model.diffusion_model." + k: v for k, v in XL.convert_unet_state_dict(sd).items()}


def refiner_unet(sd):
    # convert_diffusers_to_original_sdxl.py hard-codes the base's three levels; the refiner has
    # SD's four (attention in down/up blocks 1 and 2), which the SD script's rules cover; its
    # add_embedding becomes label_emb as in the SDXL script.
    rest = {k: v for k, v in sd.items() if not k.startswith("add_embedding.")}
    out = sd_unet(rest)
    names = dict((hf, ldm) for ldm, hf in XL.unet_conversion_map)
    for k, v in sd.items():
        if k.startswith("add_embedding."):
            out["model.diffusion_model." + names[k]] = v
    return out


def vae(sd):
    return {"first_stage_model." + k: v for k, v in SD.convert_vae_state_dict(sd).items()}


def sd2_text(sd):
    t = {"transformer." + k: v for k, v in sd.items()}
    return {"cond_stage_model.model." + k: v
            for k, v in SD.convert_text_enc_state_dict_v20(t).items()}


def clip_l(prefix):
    def convert(sd):
        return {prefix + k: v for k, v in XL.convert_openai_text_enc_state_dict(sd).items()}
    return convert


def bigg(prefix):
    def convert(sd):
        out = {prefix + k: v for k, v in XL.convert_openclip_text_enc_state_dict(sd).items()}
        out[prefix + "text_projection"] = out.pop(prefix + "text_projection.weight").T.contiguous()
        return out
    return convert


def tag_tensors(shapes):
    """Small float64 tensors: row r of source i holds i * 2**20 + r; 2-D and wider become
    (rows, 1) so that a transpose shows."""
    ids = {}
    out = {}
    for i, (k, s) in enumerate(shapes.items()):
        ids[i] = k
        rows = s[0] if s else 1
        t = torch.arange(rows, dtype=torch.float64) + i * 2 ** 20
        out[k] = t.reshape(rows, 1) if len(s) >= 2 else t if s else t.reshape(())
    return ids, out


def rows(component, shapes, convert):
    meta = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    ldm_shapes = {k: tuple(v.shape) for k, v in quiet(convert, meta).items()}
    ids, tags = tag_tensors(shapes)
    converted = quiet(convert, tags)
    assert converted.keys() == ldm_shapes.keys()
    table = []
    found = set()
    for ldm, t in converted.items():
        transposed = t.dim() == 2 and t.shape[0] == 1 and t.shape[1] > 1
        flat = t.reshape(-1)
        sources = sorted(set(int(x) >> 20 for x in flat.tolist()))
        for src in sources:
            name = ids[src]
            idx = [j for j, x in enumerate(flat.tolist()) if int(x) >> 20 == src]
            first, last = idx[0], idx[-1] + 1
            rows_here = [int(flat[j]) & (2 ** 20 - 1) for j in idx]
            assert rows_here == list(range(len(idx))), (ldm, name)
            whole = len(sources) == 1
            if transposed:
                assert whole
                view = "transpose"
            elif whole:
                view = "-"
            else:
                view = "rows %d:%d" % (first, last)
            table.append((component, name, shapes[name], ldm, ldm_shapes[ldm], view))
            found.add(name)
    assert found == set(shapes), set(shapes) - found
    order = {k: i for i, k in enumerate(shapes)}
    table.sort(key=lambda r: order[r[1]])
    return table


def unused(rows_):
    return [("unused", "-", None, ldm, shape, "-") for ldm, shape in rows_]


def openclip_h_extras():
    p = "cond_stage_model.model."
    d, m = 1024, 4096
    r = p + "transformer.resblocks.23."
    extras = [(r + "ln_1.weight", (d,)), (r + "ln_1.bias", (d,)),
              (r + "attn.in_proj_weight", (3 * d, d)), (r + "attn.in_proj_bias", (3 * d,)),
              (r + "attn.out_proj.weight", (d, d)), (r + "attn.out_proj.bias", (d,)),
              (r + "ln_2.weight", (d,)), (r + "ln_2.bias", (d,)),
              (r + "mlp.c_fc.weight", (m, d)), (r + "mlp.c_fc.bias", (m,)),
              (r + "mlp.c_proj.weight", (d, m)), (r + "mlp.c_proj.bias", (d,)),
              (p + "text_projection", (d, d)), (p + "logit_scale", ())]
    return unused(extras)


def fmt(shape):
    return "-" if shape is None else "[" + ", ".join(str(x) for x in shape) + "]"


def write(folder, table):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "keys.tsv"), "w") as f:
        f.write("component\tdiffusers_or_transformers_key\tshape\tldm_single_file_key\t"
                "ldm_shape\tldm_view\n")
        for c, name, shape, ldm, ldm_shape, view in table:
            f.write("\t".join([c, name, fmt(shape), ldm, fmt(ldm_shape), view]) + "\n")
    print(folder, len(table), "rows")


def main(out):
    with on_meta():
        unet21 = shapes_of(UNet2DConditionModel(**UNET_SD21))
        vae_sd = shapes_of(AutoencoderKL(**VAE_SD))
        unet_base = shapes_of(UNet2DConditionModel(**UNET_SDXL_BASE))
        vae_xl = shapes_of(AutoencoderKL(**VAE_SDXL))
        unet_refiner = shapes_of(UNet2DConditionModel(**UNET_SDXL_REFINER))

    write(os.path.join(out, "sd21"),
          rows("unet", unet21, sd_unet) + rows("vae", vae_sd, vae)
          + rows("text_encoder", clip_text(TEXT_SD21), sd2_text) + openclip_h_extras())
    write(os.path.join(out, "sdxl-base"),
          rows("unet", unet_base, xl_unet) + rows("vae", vae_xl, vae)
          + rows("text_encoder", clip_text(TEXT_CLIP_L),
                 clip_l("conditioner.embedders.0.transformer."))
          + rows("text_encoder_2", clip_text(TEXT_BIGG), bigg("conditioner.embedders.1.model."))
          + unused([("conditioner.embedders.1.model.logit_scale", ())]))
    write(os.path.join(out, "sdxl-refiner"),
          rows("unet", unet_refiner, refiner_unet) + rows("vae", vae_xl, vae)
          + rows("text_encoder_2", clip_text(TEXT_BIGG), bigg("conditioner.embedders.0.model."))
          + unused([("conditioner.embedders.0.model.logit_scale", ())]))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/fixtures")
