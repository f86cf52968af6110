/* JSON helpers: parse errors with line and column, field errors naming the
 * file, the record and the field, atomic writes. */
#include <stdlib.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "tests/test.h"

TEST(test_json_parse_error_names_line_and_column) {
    /* The stray ']' is line 3, column 8. */
    cJSON *j = json_parse_text("{\n  \"a\": 1,\n  \"b\": ]\n}", "config.json");
    ASSERT(j == NULL);
    ASSERT_STR_CONTAINS(error_message(), "config.json: line 3, column 8: malformed JSON near \"]\"");
    ASSERT(json_parse_text("{\"a\": 1} trailing", "x.json") == NULL);
    ASSERT_STR_CONTAINS(error_message(), "x.json: line 1, column 10");
}

TEST(test_json_read_file_names_the_file) {
    char path[512];
    test_tmp_path(path, sizeof path, "bad.json");
    ASSERT(file_write_atomic(path, "[1, 2,\n", 7) == 0);
    ASSERT(json_read_file(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), path);
    ASSERT_STR_CONTAINS(error_message(), "line 2");
    test_tmp_path(path, sizeof path, "absent.json");
    ASSERT(json_read_file(path) == NULL);
    ASSERT_STR_CONTAINS(error_message(), "absent.json: No such file");
}

TEST(test_json_field_getters_name_record_and_field) {
    cJSON *j = json_parse_text("{\"id\": \"x\", \"n\": 2.5, \"k\": 3, \"ok\": true, \"list\": [1]}", "ann.json");
    ASSERT(j != NULL);
    const char *s;
    double d;
    long long i;
    int b;
    const cJSON *arr;
    ASSERT(json_get_string(j, "id", &s, "ann.json", "record 4") == 0 && strcmp(s, "x") == 0);
    ASSERT(json_get_number(j, "n", &d, "ann.json", "record 4") == 0 && d == 2.5);
    ASSERT(json_get_int(j, "k", &i, "ann.json", "record 4") == 0 && i == 3);
    ASSERT(json_get_bool(j, "ok", &b, "ann.json", "record 4") == 0 && b == 1);
    ASSERT(json_get_array(j, "list", &arr, "ann.json", "record 4") == 0 && cJSON_GetArraySize(arr) == 1);
    int missing = json_get_string(j, "caption", &s, "ann.json", "record 4");
    char msg_missing[256];
    snprintf(msg_missing, sizeof msg_missing, "%s", error_message());
    int wrong = json_get_string(j, "n", &s, "ann.json", "record 4");
    char msg_wrong[256];
    snprintf(msg_wrong, sizeof msg_wrong, "%s", error_message());
    int fraction = json_get_int(j, "n", &i, "ann.json", "record 4");
    cJSON_Delete(j);
    ASSERT(missing < 0 && wrong < 0 && fraction < 0);
    ASSERT_STR_CONTAINS(msg_missing, "ann.json: record 4: field \"caption\" is missing");
    ASSERT_STR_CONTAINS(msg_wrong, "ann.json: record 4: field \"n\" is not a string");
    ASSERT_STR_CONTAINS(error_message(), "field \"n\" is not an integer");
}

TEST(test_json_write_file_round_trips) {
    char path[512];
    test_tmp_path(path, sizeof path, "out.json");
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "lr", 1e-4);
    cJSON_AddStringToObject(j, "name", "run \"a\"");
    ASSERT(json_write_file(path, j) == 0);
    cJSON_Delete(j);
    cJSON *back = json_read_file(path);
    ASSERT_MSG(back != NULL, "%s", error_message());
    double lr;
    const char *name;
    int ok = json_get_number(back, "lr", &lr, path, "root") == 0 && lr == 1e-4 &&
             json_get_string(back, "name", &name, path, "root") == 0 && strcmp(name, "run \"a\"") == 0;
    cJSON_Delete(back);
    ASSERT(ok);
}
