#include "data/synth_pgr.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "data/wordpiece_build.h"

#define PGR_STREAM_GRAPH (5ull << 40)
#define PGR_STREAM_NOISE (6ull << 40)
#define PGR_STREAM_TRAIN (7ull << 40)
#define PGR_STREAM_TEST (8ull << 40)
#define HUB_HPO 2664 /* HP:0002664 Neoplasm, the hub of the real corpus (§1.5) */

SynthPgrOptions synth_pgr_defaults(void) {
    return (SynthPgrOptions){.seed = 42, .n_genes = 1645, .n_phen = 292, .n_modules = 20, .n_rows_train = 4083,
                             .n_rows_test = 219, .pos_rate = 0.35, .hub_share = 0.45, .kb_density_in = 0.08,
                             .kb_density_out = 0.002, .kb_drift = 0.13, .label_noise = 0.13, .text_signal = 0.6,
                             .vocab_size = 1000};
}

SynthPgrOptions synth_pgr_tiny(void) {
    SynthPgrOptions o = synth_pgr_defaults();
    o.n_genes = 120;
    o.n_phen = 40;
    o.n_modules = 4;
    o.n_rows_train = 300;
    o.n_rows_test = 40;
    o.kb_density_in = 0.15;
    o.kb_density_out = 0.01;
    o.vocab_size = 600;
    return o;
}

static const char *const nouns[16] = {"ataxia",     "cardiomyopathy", "deafness",  "epilepsy",  "hypotonia", "microcephaly",
                                      "myopathy",   "neuropathy",     "obesity",   "retinopathy", "scoliosis", "seizures",
                                      "dysplasia", "anemia",         "cataract", "nephropathy"};
static const char *const adjectives[4] = {"severe", "progressive", "congenital", "early-onset"};
static const char *const hub_names[3] = {"tumor", "cancer", "neoplasm"};

typedef struct {
    const SynthPgrOptions *o;
    uint8_t *label_kb, *graph_kb; /* [n_genes * n_phen] */
    int *pheno_of_gene;           /* CSR of label-KB phenotypes per gene */
    int *pheno_start;
    double *zipf_cdf;             /* over phenotypes 1..n_phen-1 */
} World;

static int gene_ncbi(int g) { return 100 + 7 * g; }
static int phen_hpo(int p) { return p == 0 ? HUB_HPO : 3000 + 13 * p; }

/* The silver label of a pair: KB membership flipped by a pure function of the
 * pair, so every row of one pair carries the same label (§1.4). */
static int silver(const World *w, int g, int p) {
    int64_t k = (int64_t)g * w->o->n_phen + p;
    int flip = philox_uniform(w->o->seed, PGR_STREAM_NOISE, (uint64_t)k) < w->o->label_noise;
    return w->label_kb[k] ^ flip;
}

static void world_build(World *w, const SynthPgrOptions *o) {
    memset(w, 0, sizeof *w);
    w->o = o;
    int64_t np = (int64_t)o->n_genes * o->n_phen;
    w->label_kb = calloc((size_t)np, 1);
    w->graph_kb = calloc((size_t)np, 1);
    int *gm = malloc((size_t)o->n_genes * sizeof(int)), *pm = malloc((size_t)o->n_phen * sizeof(int));
    w->pheno_start = calloc((size_t)o->n_genes + 1, sizeof(int));
    w->zipf_cdf = malloc((size_t)o->n_phen * sizeof(double));
    CHECK(w->label_kb && w->graph_kb && gm && pm && w->pheno_start && w->zipf_cdf, "out of memory");
    Rng r = rng_make(o->seed, PGR_STREAM_GRAPH);
    for (int g = 0; g < o->n_genes; g++) gm[g] = (int)rng_below(&r, (uint64_t)o->n_modules);
    for (int p = 0; p < o->n_phen; p++) pm[p] = (int)rng_below(&r, (uint64_t)o->n_modules);
    int64_t n_edges = 0;
    for (int g = 0; g < o->n_genes; g++) {
        for (int p = 0; p < o->n_phen; p++) {
            double d = p == 0 ? 0.3 : gm[g] == pm[p] ? o->kb_density_in : o->kb_density_out;
            uint8_t e = rng_uniform(&r) < d;
            w->label_kb[(int64_t)g * o->n_phen + p] = e;
            w->graph_kb[(int64_t)g * o->n_phen + p] = e;
            n_edges += e;
            w->pheno_start[g + 1] += e;
        }
    }
    /* §4.4 step 3: the graph KB is newer than the label KB, with extra edges. */
    int64_t drift = (int64_t)llround(o->kb_drift * (double)n_edges);
    for (int64_t k = 0; k < drift && n_edges + k < np; k++) {
        int64_t at;
        do at = (int64_t)rng_below(&r, (uint64_t)np);
        while (w->graph_kb[at]);
        w->graph_kb[at] = 1;
    }
    for (int g = 0; g < o->n_genes; g++) w->pheno_start[g + 1] += w->pheno_start[g];
    w->pheno_of_gene = malloc((size_t)n_edges * sizeof(int) + 1);
    CHECK(w->pheno_of_gene, "out of memory");
    for (int g = 0, k = 0; g < o->n_genes; g++)
        for (int p = 0; p < o->n_phen; p++)
            if (w->label_kb[(int64_t)g * o->n_phen + p]) w->pheno_of_gene[k++] = p;
    double sum = 0;
    for (int p = 1; p < o->n_phen; p++) sum += pow((double)p, -1.1);
    double acc = 0;
    for (int p = 1; p < o->n_phen; p++) w->zipf_cdf[p] = (acc += pow((double)p, -1.1) / sum);
    free(gm);
    free(pm);
}

static void world_free(World *w) {
    free(w->label_kb);
    free(w->graph_kb);
    free(w->pheno_of_gene);
    free(w->pheno_start);
    free(w->zipf_cdf);
}

static int pick_phen(const World *w, Rng *r, const int *genes, int kg) {
    const SynthPgrOptions *o = w->o;
    if (rng_uniform(r) < o->pos_rate) {
        int g = genes[rng_below(r, (uint64_t)kg)];
        int n = w->pheno_start[g + 1] - w->pheno_start[g];
        if (n) return w->pheno_of_gene[w->pheno_start[g] + (int)rng_below(r, (uint64_t)n)];
    }
    if (rng_uniform(r) < o->hub_share) return 0;
    double u = rng_uniform(r);
    for (int p = 1; p < o->n_phen; p++)
        if (u < w->zipf_cdf[p]) return p;
    return o->n_phen - 1;
}

typedef struct {
    char text[1024];
    size_t len;
} Sentence;

static void add(Sentence *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(Sentence *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->text + s->len, sizeof s->text - s->len, fmt, ap);
    va_end(ap);
    if (n > 0) s->len += (size_t)n;
    CHECK(s->len < sizeof s->text, "synthetic PGR sentence too long");
}

/* Appends a mention and records its offsets (0-based, end exclusive, §1.2). */
static void mention(Sentence *s, const char *m, int *start, int *end) {
    *start = (int)s->len;
    add(s, "%s", m);
    *end = (int)s->len;
}

static void phen_name(Rng *r, int p, char *buf, size_t size) {
    if (p == 0) {
        snprintf(buf, size, "%s", hub_names[rng_below(r, 3)]);
        return;
    }
    const char *adj = rng_below(r, 3) == 0 ? adjectives[p % 4] : NULL;
    const char *noun = nouns[p % 16];
    if (p >= 16) snprintf(buf, size, "%s%s%s type %d", adj ? adj : "", adj ? " " : "", noun, p / 16);
    else snprintf(buf, size, "%s%s%s", adj ? adj : "", adj ? " " : "", noun);
}

typedef struct {
    char pmid[16];
    char sentence[1024];
    char gene[32], phen[64];
    int g, p, gs, ge, ps, pe;
} Row;

/* One sentence frame with kg genes x kp phenotypes, all pairs as rows (§4.4 step 4-5). */
static int frame(const World *w, Rng *r, const char *pmid, int kg, int kp, Row *rows) {
    const SynthPgrOptions *o = w->o;
    int genes[5], phens[5];
    for (int i = 0; i < kg; i++) {
        int dup;
        do {
            genes[i] = (int)rng_below(r, (uint64_t)o->n_genes);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= genes[j] == genes[i];
        } while (dup);
    }
    for (int i = 0; i < kp; i++) {
        int dup, tries = 0;
        do {
            phens[i] = tries++ < 20 ? pick_phen(w, r, genes, kg) : (int)rng_below(r, (uint64_t)o->n_phen);
            dup = 0;
            for (int j = 0; j < i; j++) dup |= phens[j] == phens[i];
        } while (dup);
    }
    char gname[5][32], pname[5][64];
    for (int i = 0; i < kg; i++) snprintf(gname[i], sizeof gname[i], "GENE%04d", genes[i]);
    for (int i = 0; i < kp; i++) phen_name(r, phens[i], pname[i], sizeof pname[i]);
    Sentence s = {.len = 0};
    s.text[0] = '\0';
    int gs[5], ge[5], ps[5], pe[5];
    if (rng_uniform(r) < 0.03) add(&s, "In a cohort of n &lt; 50, "); /* offsets count the escape as written */
    if (kg == 1 && kp == 1) {
        int known = w->label_kb[(int64_t)genes[0] * o->n_phen + phens[0]];
        int signal = rng_uniform(r) < o->text_signal;
        int t = (int)rng_below(r, 3);
        static const char *const rel[3][2] = {{"mutations in ", " cause "},
                                              {"", " variants were identified in patients with "},
                                              {"loss of ", " leads to "}};
        static const char *const co[3][2] = {{"", " and "}, {"expression of ", " was unchanged in "},
                                             {"no association between ", " and "}};
        static const char *const neutral[3][2] = {{"we studied ", " in a cohort with "},
                                                  {"", " was sequenced in individuals with "},
                                                  {"the role of ", " in "}};
        const char *const(*tpl)[2] = !signal ? neutral : known ? rel : co;
        add(&s, "%s", tpl[t][0]);
        mention(&s, gname[0], &gs[0], &ge[0]);
        add(&s, "%s", tpl[t][1]);
        mention(&s, pname[0], &ps[0], &pe[0]);
        add(&s, "%s", signal && !known && t == 0 ? " were measured independently." : ".");
    } else {
        for (int i = 0; i < kg; i++) {
            if (i) add(&s, i == kg - 1 ? " and " : ", ");
            mention(&s, gname[i], &gs[i], &ge[i]);
        }
        add(&s, kg > 1 ? " were analysed in patients with " : " was analysed in patients with ");
        for (int i = 0; i < kp; i++) {
            if (i) add(&s, i == kp - 1 ? " and " : ", ");
            mention(&s, pname[i], &ps[i], &pe[i]);
        }
        add(&s, ".");
    }
    s.text[0] = (char)(s.text[0] >= 'a' && s.text[0] <= 'z' ? s.text[0] - 32 : s.text[0]);
    int n = 0;
    for (int i = 0; i < kg; i++) {
        for (int j = 0; j < kp; j++, n++) {
            Row *row = &rows[n];
            snprintf(row->pmid, sizeof row->pmid, "%s", pmid);
            memcpy(row->sentence, s.text, s.len + 1);
            memcpy(row->gene, gname[i], sizeof row->gene);
            memcpy(row->phen, pname[j], sizeof row->phen);
            row->g = genes[i];
            row->p = phens[j];
            row->gs = gs[i];
            row->ge = ge[i];
            row->ps = ps[j];
            row->pe = pe[j];
        }
    }
    return n;
}

/* Rows-per-sentence distribution of the real corpus (§4.4): 1:.57 2:.25 3:.07 4:.06 5+:.05. */
static void frame_shape(Rng *r, int remaining, int *kg, int *kp) {
    double u = rng_uniform(r);
    int two = (int)rng_below(r, 2);
    if (u < 0.57) *kg = 1, *kp = 1;
    else if (u < 0.82) *kg = two ? 2 : 1, *kp = two ? 1 : 2;
    else if (u < 0.89) *kg = two ? 3 : 1, *kp = two ? 1 : 3;
    else if (u < 0.95) *kg = 2, *kp = 2;
    else *kg = two ? 2 : 3, *kp = two ? 3 : 2;
    if (*kg * *kp > remaining) *kg = 1, *kp = remaining < 5 ? remaining : 4;
}

static int make_rows(const World *w, uint64_t stream, int n_rows, Row *rows) {
    Rng r = rng_make(w->o->seed, stream);
    int n = 0, frames_left = 0, pmid_no = 0;
    char pmid[16] = "";
    while (n < n_rows) {
        if (frames_left == 0) { /* §4.4 step 6: 1-5 frames per abstract */
            frames_left = 1 + (int)rng_below(&r, 5);
            snprintf(pmid, sizeof pmid, "%d", (int)(20000000 + (stream >> 40) * 1000000 + 37 * (uint64_t)pmid_no++));
        }
        int kg, kp;
        frame_shape(&r, n_rows - n, &kg, &kp);
        n += frame(w, &r, pmid, kg, kp, rows + n);
        frames_left--;
    }
    return n;
}

static void write_row(FILE *f, const Row *row, const char *label, const char *confirmation) {
    fprintf(f, "%s\t%s\t%s\t%s\t%d\tHP_%07d\t%d\t%d\t%d\t%d\t%s%s%s\n", row->pmid, row->sentence, row->gene, row->phen,
            gene_ncbi(row->g), phen_hpo(row->p), row->gs, row->ge, row->ps, row->pe, label, confirmation ? "\t" : "",
            confirmation ? confirmation : "");
}

static const char *header =
    "FILE_ID\tSENTENCE\tGENE\tPHENOTYPE\tGENE_ID\tPHENOTYPE_ID\tGENE_START_POSITION\tGENE_END_POSITION\t"
    "PHENOTYPE_START_POSITION\tPHENOTYPE_END_POSITION\tRELATION";

/* vocab.txt from the training sentences and the mention markers the corpus
 * loader wraps around gene and phenotype (data/pgr_corpus.h), learned as
 * scripts/pgr_ship_corpus.sh learns the shipped corpus's (test rows left out). */
static int write_vocab(const Row *train, int n_train, int vocab_size, const char *out_dir) {
    const char **texts = malloc((size_t)(n_train + 1) * sizeof *texts);
    CHECK(texts, "out of memory");
    texts[0] = "@ $";
    for (int i = 0; i < n_train; i++) texts[i + 1] = train[i].sentence;
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
    int rc = wordpiece_build_vocab(texts, n_train + 1, vocab_size, path);
    free(texts);
    return rc;
}

int synth_pgr_write(const SynthPgrOptions *o, const char *out_dir) {
    if (o->n_genes < 2 || o->n_phen < 2 || o->n_modules < 1 || o->n_rows_train < 1 || o->n_rows_test < 1)
        return error_set("synthetic PGR world: sizes must be positive (genes %d, phenotypes %d, modules %d, rows %d/%d)",
                         o->n_genes, o->n_phen, o->n_modules, o->n_rows_train, o->n_rows_test);
    if (make_dirs(out_dir) < 0) return -1;
    World w;
    world_build(&w, o);
    Row *train = malloc((size_t)o->n_rows_train * sizeof *train);
    Row *test = malloc((size_t)o->n_rows_test * sizeof *test);
    CHECK(train && test, "out of memory");
    make_rows(&w, PGR_STREAM_TRAIN, o->n_rows_train, train);
    make_rows(&w, PGR_STREAM_TEST, o->n_rows_test, test);
    /* §4.4 step 7: ~85% of test rows repeat a train row, as the real test set leaks. */
    Rng r = rng_make(o->seed, PGR_STREAM_TEST + 1);
    for (int i = 0; i < o->n_rows_test; i++)
        if (rng_uniform(&r) < 0.85) test[i] = train[rng_below(&r, (uint64_t)o->n_rows_train)];
    char path[4200];
    AtomicFile f;
    int rc = -1;
    snprintf(path, sizeof path, "%s/train.tsv", out_dir);
    if (atomic_open(&f, path) < 0) goto done;
    fprintf(f.fp, "%s\n", header);
    for (int i = 0; i < o->n_rows_train; i++) write_row(f.fp, &train[i], silver(&w, train[i].g, train[i].p) ? "True" : "False", NULL);
    if (atomic_commit(&f) < 0) goto done;
    snprintf(path, sizeof path, "%s/test.tsv", out_dir);
    if (atomic_open(&f, path) < 0) goto done;
    fprintf(f.fp, "%s\tCONFIRMATION (CORRECT(C) | INCORRECT(I) | UNCERTAIN(U))\n", header);
    for (int i = 0; i < o->n_rows_test; i++) {
        int s = silver(&w, test[i].g, test[i].p), truth = w.label_kb[(int64_t)test[i].g * o->n_phen + test[i].p];
        /* §1.2: the test file mixes TRUE/True and FALSE/False. */
        const char *label = s ? (rng_below(&r, 2) ? "TRUE" : "True") : (rng_below(&r, 2) ? "FALSE" : "False");
        write_row(f.fp, &test[i], label, s == truth ? "C" : "I");
    }
    if (atomic_commit(&f) < 0) goto done;
    snprintf(path, sizeof path, "%s/kg_edges.tsv", out_dir);
    if (atomic_open(&f, path) < 0) goto done;
    fprintf(f.fp, "# synthetic gene-phenotype knowledge graph (label KB + drift), see data/synth_pgr.h\n");
    for (int g = 0; g < o->n_genes; g++)
        for (int p = 0; p < o->n_phen; p++)
            if (w.graph_kb[(int64_t)g * o->n_phen + p])
                fprintf(f.fp, "NCBIGene:%d\tHP:%07d\tgene_phenotype\n", gene_ncbi(g), phen_hpo(p));
    if (atomic_commit(&f) < 0) goto done;
    if (write_vocab(train, o->n_rows_train, o->vocab_size, out_dir) < 0) goto done;
    rc = 0;
done:
    if (rc < 0) error_prefix("writing the synthetic PGR world to %s", out_dir);
    free(train);
    free(test);
    world_free(&w);
    return rc;
}
