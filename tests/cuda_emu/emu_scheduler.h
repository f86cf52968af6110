// The CUDA kernel emulator's scheduler: runs a kernel launch on the calling
// host thread, block after block, each block's threads as cooperative fibers.
//
// Why fibers: the kernels' logic depends on __syncthreads and warp shuffles,
// so a block's threads must really interleave at those points; one OS thread
// per CUDA thread (tried first) spends minutes in the kernel scheduler for a
// few thousand 256-thread blocks. A fiber switch is a few register moves, so
// the parity suite runs in seconds. Threads of a block run in threadIdx order
// from one sync point to the next; blocks run one at a time in blockIdx
// order (x fastest), which is one of the orders a GPU may choose.
//
// What it checks, beyond running the code: launch configurations a GPU
// rejects (reported through cudaGetLastError, like the real runtime), barrier
// divergence (a thread exits, or waits at a warp shuffle, while others wait
// at __syncthreads), shuffles whose lanes never arrive, fiber stack overflow
// (guard page), and static shared memory over the 48 KiB a block may have.
// Shared memory is filled with 0xFF bytes (a NaN in every float and double)
// before each block, so a read of a tile no thread wrote this block shows up
// in the results.
#ifndef TESTS_CUDA_EMU_EMU_SCHEDULER_H
#define TESTS_CUDA_EMU_EMU_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};

// CUDA's built-in variables: the scheduler sets them before it resumes a
// thread, so they always describe the thread that runs.
extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

// One thread's body: calls the kernel with the launch's arguments.
typedef void (*EmuThreadFn)(const void *call);

// Runs kernel `name` (identified by `key`, its address: one template source
// name may be several kernels) over the grid; returns 0, or a cudaError_t
// value for a configuration the GPU would reject (nothing runs then).
int emu_run_grid(const char *name, const void *key, dim3 grid, dim3 block, size_t dynamic_shared, EmuThreadFn fn,
                 const void *call);

// ---- sync points, called by the running thread ----

// __syncthreads and its _or/_and/_count forms: returns how many threads of
// the block passed a non-zero predicate.
int emu_barrier(int predicate, const char *file, int line);
// The warp-level rendezvous behind every shuffle and vote: deposits `value`
// and returns the warp's 32 slots (lane order) once every lane in `mask` has
// deposited its own; valid until this thread's next sync point.
const uint64_t *emu_warp_exchange(uint64_t value, unsigned int mask, const char *file, int line);

// `extern __shared__` memory of the running launch (its size is the launch's
// third configuration argument).
void *emu_dynamic_shared(void);
// Called once per `__shared__` variable (cuda/*.cu are rewritten to do so):
// the variable is poisoned before each block of the kernel that declares it.
bool emu_shared_register(void *p, size_t bytes, const char *name);

// The order in which blocks, and the threads of a block between two sync
// points, run: threadIdx/blockIdx order, or (reverse != 0) the opposite. A
// GPU promises neither, so a kernel whose results differ between the two has
// a race (threads touching the same data without a barrier between them, or
// a block reading what another block of the same launch writes). The parity
// harness runs its second device pass reversed and demands the same bits.
extern "C" void emu_set_reverse_order(int reverse);

// MMU_EMU_ACCOUNTING=1: launches are checked (configuration, pointer
// arguments) but run no thread, the cuBLASLt stand-in computes nothing, and
// copies and fills do nothing, so no page of device memory is touched.
// Values are then meaningless (zeros), but every allocation is made as in a
// real run, so a program that never reads the device back (bench_albef)
// measures the peak device memory and the operation counts at full size
// (ALBEF-base) in a minute instead of days.
bool emu_accounting_only(void);

// Stops with the kernel, the block and the thread (when inside a launch) in
// the message.
[[noreturn]] void emu_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
