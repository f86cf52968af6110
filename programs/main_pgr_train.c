/* bin/pgr_train: the PGR graph-text task (models/task_pgr.h) on the shipped
 * corpus (data/pgr_corpus), on the CPU or a GPU, through the task interface
 * and the shared loops, until the run driver loads PGR data itself:
 *  1. trains the original model on all of D (unlearn/train_loop.h, the
 *     pgr-tiny recipe) or loads it (--load), prints the graph's statistics and
 *     its accuracy and F1 on the test, validation and unseen-pair rows beside
 *     the majority class;
 *  2. with --df-size k: deletes k training rows drawn with --seed and runs
 *     Retrain, FineTune, NegGrad, DtD, Erm-Ktp and MultiDelete (with the -F variants
 *     of FineTune, NegGrad and MultiDelete) from the same original, printing
 *     Dt (test accuracy and F1), Df (AUC of Df against 5 Dr subsets on the
 *     classifier's P(True), as the paper prints it: 50 = indistinguishable),
 *     Df vs unseen (the same against test rows) and each method's time
 *     (spec/unlearning_methods.md §6.1, §6.2, §6.5). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cli.h"
#include "core/clock.h"
#include "core/device.h"
#include "core/error.h"
#include "core/xalloc.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif
#include "data/deletion.h"
#include "eval/forget_metrics.h"
#include "models/task_pgr.h"
#include "unlearn/dtd.h"
#include "unlearn/ermktp.h"
#include "unlearn/finetune.h"
#include "unlearn/multidelete_loop.h"
#include "unlearn/neggrad.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

static void print_graph_stats(const PgrCorpus *c) {
    const PgrGraph *g = &c->graph;
    int64_t genes = 0, max_deg = 0, hub = 0;
    for (int64_t k = 0; k < g->n_nodes; k++) {
        genes += strncmp(g->ids.keys[k], "NCBIGene:", 9) == 0;
        if (pgr_graph_degree(g, k) > max_deg) max_deg = pgr_graph_degree(g, k), hub = k;
    }
    printf("graph: %lld nodes (%lld genes, %lld phenotypes; %lld named by a lexicon), %lld edges, "
           "max degree %lld (%s)\n",
           (long long)g->n_nodes, (long long)genes, (long long)(g->n_nodes - genes), (long long)c->n_nodes_named,
           (long long)g->n_edges, (long long)max_deg, g->ids.keys[hub]);
    static const char *names[PGR_N_SPLITS] = {"train", "val", "test"};
    for (int sp = 0; sp < PGR_N_SPLITS; sp++) {
        const PgrSamples *s = &c->split[sp];
        double nodes = 0, edges = 0;
        int64_t max_nodes = 0, pos = 0, cut = 0;
        for (int64_t i = 0; i < s->n; i++) {
            nodes += (double)s->graph[i].n_nodes;
            edges += (double)s->graph[i].n_edges;
            if (s->graph[i].n_nodes > max_nodes) max_nodes = s->graph[i].n_nodes;
            pos += s->label[i];
            cut += s->mask[i * c->opt.max_len + c->opt.max_len - 1] != 0;
        }
        printf("%-5s %5lld samples (%.1f%% True), subgraphs %.1f nodes %.1f edges on average (max %lld nodes), "
               "%lld texts cut at %d tokens\n",
               names[sp], (long long)s->n, s->n ? 100.0 * (double)pos / (double)s->n : 0.0,
               s->n ? nodes / (double)s->n : 0.0, s->n ? edges / (double)s->n : 0.0, (long long)max_nodes,
               (long long)cut, c->opt.max_len);
    }
}

/* P(True) of items of a split. */
static double *p_true(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n) {
    float *probs = xmalloc((size_t)(2 * (n ? n : 1)) * sizeof *probs);
    error_exit_if(t->item_probs(t, m, split, items, n, 64, probs));
    double *p = xmalloc((size_t)(n ? n : 1) * sizeof *p);
    for (int64_t i = 0; i < n; i++) p[i] = probs[2 * i + 1];
    free(probs);
    return p;
}

typedef struct {
    double accuracy, f1;
    int64_t n;
} Accuracy;

static Accuracy accuracy_of(const double *p, const PgrSamples *s, const int64_t *items, int64_t n) {
    int64_t tp = 0, fp = 0, fn = 0, right = 0;
    for (int64_t i = 0; i < n; i++) {
        int pred = p[i] > 0.5, y = s->label[items ? items[i] : i];
        right += pred == y;
        tp += pred && y;
        fp += pred && !y;
        fn += !pred && y;
    }
    Accuracy a = {.n = n};
    a.accuracy = n ? 100.0 * (double)right / (double)n : NAN;
    a.f1 = tp ? 100.0 * 2.0 * (double)tp / (double)(2 * tp + fp + fn) : 0.0;
    return a;
}

static double majority(const PgrSamples *s, const int64_t *items, int64_t n) {
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += s->label[items ? items[i] : i];
    return n ? 100.0 * (double)(pos > n - pos ? pos : n - pos) / (double)n : NAN;
}

static int64_t *iota(int64_t n) {
    int64_t *v = xmalloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = i;
    return v;
}

/* test.tsv shares 159 of its 219 pairs with train.tsv (spec §1.5) and a
 * label is a function of its pair (§1.4): the test rows whose pair no
 * training row has are the part of Dt a model cannot have memorised. */
static int64_t unseen_pair_rows(const PgrCorpus *c, int64_t *out) {
    const PgrSamples *train = &c->split[PGR_SPLIT_TRAIN], *test = &c->split[PGR_SPLIT_TEST];
    KeyIndex pairs;
    keyindex_init(&pairs);
    char key[32];
    for (int64_t i = 0; i < train->n; i++) {
        snprintf(key, sizeof key, "%d,%d", train->u[i], train->v[i]);
        keyindex_add(&pairs, key, NULL);
    }
    int64_t n = 0;
    for (int64_t i = 0; i < test->n; i++) {
        snprintf(key, sizeof key, "%d,%d", test->u[i], test->v[i]);
        if (keyindex_find(&pairs, key) < 0) out[n++] = i;
    }
    keyindex_free(&pairs);
    return n;
}

static void report_original(const Task *t, TaskModel *m, const PgrCorpus *c) {
    const PgrSamples *test = &c->split[PGR_SPLIT_TEST], *val = &c->split[PGR_SPLIT_VAL];
    int64_t *items = iota(test->n > val->n ? test->n : val->n);
    double *pt = p_true(t, m, TASK_SPLIT_TEST, items, test->n);
    Accuracy at = accuracy_of(pt, test, NULL, test->n);
    printf("\ntest (%lld rows):       accuracy %.2f F1 %.2f, majority class %.2f; paper Retrain 67.5\n",
           (long long)test->n, at.accuracy, at.f1, majority(test, NULL, test->n));
    if (val->n) {
        double *pv = p_true(t, m, TASK_SPLIT_VAL, items, val->n);
        Accuracy av = accuracy_of(pv, val, NULL, val->n);
        printf("validation (%lld rows): accuracy %.2f F1 %.2f, majority class %.2f\n", (long long)val->n,
               av.accuracy, av.f1, majority(val, NULL, val->n));
        free(pv);
    }
    int64_t *rows = xmalloc((size_t)(test->n ? test->n : 1) * sizeof *rows);
    int64_t n = unseen_pair_rows(c, rows);
    double *pu = xmalloc((size_t)(n ? n : 1) * sizeof *pu);
    for (int64_t i = 0; i < n; i++) pu[i] = pt[rows[i]];
    Accuracy au = accuracy_of(pu, test, rows, n);
    printf("test rows whose pair no training row has (%lld): accuracy %.2f, majority class %.2f\n", (long long)n,
           au.accuracy, majority(test, rows, n));
    free(pu);
    free(rows);
    free(pt);
    free(items);
}

typedef struct {
    const Task *t;
    const PgrCorpus *c;
    const char *methods; /* comma-separated rows to run, or "all" */
    DeletionSplit split;
    DeletionEvalSets sets;
    int64_t *unseen, n_unseen;
    int64_t *test_items;
} Comparison;

/* Whether the comparison runs the row `name` (--methods). */
static int wanted(const Comparison *cmp, const char *name) {
    if (!strcmp(cmp->methods, "all")) return 1;
    size_t n = strlen(name);
    for (const char *p = cmp->methods; (p = strstr(p, name)) != NULL; p += n)
        if ((p == cmp->methods || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* One row of the comparison table. */
static void compare_row(Comparison *cmp, TaskModel *m, const char *name, double seconds) {
    const Task *t = cmp->t;
    const PgrSamples *test = &cmp->c->split[PGR_SPLIT_TEST];
    double *pt = p_true(t, m, TASK_SPLIT_TEST, cmp->test_items, test->n);
    Accuracy a = accuracy_of(pt, test, NULL, test->n);
    int64_t n_df = cmp->sets.n_df;
    double *df = p_true(t, m, TASK_SPLIT_TRAIN, cmp->sets.df, n_df);
    double *dr = p_true(t, m, TASK_SPLIT_TRAIN, cmp->sets.dr_subsets, n_df * cmp->sets.n_subsets);
    double *unseen = xmalloc((size_t)cmp->n_unseen * sizeof *unseen);
    for (int64_t i = 0; i < cmp->n_unseen; i++) unseen[i] = pt[cmp->unseen[i]];
    ForgetMetrics f = {0};
    int64_t bad = 0;
    for (int64_t i = 0; i < n_df; i++) bad += !isfinite(df[i]);
    for (int64_t i = 0; i < n_df * cmp->sets.n_subsets; i++) bad += !isfinite(dr[i]);
    if (bad) /* a destroyed model (DtD's noise) overflows its logits: no AUC over NaN scores */
        f.df_reported = f.df_vs_unseen = NAN;
    else
        forget_metrics_from_scores(df, n_df, dr, cmp->sets.n_subsets, unseen, cmp->n_unseen, &f);
    char time_text[32] = "-";
    if (seconds >= 0) snprintf(time_text, sizeof time_text, "%.1fs", seconds);
    printf("%-16s %7.2f %7.2f %8.2f %13.2f %9s", name, a.accuracy, a.f1, f.df_reported, f.df_vs_unseen, time_text);
    if (bad) printf("  (%lld non-finite P(True) on Df and Dr)", (long long)bad);
    printf("\n");
    fflush(stdout);
    free(pt);
    free(df);
    free(dr);
    free(unseen);
}

static void fresh_copy(const Task *t, TaskModel *dst, const TaskModel *original, uint64_t seed, int fusion_only) {
    error_exit_if(t->model_init(t, dst, seed));
    t->model_to_device(t, dst, original->params->device);
    task_model_copy(dst, original);
    if (fusion_only) error_exit_if(t->model_set_fusion_only(t, dst));
}

static void run_comparison(const Task *t, const PgrCorpus *c, TaskModel *original, const Recipe *r, int df_size,
                           uint64_t seed, const char *methods) {
    Comparison cmp = {.t = t, .c = c, .methods = methods};
    const PgrSamples *train = &c->split[PGR_SPLIT_TRAIN], *test = &c->split[PGR_SPLIT_TEST];
    /* Df: rows drawn uniformly without replacement (spec/pgr_graph_text.md §4.2 step 5); the unit is a
     * row, the association of one pair with one sentence. */
    if (df_size < 1 || (int64_t)df_size * (DELETION_EVAL_SUBSETS + 1) > train->n)
        fatal("--df-size %d: needs 1 <= k and 6k <= %lld training rows (Df and 5 Dr subsets of k)", df_size,
              (long long)train->n);
    cmp.split.n_df = forget_sample_unseen(train->n, df_size, seed ^ 0xdf, cmp.split.df = xmalloc((size_t)df_size * sizeof(int64_t)));
    cmp.split.dr = xmalloc((size_t)train->n * sizeof *cmp.split.dr);
    for (int64_t i = 0, k = 0; i < train->n; i++) {
        if (k < cmp.split.n_df && cmp.split.df[k] == i) k++;
        else cmp.split.dr[cmp.split.n_dr++] = i;
    }
    cmp.split.n_units = cmp.split.n_df;
    error_exit_if(deletion_eval_sets(&cmp.split, DELETION_EVAL_SUBSETS, seed, &cmp.sets));
    cmp.test_items = iota(test->n);
    cmp.unseen = xmalloc((size_t)cmp.split.n_df * sizeof *cmp.unseen);
    cmp.n_unseen = forget_sample_unseen(test->n, cmp.split.n_df, seed ^ 0x7e57, cmp.unseen);
    printf("\nDf: %lld rows, Dr: %lld rows; Df vs unseen against %lld test rows\n", (long long)cmp.split.n_df,
           (long long)cmp.split.n_dr, (long long)cmp.n_unseen);
    printf("%-16s %7s %7s %8s %13s %9s\n", "model", "Dt acc", "Dt F1", "Df", "Df-vs-unseen", "time");
    compare_row(&cmp, original, "original", -1);

    TaskModel m;
    TrainStats ts;
    double t0, retrain_s = NAN;
    if (wanted(&cmp, "retrain")) {
        t0 = clock_seconds();
        error_exit_if(t->model_init(t, &m, seed));
        t->model_to_device(t, &m, original->params->device);
        error_exit_if(train_task_model(t, &m, cmp.split.dr, cmp.split.n_dr, r, seed, &ts));
        retrain_s = clock_seconds() - t0;
        compare_row(&cmp, &m, "retrain", retrain_s);
        t->model_free(t, &m);
    }

    for (int f = 0; f < 2; f++) {
        if (wanted(&cmp, f ? "finetune-F" : "finetune")) {
            fresh_copy(t, &m, original, seed, f);
            FineTuneRun fr = finetune_run_from_recipe(r, r->finetune_lr_mult, seed);
            t0 = clock_seconds();
            error_exit_if(finetune_unlearn(t, &m, cmp.split.dr, cmp.split.n_dr, &fr, &ts));
            compare_row(&cmp, &m, f ? "finetune-F" : "finetune", clock_seconds() - t0);
            t->model_free(t, &m);
        }
        if (wanted(&cmp, f ? "neggrad-F" : "neggrad")) {
            fresh_copy(t, &m, original, seed, f);
            NegGradRun nr = neggrad_run_from_recipe(r, t, &m, seed);
            NegGradStats ns;
            t0 = clock_seconds();
            error_exit_if(neggrad_unlearn(t, &m, cmp.split.df, cmp.split.n_df, &nr, &ns));
            compare_row(&cmp, &m, f ? "neggrad-F" : "neggrad", clock_seconds() - t0);
            t->model_free(t, &m);
        }
    }

    if (wanted(&cmp, "dtd")) {
        fresh_copy(t, &m, original, seed, 0);
        DtdSigmaInputs in = dtd_sigma_inputs(train->n, r->dtd_T, r->weight_decay, r->dtd_epsilon,
                                             1.0 / ((double)train->n * (double)train->n));
        t0 = clock_seconds();
        dtd_add_noise(m.params, dtd_sigma(&in), seed);
        compare_row(&cmp, &m, "dtd", clock_seconds() - t0);
        t->model_free(t, &m);
    }

    if (wanted(&cmp, "ermktp")) { /* (a) an ERM-masked teacher on D from scratch, (b) KTP into a fresh student on Dr */
        ErmKtpOptions o = {.erm_epochs = r->ermktp_erm_epochs, .mask_period = r->ermktp_mask_period,
                           .mask_epoch_min = r->ermktp_mask_epoch_min, .mask_lr = r->ermktp_mask_lr,
                           .mask_momentum = 0.9, .mask_weight_decay = 5e-4, .reg = r->ermktp_reg,
                           .ktp_epochs = r->ermktp_ktp_epochs, .ktp_lr = r->ermktp_ktp_lr, .prohibit_threshold = 0,
                           .seed = seed};
        TaskModel teacher;
        error_exit_if(t->model_init(t, &teacher, seed));
        t->model_to_device(t, &teacher, original->params->device);
        ErmMask mask; /* one class per row (its group), one channel per u_G dimension */
        erm_mask_init(&mask, (int)train->n, 2 * task_pgr_model(original)->cfg.gcn_hidden);
        erm_mask_to_device(&mask, original->params->device);
        int64_t *all = iota(train->n);
        ErmStats es;
        error_exit_if(ermktp_train_erm(t, &teacher, &mask, all, train->n, r, &o, &es));
        free(all);
        error_exit_if(t->model_init(t, &m, seed));
        t->model_to_device(t, &m, original->params->device);
        KtpStats ks;
        error_exit_if(ermktp_transfer(t, &m, &teacher, &mask, cmp.split.df, cmp.split.n_df, cmp.split.dr,
                                      cmp.split.n_dr, r, &o, &ks));
        compare_row(&cmp, &m, "ermktp", ks.seconds);
        printf("  (ERM teacher %.1f s; KTP: %d of %d channels prohibited)\n", es.seconds, ks.prohibited,
               mask.channels);
        erm_mask_free(&mask);
        t->model_free(t, &teacher);
        t->model_free(t, &m);
    }

    for (int f = 0; f < 2; f++) {
        if (!wanted(&cmp, f ? "multidelete-F" : "multidelete")) continue;
        fresh_copy(t, &m, original, seed, f);
        MultiDeleteRun run = {.lr = r->unlearn_lr, .min_lr = r->min_lr, .epochs = r->unlearn_epochs,
                              .batch_df = r->unlearn_batch_df, .augment = 0, .seed = seed,
                              .loss = multidelete_default_options(), .select = NULL};
        MultiDeleteStats ms;
        error_exit_if(multidelete_unlearn(t, &m, original, cmp.split.df, cmp.split.n_df, cmp.split.dr,
                                          cmp.split.n_dr, &run, &ms));
        compare_row(&cmp, &m, f ? "multidelete-F" : "multidelete", ms.seconds);
        printf("  (L_MD %.4f -> %.4f, L_MKR %.4f -> %.4f, L_UKR %.4f -> %.4f", ms.first_md, ms.last_md,
               ms.first_mkr, ms.last_mkr, ms.first_ukr, ms.last_ukr);
        if (!isnan(retrain_s)) printf("; %.2fx faster than retrain", retrain_s / ms.seconds);
        printf(")\n");
        t->model_free(t, &m);
    }
    free(cmp.test_items);
    free(cmp.unseen);
    deletion_eval_sets_free(&cmp.sets);
    deletion_split_free(&cmp.split);
}

int main(int argc, char **argv) {
    const char *data, *model_name, *node_features, *graph_file, *text_init, *text_init_prefix, *device_name, *out,
        *load, *methods;
    int keep_target_edge, max_nodes, val_percent, epochs, seed, df_size, unlearn_epochs;
    double lr, unlearn_lr;
    CliFlag flags[] = {
        CLI_FLAG_STRING("data", &data, "data/pgr_corpus", "PGR corpus directory (data/pgr_corpus.h)"),
        CLI_FLAG_STRING("model", &model_name, "pgr-tiny", "pgr-tiny or a config JSON path (with a pgr-tiny recipe)"),
        CLI_FLAG_CHOICE("node-features", &node_features, "config", "config|name_tokens|per_node",
                        "node features: the config's, name-piece embeddings, or one vector per node"),
        CLI_FLAG_STRING("graph", &graph_file, NULL,
                        "HPO genes_to_phenotype.txt or a typed edge list (default: the co-mention graph)"),
        CLI_FLAG_BOOL("keep-target-edge", &keep_target_edge, "false", "keep a sample's own pair edge (leaky)"),
        CLI_FLAG_INT("max-nodes", &max_nodes, "32", "cap on an enclosing subgraph's nodes (0: none)"),
        CLI_FLAG_INT("val-percent", &val_percent, "10", "train.tsv sentences held out (the validation split)"),
        CLI_FLAG_STRING("text-init", &text_init, NULL, "safetensors checkpoint for the BERT text encoder"),
        CLI_FLAG_STRING("text-init-prefix", &text_init_prefix, "bert.",
                        "name prefix of the BERT tensors in --text-init (Hugging Face: bert.)"),
        CLI_FLAG_STRING("load", &load, NULL, "the original model from this checkpoint instead of training it"),
        CLI_FLAG_INT("epochs", &epochs, "0", "training epochs (0: the recipe's)"),
        CLI_FLAG_FLOAT("lr", &lr, "0", "training learning rate (0: the recipe's)"),
        CLI_FLAG_INT("df-size", &df_size, "0", "delete this many training rows and compare the methods (0: none)"),
        CLI_FLAG_STRING("methods", &methods, "all",
                        "comparison rows, comma-separated: retrain, finetune, finetune-F, neggrad, neggrad-F, dtd, "
                        "ermktp, multidelete, multidelete-F (all: every one)"),
        CLI_FLAG_FLOAT("unlearn-lr", &unlearn_lr, "0", "MultiDelete's learning rate (0: the recipe's)"),
        CLI_FLAG_INT("unlearn-epochs", &unlearn_epochs, "0", "MultiDelete's epochs (0: the recipe's)"),
        CLI_FLAG_INT("seed", &seed, "42", "initialisation, data order, dropout, split, subgraphs and Df"),
        CLI_FLAG_CHOICE("device", &device_name, "cpu", "cpu|cuda", "where to run (fp32 on a GPU)"),
        CLI_FLAG_STRING("out", &out, NULL, "write the original model here (safetensors)"),
    };
    CliSpec spec = {"pgr_train",
                    "Trains the PGR graph-text model (GCN + BERT + fusion) through the task interface and reports "
                    "its accuracy; with --df-size, compares the unlearning methods on a deletion of training rows.",
                    flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    if (epochs < 0 || lr < 0 || df_size < 0 || unlearn_lr < 0 || unlearn_epochs < 0)
        fatal("command line: --epochs, --lr, --df-size, --unlearn-lr and --unlearn-epochs must be >= 0");
    Device device = DEVICE_CPU;
    if (strcmp(device_name, "cuda") == 0) {
#ifdef HAVE_CUDA
        char why[256];
        if (cuda_backend_init(why, sizeof why) != 0) fatal("--device cuda: %s", why);
        cuda_set_precision(PRECISION_FP32);
        device = DEVICE_CUDA;
#else
        fatal("--device cuda: this build has no CUDA backend (make CUDA=1 where nvcc exists)");
#endif
    }

    char cfg_path[1024];
    if (strchr(model_name, '/') || strstr(model_name, ".json")) snprintf(cfg_path, sizeof cfg_path, "%s", model_name);
    else snprintf(cfg_path, sizeof cfg_path, "models/configs/%s.json", model_name);
    PgrTaskData d = {.device = device};
    error_exit_if(pgr_config_load(&d.cfg, cfg_path));
    if (!strcmp(node_features, "name_tokens")) d.cfg.node_features = PGR_NODE_NAME_TOKENS;
    if (!strcmp(node_features, "per_node")) d.cfg.node_features = PGR_NODE_PER_NODE;
    Recipe r;
    error_exit_if(recipe_find(d.cfg.name, "pgr", &r));
    if (epochs) r.epochs = epochs;
    if (lr > 0) r.init_lr = lr;
    if (unlearn_lr > 0) r.unlearn_lr = unlearn_lr;
    if (unlearn_epochs > 0) r.unlearn_epochs = unlearn_epochs;

    PgrCorpusOptions copt = pgr_corpus_defaults();
    copt.dir = data;
    copt.graph_file = graph_file;
    copt.max_len = d.cfg.max_text_len;
    copt.val_percent = val_percent;
    copt.split_seed = (uint64_t)seed;
    copt.sub.max_nodes = max_nodes;
    copt.sub.keep_target_edge = keep_target_edge;
    copt.sub.seed = (uint64_t)seed;
    PgrCorpus corpus;
    double t0 = clock_seconds();
    error_exit_if(pgr_corpus_load(&corpus, &copt));
    d.cfg.vocab_size = tokenizer_vocab_size(corpus.tok);
    d.bert_cfg = pgr_config_bert(&d.cfg);
    d.corpus = &corpus;
    printf("corpus %s loaded in %.1f s\n", data, clock_seconds() - t0);
    print_graph_stats(&corpus);

    Task t;
    task_pgr_init(&t, &d);
    TaskModel original;
    error_exit_if(t.model_init(&t, &original, (uint64_t)seed));
    if (text_init) {
        error_exit_if(pgr_model_load_text(original.params, text_init, text_init_prefix));
        printf("text encoder from %s\n", text_init);
    }
    if (load) error_exit_if(t.model_load(&t, &original, load));
    t.model_to_device(&t, &original, device);
    printf("model %s: %lld parameters, node features %s; recipe: %d epochs at lr %g, batch %d\n", d.cfg.name,
           (long long)params_count_trainable(original.params),
           d.cfg.node_features == PGR_NODE_PER_NODE ? "per_node" : "name_tokens", r.epochs, r.init_lr, r.batch_size);
    fflush(stdout);
    if (!load) {
        int64_t *all = iota(corpus.split[PGR_SPLIT_TRAIN].n);
        TrainStats st;
        error_exit_if(train_task_model(&t, &original, all, corpus.split[PGR_SPLIT_TRAIN].n, &r, (uint64_t)seed, &st));
        printf("trained: loss %.4f -> %.4f in %.1f s\n", st.first_loss, st.last_loss, st.seconds);
        free(all);
    }
    report_original(&t, &original, &corpus);
    if (out) {
        error_exit_if(t.model_save(&t, &original, out));
        printf("model written to %s\n", out);
    }
    if (df_size) run_comparison(&t, &corpus, &original, &r, df_size, (uint64_t)seed, methods);
    t.model_free(&t, &original);
    t.free(&t);
    pgr_corpus_free(&corpus);
    return 0;
}
