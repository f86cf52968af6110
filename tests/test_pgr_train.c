/* The PGR task (models/task_pgr.h) learning on the synthetic graph-text world
 * (data/synth_pgr.h, spec pgr_graph_text.md §4.5 "learning sanity"): the
 * world's sentences reveal the label through their connective (text_signal)
 * and its graph through modules, so the shared training loop must take the
 * model past the majority class on its test rows, deterministically; and
 * --text-init loads the text encoder alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params_io.h"
#include "core/error.h"
#include "core/fileio.h"
#include "data/synth_pgr.h"
#include "data/wordpiece_build.h"
#include "models/task_pgr.h"
#include "tests/test.h"
#include "unlearn/recipe.h"
#include "unlearn/train_loop.h"

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
    opt.test_all_rows = 1; /* all 40 test rows: those of unseen pairs alone are 10 */
    CHECK(pgr_corpus_load(c, &opt) == 0, "%s", error_message());
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

/* The task interface end to end on the synthetic world: the shared training
 * loop (unlearn/train_loop.h) with the pgr-tiny recipe's optimiser trains the
 * task's model past the majority class, item_probs scores the test split,
 * and "-F" leaves exactly the fusion FFN and the classifier trainable. */
TEST(test_pgr_task_trains_with_the_shared_loop_and_scores_items) {
    PgrCorpus c;
    char dir[512], graph[600];
    synthetic_corpus(&c, dir, sizeof dir, graph, sizeof graph);
    cJSON *j = cJSON_Parse(CONFIG);
    PgrTaskData d = {.corpus = &c, .device = DEVICE_CPU};
    CHECK(pgr_config_from_json(&d.cfg, j, "test config") == 0, "%s", error_message());
    cJSON_Delete(j);
    d.cfg.vocab_size = tokenizer_vocab_size(c.tok);
    d.bert_cfg = pgr_config_bert(&d.cfg);
    Task t;
    task_pgr_init(&t, &d);
    ASSERT_EQ_INT(t.n_items[TASK_SPLIT_TRAIN], c.split[PGR_SPLIT_TRAIN].n);
    TaskModel m;
    ASSERT(t.model_init(&t, &m, 3) == 0);
    /* The config's image-side width is what Erm-Ktp's channel mask spans: u_G's channels. */
    ASSERT_EQ_INT(t.cfg->vision_width, t.image_channel_weight(&t, &m)->shape[1]);
    ASSERT_EQ_INT(t.cfg->vision_width, 2 * d.cfg.gcn_hidden);
    Recipe r = recipe_get("pgr-tiny", "pgr");
    r.init_lr = 1e-3;
    r.epochs = 12;
    r.batch_size = 16;
    int64_t n = t.n_items[TASK_SPLIT_TRAIN], n_test = t.n_items[TASK_SPLIT_TEST];
    int64_t *items = malloc((size_t)n * sizeof *items), *test = malloc((size_t)n_test * sizeof *test);
    for (int64_t i = 0; i < n; i++) items[i] = i;
    for (int64_t i = 0; i < n_test; i++) test[i] = i;
    TrainStats st;
    ASSERT_MSG(train_task_model(&t, &m, items, n, &r, 3, &st) == 0, "%s", error_message());
    float *probs = malloc((size_t)(2 * n_test) * sizeof *probs);
    ASSERT_MSG(t.item_probs(&t, &m, TASK_SPLIT_TEST, test, n_test, 8, probs) == 0, "%s", error_message());
    int64_t right = 0, pos = 0;
    for (int64_t i = 0; i < n_test; i++) {
        int y = c.split[PGR_SPLIT_TEST].label[i];
        ASSERT_EQ_INT(t.item_label(&t, TASK_SPLIT_TEST, i), y);
        ASSERT_NEAR(probs[2 * i] + probs[2 * i + 1], 1.0, 1e-5);
        right += (probs[2 * i + 1] > 0.5f) == y;
        pos += y;
    }
    double acc = (double)right / (double)n_test;
    ASSERT_EQ_INT(t.item_label(&t, TASK_SPLIT_TEST, n_test), -1); /* outside the split */
    ASSERT_STR_CONTAINS(error_message(), "not in the test split");
    error_clear();
    /* The same training again gives the same bits. */
    TaskModel again;
    ASSERT(t.model_init(&t, &again, 3) == 0);
    ASSERT_MSG(train_task_model(&t, &again, items, n, &r, 3, &st) == 0, "%s", error_message());
    float *probs2 = malloc((size_t)(2 * n_test) * sizeof *probs2);
    ASSERT(t.item_probs(&t, &again, TASK_SPLIT_TEST, test, n_test, 8, probs2) == 0);
    ASSERT(memcmp(probs, probs2, (size_t)(2 * n_test) * sizeof *probs) == 0);
    free(probs2);
    t.model_free(&t, &again);
    double majority = (double)(pos > n_test - pos ? pos : n_test - pos) / (double)n_test;
    printf("  task interface: loss %.3f -> %.3f, test accuracy %.3f (majority %.3f)\n", st.first_loss, st.last_loss,
           acc, majority);
    ASSERT(st.last_loss < st.first_loss);
    ASSERT_MSG(acc >= majority + 0.05, "test accuracy %.3f, majority %.3f", acc, majority);
    ASSERT(t.model_set_fusion_only(&t, &m) == 0);
    int64_t want = 0;
    for (int k = 0; k < m.params->count; k++) {
        const char *name = m.params->items[k]->name;
        int fusion = strncmp(name, "fusion.", 7) == 0 || strncmp(name, "classifier.", 11) == 0;
        ASSERT_MSG(m.params->items[k]->requires_grad == fusion, "%s", name);
        want += fusion ? tensor_numel(m.params->items[k]) : 0;
    }
    ASSERT_EQ_INT(params_count_trainable(m.params), want);
    free(items);
    free(test);
    free(probs);
    t.model_free(&t, &m);
    t.free(&t);
    pgr_corpus_free(&c);
}
