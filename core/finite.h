/* Finding non-finite values (NaN, ±inf) in buffers of numbers. DESIGN.md
 * "Nothing silently wrong": a NaN weight, feature or score turns every metric
 * computed over it into a plausible-looking number (NaN sorts anywhere), so
 * loaders, metrics and training loops look for one and name where it is. */
#ifndef CORE_FINITE_H
#define CORE_FINITE_H

#include <stdint.h>

/* Index of the first non-finite element of x[0..n), or -1 when all are finite. */
int64_t finite_first_bad_f32(const float *x, int64_t n);
int64_t finite_first_bad_f64(const double *x, int64_t n);
/* How many of x[0..n) are non-finite. */
int64_t finite_count_bad_f32(const float *x, int64_t n);

#endif
