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

int forget_pair_scores(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, int progress,
                       double *scores) {
    if (n == 0) return 0;
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
    RetrievalEmbeddings e;
    memset(&e, 0, sizeof e);
    SubsetPixels ctx = {s, images};
    int rc = retrieval_eval_embed_images(m, n_img, subset_pixels, &ctx, batch, 0, progress, &e);
    if (rc == 0) {
        retrieval_eval_embed_texts(m, n, ids, mask, (int)L, batch, 0, progress, &e);
        const int64_t E = e.embed_dim;
        for (int64_t p = 0; p < n; p++) {
            const float *v = e.image_feat + find_i64(images, n_img, s->split.txt2img[pairs[p]]) * E;
            const float *t = e.text_feat + p * E;
            /* Both features are unit vectors (l2norm of the projections), so
             * the dot product is the cosine LAVIS's similarity matrix holds. */
            double cos = 0.0;
            for (int64_t k = 0; k < E; k++) cos += (double)v[k] * (double)t[k];
            scores[p] = 1.0 / (1.0 + exp(-cos));
        }
    }
    retrieval_embeddings_free(&e);
    free(images);
    free(ids);
    free(mask);
    return rc;
}

int64_t forget_sample_unseen(int64_t n_pool, int64_t n, uint64_t seed, int64_t *out) {
    int64_t k = n < n_pool ? n : n_pool;
    if (k <= 0) return 0;
    int64_t *all = xmalloc((size_t)n_pool * sizeof *all);
    for (int64_t i = 0; i < n_pool; i++) all[i] = i;
    Rng r = rng_make(seed, FORGET_STREAM_UNSEEN);
    for (int64_t i = 0; i < k; i++) {
        int64_t j = i + (int64_t)rng_below(&r, (uint64_t)(n_pool - i));
        int64_t tmp = all[i];
        all[i] = all[j];
        all[j] = tmp;
    }
    memcpy(out, all, (size_t)k * sizeof *out);
    free(all);
    qsort(out, (size_t)k, sizeof *out, cmp_i64);
    return k;
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
    if (n_unseen > 0 && n_df > 0) {
        int64_t n = n_df + n_unseen;
        double *scores = xmalloc((size_t)n * sizeof *scores);
        int *labels = xmalloc((size_t)n * sizeof *labels);
        for (int64_t k = 0; k < n_df; k++) scores[k] = df[k], labels[k] = 0;
        for (int64_t k = 0; k < n_unseen; k++) scores[n_df + k] = unseen[k], labels[n_df + k] = 1;
        out->auc_unseen = auc_mann_whitney(scores, labels, n);
        out->df_vs_unseen = 100.0 * (1.0 - out->auc_unseen);
        free(scores);
        free(labels);
    }
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
    if (rc == 0) rc = check_scores("Df", out->df_scores, out->df_pairs, n_df, "training");
    if (rc == 0) rc = check_scores("Dr", out->dr_scores, out->dr_pairs, n_dr, "training");
    if (rc == 0) rc = check_scores("unseen", out->unseen_scores, out->unseen_pairs, out->n_unseen, "test");
    if (rc < 0) {
        forget_metrics_free(out);
        return -1;
    }
    forget_metrics_from_scores(out->df_scores, n_df, out->dr_scores, out->n_subsets, out->unseen_scores,
                               out->n_unseen, out);
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
    memset(f, 0, sizeof *f);
}
