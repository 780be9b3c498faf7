"""Key coverage of LoRA names against diffusers v0.27.2's own kohya conversion.

For every weight of Stable Diffusion 1.5 that a LoRA can patch (every matrix or convolution
kernel of the UNet and the CLIP text encoder, from keys.tsv), build the kohya name
(lora_unet_<module with dots as underscores>, lora_te_...), run diffusers'
_convert_kohya_lora_to_diffusers on a one-layer state dict, and record the diffusers key it
produces. The Java test LoraKeyCoverageTest checks that jdiffusion maps the kohya name and the
diffusers name to the same parameter wherever diffusers' name is a real module path.

Usage:
  PYTHONPATH=scripts/reference:/tmp/ref/diffusers/src:/tmp/ref/hub/src /usr/bin/python3 \
      scripts/reference/lora_key_coverage.py ../shared/fixtures/sd15/keys.tsv \
      diffusion-djl/src/test/resources/reference/lora/kohya_to_diffusers.tsv
"""
import sys

import torch
from diffusers.loaders.lora_conversion_utils import _convert_kohya_lora_to_diffusers


def main(keys_tsv, out_tsv):
    rows = []
    with open(keys_tsv) as f:
        next(f)
        for line in f:
            component, name, shape = line.rstrip("\n").split("\t")[:3]
            dims = [int(d) for d in shape.strip("[]").split(",")]
            if component not in ("unet", "text_encoder") or not name.endswith(".weight"):
                continue
            if len(dims) < 2 or name.startswith("text_model.embeddings."):
                continue
            module = name[: -len(".weight")]
            prefix = "lora_unet_" if component == "unet" else "lora_te_"
            kohya = prefix + module.replace(".", "_")
            sd = {
                kohya + ".lora_down.weight": torch.zeros(1),
                kohya + ".lora_up.weight": torch.zeros(1),
                kohya + ".alpha": torch.tensor(1.0),
            }
            try:
                converted, alphas = _convert_kohya_lora_to_diffusers(sd)
                down = [k for k in converted if ".down." in k or "lora_A" in k]
                result = down[0] if len(down) == 1 else "ERROR: %d down keys" % len(down)
            except Exception as e:  # diffusers refuses the name
                result = "ERROR: " + type(e).__name__
            rows.append((component, name, kohya, result))
    with open(out_tsv, "w") as f:
        f.write("component\tparameter\tkohya_module\tdiffusers_down_key\n")
        for r in rows:
            f.write("\t".join(r) + "\n")
    print("wrote %d rows to %s" % (len(rows), out_tsv))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
