#include "core/progress.h"

#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/log.h"

/* Terminal redraws at most this often. */
#define PROGRESS_REDRAW_S 0.1
#define PROGRESS_BAR_WIDTH 24

void progress_format_duration(double seconds, char *buf, size_t size) {
    if (!(seconds >= 0)) seconds = 0; /* also NaN */
    if (seconds < 10)
        snprintf(buf, size, "%.2fs", seconds);
    else if (seconds < 60)
        snprintf(buf, size, "%.1fs", seconds);
    else if (seconds < 3600) {
        long s = (long)(seconds + 0.5);
        snprintf(buf, size, "%ldm%02lds", s / 60, s % 60);
    } else {
        long m = (long)(seconds / 60 + 0.5);
        snprintf(buf, size, "%ldh%02ldm", m / 60, m % 60);
    }
}

void progress_begin_on(Progress *p, const char *label, int64_t total, FILE *out, int tty) {
    CHECK(total >= 0, "progress total %lld", (long long)total);
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = "it";
    p->total = total;
    p->out = out;
    p->tty = tty;
    p->start_s = clock_seconds();
    p->last_draw_s = -1.0;
}

/* Progress lines are info: below that level (the other ranks of a
 * data-parallel job, MMU_LOG_LEVEL=warn) nothing is drawn. */
void progress_begin(Progress *p, const char *label, int64_t total) {
    progress_begin_on(p, label, total, log_get_level() >= LOG_INFO ? stderr : NULL, isatty(fileno(stderr)));
}

void progress_format(const Progress *p, double elapsed_s, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "%s", p->label);
    double rate = elapsed_s > 0 ? (double)p->done / elapsed_s : 0.0;
    if (p->total > 0) {
        int64_t done = p->done < p->total ? p->done : p->total;
        if (p->tty && n < size) {
            int fill = (int)(done * PROGRESS_BAR_WIDTH / p->total);
            char bar[PROGRESS_BAR_WIDTH + 1];
            for (int k = 0; k < PROGRESS_BAR_WIDTH; k++) bar[k] = k < fill ? '#' : '.';
            bar[PROGRESS_BAR_WIDTH] = '\0';
            n += (size_t)snprintf(buf + n, size - n, " [%s]", bar);
        }
        if (n < size)
            n += (size_t)snprintf(buf + n, size - n, " %lld/%lld %3d%%", (long long)p->done, (long long)p->total,
                                  (int)(done * 100 / p->total));
    } else if (n < size) {
        n += (size_t)snprintf(buf + n, size - n, " %lld", (long long)p->done);
    }
    if (n < size) n += (size_t)snprintf(buf + n, size - n, " %.1f %s/s", rate, p->unit);
    if (p->total > 0 && rate > 0 && n < size) {
        char eta[32];
        double left = (double)(p->total - p->done) / rate;
        progress_format_duration(left > 0 ? left : 0, eta, sizeof eta);
        snprintf(buf + n, size - n, " ETA %s", eta);
    }
}

static void draw(Progress *p, double now) {
    if (!p->out) return;
    char line[256];
    progress_format(p, now - p->start_s, line, sizeof line);
    if (p->tty)
        fprintf(p->out, "\r%s\033[K", line); /* \033[K clears what a longer previous line left */
    else
        fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->last_draw_s = now;
}

void progress_advance(Progress *p, int64_t n) {
    p->done += n;
    if (p->tty) {
        double now = clock_seconds();
        if (now - p->last_draw_s >= PROGRESS_REDRAW_S) draw(p, now);
        return;
    }
    /* Without a terminal, only crossing another tenth prints (nothing when
     * the total is unknown: the final line still reports the count). */
    if (p->total <= 0) return;
    int64_t done = p->done < p->total ? p->done : p->total;
    int tenth = (int)(done * 10 / p->total);
    if (tenth > p->last_tenth && done < p->total) {
        p->last_tenth = tenth;
        draw(p, clock_seconds());
    }
}

void progress_end(Progress *p) {
    if (!p->out) return;
    double elapsed = clock_seconds() - p->start_s;
    char took[32];
    progress_format_duration(elapsed, took, sizeof took);
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    if (p->tty) fprintf(p->out, "\r\033[K");
    if (p->total > 0)
        fprintf(p->out, "%s %lld/%lld done in %s (%.1f %s/s)\n", p->label, (long long)p->done,
                (long long)p->total, took, rate, p->unit);
    else
        fprintf(p->out, "%s %lld done in %s (%.1f %s/s)\n", p->label, (long long)p->done, took, rate, p->unit);
    fflush(p->out);
}
