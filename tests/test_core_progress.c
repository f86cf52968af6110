/* Progress bar: the status line's numbers, ~10 lines without a terminal,
 * throttled in-place redraws on one, the final line. */
#include <stdlib.h>

#include "core/progress.h"
#include "tests/test.h"

static void read_stream(FILE *fp, char *buf, size_t size) {
    fflush(fp);
    rewind(fp);
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
}

static int count_char(const char *s, char c) {
    int n = 0;
    for (; *s; s++) n += *s == c;
    return n;
}

TEST(test_progress_format_shows_count_percent_rate_and_eta) {
    Progress p;
    progress_begin_on(&p, "epoch 1", 100, stdout, 0);
    p.done = 50;
    char line[256];
    progress_format(&p, 10.0, line, sizeof line); /* 50 items in 10 s: 5/s, 50 left: 10 s */
    ASSERT_STR_CONTAINS(line, "epoch 1 50/100  50% 5.0 it/s ETA 10.0s");
    p.tty = 1;
    progress_format(&p, 10.0, line, sizeof line);
    ASSERT_STR_CONTAINS(line, "[############............]");
    progress_begin_on(&p, "scan", 0, stdout, 0); /* unknown total: no percent, no ETA */
    p.done = 7;
    progress_format(&p, 2.0, line, sizeof line);
    ASSERT(strcmp(line, "scan 7 3.5 it/s") == 0);
}

TEST(test_progress_duration_format_scales_units) {
    char buf[32];
    progress_format_duration(0.42, buf, sizeof buf);
    ASSERT(strcmp(buf, "0.42s") == 0);
    progress_format_duration(12.34, buf, sizeof buf);
    ASSERT(strcmp(buf, "12.3s") == 0);
    progress_format_duration(245, buf, sizeof buf);
    ASSERT(strcmp(buf, "4m05s") == 0);
    progress_format_duration(7380, buf, sizeof buf);
    ASSERT(strcmp(buf, "2h03m") == 0);
}

TEST(test_progress_without_terminal_prints_a_line_per_tenth_and_a_final_line) {
    FILE *fp = tmpfile();
    Progress p;
    progress_begin_on(&p, "train", 1000, fp, 0);
    for (int k = 0; k < 1000; k++) progress_advance(&p, 1);
    progress_end(&p);
    char text[4096];
    read_stream(fp, text, sizeof text);
    fclose(fp);
    ASSERT_EQ_INT(count_char(text, '\n'), 10); /* 10%..90%, then the final line */
    ASSERT_EQ_INT(count_char(text, '\r'), 0);
    ASSERT_STR_CONTAINS(text, "train 100/1000  10%");
    ASSERT_STR_CONTAINS(text, "train 900/1000  90%");
    ASSERT_STR_CONTAINS(text, "train 1000/1000 done in ");
    ASSERT_STR_CONTAINS(text, " it/s)\n");
}

TEST(test_progress_on_terminal_redraws_in_place_at_most_ten_times_a_second) {
    FILE *fp = tmpfile();
    Progress p;
    progress_begin_on(&p, "eval", 100000, fp, 1);
    for (int k = 0; k < 100000; k++) progress_advance(&p, 1); /* well under 0.1 s */
    progress_end(&p);
    char text[4096];
    read_stream(fp, text, sizeof text);
    fclose(fp);
    ASSERT_MSG(count_char(text, '\r') <= 3, "%d redraws for a loop of a few ms", count_char(text, '\r'));
    ASSERT_EQ_INT(count_char(text, '\n'), 1); /* only the final line ends a line */
    ASSERT_STR_CONTAINS(text, "eval 100000/100000 done in ");
}
