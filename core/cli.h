/* Declarative command-line flags, one table per program.
 *
 *   const char *out = NULL; int epochs; double lr; int fusion_only; const char *device;
 *   CliFlag flags[] = {
 *       CLI_FLAG_STRING("out", &out, NULL, "run directory"),
 *       CLI_FLAG_INT("epochs", &epochs, "10", "training epochs"),
 *       CLI_FLAG_FLOAT("lr", &lr, "1e-4", "peak learning rate"),
 *       CLI_FLAG_BOOL("fusion-only", &fusion_only, "false", "update the fusion layers only"),
 *       CLI_FLAG_CHOICE("device", &device, "cpu", "cpu|cuda", "where to run"),
 *   };
 *   CliSpec spec = {"train", "Trains the original model.", flags, CLI_COUNT(flags)};
 *   int rc = cli_parse(&spec, argc, argv);   // 1: --help was printed; -1: error_message()
 *
 * Values: `--flag value` or `--flag=value`; booleans as `--flag` / `--no-flag`
 * (or `--flag=true|false`). Defaults are written as text and parsed like the
 * command line, so --help shows exactly what a user would type. The macros
 * check at compile time that each destination has the type its flag writes. */
#ifndef CORE_CLI_H
#define CORE_CLI_H

#include <stdio.h>

#include <cjson/cJSON.h>

typedef enum { CLI_STRING, CLI_INT, CLI_FLOAT, CLI_BOOL, CLI_CHOICE } CliType;

typedef struct {
    const char *name;          /* without the leading "--" */
    CliType type;
    void *dest;                /* const char ** (STRING, CHOICE), int * (INT, BOOL), double * (FLOAT) */
    const char *default_text;  /* NULL: a string flag defaults to NULL; other types need a default */
    const char *help;
    const char *choices;       /* CHOICE only: "cpu|cuda" */
} CliFlag;

#define CLI_FLAG_STRING(name, dest, def, help) {name, CLI_STRING, _Generic((dest), const char **: (dest)), def, help, NULL}
#define CLI_FLAG_INT(name, dest, def, help) {name, CLI_INT, _Generic((dest), int *: (dest)), def, help, NULL}
#define CLI_FLAG_FLOAT(name, dest, def, help) {name, CLI_FLOAT, _Generic((dest), double *: (dest)), def, help, NULL}
#define CLI_FLAG_BOOL(name, dest, def, help) {name, CLI_BOOL, _Generic((dest), int *: (dest)), def, help, NULL}
#define CLI_FLAG_CHOICE(name, dest, def, choices, help) \
    {name, CLI_CHOICE, _Generic((dest), const char **: (dest)), def, help, choices}
#define CLI_COUNT(flags) ((int)(sizeof(flags) / sizeof((flags)[0])))

typedef struct {
    const char *program;
    const char *description;
    const CliFlag *flags;
    int count;
} CliSpec;

/* Sets every destination to its default, then applies argv[1..]. Returns 0;
 * 1 after printing help to stdout for -h/--help (the program should exit 0);
 * -1 with error_set("command line: --<flag>: <reason>") for an unknown flag,
 * a missing value, an unparsable number or a value outside the choices. */
int cli_parse(const CliSpec *spec, int argc, char **argv);
/* 1 when the last cli_parse set the flag writing to `dest` from the command
 * line (not from its default): a default that stands for "the recipe's value"
 * is told apart from a value the user typed. */
int cli_was_given(const void *dest);
/* The description and every flag with its type and default. */
void cli_print_help(const CliSpec *spec, FILE *out);
/* Adds each flag's resolved value to `obj` under its name (numbers, booleans,
 * strings, null for an unset string), for the run's config.json. */
void cli_to_json(const CliSpec *spec, cJSON *obj);

/* 1 when the environment variable `name` is set, not empty and not "0": the
 * debug switches (MMU_ARENA_GUARD, MMU_CUDA_SYNC, MMU_PARAM_COPY_CHECK). */
int cli_env_switch(const char *name);

#endif
