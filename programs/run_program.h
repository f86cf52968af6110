/* The skeleton every unlearning program shares, so that each main holds only
 * its method: parse the common and the method's own flags and set the run up;
 * load θ0 and copy it into the model to unlearn (frozen to the fusion set with
 * --fusion-only, spec/unlearning_methods.md §2.3); at the end save the result
 * and run the common evaluation (Dt, Df, Df-vs-unseen, MI, time) with θ0 for
 * comparison. Each step prints its error and exits the program on failure. */
#ifndef PROGRAMS_RUN_PROGRAM_H
#define PROGRAMS_RUN_PROGRAM_H

#include "core/cli.h"
#include "models/task.h"
#include "programs/run_driver.h"

#define RUN_PROGRAM_MAX_OWN_FLAGS 32

/* Parses argv against the common flags followed by `own` (exits 0 after
 * --help, 1 on a bad flag), then run_setup() with the program's recipe knobs. */
void run_program_start(RunContext *ctx, const char *program, const char *description, const CliFlag *own,
                       int n_own, const RunKnob *knobs, int n_knobs, int argc, char **argv);

/* θ0 (--original, or trained once and cached) and θ = a copy of it. */
void run_program_models(RunContext *ctx, TaskModel *original, TaskModel *unlearned);

/* Saves θ as <run>/model.safetensors, evaluates θ0 (unless --no-eval-original)
 * and θ under the row `method` ("-F" appended with --fusion-only), writes the
 * report files and prints the table. `seconds`: the unlearning loop's time. */
void run_program_finish(RunContext *ctx, const char *method, TaskModel *original, TaskModel *unlearned,
                        double seconds);

#endif
