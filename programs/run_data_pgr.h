/* The run driver's PGR part (--task pgr; models/task_pgr.h): the flags of
 * the graph-text data, the model config (models/pgr_config.h), the corpus
 * (data/pgr_corpus.h) with its graph and splits, the task over them, and the
 * corpus's share of a run's identity. programs/run_driver.c calls these where
 * the image-text tasks load their splits.
 *
 * Without --data the shipped corpus is read: data/pgr_corpus in the working
 * directory, else next to the program (<bin>/../data/pgr_corpus), as model
 * configs are found. */
#ifndef PROGRAMS_RUN_DATA_PGR_H
#define PROGRAMS_RUN_DATA_PGR_H

#include <stdint.h>

#include "core/cli.h"
#include "programs/run_driver.h"

#define RUN_PGR_DEFAULT_DATA "data/pgr_corpus"
#define RUN_PGR_DEFAULT_MODEL "pgr-tiny"
/* Deleted rows without --df-size: the paper gives no PGR size (spec/pgr_graph_text.md
 * §1.6); 200 of the 3,686 rows of D is 5%, between the 3% and 17% that its 1K-5K
 * of Flickr30K's 29K images are (spec/unlearning_methods.md §1.1). */
#define RUN_PGR_DEFAULT_DF_SIZE 200

int run_is_pgr(const char *task);
/* Writes the RUN_PGR_FLAGS flag entries into out. */
void run_pgr_flags(RunFlags *f, CliFlag *out);
/* Stops (-1, error_set) when a PGR flag is given with another task, or an
 * image-text one with pgr. */
int run_pgr_check_flags(const RunFlags *f);
/* Reads the model config at ctx->config_path into ctx->pgr_task.cfg and its
 * BERT view into ctx->cfg (which names the recipe row and the cache entries). */
int run_pgr_model_config(RunContext *ctx);
/* The data directory, the corpus, the vocabulary's size into the config, and
 * ctx->task. 0, or -1 with error_set naming the file. */
int run_pgr_load(RunContext *ctx);
/* Logs what was loaded and the deletion (after the split). */
void run_pgr_describe(const RunContext *ctx);
/* Continues *h over the corpus (every file's bytes, the options) and the
 * --text-init checkpoint: the data part of the original model's cache key and
 * of config.json's inputs. */
int run_pgr_fingerprint(const RunContext *ctx, uint64_t *h);
void run_pgr_free(RunContext *ctx);

#endif
