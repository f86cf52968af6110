/* The tensor record: shape, element strides, dtype, device, data and gradient.
 *
 * Tensors made during a step live in the activation arena (core/arena.h) and
 * die at its reset; parameters point into long-lived buffers owned by a
 * ParamSet (autograd/params.h). A view shares `data` with its base. Gradients
 * are f32 buffers of the same shape (also for the bf16 activations of a
 * device under --precision bf16), contiguous, allocated on first use and
 * accumulated into (+=), never overwritten (STYLE.md). */
#ifndef CORE_TENSOR_H
#define CORE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_DIMS 6

typedef enum { DTYPE_F32, DTYPE_BF16, DTYPE_I32 } DType;
typedef enum { DEVICE_CPU, DEVICE_CUDA } Device;

typedef struct Tensor {
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t stride[TENSOR_MAX_DIMS]; /* in elements */
    DType dtype;
    Device device;
    void *data;          /* first element of this tensor (views point inside their base) */
    void *grad;          /* NULL until a gradient flows into it; contiguous */
    int requires_grad;   /* set on parameters; propagated by recorded ops */
    const char *name;    /* parameters: the checkpoint key; otherwise NULL */
} Tensor;

size_t dtype_size(DType dt);
const char *dtype_name(DType dt);

/* New contiguous tensor in the activation arena; contents uninitialised. */
Tensor *tensor_new(DType dt, int ndim, const int64_t *shape);
Tensor *tensor_zeros(DType dt, int ndim, const int64_t *shape);
/* The same on any device, from that device's activation arena (core/device.h). */
Tensor *tensor_new_on(Device device, DType dt, int ndim, const int64_t *shape);
Tensor *tensor_zeros_on(Device device, DType dt, int ndim, const int64_t *shape);
/* A tensor record over caller-owned memory (contiguous). */
Tensor *tensor_wrap(DType dt, int ndim, const int64_t *shape, void *data);
/* Copies a scalar or host array into a new f32 tensor. */
Tensor *tensor_from_f32(int ndim, const int64_t *shape, const float *values);
Tensor *tensor_scalar_f32(float value);

int64_t tensor_numel(const Tensor *t);
size_t tensor_nbytes(const Tensor *t);
int tensor_is_contiguous(const Tensor *t);
int tensor_same_shape(const Tensor *a, const Tensor *b);
/* Number of rows when the last dim is the row length: numel / shape[ndim-1]. */
int64_t tensor_rows(const Tensor *t);
/* Dimension index with negative values counting from the end (-1 = last). */
int tensor_dim(const Tensor *t, int dim);
/* "[2, 3, 4]" into buf, for messages. Returns buf. */
char *tensor_shape_str(const Tensor *t, char *buf, size_t size);

static inline float *tensor_f32(const Tensor *t) { return (float *)t->data; }
static inline int32_t *tensor_i32(const Tensor *t) { return (int32_t *)t->data; }
/* The gradient buffer, allocated (zeroed) on first use in the gradient arena
 * of the tensor's device (core/arena.h). Always f32, also for a bf16 tensor.
 * An op's output loses it once that op's backward has read it
 * (autograd/tape.h); a leaf's (a parameter's, an input's) stays. */
float *tensor_grad_f32(Tensor *t);
/* t's gradient for a writer that stores every element: when t has none yet,
 * a new buffer left as it is (*overwrite = 1: the caller writes its values
 * instead of adding them, and no zero fill is paid for); otherwise the
 * gradient so far (*overwrite = 0: the caller adds). */
float *tensor_grad_f32_to_overwrite(Tensor *t, int *overwrite);

/* Views sharing storage (no copy, no gradient link: use the autograd ops
 * op_reshape / op_slice when gradients must flow). */
Tensor *tensor_view_reshape(const Tensor *t, int ndim, const int64_t *shape);
/* Rows [start, start+len) of dim 0. */
Tensor *tensor_view_rows(const Tensor *t, int64_t start, int64_t len);
/* A contiguous copy (for a strided view). */
Tensor *tensor_contiguous_copy(const Tensor *t);

/* Shape literal helper: SHAPE(2, 3) expands to `2, (const int64_t[]){2, 3}`
 * style arguments: tensor_new(DTYPE_F32, SHAPE(B, T, D)). */
#define SHAPE_COUNT_(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define SHAPE(...) SHAPE_COUNT_(__VA_ARGS__), (const int64_t[]){__VA_ARGS__}

#endif
