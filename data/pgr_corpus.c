#include "data/pgr_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/xalloc.h"

/* Name text of a node: its lexicon names joined by " , " up to this many
 * characters, which is more than name_len word pieces need. */
#define NAME_TEXT_CHARS 240

PgrCorpusOptions pgr_corpus_defaults(void) {
    return (PgrCorpusOptions){
        .dir = "data/pgr_corpus", .graph_file = NULL, .vocab_file = NULL, .max_len = 128, .name_len = 16,
        .val_percent = 10, .test_all_rows = 0, .split_seed = 42, .sub = {.max_nodes = 32, .keep_target_edge = 0, .seed = 42},
    };
}

char *pgr_row_key(const PgrRow *r) {
    size_t n = strlen(r->pmid) + strlen(r->gene_id) + strlen(r->hpo_id) + 32;
    char *key = malloc(n);
    CHECK(key, "out of memory");
    snprintf(key, n, "%s/%s/%s/%d/%d", r->pmid, r->gene_id, r->hpo_id, r->gene_start, r->phen_start);
    return key;
}

char *pgr_mark_mentions(const PgrRow *r) {
    /* Four insertion points, applied from the right so earlier offsets hold. */
    struct { int at; const char *mark; } ins[4] = {
        {r->gene_start, "@ "}, {r->gene_end, " @"}, {r->phen_start, "$ "}, {r->phen_end, " $"}};
    int n_ins = 4;
    if (r->gene_start < 0) ins[0].at = ins[1].at = -1;
    if (r->phen_start < 0) ins[2].at = ins[3].at = -1;
    size_t len = strlen(r->sentence);
    char *out = malloc(len + 4 * 3 + 1);
    CHECK(out, "out of memory");
    memcpy(out, r->sentence, len + 1);
    for (int done = 0; done < n_ins; done++) {
        int best = -1;
        for (int k = 0; k < n_ins; k++)
            if (ins[k].at >= 0 && (best < 0 || ins[k].at >= ins[best].at)) best = k; /* ties: the later mark first */
        if (best < 0) break;
        size_t at = (size_t)ins[best].at, m = strlen(ins[best].mark), cur = strlen(out);
        memmove(out + at + m, out + at, cur - at + 1);
        memcpy(out + at, ins[best].mark, m);
        ins[best].at = -1;
    }
    return out;
}

static void append_name(char *buf, const char *name) {
    size_t have = strlen(buf), add = strlen(name);
    if (have + add + 4 > NAME_TEXT_CHARS) return;
    if (have) memcpy(buf + have, " , ", 3), have += 3;
    memcpy(buf + have, name, add + 1);
}

/* Adds the names of one lexicon (`name<TAB>id` lines; hp: the id is the last
 * part of a PURL) to the nodes it names. */
static int read_lexicon(PgrCorpus *c, const char *path, int hp, char **text) {
    char *data = file_read_all(path, NULL);
    if (!data) return -1;
    long lineno = 0;
    for (char *next = data, *line; (line = next) != NULL;) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl) *nl = '\0';
        lineno++;
        if (!line[0]) continue;
        char *tab = strchr(line, '\t');
        if (!tab) {
            free(data);
            return error_set("%s: line %ld: expected name<TAB>%s", path, lineno, hp ? "HPO URL" : "NCBI gene id");
        }
        *tab = '\0';
        char id[96];
        if (hp) {
            const char *last = strrchr(tab + 1, '/');
            char canon[64];
            if (pgr_hpo_canonical(last ? last + 1 : tab + 1, canon, sizeof canon) < 0) continue; /* non-HPO term */
            snprintf(id, sizeof id, "%s", canon);
        } else {
            snprintf(id, sizeof id, "NCBIGene:%s", tab + 1);
        }
        int64_t k = pgr_graph_find(&c->graph, id);
        if (k >= 0) append_name(text[k], line);
    }
    free(data);
    return 0;
}

/* Word pieces of every node's name text: lexicon names, else the name the
 * graph file gave, else the first mention of the node in a row, else its id. */
static int build_node_tokens(PgrCorpus *c) {
    int64_t n = c->graph.n_nodes;
    char **text = malloc((size_t)n * sizeof *text);
    CHECK(text, "out of memory");
    for (int64_t k = 0; k < n; k++) {
        text[k] = calloc(NAME_TEXT_CHARS + 1, 1);
        CHECK(text[k], "out of memory");
    }
    char path[1024];
    int rc = 0;
    snprintf(path, sizeof path, "%s/genes_links.tsv", c->opt.dir);
    if (file_exists(path)) rc = read_lexicon(c, path, 0, text);
    snprintf(path, sizeof path, "%s/hp_links.tsv", c->opt.dir);
    if (rc == 0 && file_exists(path)) rc = read_lexicon(c, path, 1, text);
    c->n_nodes_named = 0;
    for (int64_t k = 0; k < n; k++) c->n_nodes_named += text[k][0] != 0 || c->graph.names[k][0] != 0;
    const PgrTable *tables[3] = {&c->train, &c->extra, &c->test};
    for (int t = 0; t < 3; t++)
        for (int64_t i = 0; i < tables[t]->n; i++) {
            const PgrRow *r = &tables[t]->rows[i];
            int64_t g = pgr_graph_gene_node(&c->graph, r), p = pgr_graph_phen_node(&c->graph, r);
            if (!text[g][0] && !c->graph.names[g][0]) append_name(text[g], r->gene);
            if (!text[p][0] && !c->graph.names[p][0]) append_name(text[p], r->phenotype);
        }
    int L = c->opt.name_len;
    c->node_tokens = malloc((size_t)(n * L) * sizeof *c->node_tokens);
    c->node_token_count = malloc((size_t)n * sizeof *c->node_token_count);
    CHECK(c->node_tokens && c->node_token_count, "out of memory");
    int32_t pad = tokenizer_special(c->tok).pad, unk = tokenizer_special(c->tok).unk;
    for (int64_t k = 0; k < n; k++) {
        const char *src = text[k][0] ? text[k] : c->graph.names[k][0] ? c->graph.names[k] : c->graph.ids.keys[k];
        int32_t *row = c->node_tokens + k * L;
        int64_t got = tokenizer_tokenize(c->tok, src, row, L);
        if (got > L) got = L;
        if (got == 0) row[got++] = unk;
        for (int64_t j = got; j < L; j++) row[j] = pad;
        c->node_token_count[k] = (int32_t)got;
        free(text[k]);
    }
    free(text);
    return rc;
}

/* Samples of the rows of `t` whose index passes `keep` (NULL: all). */
static void build_samples(PgrCorpus *c, const PgrTable *t, const unsigned char *keep, unsigned char want,
                          PgrSamples *s) {
    int64_t n = 0;
    for (int64_t i = 0; i < t->n; i++) n += !keep || keep[i] == want;
    int L = c->opt.max_len;
    s->n = n;
    s->row = malloc((size_t)(n ? n : 1) * sizeof *s->row);
    s->u = malloc((size_t)(n ? n : 1) * sizeof *s->u);
    s->v = malloc((size_t)(n ? n : 1) * sizeof *s->v);
    s->label = malloc((size_t)(n ? n : 1) * sizeof *s->label);
    s->ids = malloc((size_t)(n ? n * L : 1) * sizeof *s->ids);
    s->mask = malloc((size_t)(n ? n * L : 1) * sizeof *s->mask);
    s->graph = calloc((size_t)(n ? n : 1), sizeof *s->graph);
    s->key = malloc((size_t)(n ? n : 1) * sizeof *s->key);
    CHECK(s->row && s->u && s->v && s->label && s->ids && s->mask && s->graph && s->key, "out of memory");
    int64_t j = 0;
    for (int64_t i = 0; i < t->n; i++) {
        if (keep && keep[i] != want) continue;
        const PgrRow *r = &t->rows[i];
        s->row[j] = r;
        s->u[j] = (int32_t)pgr_graph_gene_node(&c->graph, r);
        s->v[j] = (int32_t)pgr_graph_phen_node(&c->graph, r);
        s->label[j] = r->label;
        s->key[j] = pgr_row_key(r);
        char *marked = pgr_mark_mentions(r);
        tokenizer_encode(c->tok, marked, L, s->ids + j * L, s->mask + j * L);
        free(marked);
        pgr_subgraph_extract(&c->graph, s->u[j], s->v[j], &c->opt.sub, &s->graph[j]);
        j++;
    }
}

static void samples_free(PgrSamples *s) {
    for (int64_t i = 0; i < s->n; i++) {
        pgr_subgraph_free(&s->graph[i]);
        free(s->key[i]);
    }
    free(s->key);
    free(s->graph);
    free(s->row);
    free(s->u);
    free(s->v);
    free(s->label);
    free(s->ids);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

/* 1 for the train.tsv rows whose sentence falls in the validation split. */
static unsigned char *validation_rows(const PgrTable *t, int percent, uint64_t seed) {
    KeyIndex sentences;
    keyindex_init(&sentences);
    int64_t *sid = malloc((size_t)t->n * sizeof *sid);
    CHECK(sid, "out of memory");
    for (int64_t i = 0; i < t->n; i++) sid[i] = keyindex_add(&sentences, t->rows[i].sentence, NULL);
    int64_t ns = sentences.n, n_val = ns * percent / 100;
    int64_t *order = malloc((size_t)ns * sizeof *order);
    unsigned char *is_val_sentence = calloc((size_t)ns, 1), *rows = calloc((size_t)t->n, 1);
    CHECK(order && is_val_sentence && rows, "out of memory");
    for (int64_t k = 0; k < ns; k++) order[k] = k;
    Rng r = rng_make(seed, 0x7667);
    rng_shuffle_i64(&r, order, ns);
    for (int64_t k = 0; k < n_val; k++) is_val_sentence[order[k]] = 1;
    for (int64_t i = 0; i < t->n; i++) rows[i] = is_val_sentence[sid[i]];
    free(order);
    free(is_val_sentence);
    free(sid);
    keyindex_free(&sentences);
    return rows;
}

/* 1 for the test rows whose (gene, phenotype) pair no row of D (the
 * training split) has, 0 for the others, counted in *n_seen. */
static unsigned char *unseen_pair_rows(const PgrCorpus *c, const unsigned char *is_val, int64_t *n_seen) {
    KeyIndex pairs;
    keyindex_init(&pairs);
    char key[48];
    for (int64_t i = 0; i < c->train.n; i++) {
        if (is_val[i]) continue;
        const PgrRow *r = &c->train.rows[i];
        snprintf(key, sizeof key, "%lld,%lld", (long long)pgr_graph_gene_node(&c->graph, r),
                 (long long)pgr_graph_phen_node(&c->graph, r));
        keyindex_add(&pairs, key, NULL);
    }
    unsigned char *unseen = malloc((size_t)(c->test.n ? c->test.n : 1));
    CHECK(unseen, "out of memory");
    *n_seen = 0;
    for (int64_t i = 0; i < c->test.n; i++) {
        const PgrRow *r = &c->test.rows[i];
        snprintf(key, sizeof key, "%lld,%lld", (long long)pgr_graph_gene_node(&c->graph, r),
                 (long long)pgr_graph_phen_node(&c->graph, r));
        unseen[i] = keyindex_find(&pairs, key) < 0;
        *n_seen += !unseen[i];
    }
    keyindex_free(&pairs);
    return unseen;
}

int pgr_corpus_load(PgrCorpus *c, const PgrCorpusOptions *opt) {
    memset(c, 0, sizeof *c);
    c->opt = *opt;
    pgr_graph_init(&c->graph);
    if (opt->max_len < 8 || opt->name_len < 1 || opt->val_percent < 0 || opt->val_percent > 50)
        return error_set("pgr corpus: max_len %d (>= 8), name_len %d (>= 1), val_percent %d (0..50)", opt->max_len,
                         opt->name_len, opt->val_percent);
    char path[1024];
    const char *files[3] = {"train.tsv", "train_2019.tsv", "test.tsv"};
    PgrTable *tables[3] = {&c->train, &c->extra, &c->test};
    for (int t = 0; t < 3; t++) {
        snprintf(path, sizeof path, "%s/%s", opt->dir, files[t]);
        if (t == 1 && !file_exists(path)) continue; /* the 2019 release is optional */
        if (pgr_read_tsv(path, tables[t]) < 0) return -1;
        pgr_graph_add_row_nodes(&c->graph, tables[t]);
    }
    PgrEdgeBuffer edges = {0};
    if (opt->graph_file) {
        if (pgr_graph_read_annotations(&c->graph, opt->graph_file, &edges) < 0) {
            free(edges.src);
            free(edges.dst);
            return -1;
        }
    } else {
        for (int t = 0; t < 3; t++) pgr_graph_add_row_edges(&c->graph, tables[t], &edges);
    }
    pgr_graph_finalize(&c->graph, &edges);
    snprintf(path, sizeof path, "%s/vocab.txt", opt->dir);
    if (!opt->vocab_file && !file_exists(path))
        return error_set("%s: no WordPiece vocabulary; learn one from the sentences with `bin/tokenize vocab build "
                         "--corpus SENTENCES --size 8000 --out %s` (scripts/pgr_ship_corpus.sh does it for the "
                         "shipped corpus)", path, path);
    c->tok = tokenizer_load(opt->vocab_file ? opt->vocab_file : path);
    if (!c->tok) return -1;
    if (build_node_tokens(c) < 0) return -1;
    unsigned char *val = validation_rows(&c->train, opt->val_percent, opt->split_seed);
    build_samples(c, &c->train, val, 0, &c->split[PGR_SPLIT_TRAIN]);
    build_samples(c, &c->train, val, 1, &c->split[PGR_SPLIT_VAL]);
    unsigned char *unseen = unseen_pair_rows(c, val, &c->n_test_seen_pairs);
    build_samples(c, &c->test, opt->test_all_rows ? NULL : unseen, 1, &c->split[PGR_SPLIT_TEST]);
    free(unseen);
    free(val);
    return 0;
}

int pgr_corpus_fingerprint(const PgrCorpus *c, uint64_t *h) {
    const PgrCorpusOptions *o = &c->opt;
    static const char *const files[] = {"train.tsv", "train_2019.tsv", "test.tsv", "genes_links.tsv", "hp_links.tsv"};
    char path[1024];
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", o->dir, files[k]);
        *h = fnv1a_str(*h, files[k]); /* an absent optional file differs from an empty one */
        if (file_exists(path) && file_fnv1a(h, path) < 0) return -1;
    }
    snprintf(path, sizeof path, "%s/vocab.txt", o->dir);
    if (file_fnv1a(h, o->vocab_file ? o->vocab_file : path) < 0) return -1;
    if (o->graph_file && file_fnv1a(h, o->graph_file) < 0) return -1;
    const int64_t opts[] = {o->max_len, o->name_len, o->val_percent, (int64_t)o->split_seed,
                            o->sub.max_nodes, o->sub.keep_target_edge, (int64_t)o->sub.seed, o->graph_file != NULL};
    *h = fnv1a_bytes(*h, opts, sizeof opts);
    return 0;
}

void pgr_corpus_free(PgrCorpus *c) {
    for (int s = 0; s < PGR_N_SPLITS; s++) samples_free(&c->split[s]);
    free(c->node_tokens);
    free(c->node_token_count);
    if (c->tok) tokenizer_free(c->tok);
    pgr_graph_free(&c->graph);
    pgr_table_free(&c->train);
    pgr_table_free(&c->test);
    pgr_table_free(&c->extra);
    memset(c, 0, sizeof *c);
}
