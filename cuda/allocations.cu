// The ledger of live device allocations (cuda/allocations.cuh). A flat table:
// a run holds a handful of allocations (parameter, gradient and moment
// blocks, the activation arena's chunks), so a linear search is enough.
#include "cuda/allocations.cuh"

extern "C" {
#include "core/error.h"
}

#define MAX_ALLOCATIONS 65536
static struct {
    void *p;
    size_t bytes;
} live[MAX_ALLOCATIONS];
static int n_live;
static size_t in_use, peak;

void allocations_add(void *p, size_t bytes) {
    if (n_live == MAX_ALLOCATIONS) fatal("cuda: more than %d live device allocations", MAX_ALLOCATIONS);
    live[n_live].p = p;
    live[n_live].bytes = bytes;
    n_live++;
    in_use += bytes;
    if (in_use > peak) peak = in_use;
}

void allocations_remove(void *p) {
    for (int i = 0; i < n_live; i++) {
        if (live[i].p == p) {
            in_use -= live[i].bytes;
            live[i] = live[--n_live];
            return;
        }
    }
}

size_t allocations_in_use(void) { return in_use; }
size_t allocations_peak(void) { return peak; }
void allocations_reset_peak(void) { peak = in_use; }
