/* The state of the training-loop skeleton (unlearn/loop.h) between epochs,
 * written after every completed epoch so that an interrupted run continues
 * where it stopped (--resume) and ends bit-identical to an uninterrupted one.
 *
 * Everything a later epoch reads: the model (parameters, momentum encoder,
 * queues: the task's own checkpoint), AdamW's moments and step, the loop's
 * position (epochs done, steps taken) and the side stream (its order, its
 * position and reshuffle round). Every random draw of the loop is a Philox
 * counter keyed by (seed, stream, epoch or step), so restoring these counters
 * restores the randomness. Two files in the checkpoint directory:
 * "<loop name>-epoch<k>.model.safetensors" and "<loop name>-loop.safetensors"
 * (the loop state naming k, written last, so it only ever names a complete
 * model file). */
#ifndef UNLEARN_LOOP_CHECKPOINT_H
#define UNLEARN_LOOP_CHECKPOINT_H

#include <stdint.h>

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
/* Removes a finished loop's state (a later loop of the same name starts afresh). */
void loop_checkpoint_remove(const LoopConfig *c);

#endif
