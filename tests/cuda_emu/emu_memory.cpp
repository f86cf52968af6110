// Device memory of the CUDA kernel emulator (emu_memory.h): mappings with a
// guard page, readable only while device code runs.
#include "tests/cuda_emu/emu_memory.h"
#include "tests/cuda_emu/emu_graph.h"
#include "tests/cuda_emu/emu_scheduler.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vector>

namespace {

struct Mapping {
    unsigned char *reserve; // the whole mapping (munmap)
    size_t reserve_bytes;
    unsigned char *base;    // the data pages, then one guard page
    size_t data_bytes;
    unsigned char *user;    // what alloc returned: ends at the guard page (to 256 bytes)
    size_t bytes;
};

std::vector<Mapping> mappings;
int open_depth;
size_t page_bytes;

// Every launch flips the protection of all device memory, and mprotect's
// cost grows with the pages it walks: large allocations (the arena chunks)
// go on 2 MiB transparent huge pages where the kernel offers them, 512
// times fewer entries.
const size_t HUGE_BYTES = 2u << 20;

void protect(const Mapping &m, int prot) {
    if (mprotect(m.base, m.data_bytes, prot) != 0) {
        perror("cuda emulator: mprotect of device memory");
        abort();
    }
}

// Without ASan (which reports faults with a stack itself), a fault in device
// memory names what was touched before the process dies.
[[maybe_unused]] void on_fault(int sig, siginfo_t *info, void *) {
    const unsigned char *a = (const unsigned char *)info->si_addr;
    char msg[256];
    int len = 0;
    for (const Mapping &m : mappings) {
        if (a < m.base || a >= m.base + m.data_bytes + page_bytes) continue;
        if (a >= m.base + m.data_bytes)
            len = snprintf(msg, sizeof msg,
                           "cuda emulator: access %td bytes past the end of a %zu-byte device allocation (a kernel "
                           "or copy out of bounds)\n",
                           a - (m.user + m.bytes), m.bytes);
        else if (open_depth == 0)
            len = snprintf(msg, sizeof msg,
                           "cuda emulator: host code touched device memory at %p (offset %td of a %zu-byte "
                           "allocation) outside any kernel or copy\n",
                           (const void *)a, a - m.user, m.bytes);
    }
    if (len > 0) {
        ssize_t ignored = write(2, msg, (size_t)len);
        (void)ignored;
        void *frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

void install_fault_report(void) {
#if !defined(__SANITIZE_ADDRESS__)
    static bool installed;
    if (installed) return;
    installed = true;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    // Faults on a fiber stack near its guard page still need a stack to report on.
    static unsigned char alt[64 * 1024];
    stack_t ss;
    ss.ss_sp = alt;
    ss.ss_size = sizeof alt;
    ss.ss_flags = 0;
    sigaltstack(&ss, nullptr);
#endif
}

} // namespace

void *emu_memory_alloc(size_t bytes) {
    install_fault_report();
    page_bytes = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = (bytes + 255) / 256 * 256; // cudaMalloc's alignment
    if (rounded == 0) rounded = 256;
    size_t align = rounded >= HUGE_BYTES ? HUGE_BYTES : page_bytes;
    size_t data = (rounded + align - 1) / align * align;
    size_t reserve_bytes = data + page_bytes + (align > page_bytes ? align : 0);
    void *p = mmap(nullptr, reserve_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    unsigned char *base = (unsigned char *)(((uintptr_t)p + align - 1) / align * align);
    if (align > page_bytes) madvise(base, data, MADV_HUGEPAGE); // a hint: without THP, plain pages
    Mapping m{(unsigned char *)p, reserve_bytes, base, data, base + data - rounded, bytes};
    mappings.push_back(m);
    if (open_depth > 0) protect(m, PROT_READ | PROT_WRITE);
    return m.user;
}

void emu_memory_release(void *p) {
    // A recorded node may still use it when its graph runs (cuda/graph.cu
    // releases such memory after the launch).
    if (emu_graph_capturing()) emu_fail("device memory at %p released during a stream capture", p);
    for (size_t i = 0; i < mappings.size(); i++) {
        if (mappings[i].user != p) continue;
        munmap(mappings[i].reserve, mappings[i].reserve_bytes);
        mappings[i] = mappings.back();
        mappings.pop_back();
        return;
    }
    fprintf(stderr, "cuda emulator: release of %p, which is no device allocation\n", p);
    abort();
}

int emu_memory_contains(const void *p) {
    const unsigned char *a = (const unsigned char *)p;
    for (const Mapping &m : mappings)
        if (a >= m.base && a < m.base + m.data_bytes) return 1;
    return 0;
}

void emu_memory_open(void) {
    if (open_depth++ == 0)
        for (const Mapping &m : mappings) protect(m, PROT_READ | PROT_WRITE);
}

void emu_memory_close(void) {
    if (--open_depth == 0)
        for (const Mapping &m : mappings) protect(m, PROT_NONE);
}
