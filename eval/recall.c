#include "eval/recall.h"

#include <stdlib.h>

#include "core/error.h"

int64_t rank_in_row(const float *row, int64_t n, int64_t target) {
    float s = row[target];
    int64_t rank = 0;
    for (int64_t j = 0; j < n; j++)
        if (row[j] > s || (row[j] == s && j < target)) rank++;
    return rank;
}

static void recall_at(const int64_t *ranks, int64_t n, double *r1, double *r5, double *r10) {
    int64_t c1 = 0, c5 = 0, c10 = 0;
    for (int64_t k = 0; k < n; k++) {
        c1 += ranks[k] < 1;
        c5 += ranks[k] < 5;
        c10 += ranks[k] < 10;
    }
    *r1 = 100.0 * (double)c1 / (double)n;
    *r5 = 100.0 * (double)c5 / (double)n;
    *r10 = 100.0 * (double)c10 / (double)n;
}

RetrievalRecall retrieval_recall(const float *i2t, const float *t2i, const int64_t *text_image, int64_t n_images,
                                 int64_t n_texts) {
    CHECK(n_images > 0 && n_texts > 0, "empty retrieval set");
    int64_t *img_rank = malloc((size_t)n_images * sizeof *img_rank);
    int64_t *txt_rank = malloc((size_t)n_texts * sizeof *txt_rank);
    CHECK(img_rank && txt_rank, "out of memory");
    for (int64_t i = 0; i < n_images; i++) img_rank[i] = n_texts;
#pragma omp parallel for
    for (int64_t i = 0; i < n_images; i++) {
        const float *row = i2t + i * n_texts;
        for (int64_t t = 0; t < n_texts; t++) {
            if (text_image[t] != i) continue;
            int64_t r = rank_in_row(row, n_texts, t);
            if (r < img_rank[i]) img_rank[i] = r;
        }
    }
#pragma omp parallel for
    for (int64_t t = 0; t < n_texts; t++) txt_rank[t] = rank_in_row(t2i + t * n_images, n_images, text_image[t]);
    RetrievalRecall r;
    recall_at(img_rank, n_images, &r.tr1, &r.tr5, &r.tr10);
    recall_at(txt_rank, n_texts, &r.ir1, &r.ir5, &r.ir10);
    r.tr_mean = (r.tr1 + r.tr5 + r.tr10) / 3.0;
    r.ir_mean = (r.ir1 + r.ir5 + r.ir10) / 3.0;
    r.r_mean = 0.5 * (r.tr_mean + r.ir_mean);
    free(img_rank);
    free(txt_rank);
    return r;
}
