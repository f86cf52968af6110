// The ledger of live device allocations: what cuda_bytes_in_use() and
// cuda_peak_bytes() report and what the out-of-memory message counts. One
// ledger for the real backend (cuda/backend.cu) and the emulator's
// (tests/cuda_emu/emu_backend.cpp), so both count alike.
#ifndef CUDA_ALLOCATIONS_CUH
#define CUDA_ALLOCATIONS_CUH

#include <stddef.h>

void allocations_add(void *p, size_t bytes);
// Forgets p (a pointer the ledger does not hold is ignored).
void allocations_remove(void *p);
size_t allocations_in_use(void);
size_t allocations_peak(void);
void allocations_reset_peak(void); /* the peak restarts from what is held now */

#endif
