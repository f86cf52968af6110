/* Logging: level filter, MMU_LOG_LEVEL, line format, the file mirror. */
#include <stdlib.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/log.h"
#include "tests/test.h"

/* Everything the console stream received so far. */
static void read_stream(FILE *fp, char *buf, size_t size) {
    fflush(fp);
    rewind(fp);
    size_t n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

TEST(test_log_level_filters_lower_priority_lines) {
    FILE *fp = tmpfile();
    log_set_console(fp);
    log_set_level(LOG_WARN);
    log_debug("debug %d", 1);
    log_info("info %d", 2);
    log_warn("warn %d", 3);
    log_error("error %d", 4);
    log_set_level(LOG_DEBUG);
    log_debug("debug %d", 5);
    char text[1024];
    read_stream(fp, text, sizeof text);
    log_set_console(NULL);
    log_set_level(LOG_INFO);
    fclose(fp);
    ASSERT_EQ_INT(count_lines(text), 3);
    ASSERT(!strstr(text, "info 2") && !strstr(text, "debug 1"));
    ASSERT_STR_CONTAINS(text, "WARN  warn 3\n");
    ASSERT_STR_CONTAINS(text, "ERROR error 4\n");
    ASSERT_STR_CONTAINS(text, "DEBUG debug 5\n");
}

TEST(test_log_line_starts_with_date_time_and_milliseconds) {
    FILE *fp = tmpfile();
    log_set_console(fp);
    log_info("hello");
    char text[256];
    read_stream(fp, text, sizeof text);
    log_set_console(NULL);
    fclose(fp);
    int y, mo, d, h, mi, s, ms, consumed = 0;
    ASSERT_MSG(sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d.%3d INFO  hello%n", &y, &mo, &d, &h, &mi, &s, &ms, &consumed) == 7 &&
                   consumed > 0,
               "line \"%s\"", text);
    ASSERT(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s <= 60 && ms < 1000);
}

TEST(test_log_level_from_env_variable) {
    LogLevel before = log_get_level();
    setenv("MMU_LOG_LEVEL", "DEBUG", 1);
    ASSERT(log_level_from_env() == 0);
    ASSERT_EQ_INT(log_get_level(), LOG_DEBUG);
    setenv("MMU_LOG_LEVEL", "loud", 1);
    int rc = log_level_from_env();
    LogLevel kept = log_get_level();
    unsetenv("MMU_LOG_LEVEL");
    ASSERT(log_level_from_env() == 0); /* unset: level stays */
    LogLevel after_unset = log_get_level();
    log_set_level(before);
    ASSERT(rc < 0);
    ASSERT_STR_CONTAINS(error_message(), "MMU_LOG_LEVEL=\"loud\": expected one of error, warn, info, debug");
    ASSERT_EQ_INT(kept, LOG_DEBUG);
    ASSERT_EQ_INT(after_unset, LOG_DEBUG);
    LogLevel parsed;
    ASSERT(log_parse_level("warn", &parsed) == 0 && parsed == LOG_WARN);
    ASSERT(log_parse_level("verbose", &parsed) < 0);
}

TEST(test_log_file_mirror_receives_lines_and_appends_on_reopen) {
    char path[512];
    test_tmp_path(path, sizeof path, "train.log");
    FILE *console = tmpfile();
    log_set_console(console);
    ASSERT_MSG(log_open_file(path) == 0, "%s", error_message());
    log_info("step %d loss %.3f", 1, 0.5);
    log_close_file();
    log_info("not mirrored");
    ASSERT(log_open_file(path) == 0);
    log_warn("resumed");
    log_close_file();
    log_set_console(NULL);
    char on_console[1024];
    read_stream(console, on_console, sizeof on_console);
    fclose(console);
    char *text = file_read_all(path, NULL);
    ASSERT(text != NULL);
    int ok = strstr(text, "INFO  step 1 loss 0.500\n") && strstr(text, "WARN  resumed\n") &&
             !strstr(text, "not mirrored") && count_lines(text) == 2;
    if (!ok) test_fail(__FILE__, __LINE__, "log file holds \"%s\"", text);
    free(text);
    ASSERT_EQ_INT(count_lines(on_console), 3);
    ASSERT(log_open_file("/nonexistent-dir/x.log") < 0);
    ASSERT_STR_CONTAINS(error_message(), "/nonexistent-dir/x.log: cannot open log file");
}
