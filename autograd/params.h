/* Named parameters.
 *
 * A model declares its parameters by name (the names are the checkpoint keys,
 * e.g. "visual_encoder.blocks.0.attn.qkv.weight", spec/albef_blip.md §8), then
 * params_finalize() places all values in one allocation and all gradients in
 * another (STYLE.md "Memory is planned"). Freezing is per parameter:
 * requires_grad = 0 means no gradient flows into it and optimizers skip it;
 * groups such as "fusion only" are selected by name prefix. */
#ifndef AUTOGRAD_PARAMS_H
#define AUTOGRAD_PARAMS_H

#include <stdint.h>

#include "core/tensor.h"

/* How params_initialize() fills a parameter. */
typedef enum {
    PARAM_INIT_ZEROS,
    PARAM_INIT_ONES,
    PARAM_INIT_NORMAL,        /* N(0, std²) */
    PARAM_INIT_TRUNC_NORMAL,  /* N(0, std²) redrawn outside ±2 std (timm's trunc_normal_) */
    PARAM_INIT_UNIFORM,       /* U(-std, std): PyTorch's default Linear init with std = 1/sqrt(fan_in) */
} ParamInit;

typedef struct {
    Tensor **items;
    ParamInit *inits;
    float *init_std;
    unsigned char *product_only; /* per item: read by products alone (params_mark_product_weight) */
    int count, capacity;
    float *values;      /* one block: every parameter's data, in declaration order */
    float *grads;       /* one block: every parameter's gradient */
    int64_t total;      /* elements in each block */
    int finalized;
    Device device;      /* where `values` and `grads` live (params_to_device); the CPU by default */
    /* params_freeze_to_product_type: the product weights, bf16 only, one
     * block; NULL otherwise. `values` and `total` then cover the rest. */
    void *product_values;
} ParamSet;

void params_init(ParamSet *ps);
void params_free(ParamSet *ps);
/* Declares a parameter (before finalize), initialised to zeros. The name is
 * copied. Duplicate names abort. */
Tensor *params_add(ParamSet *ps, const char *name, int ndim, const int64_t *shape);
/* Declares a parameter with its initialisation rule. */
Tensor *params_add_init(ParamSet *ps, const char *name, int ndim, const int64_t *shape, ParamInit init,
                        float std);
/* Fills every parameter by its rule. Each parameter draws from its own Philox
 * stream keyed by a hash of its name, so adding a parameter never changes the
 * values of the others. */
void params_initialize(ParamSet *ps, uint64_t seed);
/* Allocates the value and gradient blocks (both zeroed) and points each parameter into them. */
void params_finalize(ParamSet *ps);
Tensor *params_find(const ParamSet *ps, const char *name);
void params_zero_grad(ParamSet *ps);
/* Moves the value and gradient blocks to `device` (one allocation each,
 * values copied, the old blocks freed); every parameter tensor then lives
 * there. Initialise or load on the host first. */
void params_to_device(ParamSet *ps, Device device);
/* Offset of a parameter's first element in the value/gradient blocks. */
int64_t params_offset(const ParamSet *ps, const Tensor *p);

/* A set that never takes a gradient again (MultiDelete's frozen original,
 * which runs only without a tape; ALBEF's momentum twins, which follow by EMA)
 * gives back its gradient block, 4 bytes per parameter (0.8 GB for
 * ALBEF-base), and its parameters stop requiring one. */
void params_freeze(ParamSet *ps);

/* p (a parameter of ps) is read by matrix products alone (a Linear's
 * weight: nn/layers.c), so a frozen set may keep it in the products' type
 * (params_freeze_to_product_type). */
void params_mark_product_weight(ParamSet *ps, const Tensor *p);
/* A frozen set (params_freeze) on a device whose products read bf16
 * (--precision bf16) keeps its product weights as bf16 only: they move to
 * a bf16 block of their own, each 256-byte aligned for cuBLASLt, and the f32
 * block shrinks to the rest (norms, biases, embeddings: read in f32). The
 * products read the same bits as the casts they made before. MultiDelete's
 * frozen original, which only runs forwards: ALBEF-base's 0.78 GiB of f32
 * values and 0.39 GiB bf16 copy become 0.34 GiB of bf16 weights and 0.09 GiB
 * of f32 (bench/README.md). A no-op on the CPU or under fp32. Such a set
 * cannot be copied, averaged, moved or saved (those calls stop). */
void params_freeze_to_product_type(ParamSet *ps);

/* Sets requires_grad on every parameter; then on those whose name starts with
 * one of the prefixes (NULL-terminated list). Returns how many matched. */
void params_set_trainable_all(ParamSet *ps, int trainable);
int params_set_trainable_prefixes(ParamSet *ps, const char *const *prefixes, int trainable);
int64_t params_count_trainable(const ParamSet *ps);
/* The first parameter holding NaN or ±inf (its index in items, and in
 * *element its first such element), or -1 when every value is finite. Reads
 * a device copy through the host. */
int params_find_nonfinite(const ParamSet *ps, int64_t *element);
/* p (a parameter, on any device) clamped into [lo, hi] element by element,
 * in place; a device parameter is clamped there, without reading it back. */
void params_clamp(Tensor *p, float lo, float hi);
/* Copies values from src to dst; both must hold the same names and shapes. */
void params_copy_values(ParamSet *dst, const ParamSet *src);
/* Exponential moving average ema <- mu·ema + (1 - mu)·online over ema's values,
 * which pair with the first ema->total values of online (a model declares the
 * modules with twins first); on either device, two kernels on a device. */
void params_ema_update(ParamSet *ema, const ParamSet *online, float mu);
/* twins <- the first twins->total values of online, with the same pairing as
 * params_ema_update (a model's initial momentum copy, or one rebuilt from a
 * checkpoint without twins); on either device. */
void params_copy_to_twins(ParamSet *twins, const ParamSet *online);

#endif
