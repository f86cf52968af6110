/* Reading the JSON fixtures that scripts/make_*_fixtures.py write. */
#ifndef TESTS_FIXTURE_JSON_H
#define TESTS_FIXTURE_JSON_H

#include <cjson/cJSON.h>

/* A JSON number array, flat or nested one level, as a new malloc'ed array of
 * doubles (row-major); *count receives the number of values. */
double *fixture_json_flat(const cJSON *arr, int *count);

#endif
