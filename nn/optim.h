/* Optimizers over a ParamSet's flat value/gradient blocks. Only parameters
 * with requires_grad are updated (frozen groups stay bit-identical). The
 * moments are one allocation each (STYLE.md "Memory is planned"). */
#ifndef NN_OPTIM_H
#define NN_OPTIM_H

#include <stdint.h>

#include "autograd/params.h"

/* AdamW as torch.optim.AdamW: decoupled weight decay p -= lr·wd·p, then
 * p -= lr · m̂ / (√v̂ + eps) with bias-corrected moments. */
typedef struct {
    ParamSet *params;
    Device device; /* where m and v live: the ParamSet's device at init */
    float *m, *v;
    unsigned char *decay; /* per parameter (ParamSet order): 1 = weight decay applies; all 1 after init */
    float beta1, beta2, eps, weight_decay;
    int64_t step;
} AdamW;

void adamw_init(AdamW *opt, ParamSet *ps, float beta1, float beta2, float eps, float weight_decay);
void adamw_free(AdamW *opt);
/* LAVIS's two parameter groups (spec/albef_blip.md §5.3): turns decay off for
 * every parameter optim_lavis_no_decay() selects. Returns how many. */
int adamw_use_lavis_decay_groups(AdamW *opt);
/* 1 for a parameter LAVIS excludes from weight decay: fewer than 2 dims, or a
 * name containing "bias", "ln" or "bn". */
int optim_lavis_no_decay(const Tensor *p);
void adamw_step(AdamW *opt, float lr);

/* SGD with momentum as torch.optim.SGD (dampening 0, no Nesterov):
 * b = μ b + g (+ wd·p); p -= lr · b. */
typedef struct {
    ParamSet *params;
    Device device; /* where buf lives: the ParamSet's device at init */
    float *buf;
    float momentum, weight_decay;
    int64_t step;
} Sgd;

void sgd_init(Sgd *opt, ParamSet *ps, float momentum, float weight_decay);
void sgd_free(Sgd *opt);
void sgd_step(Sgd *opt, float lr);

/* Scales the gradients of trainable parameters so their global L2 norm is at
 * most max_norm (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping. */
float clip_grad_norm(ParamSet *ps, float max_norm);

#endif
