// bf16 copies of the parameter blocks, read by the bf16 GEMMs instead of a
// cast of the f32 weight per product (cuda/param_copies.cu has the rule).
#ifndef CUDA_PARAM_COPIES_CUH
#define CUDA_PARAM_COPIES_CUH

#include <cuda_bf16.h>
#include <stddef.h>
#include <stdint.h>

// A ParamSet's value block of n floats now lives on the device (the kernel
// table's param_block_added, called by params_to_device).
void param_copies_add(const float *values, int64_t n);
// Something wrote bytes at p (a device copy or fill, a kernel through the
// kernel table's param_block_written): a block it overlaps is stale.
void param_copies_written(const void *p, size_t bytes);
// p is being released: a block starting there drops its copy.
void param_copies_released(const void *p);
// The bf16 values of x[0, n) from its block's copy (refreshed first when
// stale), or NULL when x is not inside a block or copies are off.
const __nv_bfloat16 *param_copy_read(const float *x, int64_t n);
// For an optimizer kernel about to rewrite p[0, n): the copy's slice to
// write beside it, or NULL (no copy, or a stale one that the next read
// refreshes whole).
__nv_bfloat16 *param_copy_update_slice(const float *p, int64_t n);

#endif
