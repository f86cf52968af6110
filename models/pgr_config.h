/* Configuration of the graph-text model of the PGR task (GCN + BERT + fusion
 * FFN + classifier; spec/pgr_graph_text.md §4.3, spec/unlearning_methods.md
 * §2.4), read from models/configs/pgr-<name>.json. As ModelConfig, the JSON
 * file is the one place a default lives: every key must be present and an
 * unknown key is an error.
 *
 * Keys:
 *   name
 *   node_features        "name_tokens": a node's vector is the mean of the
 *                        embeddings of its name's word pieces (shared by every
 *                        node, so it carries to nodes seen in no training row);
 *                        "per_node": one learned vector per graph node
 *   node_dim             width of the node features
 *   gcn_layers, gcn_hidden   Kipf-Welling layers, each gcn_hidden wide, ReLU after
 *                        each; the graph embedding u_G is [h_u; h_v], 2·gcn_hidden
 *   vocab_size           WordPiece vocabulary (the loaded vocab.txt overrides it)
 *   text_width, text_heads, text_ffn_hidden, text_layers, max_position_embeddings,
 *   max_text_len, text_ln_eps, text_dropout   the BERT sentence encoder; u_T is [CLS]
 *   fusion_hidden, fusion_dim   z = W2 ReLU(W1 [u_G; u_T] + b1) + b2
 *   classifier_hidden    logits = V2 ReLU(V1 [u_G; u_T; z] + c1) + c2, 2 classes */
#ifndef MODELS_PGR_CONFIG_H
#define MODELS_PGR_CONFIG_H

#include <cjson/cJSON.h>

#include "models/model_config.h"

typedef enum { PGR_NODE_NAME_TOKENS, PGR_NODE_PER_NODE } PgrNodeFeatures;

typedef struct {
    char name[64];
    PgrNodeFeatures node_features;
    int node_dim, gcn_layers, gcn_hidden;
    int vocab_size, text_width, text_heads, text_ffn_hidden, text_layers, max_position_embeddings, max_text_len;
    float text_ln_eps, text_dropout;
    int fusion_hidden, fusion_dim, classifier_hidden;
} PgrConfig;

int pgr_config_load(PgrConfig *c, const char *path);
int pgr_config_from_json(PgrConfig *c, const cJSON *obj, const char *origin);
cJSON *pgr_config_to_json(const PgrConfig *c);
/* The ModelConfig that bert_declare reads: the text keys, every layer a text
 * layer (fusion_layer = text_layers: no cross-attention); vision_width is the
 * width of the image side's token, u_G (2·gcn_hidden), what a channel mask
 * over the image side (Erm-Ktp) spans. */
ModelConfig pgr_config_bert(const PgrConfig *c);

#endif
