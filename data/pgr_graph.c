#include "data/pgr_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"

void pgr_graph_init(PgrGraph *g) {
    memset(g, 0, sizeof *g);
    keyindex_init(&g->ids);
}

/* Index of id, added (with `name`, may be NULL) when new. */
static int64_t node_add(PgrGraph *g, const char *id, const char *name) {
    int added = 0;
    int64_t k = keyindex_add(&g->ids, id, &added);
    if (added) {
        g->names = realloc(g->names, (size_t)g->ids.n * sizeof *g->names);
        CHECK(g->names, "out of memory");
        g->names[k] = strdup(name ? name : "");
        CHECK(g->names[k], "out of memory");
        g->n_nodes = g->ids.n;
    } else if (name && !g->names[k][0]) {
        free(g->names[k]);
        g->names[k] = strdup(name);
        CHECK(g->names[k], "out of memory");
    }
    return k;
}

static void edge_push(PgrEdgeBuffer *e, int64_t a, int64_t b) {
    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 1024;
        e->src = realloc(e->src, (size_t)e->cap * sizeof *e->src);
        e->dst = realloc(e->dst, (size_t)e->cap * sizeof *e->dst);
        CHECK(e->src && e->dst, "out of memory");
    }
    e->src[e->n] = (int32_t)a;
    e->dst[e->n] = (int32_t)b;
    e->n++;
}

void pgr_graph_add_row_nodes(PgrGraph *g, const PgrTable *t) {
    for (int64_t i = 0; i < t->n; i++) {
        char *gene = pgr_gene_node(t->rows[i].gene_id);
        node_add(g, gene, NULL);
        free(gene);
        node_add(g, t->rows[i].hpo_id, NULL);
    }
}

void pgr_graph_add_row_edges(PgrGraph *g, const PgrTable *t, PgrEdgeBuffer *edges) {
    for (int64_t i = 0; i < t->n; i++) {
        int64_t a = pgr_graph_gene_node(g, &t->rows[i]), b = pgr_graph_phen_node(g, &t->rows[i]);
        CHECK(a >= 0 && b >= 0, "pgr graph: row %lld of a table whose nodes were not added", (long long)i);
        edge_push(edges, a, b);
    }
}

/* Splits at tabs in place; returns the field count (at most max). */
static int split_fields(char *line, char **f, int max) {
    int n = 0;
    f[n++] = line;
    for (char *p = line; *p && n < max; p++)
        if (*p == '\t') {
            *p = '\0';
            f[n++] = p + 1;
        }
    return n;
}

/* HPO's genes_to_phenotype.txt; `current` selects the layout (see the header). */
static int read_genes_to_phenotype(PgrGraph *g, const char *path, char *text, int current, PgrEdgeBuffer *edges) {
    int gene_col = 0, sym_col = 1, hpo_col = current ? 2 : 3, name_col = current ? 3 : 2;
    long lineno = 0;
    int64_t n_before = edges->n;
    for (char *next = text, *line; (line = next) != NULL;) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[len - 1] = '\0';
        if (!line[0] || line[0] == '#' || (current && strncmp(line, "ncbi_gene_id", 12) == 0)) continue;
        char *f[8];
        int nf = split_fields(line, f, 8);
        if (nf < 4)
            return error_set("%s: line %ld: %d columns, expected at least 4 (gene id, symbol, HPO id, HPO name)",
                             path, lineno, nf);
        const char *gid = f[gene_col];
        if (!gid[0] || strspn(gid, "0123456789") != strlen(gid))
            return error_set("%s: line %ld: gene id \"%s\" is not an NCBI Gene number", path, lineno, f[gene_col]);
        char hpo[64];
        if (pgr_hpo_canonical(f[hpo_col], hpo, sizeof hpo) < 0)
            return error_set("%s: line %ld: \"%s\" is not an HPO id (HP:0000000)", path, lineno, f[hpo_col]);
        char *gene = pgr_gene_node(f[gene_col]);
        int64_t a = node_add(g, gene, f[sym_col]), b = node_add(g, hpo, f[name_col]);
        free(gene);
        edge_push(edges, a, b);
    }
    if (edges->n == n_before) return error_set("%s: no gene-phenotype lines", path);
    return 0;
}

int pgr_graph_read_annotations(PgrGraph *g, const char *path, PgrEdgeBuffer *edges) {
    char *text = file_read_all(path, NULL);
    if (!text) return -1;
    const char *first = text;
    while (*first == '\n' || *first == '\r') first++;
    int rc;
    if (strncmp(first, "#Format: entrez-gene-id", 23) == 0) rc = read_genes_to_phenotype(g, path, text, 0, edges);
    else if (strncmp(first, "ncbi_gene_id\t", 13) == 0) rc = read_genes_to_phenotype(g, path, text, 1, edges);
    else {
        PgrEdgeList list;
        rc = pgr_read_edges(path, &list);
        if (rc == 0) {
            for (int64_t e = 0; e < list.n; e++) edge_push(edges, node_add(g, list.src[e], NULL), node_add(g, list.dst[e], NULL));
            pgr_edges_free(&list);
        }
    }
    free(text);
    return rc;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void pgr_graph_finalize(PgrGraph *g, PgrEdgeBuffer *edges) {
    int64_t n = g->n_nodes;
    int64_t *ptr = calloc((size_t)n + 1, sizeof *ptr);
    CHECK(ptr, "out of memory");
    for (int64_t e = 0; e < edges->n; e++) {
        if (edges->src[e] == edges->dst[e]) continue;
        ptr[edges->src[e] + 1]++;
        ptr[edges->dst[e] + 1]++;
    }
    for (int64_t r = 0; r < n; r++) ptr[r + 1] += ptr[r];
    int32_t *cols = malloc((size_t)(ptr[n] ? ptr[n] : 1) * sizeof *cols);
    int64_t *fill = malloc((size_t)(n ? n : 1) * sizeof *fill);
    CHECK(cols && fill, "out of memory");
    memcpy(fill, ptr, (size_t)n * sizeof *fill);
    for (int64_t e = 0; e < edges->n; e++) {
        int32_t a = edges->src[e], b = edges->dst[e];
        if (a == b) continue;
        cols[fill[a]++] = b;
        cols[fill[b]++] = a;
    }
    /* Sort each list and drop repeats (a pair co-mentioned in many sentences is one edge). */
    int64_t nnz = 0, start = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t end = ptr[r + 1];
        qsort(cols + start, (size_t)(end - start), sizeof *cols, cmp_i32);
        ptr[r] = nnz;
        for (int64_t k = start; k < end; k++)
            if (k == start || cols[k] != cols[k - 1]) cols[nnz++] = cols[k];
        start = end;
    }
    ptr[n] = nnz;
    free(fill);
    free(edges->src);
    free(edges->dst);
    memset(edges, 0, sizeof *edges);
    g->row_ptr = ptr;
    g->col_idx = cols;
    g->n_edges = nnz / 2;
}

void pgr_graph_free(PgrGraph *g) {
    for (int64_t i = 0; i < g->n_nodes; i++) free(g->names[i]);
    free(g->names);
    free(g->row_ptr);
    free(g->col_idx);
    keyindex_free(&g->ids);
    memset(g, 0, sizeof *g);
}

int64_t pgr_graph_find(const PgrGraph *g, const char *id) { return keyindex_find(&g->ids, id); }

int64_t pgr_graph_gene_node(const PgrGraph *g, const PgrRow *r) {
    char id[64];
    snprintf(id, sizeof id, "NCBIGene:%s", r->gene_id);
    return pgr_graph_find(g, id);
}

int64_t pgr_graph_phen_node(const PgrGraph *g, const PgrRow *r) { return pgr_graph_find(g, r->hpo_id); }

int pgr_graph_has_edge(const PgrGraph *g, int64_t u, int64_t v) {
    int32_t key = (int32_t)v;
    const int32_t *lo = g->col_idx + g->row_ptr[u];
    return bsearch(&key, lo, (size_t)(g->row_ptr[u + 1] - g->row_ptr[u]), sizeof key, cmp_i32) != NULL;
}

int64_t pgr_graph_degree(const PgrGraph *g, int64_t u) { return g->row_ptr[u + 1] - g->row_ptr[u]; }
