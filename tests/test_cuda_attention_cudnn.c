/* cuDNN's fused attention behind op_attention's forward (cuda/attention_cudnn.cu,
 * cuda/cudnn_sdpa.cu, cuda/cudnn.cu):
 * - the graph-API constants of cuda/cudnn.h are cuDNN's own (where its
 *   header is on the include path);
 * - cuDNN accepts the SDPA operations this backend describes for ALBEF-base's
 *   attentions, and builds their graphs (checked without a GPU: cuDNN
 *   validates an operation and its graph on the host);
 * - on a GPU: cuDNN's forward, then the kernels' backward from its
 *   statistics, against the CPU op, bf16 within the bf16 bar and bit for bit
 *   from run to run (heads first, cross attention, head dim 32, q k v packed
 *   in one projection); "faster" gives the same whichever it picks;
 * - under the kernel emulator (no cuDNN there: no GPU): a call sent to cuDNN
 *   runs the kernels, with the same results, and says why once. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/grad_check.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "tests/attention_heads_cases.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#include "cuda/cudnn.h"
#include "cuda/cudnn_sdpa.h"
#if !defined(CUDA_EMULATOR) && __has_include(<cudnn_graph.h>)
#include <cudnn_graph.h>
#define HAVE_CUDNN_HEADER 1
#endif
#endif

TEST(test_cudnn_api_constants_are_cudnns) {
#ifndef HAVE_CUDNN_HEADER
    test_skip("cuDNN's header (cudnn_graph.h) is not on this build's include path");
#else
    const struct {
        const char *name;
        long ours, theirs;
    } pairs[] = {
        {"DESC_ENGINE", CUDNN_DESC_ENGINE, CUDNN_BACKEND_ENGINE_DESCRIPTOR},
        {"DESC_ENGINECFG", CUDNN_DESC_ENGINECFG, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR},
        {"DESC_ENGINEHEUR", CUDNN_DESC_ENGINEHEUR, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR},
        {"DESC_EXECUTION_PLAN", CUDNN_DESC_EXECUTION_PLAN, CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR},
        {"DESC_OPERATIONGRAPH", CUDNN_DESC_OPERATIONGRAPH, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR},
        {"DESC_VARIANT_PACK", CUDNN_DESC_VARIANT_PACK, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR},
        {"DESC_TENSOR", CUDNN_DESC_TENSOR, CUDNN_BACKEND_TENSOR_DESCRIPTOR},
        {"DESC_OPERATION_SDPA_FWD", CUDNN_DESC_OPERATION_SDPA_FWD, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR},
        {"T_HANDLE", CUDNN_T_HANDLE, CUDNN_TYPE_HANDLE},
        {"T_DATA_TYPE", CUDNN_T_DATA_TYPE, CUDNN_TYPE_DATA_TYPE},
        {"T_BOOLEAN", CUDNN_T_BOOLEAN, CUDNN_TYPE_BOOLEAN},
        {"T_INT64", CUDNN_T_INT64, CUDNN_TYPE_INT64},
        {"T_VOID_PTR", CUDNN_T_VOID_PTR, CUDNN_TYPE_VOID_PTR},
        {"T_HEUR_MODE", CUDNN_T_HEUR_MODE, CUDNN_TYPE_HEUR_MODE},
        {"T_NUMERICAL_NOTE", CUDNN_T_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE},
        {"T_BACKEND_DESCRIPTOR", CUDNN_T_BACKEND_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR},
        {"FLOAT", CUDNN_FLOAT, CUDNN_DATA_FLOAT},
        {"BFLOAT16", CUDNN_BFLOAT16, CUDNN_DATA_BFLOAT16},
        {"HEUR_A", CUDNN_HEUR_A, CUDNN_HEUR_MODE_A},
        {"HEUR_FALLBACK", CUDNN_HEUR_FALLBACK, CUDNN_HEUR_MODE_FALLBACK},
        {"NOTE_NONDETERMINISTIC", CUDNN_NOTE_NONDETERMINISTIC, CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC},
        {"NOTE_COUNT", CUDNN_NOTE_COUNT, CUDNN_NUMERICAL_NOTE_TYPE_COUNT},
        {"A_ENGINEHEUR_MODE", CUDNN_A_ENGINEHEUR_MODE, CUDNN_ATTR_ENGINEHEUR_MODE},
        {"A_ENGINEHEUR_OPERATION_GRAPH", CUDNN_A_ENGINEHEUR_OPERATION_GRAPH, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH},
        {"A_ENGINEHEUR_RESULTS", CUDNN_A_ENGINEHEUR_RESULTS, CUDNN_ATTR_ENGINEHEUR_RESULTS},
        {"A_ENGINECFG_ENGINE", CUDNN_A_ENGINECFG_ENGINE, CUDNN_ATTR_ENGINECFG_ENGINE},
        {"A_EXECUTION_PLAN_HANDLE", CUDNN_A_EXECUTION_PLAN_HANDLE, CUDNN_ATTR_EXECUTION_PLAN_HANDLE},
        {"A_EXECUTION_PLAN_ENGINE_CONFIG", CUDNN_A_EXECUTION_PLAN_ENGINE_CONFIG,
         CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG},
        {"A_EXECUTION_PLAN_WORKSPACE_SIZE", CUDNN_A_EXECUTION_PLAN_WORKSPACE_SIZE,
         CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE},
        {"A_OPERATIONGRAPH_HANDLE", CUDNN_A_OPERATIONGRAPH_HANDLE, CUDNN_ATTR_OPERATIONGRAPH_HANDLE},
        {"A_OPERATIONGRAPH_OPS", CUDNN_A_OPERATIONGRAPH_OPS, CUDNN_ATTR_OPERATIONGRAPH_OPS},
        {"A_TENSOR_BYTE_ALIGNMENT", CUDNN_A_TENSOR_BYTE_ALIGNMENT, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT},
        {"A_TENSOR_DATA_TYPE", CUDNN_A_TENSOR_DATA_TYPE, CUDNN_ATTR_TENSOR_DATA_TYPE},
        {"A_TENSOR_DIMENSIONS", CUDNN_A_TENSOR_DIMENSIONS, CUDNN_ATTR_TENSOR_DIMENSIONS},
        {"A_TENSOR_STRIDES", CUDNN_A_TENSOR_STRIDES, CUDNN_ATTR_TENSOR_STRIDES},
        {"A_TENSOR_UNIQUE_ID", CUDNN_A_TENSOR_UNIQUE_ID, CUDNN_ATTR_TENSOR_UNIQUE_ID},
        {"A_TENSOR_IS_BY_VALUE", CUDNN_A_TENSOR_IS_BY_VALUE, CUDNN_ATTR_TENSOR_IS_BY_VALUE},
        {"A_VARIANT_PACK_UNIQUE_IDS", CUDNN_A_VARIANT_PACK_UNIQUE_IDS, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS},
        {"A_VARIANT_PACK_DATA_POINTERS", CUDNN_A_VARIANT_PACK_DATA_POINTERS, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS},
        {"A_VARIANT_PACK_WORKSPACE", CUDNN_A_VARIANT_PACK_WORKSPACE, CUDNN_ATTR_VARIANT_PACK_WORKSPACE},
        {"A_ENGINE_NUMERICAL_NOTE", CUDNN_A_ENGINE_NUMERICAL_NOTE, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE},
        {"A_SDPA_FWD_QDESC", CUDNN_A_SDPA_FWD_QDESC, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC},
        {"A_SDPA_FWD_KDESC", CUDNN_A_SDPA_FWD_KDESC, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC},
        {"A_SDPA_FWD_VDESC", CUDNN_A_SDPA_FWD_VDESC, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC},
        {"A_SDPA_FWD_ODESC", CUDNN_A_SDPA_FWD_ODESC, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC},
        {"A_SDPA_FWD_STATSDESC", CUDNN_A_SDPA_FWD_STATSDESC, CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC},
        {"A_SDPA_FWD_SCALEDESC", CUDNN_A_SDPA_FWD_SCALEDESC, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        ASSERT_MSG(pairs[i].ours == pairs[i].theirs, "cuda/cudnn.h CUDNN_%s = %ld, cuDNN's is %ld", pairs[i].name,
                   pairs[i].ours, pairs[i].theirs);
#endif
}

#ifdef HAVE_CUDA
/* ALBEF-base (16 Df + 16 Dr pairs, 384 px): the ViT's self-attention over
 * 577 tokens with q, k, v packed in one [B, T, 3·768] projection and the
 * output's heads side by side in its rows; the fusion's cross-attention of
 * 30 text tokens over the 577 image tokens (q [B, 30, 768], k and v packed
 * [B, 577, 2·768]). */
static SdpaShape albef_shape(int cross) {
    const int64_t B = 32, H = 12, Dh = 64, D = H * Dh, T = cross ? 30 : 577, S = 577;
    SdpaShape s = {.B = B, .H = H, .T = T, .S = S, .Dh = Dh};
    s.q = cross ? (AttentionRows){T * D, Dh, D} : (AttentionRows){T * 3 * D, Dh, 3 * D};
    s.kv = cross ? (AttentionRows){S * 2 * D, Dh, 2 * D} : s.q;
    s.o = (AttentionRows){T * D, Dh, D};
    return s;
}
#endif

TEST(test_cudnn_accepts_the_sdpa_operations_of_albef_base) {
#ifndef HAVE_CUDA
    test_skip("built without CUDA (CUDA=0)");
#else
    if (!cudnn_api()) {
        test_skip("%s", cudnn_unavailable());
        return;
    }
    for (int cross = 0; cross < 2; cross++) {
        SdpaShape s = albef_shape(cross);
        char why[384] = "";
        ASSERT_MSG(cudnn_sdpa_check_graph(&s, why, sizeof why) == 0, "%s: %s",
                   cross ? "cross-attention" : "self-attention", why);
    }
#endif
}

#ifdef HAVE_CUDA
typedef struct {
    float scale;
} PlainAttention;

/* q [B, H, T, Dh], k and v [B, H, S, Dh]: no mask, no dropout (what cuDNN takes). */
static Tensor *apply_plain_attention(Tensor **in, void *ctx) {
    const PlainAttention *c = ctx;
    return op_attention(in[0], in[1], in[2], NULL, c->scale, 0.0f, 1, 2);
}

static int check_heads_first(int64_t B, int64_t H, int64_t T, int64_t S, int64_t Dh, uint64_t seed) {
    Tensor *in[3] = {tensor_random_uniform(SHAPE(B, H, T, Dh), -1.0f, 1.0f, seed),
                     tensor_random_uniform(SHAPE(B, H, S, Dh), -1.0f, 1.0f, seed + 1),
                     tensor_random_uniform(SHAPE(B, H, S, Dh), -1.0f, 1.0f, seed + 2)};
    for (int i = 0; i < 3; i++) in[i]->requires_grad = 1;
    PlainAttention c = {(float)(1.0 / sqrt((double)Dh))};
    char what[128];
    snprintf(what, sizeof what, "attention %lldx%lldx%lldx%lldx%lld, bf16, no mask", (long long)B, (long long)H,
             (long long)T, (long long)S, (long long)Dh);
    return cuda_parity_check_bf16(what, apply_plain_attention, in, 3, &c, PARITY_TOL_BF16, 7u);
}

/* q, k and v packed in one [B, T, 3·H·Dh] projection, heads in its rows. */
static int check_packed(int64_t B, int64_t H, int64_t T, int64_t Dh) {
    AttentionHeadsCase c = {.packed = 1, .B = B, .H = H, .T = T, .S = T, .Dh = Dh, .masked = 0, .p = 0.0f};
    Tensor *in[2];
    attention_heads_case_inputs(&c, in);
    return cuda_parity_check_bf16("attention, q k v packed, bf16, no mask", attention_heads_in_place, in, 1, &c,
                                  PARITY_TOL_BF16, 1u);
}

static int check_all_shapes(void) {
    int rc = check_heads_first(2, 3, 35, 35, 64, 10);
    if (rc == 0) rc = check_heads_first(1, 2, 30, 77, 64, 20); /* cross: text over image tokens */
    if (rc == 0) rc = check_heads_first(2, 2, 17, 33, 32, 30);
    if (rc == 0) rc = check_packed(2, 2, 40, 64);
    return rc;
}

#endif

#ifdef HAVE_CUDA
/* Every shape above under `impl`: 0 or -1 (error_message says why); *calls:
 * how many attention calls cuDNN ran. Skips, returning 1, without a GPU,
 * without cuDNN, and under the emulator. */
static int run_shapes_with(CudaAttentionImpl impl, int64_t *calls) {
    if (!cuda_parity_ready()) return 1;
    if (!cudnn_api()) {
        test_skip("%s", cudnn_unavailable());
        return 1;
    }
#ifdef CUDA_EMULATOR
    test_skip("the kernel emulator cannot run cuDNN (test_attention_cudnn_falls_back_to_the_kernels runs here)");
    return 1;
#endif
    cuda_set_precision(PRECISION_BF16);
    cuda_attention_use(impl);
    const int64_t before = cuda_attention_cudnn_calls();
    const int rc = check_all_shapes();
    *calls = cuda_attention_cudnn_calls() - before;
    cuda_attention_use(CUDA_ATTENTION_KERNELS);
    cuda_set_precision(PRECISION_FP32);
    return rc;
}
#endif

TEST(test_cuda_attention_cudnn_parity) {
#ifndef HAVE_CUDA
    test_skip("built without CUDA (CUDA=0)");
#else
    int64_t calls = 0;
    const int rc = run_shapes_with(CUDA_ATTENTION_CUDNN, &calls);
    if (rc == 1) return;
    ASSERT_MSG(rc == 0, "%s", error_message());
    /* each shape's forward, twice (the harness's two device runs) */
    ASSERT_MSG(calls == 8, "cuDNN ran %lld attention forwards, want 8 (4 shapes x 2 runs)", (long long)calls);
#endif
}

/* Whatever "faster" picks, the results are within the bar and repeat bit for
 * bit; the first run of each shape times cuDNN (twice), so cuDNN ran at
 * least 8 times (test_cuda_attention_cudnn_parity says why when it cannot). */
TEST(test_cuda_attention_cudnn_or_kernels_whichever_faster) {
#ifndef HAVE_CUDA
    test_skip("built without CUDA (CUDA=0)");
#else
    int64_t calls = 0;
    const int rc = run_shapes_with(CUDA_ATTENTION_FASTER, &calls);
    if (rc == 1) return;
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_MSG(calls >= 8, "cuDNN ran %lld attention forwards, the timing alone runs 8", (long long)calls);
#endif
}

#ifdef CUDA_EMULATOR
/* In a child whose stderr the test reads: exit status 1 when a shape fails. */
static void check_all_shapes_in_child(void *ctx) {
    (void)ctx;
    if (check_all_shapes() != 0) {
        fprintf(stderr, "%s\n", error_message());
        _exit(1);
    }
}
#endif

TEST(test_attention_cudnn_falls_back_to_the_kernels) {
#ifndef CUDA_EMULATOR
    test_skip("needs the kernel emulator (a GPU with cuDNN runs cuDNN: test_cuda_attention_cudnn_parity)");
#else
    if (!cuda_parity_ready()) return;
    cuda_set_precision(PRECISION_BF16);
    cuda_attention_use(CUDA_ATTENTION_CUDNN);
    const int64_t before = cuda_attention_cudnn_calls();
    int status = -1;
    char *log = test_stderr_of_child(check_all_shapes_in_child, NULL, &status);
    const int in_parent = check_all_shapes();
    const int64_t calls = cuda_attention_cudnn_calls() - before;
    cuda_attention_use(CUDA_ATTENTION_KERNELS);
    cuda_set_precision(PRECISION_FP32);
    ASSERT_MSG(log != NULL, "could not run the child");
    ASSERT_MSG(status == 0, "the child's parity checks failed:\n%s", log);
    ASSERT_MSG(in_parent == 0, "%s", error_message());
    ASSERT_MSG(calls == 0, "cuDNN ran %lld calls under the emulator", (long long)calls);
    ASSERT_MSG(strstr(log, "attention: cuDNN cannot run the forward B=2 H=3 T=35 S=35 Dh=64, the kernels do: "),
               "no reason given for the forward:\n%s", log);
    /* once per shape, not per call */
    const char *first = strstr(log, "forward B=2 H=3 T=35");
    ASSERT_MSG(!strstr(first + 1, "forward B=2 H=3 T=35"), "the reason is repeated:\n%s", log);
    free(log);
#endif
}
