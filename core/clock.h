/* Wall-clock seconds on the monotonic clock, for timing loops (the
 * unlearning time of spec/unlearning_methods.md §6.5), progress bars and
 * benchmarks. Only differences of two readings mean anything. */
#ifndef CORE_CLOCK_H
#define CORE_CLOCK_H

double clock_seconds(void);

#endif
