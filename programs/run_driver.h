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
#include "core/run_dir.h"
#include "data/cls_set.h"
#include "data/deletion.h"
#include "data/pgr_corpus.h"
#include "data/retrieval_set.h"
#include "data/tokenizer.h"
#include "models/model_config.h"
#include "models/task.h"
#include "models/task_pgr.h"
#include "unlearn/recipe.h"

/* Without --data the programs use runs/synth-<world> (--world, data/synth_image_text.h),
 * writing the named synthetic world there when the directory is empty. */
#define RUN_DEFAULT_DATA_PREFIX "runs/synth-"
#define RUN_CACHE_DIR "runs/cache"

typedef struct {
    const char *model, *task, *data, *world, *image_root, *original, *df_list, *device, *precision, *out;
    const char *init; /* --init: pretrained weights the trained models start from (NULL: random from --seed) */
    const char *eval_retrain; /* auto|on|off: see run_wants_retrain */
    int df_size, seed, fusion_only, allow_unknown_ids, eval_original, allow_nonfinite, resume;
    /* Not a common flag: unlearn_multidelete's --ukr-text points here, so that
     * run_setup builds the classification task with L_UKR's text term
     * (models/task_cls.h; spec/unlearning_methods.md §5.2). 0 elsewhere. */
    int ukr_text;
    /* Not a common flag either: the checkpoints evaluate, probe and embed read
     * (comma-separated) point here, so that their content is part of the run's
     * identity (config.json "inputs"): a run is never reused for a file that
     * changed under the same path. NULL elsewhere. */
    const char *checkpoints;
    /* Set by a program without a -F variant before run_program_start: why
     * --fusion-only is refused, before anything is written. NULL elsewhere. */
    const char *no_fusion_only;
    /* Recipe knobs (see RunKnob): 0 by default, which stands for the recipe's value;
     * run_setup writes the value used back here, so config.json records it. */
    double lr;
    int epochs, k_test;
    /* --task pgr's data (programs/run_data_pgr.h) */
    const char *pgr_graph, *pgr_test, *pgr_text_init;
    int pgr_keep_target_edge, pgr_max_nodes, pgr_val_percent;
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

#define RUN_PGR_FLAGS 6
#define RUN_COMMON_FLAGS (22 + RUN_PGR_FLAGS)
/* Writes the RUN_COMMON_FLAGS shared flag entries into out. */
void run_common_flags(RunFlags *f, CliFlag *out);

typedef struct {
    const char *program;
    RunFlags flags;
    Device device;                /* --device: where the models live and the loops run */
    char data_dir[1024], image_root[1100], config_path[1024];
    /* The run writes into run_dir = "<out>.partial" (locked against a second
     * writer) and run_free renames it to out_dir when the program reached its
     * end (core/run_dir.h): out_dir only ever holds a complete run. */
    char run_dir[1024], out_dir[1024];
    RunDir dir;
    ModelConfig cfg;
    Recipe recipe;
    Tokenizer *tok;
    RetrievalSet train, test;
    /* flickr30k_val.json (eval layout), the membership-inference attacker's
     * non-members (spec/unlearning_methods.md §6.3 item 2). All zero (no
     * pairs) when the data directory has no val file: MI is then skipped. */
    RetrievalSet val;
    /* SNLI-VE / NLVR2 (--task snli_ve|nlvr2): the train, test and dev
     * (validation) splits instead of the three above, which stay empty. */
    ClsSet cls_train, cls_test, cls_val;
    /* PGR (--task pgr): the corpus (graph, splits, tokenizer: ctx->tok borrows
     * it) and what the task reads (programs/run_data_pgr.h). */
    PgrCorpus pgr;
    PgrTaskData pgr_task;
    DeletionList list;
    DeletionSplit split;          /* Df / Dr as training-pair (text) indices */
    DeletionEvalSets eval_sets;   /* Df and 5 Dr subsets of |Df| (spec §1.3, §6.2) */
    Task task;                    /* the task over the loaded splits (models/task.h) */
    uint64_t init_hash;           /* FNV-1a of the --init file's content (0 without --init) */
    /* The init a classification run on the synthetic world takes without --init
     * (programs/run_default_init.h); flags.init points here when it is used. */
    char default_init[1100];
    cJSON *config;                /* resolved configuration, written as config.json */
    /* Optional, owned (freed by run_free): what the method reports beyond the
     * common metrics (MultiDelete: its model selection), set before
     * run_program_finish: the JSON goes into metrics.json ("method_details"),
     * the markdown paragraph into report.md, the one-line summary is printed
     * after the summary table. */
    cJSON *method_details;
    char *method_notes;
    char method_summary[512];
    /* Optional, set before run_program_start: the program's check of its own
     * flags, run after parsing and before the run is set up (nothing written,
     * no data loaded yet). 0, or -1 with error_set. */
    int (*check_flags)(void);
} RunContext;

/* Prepares everything up to the models: the task, the model config, the
 * recipe row with the program's knobs applied, the run directory (locked),
 * the data and the deletion. `spec` holds the program's flags (already
 * parsed) and is echoed into config.json with the resolved values and the
 * identity of every input (data, deletion list, --original, code version).
 * 0; RUN_SETUP_DONE_BEFORE when out_dir already holds a complete run whose
 * config.json equals this one (nothing was written; the caller reports it);
 * or -1 with error_set. */
#define RUN_SETUP_DONE_BEFORE 1
int run_setup(RunContext *ctx, const char *program, const CliSpec *spec, const RunKnob *knobs, int n_knobs);
/* Ends the run: a program that got here completed, so its run directory is
 * renamed into place (replacing an older run there) and unlocked; then frees
 * everything. A program that stops on an error exits without it, leaving
 * out_dir as it was and its partial folder for inspection. */
void run_free(RunContext *ctx);

/* Rank 0 locks the cache entry `path` (core/fileio.h file_lock on `<path>.lock`) for as long as it takes to
 * find or build it, so that concurrent runs of one configuration build it once; collective. 0 with *fd set (-1
 * on the other ranks; release with file_unlock), or -1. */
int run_lock_cache_entry(const char *path, int *fd);

/* The original model θ0: --original if given, else the cached model trained
 * on all of D with the recipe (trained now and cached when absent; an entry
 * whose checksum does not match is trained again). */
int run_original_model(RunContext *ctx, TaskModel *original);
/* Where that cached model lives: runs/cache/original-<model>-<key>.safetensors,
 * the key covering the model config, the training recipe, seed, device, task,
 * the training data with every image (path, size, modification time) and the
 * code version. 0, or -1 with error_set. */
int run_original_cache_path(const RunContext *ctx, char *path, size_t size);

/* --init's weights into m (made by model_init, still on the host):
 * Task.model_init_from; nothing without --init. Every model trained from
 * scratch here starts so: train's, the original trained here and Retrain
 * (spec/unlearning_methods.md §3.4, §4.1). */
int run_apply_init(const RunContext *ctx, TaskModel *m);

/* Retrain (spec/unlearning_methods.md §4.1): the recipe on Dr from the
 * original's initialisation, trained once per deletion request and cached
 * (keyed by what the original's cache key holds and the Dr pairs). *seconds
 * is the training's wall clock, also when it comes from the cache. */
int run_retrain_model(RunContext *ctx, TaskModel *retrained, double *seconds);

/* The data of ctx->flags.task into ctx (the synthetic world written first
 * when the default data directory is empty): the splits and the tokenizer,
 * with the model config's vocabulary set from it. 0, or -1 with error_set. */
int run_data_load(RunContext *ctx);

/* Whether the evaluation has a Retrain row: --eval-retrain on, or auto (the
 * default) when the original is the one trained here with the same recipe
 * (no --original): Retrain of a given checkpoint would need the recipe that
 * trained it. */
int run_wants_retrain(const RunContext *ctx);

/* Moves a model to the run's device (after it was initialised or loaded on
 * the host); nothing on the CPU. */
void run_model_to_device(const RunContext *ctx, TaskModel *m);

/* A path inside the run directory. */
const char *run_path(const RunContext *ctx, const char *name, char *buf, size_t size);

#endif
