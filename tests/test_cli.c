/* The flag parser: defaults, both value forms, booleans, every error naming
 * the flag and the value, --help, and the config.json echo. */
#include <stdlib.h>

#include "core/cli.h"
#include "core/error.h"
#include "tests/test.h"

typedef struct {
    const char *out, *device;
    int epochs, fusion_only;
    double lr;
} Opts;

static int parse(Opts *o, int argc, char **argv) {
    CliFlag flags[] = {
        CLI_FLAG_STRING("out", &o->out, NULL, "run directory"),
        CLI_FLAG_INT("epochs", &o->epochs, "10", "training epochs"),
        CLI_FLAG_FLOAT("lr", &o->lr, "1e-4", "peak learning rate"),
        CLI_FLAG_BOOL("fusion-only", &o->fusion_only, "false", "update the fusion layers only"),
        CLI_FLAG_CHOICE("device", &o->device, "cpu", "cpu|cuda", "where to run"),
    };
    CliSpec spec = {"train", "Trains the original model.", flags, CLI_COUNT(flags)};
    return cli_parse(&spec, argc, argv);
}

#define ARGS(...) ((int)(sizeof((const char *[]){"prog", __VA_ARGS__}) / sizeof(const char *))), \
                  ((char **)(const char *[]){"prog", __VA_ARGS__})

TEST(test_cli_applies_defaults_without_arguments) {
    Opts o;
    memset(&o, 0x5a, sizeof o);
    char *argv[] = {"prog"};
    ASSERT(parse(&o, 1, argv) == 0);
    ASSERT(o.out == NULL && o.epochs == 10 && o.lr == 1e-4 && o.fusion_only == 0 && strcmp(o.device, "cpu") == 0);
}

TEST(test_cli_accepts_space_and_equals_forms) {
    Opts o;
    ASSERT_MSG(parse(&o, ARGS("--epochs", "3", "--lr=0.5", "--out=runs/a", "--device", "cuda")) == 0, "%s",
               error_message());
    ASSERT(o.epochs == 3 && o.lr == 0.5 && strcmp(o.out, "runs/a") == 0 && strcmp(o.device, "cuda") == 0);
    ASSERT(parse(&o, ARGS("--epochs", "1", "--epochs", "-7")) == 0); /* the last one wins */
    ASSERT_EQ_INT(o.epochs, -7);
}

TEST(test_cli_bool_flag_and_no_prefix) {
    Opts o;
    ASSERT(parse(&o, ARGS("--fusion-only")) == 0 && o.fusion_only == 1);
    ASSERT(parse(&o, ARGS("--fusion-only", "--no-fusion-only")) == 0 && o.fusion_only == 0);
    ASSERT(parse(&o, ARGS("--fusion-only=yes")) == 0 && o.fusion_only == 1);
    ASSERT(parse(&o, ARGS("--fusion-only=maybe")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--fusion-only: \"maybe\" is not true or false");
    ASSERT(parse(&o, ARGS("--no-epochs")) < 0); /* no- only negates booleans */
    ASSERT_STR_CONTAINS(error_message(), "unknown flag --no-epochs");
}

TEST(test_cli_errors_name_flag_and_value) {
    Opts o;
    ASSERT(parse(&o, ARGS("--epochs", "ten")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "command line: --epochs: \"ten\" is not an integer");
    ASSERT(parse(&o, ARGS("--epochs=99999999999")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--epochs: \"99999999999\" is not an integer");
    ASSERT(parse(&o, ARGS("--lr", "1e-4x")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--lr: \"1e-4x\" is not a finite number");
    ASSERT(parse(&o, ARGS("--lr=nan")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--lr: \"nan\" is not a finite number");
    ASSERT(parse(&o, ARGS("--device", "gpu")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--device: \"gpu\" is not one of cpu|cuda");
    ASSERT(parse(&o, ARGS("--epoch", "3")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "unknown flag --epoch");
    ASSERT(parse(&o, ARGS("--out")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "--out: missing value");
    ASSERT(parse(&o, ARGS("stray")) < 0);
    ASSERT_STR_CONTAINS(error_message(), "unexpected argument \"stray\"");
}

TEST(test_cli_help_lists_description_and_every_flag_with_default) {
    const char *out, *device;
    int epochs, fusion_only;
    double lr;
    CliFlag flags[] = {
        CLI_FLAG_STRING("out", &out, NULL, "run directory"),
        CLI_FLAG_INT("epochs", &epochs, "10", "training epochs"),
        CLI_FLAG_FLOAT("lr", &lr, "1e-4", "peak learning rate"),
        CLI_FLAG_BOOL("fusion-only", &fusion_only, "false", "update the fusion layers only"),
        CLI_FLAG_CHOICE("device", &device, "cpu", "cpu|cuda", "where to run"),
    };
    CliSpec spec = {"train", "Trains the original model.", flags, CLI_COUNT(flags)};
    FILE *fp = tmpfile();
    cli_print_help(&spec, fp);
    char text[2048] = {0};
    rewind(fp);
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = '\0';
    fclose(fp);
    ASSERT_STR_CONTAINS(text, "usage: train [flags]");
    ASSERT_STR_CONTAINS(text, "Trains the original model.");
    ASSERT_STR_CONTAINS(text, "--out <text>");
    ASSERT_STR_CONTAINS(text, "run directory (default: none)");
    ASSERT_STR_CONTAINS(text, "training epochs (default: 10)");
    ASSERT_STR_CONTAINS(text, "peak learning rate (default: 1e-4)");
    ASSERT_STR_CONTAINS(text, "--[no-]fusion-only");
    ASSERT_STR_CONTAINS(text, "--device cpu|cuda");
    ASSERT_STR_CONTAINS(text, "where to run (default: cpu)");
}

TEST(test_cli_resolved_values_go_into_json_config) {
    const char *out, *device;
    int epochs, fusion_only;
    double lr;
    CliFlag flags[] = {
        CLI_FLAG_STRING("out", &out, NULL, ""),          CLI_FLAG_INT("epochs", &epochs, "10", ""),
        CLI_FLAG_FLOAT("lr", &lr, "1e-4", ""),           CLI_FLAG_BOOL("fusion-only", &fusion_only, "false", ""),
        CLI_FLAG_CHOICE("device", &device, "cpu", "cpu|cuda", ""),
    };
    CliSpec spec = {"train", NULL, flags, CLI_COUNT(flags)};
    ASSERT(cli_parse(&spec, ARGS("--lr", "0.25", "--fusion-only", "--device=cuda")) == 0);
    cJSON *obj = cJSON_CreateObject();
    cli_to_json(&spec, obj);
    char *text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    int ok = strcmp(text, "{\"out\":null,\"epochs\":10,\"lr\":0.25,\"fusion-only\":true,\"device\":\"cuda\"}") == 0;
    if (!ok) test_fail(__FILE__, __LINE__, "got %s", text);
    free(text);
}
