/* The run driver every method program shares (DESIGN.md "Programs"): the
 * common flags, the data (writing the synthetic default world when the
 * default data directory is empty), the model config and recipe, the
 * deletion request (Df/Dr and the evaluation sets), the original model
 * (loaded, or trained once and cached by config and data), and the run
 * directory with its config.json and log. */
#ifndef PROGRAMS_RUN_DRIVER_H
#define PROGRAMS_RUN_DRIVER_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/cli.h"
#include "data/deletion.h"
#include "data/retrieval_set.h"
#include "data/tokenizer.h"
#include "models/model_config.h"
#include "models/task.h"
#include "unlearn/recipe.h"

/* The synthetic world the programs write and use when run without --data. */
#define RUN_DEFAULT_DATA "runs/synth-world"
#define RUN_CACHE_DIR "runs/cache"

typedef struct {
    const char *model, *task, *data, *image_root, *original, *df_list, *device, *precision, *out;
    int df_size, seed, fusion_only, allow_unknown_ids, eval_original;
    /* Recipe knobs (see RunKnob): 0 by default, which stands for the recipe's value;
     * run_setup writes the value used back here, so config.json records it. */
    double lr;
    int epochs, k_test;
} RunFlags;

/* A flag that sets one field of the recipe (unlearn/recipe.h). Its default
 * text is "0", standing for the recipe row's value; a value given on the
 * command line must be > 0, else the run stops naming the flag, the value and
 * the recipe's. Each program lists the knobs its loop reads (--lr and
 * --epochs map to different fields in different programs; --k-test is every
 * program's); a common knob the program does not read is refused when given. */
typedef struct {
    const char *flag;
    size_t offset; /* offsetof(Recipe, field) */
    int is_int;    /* the field is an int (else a double) */
} RunKnob;
#define RUN_KNOB_DOUBLE(flag, field) {flag, offsetof(Recipe, field), 0}
#define RUN_KNOB_INT(flag, field) {flag, offsetof(Recipe, field), 1}

#define RUN_COMMON_FLAGS 17
/* Writes the RUN_COMMON_FLAGS shared flag entries into out. */
void run_common_flags(RunFlags *f, CliFlag *out);

typedef struct {
    const char *program;
    RunFlags flags;
    Device device;                /* --device: where the models live and the loops run */
    char data_dir[1024], image_root[1100], run_dir[1024], config_path[1024];
    ModelConfig cfg;
    Recipe recipe;
    Tokenizer *tok;
    RetrievalSet train, test;
    /* flickr30k_val.json (eval layout), the membership-inference attacker's
     * non-members (spec/unlearning_methods.md §6.3 item 2). All zero (no
     * pairs) when the data directory has no val file: MI is then skipped. */
    RetrievalSet val;
    DeletionList list;
    DeletionSplit split;          /* Df / Dr as training-pair (text) indices */
    DeletionEvalSets eval_sets;   /* Df and 5 Dr subsets of |Df| (spec §1.3, §6.2) */
    Task task;                    /* the task over the loaded splits (models/task.h) */
    cJSON *config;                /* resolved configuration, written as config.json */
    /* Optional, owned (freed by run_free): what the method reports beyond the
     * common metrics (MultiDelete: its model selection), set before
     * run_program_finish: the JSON goes into metrics.json ("method_details"),
     * the markdown paragraph into report.md, the one-line summary is printed
     * after the summary table. */
    cJSON *method_details;
    char *method_notes;
    char method_summary[512];
} RunContext;

/* Prepares everything up to the models: the task, the model config, the
 * recipe row with the program's knobs applied, the data and the deletion.
 * `spec` holds the program's flags (already parsed) and is echoed into
 * config.json with the resolved values. 0, or -1 with error_set. */
int run_setup(RunContext *ctx, const char *program, const CliSpec *spec, const RunKnob *knobs, int n_knobs);
void run_free(RunContext *ctx);

/* The original model θ0: --original if given, else the cached model trained
 * on all of D with the recipe (trained now and cached when absent). */
int run_original_model(RunContext *ctx, TaskModel *original);

/* Moves a model to the run's device (after it was initialised or loaded on
 * the host); nothing on the CPU. */
void run_model_to_device(const RunContext *ctx, TaskModel *m);

/* A path inside the run directory. */
const char *run_path(const RunContext *ctx, const char *name, char *buf, size_t size);

#endif
