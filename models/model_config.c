#include "models/model_config.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <libgen.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"

/* The numeric keys, table-driven so loading, unknown-key detection, range
 * checks and the JSON echo cannot drift apart. [lo, hi] bounds an integer key
 * before it is narrowed to int: the upper bounds are far above ALBEF-base
 * (widths 768, MLP 3072, 12 layers, vocab 30522, images 384, spec/albef_blip.md
 * §5.1) and low enough that no size product of the model overflows an int
 * (3·width, width·hidden as int64). Relations between keys (divisibility,
 * fusion_layer < text_layers, the parameter budget) are model_config_validate's. */
typedef enum { KEY_INT, KEY_FLOAT, KEY_BOOL } KeyKind;
typedef struct {
    const char *name;
    KeyKind kind;
    size_t offset;
    long long lo, hi; /* KEY_INT only */
} ConfigKey;

#define WIDTH_MAX 16384
#define HIDDEN_MAX 65536
#define DEPTH_MAX 256
#define KEY(field, kind, lo, hi) {#field, kind, offsetof(ModelConfig, field), lo, hi}
static const ConfigKey KEYS[] = {
    KEY(image_size, KEY_INT, 1, 8192),
    KEY(patch_size, KEY_INT, 1, 8192),
    KEY(vision_width, KEY_INT, 1, WIDTH_MAX),
    KEY(vision_depth, KEY_INT, 1, DEPTH_MAX),
    KEY(vision_heads, KEY_INT, 1, WIDTH_MAX),
    KEY(vision_mlp_hidden, KEY_INT, 1, HIDDEN_MAX),
    KEY(vision_ln_eps, KEY_FLOAT, 0, 0),
    KEY(text_width, KEY_INT, 1, WIDTH_MAX),
    KEY(text_heads, KEY_INT, 1, WIDTH_MAX),
    KEY(text_ffn_hidden, KEY_INT, 1, HIDDEN_MAX),
    KEY(text_layers, KEY_INT, 2, DEPTH_MAX),
    KEY(fusion_layer, KEY_INT, 1, DEPTH_MAX - 1),
    KEY(max_position_embeddings, KEY_INT, 2, 65536),
    KEY(max_text_len, KEY_INT, 2, 65536),
    KEY(max_text_len_eval, KEY_INT, 2, 65536),
    KEY(text_ln_eps, KEY_FLOAT, 0, 0),
    KEY(text_dropout, KEY_FLOAT, 0, 0),
    KEY(embed_dim, KEY_INT, 1, WIDTH_MAX),
    KEY(temp_init, KEY_FLOAT, 0, 0),
    KEY(temp_min, KEY_FLOAT, 0, 0),
    KEY(temp_max, KEY_FLOAT, 0, 0),
    KEY(momentum_distill, KEY_BOOL, 0, 0),
    KEY(momentum, KEY_FLOAT, 0, 0),
    KEY(alpha, KEY_FLOAT, 0, 0),
    KEY(alpha_ramp_epochs, KEY_INT, 0, 1000000),
    KEY(queue_size, KEY_INT, 0, 1 << 22),
};
#undef KEY
/* vocab_size, given as a number or by a vocab file's lines */
#define VOCAB_MAX (1 << 22)
/* Image tokens per image: beyond this the attention rows alone would not fit a batch. */
#define IMAGE_TOKENS_MAX (65536 + 1)
/* Parameters of one encoder set (online or momentum): 2^31 floats is 8 GiB of
 * values before gradients and optimizer state; ALBEF-base has about 2^28. */
#define PARAMS_MAX (1LL << 31)
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* Lines of a vocab file (one token per line; a missing final newline still counts). */
static int count_vocab_lines(const char *path, int *out) {
    size_t size;
    char *text = file_read_all(path, &size);
    if (!text) return -1;
    long long lines = 0;
    for (size_t k = 0; k < size; k++)
        if (text[k] == '\n') lines++;
    if (size > 0 && text[size - 1] != '\n') lines++;
    free(text);
    if (lines <= 0) return error_set("%s: vocab file is empty", path);
    if (lines > VOCAB_MAX)
        return error_set("%s: %lld lines: more than the %d tokens a vocabulary may hold", path, lines, VOCAB_MAX);
    *out = (int)lines;
    return 0;
}

static int is_known_key(const char *name) {
    if (!strcmp(name, "name") || !strcmp(name, "vocab_size") || !strcmp(name, "vocab_file")) return 1;
    for (size_t k = 0; k < N_KEYS; k++)
        if (!strcmp(KEYS[k].name, name)) return 1;
    return 0;
}

int model_config_from_json(ModelConfig *c, const cJSON *obj, const char *origin) {
    memset(c, 0, sizeof *c);
    const char *what = "model config";
    if (!cJSON_IsObject(obj)) return error_set("%s: %s: is not a JSON object", origin, what);
    for (const cJSON *it = obj->child; it; it = it->next)
        if (!is_known_key(it->string)) return error_set("%s: %s: unknown key \"%s\"", origin, what, it->string);

    const char *name;
    if (json_get_string(obj, "name", &name, origin, what)) return -1;
    snprintf(c->name, sizeof c->name, "%s", name);

    for (size_t k = 0; k < N_KEYS; k++) {
        char *field = (char *)c + KEYS[k].offset;
        if (KEYS[k].kind == KEY_BOOL) {
            if (json_get_bool(obj, KEYS[k].name, (int *)field, origin, what)) return -1;
        } else if (KEYS[k].kind == KEY_INT) {
            long long v;
            if (json_get_int(obj, KEYS[k].name, &v, origin, what)) return -1;
            if (v < KEYS[k].lo || v > KEYS[k].hi)
                return error_set("%s: %s: \"%s\" is %lld: it must lie in [%lld, %lld]", origin, what, KEYS[k].name,
                                 v, KEYS[k].lo, KEYS[k].hi);
            *(int *)field = (int)v;
        } else {
            double v;
            if (json_get_number(obj, KEYS[k].name, &v, origin, what)) return -1;
            if (!(fabs(v) <= FLT_MAX))
                return error_set("%s: %s: \"%s\" is %g: not a finite float", origin, what, KEYS[k].name, v);
            *(float *)field = (float)v;
        }
    }

    const cJSON *vs = cJSON_GetObjectItemCaseSensitive(obj, "vocab_size");
    const cJSON *vf = cJSON_GetObjectItemCaseSensitive(obj, "vocab_file");
    if ((vs != NULL) == (vf != NULL))
        return error_set("%s: %s: give exactly one of \"vocab_size\" and \"vocab_file\"", origin, what);
    if (vs) {
        long long v;
        if (json_get_int(obj, "vocab_size", &v, origin, what)) return -1;
        if (v < 1 || v > VOCAB_MAX)
            return error_set("%s: %s: \"vocab_size\" is %lld: it must lie in [1, %d]", origin, what, v, VOCAB_MAX);
        c->vocab_size = (int)v;
    } else {
        const char *path;
        if (json_get_string(obj, "vocab_file", &path, origin, what)) return -1;
        if (count_vocab_lines(path, &c->vocab_size)) return error_prefix("%s: vocab_file", origin);
    }
    return model_config_validate(c, origin);
}

/* The weight matrices and embedding tables of one ALBEF encoder set
 * (spec/albef_blip.md §§1-3; biases and norms are lower order), in double so
 * that no size can overflow; used only against PARAMS_MAX. */
static double param_estimate(const ModelConfig *c) {
    double vw = c->vision_width, tw = c->text_width, p = c->patch_size;
    double vit = 3.0 * p * p * vw + (double)model_config_image_tokens(c) * vw +
                 c->vision_depth * (4.0 * vw * vw + 2.0 * vw * c->vision_mlp_hidden);
    double bert = ((double)c->vocab_size + c->max_position_embeddings) * tw +
                  c->text_layers * (4.0 * tw * tw + 2.0 * tw * c->text_ffn_hidden) +
                  (c->text_layers - c->fusion_layer) * (2.0 * tw * tw + 2.0 * tw * vw);
    return vit + bert + (vw + tw) * c->embed_dim;
}

int model_config_validate(const ModelConfig *c, const char *origin) {
#define REQUIRE(cond, ...)                                                      \
    do {                                                                        \
        if (!(cond)) {                                                          \
            error_set(__VA_ARGS__);                                             \
            return error_prefix("%s: model config", origin);                    \
        }                                                                       \
    } while (0)
    for (size_t k = 0; k < N_KEYS; k++) { /* a config built in code skips the loader's checks */
        if (KEYS[k].kind != KEY_INT) continue;
        int v = *(const int *)((const char *)c + KEYS[k].offset);
        REQUIRE(v >= KEYS[k].lo && v <= KEYS[k].hi, "\"%s\" is %d: it must lie in [%lld, %lld]", KEYS[k].name, v,
                KEYS[k].lo, KEYS[k].hi);
    }
    REQUIRE(c->vocab_size > 0 && c->vocab_size <= VOCAB_MAX, "vocab_size %d must lie in [1, %d]", c->vocab_size,
            VOCAB_MAX);
    REQUIRE(c->image_size > 0 && c->patch_size > 0 && c->image_size % c->patch_size == 0,
            "image_size %d must be a positive multiple of patch_size %d", c->image_size, c->patch_size);
    REQUIRE(c->vision_width > 0 && c->vision_heads > 0 && c->vision_width % c->vision_heads == 0,
            "vision_width %d must be a positive multiple of vision_heads %d", c->vision_width, c->vision_heads);
    REQUIRE(c->vision_depth > 0 && c->vision_mlp_hidden > 0, "vision_depth and vision_mlp_hidden must be > 0");
    REQUIRE(c->text_width > 0 && c->text_heads > 0 && c->text_width % c->text_heads == 0,
            "text_width %d must be a positive multiple of text_heads %d", c->text_width, c->text_heads);
    REQUIRE(c->text_ffn_hidden > 0, "text_ffn_hidden must be > 0");
    REQUIRE(c->vocab_size > 0, "vocab_size must be > 0");
    /* ALBEF needs at least one text layer (the ITC text feature) and one fusion layer (ITM). */
    REQUIRE(c->fusion_layer >= 1 && c->fusion_layer < c->text_layers,
            "fusion_layer %d must lie in [1, text_layers %d)", c->fusion_layer, c->text_layers);
    REQUIRE(c->max_text_len >= 2 && c->max_text_len_eval >= 2 && c->max_text_len <= c->max_position_embeddings &&
                c->max_text_len_eval <= c->max_position_embeddings,
            "max_text_len %d / max_text_len_eval %d must lie in [2, max_position_embeddings %d]", c->max_text_len,
            c->max_text_len_eval, c->max_position_embeddings);
    REQUIRE(c->text_dropout >= 0 && c->text_dropout < 1, "text_dropout %g must lie in [0, 1)", c->text_dropout);
    REQUIRE(c->vision_ln_eps > 0 && c->text_ln_eps > 0, "LayerNorm eps must be > 0");
    REQUIRE(c->embed_dim > 0, "embed_dim must be > 0");
    REQUIRE(c->temp_min > 0 && c->temp_min <= c->temp_init && c->temp_init <= c->temp_max,
            "need 0 < temp_min <= temp_init <= temp_max (got %g, %g, %g)", c->temp_min, c->temp_init,
            c->temp_max);
    REQUIRE(c->momentum >= 0 && c->momentum <= 1, "momentum %g must lie in [0, 1]", c->momentum);
    REQUIRE(c->alpha >= 0 && c->alpha <= 1 && c->alpha_ramp_epochs >= 0, "alpha must lie in [0, 1], ramp >= 0");
    REQUIRE(c->queue_size >= 0, "queue_size must be >= 0");
    /* The queue holds momentum features (§3.1 step 8); without the momentum
     * encoder there is nothing consistent to enqueue. */
    REQUIRE(c->queue_size == 0 || c->momentum_distill, "queue_size %d needs momentum_distill", c->queue_size);
    REQUIRE(model_config_image_tokens(c) <= IMAGE_TOKENS_MAX,
            "image_size %d / patch_size %d gives %d image tokens, more than %d", c->image_size, c->patch_size,
            model_config_image_tokens(c), IMAGE_TOKENS_MAX);
    double params = param_estimate(c);
    REQUIRE(params <= (double)PARAMS_MAX, "the model would hold about %.3g parameters, more than the limit %lld",
            params, PARAMS_MAX);
#undef REQUIRE
    return 0;
}

int model_config_resolve(const char *arg, char *path, size_t size) {
    size_t len = strlen(arg);
    if (strchr(arg, '/') || (len >= 5 && strcmp(arg + len - 5, ".json") == 0)) {
        snprintf(path, size, "%s", arg);
        return file_exists(path) ? 0 : error_set("%s: model config not found", arg);
    }
    snprintf(path, size, "models/configs/%s.json", arg);
    if (file_exists(path)) return 0;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(path, size, "%s/../models/configs/%s.json", dirname(exe), arg);
        if (file_exists(path)) return 0;
    }
    return error_set("model \"%s\": no models/configs/%s.json in the working directory or next to the program "
                     "(give a config name or a JSON path)", arg, arg);
}

int model_config_load(ModelConfig *c, const char *path) {
    cJSON *root = json_read_file(path);
    if (!root) return -1;
    int rc = model_config_from_json(c, root, path);
    cJSON_Delete(root);
    return rc;
}

cJSON *model_config_to_json(const ModelConfig *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    for (size_t k = 0; k < N_KEYS; k++) {
        const char *field = (const char *)c + KEYS[k].offset;
        if (KEYS[k].kind == KEY_BOOL)
            cJSON_AddBoolToObject(o, KEYS[k].name, *(const int *)field);
        else if (KEYS[k].kind == KEY_INT)
            cJSON_AddNumberToObject(o, KEYS[k].name, *(const int *)field);
        else
            cJSON_AddNumberToObject(o, KEYS[k].name, *(const float *)field);
    }
    return o;
}

int model_config_use_vocab_file(ModelConfig *c, const char *path) {
    return count_vocab_lines(path, &c->vocab_size);
}

int model_config_image_tokens(const ModelConfig *c) {
    int g = c->image_size / c->patch_size;
    return 1 + g * g;
}

float model_config_alpha_at(const ModelConfig *c, int epoch, long long it, long long iters_per_epoch) {
    if (c->alpha_ramp_epochs == 0 || iters_per_epoch <= 0) return c->alpha;
    double progress = ((double)epoch * (double)iters_per_epoch + (double)it) /
                      ((double)c->alpha_ramp_epochs * (double)iters_per_epoch);
    return (float)(c->alpha * (progress < 1.0 ? progress : 1.0));
}
