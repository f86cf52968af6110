/* The run driver's flag and name checks (programs/run_driver.h): a recipe
 * knob given as 0 or negative stops with the flag, the value, the valid range
 * and the recipe's value; a common knob a program does not read is refused;
 * --task and --model names that are unknown (or a model without a recipe for the task) stop;
 * config.json records the values used, the recipe's where no flag was given
 * (never the "not given" placeholder). All of it before the run writes a
 * file: the rejected runs leave no run directory. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "models/task_retrieval.h"
#include "programs/run_driver.h"
#include "tests/eval_world.h"
#include "tests/test.h"

typedef struct {
    RunContext ctx;
    CliFlag flags[RUN_COMMON_FLAGS + 2];
    int batch_df;
    CliSpec spec;
} Setup;

static const RunKnob KNOBS[] = {RUN_KNOB_DOUBLE("lr", unlearn_lr), RUN_KNOB_INT("epochs", unlearn_epochs),
                                RUN_KNOB_INT("batch-df", unlearn_batch_df)};

/* run_setup of a program with MultiDelete's knobs (or none) on the eval world. */
static int setup(Setup *s, const char *out_name, int with_knobs, const char *const *args, int n_args) {
    memset(s, 0, sizeof *s);
    run_common_flags(&s->ctx.flags, s->flags);
    s->flags[RUN_COMMON_FLAGS] = (CliFlag)CLI_FLAG_INT("batch-df", &s->batch_df, "0", "Df pairs per step");
    s->flags[RUN_COMMON_FLAGS + 1] =
        (CliFlag)CLI_FLAG_BOOL("ukr-text", &s->ctx.flags.ukr_text, "false", "unlearn_multidelete's L_UKR text term");
    s->spec = (CliSpec){"flags-test", "test", s->flags, RUN_COMMON_FLAGS + 2};
    static char out[600], data[600], model[600];
    char *argv[32] = {"flags-test", "--data", data, "--model", model, "--out", out, "--df-size", "2"};
    int argc = 9;
    snprintf(data, sizeof data, "%s", eval_world_dir());
    snprintf(model, sizeof model, "models/configs/albef-tiny.json");
    test_tmp_path(out, sizeof out, out_name);
    for (int k = 0; k < n_args; k++) argv[argc++] = (char *)args[k];
    if (cli_parse(&s->spec, argc, argv) != 0) return -1;
    return run_setup(&s->ctx, "flags-test", &s->spec, with_knobs ? KNOBS : NULL, with_knobs ? 3 : 0);
}

static int dir_exists(const char *name) {
    char path[600];
    struct stat st;
    return stat(test_tmp_path(path, sizeof path, name), &st) == 0;
}

/* Each bad value is refused with its reason, and nothing is written. */
TEST(test_run_flags_refuse_invalid_values_with_the_valid_range) {
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    const struct {
        const char *args[2];
        int with_knobs;
        const char *expect;
    } cases[] = {
        {{"--lr", "0"}, 1, "--lr 0: must be > 0 (the recipe's value for albef-tiny on flickr30k is 1e-05"},
        {{"--lr", "-0.001"}, 1, "--lr -0.001: must be > 0"},
        {{"--epochs", "0"}, 1, "--epochs 0: must be >= 1 (the recipe's value for albef-tiny on flickr30k is 5"},
        {{"--batch-df", "0"}, 1, "--batch-df 0: must be >= 1 (the recipe's value for albef-tiny on flickr30k is 16"},
        {{"--k-test", "-3"}, 1, "--k-test -3: must be >= 1"},
        {{"--lr", "1e-3"}, 0, "--lr: flags-test has no lr to set"},
        {{"--task", "snli_ve"}, 1, "no recipe for model \"albef-tiny\" on task \"snli_ve\""},
        {{"--task", "retrieval"}, 1, "unknown task (known: flickr30k|snli_ve|nlvr2|pgr)"},
        {{"--model", "albef-nonexistent"}, 1, "no models/configs/albef-nonexistent.json"},
        {{"--ukr-text=true", "--seed=1"}, 1, "--ukr-text: --task flickr30k has no image-only L_UKR to extend"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Setup s;
        char name[32];
        snprintf(name, sizeof name, "flags_bad_%zu", k);
        int rc = setup(&s, name, cases[k].with_knobs, cases[k].args, 2);
        ASSERT_MSG(rc < 0, "%s %s was accepted", cases[k].args[0], cases[k].args[1]);
        ASSERT_MSG(strstr(error_message(), cases[k].expect) != NULL, "%s %s: %s", cases[k].args[0], cases[k].args[1],
                   error_message());
        ASSERT_MSG(!dir_exists(name), "%s %s: the rejected run wrote its directory", cases[k].args[0],
                   cases[k].args[1]);
        run_free(&s.ctx);
    }
}

static double config_number(const cJSON *config, const char *section, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(config, section), key);
    return cJSON_IsNumber(v) ? v->valuedouble : -12345.0;
}

TEST(test_run_flags_config_json_records_the_values_used) {
    Setup s;
    const char *args[] = {"--epochs", "2"};
    ASSERT_MSG(setup(&s, "flags_ok", 1, args, 2) == 0, "%s", error_message());
    char path[1100];
    run_path(&s.ctx, "config.json", path, sizeof path);
    size_t n;
    char *text = file_read_all(path, &n);
    ASSERT(text != NULL);
    cJSON *c = cJSON_Parse(text);
    free(text);
    ASSERT(c != NULL);
    /* given: the flag's value, in the flags and the recipe */
    ASSERT_NEAR(config_number(c, "flags", "epochs"), 2, 0);
    ASSERT_NEAR(config_number(c, "recipe", "unlearn_epochs"), 2, 0);
    /* not given: the recipe row's values (albef-tiny on flickr30k) */
    ASSERT_NEAR(config_number(c, "flags", "lr"), 1e-5, 1e-12);
    ASSERT_NEAR(config_number(c, "flags", "batch-df"), 16, 0);
    ASSERT_NEAR(config_number(c, "flags", "k-test"), 16, 0);
    ASSERT_NEAR(config_number(c, "recipe", "unlearn_lr"), 1e-5, 1e-12);
    ASSERT_NEAR(s.ctx.recipe.unlearn_epochs, 2, 0);
    ASSERT_NEAR(s.ctx.flags.lr, 1e-5, 1e-12);
    ASSERT(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "flags"), "task")->valuestring, "flickr30k") == 0);
    cJSON_Delete(c);
    run_free(&s.ctx);

    /* a program without the knob leaves the common flag out of config.json */
    ASSERT_MSG(setup(&s, "flags_no_knobs", 0, NULL, 0) == 0, "%s", error_message());
    ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(s.ctx.config, "flags"), "lr") == NULL);
    ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(s.ctx.config, "flags"), "k-test") != NULL);
    run_free(&s.ctx);
}

/* The original-model cache entry a setup would use. */
static int cache_path_of(const char *out_name, const char *const *args, int n_args, char *path, size_t size) {
    Setup s;
    int rc = setup(&s, out_name, 1, args, n_args);
    if (rc == 0) rc = run_original_cache_path(&s.ctx, path, size);
    run_free(&s.ctx);
    return rc;
}

TEST(test_run_original_cache_key_follows_images_and_image_root) {
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    char a[1100], b[1100], c[1100], d[1100], e[1100];
    ASSERT_MSG(cache_path_of("cache_a", NULL, 0, a, sizeof a) == 0, "%s", error_message());
    ASSERT_MSG(cache_path_of("cache_b", NULL, 0, b, sizeof b) == 0, "%s", error_message());
    ASSERT(strcmp(a, b) == 0); /* the same request finds the same entry */
    /* one training image rewritten: its modification time changes the key */
    char img[700];
    snprintf(img, sizeof img, "%s/images/%d.jpg", eval_world_dir(), 1000002);
    struct stat st;
    ASSERT(stat(img, &st) == 0);
    struct timespec later[2] = {st.st_atim, {st.st_mtim.tv_sec + 5, st.st_mtim.tv_nsec}};
    ASSERT(utimensat(AT_FDCWD, img, later, 0) == 0);
    int rc = cache_path_of("cache_c", NULL, 0, c, sizeof c);
    struct timespec back[2] = {st.st_atim, st.st_mtim};
    utimensat(AT_FDCWD, img, back, 0);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT(strcmp(a, c) != 0);
    /* the same images under another --image-root are other files */
    char root[700], cmd[1600];
    test_tmp_path(root, sizeof root, "images_copy");
    snprintf(cmd, sizeof cmd, "cp -rp %s/images %s", eval_world_dir(), root);
    ASSERT(system(cmd) == 0);
    const char *args[] = {"--image-root", root};
    ASSERT_MSG(cache_path_of("cache_d", args, 2, d, sizeof d) == 0, "%s", error_message());
    ASSERT(strcmp(a, d) != 0);
    /* and the seed trains another original */
    const char *seed[] = {"--seed", "7"};
    ASSERT_MSG(cache_path_of("cache_e", seed, 2, e, sizeof e) == 0, "%s", error_message());
    ASSERT(strcmp(a, e) != 0);
}

TEST(test_run_wants_retrain_when_the_original_is_trained_here_or_asked) {
    RunContext ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.flags.eval_retrain = "auto";
    ASSERT(run_wants_retrain(&ctx)); /* the default run: original trained with the recipe, so Retrain too */
    ctx.flags.original = "given.safetensors";
    ASSERT(!run_wants_retrain(&ctx)); /* a given checkpoint's recipe is unknown */
    ctx.flags.eval_retrain = "on";
    ASSERT(run_wants_retrain(&ctx));
    ctx.flags.eval_retrain = "off";
    ctx.flags.original = NULL;
    ASSERT(!run_wants_retrain(&ctx));
}

/* --init: the trained models start from the file's weights bit for bit
 * (run_apply_init after model_init with another seed), config.json and the
 * original's cache key carry the file's identity (its content hash), and a
 * checkpoint of another shape stops with the file and the tensor named. */
TEST(test_run_init_starts_from_the_checkpoint_and_keys_the_cache) {
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    char plain[1100], with_init[1100], ckpt[700], wrong[700];
    ASSERT_MSG(cache_path_of("init_plain", NULL, 0, plain, sizeof plain) == 0, "%s", error_message());
    Setup s;
    ASSERT_MSG(setup(&s, "init_base", 1, NULL, 0) == 0, "%s", error_message());
    const Task *t = &s.ctx.task;
    ASSERT(strcmp(cJSON_GetObjectItem(s.ctx.config, "init")->valuestring, "random (seed 42)") == 0);
    TaskModel given, other;
    ASSERT(t->model_init(t, &given, 5) == 0);
    test_tmp_path(ckpt, sizeof ckpt, "init_given.safetensors");
    ASSERT(t->model_save(t, &given, ckpt) == 0);
    /* the same architecture with one more vocabulary row: the word embeddings' shape differs */
    ModelConfig cfg = s.ctx.cfg;
    cfg.vocab_size += 1;
    Task wider;
    task_retrieval_init(&wider, &cfg, NULL, NULL, NULL);
    ASSERT(wider.model_init(&wider, &other, 6) == 0);
    test_tmp_path(wrong, sizeof wrong, "init_wrong.safetensors");
    ASSERT(wider.model_save(&wider, &other, wrong) == 0);
    wider.model_free(&wider, &other);
    wider.free(&wider);
    run_free(&s.ctx);

    const char *args[] = {"--init", ckpt};
    ASSERT_MSG(setup(&s, "init_given", 1, args, 2) == 0, "%s", error_message());
    t = &s.ctx.task;
    ASSERT(t->model_init(t, &other, 42) == 0);
    ASSERT(memcmp(other.params->values, given.params->values, (size_t)given.params->total * sizeof(float)) != 0);
    ASSERT_MSG(run_apply_init(&s.ctx, &other) == 0, "%s", error_message());
    ASSERT(memcmp(other.params->values, given.params->values, (size_t)given.params->total * sizeof(float)) == 0);
    char want[800];
    snprintf(want, sizeof want, "pretrained weights %s", ckpt);
    ASSERT(strcmp(cJSON_GetObjectItem(s.ctx.config, "init")->valuestring, want) == 0);
    ASSERT(cJSON_GetObjectItem(cJSON_GetObjectItem(s.ctx.config, "inputs"), "init") != NULL);
    ASSERT(run_original_cache_path(&s.ctx, with_init, sizeof with_init) == 0);
    ASSERT(strcmp(plain, with_init) != 0);
    t->model_free(t, &other);
    run_free(&s.ctx);

    const char *bad[] = {"--init", wrong};
    ASSERT_MSG(setup(&s, "init_wrong", 1, bad, 2) == 0, "%s", error_message());
    t = &s.ctx.task;
    ASSERT(t->model_init(t, &other, 42) == 0);
    ASSERT(run_apply_init(&s.ctx, &other) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--init");
    ASSERT_STR_CONTAINS(error_message(), wrong);
    ASSERT_STR_CONTAINS(error_message(), "text_encoder.embeddings.word_embeddings.weight");
    error_clear();
    t->model_free(t, &other);
    t->model_free(t, &given);
    run_free(&s.ctx);
}
