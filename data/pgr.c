#include "data/pgr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"

#define PGR_MAX_COLS 16

/* Splits `line` in place at tabs; returns the number of fields (at most max). */
static int split_tabs(char *line, char **fields, int max) {
    int n = 0;
    fields[n++] = line;
    for (char *p = line; *p; p++) {
        if (*p != '\t') continue;
        *p = '\0';
        if (n == max) return max + 1; /* too many: the caller reports it */
        fields[n++] = p + 1;
    }
    return n;
}

/* Next line of a buffer, '\r\n' tolerated; NULL at the end. */
static char *next_line(char **cursor) {
    char *s = *cursor;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[n - 1] = '\0';
    return s;
}

int pgr_hpo_canonical(const char *id, char *out, size_t size) {
    if (strncmp(id, "HP", 2) != 0 || (id[2] != '_' && id[2] != ':') || !id[3]) return -1;
    for (const char *p = id + 3; *p; p++)
        if (!isdigit((unsigned char)*p)) return -1;
    if (strlen(id) + 1 > size) return -1;
    snprintf(out, size, "HP:%s", id + 3);
    return 0;
}

char *pgr_gene_node(const char *gene_id) {
    size_t n = strlen(gene_id) + 10;
    char *s = malloc(n);
    CHECK(s, "out of memory");
    snprintf(s, n, "NCBIGene:%s", gene_id);
    return s;
}

static int parse_offset(const char *s, int *out) {
    if (!*s) return -1;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > 100000000) return -1;
        v = 10 * v + (*p - '0');
    }
    *out = (int)v;
    return 0;
}

/* Unescapes &lt; &gt; &amp; into a new string; map[i] (when map is given, of
 * size strlen(raw)+1) receives the unescaped position of raw position i, so
 * offsets written against the escaped text carry over. */
static char *unescape(const char *raw, int *map) {
    size_t n = strlen(raw);
    char *out = malloc(n + 1);
    CHECK(out, "out of memory");
    size_t i = 0, k = 0;
    static const struct { const char *ent; char c; } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}};
    while (i < n) {
        int done = 0;
        for (int e = 0; e < 3 && !done; e++) {
            size_t len = strlen(ents[e].ent);
            if (strncmp(raw + i, ents[e].ent, len) == 0) {
                if (map)
                    for (size_t j = 0; j < len; j++) map[i + j] = (int)k;
                out[k++] = ents[e].c;
                i += len;
                done = 1;
            }
        }
        if (done) continue;
        if (map) map[i] = (int)k;
        out[k++] = raw[i++];
    }
    if (map) map[n] = (int)k;
    out[k] = '\0';
    return out;
}

/* Checks a mention's offsets against the raw sentence; repairs them by the
 * first occurrence of the mention when they do not match (§1.2: two real rows
 * point at the wrong text). Returns 0 exact, 1 repaired, 2 unresolved. */
static int locate(const char *raw, const char *mention, int *start, int *end) {
    int len = (int)strlen(raw), mlen = (int)strlen(mention);
    if (*start <= *end && *end <= len && *end - *start == mlen && strncmp(raw + *start, mention, (size_t)mlen) == 0)
        return 0;
    const char *hit = mlen ? strstr(raw, mention) : NULL;
    if (hit) {
        *start = (int)(hit - raw);
        *end = *start + mlen;
        return 1;
    }
    *start = *end = -1;
    return 2;
}

static void row_free(PgrRow *r) {
    free(r->pmid);
    free(r->sentence);
    free(r->gene);
    free(r->phenotype);
    free(r->gene_id);
    free(r->hpo_id);
}

void pgr_table_free(PgrTable *t) {
    for (int64_t i = 0; i < t->n; i++) row_free(&t->rows[i]);
    free(t->rows);
    memset(t, 0, sizeof *t);
}

static int parse_row(char **f, int nf, const char *path, long line, PgrTable *t, PgrRow *o) {
    static const char *names[] = {"FILE_ID", "SENTENCE", "GENE", "PHENOTYPE", "GENE_ID", "PHENOTYPE_ID"};
    for (int c = 0; c < 6; c++)
        if (!f[c][0]) return error_set("%s: line %ld: column %d (%s) is empty", path, line, c + 1, names[c]);
    for (const char *p = f[4]; *p; p++)
        if (!isdigit((unsigned char)*p))
            return error_set("%s: line %ld: GENE_ID \"%s\" is not an NCBI Gene number", path, line, f[4]);
    char hpo[64];
    if (pgr_hpo_canonical(f[5], hpo, sizeof hpo) < 0)
        return error_set("%s: line %ld: PHENOTYPE_ID \"%s\" is not an HPO id (HP_0000000 or HP:0000000)", path,
                         line, f[5]);
    int off[4];
    static const char *off_names[] = {"GENE_START_POSITION", "GENE_END_POSITION", "PHENOTYPE_START_POSITION",
                                      "PHENOTYPE_END_POSITION"};
    for (int c = 0; c < 4; c++)
        if (parse_offset(f[6 + c], &off[c]) < 0)
            return error_set("%s: line %ld: %s \"%s\" is not a non-negative integer", path, line, off_names[c],
                             f[6 + c]);
    int label;
    if (strcasecmp(f[10], "true") == 0) label = 1;
    else if (strcasecmp(f[10], "false") == 0) label = 0;
    else return error_set("%s: line %ld: unknown RELATION label \"%s\" (expected True or False)", path, line, f[10]);
    char confirmation = 0;
    if (nf == 12) {
        const char *c = f[11];
        if ((c[0] == 'C' || c[0] == 'I' || c[0] == 'U') && (c[1] == '\0' || c[1] == '('))
            confirmation = c[0];
        else
            return error_set("%s: line %ld: unknown CONFIRMATION \"%s\" (expected C, I or U)", path, line, c);
    }
    const char *raw = f[1];
    int repaired = 0;
    for (int m = 0; m < 2; m++) {
        int st = locate(raw, f[2 + m], &off[2 * m], &off[2 * m + 1]);
        if (st == 1) t->n_offsets_repaired++;
        if (st == 2) t->n_offsets_unresolved++;
        repaired |= st != 0;
    }
    if (repaired && !t->first_bad_row) t->first_bad_row = line;
    int *map = malloc((strlen(raw) + 1) * sizeof(int));
    CHECK(map, "out of memory");
    o->sentence = unescape(raw, map);
    for (int c = 0; c < 4; c++)
        if (off[c] >= 0) off[c] = map[off[c]];
    free(map);
    o->pmid = strdup(f[0]);
    o->gene = unescape(f[2], NULL);
    o->phenotype = unescape(f[3], NULL);
    o->gene_id = strdup(f[4]);
    o->hpo_id = strdup(hpo);
    o->gene_start = off[0];
    o->gene_end = off[1];
    o->phen_start = off[2];
    o->phen_end = off[3];
    o->label = label;
    o->confirmation = confirmation;
    return 0;
}

int pgr_read_tsv(const char *path, PgrTable *out) {
    memset(out, 0, sizeof *out);
    char *text = file_read_all(path, NULL);
    if (!text) return -1;
    PgrTable t = {0};
    int64_t cap = 0;
    int rc = -1;
    char *cursor = text, *line;
    long lineno = 0;
    int have_header = 0;
    while ((line = next_line(&cursor))) {
        lineno++;
        if (!line[0]) continue;
        if (!have_header) { /* §1.2: one header line */
            if (strncmp(line, "FILE_ID\t", 8) != 0) {
                error_set("%s: line %ld: expected the header line starting with FILE_ID<TAB>SENTENCE", path, lineno);
                goto done;
            }
            have_header = 1;
            continue;
        }
        char *f[PGR_MAX_COLS];
        int nf = split_tabs(line, f, PGR_MAX_COLS);
        if (nf != 11 && nf != 12) {
            error_set("%s: line %ld: %s%d columns, expected 11 (train) or 12 (test, with CONFIRMATION)", path, lineno,
                      nf > PGR_MAX_COLS ? "more than " : "", nf > PGR_MAX_COLS ? PGR_MAX_COLS : nf);
            goto done;
        }
        if (t.n == cap) {
            cap = cap ? 2 * cap : 256;
            t.rows = realloc(t.rows, (size_t)cap * sizeof *t.rows);
            CHECK(t.rows, "out of memory");
        }
        memset(&t.rows[t.n], 0, sizeof t.rows[t.n]);
        if (parse_row(f, nf, path, lineno, &t, &t.rows[t.n]) < 0) {
            row_free(&t.rows[t.n]);
            goto done;
        }
        t.n++;
    }
    if (!have_header) {
        error_set("%s: empty file: expected a PGR TSV with a header line", path);
        goto done;
    }
    if (t.n == 0) {
        error_set("%s: empty: no data rows after the header", path);
        goto done;
    }
    *out = t;
    rc = 0;
done:
    if (rc < 0) pgr_table_free(&t);
    free(text);
    return rc;
}

void pgr_edges_free(PgrEdgeList *e) {
    for (int64_t i = 0; i < e->n; i++) {
        free(e->src[i]);
        free(e->dst[i]);
        free(e->type[i]);
    }
    free(e->src);
    free(e->dst);
    free(e->type);
    memset(e, 0, sizeof *e);
}

/* Typed id "<PREFIX>:<local>"; HP_ is rewritten to HP:. Malloc'ed or NULL. */
static char *canonical_node(const char *id) {
    char hpo[256];
    if (strlen(id) < sizeof hpo && pgr_hpo_canonical(id, hpo, sizeof hpo) == 0) return strdup(hpo);
    const char *colon = strchr(id, ':');
    if (!colon || colon == id || !colon[1]) return NULL;
    return strdup(id);
}

#include "data/deletion_keys.h"

int pgr_read_edges(const char *path, PgrEdgeList *out) {
    memset(out, 0, sizeof *out);
    char *text = file_read_all(path, NULL);
    if (!text) return -1;
    PgrEdgeList e = {0};
    int64_t cap = 0;
    KeyIndex seen; /* undirected edge "a\tb\ttype" with a < b */
    keyindex_init(&seen);
    int rc = -1, any_line = 0;
    char *cursor = text, *line;
    long lineno = 0;
    while ((line = next_line(&cursor))) {
        lineno++;
        if (line[0]) any_line = 1;
        if (!line[0] || line[0] == '#') continue;
        char *f[4];
        int nf = split_tabs(line, f, 3);
        if (nf < 2 || nf > 3) {
            error_set("%s: line %ld: %d columns, expected src<TAB>dst[<TAB>type]", path, lineno, nf > 3 ? 4 : nf);
            goto done;
        }
        char *a = canonical_node(f[0]), *b = canonical_node(f[1]);
        if (!a || !b) {
            error_set("%s: line %ld: id \"%s\" has no type prefix (e.g. NCBIGene:4830, HP:0002664)", path, lineno,
                      a ? f[1] : f[0]);
            free(a);
            free(b);
            goto done;
        }
        if (strcmp(a, b) == 0) {
            error_set("%s: line %ld: self-loop on \"%s\"", path, lineno, a);
            free(a);
            free(b);
            goto done;
        }
        const char *type = nf == 3 ? f[2] : "";
        size_t kn = strlen(a) + strlen(b) + strlen(type) + 3;
        char *key = malloc(kn);
        CHECK(key, "out of memory");
        int ab = strcmp(a, b) < 0;
        snprintf(key, kn, "%s\t%s\t%s", ab ? a : b, ab ? b : a, type);
        int added = 0;
        keyindex_add(&seen, key, &added);
        free(key);
        if (!added) {
            e.n_duplicates++;
            free(a);
            free(b);
            continue;
        }
        if (e.n == cap) {
            cap = cap ? 2 * cap : 256;
            e.src = realloc(e.src, (size_t)cap * sizeof(char *));
            e.dst = realloc(e.dst, (size_t)cap * sizeof(char *));
            e.type = realloc(e.type, (size_t)cap * sizeof(char *));
            CHECK(e.src && e.dst && e.type, "out of memory");
        }
        e.src[e.n] = a;
        e.dst[e.n] = b;
        e.type[e.n] = strdup(type);
        e.n++;
    }
    if (!any_line) {
        error_set("%s: empty file: expected an edge list src<TAB>dst[<TAB>type]", path);
        goto done;
    }
    if (e.n == 0) {
        error_set("%s: empty: no edges (only comments or blank lines)", path);
        goto done;
    }
    *out = e;
    rc = 0;
done:
    if (rc < 0) pgr_edges_free(&e);
    keyindex_free(&seen);
    free(text);
    return rc;
}
