/* Dt for image-text retrieval with ALBEF: the Flickr30K protocol of
 * spec/albef_blip.md §4.1 and spec/unlearning_methods.md §6.1.
 *
 *   1. One embedding pass, eval mode, no tape: every image (ViT tokens and the
 *      ITC feature) and every text (text-mode token states, mask, ITC feature),
 *      copied out of the activation arena into malloc'ed arrays.
 *   2. C = V Tᵀ of the normalised ITC features (raw cosine, not / temp).
 *   3. i2t: for each image its k_test texts with the largest C; each scored by
 *      the ITM "match" logit (+ C[i, j] in LAVIS; the ITM logit alone in the
 *      original ALBEF code), every other entry -100. t2i symmetric.
 *   4. eval/recall.h turns the two matrices into TR@K / IR@K.
 * A (image, text) pair that is a candidate in both directions gets one fused
 * forward: eval mode is deterministic, so both directions would compute the
 * same logit.
 *
 * In a job of several ranks (core/comm.h) every rank calls these together:
 * each computes its share of whole batches (the batches one process would
 * form, so the values are the same bits) and the rows are gathered, so every
 * rank returns the complete result.
 *
 * Memory: the functions that run the model reset the activation arena
 * (autograd_step_end) after every batch, so the caller must not hold arena
 * tensors across a call. The model's mode is eval during the call and is
 * restored afterwards. */
#ifndef EVAL_RETRIEVAL_EVAL_H
#define EVAL_RETRIEVAL_EVAL_H

#include <stdint.h>

#include "data/retrieval_set.h"
#include "eval/recall.h"
#include "models/albef.h"

typedef enum {
    RETRIEVAL_SCORE_ITM_PLUS_ITC = 0, /* LAVIS and original BLIP: itm_logit[:, 1] + C[i, j] */
    RETRIEVAL_SCORE_ITM_ONLY = 1,     /* original ALBEF: itm_logit[:, 1] alone */
} RetrievalScoreMode;

typedef struct {
    int k_test;      /* candidates per query reranked by ITM (Flickr30K: 128), clamped to n */
    int image_batch; /* images per ViT forward */
    int text_batch;  /* texts per text-encoder forward */
    int pair_batch;  /* (image, text) pairs per fused forward */
    RetrievalScoreMode score_mode;
    int progress;    /* draw progress bars on stderr */
    int keep_itc;    /* return the ITC matrix in the result */
    int keep_scores; /* return the i2t / t2i score matrices in the result */
} RetrievalEvalOptions;

/* k_test 128, batches 32 / 128 / 64, LAVIS scoring, progress on, nothing kept. */
RetrievalEvalOptions retrieval_eval_defaults(void);

/* Everything the rerank needs from one embedding pass (host memory). */
typedef struct {
    int64_t n_images, n_texts;
    int image_len, vision_width; /* Nv, Dv */
    int text_len, text_width;    /* L, D */
    int embed_dim;               /* E */
    float *image_tokens;         /* [n_images, Nv, Dv], NULL when not kept */
    float *image_feat;           /* [n_images, E], unit rows */
    float *text_tokens;          /* [n_texts, L, D] text-mode states, NULL when not kept */
    int32_t *text_mask;          /* [n_texts, L] 1 real, 0 padding, NULL when not kept */
    float *text_feat;            /* [n_texts, E], unit rows */
} RetrievalEmbeddings;

/* Model input of image `index`: 3·S·S floats (CHW) for the config's image size. */
typedef int (*RetrievalPixelsFn)(void *ctx, int64_t index, float *out_chw);

/* Embeds n images (pixels from the callback, called from several threads) in
 * batches; fills n_images, image_feat and, with keep_tokens, image_tokens.
 * 0, or -1 with the callback's error. */
int retrieval_eval_embed_images(Albef *m, int64_t n, RetrievalPixelsFn pixels, void *ctx, int batch,
                                int keep_tokens, int progress, RetrievalEmbeddings *e);
/* Embeds n tokenised texts (ids, mask01: [n, L] i32) in batches; fills n_texts,
 * text_feat and, with keep_tokens, text_tokens and text_mask. */
void retrieval_eval_embed_texts(Albef *m, int64_t n, const int32_t *ids, const int32_t *mask01, int L, int batch,
                                int keep_tokens, int progress, RetrievalEmbeddings *e);
/* Both passes over a retrieval split with the eval transform (tokens kept). */
int retrieval_eval_embed_set(Albef *m, const RetrievalSet *s, const RetrievalEvalOptions *o, RetrievalEmbeddings *e);
void retrieval_embeddings_free(RetrievalEmbeddings *e);

/* Fused [CLS] states and ITM logits of n pairs (image img[p], text txt[p]) of
 * an embedding pass that kept its tokens, `batch` pairs per forward.
 * cls_out [n, D] and itm_out [n, 2] may each be NULL. */
void retrieval_eval_fused_pairs(Albef *m, const RetrievalEmbeddings *e, int64_t n, const int64_t *img,
                                const int64_t *txt, int batch, int progress, float *cls_out, float *itm_out);

/* C[i, t] = <image_feat[i], text_feat[t]>: [n_images, n_texts]. */
void retrieval_eval_itc_matrix(const RetrievalEmbeddings *e, float *C);

/* Scores the ITM "match" logit of n pairs into out[n]. */
typedef void (*RetrievalItmFn)(void *ctx, int64_t n, const int64_t *img, const int64_t *txt, float *out);

/* Steps 3-4 of §4.1 on a given ITC matrix C [n_images, n_texts]: fills
 * i2t [n_images, n_texts] and t2i [n_texts, n_images] with -100 except for each
 * query's top-k candidates by C (ties: lower index first), which get
 * itm(pair) (+ C). Every distinct candidate pair is scored once, through one
 * call of `itm`. Returns the number of distinct pairs scored. */
int64_t retrieval_eval_rerank(const float *C, int64_t n_images, int64_t n_texts, int k_test,
                              RetrievalScoreMode mode, RetrievalItmFn itm, void *ctx, float *i2t, float *t2i);

typedef struct {
    RetrievalRecall recall;
    int64_t n_images, n_texts;
    int k_i2t, k_t2i;     /* k_test clamped to n_texts and n_images */
    int64_t n_itm_pairs;  /* distinct pairs run through the fusion encoder */
    double embed_seconds, rerank_seconds, seconds;
    float *itc;           /* [n_images, n_texts] when keep_itc, else NULL */
    float *i2t, *t2i;     /* when keep_scores, else NULL */
} RetrievalEvalResult;

/* The whole protocol on a retrieval split. 0; -1 with error_set (an image
 * that cannot be read); or RETRIEVAL_EVAL_NONFINITE with error_set for a
 * non-finite ITC or ITM score, naming the image and caption: no recall is
 * computed over it (a diverged model, told apart from a failure). */
#define RETRIEVAL_EVAL_NONFINITE (-2)
int retrieval_eval_run(Albef *m, const RetrievalSet *s, const RetrievalEvalOptions *o, RetrievalEvalResult *out);
void retrieval_eval_result_free(RetrievalEvalResult *r);

#endif
