#include "models/bert.h"

#include <stdio.h>
#include <stdlib.h>

#include "autograd/ops.h"
#include "core/device.h"
#include "core/error.h"

/* Embeddings and the layer array; the layers are declared by the caller. */
static void bert_declare_embeddings(Bert *b, ParamSet *ps, const char *prefix, const ModelConfig *c) {
    char name[256];
    b->dim = c->text_width;
    b->n_layers = c->text_layers;
    b->fusion_layer = c->fusion_layer;
    b->max_positions = c->max_position_embeddings;

    snprintf(name, sizeof name, "%s.embeddings.word_embeddings", prefix);
    embedding_declare(&b->word, ps, name, c->vocab_size, c->text_width);
    snprintf(name, sizeof name, "%s.embeddings.position_embeddings", prefix);
    embedding_declare(&b->position, ps, name, c->max_position_embeddings, c->text_width);
    snprintf(name, sizeof name, "%s.embeddings.LayerNorm", prefix);
    layernorm_declare(&b->emb_norm, ps, name, c->text_width, c->text_ln_eps);

    b->layers = calloc((size_t)b->n_layers, sizeof *b->layers);
    CHECK(b->layers != NULL, "out of memory");
}

void bert_declare(Bert *b, ParamSet *ps, const char *prefix, const ModelConfig *c) {
    char name[256];
    bert_declare_embeddings(b, ps, prefix, c);
    for (int l = 0; l < b->n_layers; l++) {
        snprintf(name, sizeof name, "%s.encoder.layer.%d", prefix, l);
        int has_cross = l >= c->fusion_layer; /* §2.4: cross-attention only in the fusion layers */
        bert_layer_declare(&b->layers[l], ps, name, c->text_width, c->text_heads, c->text_ffn_hidden, has_cross,
                           c->vision_width, c->text_ln_eps);
    }
}

void bert_declare_nlvr(Bert *b, ParamSet *ps, const char *prefix, const ModelConfig *c) {
    char name[256];
    CHECK((c->text_layers - c->fusion_layer) % 2 == 0,
          "%s: NLVR2 needs an even number of fusion layers (text_layers %d, fusion_layer %d)", prefix,
          c->text_layers, c->fusion_layer);
    bert_declare_embeddings(b, ps, prefix, c);
    b->nlvr_pairs = 1;
    for (int l = 0; l < c->fusion_layer; l++) {
        snprintf(name, sizeof name, "%s.encoder.layer.%d", prefix, l);
        bert_layer_declare(&b->layers[l], ps, name, c->text_width, c->text_heads, c->text_ffn_hidden, 0,
                           c->vision_width, c->text_ln_eps);
    }
    /* The odd layer of each pair owns the shared key/value (§3.3: "the odd
     * layer's object is used by both"), so it is declared first. */
    for (int l = c->fusion_layer; l < c->text_layers; l += 2) {
        snprintf(name, sizeof name, "%s.encoder.layer.%d", prefix, l + 1);
        bert_layer_declare(&b->layers[l + 1], ps, name, c->text_width, c->text_heads, c->text_ffn_hidden, 1,
                           c->vision_width, c->text_ln_eps);
        snprintf(name, sizeof name, "%s.encoder.layer.%d", prefix, l);
        bert_layer_declare_shared_kv(&b->layers[l], ps, name, c->text_width, c->text_heads, c->text_ffn_hidden,
                                     c->vision_width, c->text_ln_eps, &b->layers[l + 1]);
    }
}

void bert_free(Bert *b) {
    free(b->layers);
    b->layers = NULL;
}

Tensor *bert_embed(const Bert *b, Tensor *ids, DropoutState *dropout) {
    CHECK(ids->ndim == 2 && ids->dtype == DTYPE_I32, "bert: ids must be i32 [B, L]");
    int64_t L = ids->shape[1];
    CHECK(L <= b->max_positions, "bert: text length %lld exceeds %d positions", (long long)L, b->max_positions);
    Tensor *positions = tensor_new(DTYPE_I32, SHAPE(L));
    for (int64_t i = 0; i < L; i++) tensor_i32(positions)[i] = (int32_t)i;
    positions = tensor_on(positions, ids->device);
    Tensor *e = op_add(embedding_forward(&b->word, ids), embedding_forward(&b->position, positions));
    e = layernorm_forward(&b->emb_norm, e);
    return dropout ? dropout_forward(dropout, e) : e;
}

Tensor *bert_text_forward(const Bert *b, Tensor *ids, Tensor *mask, DropoutState *dropout) {
    Tensor *h = bert_embed(b, ids, dropout);
    for (int l = 0; l < b->fusion_layer; l++) h = bert_layer_forward(&b->layers[l], h, mask, NULL, NULL, dropout);
    return h;
}

Tensor *bert_fusion_forward(const Bert *b, Tensor *h, Tensor *mask, Tensor *image, DropoutState *dropout) {
    CHECK(image != NULL && image->ndim == 3 && image->shape[0] == h->shape[0],
          "bert: fusion needs image tokens [B, Nv, Dv] for the %lld texts", (long long)h->shape[0]);
    /* Every layer's key and value products read the image tokens: one cast
     * into their type for all of them (nn/transformer.c). */
    Tensor *image_product = op_to_product_type(image);
    for (int l = b->fusion_layer; l < b->n_layers; l++)
        h = bert_layer_forward(&b->layers[l], h, mask, image_product, NULL, dropout);
    return h;
}

Tensor *bert_fusion_forward_pair(const Bert *b, Tensor *h, Tensor *mask, Tensor *image0, Tensor *image1,
                                 DropoutState *dropout) {
    CHECK(b->nlvr_pairs, "bert: the two-image fusion needs the NLVR2 layout (bert_declare_nlvr)");
    Tensor *images[2] = {image0, image1};
    for (int k = 0; k < 2; k++) {
        CHECK(images[k] != NULL && images[k]->ndim == 3 && images[k]->shape[0] == h->shape[0],
              "bert: image %d must be tokens [B, Nv, Dv] for the %lld texts", k, (long long)h->shape[0]);
        images[k] = op_to_product_type(images[k]); /* once for every layer's products, as above */
    }
    /* §3.3: layer l >= fusion_layer attends to image (l - fusion_layer) mod 2. */
    for (int l = b->fusion_layer; l < b->n_layers; l++)
        h = bert_layer_forward(&b->layers[l], h, mask, images[(l - b->fusion_layer) % 2], NULL, dropout);
    return h;
}
