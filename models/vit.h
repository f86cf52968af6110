/* The ViT image encoder of ALBEF/BLIP (spec/albef_blip.md §1): patch
 * embedding, class token, learned absolute positions, pre-norm blocks and a
 * final LayerNorm over all tokens. Parameter names are timm's under a prefix
 * ("visual_encoder" or its momentum twin "visual_encoder_m", §8.1). */
#ifndef MODELS_VIT_H
#define MODELS_VIT_H

#include "autograd/params.h"
#include "core/tensor.h"
#include "models/model_config.h"
#include "nn/layers.h"
#include "nn/transformer.h"

typedef struct {
    /* "<prefix>.patch_embed.proj.weight" is stored [D, 3, p, p] as the
     * checkpoint's Conv2d weight; the forward views it as [D, 3·p·p] (§1.2). */
    Tensor *patch_weight, *patch_bias;
    Tensor *cls_token;  /* [1, 1, D] */
    Tensor *pos_embed;  /* [1, 1 + G², D] */
    VitBlock *blocks;
    LayerNorm norm;
    int depth, dim, patch, image_size, tokens;
} Vit;

void vit_declare(Vit *v, ParamSet *ps, const char *prefix, const ModelConfig *c);
void vit_free(Vit *v);
/* images f32 [B, 3, H, W] (H = W = image_size) -> all token states after the
 * final LayerNorm, [B, 1 + G², D]; token 0 is the image [CLS]. */
Tensor *vit_forward(const Vit *v, Tensor *images);

/* Resizes a position table [1 + g_old², dim] to [1 + g_new², dim] as LAVIS does
 * when a checkpoint's grid differs from the model's (§1.3): the class row is
 * kept, the grid is resized by PyTorch's bicubic (A = -0.75, align_corners =
 * False, no antialias). */
void vit_interpolate_pos_embed(const float *src, int g_old, float *dst, int g_new, int dim);

#endif
