#!/usr/bin/env python3
"""Builds the reference fixtures of jdiffusion's tiny-autoencoder and tiled-VAE tests.

It writes small random-weight models in the diffusers layout and records what diffusers v0.27.2
computes with them:

- taesd/ and taesd-silu/: an AutoencoderTiny (TAESD's architecture, as in madebyollin/taesd and
  madebyollin/taesdxl, shrunk to 8 channels) with its encoder output and decoder output on
  seeded random inputs; the second one uses act_fn "silu", three blocks and 16 latent channels.
- tiled/: an AutoencoderKL with a small sample_size (16 pixels, so 8-latent tiles) and the
  outputs of its tiled_decode and tiled_encode (enable_tiling) on inputs several tiles wide,
  with sizes that are not multiples of the tile stride, plus its untiled outputs.

Nothing here is needed to build or test jdiffusion; the outputs are committed under
diffusion-djl/src/test/resources/reference/. To regenerate them (set-up as make_fixtures.py):

  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src \
      /usr/bin/python3 scripts/reference/make_decoder_fixtures.py \
      diffusion-djl/src/test/resources/reference
"""

import os
import sys

import torch

import diffusers
from diffusers import AutoencoderKL, AutoencoderTiny
from safetensors.torch import save_file

assert diffusers.__version__ == "0.27.2", diffusers.__version__
torch.set_grad_enabled(False)

TAESD = {
    "taesd": dict(encoder_block_out_channels=[8, 8, 8, 8], decoder_block_out_channels=[8, 8, 8, 8],
                  num_encoder_blocks=[1, 2, 2, 1], num_decoder_blocks=[2, 1, 2, 1],
                  latent_channels=4, act_fn="relu"),
    "taesd-silu": dict(encoder_block_out_channels=[8, 8, 8], decoder_block_out_channels=[8, 8, 8],
                       num_encoder_blocks=[1, 1, 2], num_decoder_blocks=[2, 1, 1],
                       latent_channels=16, act_fn="silu", latent_magnitude=3, latent_shift=0.5,
                       upsampling_scaling_factor=2),
}

TILED_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 16],
                 down_block_types=["DownEncoderBlock2D"] * 2,
                 up_block_types=["UpDecoderBlock2D"] * 2, layers_per_block=1, norm_num_groups=4,
                 sample_size=16, scaling_factor=0.18215)


def save_model(model, folder):
    model.save_config(folder)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              os.path.join(folder, "diffusion_pytorch_model.safetensors"))


def perturb(model, g):
    """Random weights of a scale that keeps activations O(1) (fresh convs are too quiet)."""
    for p in model.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * (1.0 / max(1, p[0].numel()) ** 0.5))


def main(out):
    for seed, (name, config) in enumerate(TAESD.items(), start=11):
        folder = os.path.join(out, name)
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        taesd = AutoencoderTiny(**config).eval()
        perturb(taesd, g)
        save_model(taesd, folder)
        f = 2 ** (len(config["encoder_block_out_channels"]) - 1)
        pixels = torch.rand((1, 3, 8 * f, 6 * f), generator=g) * 2 - 1
        latents = torch.randn((2, config["latent_channels"], 5, 7), generator=g) * 2
        ref = {"in.pixels": pixels, "encoded": taesd.encode(pixels).latents,
               "in.latents": latents, "decoded": taesd.decode(latents).sample}
        save_file({k: v.float().contiguous() for k, v in ref.items()},
                  os.path.join(folder, "reference.safetensors"))

    folder = os.path.join(out, "tiled")
    torch.manual_seed(21)
    g = torch.Generator().manual_seed(21)
    vae = AutoencoderKL(**TILED_VAE).eval()
    save_model(vae, os.path.join(folder, "vae"))
    # latents 20 x 14 with 8-latent tiles at stride 6: 4 x 3 tiles, the last ones partial
    latents = torch.randn((2, 4, 20, 14), generator=g)
    pixels = torch.rand((1, 3, 40, 26), generator=g) * 2 - 1
    ref = {"in.latents": latents, "in.pixels": pixels,
           "decoded.plain": vae.decode(latents).sample,
           "encoded.plain": vae.encode(pixels).latent_dist.mean}
    vae.enable_tiling()
    ref["decoded.tiled"] = vae.decode(latents).sample
    ref["encoded.tiled"] = vae.encode(pixels).latent_dist.mean
    assert not torch.allclose(ref["decoded.tiled"], ref["decoded.plain"], atol=1e-3)
    save_file({k: v.float().contiguous() for k, v in ref.items()},
              os.path.join(folder, "reference.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "diffusion-djl/src/test/resources/reference")
