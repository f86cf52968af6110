/* Bicubic resampling in the two conventions the reference pipeline uses.
 *
 * image_resize_bicubic: PIL's Image.resize(size, BICUBIC) on uint8 RGB, the
 * resize inside torchvision's Resize/RandomResizedCrop on PIL images
 * (spec/albef_blip.md §5.5). Separable, horizontal pass first, then vertical:
 * for output index o the source centre is c = (o + 0.5) * in/out; the kernel
 * is Keys' cubic with a = -0.5, stretched by f = max(in/out, 1) (antialiasing
 * when downscaling), so the taps are the source pixels i with
 * floor(c - 2f + 0.5) <= i < floor(c + 2f + 0.5) clipped to the image, weighted
 * by k((i - c + 0.5) / f) and normalised to sum 1. As in PIL the weights are
 * rounded to 22-bit fixed point and each pass rounds and clamps to uint8.
 *
 * bicubic_resize_grid_f32: torch.nn.functional.interpolate(mode="bicubic",
 * align_corners=False, antialias=False) on float data (spec §1.3), used to
 * resize position-embedding grids: source s = (o + 0.5) * in/out - 0.5,
 * taps floor(s)-1 .. floor(s)+2 clamped to the edge, Keys' cubic a = -0.75,
 * computed in float32 as PyTorch's CPU kernel does. */
#ifndef DATA_IMAGE_RESIZE_H
#define DATA_IMAGE_RESIZE_H

#include "data/image.h"

/* Resizes a uint8 image into a newly allocated dst (out_w x out_h). 0 or -1. */
int image_resize_bicubic(const Image *src, int out_w, int out_h, Image *dst);

/* Copies the rectangle [x, x+w) x [y, y+h) (inside src) into a new dst. 0 or -1. */
int image_crop(const Image *src, int x, int y, int w, int h, Image *dst);

/* src: C x Hs x Ws (channel-major, as PyTorch's NCHW with N = 1);
 * dst: C x Hd x Wd. */
void bicubic_resize_grid_f32(const float *src, int C, int Hs, int Ws, float *dst, int Hd, int Wd);

#endif
