/* A region of a step whose intermediates die at its end: a forward without a
 * tape (MultiDelete's frozen original, unlearn/multidelete_loss.c), whose
 * activations a bump arena would otherwise hold until the step ends. The
 * region's outputs move to the kept arena (core/arena.h) and every other
 * allocation made in it, host and device, is released; the rest of the step
 * reuses that memory. Only without a tape: a recorded node would point into
 * the released memory. */
#ifndef AUTOGRAD_SCOPE_H
#define AUTOGRAD_SCOPE_H

#include "core/arena.h"

typedef struct {
    ArenaMark host, device;
    int has_device;
} ActivationScope;

/* Marks the activation arenas (the CPU's, and the CUDA device's when it is up). */
ActivationScope activation_scope_begin(void);
/* Ends the region keeping kept[0..n): each is replaced by a contiguous copy
 * that lives until autograd_step_end(); every other tensor made since the
 * begin is gone. */
void activation_scope_end(const ActivationScope *s, Tensor **kept, int n);

#endif
