/* Membership-inference attack and the MI ratio (spec/unlearning_methods.md §6.3).
 *
 * A black-box attacker sees one feature vector φ per pair, computed from the
 * model's output distribution p: the entropy H(p) (Golatkar, the default) or p
 * itself (GNNDelete style). It is an RBF C-SVM (libsvm, the library
 * scikit-learn's SVC wraps) with C = 3, γ = 1/dim(φ), tolerance 1e-3, no class
 * weights, and Platt-scaled probabilities (libsvm's probability = 1: a sigmoid
 * fitted on 5-fold cross-validated decision values, as SVC(probability=True)).
 *
 * It is trained once, on the ORIGINAL model's outputs: non-members = the
 * validation pairs, members = an equally sized uniform subset of Dr (§6.3
 * port specification 2, [G]), then applied unchanged to the Df outputs of the
 * original and of the unlearned model. The ratio is prior/post,
 * P_before / P_after: higher = more forgetting (§6.3 "Direction of the ratio").
 *
 * Determinism: libsvm draws its cross-validation folds with the C library's
 * rand(), so mi_attacker_train calls srand() with a Philox hash of opt->seed
 * right before svm_train;
 * the same inputs and seed give the same attacker. rand() is process-global:
 * do not train attackers from several threads at once, and note that training
 * resets the sequence of any other rand() user. The member subset of Dr is
 * drawn with Philox (core/rng.h). */
#ifndef EVAL_MI_ATTACK_H
#define EVAL_MI_ATTACK_H

#include <stdint.h>

typedef enum {
    MI_FEATURE_ENTROPY = 0, /* φ = H(p), 1-D (Golatkar; §6.3 default) */
    MI_FEATURE_PROBS = 1,   /* φ = p, K-D (GNNDelete style) */
} MiFeature;

typedef struct {
    double C;        /* 3 (§6.3 item 3) */
    double gamma;    /* <= 0 means 1/dim (sklearn's gamma='auto') */
    double tol;      /* libsvm eps: 1e-3 */
    double cache_mb; /* kernel cache: 200 MB, sklearn's default */
    uint64_t seed;   /* srand() seed for libsvm's CV folds; Philox seed for the Dr subset */
} MiOptions;

MiOptions mi_options_default(void);

typedef struct MiAttacker MiAttacker;

/* H(p) = −Σ p_k log p_k in double, with 0·log 0 = 0. Entries ≤ 0 count as 0
 * (a softmax never gives a negative entry). */
double mi_entropy(const float *p, int k);

/* Features of n output distributions `probs` (n × k, row-major) into `out`:
 * n × 1 for MI_FEATURE_ENTROPY, n × k for MI_FEATURE_PROBS. Returns the
 * feature dimension. */
int mi_features(const float *probs, int64_t n, int k, MiFeature kind, double *out);

/* Trains the attacker: members are label 1, non-members label 0. Features are
 * row-major n × dim doubles. NULL with error_set("mi_attack: <item>: <reason>")
 * for an empty class, dim < 1, a non-finite feature, or libsvm refusing the
 * parameters. `opt` may be NULL (defaults). */
MiAttacker *mi_attacker_train(const double *member_feats, int64_t n_member, const double *nonmember_feats,
                              int64_t n_nonmember, int dim, const MiOptions *opt);

/* §6.3 item 2: members = a uniform random subset of the Dr features of the
 * same size as the validation set (all of Dr when it is smaller), drawn with
 * Philox from opt->seed; non-members = all validation features. */
MiAttacker *mi_attacker_train_balanced(const double *dr_feats, int64_t n_dr, const double *val_feats,
                                       int64_t n_val, int dim, const MiOptions *opt);

int mi_attacker_dim(const MiAttacker *a);
/* The fitted Platt sigmoid, oriented for members: σ_m(f) = 1 / (1 + exp(A·f + B))
 * with f the decision value (> 0 = member). mi_attacker_predict_proba returns
 * what libsvm's svm_predict_probability returns (as sklearn's predict_proba
 * does): the sigmoid clipped to [1e-7, 1 − 1e-7] and passed through libsvm's
 * pairwise-coupling iteration, which stops at a tolerance of 0.005/2 and so
 * may differ from σ_m(f) by a few 1e-3. */
void mi_attacker_platt(const MiAttacker *a, double *A, double *B);
/* Number of support vectors. */
int mi_attacker_n_support(const MiAttacker *a);

/* Decision values, > 0 = member (the sign convention of sklearn's
 * decision_function with classes [0, 1]). */
void mi_attacker_decision(const MiAttacker *a, const double *feats, int64_t n, double *out);
/* Platt probabilities P(member), as svm_predict_probability gives them. */
void mi_attacker_predict_proba(const MiAttacker *a, const double *feats, int64_t n, double *out);
/* Hard labels (1 = member) from the sign of the decision value. */
void mi_attacker_predict_label(const MiAttacker *a, const double *feats, int64_t n, int *out);

void mi_attacker_free(MiAttacker *a);

/* The attacker's power: the AUC of its decision values with held-out members
 * (label 1) against held-out non-members (label 0), pairs it was not trained
 * on. 0.5 is chance: its P(member) then says nothing about membership, and
 * neither does a ratio of two such probabilities. NaN when a side is empty. */
double mi_attacker_auc(const MiAttacker *a, const double *member_feats, int64_t n_member,
                       const double *nonmember_feats, int64_t n_nonmember);

/* The existence probability of §6.3 item 4: the mean P(member) over n samples. */
double mi_existence_probability(const MiAttacker *a, const double *feats, int64_t n);

/* Everything §6.3 items 4 and 5 ask to log. Since which aggregation the paper
 * used is unknown (§9), both the ratio of means and the mean of ratios. */
typedef struct {
    double p_before, p_after;   /* mean P(member) over Df, original / unlearned model */
    double ratio;               /* p_before / p_after: > 1 = Df looks less like members */
    double per_sample_ratio;    /* mean over Df of P_before(x) / P_after(x) */
    double hard_before, hard_after; /* fraction of Df labelled member (Golatkar's "attack prob") */
    double control_p_before, control_p_after; /* the same on the Dr control sample */
    double control_ratio;       /* control_p_before / control_p_after (NaN without a control) */
} MiReport;

/* Fills `out` from the features of the same n_df Df pairs under the original
 * and the unlearned model, and of n_ctrl Dr control pairs under both (n_ctrl
 * may be 0; then the control fields are NaN). -1 with error_set when n_df < 1
 * or a feature is not finite. */
int mi_report_compute(const MiAttacker *a, const double *df_before, const double *df_after, int64_t n_df,
                      const double *ctrl_before, const double *ctrl_after, int64_t n_ctrl, MiReport *out);

#endif
