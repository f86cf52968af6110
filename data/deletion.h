/* Deletion sets (spec/unlearning_methods.md §1).
 *
 * The unit of deletion is an image (retrieval, VE) or an image pair (NLVR2,
 * keyed by nlvr2_pair_key), or a PGR row key chosen by the caller: every
 * training pair carries one string key, and deleting a key removes every
 * training pair that uses it (§1.1). A deletion list is a text file of keys, one
 * per line; the first k ids are used, with surrounding whitespace stripped and
 * blank lines skipped without counting toward k (§1.2 item 5 counts them). Df = the training pairs whose key is
 * listed, Dr = the rest. For evaluation, Df is kept whole and 5 disjoint random
 * Dr subsets of |Df| pairs each are drawn (§1.3, §6.2; the released code
 * subsamples only for NLVR2, the port does it for every task, §1.3 [G]). */
#ifndef DATA_DELETION_H
#define DATA_DELETION_H

#include <stdint.h>

typedef struct {
    char *origin;  /* the list's path, for messages */
    char **ids;    /* the keys used, in file order */
    int64_t *line; /* 1-based line of each key */
    int64_t n;
} DeletionList;

/* Reads the first k ids of `path`. Errors (-1, error_set): missing file,
 * k < 1, a file with no ids (empty list), fewer than k ids ("k larger than the
 * list"), a key listed twice (both line numbers). */
int deletion_list_read(const char *path, int64_t k, DeletionList *out);
void deletion_list_free(DeletionList *l);

typedef struct {
    int64_t *df, n_df;  /* training-pair indices, ascending */
    int64_t *dr, n_dr;  /* the rest, ascending */
    int64_t n_units;    /* listed keys found among the training keys */
    int64_t n_unknown;  /* listed keys not found (only with allow_unknown) */
} DeletionSplit;

/* Splits training pairs (pair_keys[i] = the deletion key of pair i) by the
 * list. Listed keys that no training pair uses stop the split with their count
 * and the first few, unless allow_unknown (then they are counted in n_unknown).
 * An empty Df is an error. */
int deletion_split(const DeletionList *list, const char *const *pair_keys, int64_t n_pairs, int allow_unknown,
                   DeletionSplit *out);
void deletion_split_free(DeletionSplit *s);

#define DELETION_EVAL_SUBSETS 5

typedef struct {
    int64_t *df, n_df;   /* the Df pair indices */
    int n_subsets;
    int64_t *dr_subsets; /* [n_subsets][n_df]: disjoint, drawn without replacement from Dr */
} DeletionEvalSets;

/* Draws the evaluation copies with Philox under `seed`. Error when Dr holds
 * fewer than n_subsets * |Df| pairs. */
int deletion_eval_sets(const DeletionSplit *split, int n_subsets, uint64_t seed, DeletionEvalSets *out);
void deletion_eval_sets_free(DeletionEvalSets *e);

/* The unique keys of pair_keys: sorted (byte order) when `sorted`, else in
 * order of first appearance (NLVR2's unique(), §1.2 item 1). Returns the count;
 * *out is a malloc'ed array of pointers into pair_keys. */
int64_t deletion_unique_keys(const char *const *pair_keys, int64_t n_pairs, int sorted, const char ***out);

/* Writes k of the n ids, drawn without replacement, one per line (§1.2 item 2).
 * The draw is a partial Fisher-Yates shuffle driven by Philox (core/rng.h):
 * deterministic for a seed, but NOT NumPy's MT19937 stream, so it does not
 * reproduce the released Df files (§1.2 item 7); those can be read as lists.
 * Errors: n < 1, k < 1, k > n, a duplicate id in `ids`. Written atomically. */
int deletion_list_generate(const char *const *ids, int64_t n, int64_t k, uint64_t seed, const char *out_path);

#endif
