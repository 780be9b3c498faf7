#!/usr/bin/env python3
"""Joins jdiffusion's and diffusers' benchmark tables (issue 19) by section and measure.

  bench_ratio.py LABEL JDIFFUSION_OUTPUT DIFFUSERS_TABLE [LABEL J D ...]

Each JDIFFUSION_OUTPUT is what `jdiffusion bench` printed (its Markdown table is found in it);
each DIFFUSERS_TABLE is a table diffusers_bench.py wrote with --markdown. LABEL names the pair
(fp32, fp16). Prints one Markdown table: both medians and jdiffusion ÷ diffusers. Standard
library only (the device's Python may have nothing else). Exit status 1 if no row matched.
"""
import sys


def rows(path):
    """{(section, measure): (value, unit)} of the Markdown table rows in the file."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("| ") or len(cells) < 4 or cells[0] in ("section", "---"):
                continue
            try:
                value = float(cells[2])
            except ValueError:
                continue
            out[(cells[0], cells[1])] = (value, cells[3])
    return out


def main(argv):
    if len(argv) < 3 or len(argv) % 3:
        sys.exit(__doc__)
    print("| measure | type | jdiffusion | diffusers | unit | jdiffusion ÷ diffusers |")
    print("|---|---|---:|---:|---|---:|")
    matched = 0
    for i in range(0, len(argv), 3):
        label, jd, df = argv[i:i + 3]
        j, d = rows(jd), rows(df)
        for key in [k for k in j if k in d]:
            (jv, unit), (dv, _) = j[key], d[key]
            ratio = jv / dv if dv else float("nan")
            print(f"| {key[0]}: {key[1]} | {label} | {jv:.4g} | {dv:.4g} | {unit} | {ratio:.2f} |")
            matched += 1
        for key in sorted(set(j) ^ set(d)):
            side = "jdiffusion" if key in j else "diffusers"
            print(f"| {key[0]}: {key[1]} | {label} | {'' if side == 'diffusers' else j[key][0]:} |"
                  f" {'' if side == 'jdiffusion' else d[key][0]} | (only {side}) | |")
    print()
    print("(s and s/image: above 1 = jdiffusion slower; it/s: below 1 = jdiffusion slower;"
          " MiB: above 1 = jdiffusion uses more)")
    return 0 if matched else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
