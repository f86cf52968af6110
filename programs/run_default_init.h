/* The initialisation of the models a run trains (train's model, the original
 * trained here, Retrain) when no --init is given. The paper fine-tunes SNLI-VE
 * and NLVR2 from a pretrained ALBEF (spec/unlearning_methods.md §3.4, §4.1); on
 * the synthetic world the stand-in for it is the world's own retrieval
 * original, the model `train --task flickr30k --model <the retrieval config>`
 * trains and caches (run_original_model), whose encoders the VE/NLVR2 model
 * takes (models/task_cls.h, model_init_from). From a random init a tiny VE
 * model barely leaves chance in its recipe's steps (bench/README.md). */
#ifndef PROGRAMS_RUN_DEFAULT_INIT_H
#define PROGRAMS_RUN_DEFAULT_INIT_H

#include <stddef.h>

#include "programs/run_driver.h"

/* For --task snli_ve|nlvr2 on the synthetic world (no --data) without
 * --init, when a model will be trained here (no --original, or Retrain
 * wanted): trains the world's retrieval original once (cached as
 * run_original_cache_path names it, with this run's seed, device and
 * precision) and points ctx->flags.init at it, exactly as if --init had named
 * that file. The retrieval config is the model's name without its "-ve" /
 * "-nlvr" suffix (albef-tiny-ve -> albef-tiny). Nothing otherwise. Called by
 * run_setup after the task is set up and before the inputs are hashed.
 * 0, or -1 with error_set. */
int run_default_cls_init(RunContext *ctx);

/* config.json's and report.md's "init": what the models trained here start
 * from, in words, into buf (returned). */
const char *run_init_describe(const RunContext *ctx, char *buf, size_t size);

#endif
