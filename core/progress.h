/* A progress bar for long loops: count/total, rate (items/s) and ETA.
 *
 * On a terminal the line is redrawn in place (at most ten times a second, so
 * drawing never costs more than the loop). Anywhere else (CI logs, a file)
 * a line is printed each time another tenth of the total is done, so a log
 * gets about ten lines instead of thousands of carriage returns. The final
 * line gives the total time and the mean rate. */
#ifndef CORE_PROGRESS_H
#define CORE_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    char label[64];
    const char *unit;     /* "it" unless set */
    int64_t total;        /* 0 when unknown: no percentage, no ETA */
    int64_t done;
    double start_s;       /* monotonic clock */
    double last_draw_s;
    int last_tenth;       /* non-terminal mode: tenths already reported */
    int tty;
    FILE *out;
} Progress;

/* Draws on stderr, in place when stderr is a terminal. */
void progress_begin(Progress *p, const char *label, int64_t total);
/* The same on any stream, with the terminal mode chosen by the caller. */
void progress_begin_on(Progress *p, const char *label, int64_t total, FILE *out, int tty);
/* Marks n more items done and redraws when due. */
void progress_advance(Progress *p, int64_t n);
/* Prints the final line: "<label> 100/100 done in 3.2s (31.2 it/s)". */
void progress_end(Progress *p);

/* The status line after `elapsed_s` seconds, without drawing:
 * "<label> [#####.....]  50/100  50%  12.5 it/s  ETA 4.0s" (the bar only on terminals). */
void progress_format(const Progress *p, double elapsed_s, char *buf, size_t size);
/* "0.42s", "12.3s", "4m05s", "2h03m" for messages and ETAs. */
void progress_format_duration(double seconds, char *buf, size_t size);

#endif
