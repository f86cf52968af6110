#!/usr/bin/python3
"""PIL + numpy reference for bench/images.bench.sh: the same per-image work as
bin/bench_images on one core (Python data-loader workers are processes, one
core each). Stages: decode (Image.open + convert RGB), decode+eval (resize to
SxS bicubic, /255, normalise, CHW float32), decode+train (RandomResizedCrop
parameters as torchvision draws them, crop + bicubic resize, flip, normalise;
without RandAugment, whose LAVIS version needs OpenCV, not installed here).
Prints "<stage> 1 <images/s> <images/s per core>" like bin/bench_images."""
import argparse
import glob
import math
import random
import time

import numpy as np
from PIL import Image

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)


def normalise(im):
    x = np.asarray(im, np.float32) / 255.0
    return ((x - MEAN) / STD).transpose(2, 0, 1).copy()


def crop_params(w, h, rnd):
    area = w * h
    for _ in range(10):
        target = area * rnd.uniform(0.5, 1.0)
        ar = math.exp(rnd.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return rnd.randint(0, w - cw), rnd.randint(0, h - ch), cw, ch
    return 0, 0, w, h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=384)
    a = ap.parse_args()
    paths = sorted(glob.glob(a.dir + "/img_*.jpg"))
    rnd = random.Random(7)
    S = a.size

    def decode(p):
        return Image.open(p).convert("RGB")

    def ev(p):
        return normalise(decode(p).resize((S, S), Image.BICUBIC))

    def train(p):
        im = decode(p)
        x, y, w, h = crop_params(im.width, im.height, rnd)
        im = im.crop((x, y, x + w, y + h)).resize((S, S), Image.BICUBIC)
        if rnd.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return normalise(im)

    for name, fn in [("decode", decode), ("decode+eval", ev), ("decode+train(no-RandAugment)", train)]:
        t0 = time.perf_counter()
        for i in range(a.images):
            fn(paths[i % len(paths)])
        ips = a.images / (time.perf_counter() - t0)
        print("%s 1 %.1f %.1f" % (name, ips, ips))


if __name__ == "__main__":
    main()
