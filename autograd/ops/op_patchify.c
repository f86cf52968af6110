/* ViT patch extraction (spec/albef_blip.md §1.2): images [B, C, H, W] ->
 * [B, (H/p)(W/p), C·p·p]. Patches are numbered row-major over the grid (row
 * outer, column inner), and each patch is flattened in (c, i, j) order, the
 * layout of a Conv2d weight [D, C, p, p]; so patchify followed by op_linear
 * with that weight reshaped to [D, C·p·p] is the stride-p convolution. The
 * map is a bijection, so the backward scatters without conflicts. On a device
 * each direction is one kernel of the table (autograd/device_kernels.h). */
#include "autograd/device_kernels.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/error.h"

/* Calls STMT with `img` (offset into images) and `pat` (offset into patches)
 * for every element; parallel over (batch, patch). */
#define PATCH_LOOP(B, C, H, W, P, STMT)                                                        \
    do {                                                                                       \
        int64_t gw_ = (W) / (P), np_ = ((H) / (P)) * gw_, row_ = (C) * (P) * (P);              \
        _Pragma("omp parallel for collapse(2) if ((B) * np_ * row_ > 65536)")                  \
        for (int64_t b_ = 0; b_ < (B); b_++)                                                   \
            for (int64_t q_ = 0; q_ < np_; q_++) {                                             \
                int64_t y0_ = (q_ / gw_) * (P), x0_ = (q_ % gw_) * (P);                        \
                int64_t pat = (b_ * np_ + q_) * row_;                                          \
                for (int64_t c_ = 0; c_ < (C); c_++)                                           \
                    for (int64_t i_ = 0; i_ < (P); i_++) {                                     \
                        int64_t img = ((b_ * (C) + c_) * (H) + y0_ + i_) * (W) + x0_;          \
                        for (int64_t j_ = 0; j_ < (P); j_++, img++, pat++) { STMT; }           \
                    }                                                                          \
            }                                                                                  \
    } while (0)

static void patchify_backward(TapeNode *node) {
    float *dx = tape_input_grad(node, 0);
    if (!dx) return;
    const Tensor *x = node->in[0];
    int64_t B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], P = node->i[0];
    const float *g = node->out->grad;
    if (node->out->device != DEVICE_CPU) {
        device_kernels(node->out->device, "patchify")->patchify_backward(g, dx, B, C, H, W, (int)P);
        return;
    }
    PATCH_LOOP(B, C, H, W, P, dx[img] += g[pat]);
}

Tensor *op_patchify(Tensor *images, int patch) {
    images = op_to_f32(images);
    CHECK(images->dtype == DTYPE_F32 && tensor_is_contiguous(images), "patchify: needs a contiguous f32 tensor");
    CHECK(images->ndim == 4, "patchify: images must be [B, C, H, W], got %d dims", images->ndim);
    int64_t B = images->shape[0], C = images->shape[1], H = images->shape[2], W = images->shape[3], P = patch;
    CHECK(P > 0 && H % P == 0 && W % P == 0, "patchify: image %lldx%lld is not a multiple of patch %d",
          (long long)H, (long long)W, patch);
    Tensor *out = tensor_new_on(images->device, DTYPE_F32, SHAPE(B, (H / P) * (W / P), C * P * P));
    const float *a = tensor_f32(images);
    float *y = tensor_f32(out);
    if (images->device != DEVICE_CPU)
        device_kernels(images->device, "patchify")->patchify_forward(a, y, B, C, H, W, patch);
    else
        PATCH_LOOP(B, C, H, W, P, y[pat] = a[img]);
    TapeNode *node = tape_maybe_record("patchify", patchify_backward, out, images, NULL, NULL, NULL);
    if (node) node->i[0] = P;
    return out;
}
