#include "eval/mi_attack.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libsvm/svm.h>

#include "core/error.h"
#include "core/rng.h"
#include "eval/auc.h"

/* Philox stream of the Dr member subset (any fixed constant; "MI"). */
#define MI_RNG_STREAM 0x4d49u
/* Philox stream of the seed handed to srand() for libsvm. */
#define MI_RNG_STREAM_SRAND 0x4d4953u

struct MiAttacker {
    struct svm_model *model;
    /* libsvm's model points into the training nodes (its SVs are not copied
     * when free_sv = 0), so they live as long as the model. */
    struct svm_node *nodes;
    int dim;
    /* +1 when libsvm's first class is the member class, −1 otherwise: libsvm's
     * decision value is positive for its first class. */
    double sign;
    int member_slot; /* index of the member class in libsvm's probability output */
};

MiOptions mi_options_default(void) {
    return (MiOptions){.C = 3.0, .gamma = 0.0, .tol = 1e-3, .cache_mb = 200.0, .seed = 0};
}

double mi_entropy(const float *p, int k) {
    double h = 0.0;
    for (int j = 0; j < k; j++) {
        double v = (double)p[j];
        if (v > 0.0) h -= v * log(v); /* 0·log 0 = 0 (Golatkar's convention, §6.3) */
    }
    return h;
}

int mi_features(const float *probs, int64_t n, int k, MiFeature kind, double *out) {
    CHECK(k >= 1, "k = %d", k);
    if (kind == MI_FEATURE_ENTROPY) {
        for (int64_t i = 0; i < n; i++) out[i] = mi_entropy(probs + i * k, k);
        return 1;
    }
    CHECK(kind == MI_FEATURE_PROBS, "unknown MiFeature %d", (int)kind);
    for (int64_t i = 0; i < n * k; i++) out[i] = (double)probs[i];
    return k;
}

static void silent_print(const char *s) { (void)s; }

/* Dense row -> libsvm's sparse row. Zeros are kept explicitly: the RBF kernel
 * only needs matching indices, and a fixed layout keeps the code simple. */
static void fill_row(struct svm_node *dst, const double *row, int dim) {
    for (int j = 0; j < dim; j++) dst[j] = (struct svm_node){j + 1, row[j]};
    dst[dim] = (struct svm_node){-1, 0.0};
}

static int check_finite(const double *x, int64_t n, int dim, const char *what) {
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < dim; j++)
            if (!isfinite(x[i * dim + j]))
                return error_set("mi_attack: %s: row %lld, feature %d is not finite", what, (long long)i, j);
    return 0;
}

MiAttacker *mi_attacker_train(const double *member_feats, int64_t n_member, const double *nonmember_feats,
                              int64_t n_nonmember, int dim, const MiOptions *opt) {
    MiOptions o = opt ? *opt : mi_options_default();
    if (dim < 1) return error_set("mi_attack: features: dimension %d < 1", dim), NULL;
    if (n_member < 1) return error_set("mi_attack: member features: none given"), NULL;
    if (n_nonmember < 1) return error_set("mi_attack: non-member features: none given"), NULL;
    if (n_member + n_nonmember > INT_MAX / (dim + 1))
        return error_set("mi_attack: features: %lld rows of %d exceed libsvm's int sizes",
                         (long long)(n_member + n_nonmember), dim),
               NULL;
    if (check_finite(member_feats, n_member, dim, "member features") < 0 ||
        check_finite(nonmember_feats, n_nonmember, dim, "non-member features") < 0)
        return NULL;

    int l = (int)(n_member + n_nonmember);
    MiAttacker *a = calloc(1, sizeof *a);
    struct svm_node **rows = malloc((size_t)l * sizeof *rows);
    double *y = malloc((size_t)l * sizeof *y);
    CHECK(a && rows && y, "out of memory");
    a->nodes = malloc((size_t)l * (size_t)(dim + 1) * sizeof *a->nodes);
    CHECK(a->nodes, "out of memory");
    a->dim = dim;
    /* Non-members first (label 0), then members (label 1): libsvm orders the
     * classes by first appearance, so this is the order sklearn's libsvm uses
     * (labels sorted) and the SMO solver walks the same path as
     * SVC(...).fit(X, y) with the same rows. */
    for (int i = 0; i < l; i++) {
        int member = i >= n_nonmember;
        const double *src = member ? member_feats + (int64_t)(i - n_nonmember) * dim : nonmember_feats + (int64_t)i * dim;
        rows[i] = a->nodes + (size_t)i * (size_t)(dim + 1);
        fill_row(rows[i], src, dim);
        y[i] = member ? 1.0 : 0.0;
    }
    struct svm_problem prob = {.l = l, .y = y, .x = rows};
    struct svm_parameter param = {
        .svm_type = C_SVC,
        .kernel_type = RBF,
        .degree = 3,
        .gamma = o.gamma > 0 ? o.gamma : 1.0 / dim, /* §6.3 item 3: γ = 1/dim(φ) */
        .coef0 = 0.0,
        .cache_size = o.cache_mb,
        .eps = o.tol,
        .C = o.C,
        .nr_weight = 0, /* no class weights (§6.3) */
        .weight_label = NULL,
        .weight = NULL,
        .nu = 0.5,
        .p = 0.1,
        .shrinking = 1,   /* libsvm's and sklearn's default */
        .probability = 1, /* Platt scaling on 5-fold CV decision values (§6.3 item 3) */
    };
    const char *bad = svm_check_parameter(&prob, &param);
    if (bad) {
        error_set("mi_attack: libsvm parameters: %s", bad);
        free(rows), free(y), free(a->nodes), free(a);
        return NULL;
    }
    svm_set_print_string_function(silent_print);
    /* libsvm shuffles the CV folds of the Platt fit with rand(). The rand()
     * seed is a Philox hash of opt->seed: all 64 bits count, and glibc's
     * srand(0) == srand(1) does not make seeds 0 and 1 collide. */
    srand((unsigned)philox_u32(o.seed, MI_RNG_STREAM_SRAND, 0));
    a->model = svm_train(&prob, &param);
    /* svm_train copies the labels and its own array of row pointers; model->SV
     * points at rows of a->nodes, which is why those stay allocated. */
    free(rows);
    free(y);
    CHECK(a->model && svm_check_probability_model(a->model), "libsvm returned no probability model");
    int labels[2];
    svm_get_labels(a->model, labels);
    a->member_slot = labels[0] == 1 ? 0 : 1;
    a->sign = labels[0] == 1 ? 1.0 : -1.0;
    return a;
}

MiAttacker *mi_attacker_train_balanced(const double *dr_feats, int64_t n_dr, const double *val_feats,
                                       int64_t n_val, int dim, const MiOptions *opt) {
    MiOptions o = opt ? *opt : mi_options_default();
    if (n_dr < 1) return error_set("mi_attack: Dr features: none given"), NULL;
    if (dim < 1) return error_set("mi_attack: features: dimension %d < 1", dim), NULL;
    int64_t n_take = n_val < n_dr ? n_val : n_dr;
    int64_t *idx = malloc((size_t)n_dr * sizeof *idx);
    double *members = malloc((size_t)(n_take > 0 ? n_take : 1) * (size_t)dim * sizeof *members);
    CHECK(idx && members, "out of memory");
    for (int64_t i = 0; i < n_dr; i++) idx[i] = i;
    /* Partial Fisher-Yates: the first n_take entries are a uniform subset. */
    Rng r = rng_make(o.seed, MI_RNG_STREAM);
    rng_sample_i64(&r, idx, n_dr, n_take);
    /* Keep Dr order inside the subset, so the data order does not depend on the shuffle. */
    for (int64_t i = 1; i < n_take; i++)
        for (int64_t j = i; j > 0 && idx[j - 1] > idx[j]; j--) {
            int64_t t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    for (int64_t i = 0; i < n_take; i++) memcpy(members + i * dim, dr_feats + idx[i] * dim, (size_t)dim * sizeof *members);
    MiAttacker *a = mi_attacker_train(members, n_take, val_feats, n_val, dim, &o);
    free(idx);
    free(members);
    return a;
}

int mi_attacker_dim(const MiAttacker *a) { return a->dim; }

int mi_attacker_n_support(const MiAttacker *a) { return svm_get_nr_sv(a->model); }

void mi_attacker_platt(const MiAttacker *a, double *A, double *B) {
    /* libsvm: P(first class | d) = 1 / (1 + exp(probA·d + probB)). With members
     * second, f = −d and P(member) = 1 / (1 + exp(probA·f − probB)). */
    *A = a->model->probA[0];
    *B = a->sign > 0 ? a->model->probB[0] : -a->model->probB[0];
}

void mi_attacker_decision(const MiAttacker *a, const double *feats, int64_t n, double *out) {
    struct svm_node *row = malloc((size_t)(a->dim + 1) * sizeof *row);
    CHECK(row, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double dec;
        fill_row(row, feats + i * a->dim, a->dim);
        svm_predict_values(a->model, row, &dec);
        out[i] = a->sign * dec;
    }
    free(row);
}

double mi_attacker_auc(const MiAttacker *a, const double *member_feats, int64_t n_member,
                       const double *nonmember_feats, int64_t n_nonmember) {
    int64_t n = n_member + n_nonmember;
    if (n_member < 1 || n_nonmember < 1) return NAN;
    double *dec = malloc((size_t)n * sizeof *dec);
    int *labels = malloc((size_t)n * sizeof *labels);
    CHECK(dec && labels, "out of memory");
    mi_attacker_decision(a, member_feats, n_member, dec);
    mi_attacker_decision(a, nonmember_feats, n_nonmember, dec + n_member);
    for (int64_t i = 0; i < n; i++) labels[i] = i < n_member;
    double auc = auc_mann_whitney(dec, labels, n);
    free(dec);
    free(labels);
    return auc;
}

void mi_attacker_predict_proba(const MiAttacker *a, const double *feats, int64_t n, double *out) {
    struct svm_node *row = malloc((size_t)(a->dim + 1) * sizeof *row);
    CHECK(row, "out of memory");
    for (int64_t i = 0; i < n; i++) {
        double p[2];
        fill_row(row, feats + i * a->dim, a->dim);
        svm_predict_probability(a->model, row, p);
        out[i] = p[a->member_slot];
    }
    free(row);
}

void mi_attacker_predict_label(const MiAttacker *a, const double *feats, int64_t n, int *out) {
    double *dec = malloc((size_t)(n > 0 ? n : 1) * sizeof *dec);
    CHECK(dec, "out of memory");
    mi_attacker_decision(a, feats, n, dec);
    /* libsvm's svm_predict gives its first class on d > 0, else the second:
     * with members second that is member iff f = −d ≥ 0. */
    for (int64_t i = 0; i < n; i++) out[i] = a->sign > 0 ? dec[i] > 0 : dec[i] >= 0;
    free(dec);
}

void mi_attacker_free(MiAttacker *a) {
    if (!a) return;
    svm_free_and_destroy_model(&a->model);
    free(a->nodes);
    free(a);
}

double mi_existence_probability(const MiAttacker *a, const double *feats, int64_t n) {
    if (n < 1) return NAN;
    double *p = malloc((size_t)n * sizeof *p);
    CHECK(p, "out of memory");
    mi_attacker_predict_proba(a, feats, n, p);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += p[i];
    free(p);
    return s / (double)n;
}

/* Per-sample P(member) into p_out, and the mean P(member) and member fraction. */
static void summarise(const MiAttacker *a, const double *feats, int64_t n, double *p_out, double *mean_p,
                      double *mean_hard) {
    int *lab = malloc((size_t)n * sizeof *lab);
    CHECK(lab, "out of memory");
    mi_attacker_predict_proba(a, feats, n, p_out);
    mi_attacker_predict_label(a, feats, n, lab);
    double sp = 0.0, sh = 0.0;
    for (int64_t i = 0; i < n; i++) {
        sp += p_out[i];
        sh += lab[i];
    }
    free(lab);
    *mean_p = sp / (double)n;
    *mean_hard = sh / (double)n;
}

int mi_report_compute(const MiAttacker *a, const double *df_before, const double *df_after, int64_t n_df,
                      const double *ctrl_before, const double *ctrl_after, int64_t n_ctrl, MiReport *out) {
    if (n_df < 1) return error_set("mi_attack: Df features: none given");
    if (check_finite(df_before, n_df, a->dim, "Df features (original model)") < 0 ||
        check_finite(df_after, n_df, a->dim, "Df features (unlearned model)") < 0)
        return -1;
    if (n_ctrl > 0 && (check_finite(ctrl_before, n_ctrl, a->dim, "Dr control features (original model)") < 0 ||
                       check_finite(ctrl_after, n_ctrl, a->dim, "Dr control features (unlearned model)") < 0))
        return -1;
    int64_t n_max = n_df > n_ctrl ? n_df : n_ctrl;
    double *pb = malloc((size_t)n_max * sizeof *pb), *pa = malloc((size_t)n_max * sizeof *pa);
    CHECK(pb && pa, "out of memory");
    MiReport r;
    summarise(a, df_before, n_df, pb, &r.p_before, &r.hard_before);
    summarise(a, df_after, n_df, pa, &r.p_after, &r.hard_after);
    /* §6.3 "Direction of the ratio": prior / post, higher = more forgetting. */
    r.ratio = r.p_before / r.p_after;
    /* §6.3 item 4: GNNDelete's per-sample mean, inverted to prior/post. libsvm
     * clips P to ≥ 1e-7, so no term divides by zero, but one sample pushed to
     * the floor can dominate this mean; that is why both are logged. */
    double s = 0.0;
    for (int64_t i = 0; i < n_df; i++) s += pb[i] / pa[i];
    r.per_sample_ratio = s / (double)n_df;
    if (n_ctrl > 0) {
        double hb, ha;
        summarise(a, ctrl_before, n_ctrl, pb, &r.control_p_before, &hb);
        summarise(a, ctrl_after, n_ctrl, pa, &r.control_p_after, &ha);
        r.control_ratio = r.control_p_before / r.control_p_after;
    } else {
        r.control_p_before = r.control_p_after = r.control_ratio = NAN;
    }
    free(pb);
    free(pa);
    *out = r;
    return 0;
}
