/* The PGR task's graph side (data/pgr_graph.h, data/pgr_subgraph.h,
 * data/pgr_corpus.h, data/pgr_batch.h, nn/gcn.h): the co-mention graph, HPO
 * annotation files in both layouts, the 1-hop enclosing subgraph (target edge,
 * cap, determinism), the corpus splits and mention markers, the batch graph,
 * and the GCN layer's gradient by finite differences. Every input is a small
 * file the test writes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/xalloc.h"
#include "data/pgr_batch.h"
#include "data/pgr_corpus.h"
#include "data/wordpiece_build.h"
#include "nn/gcn.h"
#include "tests/test.h"

#define HEADER                                                                                                   \
    "FILE_ID\tSENTENCE\tGENE\tPHENOTYPE\tGENE_ID\tPHENOTYPE_ID\tGENE_START_POSITION\tGENE_END_POSITION\t"       \
    "PHENOTYPE_START_POSITION\tPHENOTYPE_END_POSITION\tRELATION\n"

/* Genes 1, 2, 3 and phenotypes 10, 20, 30: 1-10, 1-20 (twice), 2-20, 3-30.
 * Rows 1-3 share one sentence. */
static const char *TRAIN = HEADER
    "100\tAB causes fever and rash.\tAB\tfever\t1\tHP_0000010\t0\t2\t10\t15\tTrue\n"
    "100\tAB causes fever and rash.\tAB\trash\t1\tHP_0000020\t0\t2\t20\t24\tFalse\n"
    "101\tCD with rash.\tCD\trash\t2\tHP_0000020\t0\t2\t8\t12\tTrue\n"
    "102\tAB and rash again.\tAB\trash\t1\tHP_0000020\t0\t2\t7\t11\tFalse\n"
    "103\tEF in cough.\tEF\tcough\t3\tHP_0000030\t0\t2\t6\t11\tTrue\n";
static const char *TEST_TSV =
    "FILE_ID\tSENTENCE\tGENE\tPHENOTYPE\tGENE_ID\tPHENOTYPE_ID\tGENE_START_POSITION\tGENE_END_POSITION\t"
    "PHENOTYPE_START_POSITION\tPHENOTYPE_END_POSITION\tRELATION\tCONFIRMATION\n"
    "200\tCD and fever.\tCD\tfever\t2\tHP_0000010\t0\t2\t7\t12\tFALSE\tC\n";
static const char *EXTRA = HEADER "300\tGH in cough.\tGH\tcough\t4\tHP_0000030\t0\t2\t6\t11\tTrue\n";

static const char *write_tmp(const char *name, const char *text) {
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    test_tmp_path(p, 512, name);
    CHECK(file_write_atomic(p, text, strlen(text)) == 0, "%s", error_message());
    return p;
}

static void co_mention_graph(PgrGraph *g, PgrTable *t) {
    ASSERT_MSG(pgr_read_tsv(write_tmp("g_train.tsv", TRAIN), t) == 0, "%s", error_message());
    pgr_graph_init(g);
    pgr_graph_add_row_nodes(g, t);
    PgrEdgeBuffer e = {0};
    pgr_graph_add_row_edges(g, t, &e);
    pgr_graph_finalize(g, &e);
}

static int64_t node(const PgrGraph *g, const char *id) { return pgr_graph_find(g, id); }

TEST(test_pgr_graph_co_mentions_make_one_edge_per_pair) {
    PgrGraph g;
    PgrTable t;
    co_mention_graph(&g, &t);
    ASSERT_EQ_INT(g.n_nodes, 6);
    ASSERT_EQ_INT(g.n_edges, 4); /* 1-20 is co-mentioned twice: one edge */
    int64_t g1 = node(&g, "NCBIGene:1"), g2 = node(&g, "NCBIGene:2"), p10 = node(&g, "HP:0000010"),
            p20 = node(&g, "HP:0000020"), p30 = node(&g, "HP:0000030");
    ASSERT(g1 >= 0 && g2 >= 0 && p10 >= 0 && p20 >= 0 && p30 >= 0);
    ASSERT(pgr_graph_has_edge(&g, g1, p10) && pgr_graph_has_edge(&g, p10, g1));
    ASSERT(pgr_graph_has_edge(&g, g1, p20) && pgr_graph_has_edge(&g, g2, p20));
    ASSERT(!pgr_graph_has_edge(&g, g2, p10) && !pgr_graph_has_edge(&g, g1, p30));
    ASSERT_EQ_INT(pgr_graph_degree(&g, p20), 2);
    pgr_graph_free(&g);
    pgr_table_free(&t);
}

TEST(test_pgr_graph_reads_hpo_annotations_in_both_layouts) {
    const char *old = write_tmp("g2p_2018.txt",
                                "#Format: entrez-gene-id<tab>entrez-gene-symbol<tab>HPO-Term-Name<tab>HPO-Term-ID\n"
                                "1\tAB\tFever\tHP:0000010\n"
                                "7\tZZ\tRash\tHP:0000020\n");
    const char *cur = write_tmp("g2p_now.txt",
                                "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\tfrequency\tdisease_id\n"
                                "1\tAB\tHP:0000010\tFever\t-\tOMIM:1\n"
                                "1\tAB\tHP:0000010\tFever\t-\tOMIM:2\n"
                                "8\tYY\tHP:0000099\tCough\t-\tOMIM:3\n");
    for (int layout = 0; layout < 2; layout++) {
        PgrGraph g;
        pgr_graph_init(&g);
        PgrEdgeBuffer e = {0};
        ASSERT_MSG(pgr_graph_read_annotations(&g, layout ? cur : old, &e) == 0, "%s", error_message());
        pgr_graph_finalize(&g, &e);
        ASSERT_EQ_INT(g.n_edges, 2); /* the current layout repeats a pair per disease */
        int64_t gene = node(&g, layout ? "NCBIGene:8" : "NCBIGene:7");
        int64_t phen = node(&g, layout ? "HP:0000099" : "HP:0000020");
        ASSERT(gene >= 0 && phen >= 0 && pgr_graph_has_edge(&g, gene, phen));
        ASSERT(strcmp(g.names[gene], layout ? "YY" : "ZZ") == 0);
        ASSERT(strcmp(g.names[phen], layout ? "Cough" : "Rash") == 0);
        pgr_graph_free(&g);
    }
    const char *bad = write_tmp("g2p_bad.txt", "ncbi_gene_id\tgene_symbol\thpo_id\thpo_name\n1\tAB\tXP:1\tFever\n");
    PgrGraph g;
    pgr_graph_init(&g);
    PgrEdgeBuffer e = {0};
    ASSERT(pgr_graph_read_annotations(&g, bad, &e) < 0);
    ASSERT_MSG(strstr(error_message(), "line 2") && strstr(error_message(), "\"XP:1\" is not an HPO id"), "%s",
               error_message());
    free(e.src);
    free(e.dst);
    pgr_graph_free(&g);
}

/* A star-heavy graph: gene 0 links phenotypes 1..40, phenotype 1 links genes
 * 0 and 41..60; the induced subgraph of (0, 1) has 61 nodes. */
static void hub_graph(PgrGraph *g) {
    pgr_graph_init(g);
    PgrEdgeBuffer e = {0};
    PgrTable t = {0};
    char buf[8192] = HEADER;
    for (int k = 1; k <= 40; k++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "1\tx y\tx\ty\t0\tHP_%07d\t0\t1\t2\t3\tTrue\n", k);
    for (int k = 41; k <= 60; k++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "1\tx y\tx\ty\t%d\tHP_0000001\t0\t1\t2\t3\tTrue\n", k);
    /* gene 41 also links phenotype 2: an edge among the neighbours */
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "1\tx y\tx\ty\t41\tHP_0000002\t0\t1\t2\t3\tTrue\n");
    CHECK(pgr_read_tsv(write_tmp("hub.tsv", buf), &t) == 0, "%s", error_message());
    pgr_graph_add_row_nodes(g, &t);
    pgr_graph_add_row_edges(g, &t, &e);
    pgr_graph_finalize(g, &e);
    pgr_table_free(&t);
}

TEST(test_pgr_subgraph_is_the_one_hop_enclosing_graph_without_the_target_edge) {
    PgrGraph g;
    hub_graph(&g);
    int64_t u = node(&g, "NCBIGene:0"), v = node(&g, "HP:0000001");
    PgrSubgraphOptions opt = {.max_nodes = 0, .keep_target_edge = 0, .seed = 1};
    PgrSubgraph s;
    pgr_subgraph_extract(&g, u, v, &opt, &s);
    ASSERT_EQ_INT(s.nodes[0], u);
    ASSERT_EQ_INT(s.nodes[1], v);
    ASSERT_EQ_INT(s.n_nodes, 2 + 39 + 20); /* N(u) \ {v} and N(v) \ {u} */
    /* §4.5: for 1-hop, the targets' degrees inside sum to n - 2 (+2 with the
     * target edge); plus the one edge among neighbours (41-2). */
    ASSERT_EQ_INT(s.n_edges, s.n_nodes - 2 + 1);
    for (int64_t k = 0; k < s.n_edges; k++) ASSERT(!(s.src[k] == 0 && s.dst[k] == 1));
    pgr_subgraph_free(&s);
    opt.keep_target_edge = 1;
    pgr_subgraph_extract(&g, u, v, &opt, &s);
    ASSERT_EQ_INT(s.n_edges, s.n_nodes - 2 + 2);
    ASSERT(s.src[0] == 0 && s.dst[0] == 1);
    pgr_subgraph_free(&s);
    pgr_graph_free(&g);
}

TEST(test_pgr_subgraph_cap_keeps_targets_and_is_deterministic) {
    PgrGraph g;
    hub_graph(&g);
    int64_t u = node(&g, "NCBIGene:0"), v = node(&g, "HP:0000001");
    PgrSubgraphOptions opt = {.max_nodes = 12, .keep_target_edge = 0, .seed = 7};
    PgrSubgraph a, b, c;
    pgr_subgraph_extract(&g, u, v, &opt, &a);
    pgr_subgraph_extract(&g, u, v, &opt, &b);
    opt.seed = 8;
    pgr_subgraph_extract(&g, u, v, &opt, &c);
    ASSERT_EQ_INT(a.n_nodes, 12);
    ASSERT(a.nodes[0] == u && a.nodes[1] == v);
    ASSERT(memcmp(a.nodes, b.nodes, 12 * sizeof *a.nodes) == 0 && a.n_edges == b.n_edges);
    ASSERT(memcmp(a.nodes, c.nodes, 12 * sizeof *a.nodes) != 0); /* another seed, another sample */
    for (int64_t k = 0; k < a.n_edges; k++) {
        ASSERT(a.src[k] < a.dst[k] && a.dst[k] < 12);
        ASSERT(pgr_graph_has_edge(&g, a.nodes[a.src[k]], a.nodes[a.dst[k]]));
    }
    for (int64_t k = 2; k < 12; k++) /* every kept node is a neighbour of a target */
        ASSERT(pgr_graph_has_edge(&g, u, a.nodes[k]) || pgr_graph_has_edge(&g, v, a.nodes[k]));
    pgr_subgraph_free(&a);
    pgr_subgraph_free(&b);
    pgr_subgraph_free(&c);
    pgr_graph_free(&g);
}

TEST(test_pgr_mark_mentions_inserts_typed_markers_at_the_offsets) {
    PgrRow r = {.sentence = "AB causes fever.", .gene_start = 0, .gene_end = 2, .phen_start = 10, .phen_end = 15};
    char *m = pgr_mark_mentions(&r);
    ASSERT_MSG(strcmp(m, "@ AB @ causes $ fever $.") == 0, "%s", m);
    free(m);
    PgrRow adj = {.sentence = "ABfever", .gene_start = 0, .gene_end = 2, .phen_start = 2, .phen_end = 7};
    m = pgr_mark_mentions(&adj);
    ASSERT_MSG(strcmp(m, "@ AB @$ fever $") == 0, "%s", m);
    free(m);
    PgrRow lost = {.sentence = "x fever", .gene_start = -1, .gene_end = -1, .phen_start = 2, .phen_end = 7};
    m = pgr_mark_mentions(&lost);
    ASSERT_MSG(strcmp(m, "x $ fever $") == 0, "%s", m);
    free(m);
}

/* A corpus directory `name` with the five files (test.tsv: test_tsv) and a vocabulary learned from it. */
static const char *write_corpus_dir(const char *name, const char *test_tsv) {
    static char dir[512];
    test_tmp_path(dir, sizeof dir, name);
    CHECK(make_dirs(dir) == 0, "%s", error_message());
    char path[600];
    const char *files[5][2] = {{"train.tsv", TRAIN}, {"test.tsv", test_tsv}, {"train_2019.tsv", EXTRA},
                               {"genes_links.tsv", "ab gene\t1\nalpha b\t1\ncd\t2\n"},
                               {"hp_links.tsv", "fever\thttp://purl.obolibrary.org/obo/HP_0000010\n"}};
    for (int k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k][0]);
        CHECK(file_write_atomic(path, files[k][1], strlen(files[k][1])) == 0, "%s", error_message());
    }
    const char *texts[] = {"@ $ , AB causes fever and rash. CD with rash. AB and rash again. EF in cough.",
                           "ab gene alpha b cd fever GH"};
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    CHECK(wordpiece_build_vocab(texts, 2, 200, path) == 0, "%s", error_message());
    return dir;
}

static const char *write_corpus(void) { return write_corpus_dir("pgr_corpus", TEST_TSV); }

TEST(test_pgr_corpus_splits_by_sentence_and_names_nodes) {
    PgrCorpusOptions opt = pgr_corpus_defaults();
    opt.dir = write_corpus();
    opt.val_percent = 34; /* one of the 4 distinct training sentences */
    opt.max_len = 16;
    PgrCorpus c;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    ASSERT_EQ_INT(c.graph.n_nodes, 4 + 3); /* genes 1-4, phenotypes 10, 20, 30 (2019 adds gene 4) */
    const PgrSamples *tr = &c.split[PGR_SPLIT_TRAIN], *va = &c.split[PGR_SPLIT_VAL], *te = &c.split[PGR_SPLIT_TEST];
    ASSERT_EQ_INT(tr->n + va->n, 5);
    ASSERT(va->n >= 1);
    for (int64_t i = 0; i < tr->n; i++)
        for (int64_t j = 0; j < va->n; j++) ASSERT(strcmp(tr->row[i]->sentence, va->row[j]->sentence) != 0);
    ASSERT_EQ_INT(te->n, 1);
    ASSERT_EQ_INT(te->label[0], 0);
    /* The test pair (2, 10) is no co-mention of the training rows, but the
     * test row itself is one: its edge exists and is left out of its subgraph. */
    ASSERT(pgr_graph_has_edge(&c.graph, te->u[0], te->v[0]));
    for (int64_t k = 0; k < te->graph[0].n_edges; k++) ASSERT(!(te->graph[0].src[k] == 0 && te->graph[0].dst[k] == 1));
    /* Node names: gene 1 from the lexicon ("ab gene , alpha b"), gene 3 from its mention "EF". */
    int64_t g1 = pgr_graph_find(&c.graph, "NCBIGene:1"), g3 = pgr_graph_find(&c.graph, "NCBIGene:3");
    ASSERT_EQ_INT(c.n_nodes_named, 3); /* genes 1, 2 and phenotype 10 */
    ASSERT(c.node_token_count[g1] >= 4);
    ASSERT_EQ_INT(c.node_token_count[g3], 1);
    ASSERT_EQ_INT(c.node_tokens[g3 * opt.name_len], tokenizer_token_id(c.tok, "ef"));
    /* The sentence tokens carry the markers: [CLS] @ ... */
    int64_t s = 0;
    ASSERT_EQ_INT(tr->ids[s * opt.max_len + 1], tokenizer_token_id(c.tok, "@"));
    pgr_corpus_free(&c);
}

TEST(test_pgr_batch_is_block_diagonal_with_mean_pooled_names) {
    PgrCorpusOptions opt = pgr_corpus_defaults();
    opt.dir = write_corpus();
    opt.val_percent = 0;
    opt.max_len = 16;
    PgrCorpus c;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    const PgrSamples *s = &c.split[PGR_SPLIT_TRAIN];
    int64_t idx[3] = {4, 0, 2};
    PgrBatch b;
    pgr_batch_build(&b, s, idx, 3, opt.max_len, c.node_tokens, c.node_token_count, opt.name_len);
    int64_t n = s->graph[4].n_nodes + s->graph[0].n_nodes + s->graph[2].n_nodes;
    ASSERT_EQ_INT(b.n_nodes, n);
    ASSERT_EQ_INT(b.targets[0], 0);
    ASSERT_EQ_INT(b.targets[2], s->graph[4].n_nodes);
    ASSERT_EQ_INT(b.targets[3], s->graph[4].n_nodes + 1);
    ASSERT_EQ_INT(b.node_global[b.targets[4]], s->u[2]);
    ASSERT_EQ_INT(b.node_global[b.targets[5]], s->v[2]);
    ASSERT_EQ_INT(b.labels[1], s->label[0]);
    /* No entry of Â links two samples' blocks; each pooling row sums to 1. */
    int64_t start1 = s->graph[4].n_nodes, start2 = start1 + s->graph[0].n_nodes;
    for (int64_t r = 0; r < n; r++) {
        int blk = r >= start2 ? 2 : r >= start1;
        for (int64_t e = b.adj.row_ptr[r]; e < b.adj.row_ptr[r + 1]; e++) {
            int64_t col = b.adj.col_idx[e];
            ASSERT_EQ_INT(col >= start2 ? 2 : col >= start1, blk);
        }
        double sum = 0;
        for (int64_t e = b.pool.row_ptr[r]; e < b.pool.row_ptr[r + 1]; e++) sum += b.pool.values[e];
        ASSERT_NEAR(sum, 1.0, 1e-6);
        ASSERT_EQ_INT(b.pool.row_ptr[r + 1] - b.pool.row_ptr[r], c.node_token_count[b.node_global[r]]);
    }
    /* The same batch moved into the activation arena holds the same numbers. */
    PgrBatch a;
    pgr_batch_build(&a, s, idx, 3, opt.max_len, c.node_tokens, c.node_token_count, opt.name_len);
    pgr_batch_move_to_arena(&a);
    ASSERT(a.n_nodes == b.n_nodes && a.adj.nnz == b.adj.nnz && a.n_tokens == b.n_tokens && a.L == b.L);
    ASSERT(memcmp(a.ids, b.ids, (size_t)(b.B * b.L) * sizeof *b.ids) == 0);
    ASSERT(memcmp(a.adj.values, b.adj.values, (size_t)b.adj.nnz * sizeof *b.adj.values) == 0);
    ASSERT(memcmp(a.adj.row_ptr, b.adj.row_ptr, (size_t)(n + 1) * sizeof *b.adj.row_ptr) == 0);
    ASSERT(memcmp(a.pool.col_idx, b.pool.col_idx, (size_t)b.pool.nnz * sizeof *b.pool.col_idx) == 0);
    ASSERT(memcmp(a.targets, b.targets, 6 * sizeof *b.targets) == 0);
    autograd_step_end();
    pgr_batch_free(&b);
    pgr_corpus_free(&c);
}

/* ---- the GCN layer's gradient, by finite differences ---- */
static CsrMatrix gcn_adj;
static GcnLayer gcn_probe;

static Tensor *apply_gcn(Tensor **in, void *ctx) {
    (void)ctx;
    gcn_probe.linear.weight = in[1];
    gcn_probe.linear.bias = in[2];
    return gcn_layer_forward(&gcn_probe, &gcn_adj, in[0]);
}

TEST(test_gcn_layer_gradient_matches_finite_differences) {
    /* 6 nodes, two components with a repeated edge and a self loop in the list. */
    const int32_t src[] = {0, 1, 2, 1, 3, 4, 4};
    const int32_t dst[] = {1, 2, 0, 0, 4, 5, 4};
    gcn_adj = gcn_normalized_adjacency(6, src, dst, 7);
    /* Â's entries: 1/sqrt(d_i d_j) with degrees of A + I: 3, 3, 3, 2, 3, 2. */
    ASSERT_NEAR(gcn_adj.values[gcn_adj.row_ptr[0]], 1.0 / 3.0, 1e-6);
    ASSERT_EQ_INT(gcn_adj.row_ptr[4] - gcn_adj.row_ptr[3], 2);
    Tensor *in[3] = {tensor_random_uniform(SHAPE(6, 4), -1.0f, 1.0f, 3),
                     tensor_random_uniform(SHAPE(5, 4), -1.0f, 1.0f, 4),
                     tensor_random_uniform(SHAPE(5), -0.5f, 0.5f, 5)};
    for (int k = 0; k < 3; k++) in[k]->requires_grad = 1;
    gcn_probe.linear.in = 4;
    gcn_probe.linear.out = 5;
    ASSERT_MSG(gradcheck(apply_gcn, in, 3, NULL, gradcheck_defaults()) == 0, "%s", error_message());
    tape_clear();
    csr_free(&gcn_adj);
}

/* Dt leaves out the test rows whose pair a row of D has (data/pgr_corpus.h:
 * their label is D's), unless test_all_rows; a pair seen only in the
 * validation split is unseen by D. Rows carry their deletion keys, and the
 * fingerprint follows a file's bytes. */
TEST(test_pgr_corpus_test_split_keeps_pairs_unseen_in_d) {
    static const char *test_tsv =
        "FILE_ID\tSENTENCE\tGENE\tPHENOTYPE\tGENE_ID\tPHENOTYPE_ID\tGENE_START_POSITION\tGENE_END_POSITION\t"
        "PHENOTYPE_START_POSITION\tPHENOTYPE_END_POSITION\tRELATION\tCONFIRMATION\n"
        "200\tCD and fever.\tCD\tfever\t2\tHP_0000010\t0\t2\t7\t12\tFALSE\tC\n"
        "201\tAB and fever.\tAB\tfever\t1\tHP_0000010\t0\t2\t7\t12\tTRUE\tC\n"
        "202\tEF and cough.\tEF\tcough\t3\tHP_0000030\t0\t2\t7\t12\tTRUE\tC\n";
    PgrCorpusOptions opt = pgr_corpus_defaults();
    opt.dir = write_corpus_dir("pgr_corpus_unseen", test_tsv);
    opt.val_percent = 0;
    opt.max_len = 16;
    PgrCorpus c;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    const PgrSamples *te = &c.split[PGR_SPLIT_TEST];
    ASSERT_EQ_INT(te->n, 1); /* (AB, fever) and (EF, cough) are pairs of train.tsv rows */
    ASSERT_EQ_INT(c.n_test_seen_pairs, 2);
    ASSERT_MSG(strcmp(te->row[0]->pmid, "200") == 0, "%s", te->row[0]->pmid);
    ASSERT_MSG(strcmp(c.split[PGR_SPLIT_TRAIN].key[0], "100/1/HP:0000010/0/10") == 0, "%s",
               c.split[PGR_SPLIT_TRAIN].key[0]);
    uint64_t h_unseen = FNV1A_INIT;
    ASSERT(pgr_corpus_fingerprint(&c, &h_unseen) == 0);
    pgr_corpus_free(&c);

    opt.test_all_rows = 1;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    ASSERT_EQ_INT(c.split[PGR_SPLIT_TEST].n, 3);
    uint64_t h_all = FNV1A_INIT;
    ASSERT(pgr_corpus_fingerprint(&c, &h_all) == 0);
    ASSERT(h_all == h_unseen); /* the rows Dt scores are no part of what a model trains on */
    pgr_corpus_free(&c);

    /* Half the sentences held out: a kept test row's pair is in no row of D, and
     * every test.tsv row left out has its pair in D (the held-out rows do not count). */
    opt.test_all_rows = 0;
    opt.val_percent = 50;
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    const PgrSamples *d = &c.split[PGR_SPLIT_TRAIN];
    int64_t kept_or_seen = 0;
    for (int64_t i = 0; i < c.test.n; i++) {
        const PgrRow *r = &c.test.rows[i];
        int64_t u = pgr_graph_gene_node(&c.graph, r), v = pgr_graph_phen_node(&c.graph, r);
        int in_d = 0, kept = 0;
        for (int64_t j = 0; j < d->n; j++) in_d |= d->u[j] == u && d->v[j] == v;
        for (int64_t j = 0; j < c.split[PGR_SPLIT_TEST].n; j++) kept |= c.split[PGR_SPLIT_TEST].row[j] == r;
        ASSERT_EQ_INT(kept, !in_d);
        kept_or_seen++;
    }
    ASSERT_EQ_INT(c.split[PGR_SPLIT_TEST].n + c.n_test_seen_pairs, 3);
    ASSERT_EQ_INT(kept_or_seen, 3);
    ASSERT(c.split[PGR_SPLIT_VAL].n >= 1);
    pgr_corpus_free(&c);

    /* One changed byte of a file changes the fingerprint. */
    opt.val_percent = 0;
    opt.split_seed = 42;
    char path[600];
    snprintf(path, sizeof path, "%s/hp_links.tsv", opt.dir);
    const char *lex = "fevers\thttp://purl.obolibrary.org/obo/HP_0000010\n";
    ASSERT(file_write_atomic(path, lex, strlen(lex)) == 0);
    ASSERT_MSG(pgr_corpus_load(&c, &opt) == 0, "%s", error_message());
    uint64_t h_lex = FNV1A_INIT;
    ASSERT(pgr_corpus_fingerprint(&c, &h_lex) == 0);
    ASSERT(h_lex != h_unseen);
    pgr_corpus_free(&c);
}
