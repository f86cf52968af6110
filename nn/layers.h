/* Basic layers. Each declares its parameters in a ParamSet under a name
 * prefix (the checkpoint names of spec/albef_blip.md §8) and applies them with
 * the ops of autograd/ops.h. Initialisation follows BERT/timm: Linear and
 * Embedding weights N(0, 0.02²) (truncated for ViT), biases 0, LayerNorm 1/0. */
#ifndef NN_LAYERS_H
#define NN_LAYERS_H

#include "autograd/params.h"
#include "core/rng.h"
#include "core/tensor.h"

typedef struct {
    Tensor *weight; /* [out, in] */
    Tensor *bias;   /* [out] or NULL */
    int in, out;
} Linear;

/* Declares "<prefix>.weight" and, when has_bias, "<prefix>.bias". */
void linear_declare(Linear *l, ParamSet *ps, const char *prefix, int in, int out, int has_bias);
/* The same with a chosen weight initialisation (linear_declare uses
 * PARAM_INIT_NORMAL as BERT; the ViT blocks use PARAM_INIT_TRUNC_NORMAL as timm). */
void linear_declare_init(Linear *l, ParamSet *ps, const char *prefix, int in, int out, int has_bias,
                         ParamInit weight_init);
Tensor *linear_forward(const Linear *l, Tensor *x);

typedef struct {
    Tensor *weight, *bias; /* [dim] */
    float eps;
} LayerNorm;

/* Declares "<prefix>.weight" and "<prefix>.bias". */
void layernorm_declare(LayerNorm *ln, ParamSet *ps, const char *prefix, int dim, float eps);
Tensor *layernorm_forward(const LayerNorm *ln, Tensor *x);
/* layernorm_forward(ln, op_add(x, a)) in one pass (op_add_layernorm): a
 * transformer block's residual add and norm; *sum, when not NULL, receives
 * x + a (the residual stream of a pre-norm block). */
Tensor *layernorm_add_forward(const LayerNorm *ln, Tensor *x, Tensor *a, Tensor **sum);
/* The same two, for a norm whose output only products read (a pre-norm):
 * stored in the products' type (bf16 under --precision bf16 on a device,
 * the bits the products' cast of the f32 output would give; f32 otherwise). */
Tensor *layernorm_forward_for_products(const LayerNorm *ln, Tensor *x);
Tensor *layernorm_add_forward_for_products(const LayerNorm *ln, Tensor *x, Tensor *a, Tensor **sum);

typedef struct {
    Tensor *weight; /* [count, dim] */
} Embedding;

/* Declares "<prefix>.weight". */
void embedding_declare(Embedding *e, ParamSet *ps, const char *prefix, int count, int dim);
Tensor *embedding_forward(const Embedding *e, Tensor *ids);

/* Two Linears with an exact GELU between: names "<prefix>.<fc1_name>" and
 * "<prefix>.<fc2_name>" (ViT: "fc1"/"fc2"), truncated-normal weights as timm. */
typedef struct {
    Linear fc1, fc2;
} Mlp;

void mlp_declare(Mlp *m, ParamSet *ps, const char *prefix, const char *fc1_name, const char *fc2_name, int dim,
                 int hidden);
Tensor *mlp_forward(const Mlp *m, Tensor *x);

/* Dropout whose mask is fixed by (seed, stream): the caller advances the
 * stream per call site and step so masks never repeat. Identity when !training. */
typedef struct {
    float p;
    int training;
    uint64_t seed;
    uint64_t stream; /* incremented by each dropout_forward call */
} DropoutState;

/* d == NULL is allowed and means no dropout. */
Tensor *dropout_forward(DropoutState *d, Tensor *x);

/* Data parallel (core/comm.h): the rows of the global batch this rank's
 * activations hold (core/rng.h RngRows), set by the training loop around its
 * steps. Every dropout (dropout_forward, attention_heads) then draws a row's
 * mask at the row's index in one process's tensor, so the ranks together
 * drop what one process drops on the global batch. RNG_ROWS_ONE (the
 * default): one process. Process-wide, as the rank is. */
void dropout_set_batch_rows(RngRows rows);
RngRows dropout_batch_rows(void);

#endif
