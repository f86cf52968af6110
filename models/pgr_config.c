#include "models/pgr_config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

typedef struct {
    const char *name;
    int is_float;
    size_t offset;
} PgrKey;

#define KEY(field, f) {#field, f, offsetof(PgrConfig, field)}
static const PgrKey KEYS[] = {
    KEY(node_dim, 0),         KEY(gcn_layers, 0),      KEY(gcn_hidden, 0),
    KEY(vocab_size, 0),       KEY(text_width, 0),      KEY(text_heads, 0),
    KEY(text_ffn_hidden, 0),  KEY(text_layers, 0),     KEY(max_position_embeddings, 0),
    KEY(max_text_len, 0),     KEY(text_ln_eps, 1),     KEY(text_dropout, 1),
    KEY(fusion_hidden, 0),    KEY(fusion_dim, 0),      KEY(classifier_hidden, 0),
};
#undef KEY
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static int known(const char *name) {
    if (!strcmp(name, "name") || !strcmp(name, "node_features")) return 1;
    for (size_t k = 0; k < N_KEYS; k++)
        if (!strcmp(KEYS[k].name, name)) return 1;
    return 0;
}

int pgr_config_from_json(PgrConfig *c, const cJSON *obj, const char *origin) {
    memset(c, 0, sizeof *c);
    const char *what = "pgr model config";
    if (!cJSON_IsObject(obj)) return error_set("%s: %s: is not a JSON object", origin, what);
    for (const cJSON *it = obj->child; it; it = it->next)
        if (!known(it->string)) return error_set("%s: %s: unknown key \"%s\"", origin, what, it->string);
    const char *s;
    if (json_get_string(obj, "name", &s, origin, what)) return -1;
    snprintf(c->name, sizeof c->name, "%s", s);
    if (json_get_string(obj, "node_features", &s, origin, what)) return -1;
    if (!strcmp(s, "name_tokens")) c->node_features = PGR_NODE_NAME_TOKENS;
    else if (!strcmp(s, "per_node")) c->node_features = PGR_NODE_PER_NODE;
    else return error_set("%s: %s: node_features \"%s\" (expected name_tokens or per_node)", origin, what, s);
    for (size_t k = 0; k < N_KEYS; k++) {
        char *field = (char *)c + KEYS[k].offset;
        if (KEYS[k].is_float) {
            double v;
            if (json_get_number(obj, KEYS[k].name, &v, origin, what)) return -1;
            *(float *)field = (float)v;
        } else {
            long long v;
            if (json_get_int(obj, KEYS[k].name, &v, origin, what)) return -1;
            if (v < 1) return error_set("%s: %s: %s must be >= 1", origin, what, KEYS[k].name);
            *(int *)field = (int)v;
        }
    }
    if (c->text_width % c->text_heads)
        return error_set("%s: %s: text_width %d is not a multiple of text_heads %d", origin, what, c->text_width,
                         c->text_heads);
    if (c->max_text_len < 8 || c->max_text_len > c->max_position_embeddings)
        return error_set("%s: %s: max_text_len %d must lie in [8, max_position_embeddings %d]", origin, what,
                         c->max_text_len, c->max_position_embeddings);
    if (c->text_dropout < 0 || c->text_dropout >= 1)
        return error_set("%s: %s: text_dropout %g outside [0, 1)", origin, what, c->text_dropout);
    return 0;
}

int pgr_config_load(PgrConfig *c, const char *path) {
    cJSON *root = json_read_file(path);
    if (!root) return -1;
    int rc = pgr_config_from_json(c, root, path);
    cJSON_Delete(root);
    return rc;
}

cJSON *pgr_config_to_json(const PgrConfig *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", c->name);
    cJSON_AddStringToObject(o, "node_features", c->node_features == PGR_NODE_PER_NODE ? "per_node" : "name_tokens");
    for (size_t k = 0; k < N_KEYS; k++) {
        const char *field = (const char *)c + KEYS[k].offset;
        cJSON_AddNumberToObject(o, KEYS[k].name, KEYS[k].is_float ? *(const float *)field : *(const int *)field);
    }
    return o;
}

ModelConfig pgr_config_bert(const PgrConfig *c) {
    ModelConfig m;
    memset(&m, 0, sizeof m);
    snprintf(m.name, sizeof m.name, "%s", c->name);
    m.vocab_size = c->vocab_size;
    m.text_width = c->text_width;
    m.text_heads = c->text_heads;
    m.text_ffn_hidden = c->text_ffn_hidden;
    m.text_layers = c->text_layers;
    m.fusion_layer = c->text_layers;
    m.vision_width = 2 * c->gcn_hidden; /* the image side is u_G, one token of 2·gcn_hidden channels */
    m.max_position_embeddings = c->max_position_embeddings;
    m.max_text_len = m.max_text_len_eval = c->max_text_len;
    m.text_ln_eps = c->text_ln_eps;
    m.text_dropout = c->text_dropout;
    return m;
}
