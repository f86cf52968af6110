/* bin/embed --task (programs/embed_task.c) on SNLI-VE, NLVR2, PGR and
 * retrieval, run as a user runs it: a checkpoint made by bin/train, then
 * embed writes each split's items, labels, image-side, text-side and fused
 * representations and class probabilities. The test split's probabilities
 * and labels are the evaluation's: their argmax accuracy equals bin/evaluate's
 * Dt accuracy of the same checkpoint. Df and Dr are the deletion request's
 * (disjoint, together the training split). A checkpoint rewritten under the
 * same path is embedded again, not taken for the finished run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/safetensors.h"
#include "data/synth_image_text.h"
#include "tests/embed_task_check.h"
#include "tests/test.h"

static const char *world(void) {
    static char dir[512];
    if (!dir[0]) {
        SynthImageTextOptions o = synth_image_text_defaults();
        o.train_images = 16, o.val_images = 4, o.test_images = 4, o.image_size = 32, o.vocab_size = 300;
        test_tmp_path(dir, sizeof dir, "embed_task_world");
        CHECK(synth_image_text_write(&o, dir) == 0, "%s", error_message());
    }
    return dir;
}

static const char *bin_dir(void) {
    static char abs[1024];
    if (!abs[0]) CHECK(realpath(getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin", abs), "bin/ not built");
    return abs;
}

/* Runs `bin/<program> <args>` in `work`; the log (free it), status 0 asserted. */
static char *run_ok(const char *work, const char *program, const char *args) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd %s && OMP_NUM_THREADS=1 %s/%s %s 2>&1", work, bin_dir(), program, args);
    int status;
    char *log = test_run_command(cmd, &status);
    CHECK(log, "%s: no output", cmd);
    if (status != 0) {
        fprintf(stderr, "%s: status %d:\n%s\n", cmd, status, log);
        free(log);
        return NULL;
    }
    return log;
}

/* run_ok whose log is not needed beyond success. */
static void run_step(const char *work, const char *program, const char *args) {
    char *log = run_ok(work, program, args);
    ASSERT_MSG(log, "bin/%s failed (its log is above)", program);
    free(log);
}

typedef struct {
    int64_t n, *items;
    int32_t *labels; /* NULL when absent */
    float *probs, *fused;
    int n_classes, image_dim, text_dim, fused_dim;
} SplitRead;

static void split_free(SplitRead *s) { free(s->items), free(s->labels), free(s->probs), free(s->fused); }

/* `name`.* of the file: shapes consistent, every value finite, probability rows summing to 1. */
static int read_split(const SafetensorsFile *f, const char *name, SplitRead *s) {
    memset(s, 0, sizeof *s);
    char key[64];
    const StTensorInfo *t[6];
    const char *what[6] = {"items", "labels", "image_feat", "text_feat", "fused", "probs"};
    for (int k = 0; k < 6; k++) {
        snprintf(key, sizeof key, "%s.%s", name, what[k]);
        t[k] = safetensors_find(f, key);
        if (!t[k] && k != 1) return error_set("%s: no tensor %s", f->path, key);
    }
    s->n = t[0]->shape[0];
    for (int k = 2; k < 6; k++)
        if (t[k]->ndim != 2 || t[k]->shape[0] != s->n || t[k]->shape[1] < 1)
            return error_set("%s.%s: shape [%lld, %lld] for %lld items", name, what[k], (long long)t[k]->shape[0],
                             (long long)t[k]->shape[1], (long long)s->n);
    s->image_dim = (int)t[2]->shape[1], s->text_dim = (int)t[3]->shape[1], s->fused_dim = (int)t[4]->shape[1];
    s->n_classes = (int)t[5]->shape[1];
    s->items = malloc((size_t)s->n * sizeof *s->items);
    s->probs = malloc((size_t)s->n * s->n_classes * sizeof *s->probs);
    s->fused = malloc((size_t)s->n * s->fused_dim * sizeof *s->fused);
    if (safetensors_read_i64(f, t[0], s->items, s->n) < 0 ||
        safetensors_read_f32(f, t[5], s->probs, s->n * s->n_classes) < 0 ||
        safetensors_read_f32(f, t[4], s->fused, s->n * s->fused_dim) < 0)
        return -1;
    if (t[1]) {
        s->labels = malloc((size_t)s->n * sizeof *s->labels);
        if (safetensors_read_i32(f, t[1], s->labels, s->n) < 0) return -1;
    }
    for (int64_t i = 0; i < s->n; i++) {
        double sum = 0.0;
        for (int c = 0; c < s->n_classes; c++) sum += s->probs[i * s->n_classes + c];
        if (!(fabs(sum - 1.0) < 1e-5)) return error_set("%s.probs row %lld sums to %g", name, (long long)i, sum);
    }
    for (int64_t k = 0; k < s->n * s->fused_dim; k++)
        if (!isfinite(s->fused[k])) return error_set("%s.fused[%lld] is not finite", name, (long long)k);
    return 0;
}

/* <run>/scores_df.csv holds, per Df item, the class-column probabilities the Df AUC ranks ("model:p<j>"
 * columns, the last fields of each row): they are the embedded df.probs of that item. */
static void check_df_scores(const char *run, const SplitRead *df) {
    char path[1100];
    snprintf(path, sizeof path, "%s/scores_df.csv", run);
    char *csv = file_read_all(path, NULL);
    ASSERT_MSG(csv, "%s", error_message());
    char *first = strstr(csv, "model:p");
    ASSERT(first && first < strchr(csv, '\n'));
    int first_column = atoi(first + 7), cols = 0;
    for (char *p = first; p < strchr(csv, '\n'); p++) cols += *p == ':';
    int64_t rows = 0;
    for (char *line = strchr(csv, '\n') + 1; *line; rows++) {
        char *end = strchr(line, '\n');
        ASSERT(end);
        *end = '\0';
        int64_t item = atoll(line), at = -1;
        for (int64_t k = 0; k < df->n; k++)
            if (df->items[k] == item) at = k;
        ASSERT_MSG(at >= 0, "scores_df.csv item %lld is not an embedded Df item", (long long)item);
        char *field = end;
        for (int j = cols - 1; j >= 0; j--) {
            while (field > line && field[-1] != ',') field--;
            double v = atof(field);
            ASSERT_NEAR(v, df->probs[at * df->n_classes + first_column + j], 1e-6);
            field--;
        }
        line = end + 1;
    }
    ASSERT_EQ_INT((int)rows, (int)df->n);
    free(csv);
}

static double metric(const char *run, const char *row, const char *name) {
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.json", run);
    cJSON *m = json_read_file(path);
    CHECK(m, "%s", error_message());
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "models"), row), name);
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(m);
    return x;
}

void check_embed_task(const char *task, const char *common, int n_classes, int image_per_item, int check_reuse) {
    char work[512], args[4096], ckpt[700], emb[700], path[800];
    char name[64];
    snprintf(name, sizeof name, "embed_task_%s", task);
    test_tmp_path(work, sizeof work, name);
    ASSERT(make_dirs(work) == 0);
    snprintf(args, sizeof args, "%s --epochs 1 --out %s/train", common, work);
    run_step(work, "train", args);
    snprintf(ckpt, sizeof ckpt, "%s/train/model.safetensors", work);
    snprintf(emb, sizeof emb, "%s/embed", work);
    char emb_args[4096];
    snprintf(emb_args, sizeof emb_args, "%s --checkpoint %s --splits df,dr,test --out %s", common, ckpt, emb);
    char *log = run_ok(work, "embed", emb_args);
    ASSERT(log);
    ASSERT_STR_CONTAINS(log, "embeddings.safetensors");
    free(log);

    snprintf(path, sizeof path, "%s/embeddings.safetensors", emb);
    SafetensorsFile f;
    ASSERT_MSG(safetensors_open(&f, path) == 0, "%s", error_message());
    SplitRead df, dr, test;
    ASSERT_MSG(read_split(&f, "df", &df) == 0 && read_split(&f, "dr", &dr) == 0 && read_split(&f, "test", &test) == 0,
               "%s", error_message());
    safetensors_close(&f);
    ASSERT_EQ_INT(test.n_classes, n_classes);
    if (image_per_item) ASSERT_EQ_INT(test.image_dim, image_per_item * test.text_dim); /* NLVR2: [left | right] */
    /* Df and Dr: the run's deletion request, disjoint, together the training split */
    snprintf(path, sizeof path, "%s/config.json", emb);
    cJSON *c = json_read_file(path);
    ASSERT_MSG(c, "%s", error_message());
    const cJSON *del = cJSON_GetObjectItem(c, "deletion");
    ASSERT_EQ_INT((int)df.n, (int)cJSON_GetObjectItem(del, "df_pairs")->valuedouble);
    ASSERT_EQ_INT((int)dr.n, (int)cJSON_GetObjectItem(del, "dr_pairs")->valuedouble);
    ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "inputs"), "checkpoints")) == 1);
    cJSON_Delete(c);
    char *seen = calloc((size_t)(df.n + dr.n), 1);
    for (int64_t k = 0; k < df.n + dr.n; k++) {
        int64_t item = k < df.n ? df.items[k] : dr.items[k - df.n];
        ASSERT_MSG(item >= 0 && item < df.n + dr.n && !seen[item], "item %lld twice or outside", (long long)item);
        seen[item] = 1;
    }
    free(seen);
    for (int64_t k = 0; k < test.n; k++) ASSERT(test.items[k] == k);

    if (test.labels) { /* the test split's argmax accuracy is bin/evaluate's Dt accuracy */
        char ev[700];
        snprintf(ev, sizeof ev, "%s/evaluate", work);
        snprintf(args, sizeof args, "%s --original %s --checkpoints %s --names model --no-eval-original --out %s",
                 common, ckpt, ckpt, ev);
        run_step(work, "evaluate", args);
        int64_t right = 0;
        for (int64_t i = 0; i < test.n; i++) {
            int best = 0;
            for (int k = 1; k < n_classes; k++)
                if (test.probs[i * n_classes + k] > test.probs[i * n_classes + best]) best = k;
            right += best == test.labels[i];
        }
        ASSERT_NEAR(metric(ev, "model", "accuracy"), 100.0 * (double)right / (double)test.n, 1e-9);
        check_df_scores(ev, &df);
    }
    split_free(&df), split_free(&dr), split_free(&test);

    if (!check_reuse) return;
    /* The same flags again: the finished run is reused. Another model written under the checkpoint's path
     * (trained from another seed): embedded again, with other numbers. */
    log = run_ok(work, "embed", emb_args);
    ASSERT(log);
    ASSERT_STR_CONTAINS(log, "Nothing to do");
    free(log);
    snprintf(path, sizeof path, "%s/embeddings.safetensors", emb);
    size_t before_size;
    char *before = file_read_all(path, &before_size);
    snprintf(args, sizeof args, "%s --epochs 1 --seed 7 --out %s/train_seed7", common, work);
    run_step(work, "train", args);
    size_t size;
    snprintf(args, sizeof args, "%s/train_seed7/model.safetensors", work);
    char *bytes = file_read_all(args, &size);
    ASSERT(bytes && file_write_atomic(ckpt, bytes, size) == 0);
    free(bytes);
    log = run_ok(work, "embed", emb_args);
    ASSERT(log);
    ASSERT(strstr(log, "Nothing to do") == NULL);
    free(log);
    char *after = file_read_all(path, &size);
    ASSERT(after);
    ASSERT_MSG(size != before_size || memcmp(before, after, size) != 0, "the same embeddings from another checkpoint");
    free(before), free(after);
}

TEST(test_embed_task_snli_ve_writes_the_evaluations_probabilities) {
    char common[1024];
    snprintf(common, sizeof common, "--task snli_ve --data %s --df-size 1", world());
    check_embed_task("snli_ve", common, 3, 1, 1);
}

TEST(test_embed_task_nlvr2_writes_both_images_features) {
    char common[1024];
    snprintf(common, sizeof common, "--task nlvr2 --data %s --df-size 1", world());
    check_embed_task("nlvr2", common, 2, 2, 0);
}

TEST(test_embed_task_retrieval_writes_every_caption) {
    char common[1024];
    snprintf(common, sizeof common, "--task flickr30k --data %s --df-size 1", world());
    check_embed_task("flickr30k", common, 2, 1, 0);
}

/* A bad --splits stops the program before the run is set up: nothing trained, no run directory written. */
TEST(test_embed_task_refuses_bad_splits_before_anything_is_written) {
    char work[512], args[2048], out[700], partial[720];
    test_tmp_path(work, sizeof work, "embed_task_bad_splits");
    ASSERT(make_dirs(work) == 0);
    snprintf(out, sizeof out, "%s/embed", work);
    snprintf(partial, sizeof partial, "%s.partial", out);
    const char *bad[] = {"df,,test", "df,bogus", "test,test", "dr,"};
    const char *says[] = {"\"\" is not a split", "\"bogus\" is not a split", "test is listed twice",
                          "\"\" is not a split"};
    for (int k = 0; k < 4; k++) {
        snprintf(args, sizeof args, "cd %s && %s/embed --task snli_ve --splits '%s' --out %s 2>&1", work, bin_dir(),
                 bad[k], out);
        int status;
        char *log = test_run_command(args, &status);
        ASSERT(log);
        ASSERT_MSG(status != 0, "--splits %s accepted: %s", bad[k], log);
        ASSERT_STR_CONTAINS(log, says[k]);
        free(log);
        ASSERT_MSG(!file_exists(out) && !file_exists(partial), "--splits %s: a run directory was written", bad[k]);
    }
}
