// cuDNN's fused attention forward through its graph API (cuda/cudnn_sdpa.h):
// the descriptors of one SDPA_FWD operation, its graph, the heuristic's engine
// configurations in their order of preference, the first deterministic one
// that makes a plan, and the plan's execution. Host code only.
//
// A plan that cannot be built is not an error (cuDNN may have no engine for a
// shape, or no GPU): the reason is kept with the shape, so it is asked once.
// A plan that was built and then fails to run is one (a broken machine).
#include <stdio.h>
#include <string.h>

#include "cuda/common.cuh"
#include "cuda/cudnn.h"
#include "cuda/cudnn_sdpa.h"

namespace {

enum : int64_t { UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE };

struct Plan {
    SdpaShape key;
    int ok;
    CudnnDesc plan; // with the descriptors it was built from, kept for the process
    int64_t workspace;
    char why[384];
};

constexpr int MAX_PLANS = 64;
Plan plans[MAX_PLANS];
int n_plans;
void *handle;
char handle_why[256];

// The descriptors made since the last keep_made(): a plan keeps them (cuDNN
// does not say that a plan outlives the configuration and graph it was made
// from); a failed build or a mere check destroys them.
constexpr int MAX_MADE = 256; // two heuristics of 16 configurations, each with its engine and plan
CudnnDesc made[MAX_MADE];
int n_made;

// 0 when st is success; else 1, with "<what> failed: <cuDNN's reason>" in why.
int failed(int st, const char *what, char *why, size_t size) {
    if (st == CUDNN_OK) return 0;
    cudnn_describe_failure(what, st, why, size);
    return 1;
}

CudnnDesc create(int type) {
    CudnnDesc d = NULL;
    int st = cudnn_api()->create_descriptor(type, &d);
    if (st != CUDNN_OK) {
        char buf[256];
        fatal("cuDNN: %s", cudnn_describe_failure("cudnnBackendCreateDescriptor", st, buf, sizeof buf));
    }
    return d;
}

// A descriptor of the plan being built (see `made`).
CudnnDesc make(int type) {
    if (n_made == MAX_MADE) fatal("cuDNN attention: more than %d descriptors for one plan", MAX_MADE);
    return made[n_made++] = create(type);
}

// The SDPA operation came in cuDNN 9.x: one that does not know the
// descriptor type is a reason not to use cuDNN, not an error.
CudnnDesc make_operation(char *why, size_t size) {
    CudnnDesc d = NULL;
    int st = cudnn_api()->create_descriptor(CUDNN_DESC_OPERATION_SDPA_FWD, &d);
    if (failed(st, "creating an SDPA_FWD operation", why, size)) return NULL;
    if (n_made == MAX_MADE) fatal("cuDNN attention: more than %d descriptors for one plan", MAX_MADE);
    return made[n_made++] = d;
}

void keep_made(void) { n_made = 0; }

void destroy_made(void) {
    while (n_made > 0) cudnn_api()->destroy_descriptor(made[--n_made]);
}

// A bf16 (or f32) tensor [d0, d1, d2, d3] with the given strides.
int tensor(CudnnDesc *out, int64_t uid, int type, const int64_t dims[4], const int64_t strides[4], int by_value,
           char *why, size_t size) {
    const CudnnApi *c = cudnn_api();
    CudnnDesc t = make(CUDNN_DESC_TENSOR);
    int64_t align = 16;
    if (by_value) align = 4;
    bool value = by_value != 0;
    int st = c->set_attribute(t, CUDNN_A_TENSOR_UNIQUE_ID, CUDNN_T_INT64, 1, &uid);
    if (st == CUDNN_OK) st = c->set_attribute(t, CUDNN_A_TENSOR_DATA_TYPE, CUDNN_T_DATA_TYPE, 1, &type);
    if (st == CUDNN_OK) st = c->set_attribute(t, CUDNN_A_TENSOR_BYTE_ALIGNMENT, CUDNN_T_INT64, 1, &align);
    if (st == CUDNN_OK) st = c->set_attribute(t, CUDNN_A_TENSOR_DIMENSIONS, CUDNN_T_INT64, 4, dims);
    if (st == CUDNN_OK) st = c->set_attribute(t, CUDNN_A_TENSOR_STRIDES, CUDNN_T_INT64, 4, strides);
    if (st == CUDNN_OK && by_value) st = c->set_attribute(t, CUDNN_A_TENSOR_IS_BY_VALUE, CUDNN_T_BOOLEAN, 1, &value);
    if (st == CUDNN_OK) st = c->finalize(t);
    *out = t;
    char what[64];
    snprintf(what, sizeof what, "the tensor descriptor of uid %lld", (long long)uid);
    return failed(st, what, why, size);
}

int rows_tensor(CudnnDesc *out, int64_t uid, int64_t B, int64_t H, int64_t n, int64_t Dh, AttentionRows r,
                char *why, size_t size) {
    const int64_t dims[4] = {B, H, n, Dh}, strides[4] = {r.batch, r.head, r.row, 1};
    return tensor(out, uid, CUDNN_BFLOAT16, dims, strides, 0, why, size);
}

// The SDPA_FWD operation of s (its tensors created on the way), finalized:
// the statistics as an output is what makes it a training forward.
int operation(const SdpaShape *s, CudnnDesc *op_out, char *why, size_t size) {
    const CudnnApi *c = cudnn_api();
    CudnnDesc q, k, v, o, stats, scale;
    const int64_t stats_dims[4] = {s->B, s->H, s->T, 1}, stats_strides[4] = {s->H * s->T, s->T, 1, 1};
    const int64_t one[4] = {1, 1, 1, 1};
    if (rows_tensor(&q, UID_Q, s->B, s->H, s->T, s->Dh, s->q, why, size) ||
        rows_tensor(&k, UID_K, s->B, s->H, s->S, s->Dh, s->kv, why, size) ||
        rows_tensor(&v, UID_V, s->B, s->H, s->S, s->Dh, s->kv, why, size) ||
        rows_tensor(&o, UID_O, s->B, s->H, s->T, s->Dh, s->o, why, size) ||
        tensor(&stats, UID_STATS, CUDNN_FLOAT, stats_dims, stats_strides, 0, why, size) ||
        tensor(&scale, UID_SCALE, CUDNN_FLOAT, one, one, 1, why, size))
        return -1;
    CudnnDesc op = make_operation(why, size);
    if (!op) return -1;
    const struct {
        int name;
        CudnnDesc desc;
    } links[6] = {{CUDNN_A_SDPA_FWD_QDESC, q},         {CUDNN_A_SDPA_FWD_KDESC, k},
                  {CUDNN_A_SDPA_FWD_VDESC, v},         {CUDNN_A_SDPA_FWD_ODESC, o},
                  {CUDNN_A_SDPA_FWD_STATSDESC, stats}, {CUDNN_A_SDPA_FWD_SCALEDESC, scale}};
    int st = CUDNN_OK;
    for (int i = 0; i < 6 && st == CUDNN_OK; i++)
        st = c->set_attribute(op, links[i].name, CUDNN_T_BACKEND_DESCRIPTOR, 1, &links[i].desc);
    if (st == CUDNN_OK) st = c->finalize(op);
    *op_out = op;
    return failed(st, "the SDPA_FWD operation", why, size) ? -1 : 0;
}

// The graph of s's one operation, finalized (cuDNN builds its DAG on the
// host); `with_handle` NULL: a check without a GPU (a handle is optional
// since cuDNN 9.8).
int operation_graph(const SdpaShape *s, void *with_handle, CudnnDesc *graph, char *why, size_t size) {
    const CudnnApi *c = cudnn_api();
    CudnnDesc op;
    if (operation(s, &op, why, size) != 0) return -1;
    *graph = make(CUDNN_DESC_OPERATIONGRAPH);
    int st = CUDNN_OK;
    if (with_handle) st = c->set_attribute(*graph, CUDNN_A_OPERATIONGRAPH_HANDLE, CUDNN_T_HANDLE, 1, &with_handle);
    if (st == CUDNN_OK) st = c->set_attribute(*graph, CUDNN_A_OPERATIONGRAPH_OPS, CUDNN_T_BACKEND_DESCRIPTOR, 1, &op);
    if (st == CUDNN_OK) st = c->finalize(*graph);
    return failed(st, "the operation graph", why, size) ? -1 : 0;
}

int handle_ready(char *why, size_t size) {
    if (handle) return 1;
    if (*handle_why) {
        snprintf(why, size, "%s", handle_why);
        return 0;
    }
    int st = cudnn_api()->create(&handle);
    if (st != CUDNN_OK) {
        handle = NULL;
        cudnn_describe_failure("cudnnCreate", st, handle_why, sizeof handle_why);
        snprintf(why, size, "%s", handle_why);
        return 0;
    }
    return 1;
}

// 1 when the configuration's engine carries the NONDETERMINISTIC note.
int nondeterministic(CudnnDesc cfg) {
    const CudnnApi *c = cudnn_api();
    CudnnDesc engine = make(CUDNN_DESC_ENGINE);
    int64_t n = 0;
    int notes[CUDNN_NOTE_COUNT];
    int st = c->get_attribute(cfg, CUDNN_A_ENGINECFG_ENGINE, CUDNN_T_BACKEND_DESCRIPTOR, 1, &n, &engine);
    if (st == CUDNN_OK)
        st = c->get_attribute(engine, CUDNN_A_ENGINE_NUMERICAL_NOTE, CUDNN_T_NUMERICAL_NOTE, CUDNN_NOTE_COUNT, &n,
                              notes);
    int bad = st != CUDNN_OK; // unknown: treated as nondeterministic
    for (int64_t i = 0; !bad && i < n; i++) bad = notes[i] == CUDNN_NOTE_NONDETERMINISTIC;
    return bad;
}

// The first configuration of the heuristic `mode` for `graph` that is
// deterministic and makes a plan: 1 and p's plan, or 0 and why.
int plan_from_heuristic(CudnnDesc graph, int mode, Plan *p, char *why, size_t size) {
    const CudnnApi *c = cudnn_api();
    CudnnDesc heur = make(CUDNN_DESC_ENGINEHEUR);
    int st = c->set_attribute(heur, CUDNN_A_ENGINEHEUR_OPERATION_GRAPH, CUDNN_T_BACKEND_DESCRIPTOR, 1, &graph);
    if (st == CUDNN_OK) st = c->set_attribute(heur, CUDNN_A_ENGINEHEUR_MODE, CUDNN_T_HEUR_MODE, 1, &mode);
    if (st == CUDNN_OK) st = c->finalize(heur);
    int64_t count = 0;
    if (st == CUDNN_OK) st = c->get_attribute(heur, CUDNN_A_ENGINEHEUR_RESULTS, CUDNN_T_BACKEND_DESCRIPTOR, 0, &count, NULL);
    if (failed(st, "the engine heuristic", why, size)) return 0;
    if (count <= 0) {
        snprintf(why, size, "the heuristic has no engine configuration");
        return 0;
    }
    if (count > 16) count = 16;
    CudnnDesc cfgs[16];
    for (int64_t i = 0; i < count; i++) cfgs[i] = make(CUDNN_DESC_ENGINECFG);
    int64_t filled = 0; // what the attribute holds, which may exceed what was asked for
    st = c->get_attribute(heur, CUDNN_A_ENGINEHEUR_RESULTS, CUDNN_T_BACKEND_DESCRIPTOR, count, &filled, cfgs);
    if (failed(st, "reading the heuristic's engine configurations", why, size)) return 0;
    if (filled < count) count = filled;
    int skipped = 0;
    char last[256] = "";
    for (int64_t i = 0; i < count; i++) {
        if (nondeterministic(cfgs[i])) {
            skipped++;
            continue;
        }
        CudnnDesc plan = make(CUDNN_DESC_EXECUTION_PLAN);
        st = c->set_attribute(plan, CUDNN_A_EXECUTION_PLAN_HANDLE, CUDNN_T_HANDLE, 1, &handle);
        if (st == CUDNN_OK)
            st = c->set_attribute(plan, CUDNN_A_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_T_BACKEND_DESCRIPTOR, 1, &cfgs[i]);
        if (st == CUDNN_OK) st = c->finalize(plan);
        int64_t n = 0;
        if (st == CUDNN_OK)
            st = c->get_attribute(plan, CUDNN_A_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_T_INT64, 1, &n, &p->workspace);
        if (st == CUDNN_OK) {
            p->plan = plan;
            return 1;
        }
        failed(st, "the execution plan", last, sizeof last); // the last configuration's reason is reported
    }
    snprintf(why, size, "none of its %lld configurations made a plan (%d nondeterministic ones skipped)%s%s",
             (long long)count, skipped, *last ? "; the last: " : "", last);
    return 0;
}

// The plan of p->key, or p->why: heuristic A's configurations, then the
// fallback list's (cuDNN's own order of preference).
void build_plan(Plan *p) {
    const CudnnApi *c = cudnn_api();
    char *why = p->why;
    const size_t size = sizeof p->why;
    if (!c) {
        snprintf(why, size, "%s", cudnn_unavailable());
        return;
    }
    if (!handle_ready(why, size)) return;
    CudnnDesc graph;
    if (operation_graph(&p->key, handle, &graph, why, size) != 0) return;
    char why_a[160], why_fallback[160];
    if (plan_from_heuristic(graph, CUDNN_HEUR_A, p, why_a, sizeof why_a) ||
        plan_from_heuristic(graph, CUDNN_HEUR_FALLBACK, p, why_fallback, sizeof why_fallback)) {
        p->ok = 1;
        return;
    }
    snprintf(why, size, "cuDNN %zu has no plan: heuristic A: %s; fallback: %s", c->version, why_a, why_fallback);
}

void build(Plan *p) {
    build_plan(p);
    if (p->ok)
        keep_made();
    else
        destroy_made();
}

Plan *plan_for(const SdpaShape *s) {
    for (int i = 0; i < n_plans; i++)
        if (memcmp(&plans[i].key, s, sizeof *s) == 0) return &plans[i];
    if (n_plans == MAX_PLANS) fatal("cuDNN attention: more than %d shapes (raise MAX_PLANS)", MAX_PLANS);
    Plan *p = &plans[n_plans++];
    memset(p, 0, sizeof *p);
    p->key = *s;
    build(p);
    return p;
}

} // namespace

int cudnn_sdpa_forward(const SdpaShape *s, const void *q, const void *k, const void *v, void *o, float *stats,
                       float scale, char *why, size_t size) {
    const Plan *p = plan_for(s);
    if (!p->ok) {
        snprintf(why, size, "%s", p->why);
        return -1;
    }
    const CudnnApi *c = cudnn_api();
    const int64_t uids[6] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE};
    void *const ptrs[6] = {(void *)q, (void *)k, (void *)v, o, stats, &scale};
    void *workspace = p->workspace > 0 ? cuda_scratch((size_t)p->workspace) : NULL;
    CudnnDesc pack = create(CUDNN_DESC_VARIANT_PACK);
    int st = c->set_stream(handle, (void *)cuda_stream());
    if (st == CUDNN_OK) st = c->set_attribute(pack, CUDNN_A_VARIANT_PACK_UNIQUE_IDS, CUDNN_T_INT64, 6, uids);
    if (st == CUDNN_OK) st = c->set_attribute(pack, CUDNN_A_VARIANT_PACK_DATA_POINTERS, CUDNN_T_VOID_PTR, 6, ptrs);
    if (st == CUDNN_OK) st = c->set_attribute(pack, CUDNN_A_VARIANT_PACK_WORKSPACE, CUDNN_T_VOID_PTR, 1, &workspace);
    if (st == CUDNN_OK) st = c->finalize(pack);
    if (st == CUDNN_OK) st = c->execute(handle, p->plan, pack);
    c->destroy_descriptor(pack);
    char label[160], buf[384];
    snprintf(label, sizeof label, "cuDNN attention forward B=%lld H=%lld T=%lld S=%lld Dh=%lld", (long long)s->B,
             (long long)s->H, (long long)s->T, (long long)s->S, (long long)s->Dh);
    if (st != CUDNN_OK) fatal("cuDNN attention: %s", cudnn_describe_failure(label, st, buf, sizeof buf));
    cuda_op_done(label);
    return 0;
}

int cudnn_sdpa_check_graph(const SdpaShape *s, char *why, size_t size) {
    if (!cudnn_api()) {
        snprintf(why, size, "%s", cudnn_unavailable());
        return -1;
    }
    CudnnDesc graph;
    int rc = operation_graph(s, NULL, &graph, why, size);
    destroy_made();
    return rc;
}
