#include "eval/retrieval_eval.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/clock.h"
#include "core/comm.h"
#include "core/device.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/gemm.h"
#include "core/progress.h"
#include "core/xalloc.h"
#include "nn/attention.h"

RetrievalEvalOptions retrieval_eval_defaults(void) {
    /* k_test = 128 for Flickr30K (spec/albef_blip.md §4.1 item 6). */
    return (RetrievalEvalOptions){.k_test = 128,
                                  .image_batch = 32,
                                  .text_batch = 128,
                                  .pair_batch = 64,
                                  .score_mode = RETRIEVAL_SCORE_ITM_PLUS_ITC,
                                  .progress = 1,
                                  .keep_itc = 0,
                                  .keep_scores = 0};
}

/* Eval mode without a tape for the duration of a call; the caller's mode
 * and gradient switch come back afterwards. */
typedef struct {
    DropoutState dropout;
    int grad;
} EvalScope;

static EvalScope eval_scope_enter(Albef *m) {
    EvalScope s = {m->dropout, autograd_set_enabled(0)};
    albef_set_mode(m, 0, 0);
    return s;
}

static void eval_scope_leave(Albef *m, EvalScope s) {
    m->dropout = s.dropout;
    autograd_set_enabled(s.grad);
}

/* Copies an arena tensor of `numel` floats into host memory. */
static void copy_out(const Tensor *t, float *dst, int64_t numel) {
    CHECK(tensor_numel(t) == numel, "expected %lld values, got %lld", (long long)numel, (long long)tensor_numel(t));
    if (t->device != DEVICE_CPU) { /* device outputs of the ops are contiguous */
        tensor_copy_to_host(t, dst);
        return;
    }
    const Tensor *c = tensor_is_contiguous(t) ? t : tensor_contiguous_copy(t);
    memcpy(dst, tensor_f32(c), (size_t)numel * sizeof(float));
}

static void progress_maybe_begin(Progress *p, int on, const char *label, int64_t total) {
    if (on) progress_begin(p, label, total);
}
static void progress_maybe_advance(Progress *p, int on, int64_t n) {
    if (on) progress_advance(p, n);
}
static void progress_maybe_end(Progress *p, int on) {
    if (on) progress_end(p);
}

int retrieval_eval_embed_images(Albef *m, int64_t n, RetrievalPixelsFn pixels, void *ctx, int batch,
                                int keep_tokens, int progress, RetrievalEmbeddings *e) {
    CHECK(batch > 0 && n >= 0, "batch %d, n %lld", batch, (long long)n);
    const ModelConfig *c = &m->cfg;
    const int64_t S = c->image_size, Nv = model_config_image_tokens(c), Dv = c->vision_width, E = c->embed_dim;
    const int64_t px = 3 * S * S;
    e->n_images = n;
    e->image_len = (int)Nv;
    e->vision_width = (int)Dv;
    e->embed_dim = (int)E;
    e->image_feat = xmalloc((size_t)(n * E) * sizeof(float));
    e->image_tokens = keep_tokens ? xmalloc((size_t)(n * Nv * Dv) * sizeof(float)) : NULL;
    float *buf = xmalloc((size_t)(batch * px) * sizeof(float));
    EvalScope scope = eval_scope_enter(m);
    Progress bar;
    int64_t lo, hi;
    comm_shard_rows(n, batch, &lo, &hi);
    progress_maybe_begin(&bar, progress, "embed images", hi - lo);
    int rc = 0;
    for (int64_t start = lo; start < hi && rc == 0; start += batch) {
        int64_t B = hi - start < batch ? hi - start : batch;
        int failed = 0;
#pragma omp parallel for schedule(dynamic, 1)
        for (int64_t b = 0; b < B; b++) {
            if (pixels(ctx, start + b, buf + b * px) < 0) {
#pragma omp atomic write
                failed = 1;
            }
        }
        if (failed) {
            /* The message is thread-local to the failing worker: find the
             * first bad image again on this thread so error_message() names it. */
            for (int64_t b = 0; b < B; b++)
                if (pixels(ctx, start + b, buf + b * px) < 0) break;
            rc = -1;
            break;
        }
        Tensor *images = tensor_wrap(DTYPE_F32, SHAPE(B, 3, S, S), buf);
        AlbefImageEmbed out = albef_embed_image(m, images);
        copy_out(out.feat, e->image_feat + start * E, B * E);
        if (keep_tokens) copy_out(out.tokens, e->image_tokens + start * Nv * Dv, B * Nv * Dv);
        autograd_step_end();
        progress_maybe_advance(&bar, progress, B);
    }
    progress_maybe_end(&bar, progress);
    eval_scope_leave(m, scope);
    free(buf);
    /* Every rank learns whether one failed before the gather (the failing one keeps its message). */
    int64_t failures = rc < 0;
    comm_allreduce_i64(&failures, 1, COMM_SUM);
    if (failures) return rc < 0 ? rc : error_set("another rank could not read its images (see its message)");
    comm_allgather_rows_f32(e->image_feat, n, E, batch);
    if (keep_tokens) comm_allgather_rows_f32(e->image_tokens, n, Nv * Dv, batch);
    return 0;
}

void retrieval_eval_embed_texts(Albef *m, int64_t n, const int32_t *ids, const int32_t *mask01, int L, int batch,
                                int keep_tokens, int progress, RetrievalEmbeddings *e) {
    CHECK(batch > 0 && n >= 0 && L > 0, "batch %d, n %lld, L %d", batch, (long long)n, L);
    const int64_t D = m->cfg.text_width, E = m->cfg.embed_dim;
    e->n_texts = n;
    e->text_len = L;
    e->text_width = (int)D;
    e->embed_dim = (int)E;
    e->text_feat = xmalloc((size_t)(n * E) * sizeof(float));
    e->text_tokens = keep_tokens ? xmalloc((size_t)(n * L * D) * sizeof(float)) : NULL;
    e->text_mask = NULL;
    if (keep_tokens) {
        e->text_mask = xmalloc((size_t)(n * L) * sizeof(int32_t));
        memcpy(e->text_mask, mask01, (size_t)(n * L) * sizeof(int32_t));
    }
    EvalScope scope = eval_scope_enter(m);
    Progress bar;
    int64_t lo, hi;
    comm_shard_rows(n, batch, &lo, &hi);
    progress_maybe_begin(&bar, progress, "embed texts", hi - lo);
    for (int64_t start = lo; start < hi; start += batch) {
        int64_t B = hi - start < batch ? hi - start : batch;
        Tensor *tid = tensor_new(DTYPE_I32, SHAPE(B, L));
        Tensor *tmask = tensor_new(DTYPE_I32, SHAPE(B, L));
        memcpy(tid->data, ids + start * L, (size_t)(B * L) * sizeof(int32_t));
        memcpy(tmask->data, mask01 + start * L, (size_t)(B * L) * sizeof(int32_t));
        AlbefTextEmbed out = albef_embed_text(m, tid, tmask);
        copy_out(out.feat, e->text_feat + start * E, B * E);
        if (keep_tokens) copy_out(out.tokens, e->text_tokens + start * L * D, B * L * D);
        autograd_step_end();
        progress_maybe_advance(&bar, progress, B);
    }
    progress_maybe_end(&bar, progress);
    eval_scope_leave(m, scope);
    comm_allgather_rows_f32(e->text_feat, n, E, batch);
    if (keep_tokens) comm_allgather_rows_f32(e->text_tokens, n, L * D, batch);
}

static int set_pixels(void *ctx, int64_t index, float *out_chw) {
    return retrieval_set_pixels((const RetrievalSet *)ctx, index, IMAGE_AUG_NONE, 0, 0, out_chw);
}

int retrieval_eval_embed_set(Albef *m, const RetrievalSet *s, const RetrievalEvalOptions *o, RetrievalEmbeddings *e) {
    memset(e, 0, sizeof *e);
    if (s->image_size != m->cfg.image_size)
        return error_set("retrieval set prepared for %d-pixel images, the model takes %d", s->image_size,
                         m->cfg.image_size);
    /* Texts first, as LAVIS does (§4.1 step 1); the order changes no value. */
    retrieval_eval_embed_texts(m, s->split.n_texts, s->ids, s->mask, s->max_len, o->text_batch, 1, o->progress, e);
    if (retrieval_eval_embed_images(m, s->split.n_images, set_pixels, (void *)s, o->image_batch, 1, o->progress,
                                    e) < 0) {
        retrieval_embeddings_free(e);
        return -1;
    }
    return 0;
}

void retrieval_embeddings_free(RetrievalEmbeddings *e) {
    free(e->image_tokens);
    free(e->image_feat);
    free(e->text_tokens);
    free(e->text_mask);
    free(e->text_feat);
    memset(e, 0, sizeof *e);
}

void retrieval_eval_fused_pairs(Albef *m, const RetrievalEmbeddings *e, int64_t n, const int64_t *img,
                                const int64_t *txt, int batch, int progress, float *cls_out, float *itm_out) {
    CHECK(e->image_tokens && e->text_tokens && e->text_mask, "fused pairs need an embedding pass that kept tokens");
    CHECK(batch > 0, "batch %d", batch);
    const int64_t Nv = e->image_len, Dv = e->vision_width, L = e->text_len, D = e->text_width;
    CHECK(D == m->cfg.text_width && Dv == m->cfg.vision_width, "embeddings from another model width");
    EvalScope scope = eval_scope_enter(m);
    Progress bar;
    int64_t lo, hi;
    comm_shard_rows(n, batch, &lo, &hi);
    progress_maybe_begin(&bar, progress, "ITM rerank", hi - lo);
    for (int64_t start = lo; start < hi; start += batch) {
        int64_t B = hi - start < batch ? hi - start : batch;
        /* Gather the pairs' token states from the embedding pass into one batch. */
        Tensor *image = tensor_new(DTYPE_F32, SHAPE(B, Nv, Dv));
        Tensor *text = tensor_new(DTYPE_F32, SHAPE(B, L, D));
        Tensor *mask = tensor_new(DTYPE_I32, SHAPE(B, L));
        for (int64_t b = 0; b < B; b++) {
            int64_t i = img[start + b], t = txt[start + b];
            CHECK(i >= 0 && i < e->n_images && t >= 0 && t < e->n_texts, "pair (%lld, %lld) out of range",
                  (long long)i, (long long)t);
            memcpy(tensor_f32(image) + b * Nv * Dv, e->image_tokens + i * Nv * Dv, (size_t)(Nv * Dv) * sizeof(float));
            memcpy(tensor_f32(text) + b * L * D, e->text_tokens + t * L * D, (size_t)(L * D) * sizeof(float));
            memcpy(tensor_i32(mask) + b * L, e->text_mask + t * L, (size_t)L * sizeof(int32_t));
        }
        AlbefTextEmbed te = {.tokens = text, .feat = NULL, .mask = attention_additive_mask(mask)};
        Tensor *cls = albef_fused_cls(m, &te, image);
        if (cls_out) copy_out(cls, cls_out + start * D, B * D);
        if (itm_out) copy_out(albef_itm_logits(m, cls), itm_out + start * 2, B * 2);
        autograd_step_end();
        progress_maybe_advance(&bar, progress, B);
    }
    progress_maybe_end(&bar, progress);
    eval_scope_leave(m, scope);
    if (cls_out) comm_allgather_rows_f32(cls_out, n, D, batch);
    if (itm_out) comm_allgather_rows_f32(itm_out, n, 2, batch);
}

void retrieval_eval_itc_matrix(const RetrievalEmbeddings *e, float *C) {
    CHECK(e->image_feat && e->text_feat, "ITC matrix needs both features");
    if (e->n_images == 0 || e->n_texts == 0) return;
    gemm_f32(0, 1, e->n_images, e->n_texts, e->embed_dim, 1.0f, e->image_feat, e->embed_dim, e->text_feat,
             e->embed_dim, 0.0f, C, e->n_texts);
}

/* ---- rerank (§4.1 steps 3-5) ---- */

/* Candidate a ranks before b: larger score, ties to the lower index (the
 * order of a stable descending sort, as eval/recall.h ranks). */
static int ranks_before(const float *row, int64_t a, int64_t b) {
    return row[a] > row[b] || (row[a] == row[b] && a < b);
}

static void heap_sift_down(const float *row, int64_t *h, int k, int at) {
    for (;;) {
        int worst = at, l = 2 * at + 1, r = l + 1;
        if (l < k && ranks_before(row, h[worst], h[l])) worst = l;
        if (r < k && ranks_before(row, h[worst], h[r])) worst = r;
        if (worst == at) return;
        int64_t tmp = h[at];
        h[at] = h[worst];
        h[worst] = tmp;
        at = worst;
    }
}

/* The k best indices of row[0..n) (in heap order): a heap whose root is the
 * worst of those kept, O(n log k). */
static void top_k(const float *row, int64_t n, int k, int64_t *out) {
    for (int j = 0; j < k; j++) out[j] = j;
    for (int j = k / 2 - 1; j >= 0; j--) heap_sift_down(row, out, k, j);
    for (int64_t j = k; j < n; j++) {
        if (!ranks_before(row, j, out[0])) continue;
        out[0] = j;
        heap_sift_down(row, out, k, 0);
    }
}

static int64_t find_key(const int64_t *keys, int64_t n, int64_t key) {
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (keys[mid] == key) return mid;
        if (keys[mid] < key) lo = mid + 1;
        else hi = mid - 1;
    }
    CHECK(0, "candidate pair %lld not among the scored pairs", (long long)key);
    return -1;
}

int64_t retrieval_eval_rerank(const float *C, int64_t n_images, int64_t n_texts, int k_test,
                              RetrievalScoreMode mode, RetrievalItmFn itm, void *ctx, float *i2t, float *t2i) {
    CHECK(n_images > 0 && n_texts > 0 && k_test > 0, "rerank of %lld x %lld with k %d", (long long)n_images,
          (long long)n_texts, k_test);
    const int k1 = (int)(k_test < n_texts ? k_test : n_texts);
    const int k2 = (int)(k_test < n_images ? k_test : n_images);
    float *CT = xmalloc((size_t)(n_images * n_texts) * sizeof(float));
    for (int64_t i = 0; i < n_images; i++)
        for (int64_t t = 0; t < n_texts; t++) CT[t * n_images + i] = C[i * n_texts + t];
    /* Candidates as keys i·n_texts + t: the image rows' then the text rows'. */
    const int64_t n_cand = n_images * k1 + n_texts * k2;
    int64_t *cand = xmalloc((size_t)n_cand * sizeof(int64_t));
    int64_t *top = xmalloc((size_t)n_cand * sizeof(int64_t));
#pragma omp parallel for
    for (int64_t i = 0; i < n_images; i++) {
        int64_t *row_top = top + i * k1;
        top_k(C + i * n_texts, n_texts, k1, row_top);
        for (int j = 0; j < k1; j++) cand[i * k1 + j] = i * n_texts + row_top[j];
    }
#pragma omp parallel for
    for (int64_t t = 0; t < n_texts; t++) {
        int64_t *row_top = top + n_images * k1 + t * k2;
        top_k(CT + t * n_images, n_images, k2, row_top);
        for (int j = 0; j < k2; j++) cand[n_images * k1 + t * k2 + j] = row_top[j] * n_texts + t;
    }
    /* One fused forward per distinct pair: sort and drop repeats. */
    int64_t *keys = xmalloc((size_t)n_cand * sizeof(int64_t));
    memcpy(keys, cand, (size_t)n_cand * sizeof(int64_t));
    qsort(keys, (size_t)n_cand, sizeof(int64_t), cmp_i64);
    int64_t n_pairs = 0;
    for (int64_t c = 0; c < n_cand; c++)
        if (n_pairs == 0 || keys[n_pairs - 1] != keys[c]) keys[n_pairs++] = keys[c];
    int64_t *pi = xmalloc((size_t)n_pairs * sizeof(int64_t)), *pt = xmalloc((size_t)n_pairs * sizeof(int64_t));
    for (int64_t p = 0; p < n_pairs; p++) {
        pi[p] = keys[p] / n_texts;
        pt[p] = keys[p] % n_texts;
    }
    float *logit = xmalloc((size_t)n_pairs * sizeof(float));
    itm(ctx, n_pairs, pi, pt, logit);

    for (int64_t k = 0; k < n_images * n_texts; k++) i2t[k] = -100.0f, t2i[k] = -100.0f;
    for (int64_t c = 0; c < n_cand; c++) {
        int64_t key = cand[c], i = key / n_texts, t = key % n_texts;
        float s = logit[find_key(keys, n_pairs, key)];
        if (mode == RETRIEVAL_SCORE_ITM_PLUS_ITC) s += C[key];
        if (c < n_images * k1) i2t[i * n_texts + t] = s;
        else t2i[t * n_images + i] = s;
    }
    free(CT);
    free(cand);
    free(top);
    free(keys);
    free(pi);
    free(pt);
    free(logit);
    return n_pairs;
}

/* ---- the whole protocol ---- */

typedef struct {
    Albef *m;
    const RetrievalEmbeddings *e;
    const RetrievalEvalOptions *o;
} ModelItm;

static void model_itm(void *ctx, int64_t n, const int64_t *img, const int64_t *txt, float *out) {
    ModelItm *c = ctx;
    float *logits = xmalloc((size_t)(2 * n) * sizeof(float));
    retrieval_eval_fused_pairs(c->m, c->e, n, img, txt, c->o->pair_batch, c->o->progress, NULL, logits);
    /* The raw "match" logit, column 1, before any softmax (§3.1 step 12, §4.1 step 4). */
    for (int64_t p = 0; p < n; p++) out[p] = logits[2 * p + 1];
    free(logits);
}

/* scores [rows, cols] of images x captions (transposed: captions x images). */
static int check_scores(const char *kind, const float *scores, int64_t rows, int64_t cols, int transposed) {
    int64_t bad = finite_first_bad_f32(scores, rows * cols);
    if (bad < 0) return 0;
    int64_t r = bad / cols, c = bad % cols;
    return error_set("retrieval evaluation: the %s score of image %lld and caption %lld is %g: the model's features "
                     "are not finite", kind, (long long)(transposed ? c : r), (long long)(transposed ? r : c),
                     scores[bad]);
}

int retrieval_eval_run(Albef *m, const RetrievalSet *s, const RetrievalEvalOptions *o, RetrievalEvalResult *out) {
    memset(out, 0, sizeof *out);
    const int64_t ni = s->split.n_images, nt = s->split.n_texts;
    if (ni == 0 || nt == 0) return error_set("retrieval evaluation of an empty split (%lld images, %lld texts)",
                                             (long long)ni, (long long)nt);
    double t0 = clock_seconds();
    RetrievalEmbeddings e;
    if (retrieval_eval_embed_set(m, s, o, &e) < 0) return -1;
    double t1 = clock_seconds();
    float *C = xmalloc((size_t)(ni * nt) * sizeof(float));
    float *i2t = xmalloc((size_t)(ni * nt) * sizeof(float));
    float *t2i = xmalloc((size_t)(ni * nt) * sizeof(float));
    retrieval_eval_itc_matrix(&e, C);
    /* A NaN similarity ranks anywhere and gives a plausible recall: stop and name the pair. */
    int rc = check_scores("ITC", C, ni, nt, 0);
    ModelItm ctx = {m, &e, o};
    if (rc == 0)
        out->n_itm_pairs = retrieval_eval_rerank(C, ni, nt, o->k_test, o->score_mode, model_itm, &ctx, i2t, t2i);
    if (rc == 0) rc = check_scores("ITM", i2t, ni, nt, 0);
    if (rc == 0) rc = check_scores("ITM", t2i, nt, ni, 1);
    if (rc < 0) {
        retrieval_embeddings_free(&e);
        free(C);
        free(i2t);
        free(t2i);
        return RETRIEVAL_EVAL_NONFINITE;
    }
    out->recall = retrieval_recall(i2t, t2i, s->split.txt2img, ni, nt);
    double t2 = clock_seconds();
    out->n_images = ni;
    out->n_texts = nt;
    out->k_i2t = (int)(o->k_test < nt ? o->k_test : nt);
    out->k_t2i = (int)(o->k_test < ni ? o->k_test : ni);
    out->embed_seconds = t1 - t0;
    out->rerank_seconds = t2 - t1;
    out->seconds = t2 - t0;
    if (o->keep_itc) out->itc = C;
    else free(C);
    if (o->keep_scores) {
        out->i2t = i2t;
        out->t2i = t2i;
    } else {
        free(i2t);
        free(t2i);
    }
    retrieval_embeddings_free(&e);
    return 0;
}

void retrieval_eval_result_free(RetrievalEvalResult *r) {
    free(r->itc);
    free(r->i2t);
    free(r->t2i);
    memset(r, 0, sizeof *r);
}
