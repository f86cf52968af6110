/* The state of the training-loop skeleton (unlearn/loop.h) between epochs,
 * written after every completed epoch so that an interrupted run continues
 * where it stopped (--resume) and ends bit-identical to an uninterrupted one.
 *
 * Everything a later epoch reads: the model (parameters, momentum encoder,
 * queues: the task's own checkpoint), AdamW's moments and step, the loop's
 * position (epochs done, steps taken) and the side stream (its order, its
 * position and reshuffle round). Every random draw of the loop is a Philox
 * counter keyed by (seed, stream, epoch or step), so restoring these counters
 * restores the randomness. The hooks' own state (model selection's, a
 * mask's: LoopHooks.state_save) is theirs to write. Files in the checkpoint
 * directory: "<loop name>-epoch<k>.model.safetensors", with state hooks
 * "<loop name>-epoch<k>.hooks.safetensors", and "<loop name>-loop.safetensors"
 * (the loop state naming k, written last, so it only ever names complete
 * files). Device state (parameters, momentum twins, queues, AdamW moments)
 * goes through host copies. */
#ifndef UNLEARN_LOOP_CHECKPOINT_H
#define UNLEARN_LOOP_CHECKPOINT_H

#include <stdint.h>

#include "core/safetensors.h"
#include "nn/optim.h"
#include "unlearn/loop.h"

typedef struct {
    int64_t epochs_done, steps;
    double first_mean, last_mean;
    int64_t side_pos, side_round;
    int64_t *side_order; /* [n_side] */
    int64_t n_side;
} LoopPosition;

/* Writes the state after epoch p->epochs_done - 1. 0, or -1 with error_set. */
int loop_checkpoint_write(const LoopConfig *c, const AdamW *opt, const LoopPosition *p);
/* Restores a state written by loop_checkpoint_write for a loop of the same
 * name and shape: 1 when restored, 0 when there is none, -1 with error_set
 * when it exists but does not fit this loop. */
int loop_checkpoint_read(const LoopConfig *c, AdamW *opt, LoopPosition *p);
/* The hooks' state file (LoopHooks.state_save), gathered tensor by tensor
 * and written at once:
 *   LoopStateFile f = {0};
 *   loop_state_add_doubles(&f, "neggrad.stats", values, 4);
 *   return loop_state_write(&f, path);   // frees what the adds copied */
#define LOOP_STATE_MAX_TENSORS 8
typedef struct {
    StWriteTensor t[LOOP_STATE_MAX_TENSORS];
    int64_t shapes[LOOP_STATE_MAX_TENSORS];
    void *owned[LOOP_STATE_MAX_TENSORS];
    int n;
} LoopStateFile;
/* Each add copies its values. Doubles are kept bit for bit (as int64 values:
 * safetensors has no f64 here); floats may live on a device. */
void loop_state_add_doubles(LoopStateFile *f, const char *name, const double *v, int64_t n);
void loop_state_add_i64(LoopStateFile *f, const char *name, const int64_t *v, int64_t n);
void loop_state_add_floats(LoopStateFile *f, const char *name, const float *v, Device device, int64_t n);
/* Writes the gathered tensors to path and frees the copies. 0, or -1 with error_set. */
int loop_state_write(LoopStateFile *f, const char *path);
/* Read back from an open state file: 0, or -1 with error_set naming the file and the tensor. */
int loop_state_read_doubles(const SafetensorsFile *f, const char *name, double *v, int64_t n);
int loop_state_read_i64(const SafetensorsFile *f, const char *name, int64_t *v, int64_t n);
int loop_state_read_floats(const SafetensorsFile *f, const char *name, float *dst, Device device, int64_t n);

/* Removes a finished loop's state (a later loop of the same name starts afresh). */
void loop_checkpoint_remove(const LoopConfig *c);

#endif
