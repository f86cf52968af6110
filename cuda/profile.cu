// The per-operation profiler (cuda/backend.h, cuda_profile_*): an event
// after each operation of a window, the spans between consecutive events
// summed per label. On one stream operations run in issue order, so event i
// completes when operation i does and the spans tile the window's device
// time exactly; what the spans cannot tell apart is a kernel's run time and
// a wait for the host just before it, which the host's issue time printed
// beside them bounds.
#include <stdlib.h>
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/profile.cuh"

extern "C" {
#include "core/clock.h"
}

#define PROFILE_MAX_EVENTS 65536 // per window; operations past it are counted, not timed
#define PROFILE_MAX_SITES 2048
#define PROFILE_SLOTS (2 * PROFILE_MAX_SITES)

typedef struct {
    char label[160];
    double ms;
    long calls;
} Site;

static struct {
    int on;
    int n; // events of this window, the start event included
    long untimed;
    double host_start, host_end;
    cudaEvent_t ev[PROFILE_MAX_EVENTS];
    int site[PROFILE_MAX_EVENTS];
    Site sites[PROFILE_MAX_SITES];
    int slot_site[PROFILE_SLOTS]; // site + 1 per hash slot, 0: empty
    int n_sites;
    int windows;
    double device_ms, host_ms;
    long ops, untimed_total;
} prof;

int cuda_profiling(void) { return prof.on; }

static cudaEvent_t event_at(int i) {
    if (prof.ev[i] == NULL) CUDA_CHECK(cudaEventCreate(&prof.ev[i]));
    return prof.ev[i];
}

// The site of `label` (FNV-1a, open addressing); once the table is full its
// last site takes every new label, so nothing drops out of the totals.
static int site_of(const char *label) {
    uint32_t h = 2166136261u;
    for (const char *c = label; *c; c++) h = (h ^ (uint8_t)*c) * 16777619u;
    for (uint32_t k = 0; k < PROFILE_SLOTS; k++) {
        uint32_t at = (h + k) % PROFILE_SLOTS;
        int s = prof.slot_site[at] - 1;
        if (s >= 0 && strcmp(prof.sites[s].label, label) == 0) return s;
        if (s >= 0) continue;
        if (prof.n_sites >= PROFILE_MAX_SITES - 1) break;
        s = prof.n_sites++;
        snprintf(prof.sites[s].label, sizeof prof.sites[s].label, "%s", label);
        prof.slot_site[at] = s + 1;
        return s;
    }
    snprintf(prof.sites[PROFILE_MAX_SITES - 1].label, sizeof prof.sites[0].label, "(labels past the first %d)",
             PROFILE_MAX_SITES - 1);
    prof.n_sites = PROFILE_MAX_SITES;
    return PROFILE_MAX_SITES - 1;
}

extern "C" void cuda_profile_begin(void) {
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    prof.on = 1;
    prof.n = 1;
    prof.untimed = 0;
    CUDA_CHECK(cudaEventRecord(event_at(0), cuda_stream()));
    prof.host_start = prof.host_end = clock_seconds();
}

void cuda_profile_record(const char *label) {
    if (prof.n == PROFILE_MAX_EVENTS) {
        prof.untimed++;
        return;
    }
    prof.site[prof.n] = site_of(label);
    CUDA_CHECK(cudaEventRecord(event_at(prof.n), cuda_stream()));
    prof.n++;
    prof.host_end = clock_seconds();
}

extern "C" void cuda_profile_end(void) {
    if (!prof.on) fatal("cuda_profile_end without cuda_profile_begin");
    prof.on = 0;
    CUDA_CHECK(cudaEventSynchronize(prof.ev[prof.n - 1]));
    for (int i = 1; i < prof.n; i++) {
        float ms;
        CUDA_CHECK(cudaEventElapsedTime(&ms, prof.ev[i - 1], prof.ev[i]));
        prof.sites[prof.site[i]].ms += ms;
        prof.sites[prof.site[i]].calls++;
        prof.device_ms += ms;
    }
    prof.host_ms += 1e3 * (prof.host_end - prof.host_start);
    prof.ops += prof.n - 1 + prof.untimed;
    prof.untimed_total += prof.untimed;
    prof.windows++;
}

static int by_time_desc(const void *a, const void *b) {
    double x = ((const Site *)a)->ms, y = ((const Site *)b)->ms;
    return (x < y) - (x > y);
}

extern "C" void cuda_profile_print(FILE *out, int top) {
    if (prof.windows == 0) {
        fprintf(out, "profile: no window recorded\n");
        return;
    }
    const double w = prof.windows, total = prof.device_ms > 0 ? prof.device_ms : 1.0;
    Site *sorted = (Site *)malloc((size_t)(prof.n_sites > 0 ? prof.n_sites : 1) * sizeof *sorted);
    if (sorted == NULL) fatal("cuda_profile_print: out of memory");
    memcpy(sorted, prof.sites, (size_t)prof.n_sites * sizeof *sorted);
    qsort(sorted, (size_t)prof.n_sites, sizeof *sorted, by_time_desc);
    fprintf(out, "| operation | calls/step | ms/step | share |\n|---|---|---|---|\n");
    double rest_ms = 0.0;
    long rest_calls = 0;
    for (int s = 0; s < prof.n_sites; s++) {
        if (s < top) {
            fprintf(out, "| %s | %.0f | %.3f | %.1f%% |\n", sorted[s].label, sorted[s].calls / w, sorted[s].ms / w,
                    100.0 * sorted[s].ms / total);
        } else {
            rest_ms += sorted[s].ms;
            rest_calls += sorted[s].calls;
        }
    }
    if (prof.n_sites > top)
        fprintf(out, "| the other %d operations | %.0f | %.3f | %.1f%% |\n", prof.n_sites - top, rest_calls / w,
                rest_ms / w, 100.0 * rest_ms / total);
    fprintf(out,
            "device time %.3f ms/step over %d step(s), %.0f operations/step; the host issued them in %.3f "
            "ms/step (profiling included)%s\n",
            prof.device_ms / w, prof.windows, prof.ops / w, prof.host_ms / w,
            prof.untimed_total ? " (operations past the event limit were not timed)" : "");
    free(sorted);
}

extern "C" void cuda_profile_clear(void) {
    memset(prof.sites, 0, sizeof prof.sites);
    memset(prof.slot_site, 0, sizeof prof.slot_site);
    prof.n_sites = 0;
    prof.windows = 0;
    prof.device_ms = prof.host_ms = 0.0;
    prof.ops = prof.untimed_total = 0;
}
