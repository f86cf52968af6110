#include "tests/eval_world.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/json.h"
#include "data/synth_image_text.h"
#include "tests/test.h"

static const char *TINY_CONFIG =
    "{\"name\": \"eval-tiny\", \"image_size\": 16, \"patch_size\": 8, \"vision_width\": 32, \"vision_depth\": 1,"
    " \"vision_heads\": 2, \"vision_mlp_hidden\": 64, \"vision_ln_eps\": 1e-6, \"vocab_size\": 40,"
    " \"text_width\": 32, \"text_heads\": 2, \"text_ffn_hidden\": 64, \"text_layers\": 4, \"fusion_layer\": 2,"
    " \"max_position_embeddings\": 32, \"max_text_len\": 30, \"max_text_len_eval\": 30, \"text_ln_eps\": 1e-12,"
    " \"text_dropout\": 0.1, \"embed_dim\": 16, \"temp_init\": 0.07, \"temp_min\": 0.001, \"temp_max\": 0.5,"
    " \"momentum_distill\": false, \"momentum\": 0.995, \"alpha\": 0.4, \"alpha_ramp_epochs\": 2,"
    " \"queue_size\": 0}";

const char *eval_world_dir(void) {
    static char dir[512];
    static int ready;
    if (ready) return dir;
    test_tmp_path(dir, sizeof dir, "eval_world");
    SynthImageTextOptions o;
    if (synth_image_text_world("scenes", &o) < 0) return NULL; /* the plain scenes the tests were sized on */
    o.train_images = EVAL_WORLD_TRAIN_IMAGES;
    o.val_images = 2;
    o.test_images = EVAL_WORLD_TEST_IMAGES;
    o.image_size = 32;
    o.vocab_size = 400;
    if (synth_image_text_write(&o, dir) < 0) return NULL;
    ready = 1;
    return dir;
}

int eval_world_config(ModelConfig *c, int vocab_size) {
    cJSON *root = json_parse_text(TINY_CONFIG, "eval-tiny config");
    int rc = root ? model_config_from_json(c, root, "eval-tiny config") : -1;
    cJSON_Delete(root);
    if (rc == 0) c->vocab_size = vocab_size;
    return rc;
}

Tokenizer *eval_world_tokenizer(void) {
    const char *dir = eval_world_dir();
    if (!dir) return NULL;
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    return tokenizer_load(path);
}

int eval_world_model(Albef *m, const Tokenizer *tok, uint64_t seed) {
    ModelConfig c;
    if (eval_world_config(&c, tokenizer_vocab_size(tok)) < 0) return -1;
    albef_init(m, &c, seed);
    /* BERT/timm init (std 0.02) maps every input to almost the same feature,
     * so ranks would hinge on float rounding; wide random weights make the
     * scores of different pairs clearly different. */
    for (int64_t k = 0; k < m->params.total; k++) m->params.values[k] += 0.3f * philox_normal(seed, 77, (uint64_t)k);
    return 0;
}

int eval_world_set(RetrievalSet *s, const char *split, const Tokenizer *tok, const ModelConfig *c) {
    const char *dir = eval_world_dir();
    if (!dir) return -1;
    char path[1024], root[1024];
    snprintf(path, sizeof path, "%s/flickr30k_%s.json", dir, split);
    snprintf(root, sizeof root, "%s/images", dir);
    Flickr30kLayout layout = strcmp(split, "train") == 0 ? FLICKR30K_TRAIN : FLICKR30K_EVAL;
    return retrieval_set_load(s, path, layout, root, tok, c->max_text_len_eval, c->image_size, 64 << 20);
}
