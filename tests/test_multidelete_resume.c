/* Resume of MultiDelete with model selection (unlearn/multidelete_loop.h,
 * unlearn/loop_checkpoint.h): a run killed while scoring epoch 5 of 6 and
 * continued in a fresh model and a fresh selector ends bit-identical to the
 * uninterrupted run: the selected epoch, the candidates' scores, the final
 * parameters (the kept ones of epoch 4, scored before the kill) and the loss
 * terms of the first and last epochs. And end to end: bin/unlearn_multidelete
 * killed (SIGKILL) after its third epoch and rerun with --resume writes the
 * model, per-pair scores and metrics of the uninterrupted run. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "data/deletion.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/loop.h"
#include "unlearn/model_selection.h"
#include "unlearn/multidelete_loop.h"

/* Scores by candidate index (epochs 3, 4, 5, 6 → 40, 80, 50, 60: epoch 4 wins);
 * the call `kill_at` fails, as a killed process stops at that point. */
typedef struct {
    int calls, kill_at;
} KillableScore;

static int killable_score(void *ctx, TaskModel *m, EpochScore *out) {
    (void)m;
    static const double dt[] = {40, 80, 50, 60};
    KillableScore *k = ctx;
    if (k->calls == k->kill_at) return error_set("killed while scoring");
    *out = (EpochScore){.dt = dt[k->calls], .auc_code = dt[k->calls]};
    k->calls++;
    return 0;
}

typedef struct {
    Tokenizer *tok;
    Albef original, unlearned;
    RetrievalSet train;
    Task task;
    DeletionSplit split;
} World;

/* Df = the 5 captions of image 0, Dr = the other 55 pairs; θ = θ0 (seed 3). */
static int world_open(World *w) {
    memset(w, 0, sizeof *w);
    if (!(w->tok = eval_world_tokenizer())) return -1;
    if (eval_world_model(&w->original, w->tok, 3) < 0 || eval_world_model(&w->unlearned, w->tok, 3) < 0) return -1;
    if (eval_world_set(&w->train, "train", w->tok, &w->original.cfg) < 0) return -1;
    task_retrieval_init(&w->task, &w->original.cfg, &w->train, NULL, NULL);
    int64_t n = w->train.split.n_texts;
    w->split.df = malloc((size_t)n * sizeof(int64_t));
    w->split.dr = malloc((size_t)n * sizeof(int64_t));
    for (int64_t t = 0; t < n; t++) {
        if (w->train.split.txt2img[t] == 0) w->split.df[w->split.n_df++] = t;
        else w->split.dr[w->split.n_dr++] = t;
    }
    return 0;
}

static void world_close(World *w) {
    deletion_split_free(&w->split);
    w->task.free(&w->task);
    retrieval_set_free(&w->train);
    albef_free(&w->original);
    albef_free(&w->unlearned);
    tokenizer_free(w->tok);
}

/* 6 epochs of one step, selection from the 3rd: a fresh process's run. */
static int run_multidelete(World *w, ModelSelection *sel, KillableScore *score, MultiDeleteStats *st) {
    albef_free(&w->unlearned);
    if (eval_world_model(&w->unlearned, w->tok, 3) < 0) return -1;
    model_selection_init(sel, 2, killable_score, score);
    MultiDeleteRun run = {.lr = 1e-3, .min_lr = 1e-4, .epochs = 6, .batch_df = 4, .seed = 7,
                          .loss = multidelete_default_options(), .select = sel};
    TaskModel o = task_retrieval_wrap(&w->original), u = task_retrieval_wrap(&w->unlearned);
    return multidelete_unlearn(&w->task, &u, &o, w->split.df, w->split.n_df, w->split.dr, w->split.n_dr, &run, st);
}

TEST(test_multidelete_resumed_after_a_kill_selects_and_ends_bit_identical) {
    World w;
    ASSERT_MSG(world_open(&w) == 0, "%s", error_message());
    char dir[512], state[700];
    test_tmp_path(dir, sizeof dir, "md_resume_ckpt");
    ASSERT(make_dirs(dir) == 0);
    snprintf(state, sizeof state, "%s/unlearn-loop.safetensors", dir);

    /* uninterrupted, without checkpoints */
    ModelSelection sel;
    KillableScore score = {.kill_at = -1};
    MultiDeleteStats straight, resumed;
    ASSERT_MSG(run_multidelete(&w, &sel, &score, &straight) == 0, "%s", error_message());
    ASSERT_EQ_INT(straight.selected_epoch, 3);
    ASSERT_EQ_INT(sel.n_scored, 4);
    int64_t n = w.unlearned.params.total;
    float *want = malloc((size_t)n * sizeof *want);
    memcpy(want, w.unlearned.params.values, (size_t)n * sizeof *want);
    ModelSelection kept = sel;
    sel.best_values = NULL; /* kept owns them now */

    /* killed while scoring epoch 5: the checkpoint after epoch 4 is the last */
    loop_set_checkpoint_dir(dir);
    score = (KillableScore){.kill_at = 2};
    ASSERT(run_multidelete(&w, &sel, &score, &resumed) == -1);
    ASSERT_STR_CONTAINS(error_message(), "killed while scoring");
    ASSERT(file_exists(state));
    model_selection_free(&sel);

    /* resumed in a fresh model and selector: epochs 5 and 6 are run and scored */
    score = (KillableScore){.calls = 2, .kill_at = -1};
    int rc = run_multidelete(&w, &sel, &score, &resumed);
    loop_set_checkpoint_dir(NULL);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(score.calls, 4);
    ASSERT(!file_exists(state)); /* a finished loop leaves no state behind */

    ASSERT_EQ_INT(resumed.selected_epoch, 3); /* epoch 4's parameters, restored from the checkpoint */
    ASSERT_EQ_INT(resumed.steps, straight.steps);
    ASSERT(memcmp(w.unlearned.params.values, want, (size_t)n * sizeof *want) == 0);
    ASSERT_EQ_INT(sel.n_scored, kept.n_scored);
    ASSERT_EQ_INT(sel.best, kept.best);
    ASSERT(memcmp(sel.epochs, kept.epochs, sizeof sel.epochs) == 0);
    ASSERT(memcmp(sel.scores, kept.scores, (size_t)sel.n_scored * sizeof *sel.scores) == 0);
    ASSERT(memcmp(sel.best_values, kept.best_values, (size_t)n * sizeof *want) == 0);
    const double a[] = {straight.first_md, straight.first_mkr, straight.first_ukr,
                        straight.last_md,  straight.last_mkr,  straight.last_ukr};
    const double b[] = {resumed.first_md, resumed.first_mkr, resumed.first_ukr,
                        resumed.last_md,  resumed.last_mkr,  resumed.last_ukr};
    ASSERT(memcmp(a, b, sizeof a) == 0);
    ASSERT(straight.first_md != straight.last_md); /* the terms changed: epoch 1's were restored, not recomputed */

    model_selection_free(&sel);
    model_selection_free(&kept);
    free(want);
    world_close(&w);
}

/* Runs cmd through the shell, its output into log; the child's pid. */
static pid_t spawn(const char *cmd, const char *log) {
    char line[4096];
    snprintf(line, sizeof line, "exec %s > %s 2>&1", cmd, log);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int file_contains(const char *path, const char *text) {
    size_t n;
    char *s = file_read_all(path, &n);
    int found = s && strstr(s, text) != NULL;
    free(s);
    return found;
}

static int same_files(const char *a_dir, const char *b_dir, const char *name) {
    char a[700], b[700];
    snprintf(a, sizeof a, "%s/%s", a_dir, name);
    snprintf(b, sizeof b, "%s/%s", b_dir, name);
    size_t na, nb;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* 1 when the run writing <out>.partial holds the loop checkpoint of epoch `epochs` or a later one. */
static int checkpoint_after(const char *out, int epochs) {
    for (int k = epochs; k < 16; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s.partial/unlearn-epoch%d.model.safetensors", out, k);
        if (file_exists(path)) return 1;
    }
    return 0;
}

/* Wall-clock fields differ between any two runs. */
static void drop_seconds(cJSON *node) {
    for (cJSON *c = node ? node->child : NULL, *next; c; c = next) {
        next = c->next;
        if (c->string && strstr(c->string, "seconds")) cJSON_DeleteItemFromObject(node, c->string);
        else drop_seconds(c);
    }
}

/* metrics.json's metrics and model selection without times. */
static cJSON *metrics_without_times(const char *dir) {
    char path[700];
    snprintf(path, sizeof path, "%s/metrics.json", dir);
    cJSON *m = json_read_file(path);
    if (!m) return NULL;
    cJSON *keep = cJSON_CreateObject();
    cJSON_AddItemToObject(keep, "models", cJSON_DetachItemFromObject(m, "models"));
    cJSON_AddItemToObject(keep, "method_details", cJSON_DetachItemFromObject(m, "method_details"));
    cJSON_Delete(m);
    drop_seconds(keep);
    return keep;
}

TEST(test_multidelete_program_killed_and_resumed_writes_the_uninterrupted_results) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    char tool[600], vocab[700], ckpt[600], straight[600], killed[600], cmd[3072], log[700];
    snprintf(tool, sizeof tool, "%s/unlearn_multidelete", bin);
    ASSERT_MSG(file_exists(tool), "%s not built", tool);
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", eval_world_dir());
    test_tmp_path(ckpt, sizeof ckpt, "md_resume_original.safetensors");
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, "models/configs/albef-tiny.json") == 0, "%s", error_message());
    ASSERT(model_config_use_vocab_file(&c, vocab) == 0);
    Albef m;
    albef_init(&m, &c, 3);
    ASSERT_MSG(albef_save(&m, ckpt) == 0, "%s", error_message());
    albef_free(&m);
    test_tmp_path(straight, sizeof straight, "md_resume_straight");
    test_tmp_path(killed, sizeof killed, "md_resume_killed");
    test_tmp_path(log, sizeof log, "md_resume.log");
    /* 8 epochs of 2 steps (10 Df pairs, half-batches of 4), selection from epoch 2 */
    const char *fmt = "%s --data %s --model albef-tiny --original %s --df-size 2 --batch-df 4 --epochs 8 "
                      "--select-from 2 --k-test 2 --no-eval-original --out %s";

    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), ckpt, straight);
    ASSERT_EQ_INT(wait_status(spawn(cmd, log)), 0);

    /* killed once the checkpoint after epoch 3 is there (epochs 2 and 3 scored, the best kept in it) */
    snprintf(cmd, sizeof cmd, fmt, tool, eval_world_dir(), ckpt, killed);
    pid_t pid = spawn(cmd, log);
    ASSERT(pid > 0);
    int seen = 0, st = -1;
    for (int k = 0; k < 60000 && !(seen = checkpoint_after(killed, 3)); k++) {
        if (waitpid(pid, &st, WNOHANG) == pid) break; /* ended before: no kill */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    ASSERT_MSG(seen, "the run never wrote the checkpoint of epoch 3 (wait status %d)", st);
    kill(pid, SIGKILL);
    st = wait_status(pid);
    ASSERT_MSG(st == 128 + SIGKILL, "the run ended before the kill (status %d)", st);
    ASSERT(!file_exists(killed));

    strcat(cmd, " --resume");
    ASSERT_EQ_INT(wait_status(spawn(cmd, log)), 0);
    ASSERT(file_contains(log, "unlearn: resumed after epoch "));
    ASSERT(same_files(straight, killed, "model.safetensors"));
    ASSERT(same_files(straight, killed, "scores_df.csv"));
    ASSERT(same_files(straight, killed, "scores_dr.csv"));
    cJSON *a = metrics_without_times(straight), *b = metrics_without_times(killed);
    ASSERT(a && b);
    char *sa = cJSON_Print(a), *sb = cJSON_Print(b);
    ASSERT_MSG(cJSON_Compare(a, b, 1), "uninterrupted:\n%s\nresumed:\n%s", sa, sb);
    free(sa);
    free(sb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
