/* Df for retrieval: how distinguishable the deleted pairs still are
 * (spec/unlearning_methods.md §6.2; DESIGN.md "Metrics").
 *
 * Each training pair is scored by its OWN image and caption:
 *   score = sigmoid(cos(v_img, t_caption)) from the normalised ITC features,
 * eval transform, eval mode. This is the intended semantics of §6.2, not the
 * released code's defects: (i) last-minibatch embeddings, (ii) the diagonal
 * of V Tᵀ that pairs image i with text i, (iii) the first 5·|Df| Dr rows in
 * annotation order instead of random subsets (data/deletion.h draws those).
 *
 *   AUC_code     = mean over the 5 Dr subsets of AUC(Df label 0, Dr_c label 1)
 *   Df_reported  = 100·(1 − AUC_code): Df as the positive class, as the paper's
 *                  tables print it; 50 = indistinguishable, lower = forgotten
 *   Df vs unseen = the same AUC between Df pairs (label 0) and a seeded random
 *                  sample of |Df| test pairs (label 1; all of them when fewer),
 *                  reported in the same convention: 50 is ideal (a deleted pair
 *                  looks like one never seen), far below 50 is over-forgetting.
 *   Dr vs unseen = the same AUC with the Dr subsets' pairs in place of Df: how
 *                  far the model fits the pairs it still trains on beyond
 *                  unseen ones. Above 50 on the original is memorisation of
 *                  the training pairs in general; Df vs unseen alone can be a
 *                  lucky draw of Df.
 *
 * The same three AUCs are also computed on a second score per pair, the ITM
 * match probability softmax(ITM logits)[1] (eval/pair_outputs.h): what the
 * fusion module decides about the pair, and what the final ITM rerank of
 * retrieval uses. The ITC score cannot see a change confined to the fusion
 * layers (the -F variants freeze the ITC path), the ITM score can. */
#ifndef EVAL_FORGET_METRICS_H
#define EVAL_FORGET_METRICS_H

#include <stdint.h>

#include "data/deletion.h"
#include "data/retrieval_set.h"
#include "models/albef.h"

#define FORGET_MAX_SUBSETS 8

typedef struct {
    int64_t n_df;
    int n_subsets;
    int64_t *df_pairs;       /* [n_df] training-pair indices */
    double *df_scores;       /* [n_df] */
    int64_t *dr_pairs;       /* [n_subsets · n_df]: subset c is rows c·n_df .. */
    double *dr_scores;       /* [n_subsets · n_df] */
    int64_t n_unseen;
    int64_t *unseen_pairs;   /* [n_unseen] test-pair (text) indices */
    double *unseen_scores;   /* [n_unseen] */
    double auc_chunks[FORGET_MAX_SUBSETS]; /* AUC(Df 0, Dr_c 1) per subset */
    double auc_code;         /* their mean (§6.2 step 3) */
    double df_reported;      /* 100·(1 − auc_code) */
    double auc_unseen;       /* AUC(Df 0, unseen 1); NaN without unseen pairs */
    double df_vs_unseen;     /* 100·(1 − auc_unseen) */
    double dr_vs_unseen;     /* 100·(1 − AUC(Dr subsets 0, unseen 1)); NaN without unseen pairs */
    /* The same on the ITM match probability (scores in [0, 1]) */
    double *itm_df_scores, *itm_dr_scores, *itm_unseen_scores;
    double itm_df_reported, itm_df_vs_unseen, itm_dr_vs_unseen;
    double seconds;          /* wall-clock of the scoring */
} ForgetMetrics;

/* sigmoid(cos(v, t)) of n pairs: pair p is (image txt2img[pairs[p]], caption
 * pairs[p]) of the split; each distinct image is embedded once. 0, or -1
 * with error_set (an unreadable image). */
int forget_pair_scores(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch, int progress,
                       double *scores);

/* The raw ITC cosines of n pairs: the mean of cos(image, own caption), and
 * the mean of cos(image of pair i, caption of pair j) over i != j, the
 * off-diagonal of the similarity matrix L_MD matches on Df (spec
 * unlearning_methods.md §5.2). NaN when not defined. 0, or -1 with error_set. */
int forget_pair_similarity(Albef *m, const RetrievalSet *s, const int64_t *pairs, int64_t n, int batch,
                           double *own_mean, double *off_mean);

/* min(n, n_pool) distinct indices of [0, n_pool), drawn with Philox under
 * `seed` (partial Fisher-Yates), returned ascending. Returns the count. */
int64_t forget_sample_unseen(int64_t n_pool, int64_t n, uint64_t seed, int64_t *out);

/* The ITC-score AUCs from scores already computed: df [n_df], dr
 * [n_subsets · n_df], unseen [n_unseen] (may be 0). Fills the ITC AUC fields only. */
void forget_metrics_from_scores(const double *df, int64_t n_df, const double *dr, int n_subsets,
                                const double *unseen, int64_t n_unseen, ForgetMetrics *out);

/* Everything: scores Df and the Dr subsets on the training split, a sample of
 * |Df| test pairs (`test` may be NULL: no unseen metric), by ITC and by ITM,
 * and the AUCs. 0, or -1 with error_set (a non-finite score names its set and pair). */
int forget_metrics_compute(Albef *m, const RetrievalSet *train, const DeletionEvalSets *sets, const RetrievalSet *test,
                           uint64_t seed, int batch, int progress, ForgetMetrics *out);
void forget_metrics_free(ForgetMetrics *f);

#endif
