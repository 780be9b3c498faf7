#!/usr/bin/env python3
"""diffusers' side of jdiffusion's side-by-side benchmark (issue 19).

Measures, on the device's own torch, what `jdiffusion bench --only unet-sd15,vae,pipeline-sd15`
measures: the SD 1.5 UNet forward (batch 2 = one guided step), the SD 1.5 VAE decode, and a warm
StableDiffusionPipeline (DDIM, guidance 7.5, text embeddings given, decoded to a tensor), each
with random weights in the published shapes, in float32 and/or float16, with the peak GPU
memory in use. The shapes come from jdiffusion's own Sd15Configs.java (one source for both
sides); the figures are printed in the same Markdown table as jdiffusion's bench, so that
scripts/gpu/bench_ratio.py can join the two by section and measure.

Needs torch and the sources of diffusers v0.27.2 and huggingface_hub v0.22.2 on PYTHONPATH (see
scripts/gpu/README.md), plus scripts/reference on PYTHONPATH for the `safetensors` and
`transformers` stand-ins. Modules diffusers imports but these runs never use (PIL, requests,
tqdm, yaml, regex, packaging) fall back to the small stand-ins in scripts/gpu/pystubs when the
interpreter lacks them; numpy is needed by the pipeline section only (its schedulers), and that
section fails on its own without it.

  python3 scripts/gpu/diffusers_bench.py --device cuda --dtype fp32,fp16 --steps 20

Rehearsal without a GPU: --device cpu with --unet-config (a small UNet) and --latent-size 8;
--block-modules PIL,requests,... pretends those are not installed.
"""

import argparse
import importlib.abc
import importlib.machinery
import json
import os
import platform
import re
import statistics
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONFIGS = os.path.join(ROOT, "diffusion-djl/src/main/java/dev/jdiffusion/djl/nn/Sd15Configs.java")
STUBS = os.path.join(HERE, "pystubs")
SECTIONS = ("unet-sd15", "vae", "pipeline-sd15")


def java_config(name):
    """The JSON text block `name = \"\"\" ... \"\"\";` of Sd15Configs.java, parsed."""
    with open(CONFIGS, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"\b" + name + r'\s*=\s*"""\s*\n(.*?)"""', text, re.S)
    if not m:
        raise SystemExit(f"no text block {name} in {CONFIGS}")
    return json.loads(m.group(1))


class _StubsOnly(importlib.abc.MetaPathFinder):
    """Resolves the named top-level modules from scripts/gpu/pystubs only (a rehearsal of an
    interpreter that lacks them)."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.names:
            spec = importlib.machinery.PathFinder.find_spec(fullname, [STUBS])
            if spec is None:
                raise ImportError(f"{fullname} blocked (--block-modules) and no stand-in")
            return spec
        return None


class GpuMemoryPeak:
    """Device-wide memory in use (total - free, as cudaMemGetInfo reports it; the measure of
    jdiffusion's GpuMemoryPeak), sampled every 5 ms by a thread."""

    def __init__(self, torch, device):
        self.torch, self.device = torch, device
        self.peak = self.at_start = self._used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _used(self):
        free, total = self.torch.cuda.mem_get_info(self.device)
        return total - free

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._used())

    def close(self):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used())
        return self.peak


class Bench:
    def __init__(self, torch, args):
        self.torch = torch
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.results = []  # (dtype name, table row)
        self.dtype_name = None  # of the running section

    def add(self, section, name, value, unit, note):
        self.results.append((self.dtype_name, (section, name, value, unit, note)))
        print(f"{name:<40s} {fmt(value):>10s} {unit:<8s} {note}", flush=True)

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def timed(self, fn, warmup=None):
        """Median seconds of fn over args.repeat runs after warmup (default args.warmup) runs,
        and a spread note."""
        for _ in range(self.args.warmup if warmup is None else warmup):
            fn()
        runs = []
        for _ in range(self.args.repeat):
            self.sync()
            t = time.perf_counter()
            fn()
            self.sync()
            runs.append(time.perf_counter() - t)
        med = statistics.median(runs)
        return med, f"min {fmt(min(runs))}, max {fmt(max(runs))} s over {len(runs)} run" + (
            "s" if len(runs) > 1 else "")

    def build(self, cls, config, dtype):
        """A module of random weights made on the device (torch >= 2 can allocate there
        directly), in dtype."""
        torch = self.torch
        torch.manual_seed(0)
        ctx = self.device if hasattr(torch.device, "__enter__") else None
        t = time.perf_counter()
        if ctx is not None:
            with ctx:
                module = cls.from_config(config)
        else:
            module = cls.from_config(config)
        module = module.to(self.device, dtype).eval()
        if self.args.attention == "classic":
            from diffusers.models.attention_processor import AttnProcessor
            module.set_attn_processor(AttnProcessor())
        self.sync()
        params = sum(p.numel() for p in module.parameters())
        return module, params, time.perf_counter() - t

    def section(self, name, dtype_name):
        torch = self.torch
        dtype = {"fp32": torch.float32, "fp16": torch.float16}[dtype_name]
        self.dtype_name = dtype_name
        print(f"\n## {name} ({dtype_name})", flush=True)
        start = time.perf_counter()
        memory = GpuMemoryPeak(torch, self.device) if self.cuda else None
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        try:
            with torch.inference_mode():
                getattr(self, name.replace("-", "_"))(dtype, dtype_name)
        except Exception as e:  # one failing section must not stop the others
            traceback.print_exc()
            self.results.append((dtype_name, (name, "failed", float("nan"), "", f"{dtype_name}: {e!r}")))
        finally:
            if memory is not None:
                peak = memory.close()
                allocated = torch.cuda.max_memory_allocated(self.device)
                self.add(name, "peak GPU memory in use", peak / 1048576, "MiB",
                         f"{dtype_name}; whole device, sampled every 5 ms (CUDA context and the"
                         f" caching allocator included); {memory.at_start / 1048576:.0f} MiB at the"
                         f" section's start; tensors at most {allocated / 1048576:.0f} MiB")
            if self.cuda:
                torch.cuda.empty_cache()
        print(f"({name} took {time.perf_counter() - start:.1f} s)", flush=True)

    def unet_sd15(self, dtype, dtype_name):
        from diffusers import UNet2DConditionModel
        torch, a = self.torch, self.args
        cfg = self.unet_config
        unet, params, init = self.build(UNet2DConditionModel, cfg, dtype)
        size, cross = a.latent_size, cfg["cross_attention_dim"]
        print(f"UNet {cfg['block_out_channels']}, {params / 1e6:.1f} M parameters, latents"
              f" {size}×{size}, text {a.text_length}×{cross}, random init {init:.1f} s")
        for batch in a.batch:
            g = torch.Generator("cpu").manual_seed(0)
            sample = torch.randn(batch, cfg["in_channels"], size, size, generator=g).to(self.device, dtype)
            ehs = torch.randn(batch, a.text_length, cross, generator=g).to(self.device, dtype)
            t = torch.full((batch,), 500.0, device=self.device)
            std = [0.0]

            def step():
                y = unet(sample, t, encoder_hidden_states=ehs, return_dict=False)[0].float()
                std[0] = y.std(unbiased=False).item()

            med, spread = self.timed(step)
            self.add("unet-sd15", f"forward batch {batch}" + (" (= 1 guided step)" if batch == 2 else ""),
                     med, "s", f"{dtype_name}; {spread}; {self.attention_note}; output std {std[0]:.3g}")
        del unet

    def vae(self, dtype, dtype_name):
        from diffusers import AutoencoderKL
        torch, size = self.torch, self.args.latent_size
        vae, params, init = self.build(AutoencoderKL, self.vae_config, dtype)
        print(f"VAE, {params / 1e6:.1f} M parameters, random init {init:.1f} s")
        z = torch.randn(1, self.vae_config["latent_channels"], size, size,
                        generator=torch.Generator("cpu").manual_seed(0)).to(self.device, dtype)
        med, spread = self.timed(lambda: vae.decode(z, return_dict=False)[0][0, 0, 0, 0].float().item())
        self.add("vae", f"SD 1.5 decode {size * 8}²", med, "s", f"{dtype_name}; {spread}")
        del vae

    def pipeline_sd15(self, dtype, dtype_name):
        from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
        torch, a = self.torch, self.args
        unet, _, _ = self.build(UNet2DConditionModel, self.unet_config, dtype)
        vae, _, _ = self.build(AutoencoderKL, self.vae_config, dtype)
        # The SD 1.5 scheduler (scheduler/scheduler_config.json of the release).
        scheduler = DDIMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                  beta_schedule="scaled_linear", clip_sample=False,
                                  set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                       scheduler=scheduler, safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
        pipe.set_progress_bar_config(disable=True)
        g = torch.Generator("cpu").manual_seed(1)
        cross = self.unet_config["cross_attention_dim"]
        text = torch.randn(1, a.text_length, cross, generator=g).to(self.device, dtype)
        empty = torch.randn(1, a.text_length, cross, generator=g).to(self.device, dtype)
        px = a.latent_size * 8

        def run(steps):
            image = pipe(prompt_embeds=text, negative_prompt_embeds=empty, height=px, width=px,
                         num_inference_steps=steps, guidance_scale=7.5, output_type="pt",
                         generator=torch.Generator("cpu").manual_seed(1), return_dict=False)[0]
            image[0, 0, 0, 0].float().item()

        for _ in range(a.warmup):
            run(2)  # warm with a short run, as jdiffusion's pipeline-sd15 does
        med, spread = self.timed(lambda: run(a.steps), warmup=0)
        self.add("pipeline-sd15", f"{a.steps} steps ddim, guidance 7.5, text to image", med,
                 "s/image", f"{dtype_name}; {px}², diffusers StableDiffusionPipeline, prompt"
                            f" embeddings given (no text encoder), output_type pt; {spread}")
        self.add("pipeline-sd15", "steps per second (whole image time / steps)", a.steps / med,
                 "it/s", f"{dtype_name}; VAE decode included")
        del pipe, unet, vae


def fmt(v):
    if v != v:
        return "NaN"
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:.1f}"
    return f"{v:.4g}" if abs(v) >= 0.001 else f"{v:.3g}"


def table(results):
    lines = ["| section | measure | median | unit | note |", "|---|---|---:|---|---|"]
    for s, n, v, u, note in results:
        lines.append(f"| {s} | {n} | {fmt(v)} | {u} | {note} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    p.add_argument("--dtype", default="fp32,fp16", help="comma-separated: fp32, fp16")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    p.add_argument("--latent-size", type=int, default=64, help="latent height/width (64 = 512²)")
    p.add_argument("--batch", default="2", help="UNet batch sizes, comma-separated (2 = one guided step)")
    p.add_argument("--text-length", type=int, default=77)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=20, help="pipeline steps (20)")
    p.add_argument("--unet-config", help="a UNet config.json instead of SD 1.5's (rehearsals)")
    p.add_argument("--attention", choices=("default", "classic"), default="default",
                   help="diffusers' default attention processor (SDPA on torch 2) or the classic"
                        " matmul-softmax one")
    p.add_argument("--threads", type=int, default=0, help="torch intra-op threads on CPU (0 = torch's default)")
    p.add_argument("--block-modules", default="", help="rehearsal: resolve these modules from pystubs only")
    p.add_argument("--markdown", help="also write each dtype's table to this file name, in which"
                                      " {dtype} is replaced by fp32 or fp16")
    a = p.parse_args()
    a.batch = [int(b) for b in a.batch.split(",")]
    sections = [s for s in a.only.split(",") if s]
    dtypes = [d for d in a.dtype.split(",") if d]
    for s in sections:
        if s not in SECTIONS:
            p.error(f"unknown section {s!r}; choose from {', '.join(SECTIONS)}")
    for d in dtypes:
        if d not in ("fp32", "fp16"):
            p.error(f"unknown dtype {d!r}; choose fp32 or fp16")

    import torch  # before the stand-ins: torch sees the interpreter as it is

    if a.threads > 0:
        torch.set_num_threads(a.threads)

    if a.block_modules:
        sys.meta_path.insert(0, _StubsOnly(m for m in a.block_modules.split(",") if m))
        for m in a.block_modules.split(","):
            sys.modules.pop(m, None)  # e.g. numpy, which torch may have imported
    sys.path.append(STUBS)  # after every real site folder: used only for what is missing

    print(f"# diffusers bench (issue 19), Python {platform.python_version()}, torch {torch.__version__}")
    bench = Bench(torch, a)
    if bench.cuda:
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device (use --device cpu)")
        props = torch.cuda.get_device_properties(bench.device)
        print(f"device {props.name}, compute capability {props.major}.{props.minor},"
              f" {props.total_memory / 2**30:.0f} GiB; CUDA {torch.version.cuda}, cuDNN"
              f" {torch.backends.cudnn.version()}; TF32 matmul {torch.backends.cuda.matmul.allow_tf32},"
              f" TF32 cuDNN {torch.backends.cudnn.allow_tf32}")
    else:
        print(f"device cpu, {torch.get_num_threads()} threads")
    try:
        import diffusers
    except Exception:
        traceback.print_exc()
        raise SystemExit("FAIL: cannot import diffusers (PYTHONPATH needs diffusers' and"
                         " huggingface_hub's src/ and scripts/reference)")
    stubbed = sorted(n for n, m in sys.modules.items()
                     if "." not in n and n != "_standin" and (getattr(m, "__file__", None) or "").startswith(STUBS))
    print(f"diffusers {diffusers.__version__} from {os.path.dirname(diffusers.__file__)};"
          f" stand-ins used for: {', '.join(stubbed) or 'nothing'}")
    bench.unet_config = (json.load(open(a.unet_config)) if a.unet_config else java_config("UNET"))
    bench.vae_config = java_config("VAE")
    sdpa = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    bench.attention_note = ("attention: classic matmul-softmax" if a.attention == "classic"
                            else "attention: " + ("SDPA (AttnProcessor2_0)" if sdpa else "AttnProcessor"))
    for d in dtypes:
        for s in sections:
            bench.section(s, d)
    print()
    print(table(row for _, row in bench.results))
    if a.markdown:
        for d in dtypes:
            with open(a.markdown.replace("{dtype}", d), "w", encoding="utf-8") as f:
                f.write(table(row for t, row in bench.results if t == d) + "\n")
    return 1 if any(row[1] == "failed" for _, row in bench.results) else 0


if __name__ == "__main__":
    sys.exit(main())
