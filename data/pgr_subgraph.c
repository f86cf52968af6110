#include "data/pgr_subgraph.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* N(u) ∪ N(v) without u and v, sorted and unique (both lists are sorted). */
static int64_t neighbour_union(const PgrGraph *g, int64_t u, int64_t v, int32_t *out) {
    const int32_t *a = g->col_idx + g->row_ptr[u], *b = g->col_idx + g->row_ptr[v];
    int64_t na = pgr_graph_degree(g, u), nb = pgr_graph_degree(g, v), i = 0, j = 0, n = 0;
    while (i < na || j < nb) {
        int32_t x = j == nb || (i < na && a[i] <= b[j]) ? a[i] : b[j];
        if (i < na && a[i] == x) i++;
        if (j < nb && b[j] == x) j++;
        if (x != u && x != v) out[n++] = x;
    }
    return n;
}

void pgr_subgraph_extract(const PgrGraph *g, int64_t u, int64_t v, const PgrSubgraphOptions *opt, PgrSubgraph *out) {
    CHECK(u != v && u >= 0 && v >= 0 && u < g->n_nodes && v < g->n_nodes, "pgr subgraph: pair (%lld, %lld) of %lld nodes",
          (long long)u, (long long)v, (long long)g->n_nodes);
    CHECK(opt->max_nodes == 0 || opt->max_nodes >= 2, "pgr subgraph: max_nodes %d < 2", opt->max_nodes);
    int64_t cap_union = pgr_graph_degree(g, u) + pgr_graph_degree(g, v);
    int32_t *nb = malloc((size_t)(cap_union + 1) * sizeof *nb);
    CHECK(nb, "out of memory");
    int64_t n_nb = neighbour_union(g, u, v, nb);
    int64_t keep = opt->max_nodes ? opt->max_nodes - 2 : n_nb;
    if (keep < n_nb) {
        /* Partial Fisher-Yates: the first `keep` entries become a uniform sample. */
        Rng r = rng_make(opt->seed, (uint64_t)u * (uint64_t)g->n_nodes + (uint64_t)v);
        for (int64_t i = 0; i < keep; i++) {
            int64_t j = i + (int64_t)rng_below(&r, (uint64_t)(n_nb - i));
            int32_t t = nb[i];
            nb[i] = nb[j];
            nb[j] = t;
        }
        n_nb = keep;
        qsort(nb, (size_t)n_nb, sizeof *nb, cmp_i32);
    }
    int64_t n = n_nb + 2;
    out->n_nodes = n;
    out->nodes = malloc((size_t)n * sizeof *out->nodes);
    CHECK(out->nodes, "out of memory");
    out->nodes[0] = (int32_t)u;
    out->nodes[1] = (int32_t)v;
    memcpy(out->nodes + 2, nb, (size_t)n_nb * sizeof *nb);
    free(nb);
    /* Induced edges: every local pair (a, b), a < b, looked up by a binary
     * search in a's sorted neighbour list; n² lookups, cheap at capped sizes. */
    int64_t cap = 16, m = 0;
    out->src = malloc((size_t)cap * sizeof *out->src);
    out->dst = malloc((size_t)cap * sizeof *out->dst);
    CHECK(out->src && out->dst, "out of memory");
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++) {
            if (a == 0 && b == 1 && !opt->keep_target_edge) continue;
            if (!pgr_graph_has_edge(g, out->nodes[a], out->nodes[b])) continue;
            if (m == cap) {
                cap *= 2;
                out->src = realloc(out->src, (size_t)cap * sizeof *out->src);
                out->dst = realloc(out->dst, (size_t)cap * sizeof *out->dst);
                CHECK(out->src && out->dst, "out of memory");
            }
            out->src[m] = (int32_t)a;
            out->dst[m] = (int32_t)b;
            m++;
        }
    out->n_edges = m;
}

void pgr_subgraph_free(PgrSubgraph *s) {
    free(s->nodes);
    free(s->src);
    free(s->dst);
    memset(s, 0, sizeof *s);
}
