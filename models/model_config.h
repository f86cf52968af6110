/* Model configuration: every architecture number of an ALBEF model, read from
 * a JSON file (models/configs/<name>.json). The JSON file is the one place a default
 * lives (DESIGN.md "One truth per number"): the loader has no fallback values,
 * so every key must be present, and an unknown key (a typo) is an error.
 *
 * Keys (spec/albef_blip.md §§1.1, 2.2-2.4, 3.1, 5.1):
 *   name                       label echoed in reports
 *   image_size, patch_size     input resolution and ViT patch (grid = image/patch)
 *   vision_width, vision_depth, vision_heads, vision_mlp_hidden, vision_ln_eps
 *   vocab_size | vocab_file    exactly one: a number, or a WordPiece vocab file
 *                              whose line count is the vocabulary size
 *   text_width, text_heads, text_ffn_hidden, text_ln_eps
 *   text_layers                BERT layers in total (ALBEF 12)
 *   fusion_layer               first layer with cross-attention (ALBEF 6):
 *                              layers [0, fusion_layer) are the text encoder,
 *                              [fusion_layer, text_layers) the fusion module
 *   max_position_embeddings    rows of the BERT position table
 *   max_text_len, max_text_len_eval   tokens incl. [CLS]/[SEP] (§2.1)
 *   text_dropout               BERT hidden and attention-probability dropout
 *                              (both 0.1 in ALBEF; the ViT has none, §1.1)
 *   embed_dim                  ITC projection width (256)
 *   temp_init, temp_min, temp_max     learnable ITC temperature and its clamp
 *   momentum_distill           momentum encoder + queue + distillation on/off
 *   momentum                   EMA coefficient of the momentum encoder
 *   alpha, alpha_ramp_epochs   distillation weight and its linear ramp (§3.1 step 1)
 *   queue_size                 ITC feature queue length (0 = in-batch only;
 *                              needs momentum_distill when > 0) */
#ifndef MODELS_MODEL_CONFIG_H
#define MODELS_MODEL_CONFIG_H

#include <stddef.h>

#include <cjson/cJSON.h>

typedef struct {
    char name[64];
    /* vision (ViT, §1) */
    int image_size, patch_size;
    int vision_width, vision_depth, vision_heads, vision_mlp_hidden;
    float vision_ln_eps;
    /* text and fusion (BERT, §2) */
    int vocab_size;
    int text_width, text_heads, text_ffn_hidden;
    int text_layers, fusion_layer;
    int max_position_embeddings, max_text_len, max_text_len_eval;
    float text_ln_eps, text_dropout;
    /* ITC / ITM heads and momentum distillation (§3.1) */
    int embed_dim;
    float temp_init, temp_min, temp_max;
    int momentum_distill;
    float momentum, alpha;
    int alpha_ramp_epochs;
    int queue_size;
} ModelConfig;

/* A --model argument to a config path: a name ("albef-tiny") is
 * models/configs/<name>.json under the working directory, else next to the
 * program (<dir of the executable>/../models/configs), so programs run from
 * anywhere; an argument with a '/' or ending in ".json" is a path. 0, or -1
 * with error_set naming where it looked. */
int model_config_resolve(const char *arg, char *path, size_t size);
/* Reads and validates a config file. 0, or -1 with error_set naming the file and key. */
int model_config_load(ModelConfig *c, const char *path);
/* The same from a parsed object; `origin` names it in messages. */
int model_config_from_json(ModelConfig *c, const cJSON *obj, const char *origin);
/* Consistency checks (divisibility, ranges); 0 or -1 with error_set. */
int model_config_validate(const ModelConfig *c, const char *origin);
/* The resolved configuration as JSON (vocab_size as a number), for run reports. */
cJSON *model_config_to_json(const ModelConfig *c);

/* Sets vocab_size to the line count of a WordPiece vocab file (the tokenizer's
 * vocabulary decides the embedding table). 0, or -1 with error_set. */
int model_config_use_vocab_file(ModelConfig *c, const char *path);

/* Number of image tokens: 1 + (image_size / patch_size)^2. */
int model_config_image_tokens(const ModelConfig *c);
/* Distillation weight at a point of training (§3.1 step 1):
 * alpha · min(1, (epoch·N + it) / (alpha_ramp_epochs·N)); alpha when the ramp is 0. */
float model_config_alpha_at(const ModelConfig *c, int epoch, long long it, long long iters_per_epoch);

#endif
