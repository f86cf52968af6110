#include "eval/forget_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/rng.h"
#include "core/xalloc.h"
#include "eval/auc.h"
#include "models/pair_outputs.h"
#include "eval/retrieval_eval.h"

/* Philox stream of the unseen-pair sample ("unseen" in ASCII), apart from the
 * streams data/deletion.c draws Df/Dr subsets from. */
#define FORGET_STREAM_UNSEEN 0x756e7365656eULL

typedef struct {
    const RetrievalSet *s;
    const int64_t *images; /* local index -> image of the split */
} SubsetPixels;

static int subset_pixels(void *ctx, int64_t index, float *out_chw) {
    const SubsetPixels *p = ctx;
    return retrieval_set_pixels(p->s, p->images[index], IMAGE_AUG_NONE, 0, 0, out_chw);
}

static int64_t find_i64(const int64_t *sorted, int64_t n, int64_t key) {
    const int64_t *hit = bsearch(&key, sorted, (size_t)n, sizeof *sorted, cmp_i64);
    CHECK(hit != NULL, "image %lld missing from the embedded subset", (long long)key);
    return hit - sorted;
}

/* ITC features of n pairs: each distinct image embedded once (the sorted
 * list in *images_out, n_img of them), each caption as the split holds it.
 * The caller frees e and *images_out. */
static int embed_pairs(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, int progress,
                       RetrievalEmbeddings *e, int64_t **images_out, int64_t *n_img_out) {
    memset(e, 0, sizeof *e);
    *images_out = NULL;
    if (s->image_size != m->cfg.image_size)
        return error_set("retrieval set prepared for %d-pixel images, the model takes %d", s->image_size,
                         m->cfg.image_size);
    const int64_t L = s->max_len;
    for (int64_t p = 0; p < n; p++)
        if (pairs[p] < 0 || pairs[p] >= s->split.n_texts)
            return error_set("pair %lld out of range (the split has %lld pairs)", (long long)pairs[p],
                             (long long)s->split.n_texts);
    /* The distinct images of the pairs, each embedded once. */
    int64_t *images = xmalloc((size_t)n * sizeof *images);
    for (int64_t p = 0; p < n; p++) images[p] = s->split.txt2img[pairs[p]];
    qsort(images, (size_t)n, sizeof *images, cmp_i64);
    int64_t n_img = 0;
    for (int64_t p = 0; p < n; p++)
        if (n_img == 0 || images[n_img - 1] != images[p]) images[n_img++] = images[p];
    /* The pairs' own captions, tokenised as the split holds them. */
    int32_t *ids = xmalloc((size_t)(n * L) * sizeof *ids), *mask = xmalloc((size_t)(n * L) * sizeof *mask);
    for (int64_t p = 0; p < n; p++) {
        memcpy(ids + p * L, s->ids + pairs[p] * L, (size_t)L * sizeof *ids);
        memcpy(mask + p * L, s->mask + pairs[p] * L, (size_t)L * sizeof *mask);
    }
    SubsetPixels ctx = {s, images};
    int rc = retrieval_eval_embed_images(m, n_img, subset_pixels, &ctx, batch, 0, progress, e);
    if (rc == 0) retrieval_eval_embed_texts(m, n, ids, mask, (int)L, batch, 0, progress, e);
    free(ids);
    free(mask);
    *images_out = images;
    *n_img_out = n_img;
    return rc;
}

/* cos(image of pair i, caption of pair j): both features are unit vectors
 * (l2norm of the projections), so the dot product is the cosine LAVIS's
 * similarity matrix holds. */
static double pair_cosine(const RetrievalSet *s, const RetrievalEmbeddings *e, const int64_t *images, int64_t n_img,
                          const int64_t *pairs, int64_t i, int64_t j) {
    const int64_t E = e->embed_dim;
    const float *v = e->image_feat + find_i64(images, n_img, s->split.txt2img[pairs[i]]) * E;
    const float *t = e->text_feat + j * E;
    double cos = 0.0;
    for (int64_t k = 0; k < E; k++) cos += (double)v[k] * (double)t[k];
    return cos;
}

int forget_pair_scores(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, int progress,
                       double *scores) {
    if (n == 0) return 0;
    RetrievalEmbeddings e;
    int64_t *images, n_img;
    int rc = embed_pairs(m, s, pairs, n, batch, progress, &e, &images, &n_img);
    for (int64_t p = 0; rc == 0 && p < n; p++)
        scores[p] = 1.0 / (1.0 + exp(-pair_cosine(s, &e, images, n_img, pairs, p, p)));
    retrieval_embeddings_free(&e);
    free(images);
    return rc;
}

int forget_pair_similarity(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch,
                           double *own_mean, double *off_mean) {
    *own_mean = *off_mean = NAN;
    if (n == 0) return 0;
    RetrievalEmbeddings e;
    int64_t *images, n_img;
    int rc = embed_pairs(m, s, pairs, n, batch, 0, &e, &images, &n_img);
    if (rc == 0) {
        double own = 0.0, off = 0.0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                double c = pair_cosine(s, &e, images, n_img, pairs, i, j);
                if (i == j) own += c;
                else off += c;
            }
        *own_mean = own / (double)n;
        if (n > 1) *off_mean = off / ((double)n * (double)(n - 1));
    }
    retrieval_embeddings_free(&e);
    free(images);
    return rc;
}

int64_t forget_sample_unseen(int64_t n_pool, int64_t n, uint64_t seed, int64_t *out) {
    int64_t k = n < n_pool ? n : n_pool;
    if (k <= 0) return 0;
    int64_t *all = xmalloc((size_t)n_pool * sizeof *all);
    for (int64_t i = 0; i < n_pool; i++) all[i] = i;
    Rng r = rng_make(seed, FORGET_STREAM_UNSEEN);
    rng_sample_i64(&r, all, n_pool, k);
    memcpy(out, all, (size_t)k * sizeof *out);
    free(all);
    qsort(out, (size_t)k, sizeof *out, cmp_i64);
    return k;
}

/* 100·(1 − AUC(a label 0, b label 1)): a's pairs as the positive class. */
static double auc_percent_first(const double *a, int64_t n_a, const double *b, int64_t n_b) {
    int64_t n = n_a + n_b;
    double *scores = xmalloc((size_t)n * sizeof *scores);
    int *labels = xmalloc((size_t)n * sizeof *labels);
    for (int64_t k = 0; k < n_a; k++) scores[k] = a[k], labels[k] = 0;
    for (int64_t k = 0; k < n_b; k++) scores[n_a + k] = b[k], labels[n_a + k] = 1;
    double auc = auc_mann_whitney(scores, labels, n);
    free(scores);
    free(labels);
    return 100.0 * (1.0 - auc);
}

void forget_metrics_from_scores(const double *df, int64_t n_df, const double *dr, int n_subsets,
                                const double *unseen, int64_t n_unseen, ForgetMetrics *out) {
    CHECK(n_subsets >= 1 && n_subsets <= FORGET_MAX_SUBSETS, "%d Dr subsets (1..%d)", n_subsets,
          FORGET_MAX_SUBSETS);
    /* §6.2 steps 2-3: one AUC per Dr subset, labels 0 for Df and 1 for Dr. */
    double total = 0.0;
    for (int c = 0; c < FORGET_MAX_SUBSETS; c++) out->auc_chunks[c] = NAN;
    for (int c = 0; c < n_subsets; c++) {
        out->auc_chunks[c] = auc_df_against_chunks(df, n_df, dr + (int64_t)c * n_df, 1);
        total += out->auc_chunks[c];
    }
    out->auc_code = total / n_subsets;
    out->df_reported = 100.0 * (1.0 - out->auc_code);
    out->auc_unseen = NAN;
    out->df_vs_unseen = NAN;
    out->dr_vs_unseen = NAN;
    if (n_unseen > 0 && n_df > 0) {
        out->df_vs_unseen = auc_percent_first(df, n_df, unseen, n_unseen);
        out->auc_unseen = 1.0 - out->df_vs_unseen / 100.0;
        out->dr_vs_unseen = auc_percent_first(dr, (int64_t)n_subsets * n_df, unseen, n_unseen);
    }
}

/* softmax(ITM logits)[1] of n pairs: the match probability. */
static int itm_match_scores(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch,
                            double *scores) {
    if (n == 0) return 0;
    float *probs = xmalloc((size_t)n * 2 * sizeof *probs);
    int rc = pair_itm_probs(m, s, pairs, n, batch, probs);
    for (int64_t k = 0; rc == 0 && k < n; k++) scores[k] = probs[2 * k + 1];
    free(probs);
    return rc;
}

/* The ITM-score AUCs, in the conventions of the ITC ones. */
static void itm_aucs(ForgetMetrics *out) {
    ForgetMetrics itm;
    memset(&itm, 0, sizeof itm);
    forget_metrics_from_scores(out->itm_df_scores, out->n_df, out->itm_dr_scores, out->n_subsets,
                               out->itm_unseen_scores, out->n_unseen, &itm);
    out->itm_df_reported = itm.df_reported;
    out->itm_df_vs_unseen = itm.df_vs_unseen;
    out->itm_dr_vs_unseen = itm.dr_vs_unseen;
}

/* A non-finite score would rank anywhere and yield a plausible AUC. */
static int check_scores(const char *set, const double *scores, const int64_t *pairs, int64_t n, const char *split) {
    int64_t bad = finite_first_bad_f64(scores, n);
    if (bad < 0) return 0;
    return error_set("Df metric: the score of %s caption %lld (%s pair %lld) is %g: the model's features are not "
                     "finite", split, (long long)pairs[bad], set, (long long)bad, scores[bad]);
}

int forget_metrics_compute(Albef *m, const RetrievalSet *train, const DeletionEvalSets *sets, const RetrievalSet *test,
                           uint64_t seed, int batch, int progress, ForgetMetrics *out) {
    memset(out, 0, sizeof *out);
    if (sets->n_df < 1) return error_set("Df metric: empty Df");
    if (sets->n_subsets < 1 || sets->n_subsets > FORGET_MAX_SUBSETS)
        return error_set("Df metric: %d Dr subsets (1..%d)", sets->n_subsets, FORGET_MAX_SUBSETS);
    double t0 = clock_seconds();
    const int64_t n_df = sets->n_df, n_dr = sets->n_subsets * n_df;
    out->n_df = n_df;
    out->n_subsets = sets->n_subsets;
    out->df_pairs = xmalloc((size_t)n_df * sizeof(int64_t));
    out->df_scores = xmalloc((size_t)n_df * sizeof(double));
    out->dr_pairs = xmalloc((size_t)n_dr * sizeof(int64_t));
    out->dr_scores = xmalloc((size_t)n_dr * sizeof(double));
    memcpy(out->df_pairs, sets->df, (size_t)n_df * sizeof(int64_t));
    memcpy(out->dr_pairs, sets->dr_subsets, (size_t)n_dr * sizeof(int64_t));
    int rc = forget_pair_scores(m, train, out->df_pairs, n_df, batch, progress, out->df_scores);
    if (rc == 0) rc = forget_pair_scores(m, train, out->dr_pairs, n_dr, batch, progress, out->dr_scores);
    if (rc == 0 && test) {
        out->unseen_pairs = xmalloc((size_t)n_df * sizeof(int64_t));
        out->n_unseen = forget_sample_unseen(test->split.n_texts, n_df, seed, out->unseen_pairs);
        out->unseen_scores = xmalloc((size_t)(out->n_unseen ? out->n_unseen : 1) * sizeof(double));
        rc = forget_pair_scores(m, test, out->unseen_pairs, out->n_unseen, batch, progress, out->unseen_scores);
    }
    out->itm_df_scores = xmalloc((size_t)n_df * sizeof(double));
    out->itm_dr_scores = xmalloc((size_t)n_dr * sizeof(double));
    out->itm_unseen_scores = xmalloc((size_t)(out->n_unseen ? out->n_unseen : 1) * sizeof(double));
    if (rc == 0) rc = itm_match_scores(m, train, out->df_pairs, n_df, batch, out->itm_df_scores);
    if (rc == 0) rc = itm_match_scores(m, train, out->dr_pairs, n_dr, batch, out->itm_dr_scores);
    if (rc == 0 && test) rc = itm_match_scores(m, test, out->unseen_pairs, out->n_unseen, batch, out->itm_unseen_scores);
    if (rc == 0) rc = check_scores("Df", out->df_scores, out->df_pairs, n_df, "training");
    if (rc == 0) rc = check_scores("Dr", out->dr_scores, out->dr_pairs, n_dr, "training");
    if (rc == 0) rc = check_scores("unseen", out->unseen_scores, out->unseen_pairs, out->n_unseen, "test");
    if (rc < 0) {
        forget_metrics_free(out);
        return -1;
    }
    forget_metrics_from_scores(out->df_scores, n_df, out->dr_scores, out->n_subsets, out->unseen_scores,
                               out->n_unseen, out);
    itm_aucs(out);
    out->seconds = clock_seconds() - t0;
    return 0;
}

void forget_metrics_free(ForgetMetrics *f) {
    free(f->df_pairs);
    free(f->df_scores);
    free(f->dr_pairs);
    free(f->dr_scores);
    free(f->unseen_pairs);
    free(f->unseen_scores);
    free(f->itm_df_scores);
    free(f->itm_dr_scores);
    free(f->itm_unseen_scores);
    memset(f, 0, sizeof *f);
}
