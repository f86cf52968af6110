/* Retrieval recall@K from full score matrices (spec/unlearning_methods.md §6.1,
 * spec/albef_blip.md §4.1). The caller fills the scores (ITC for every pair,
 * then ITM + ITC for each query's top-k candidates and -100 elsewhere); this
 * turns them into TR@1/5/10 (image -> text), IR@1/5/10 and their means, in %. */
#ifndef EVAL_RECALL_H
#define EVAL_RECALL_H

#include <stdint.h>

typedef struct {
    double tr1, tr5, tr10, tr_mean;
    double ir1, ir5, ir10, ir_mean;
    double r_mean; /* (tr_mean + ir_mean) / 2 */
} RetrievalRecall;

/* i2t [n_images, n_texts], t2i [n_texts, n_images]; text t belongs to image
 * text_image[t]. An image's rank is the best 0-based position of any of its
 * texts; ties are broken by index (as a stable descending sort would). */
RetrievalRecall retrieval_recall(const float *i2t, const float *t2i, const int64_t *text_image, int64_t n_images,
                                 int64_t n_texts);

/* 0-based position of column `target` in the descending order of row[0..n). */
int64_t rank_in_row(const float *row, int64_t n, int64_t target);

#endif
