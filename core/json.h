/* JSON through Debian's cJSON, with the error reporting the project needs:
 * a parse error names the file, the line and the column; a missing or
 * mistyped field names the file, the record and the field. */
#ifndef CORE_JSON_H
#define CORE_JSON_H

#include <cjson/cJSON.h>

/* Parses a file; NULL with error_set("<path>: line L, column C: <reason>"). Free with cJSON_Delete. */
cJSON *json_read_file(const char *path);
/* Parses a string; `origin` names it in messages. */
cJSON *json_parse_text(const char *text, const char *origin);
/* Writes `root` pretty-printed, atomically. */
int json_write_file(const char *path, const cJSON *root);

/* Field accessors: 0 on success, -1 with error_set("<origin>: <what>: field
 * \"<name>\" is missing / is not a string / ...") otherwise. `what` names the
 * record (e.g. "record 12"). */
int json_get_string(const cJSON *obj, const char *name, const char **out, const char *origin, const char *what);
int json_get_number(const cJSON *obj, const char *name, double *out, const char *origin, const char *what);
int json_get_int(const cJSON *obj, const char *name, long long *out, const char *origin, const char *what);
int json_get_bool(const cJSON *obj, const char *name, int *out, const char *origin, const char *what);
int json_get_array(const cJSON *obj, const char *name, const cJSON **out, const char *origin, const char *what);

#endif
