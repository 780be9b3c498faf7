#!/usr/bin/env python3
"""Compares two PNG images pixel by pixel, with the standard library only (the device machine
may have no Pillow). Reads 8-bit grey, RGB and RGBA PNGs without interlacing, which is what
jdiffusion writes (javax.imageio).

    pngdiff.py A.png B.png [--max-mean 2.0]

Prints the size, the largest and the mean absolute difference per channel value (0..255) and
the PSNR; exits 1 if the images differ in size or the mean difference exceeds --max-mean.
"""
import argparse
import math
import struct
import sys
import zlib

CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def read_png(path):
    """Returns (width, height, channels, rows) with rows a list of bytearrays."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace != 0:
        raise ValueError(f"{path}: only 8-bit grey/RGB/RGBA non-interlaced PNGs are read"
                         f" (depth {depth}, colour type {colour}, interlace {interlace})")
    channels = CHANNELS[colour]
    raw = zlib.decompress(b"".join(idat))
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        row = bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = prev[i]
            corner = prev[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + pred) & 0xFF
            elif kind != 0:
                raise ValueError(f"{path}: unknown filter type {kind} in row {y}")
        rows.append(row)
        prev = row
    return width, height, channels, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--max-mean", type=float, default=2.0,
                        help="largest mean absolute difference that passes (default 2.0)")
    args = parser.parse_args()
    wa, ha, ca, ra = read_png(args.a)
    wb, hb, cb, rb = read_png(args.b)
    if (wa, ha, ca) != (wb, hb, cb):
        print(f"DIFFERENT SIZE: {wa}x{ha}x{ca} vs {wb}x{hb}x{cb}")
        return 1
    diffs = [abs(x - y) for row_a, row_b in zip(ra, rb) for x, y in zip(row_a, row_b)]
    largest = max(diffs)
    mean = sum(diffs) / len(diffs)
    mse = sum(d * d for d in diffs) / len(diffs)
    psnr = math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)
    ok = mean <= args.max_mean
    print(f"{wa}x{ha}x{ca}: max |diff| {largest}, mean |diff| {mean:.3f}, PSNR {psnr:.1f} dB,"
          f" {sum(1 for d in diffs if d) * 100.0 / len(diffs):.1f}% of values differ"
          f" -> {'PASS' if ok else 'FAIL'} (mean <= {args.max_mean})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
