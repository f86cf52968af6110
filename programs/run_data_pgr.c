#include "programs/run_data_pgr.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/xalloc.h"

int run_is_pgr(const char *task) { return strcmp(task, "pgr") == 0; }

void run_pgr_flags(RunFlags *f, CliFlag *out) {
    CliFlag flags[RUN_PGR_FLAGS] = {
        CLI_FLAG_STRING("graph", &f->pgr_graph, NULL,
                        "--task pgr: HPO genes_to_phenotype.txt or a typed edge list (default: the co-mention graph "
                        "of the corpus rows, data/pgr_graph.h)"),
        CLI_FLAG_BOOL("keep-target-edge", &f->pgr_keep_target_edge, "false",
                      "--task pgr: keep a sample's own pair edge in its subgraph (the leaky variant, "
                      "spec/pgr_graph_text.md §2.3)"),
        CLI_FLAG_INT("max-nodes", &f->pgr_max_nodes, "32",
                     "--task pgr: cap on a sample's enclosing subgraph, >= 2 (0: none; hubs reach 1,468 nodes)"),
        CLI_FLAG_INT("val-percent", &f->pgr_val_percent, "10",
                     "--task pgr: train.tsv sentences held out as the validation split (0..50; seed 42 whatever "
                     "--seed, so D stays the same)"),
        CLI_FLAG_CHOICE("pgr-test", &f->pgr_test, "unseen-pairs", "unseen-pairs|all",
                        "--task pgr: Dt = the test.tsv rows whose gene-phenotype pair no row of D has, or all of "
                        "test.tsv (159 of its 219 pairs are in train.tsv and a label is a function of its pair)"),
        CLI_FLAG_STRING("text-init", &f->pgr_text_init, NULL,
                        "--task pgr: BERT safetensors checkpoint (Hugging Face names, bert.*) the text encoder of "
                        "the original and Retrain starts from (default: from scratch)"),
    };
    memcpy(out, flags, sizeof flags);
}

int run_pgr_check_flags(const RunFlags *f) {
    const struct {
        const char *name;
        const void *dest;
    } pgr_only[] = {{"graph", &f->pgr_graph},         {"keep-target-edge", &f->pgr_keep_target_edge},
                    {"max-nodes", &f->pgr_max_nodes}, {"val-percent", &f->pgr_val_percent},
                    {"pgr-test", &f->pgr_test},       {"text-init", &f->pgr_text_init}},
      image_only[] = {{"world", &f->world}, {"image-root", &f->image_root}};
    int pgr = run_is_pgr(f->task);
    for (size_t k = 0; !pgr && k < sizeof pgr_only / sizeof pgr_only[0]; k++)
        if (cli_was_given(pgr_only[k].dest))
            return error_set("--%s: a flag of --task pgr (this run's task is %s)", pgr_only[k].name, f->task);
    for (size_t k = 0; pgr && k < sizeof image_only / sizeof image_only[0]; k++)
        if (cli_was_given(image_only[k].dest))
            return error_set("--%s: a flag of the image-text tasks, not of --task pgr", image_only[k].name);
    if (pgr && f->pgr_max_nodes == 1) return error_set("--max-nodes 1: a subgraph holds its gene and phenotype (>= 2, or 0)");
    return 0;
}

int run_pgr_model_config(RunContext *ctx) {
    if (pgr_config_load(&ctx->pgr_task.cfg, ctx->config_path) < 0)
        return error_prefix("--model %s (--task pgr takes a PGR config such as pgr-tiny or pgr-base)", ctx->flags.model);
    ctx->pgr_task.bert_cfg = pgr_config_bert(&ctx->pgr_task.cfg);
    ctx->cfg = ctx->pgr_task.bert_cfg;
    return 0;
}

/* data/pgr_corpus in the working directory, else next to the program. */
static void default_data_dir(char *dir, size_t size) {
    snprintf(dir, size, "%s", RUN_PGR_DEFAULT_DATA);
    if (file_exists(RUN_PGR_DEFAULT_DATA "/train.tsv")) return;
    char exe[1024], there[1200], train[1300];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    snprintf(there, sizeof there, "%s/../%s", dirname(exe), RUN_PGR_DEFAULT_DATA);
    snprintf(train, sizeof train, "%s/train.tsv", there);
    if (file_exists(train) && strlen(there) < size) memcpy(dir, there, strlen(there) + 1);
}

int run_pgr_load(RunContext *ctx) {
    const RunFlags *f = &ctx->flags;
    if (f->data) snprintf(ctx->data_dir, sizeof ctx->data_dir, "%s", f->data);
    else default_data_dir(ctx->data_dir, sizeof ctx->data_dir);
    PgrTaskData *d = &ctx->pgr_task;
    PgrCorpusOptions o = pgr_corpus_defaults();
    o.dir = ctx->data_dir;
    o.graph_file = f->pgr_graph;
    o.max_len = d->cfg.max_text_len;
    o.val_percent = f->pgr_val_percent;
    o.test_all_rows = strcmp(f->pgr_test, "all") == 0;
    o.sub.max_nodes = f->pgr_max_nodes;
    o.sub.keep_target_edge = f->pgr_keep_target_edge;
    if (pgr_corpus_load(&ctx->pgr, &o) < 0) return error_prefix("--task pgr, data %s", ctx->data_dir);
    if (ctx->pgr.split[PGR_SPLIT_TEST].n == 0)
        return error_set("%s/test.tsv: no row whose gene-phenotype pair is absent from D (--pgr-test all keeps "
                         "every row)", ctx->data_dir);
    d->cfg.vocab_size = tokenizer_vocab_size(ctx->pgr.tok);
    d->bert_cfg = pgr_config_bert(&d->cfg);
    ctx->cfg = d->bert_cfg;
    d->corpus = &ctx->pgr;
    d->device = ctx->device;
    d->text_init = f->pgr_text_init;
    d->text_init_prefix = "bert.";
    ctx->tok = ctx->pgr.tok; /* owned by the corpus */
    task_pgr_init(&ctx->task, d);
    return 0;
}

void run_pgr_describe(const RunContext *ctx) {
    const PgrCorpus *c = &ctx->pgr;
    log_info("data %s: PGR corpus, graph of %lld nodes and %lld edges; %lld training rows (D), %lld validation rows, "
             "%lld test rows%s; Df %lld rows (%lld keys), Dr %lld",
             ctx->data_dir, (long long)c->graph.n_nodes, (long long)c->graph.n_edges,
             (long long)c->split[PGR_SPLIT_TRAIN].n, (long long)c->split[PGR_SPLIT_VAL].n,
             (long long)c->split[PGR_SPLIT_TEST].n, c->opt.test_all_rows ? " (all of test.tsv)" : "",
             (long long)ctx->split.n_df, (long long)ctx->split.n_units, (long long)ctx->split.n_dr);
    if (!c->opt.test_all_rows)
        log_info("Dt: the test.tsv rows whose gene-phenotype pair no row of D has; the %lld whose pair D has are left "
                 "out (their label is D's: --pgr-test all keeps them)", (long long)c->n_test_seen_pairs);
}

int run_pgr_fingerprint(const RunContext *ctx, uint64_t *h) {
    if (pgr_corpus_fingerprint(&ctx->pgr, h) < 0) return -1;
    *h = fnv1a_str(*h, ctx->flags.pgr_text_init ? "text-init" : "");
    if (ctx->flags.pgr_text_init && file_fnv1a(h, ctx->flags.pgr_text_init) < 0) return error_prefix("--text-init");
    return 0;
}

void run_pgr_free(RunContext *ctx) {
    if (ctx->pgr.opt.dir) pgr_corpus_free(&ctx->pgr); /* set once pgr_corpus_load began */
}
