#!/usr/bin/python3
"""Writes the image fixtures of tests/test_image_*.c into tests/fixtures/images/.

Run with Debian's interpreter (it has PIL and torch): /usr/bin/python3 scripts/make_image_fixtures.py
Everything is deterministic (numpy seed 0), so rerunning rewrites identical files
(JPEG bytes depend on the libjpeg-turbo build PIL links).

Files:
  <name>.jpg / <name>.png     one image per colour type
  <name>_<ext>.ref.ppm        Image.open(f).convert("RGB") pixels (binary PPM)
  resize_src.ppm              37x23 RGB source of the resize references
  resize_<W>x<H>.ppm          PIL resize(BICUBIC) of resize_src
  grid_<C>x<H>x<W>.f32        random float32 grid, C-major (little endian)
  grid_<C>x<H>x<W>_to_<h>x<w>.f32  torch interpolate(bicubic, align_corners=False)
  eval_<S>.f32                the eval transform of resize_src at size S, CHW float32
"""
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "images")
rng = np.random.default_rng(0)


def pattern(w, h):
    """Smooth colour gradients plus noise: JPEG and resize have work to do."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * x / max(w - 1, 1)
    g = 255 * y / max(h - 1, 1)
    b = 128 + 100 * np.sin(x / 3.0) * np.cos(y / 4.0)
    img = np.stack([r, g, b], -1) + rng.normal(0, 20, (h, w, 3))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_ppm(path, arr):
    h, w, _ = arr.shape
    with open(path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (w, h))
        f.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())


def ref(name):
    im = Image.open(os.path.join(OUT, name)).convert("RGB")
    write_ppm(os.path.join(OUT, name.replace(".", "_") + ".ref.ppm"), np.asarray(im))


def png_chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16_rgb(path, arr16):
    """PIL cannot write 16-bit RGB, so this writes the PNG by hand (filter 0 rows)."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[y].astype(">u2").tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(png_chunk(b"IDAT", zlib.compress(raw)))
        f.write(png_chunk(b"IEND", b""))


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = pattern(37, 23)
    # JPEG: grayscale, RGB (YCbCr 4:2:0), CMYK (PIL writes Adobe-inverted CMYK).
    Image.fromarray(rgb).convert("L").save(os.path.join(OUT, "gray.jpg"), quality=90)
    Image.fromarray(rgb).save(os.path.join(OUT, "rgb.jpg"), quality=90)
    Image.fromarray(rgb).convert("CMYK").save(os.path.join(OUT, "cmyk.jpg"), quality=90)
    # PNG: every colour type.
    Image.fromarray(rgb).convert("L").save(os.path.join(OUT, "gray.png"))
    Image.fromarray(rgb).convert("1").save(os.path.join(OUT, "gray1.png"))
    la = Image.fromarray(rgb).convert("LA")
    la.putalpha(Image.fromarray(pattern(37, 23)[:, :, 0]))
    la.save(os.path.join(OUT, "gray_alpha.png"))
    pal = Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.save(os.path.join(OUT, "palette.png"), transparency=3)
    Image.fromarray(rgb).save(os.path.join(OUT, "rgb.png"))
    rgba = Image.fromarray(rgb).convert("RGBA")
    rgba.putalpha(Image.fromarray(pattern(37, 23)[:, :, 1]))
    rgba.save(os.path.join(OUT, "rgba.png"))
    rgb16 = (rgb.astype(np.uint16) * 256 + rng.integers(0, 256, rgb.shape)).astype(np.uint16)
    write_png16_rgb(os.path.join(OUT, "rgb16.png"), rgb16)
    gray16 = (rgb[:, :, 0].astype(np.uint16) * 256 + rng.integers(0, 256, rgb.shape[:2])).astype(np.uint16)
    Image.fromarray(gray16, mode="I;16").save(os.path.join(OUT, "gray16.png"))
    for name in ["gray.jpg", "rgb.jpg", "cmyk.jpg", "gray.png", "gray1.png", "gray_alpha.png", "palette.png",
                 "rgb.png", "rgba.png", "rgb16.png"]:
        ref(name)
    # 16-bit gray: PIL's convert("RGB") clamps the 16-bit value to 255 (mode "I");
    # our decoder keeps the high byte instead (data/image.h), so that is the reference.
    hi = (gray16 >> 8).astype(np.uint8)
    write_ppm(os.path.join(OUT, "gray16_png.ref.ppm"), np.stack([hi, hi, hi], -1))

    # PIL bicubic resize references (spec/albef_blip.md §5.5).
    src = Image.fromarray(rgb)
    write_ppm(os.path.join(OUT, "resize_src.ppm"), rgb)
    for w, h in [(16, 16), (50, 41), (23, 37), (8, 5), (37, 64)]:
        write_ppm(os.path.join(OUT, "resize_%dx%d.ppm" % (w, h)), np.asarray(src.resize((w, h), Image.BICUBIC)))

    # Eval transform at S = 16: PIL resize, ToTensor (/255 in float32), Normalize.
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711])
    x = torch.from_numpy(np.asarray(src.resize((16, 16), Image.BICUBIC)).copy()).permute(2, 0, 1)
    x = x.to(torch.float32).div(255)
    x = (x - mean[:, None, None]) / std[:, None, None]
    x.numpy().astype("<f4").tofile(os.path.join(OUT, "eval_16.f32"))

    # PyTorch bicubic grids (spec §1.3): 16 -> 24 (ALBEF) and 14 -> 24 (BLIP), 4 channels.
    g = torch.Generator().manual_seed(0)
    for hs in [16, 14]:
        grid = torch.randn(1, 4, hs, hs, generator=g)
        out = torch.nn.functional.interpolate(grid, size=(24, 24), mode="bicubic", align_corners=False)
        grid.numpy().astype("<f4").tofile(os.path.join(OUT, "grid_4x%dx%d.f32" % (hs, hs)))
        out.numpy().astype("<f4").tofile(os.path.join(OUT, "grid_4x%dx%d_to_24x24.f32" % (hs, hs)))
    grid = torch.randn(1, 2, 5, 7, generator=g)
    out = torch.nn.functional.interpolate(grid, size=(3, 11), mode="bicubic", align_corners=False)
    grid.numpy().astype("<f4").tofile(os.path.join(OUT, "grid_2x5x7.f32"))
    out.numpy().astype("<f4").tofile(os.path.join(OUT, "grid_2x5x7_to_3x11.f32"))


if __name__ == "__main__":
    main()
