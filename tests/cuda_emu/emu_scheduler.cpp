// Fibers, barriers and warp exchanges of the CUDA kernel emulator (see
// emu_scheduler.h for what it runs and checks).
//
// A block runs in passes: every ready thread runs, in threadIdx order, until
// it reaches a sync point or returns (and switches straight to the next ready
// thread; the last one of the pass back to the scheduler); then the waits
// are resolved: a warp
// whose named lanes all wait at an exchange goes on, and when no warp can,
// the block's barrier opens if every live thread waits at it. "Order" is
// threadIdx order, or its reverse (emu_set_reverse_order). Anything else
// is a kernel that would hang or diverge on a GPU, and stops the run.
#include "tests/cuda_emu/emu_scheduler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define EMU_ASAN 1
#else
#define EMU_ASAN 0
#endif

#if !defined(__x86_64__)
#error "the CUDA emulator's fiber switch is written for x86-64"
#endif

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
int emu_last_launch_error;

// ---- the stack switch ----
// Saves the callee-saved registers (System V x86-64) on the current stack,
// stores the stack pointer in *save_sp, and resumes the fiber whose stack
// pointer is load_sp. A plain call for the compiler, so every caller-saved
// register is already spilled. The FP control words are not switched: no
// kernel changes the rounding mode.
extern "C" void emu_switch_stack(void **save_sp, void *load_sp);
asm(R"(
    .text
    .p2align 4
    .globl emu_switch_stack
    .type emu_switch_stack, @function
emu_switch_stack:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size emu_switch_stack, .-emu_switch_stack
)");

namespace {

enum State { READY, AT_BARRIER, AT_WARP, DONE };

struct Fiber {
    void *sp;
    State state;
    int barrier_parity, warp_parity;
    unsigned int mask;
    const char *file;
    int line;
    uint3 tid;
    void *asan_fake_stack;
};

struct SharedVar {
    void *p;
    size_t bytes;
    const void *kernel;
    const char *name;
};

const int MAX_THREADS = 1024;
const size_t SHARED_LIMIT = 48 * 1024; // static __shared__ per block (ptxas rejects more)
// ASan's redzones make frames several times larger.
const size_t STACK_BYTES = (EMU_ASAN ? 512 : 128) * 1024;

struct Scheduler {
    std::atomic<bool> running{false};
    const char *kernel = nullptr;
    const void *key = nullptr;
    EmuThreadFn fn = nullptr;
    const void *call = nullptr;
    Fiber fibers[MAX_THREADS];
    int n = 0, current = -1;
    void *sched_sp = nullptr;
    unsigned char *stacks = nullptr; // n_stacks × (guard page + STACK_BYTES)
    int n_stacks = 0;
    size_t page = 4096;
    uint64_t slots[MAX_THREADS / 32][2][32]; // warp exchange, double-buffered
    int barrier_count[2] = {0, 0};
    std::vector<unsigned char> dynamic_shared;
    std::vector<SharedVar> shared_vars;
    std::vector<size_t> kernel_vars; // indices into shared_vars of the running kernel's
    const void *sched_stack_bottom = nullptr;
    size_t sched_stack_size = 0;
    void *sched_fake_stack = nullptr;
    bool from_scheduler = false; // the switch now under way left the scheduler
    bool reverse = false;        // emu_set_reverse_order
} S;

size_t stack_stride() { return S.page + STACK_BYTES; }
unsigned char *stack_bottom(int t) { return S.stacks + (size_t)t * stack_stride() + S.page; }

void ensure_stacks(int n) {
    if (n <= S.n_stacks) return;
    if (S.stacks) munmap(S.stacks, (size_t)S.n_stacks * stack_stride());
    S.page = (size_t)sysconf(_SC_PAGESIZE);
    size_t bytes = (size_t)n * stack_stride();
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) emu_fail("cannot map %zu bytes of fiber stacks", bytes);
    S.stacks = (unsigned char *)p;
    S.n_stacks = n;
    // A guard page below each stack turns an overflow into a SIGSEGV there
    // instead of a silent write into the next thread's frames.
    for (int t = 0; t < n; t++) mprotect(S.stacks + (size_t)t * stack_stride(), S.page, PROT_NONE);
}

void asan_start(void **fake_save, const void *bottom, size_t size) {
#if EMU_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save, (void)bottom, (void)size;
#endif
}
void asan_finish(void *fake, const void **old_bottom, size_t *old_size) {
#if EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, old_bottom, old_size);
#else
    (void)fake, (void)old_bottom, (void)old_size;
#endif
}

// Right after a switch lands on a fiber: completes ASan's annotation of the
// switch and, when it came from the scheduler, keeps the scheduler's stack
// bounds for the switch back.
void entered(Fiber *f, bool from_scheduler) {
    const void *bottom;
    size_t size;
    asan_finish(f ? f->asan_fake_stack : nullptr, &bottom, &size);
    if (from_scheduler && EMU_ASAN) {
        S.sched_stack_bottom = bottom;
        S.sched_stack_size = size;
    }
}

// Leaves the running thread (at a sync point, or done) for the next ready
// thread of this pass, or the scheduler when there is none; returns when
// this thread is resumed.
void yield(Fiber *f) {
    const int step = S.reverse ? -1 : 1;
    int next = S.current + step;
    while (next >= 0 && next < S.n && S.fibers[next].state != READY) next += step;
    void *to;
    const void *bottom;
    size_t size;
    if (next >= 0 && next < S.n) {
        S.current = next;
        threadIdx = S.fibers[next].tid;
        to = S.fibers[next].sp;
        bottom = stack_bottom(next);
        size = STACK_BYTES;
    } else {
        S.current = -1;
        to = S.sched_sp;
        bottom = S.sched_stack_bottom;
        size = S.sched_stack_size;
    }
    S.from_scheduler = false;
    asan_start(f->state == DONE ? nullptr : &f->asan_fake_stack, bottom, size);
    emu_switch_stack(&f->sp, to);
    entered(f, S.from_scheduler);
}

[[noreturn]] void fiber_main() {
    Fiber *f = &S.fibers[S.current];
    entered(nullptr, S.from_scheduler);
    S.fn(S.call);
    f->state = DONE;
    yield(f);
    __builtin_unreachable();
}

// A fresh stack whose first resume "returns" into fiber_main with the
// alignment of a function entry; the layout mirrors emu_switch_stack's pops.
void fiber_start(int t) {
    uint64_t *sp = (uint64_t *)(stack_bottom(t) + STACK_BYTES);
    *--sp = 0;                        // fiber_main's return address: never used
    *--sp = (uint64_t)&fiber_main;    // popped by emu_switch_stack's ret
    for (int r = 0; r < 6; r++) *--sp = 0; // rbp, rbx, r12-r15
    Fiber *f = &S.fibers[t];
    f->sp = sp;
    f->state = READY;
    f->barrier_parity = f->warp_parity = 0;
    f->file = nullptr;
    f->line = 0;
    f->asan_fake_stack = nullptr;
}

// Runs one pass from thread t; returns when the pass's last thread yields.
void resume(int t) {
    S.current = t;
    threadIdx = S.fibers[t].tid;
    S.from_scheduler = true;
    asan_start(&S.sched_fake_stack, stack_bottom(t), STACK_BYTES);
    emu_switch_stack(&S.sched_sp, S.fibers[t].sp);
    asan_finish(S.sched_fake_stack, nullptr, nullptr);
    S.current = -1;
}

const char *state_name(State s) {
    switch (s) {
    case READY: return "running";
    case AT_BARRIER: return "waiting at __syncthreads";
    case AT_WARP: return "waiting at a warp shuffle/vote";
    case DONE: return "exited";
    }
    return "?";
}

// The message for a block that cannot go on: every distinct (state, site)
// with its first thread and how many threads share it.
[[noreturn]] void fail_stuck(const char *why) {
    char buf[2048];
    size_t len = 0;
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s:", why);
    std::vector<int> firsts;
    for (int t = 0; t < S.n && len < sizeof buf - 200; t++) {
        const Fiber &f = S.fibers[t];
        bool seen = false;
        for (int u : firsts)
            if (S.fibers[u].state == f.state && S.fibers[u].line == f.line && S.fibers[u].file == f.file) seen = true;
        if (seen) continue;
        firsts.push_back(t);
        int count = 0;
        for (int u = 0; u < S.n; u++)
            count += S.fibers[u].state == f.state && S.fibers[u].line == f.line && S.fibers[u].file == f.file;
        len += (size_t)snprintf(buf + len, sizeof buf - len, "\n    %d thread(s) %s", count, state_name(f.state));
        if (f.file) len += (size_t)snprintf(buf + len, sizeof buf - len, " (%s:%d)", f.file, f.line);
        len += (size_t)snprintf(buf + len, sizeof buf - len, ", first threadIdx (%u,%u,%u)", f.tid.x, f.tid.y,
                                f.tid.z);
    }
    emu_fail("%s", buf);
}

// Lets the lanes of warp w that wait at an exchange go on when every lane
// their masks name is waiting too. Returns whether any went on.
bool release_warp(int w) {
    int lo = w * 32, hi = lo + 32 < S.n ? lo + 32 : S.n;
    unsigned int present = hi - lo == 32 ? 0xffffffffu : (1u << (hi - lo)) - 1u;
    unsigned int waiting = 0, done = 0, needed = 0;
    for (int t = lo; t < hi; t++) {
        unsigned int bit = 1u << (t - lo);
        if (S.fibers[t].state == DONE) done |= bit;
        if (S.fibers[t].state == AT_WARP) {
            waiting |= bit;
            needed |= S.fibers[t].mask & present;
        }
    }
    if (waiting == 0 || (needed & ~waiting) != 0) {
        if (needed & done) fail_stuck("a warp shuffle/vote names lanes that have exited");
        return false;
    }
    for (int t = lo; t < hi; t++)
        if (S.fibers[t].state == AT_WARP) S.fibers[t].state = READY;
    return true;
}

void run_block() {
    for (;;) {
        const int step = S.reverse ? -1 : 1;
        int first = S.reverse ? S.n - 1 : 0, done = 0, at_barrier = 0;
        while (first >= 0 && first < S.n && S.fibers[first].state != READY) first += step;
        if (first >= 0 && first < S.n) resume(first);
        for (int t = 0; t < S.n; t++) {
            done += S.fibers[t].state == DONE;
            at_barrier += S.fibers[t].state == AT_BARRIER;
        }
        if (done == S.n) return;
        bool released = false;
        for (int w = 0; w * 32 < S.n; w++) released |= release_warp(w);
        if (released) continue;
        if (at_barrier + done < S.n) fail_stuck("deadlock: a warp waits for lanes that wait at __syncthreads");
        if (done > 0) fail_stuck("barrier divergence: threads exited while others wait at __syncthreads");
        // Everyone is at the barrier: open it. The other generation's count
        // starts afresh for the next barrier.
        int parity = S.fibers[0].barrier_parity;
        S.barrier_count[parity ^ 1] = 0;
        for (int t = 0; t < S.n; t++) S.fibers[t].state = READY;
    }
}

int launch_error(dim3 grid, dim3 block, size_t dynamic_shared) {
    const int invalid_configuration = 9, invalid_value = 1; // cudaError_t values
    uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (threads == 0 || threads > MAX_THREADS || block.x > 1024 || block.y > 1024 || block.z > 64)
        return invalid_configuration;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
        return invalid_configuration;
    if (dynamic_shared > SHARED_LIMIT) return invalid_value; // needs cudaFuncSetAttribute opt-in
    return 0;
}

} // namespace

[[noreturn]] void emu_fail(const char *fmt, ...) {
    fflush(stdout);
    fprintf(stderr, "cuda emulator: ");
    if (S.kernel) {
        fprintf(stderr, "kernel %s, block (%u,%u,%u) of (%u,%u,%u)", S.kernel, blockIdx.x, blockIdx.y, blockIdx.z,
                gridDim.x, gridDim.y, gridDim.z);
        if (S.current >= 0) fprintf(stderr, ", thread (%u,%u,%u)", threadIdx.x, threadIdx.y, threadIdx.z);
        fprintf(stderr, ": ");
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    abort();
}

bool emu_accounting_only(void) {
    static const int on = [] {
        const char *v = getenv("MMU_EMU_ACCOUNTING");
        return v != nullptr && strcmp(v, "1") == 0;
    }();
    return on;
}

int emu_run_grid(const char *name, const void *key, dim3 grid, dim3 block, size_t dynamic_shared, EmuThreadFn fn,
                 const void *call) {
    int err = launch_error(grid, block, dynamic_shared);
    if (err || emu_accounting_only()) return err;
    if (S.running.exchange(true)) emu_fail("kernel %s launched while another kernel runs (from a kernel, or from a "
                                           "second host thread)", name);
    S.kernel = name;
    S.key = key;
    S.fn = fn;
    S.call = call;
    S.n = (int)(block.x * block.y * block.z);
    ensure_stacks(S.n);
    for (int t = 0; t < S.n; t++)
        S.fibers[t].tid = uint3{t % block.x, t / block.x % block.y, t / (block.x * block.y)};
    S.dynamic_shared.assign(dynamic_shared, 0);
    S.kernel_vars.clear();
    for (size_t i = 0; i < S.shared_vars.size(); i++)
        if (S.shared_vars[i].kernel == key) S.kernel_vars.push_back(i);
    blockDim = block;
    gridDim = grid;
    const uint64_t blocks = (uint64_t)grid.x * grid.y * grid.z;
    for (uint64_t i = 0; i < blocks; i++) {
        const uint64_t b = S.reverse ? blocks - 1 - i : i;
        blockIdx = uint3{(unsigned int)(b % grid.x), (unsigned int)(b / grid.x % grid.y),
                         (unsigned int)(b / ((uint64_t)grid.x * grid.y))};
        for (size_t v : S.kernel_vars) memset(S.shared_vars[v].p, 0xFF, S.shared_vars[v].bytes);
        if (dynamic_shared) memset(S.dynamic_shared.data(), 0xFF, dynamic_shared);
        for (int t = 0; t < S.n; t++) fiber_start(t);
        S.barrier_count[0] = S.barrier_count[1] = 0;
        run_block();
    }
    S.kernel = nullptr;
    S.running = false;
    return 0;
}

int emu_barrier(int predicate, const char *file, int line) {
    if (S.current < 0) emu_fail("__syncthreads called outside a kernel (%s:%d)", file, line);
    Fiber *f = &S.fibers[S.current];
    int parity = f->barrier_parity;
    S.barrier_count[parity] += predicate != 0;
    f->state = AT_BARRIER;
    f->file = file;
    f->line = line;
    yield(f);
    f->barrier_parity = parity ^ 1;
    return S.barrier_count[parity];
}

const uint64_t *emu_warp_exchange(uint64_t value, unsigned int mask, const char *file, int line) {
    if (S.current < 0) emu_fail("warp intrinsic called outside a kernel (%s:%d)", file, line);
    Fiber *f = &S.fibers[S.current];
    int lane = S.current & 31, warp = S.current >> 5;
    if (!(mask >> lane & 1u)) emu_fail("the mask 0x%08x of a warp intrinsic omits the calling lane %d (%s:%d)", mask,
                                       lane, file, line);
    int parity = f->warp_parity;
    S.slots[warp][parity][lane] = value;
    f->state = AT_WARP;
    f->mask = mask;
    f->file = file;
    f->line = line;
    yield(f);
    f->warp_parity = parity ^ 1;
    return S.slots[warp][parity];
}

extern "C" void emu_set_reverse_order(int reverse) { S.reverse = reverse != 0; }

void *emu_dynamic_shared(void) {
    if (S.current < 0) emu_fail("extern __shared__ memory used outside a kernel");
    return S.dynamic_shared.empty() ? nullptr : S.dynamic_shared.data();
}

bool emu_shared_register(void *p, size_t bytes, const char *name) {
    if (S.current < 0) emu_fail("__shared__ %s declared outside a kernel", name);
    S.shared_vars.push_back(SharedVar{p, bytes, S.key, name});
    S.kernel_vars.push_back(S.shared_vars.size() - 1);
    size_t total = 0;
    for (size_t i : S.kernel_vars) total += S.shared_vars[i].bytes;
    if (total > SHARED_LIMIT)
        emu_fail("%zu bytes of static __shared__ memory (with %s), over the %zu a block may have", total, name,
                 SHARED_LIMIT);
    // First use: this block has not written it yet either.
    memset(p, 0xFF, bytes);
    return true;
}
