#include "data/deletion.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "data/deletion_keys.h"

/* Philox streams of this module, so its draws never coincide with others'. */
#define DELETION_STREAM_GENERATE 0xDE1E7E01ull
#define DELETION_STREAM_EVAL 0xDE1E7E02ull

void deletion_list_free(DeletionList *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
    free(l->line);
    free(l->origin);
    memset(l, 0, sizeof *l);
}

int deletion_list_read(const char *path, int64_t k, DeletionList *out) {
    memset(out, 0, sizeof *out);
    if (k < 1) return error_set("%s: deletion size k = %lld: must be at least 1", path, (long long)k);
    size_t size = 0;
    char *text = file_read_all(path, &size);
    if (!text) return -1;
    DeletionList l = {0};
    l.origin = strdup(path);
    l.ids = malloc((size_t)k * sizeof *l.ids);
    l.line = malloc((size_t)k * sizeof *l.line);
    CHECK(l.origin && l.ids && l.line, "out of memory");
    KeyIndex seen;
    keyindex_init(&seen);
    int rc = -1;
    int64_t lines = 0;
    char *p = text, *end = text + size;
    /* The first k ids: a line ends at '\n' (a last line without one counts);
     * blank lines are skipped without counting toward k, so --df-size is the
     * number of units deleted (the released code's readlines()[:k] counts
     * them, spec/unlearning_methods.md §1.2 item 5; its lists have none). */
    while (p < end && l.n < k) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *stop = nl ? nl : end;
        lines++;
        while (p < stop && isspace((unsigned char)*p)) p++;
        char *q = stop;
        while (q > p && isspace((unsigned char)q[-1])) q--;
        if (q > p) {
            *q = '\0';
            int added = 0;
            int64_t at = keyindex_add(&seen, p, &added);
            if (!added) {
                error_set("%s: line %lld: id \"%s\" is listed twice (first on line %lld)", path, (long long)lines, p,
                          (long long)l.line[at]);
                goto done;
            }
            l.ids[l.n] = strdup(p);
            l.line[l.n] = lines;
            l.n++;
        }
        p = nl ? nl + 1 : end;
    }
    if (l.n == 0) {
        error_set("%s: empty deletion list: no ids in its %lld lines", path, (long long)lines);
        goto done;
    }
    if (l.n < k) {
        error_set("%s: k = %lld is larger than the list, which has %lld ids", path, (long long)k, (long long)l.n);
        goto done;
    }
    *out = l;
    rc = 0;
done:
    if (rc < 0) deletion_list_free(&l);
    keyindex_free(&seen);
    free(text);
    return rc;
}

void deletion_split_free(DeletionSplit *s) {
    free(s->df);
    free(s->dr);
    memset(s, 0, sizeof *s);
}

int deletion_split(const DeletionList *list, const char *const *pair_keys, int64_t n_pairs, int allow_unknown,
                   DeletionSplit *out) {
    memset(out, 0, sizeof *out);
    KeyIndex listed;
    keyindex_init(&listed);
    for (int64_t i = 0; i < list->n; i++) keyindex_add(&listed, list->ids[i], NULL);
    char *used = calloc((size_t)list->n + 1, 1);
    DeletionSplit s = {0};
    s.df = malloc(((size_t)n_pairs + 1) * sizeof(int64_t));
    s.dr = malloc(((size_t)n_pairs + 1) * sizeof(int64_t));
    CHECK(used && s.df && s.dr, "out of memory");
    for (int64_t i = 0; i < n_pairs; i++) {
        int64_t at = keyindex_find(&listed, pair_keys[i]);
        if (at >= 0) {
            used[at] = 1;
            s.df[s.n_df++] = i;
        } else {
            s.dr[s.n_dr++] = i;
        }
    }
    int rc = -1;
    char first[512] = "";
    size_t len = 0;
    int shown = 0;
    for (int64_t i = 0; i < list->n; i++) {
        if (used[i]) {
            s.n_units++;
            continue;
        }
        s.n_unknown++;
        if (shown < 3 && len < sizeof first - 1) {
            len += (size_t)snprintf(first + len, sizeof first - len, "%s\"%s\" (line %lld)", shown ? ", " : "",
                                    list->ids[i], (long long)list->line[i]);
            if (len > sizeof first - 1) len = sizeof first - 1;
            shown++;
        }
    }
    if (s.n_unknown && !allow_unknown) {
        error_set("%s: %lld of %lld ids match no training pair, first: %s%s (allow skipping to ignore them)",
                  list->origin, (long long)s.n_unknown, (long long)list->n, first, s.n_unknown > shown ? ", ..." : "");
        goto done;
    }
    if (s.n_df == 0) {
        error_set("%s: Df is empty: none of the %lld listed ids matches a training pair", list->origin,
                  (long long)list->n);
        goto done;
    }
    *out = s;
    rc = 0;
done:
    if (rc < 0) deletion_split_free(&s);
    free(used);
    keyindex_free(&listed);
    return rc;
}

void deletion_eval_sets_free(DeletionEvalSets *e) {
    free(e->df);
    free(e->dr_subsets);
    memset(e, 0, sizeof *e);
}

int deletion_eval_sets(const DeletionSplit *split, int n_subsets, uint64_t seed, DeletionEvalSets *out) {
    memset(out, 0, sizeof *out);
    if (n_subsets < 1) return error_set("deletion evaluation sets: %d subsets requested, need at least 1", n_subsets);
    int64_t need = (int64_t)n_subsets * split->n_df;
    if (split->n_dr < need)
        return error_set("deletion evaluation sets: Dr has %lld pairs, fewer than %d x |Df| = %lld needed for %d "
                         "disjoint Dr subsets (spec/unlearning_methods.md §6.2)",
                         (long long)split->n_dr, n_subsets, (long long)need, n_subsets);
    out->n_df = split->n_df;
    out->n_subsets = n_subsets;
    out->df = malloc(((size_t)split->n_df + 1) * sizeof(int64_t));
    out->dr_subsets = malloc(((size_t)need + 1) * sizeof(int64_t));
    int64_t *pool = malloc(((size_t)split->n_dr + 1) * sizeof(int64_t));
    CHECK(out->df && out->dr_subsets && pool, "out of memory");
    memcpy(out->df, split->df, (size_t)split->n_df * sizeof(int64_t));
    memcpy(pool, split->dr, (size_t)split->n_dr * sizeof(int64_t));
    /* Partial Fisher-Yates: the first `need` slots are a uniform draw without
     * replacement; consecutive chunks of |Df| make the disjoint subsets. */
    Rng r = rng_make(seed, DELETION_STREAM_EVAL);
    for (int64_t i = 0; i < need; i++) {
        int64_t j = i + (int64_t)rng_below(&r, (uint64_t)(split->n_dr - i));
        int64_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
    memcpy(out->dr_subsets, pool, (size_t)need * sizeof(int64_t));
    free(pool);
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int64_t deletion_unique_keys(const char *const *pair_keys, int64_t n_pairs, int sorted, const char ***out) {
    KeyIndex ki;
    keyindex_init(&ki);
    const char **keys = malloc(((size_t)n_pairs + 1) * sizeof *keys);
    CHECK(keys, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < n_pairs; i++) {
        int added = 0;
        keyindex_add(&ki, pair_keys[i], &added);
        if (added) keys[n++] = pair_keys[i];
    }
    keyindex_free(&ki);
    if (sorted) qsort(keys, (size_t)n, sizeof *keys, cmp_str_ptr);
    *out = keys;
    return n;
}

int deletion_list_generate(const char *const *ids, int64_t n, int64_t k, uint64_t seed, const char *out_path) {
    if (n < 1) return error_set("%s: cannot draw a deletion list from an empty id list", out_path);
    if (k < 1 || k > n)
        return error_set("%s: cannot draw k = %lld ids from a list of %lld (need 1 <= k <= n)", out_path,
                         (long long)k, (long long)n);
    KeyIndex ki;
    keyindex_init(&ki);
    for (int64_t i = 0; i < n; i++) {
        int added = 0;
        int64_t at = keyindex_add(&ki, ids[i], &added);
        if (!added) {
            error_set("%s: id \"%s\" appears twice in the population (positions %lld and %lld)", out_path, ids[i],
                      (long long)at, (long long)i);
            keyindex_free(&ki);
            return -1;
        }
    }
    keyindex_free(&ki);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    CHECK(perm, "out of memory");
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    Rng r = rng_make(seed, DELETION_STREAM_GENERATE);
    rng_sample_i64(&r, perm, n, k);
    AtomicFile f;
    int rc = atomic_open(&f, out_path);
    if (rc == 0) {
        for (int64_t i = 0; i < k; i++) fprintf(f.fp, "%s\n", ids[perm[i]]);
        rc = atomic_commit(&f);
    }
    free(perm);
    return rc;
}
