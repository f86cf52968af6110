/* --task pgr through the run driver (programs/run_data_pgr.h), as a user runs
 * the programs: bin/unlearn_multidelete on a slice of the shipped corpus with a
 * small config (seconds) trains and caches the original, unlearns, evaluates
 * and reports; the cache entry follows the corpus files' content; a missing or
 * corrupt corpus file, a config of another model and a PGR flag given to
 * another task stop the program naming the file or the flag. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tests/embed_task_check.h"
#include "tests/test.h"

/* The pgr-tiny recipe row under a smaller model. */
static const char *CONFIG =
    "{\"name\": \"pgr-tiny\", \"node_features\": \"name_tokens\", \"node_dim\": 16, \"gcn_layers\": 1,"
    " \"gcn_hidden\": 16, \"vocab_size\": 8000, \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64,"
    " \"text_layers\": 1, \"max_position_embeddings\": 64, \"max_text_len\": 48, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.1, \"fusion_hidden\": 32, \"fusion_dim\": 32, \"classifier_hidden\": 32}";

/* The absolute path of bin/<name>, or NULL (the test fails) when it is not built. */
static const char *program(const char *name) {
    static char abs[1024];
    char path[512];
    snprintf(path, sizeof path, "%s/%s", getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin", name);
    if (!realpath(path, abs)) return NULL;
    return abs;
}

/* The first `rows` data rows of the shipped file `name` (header kept) into dir/name. */
static int write_slice(const char *dir, const char *name, int rows) {
    char src[512], dst[600];
    snprintf(src, sizeof src, "data/pgr_corpus/%s", name);
    char *text = file_read_all(src, NULL);
    if (!text) return -1;
    char *p = text;
    for (int k = 0; k <= rows && p; k++) p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
    size_t len = p ? (size_t)(p - text) : strlen(text);
    snprintf(dst, sizeof dst, "%s/%s", dir, name);
    int rc = file_write_atomic(dst, text, len);
    free(text);
    return rc;
}

/* A corpus directory of 240 training and 60 test rows with the shipped vocabulary. */
static int write_corpus_slice(const char *dir) {
    if (make_dirs(dir) < 0 || write_slice(dir, "train.tsv", 240) < 0 || write_slice(dir, "test.tsv", 60) < 0)
        return -1;
    return write_slice(dir, "vocab.txt", 1 << 20);
}

TEST(test_pgr_unlearn_multidelete_program_runs_on_a_corpus_slice) {
    const char *md = program("unlearn_multidelete");
    ASSERT_MSG(md, "bin/unlearn_multidelete not built (make bin/unlearn_multidelete)");
    char slice[512], cfg[512], work[512], out[512], cmd[4096], path[1100];
    test_tmp_path(slice, sizeof slice, "pgr_prog_slice");
    test_tmp_path(cfg, sizeof cfg, "pgr_prog_tiny.json");
    test_tmp_path(work, sizeof work, "pgr_prog_cwd"); /* the cache goes to <cwd>/runs/cache */
    test_tmp_path(out, sizeof out, "pgr_prog_run");
    ASSERT_MSG(write_corpus_slice(slice) == 0, "%s", error_message());
    ASSERT(file_write_atomic(cfg, CONFIG, strlen(CONFIG)) == 0);
    ASSERT(make_dirs(work) == 0);
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_NUM_THREADS=1 %s --task pgr --data %s --model %s --df-size 8 --batch-df 4 --epochs 2 "
             "--out %s 2>&1",
             work, md, slice, cfg, out);
    int status;
    char *log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "PGR corpus");
    ASSERT_STR_CONTAINS(log, "Df 8 rows");
    ASSERT_STR_CONTAINS(log, "original model: training pgr-tiny");
    free(log);

    /* config.json: the task's model config, the deletion of 8 rows, the corpus fingerprint. */
    snprintf(path, sizeof path, "%s/config.json", out);
    cJSON *c = json_read_file(path);
    ASSERT_MSG(c, "%s", error_message());
    cJSON *model = cJSON_GetObjectItem(c, "model"), *del = cJSON_GetObjectItem(c, "deletion");
    ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(model, "gcn_hidden")));
    ASSERT_EQ_INT((int)cJSON_GetObjectItem(del, "df_pairs")->valuedouble, 8);
    ASSERT(cJSON_IsString(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "inputs"), "pgr_corpus")));
    cJSON_Delete(c);
    /* metrics.json: Dt accuracy over the 54 of the slice's 60 test rows whose pair no
     * training row has, and Df from 5 AUCs on P(True), for each of the three models */
    snprintf(path, sizeof path, "%s/metrics.json", out);
    cJSON *m = json_read_file(path);
    ASSERT_MSG(m, "%s", error_message());
    const char *rows[3] = {"original", "retrain", "multidelete"};
    for (int k = 0; k < 3; k++) {
        cJSON *row = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "models"), rows[k]);
        ASSERT_MSG(row, "no row %s", rows[k]);
        cJSON *count = cJSON_GetObjectItem(row, "class_count");
        ASSERT_EQ_INT(cJSON_GetArraySize(count), 2);
        ASSERT_EQ_INT((int)(cJSON_GetArrayItem(count, 0)->valuedouble + cJSON_GetArrayItem(count, 1)->valuedouble), 54);
        double acc = cJSON_GetObjectItem(row, "accuracy")->valuedouble;
        double df = cJSON_GetObjectItem(row, "Df_reported")->valuedouble;
        ASSERT_MSG(acc >= 0 && acc <= 100 && df >= 0 && df <= 100, "%s: accuracy %g, Df %g", rows[k], acc, df);
        ASSERT_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(row, "Df_class_aucs")), 5);
    }
    cJSON_Delete(m);
    /* scores_df.csv names the 8 deleted rows by their keys, those of df_list.txt */
    snprintf(path, sizeof path, "%s/df_list.txt", out);
    char *list = file_read_all(path, NULL);
    snprintf(path, sizeof path, "%s/scores_df.csv", out);
    char *scores = file_read_all(path, NULL);
    ASSERT(list && scores);
    int lines = 0;
    for (const char *p = scores; (p = strchr(p, '\n')) != NULL; p++) lines++;
    ASSERT_EQ_INT(lines, 1 + 8);
    char first_key[128];
    ASSERT(sscanf(strchr(scores, '\n') + 1, "%*[^,],%127[^,]", first_key) == 1);
    ASSERT_MSG(strstr(list, first_key), "%s not in the deletion list", first_key);
    free(list);
    free(scores);

    /* Another run directory, the same corpus: the cached original. */
    snprintf(cmd, sizeof cmd,
             "cd %s && OMP_NUM_THREADS=1 %s --task pgr --data %s --model %s --df-size 8 --batch-df 4 --epochs 2 "
             "--out %s_again 2>&1",
             work, md, slice, cfg, out);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "original model: cached");
    free(log);
    /* One label of train.tsv written "TRUE" (the same label, other bytes): the
     * key covers the files' bytes, so another original is trained. */
    snprintf(path, sizeof path, "%s/train.tsv", slice);
    char *train = file_read_all(path, NULL);
    ASSERT(train);
    char *label = strstr(train, "\tTrue\n");
    ASSERT(label);
    memcpy(label + 1, "TRUE", 4);
    ASSERT(file_write_atomic(path, train, strlen(train)) == 0);
    free(train);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT_MSG(status == 0, "status %d: %s", status, log);
    ASSERT_STR_CONTAINS(log, "original model: training pgr-tiny");
    free(log);
}

TEST(test_pgr_programs_name_a_missing_or_corrupt_corpus_file_and_foreign_flags) {
    const char *train = program("train");
    ASSERT_MSG(train, "bin/train not built (make bin/train)");
    char absent[512], bad[512], out[512], cmd[4096], path[600];
    test_tmp_path(absent, sizeof absent, "pgr_prog_absent");
    test_tmp_path(bad, sizeof bad, "pgr_prog_corrupt");
    test_tmp_path(out, sizeof out, "pgr_prog_refused");
    int status;
    snprintf(cmd, sizeof cmd, "%s --task pgr --data %s --out %s 2>&1", train, absent, out);
    char *log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr_prog_absent/train.tsv");
    free(log);

    /* test.tsv with an unknown label on its second data row (line 3) */
    ASSERT_MSG(write_corpus_slice(bad) == 0, "%s", error_message());
    snprintf(path, sizeof path, "%s/test.tsv", bad);
    char *test = file_read_all(path, NULL);
    ASSERT(test);
    char *row2 = strchr(strchr(test, '\n') + 1, '\n') + 1, *end = strchr(row2, '\n');
    char *tab = end;
    for (int k = 0; k < 2; k++) /* back to the tab before RELATION (CONFIRMATION is last) */
        for (tab--; *tab != '\t'; tab--) {}
    size_t n = strlen(test) + 8;
    char *edited = malloc(n);
    ASSERT(edited);
    snprintf(edited, n, "%.*s\tMaybe%s", (int)(tab - test), test, strchr(tab + 1, '\t'));
    free(test);
    test = edited;
    ASSERT(file_write_atomic(path, test, strlen(test)) == 0);
    free(test);
    snprintf(cmd, sizeof cmd, "%s --task pgr --data %s --out %s 2>&1", train, bad, out);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr_prog_corrupt/test.tsv: line 3");
    ASSERT_STR_CONTAINS(log, "Maybe");
    free(log);

    /* an image-text model config, a PGR flag on another task */
    snprintf(cmd, sizeof cmd, "%s --task pgr --model albef-tiny --data %s --out %s 2>&1", train, absent, out);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "pgr-tiny or pgr-base");
    free(log);
    snprintf(cmd, sizeof cmd, "%s --task flickr30k --max-nodes 8 --out %s 2>&1", train, out);
    log = test_run_command(cmd, &status);
    ASSERT(log);
    ASSERT(status != 0);
    ASSERT_STR_CONTAINS(log, "--max-nodes: a flag of --task pgr");
    free(log);
}

/* bin/embed --task pgr: the graph side, the marked sentence, the fusion FFN's z and P(False), P(True) of each
 * row (tests/test_embed_task.c). */
TEST(test_pgr_embed_program_writes_the_evaluations_probabilities) {
    char slice[512], cfg[512], common[2048];
    test_tmp_path(slice, sizeof slice, "pgr_embed_slice");
    test_tmp_path(cfg, sizeof cfg, "pgr_embed_tiny.json");
    ASSERT_MSG(write_corpus_slice(slice) == 0, "%s", error_message());
    ASSERT(file_write_atomic(cfg, CONFIG, strlen(CONFIG)) == 0);
    snprintf(common, sizeof common, "--task pgr --data %s --model %s --df-size 8", slice, cfg);
    check_embed_task("pgr", common, 2, 0, 0);
}
