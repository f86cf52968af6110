/* Learning on the synthetic graph-text world (data/synth_pgr.h, spec
 * pgr_graph_text.md §4.5 "learning sanity"): the world's sentences reveal the
 * label through their connective (text_signal) and its graph through modules,
 * so a few epochs of the PGR model must beat the majority class on its test
 * rows; and a training run is deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params_io.h"
#include "core/error.h"
#include "core/fileio.h"
#include "data/synth_pgr.h"
#include "data/wordpiece_build.h"
#include "models/pgr_train.h"
#include "tests/test.h"

static const char *CONFIG =
    "{\"name\": \"pgr-test\", \"node_features\": \"name_tokens\", \"node_dim\": 16, \"gcn_layers\": 1,"
    " \"gcn_hidden\": 16, \"vocab_size\": 1, \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64,"
    " \"text_layers\": 1, \"max_position_embeddings\": 64, \"max_text_len\": 64, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.0, \"fusion_hidden\": 32, \"fusion_dim\": 32, \"classifier_hidden\": 32}";

/* The tiny synthetic world with a vocabulary learned from its training sentences. */
static void synthetic_corpus(PgrCorpus *c, char *dir, size_t dir_size, char *graph, size_t graph_size) {
    test_tmp_path(dir, dir_size, "pgr_synth");
    SynthPgrOptions o = synth_pgr_tiny();
    CHECK(synth_pgr_write(&o, dir) == 0, "%s", error_message());
    char path[600];
    snprintf(path, sizeof path, "%s/train.tsv", dir);
    PgrTable t;
    CHECK(pgr_read_tsv(path, &t) == 0, "%s", error_message());
    const char **texts = malloc((size_t)(t.n + 1) * sizeof *texts);
    texts[0] = "@ $";
    for (int64_t i = 0; i < t.n; i++) texts[i + 1] = t.rows[i].sentence;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    CHECK(wordpiece_build_vocab(texts, t.n + 1, 600, path) == 0, "%s", error_message());
    free(texts);
    pgr_table_free(&t);
    snprintf(graph, graph_size, "%s/kg_edges.tsv", dir);
    PgrCorpusOptions opt = pgr_corpus_defaults();
    opt.dir = dir;
    opt.graph_file = graph;
    opt.max_len = 64;
    CHECK(pgr_corpus_load(c, &opt) == 0, "%s", error_message());
}

/* Trains for `epochs` and returns the test scores' accuracy; *loss gets the last epoch's loss. */
static double train_and_score(const PgrCorpus *c, int epochs, double *loss) {
    cJSON *j = cJSON_Parse(CONFIG);
    PgrConfig cfg;
    CHECK(pgr_config_from_json(&cfg, j, "test config") == 0, "%s", error_message());
    cJSON_Delete(j);
    cfg.vocab_size = tokenizer_vocab_size(c->tok);
    ParamSet ps;
    params_init(&ps);
    PgrModel m;
    pgr_model_declare(&m, &ps, &cfg, c->graph.n_nodes);
    params_finalize(&ps);
    params_initialize(&ps, 3);
    AdamW opt;
    adamw_init(&opt, &ps, 0.9f, 0.999f, 1e-8f, 1e-4f);
    Rng rng = rng_make(3, 1);
    for (int e = 0; e < epochs; e++)
        *loss = pgr_train_epoch(&m, &opt, c, &c->split[PGR_SPLIT_TRAIN], 16, 1e-3f, NULL, &rng, DEVICE_CPU);
    PgrScores s;
    pgr_score(&m, c, &c->split[PGR_SPLIT_TEST], 32, DEVICE_CPU, &s);
    double acc = s.accuracy;
    pgr_scores_free(&s);
    adamw_free(&opt);
    pgr_model_free(&m);
    params_free(&ps);
    return acc;
}

TEST(test_pgr_training_beats_the_majority_class_on_the_synthetic_world) {
    PgrCorpus c;
    char dir[512], graph[600];
    synthetic_corpus(&c, dir, sizeof dir, graph, sizeof graph);
    const PgrSamples *test = &c.split[PGR_SPLIT_TEST];
    int64_t pos = 0;
    for (int64_t i = 0; i < test->n; i++) pos += test->label[i];
    double majority = (double)(pos > test->n - pos ? pos : test->n - pos) / (double)test->n;
    double loss0 = 0, loss = 0;
    train_and_score(&c, 1, &loss0);
    double acc = train_and_score(&c, 8, &loss);
    printf("  synthetic world: test accuracy %.3f after 8 epochs (majority %.3f), loss %.3f -> %.3f\n", acc, majority,
           loss0, loss);
    ASSERT_MSG(loss < loss0, "the training loss did not fall: %.4f -> %.4f", loss0, loss);
    ASSERT_MSG(acc >= majority + 0.05, "test accuracy %.3f, majority class %.3f", acc, majority);
    double again = 0;
    ASSERT(train_and_score(&c, 8, &again) == acc && again == loss); /* deterministic */
    pgr_corpus_free(&c);
}

/* A model of the test config under `seed`, with `text_width`. */
static void small_model(PgrModel *m, ParamSet *ps, int text_width, uint64_t seed) {
    cJSON *j = cJSON_Parse(CONFIG);
    PgrConfig cfg;
    CHECK(pgr_config_from_json(&cfg, j, "test config") == 0, "%s", error_message());
    cJSON_Delete(j);
    cfg.vocab_size = 50;
    cfg.text_width = text_width;
    params_init(ps);
    pgr_model_declare(m, ps, &cfg, 10);
    params_finalize(ps);
    params_initialize(ps, seed);
}

TEST(test_pgr_text_init_loads_the_text_encoder_only) {
    PgrModel a, b, c;
    ParamSet pa, pb, pc;
    small_model(&a, &pa, 32, 1);
    small_model(&b, &pb, 32, 2);
    small_model(&c, &pc, 64, 3);
    char path[512];
    test_tmp_path(path, sizeof path, "pgr_text_init.safetensors");
    ASSERT_MSG(params_save(&pa, path, NULL, 0) == 0, "%s", error_message());
    float *before = malloc((size_t)pb.total * sizeof *before);
    memcpy(before, pb.values, (size_t)pb.total * sizeof *before);
    ASSERT_MSG(pgr_model_load_text(&pb, path, "text_encoder.") == 0, "%s", error_message());
    for (int k = 0; k < pb.count; k++) { /* text parameters from the file, the others untouched */
        const Tensor *p = pb.items[k];
        int text = strncmp(p->name, "text_encoder.", 13) == 0;
        const float *want = text ? (const float *)params_find(&pa, p->name)->data : before + params_offset(&pb, p);
        ASSERT_MSG(memcmp(p->data, want, (size_t)tensor_numel(p) * sizeof(float)) == 0, "%s", p->name);
    }
    free(before);
    ASSERT(pgr_model_load_text(&pc, path, "text_encoder.") < 0);
    ASSERT_MSG(strstr(error_message(), "mismatched") && strstr(error_message(), "word_embeddings"), "%s",
               error_message());
    pgr_model_free(&a);
    pgr_model_free(&b);
    pgr_model_free(&c);
    params_free(&pa);
    params_free(&pb);
    params_free(&pc);
}
