#include "core/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

static int parse_int(const char *text, int *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *text, int *out) {
    static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
    for (int k = 0; k < 4; k++) {
        if (strcasecmp(text, yes[k]) == 0 || strcasecmp(text, no[k]) == 0) {
            *out = strcasecmp(text, yes[k]) == 0;
            return 0;
        }
    }
    return -1;
}

/* Whether `text` is one of the '|'-separated `choices`. */
static int is_choice(const char *text, const char *choices) {
    size_t n = strlen(text);
    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, text, n) == 0) return 1;
        p += len + (bar != NULL);
    }
    return 0;
}

/* Stores `text` into the flag's destination. `text` outlives the program
 * (argv or a literal), so strings are not copied. */
static int flag_set(const CliFlag *f, const char *text) {
    switch (f->type) {
    case CLI_STRING: *(const char **)f->dest = text; return 0;
    case CLI_INT:
        if (parse_int(text, f->dest) < 0)
            return error_set("command line: --%s: \"%s\" is not an integer", f->name, text);
        return 0;
    case CLI_FLOAT:
        if (parse_float(text, f->dest) < 0)
            return error_set("command line: --%s: \"%s\" is not a finite number", f->name, text);
        return 0;
    case CLI_BOOL:
        if (parse_bool(text, f->dest) < 0)
            return error_set("command line: --%s: \"%s\" is not true or false", f->name, text);
        return 0;
    case CLI_CHOICE:
        if (!is_choice(text, f->choices))
            return error_set("command line: --%s: \"%s\" is not one of %s", f->name, text, f->choices);
        *(const char **)f->dest = text;
        return 0;
    }
    return -1;
}

static const CliFlag *flag_find(const CliSpec *spec, const char *name, size_t len) {
    for (int k = 0; k < spec->count; k++)
        if (strlen(spec->flags[k].name) == len && strncmp(spec->flags[k].name, name, len) == 0) return &spec->flags[k];
    return NULL;
}

/* The table is code, so a broken one is a programming error, not a user's. */
static void check_table(const CliSpec *spec) {
    for (int k = 0; k < spec->count; k++) {
        const CliFlag *f = &spec->flags[k];
        CHECK(f->name && f->name[0] && f->dest, "flag %d of %s has no name or destination", k, spec->program);
        CHECK(f->type != CLI_CHOICE || f->choices, "--%s: a choice flag needs its choices", f->name);
        CHECK(f->default_text || f->type == CLI_STRING, "--%s: needs a default", f->name);
        CHECK(flag_find(spec, f->name, strlen(f->name)) == f, "--%s declared twice", f->name);
    }
}

/* The destinations the last cli_parse set from the command line (one parse per
 * program; a table of a few dozen flags). */
#define CLI_MAX_GIVEN 128
static const void *given[CLI_MAX_GIVEN];
static int n_given;

static void mark_given(const void *dest) {
    for (int k = 0; k < n_given; k++)
        if (given[k] == dest) return;
    CHECK(n_given < CLI_MAX_GIVEN, "more than %d flags given", CLI_MAX_GIVEN);
    given[n_given++] = dest;
}

int cli_was_given(const void *dest) {
    for (int k = 0; k < n_given; k++)
        if (given[k] == dest) return 1;
    return 0;
}

int cli_parse(const CliSpec *spec, int argc, char **argv) {
    check_table(spec);
    n_given = 0;
    for (int k = 0; k < spec->count; k++) {
        const CliFlag *f = &spec->flags[k];
        if (f->default_text == NULL) {
            *(const char **)f->dest = NULL;
            continue;
        }
        CHECK(flag_set(f, f->default_text) == 0, "bad default of --%s: %s", f->name, error_message());
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            cli_print_help(spec, stdout);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return error_set("command line: unexpected argument \"%s\" (flags start with --; see --help)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const CliFlag *f = flag_find(spec, name, len);
        if (!f && len > 3 && strncmp(name, "no-", 3) == 0) {
            const CliFlag *b = flag_find(spec, name + 3, len - 3);
            if (b && b->type == CLI_BOOL) {
                if (eq) return error_set("command line: --%.*s takes no value", (int)len, name);
                *(int *)b->dest = 0;
                mark_given(b->dest);
                continue;
            }
        }
        if (!f) return error_set("command line: unknown flag --%.*s (see --help)", (int)len, name);
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (f->type == CLI_BOOL) {
            value = "true";
        } else {
            if (i + 1 >= argc) return error_set("command line: --%s: missing value", f->name);
            value = argv[++i];
        }
        if (flag_set(f, value) < 0) return -1;
        mark_given(f->dest);
    }
    return 0;
}

static void flag_usage(const CliFlag *f, char *buf, size_t size) {
    switch (f->type) {
    case CLI_STRING: snprintf(buf, size, "--%s <text>", f->name); break;
    case CLI_INT: snprintf(buf, size, "--%s <int>", f->name); break;
    case CLI_FLOAT: snprintf(buf, size, "--%s <number>", f->name); break;
    case CLI_BOOL: snprintf(buf, size, "--[no-]%s", f->name); break;
    case CLI_CHOICE: snprintf(buf, size, "--%s %s", f->name, f->choices); break;
    }
}

void cli_print_help(const CliSpec *spec, FILE *out) {
    fprintf(out, "usage: %s [flags]\n\n", spec->program);
    if (spec->description) fprintf(out, "%s\n\n", spec->description);
    fprintf(out, "flags:\n");
    int width = (int)strlen("-h, --help");
    char usage[256];
    for (int k = 0; k < spec->count; k++) {
        flag_usage(&spec->flags[k], usage, sizeof usage);
        if ((int)strlen(usage) > width) width = (int)strlen(usage);
    }
    for (int k = 0; k < spec->count; k++) {
        const CliFlag *f = &spec->flags[k];
        flag_usage(f, usage, sizeof usage);
        fprintf(out, "  %-*s  %s (default: %s)\n", width, usage, f->help ? f->help : "",
                f->default_text ? f->default_text : "none");
    }
    fprintf(out, "  %-*s  print this help and exit\n", width, "-h, --help");
}

void cli_to_json(const CliSpec *spec, cJSON *obj) {
    for (int k = 0; k < spec->count; k++) {
        const CliFlag *f = &spec->flags[k];
        cJSON *v = NULL;
        switch (f->type) {
        case CLI_STRING:
        case CLI_CHOICE: {
            const char *s = *(const char **)f->dest;
            v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            break;
        }
        case CLI_INT: v = cJSON_CreateNumber(*(const int *)f->dest); break;
        case CLI_FLOAT: v = cJSON_CreateNumber(*(const double *)f->dest); break;
        case CLI_BOOL: v = cJSON_CreateBool(*(const int *)f->dest); break;
        }
        CHECK(v != NULL, "out of memory");
        cJSON_AddItemToObject(obj, f->name, v);
    }
}

int cli_env_switch(const char *name) {
    const char *e = getenv(name);
    return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}
