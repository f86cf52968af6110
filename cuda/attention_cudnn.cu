// Which implementation runs a bf16 fused attention's forward (cuda/backend.h
// cuda_attention_use): the handwritten kernels (cuda/attention_tc.cu) or
// cuDNN's SDPA (cuda/cudnn_sdpa.cu), keeping op_attention's contract
// (autograd/device_kernels.h):
//   - cuDNN has no additive mask and its own dropout stream, so calls with a
//     mask or dropout run the kernels (ALBEF's ViT and its fusion's
//     cross-attention have neither; its text self-attention has both);
//   - cuDNN's statistics are the natural log-sum-exp of each row of scores,
//     which is the lse the kernels save when there is no mask, so the
//     kernels' backward runs after either forward (cuDNN's own backward is
//     not used: cuda/cudnn_sdpa.h says why).
//
// "faster" times both implementations on the call's own operands the first
// time a shape runs outside a captured step (cuDNN's plan is built then, and
// both have run once before the timed run), keeps the faster per shape, and
// prints the two times; inside a capture nothing is timed, and the kernels
// run until an eager step has decided.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/attention_common.cuh"
#include "cuda/cudnn_sdpa.h"
#include "cuda/graph.cuh"

namespace {

int policy = -1; // CudaAttentionImpl, read from MMU_ATTENTION on first use
int64_t cudnn_calls;

CudaAttentionImpl current_policy(void) {
    if (policy < 0) {
        const char *e = getenv("MMU_ATTENTION");
        policy = e && *e ? cuda_attention_by_name(e) : CUDA_ATTENTION_KERNELS;
        if (policy < 0) fatal("MMU_ATTENTION=%s: want kernels, cudnn or faster (cuda/backend.h cuda_attention_use)", e);
    }
    return (CudaAttentionImpl)policy;
}

// Each distinct message once per process: the reasons cuDNN did not run and
// the choices made are worth one line, not one per layer and step.
constexpr int MAX_SAID = 64;
char said[MAX_SAID][400];
int n_said;

void say_once(const char *msg) {
    for (int i = 0; i < n_said; i++)
        if (strcmp(said[i], msg) == 0) return;
    if (n_said == MAX_SAID) return; // the first MAX_SAID were printed; a flood helps nobody
    snprintf(said[n_said++], sizeof said[0], "%s", msg);
    fprintf(stderr, "attention: %s\n", msg);
}

struct Choice {
    SdpaShape key;
    int use_cudnn;
};
constexpr int MAX_CHOICES = 128;
Choice choices[MAX_CHOICES];
int n_choices;

const Choice *choice_of(const SdpaShape *s) {
    for (int i = 0; i < n_choices; i++)
        if (memcmp(&choices[i].key, s, sizeof *s) == 0) return &choices[i];
    return NULL;
}

void choose(const SdpaShape *s, int use_cudnn) {
    if (n_choices == MAX_CHOICES) fatal("attention: more than %d shapes to choose an implementation for", MAX_CHOICES);
    choices[n_choices++] = Choice{*s, use_cudnn};
}

int aligned(const void *p) { return p == NULL || ((uintptr_t)p & 15) == 0; }
int rows_aligned(AttentionRows r) { return r.batch % 8 == 0 && r.head % 8 == 0 && r.row % 8 == 0; }

// Why cuDNN cannot take this call, or NULL.
const char *ineligible(const AttnArgs &a, int64_t Dh, const void *o, const float *lse) {
    if (a.mask) return "calls with a mask run the kernels (cuDNN's SDPA takes no additive mask)";
    if (a.p > 0.0f) return "calls with dropout run the kernels (cuDNN's dropout stream is not op_dropout's)";
    if (Dh % 8 != 0) return "a head dim that is not a multiple of 8 runs the kernels";
    if (!aligned(a.q) || !aligned(a.k) || !aligned(a.v) || !aligned(o) || !aligned(lse) || !rows_aligned(a.lay.q) ||
        !rows_aligned(a.lay.kv) || !rows_aligned(a.lay.o))
        return "operands whose rows are not 16-byte aligned run the kernels";
    return NULL;
}

SdpaShape shape_of(const AttnArgs &a, int64_t B, int64_t Dh) {
    SdpaShape s;
    memset(&s, 0, sizeof s); // compared with memcmp
    s.B = B;
    s.H = a.H;
    s.T = a.T;
    s.S = a.S;
    s.Dh = Dh;
    s.q = a.lay.q;
    s.kv = a.lay.kv;
    s.o = a.lay.o;
    return s;
}

int run_cudnn_forward(const SdpaShape *s, const AttnArgs &a, void *o, float *lse, char *why, size_t size) {
    if (cudnn_sdpa_forward(s, a.q, a.k, a.v, o, lse, a.scale, why, size) != 0) return 0;
    cudnn_calls++;
    return 1;
}

// Milliseconds of the work `run` issues, waited for.
template <typename F> float time_ms(F run) {
    cudaEvent_t t0, t1;
    CUDA_CHECK(cudaEventCreate(&t0));
    CUDA_CHECK(cudaEventCreate(&t1));
    CUDA_CHECK(cudaEventRecord(t0, cuda_stream()));
    run();
    CUDA_CHECK(cudaEventRecord(t1, cuda_stream()));
    CUDA_CHECK(cudaEventSynchronize(t1));
    float ms = 0.0f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
    CUDA_CHECK(cudaEventDestroy(t0));
    CUDA_CHECK(cudaEventDestroy(t1));
    return ms;
}

void say_choice(const SdpaShape *s, float ms_kernels, float ms_cudnn) {
    char msg[400];
    snprintf(msg, sizeof msg, "forward B=%lld H=%lld T=%lld S=%lld Dh=%lld: kernels %.3f ms, cuDNN %.3f ms: %s",
             (long long)s->B, (long long)s->H, (long long)s->T,
             (long long)s->S, (long long)s->Dh, ms_kernels, ms_cudnn, ms_cudnn < ms_kernels ? "cuDNN" : "kernels");
    say_once(msg);
}

void say_fallback(const SdpaShape *s, const char *why) {
    char msg[400];
    snprintf(msg, sizeof msg, "cuDNN cannot run the forward B=%lld H=%lld T=%lld S=%lld Dh=%lld, the kernels do: %.300s",
             (long long)s->B, (long long)s->H, (long long)s->T, (long long)s->S, (long long)s->Dh, why);
    say_once(msg);
}

// "faster", first time: each once untimed (cuDNN's plan, either's module
// loading), then each timed; the winner's results are the ones left.
void time_forward(const SdpaShape *s, const AttnArgs &a, int64_t B, int64_t Dh, void *o, float *lse) {
    char why[384];
    attention_tc_forward(a, B * a.H, Dh, o, lse);
    if (!run_cudnn_forward(s, a, o, lse, why, sizeof why)) { // nothing written: the kernels' results stand
        say_fallback(s, why);
        choose(s, 0);
        return;
    }
    const float ms_kernels = time_ms([&] { attention_tc_forward(a, B * a.H, Dh, o, lse); });
    const float ms_cudnn = time_ms([&] { run_cudnn_forward(s, a, o, lse, why, sizeof why); });
    const int use_cudnn = ms_cudnn < ms_kernels;
    choose(s, use_cudnn);
    say_choice(s, ms_kernels, ms_cudnn);
    if (!use_cudnn) attention_tc_forward(a, B * a.H, Dh, o, lse);
}

} // namespace

void cuda_attention_use(CudaAttentionImpl impl) { policy = impl; }

int cuda_attention_by_name(const char *name) {
    if (strcmp(name, "kernels") == 0) return CUDA_ATTENTION_KERNELS;
    if (strcmp(name, "cudnn") == 0) return CUDA_ATTENTION_CUDNN;
    if (strcmp(name, "faster") == 0) return CUDA_ATTENTION_FASTER;
    return -1;
}

int64_t cuda_attention_cudnn_calls(void) { return cudnn_calls; }

int attention_cudnn_forward(const AttnArgs &a, int64_t B, int64_t Dh, void *o, float *lse) {
    const CudaAttentionImpl use = current_policy();
    if (use == CUDA_ATTENTION_KERNELS) return 0;
    if (const char *no = ineligible(a, Dh, o, lse)) {
        say_once(no);
        return 0;
    }
    const SdpaShape s = shape_of(a, B, Dh);
    int use_cudnn = 1;
    if (use == CUDA_ATTENTION_FASTER) {
        const Choice *c = choice_of(&s);
        if (c)
            use_cudnn = c->use_cudnn;
        else if (cuda_graph_capturing()) // nothing can be timed: the kernels until an eager step decides
            use_cudnn = 0;
        else {
            time_forward(&s, a, B, Dh, o, lse);
            return 1;
        }
    }
    if (!use_cudnn) return 0;
    char why[384];
    if (run_cudnn_forward(&s, a, o, lse, why, sizeof why)) return 1;
    say_fallback(&s, why);
    return 0;
}
