// Device memory of the CUDA kernel emulator: host pages, but pages that only
// "device" code may touch.
//
// Each allocation is its own mapping, ending (to 256 bytes) at a guard page,
// so a kernel running past the end of a buffer (an arena chunk, a parameter
// block) faults there. Outside kernels, copies, fills and the host GEMM, the
// pages are PROT_NONE: host code that reads a device pointer directly, which
// on a GPU machine is a crash (or garbage), faults here too, and so does a
// kernel argument that is a host pointer (checked at each launch).
#ifndef TESTS_CUDA_EMU_EMU_MEMORY_H
#define TESTS_CUDA_EMU_EMU_MEMORY_H

#include <stddef.h>

// NULL when the mapping fails.
void *emu_memory_alloc(size_t bytes);
void emu_memory_release(void *p);
// 1 when p lies inside a live device allocation.
int emu_memory_contains(const void *p);
// Device code starts (open) and ends (close); calls nest.
void emu_memory_open(void);
void emu_memory_close(void);

#endif
