#include "models/pgr_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/ops.h"
#include "autograd/params_io.h"
#include "core/device.h"
#include "core/error.h"
#include "nn/attention.h"

const char *const PGR_FUSION_PREFIXES[] = {"fusion.", "classifier.", NULL};

void pgr_model_declare(PgrModel *m, ParamSet *ps, const PgrConfig *c, int64_t n_graph_nodes) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    int64_t rows = c->node_features == PGR_NODE_PER_NODE ? n_graph_nodes : c->vocab_size;
    CHECK(rows > 0 && rows < INT32_MAX, "pgr model: %lld node-feature rows", (long long)rows);
    embedding_declare(&m->node_embedding, ps, "graph.node_embedding", (int)rows, c->node_dim);
    m->gcn = calloc((size_t)c->gcn_layers, sizeof *m->gcn);
    CHECK(m->gcn, "out of memory");
    char name[64];
    for (int l = 0; l < c->gcn_layers; l++) {
        snprintf(name, sizeof name, "graph.gcn.%d", l);
        gcn_layer_declare(&m->gcn[l], ps, name, l ? c->gcn_hidden : c->node_dim, c->gcn_hidden);
    }
    ModelConfig bc = pgr_config_bert(c);
    bert_declare(&m->text, ps, "text_encoder", &bc);
    int ug = 2 * c->gcn_hidden, ut = c->text_width;
    linear_declare(&m->fuse1, ps, "fusion.fc1", ug + ut, c->fusion_hidden, 1);
    linear_declare(&m->fuse2, ps, "fusion.fc2", c->fusion_hidden, c->fusion_dim, 1);
    linear_declare(&m->cls1_graph, ps, "classifier.fc1_graph", ug, c->classifier_hidden, 0);
    linear_declare(&m->cls1, ps, "classifier.fc1", ut + c->fusion_dim, c->classifier_hidden, 1);
    linear_declare(&m->cls2, ps, "classifier.fc2", c->classifier_hidden, 2, 1);
}

void pgr_model_free(PgrModel *m) {
    free(m->gcn);
    bert_free(&m->text);
    memset(m, 0, sizeof *m);
}

static Tensor *i32_tensor(const int32_t *v, int64_t n, Device device) {
    Tensor *t = tensor_new(DTYPE_I32, SHAPE(n));
    memcpy(tensor_i32(t), v, (size_t)n * sizeof *v);
    return tensor_on(t, device);
}

PgrInputs pgr_inputs(const PgrBatch *b, Device device) {
    PgrInputs in = {.batch = b};
    in.ids = tensor_view_reshape(i32_tensor(b->ids, b->B * b->L, device), 2, (const int64_t[]){b->B, b->L});
    Tensor *mask = tensor_view_reshape(i32_tensor(b->mask, b->B * b->L, DEVICE_CPU), 2, (const int64_t[]){b->B, b->L});
    in.mask_add = tensor_on(attention_additive_mask(mask), device);
    in.labels = i32_tensor(b->labels, b->B, device);
    in.targets = i32_tensor(b->targets, 2 * b->B, device);
    in.tokens = i32_tensor(b->tokens, b->n_tokens, device);
    in.node_global = i32_tensor(b->node_global, b->n_nodes, device);
    return in;
}

Tensor *pgr_model_graph(const PgrModel *m, const PgrInputs *in) {
    /* Node features (§4.3): the mean of the name pieces' embeddings, as the
     * sparse product pool · E[tokens], or a learned vector per graph node. */
    Tensor *h = m->cfg.node_features == PGR_NODE_PER_NODE
                    ? embedding_forward(&m->node_embedding, in->node_global)
                    : op_spmm(&in->batch->pool, embedding_forward(&m->node_embedding, in->tokens));
    for (int l = 0; l < m->cfg.gcn_layers; l++) h = op_relu(gcn_layer_forward(&m->gcn[l], &in->batch->adj, h));
    /* GTNN's set_indices gather (§2.5 item 2): rows u_b, v_b side by side. */
    Tensor *pair = op_index_select(h, 0, in->targets);
    return op_reshape(pair, 2, (const int64_t[]){in->batch->B, 2 * (int64_t)m->cfg.gcn_hidden});
}

Tensor *pgr_model_text(const PgrModel *m, const PgrInputs *in, DropoutState *dropout) {
    Tensor *h = bert_text_forward(&m->text, in->ids, in->mask_add, dropout);
    Tensor *cls = op_slice(h, 1, 0, 1);
    return op_reshape(cls, 2, (const int64_t[]){in->batch->B, (int64_t)m->cfg.text_width});
}

Tensor *pgr_model_fuse(const PgrModel *m, Tensor *u_g, Tensor *u_t) {
    Tensor *parts[2] = {u_g, u_t};
    Tensor *x = op_concat(parts, 2, 1);
    return linear_forward(&m->fuse2, op_relu(linear_forward(&m->fuse1, x)));
}

Tensor *pgr_model_classify(const PgrModel *m, Tensor *u_g, Tensor *u_t, Tensor *z) {
    /* V1 [u_G; u_T; z] + c1 as the sum of its column blocks (see the header). */
    Tensor *parts[2] = {u_t, z};
    Tensor *h = op_add(linear_forward(&m->cls1_graph, u_g), linear_forward(&m->cls1, op_concat(parts, 2, 1)));
    return linear_forward(&m->cls2, op_relu(h));
}

int pgr_model_load_text(ParamSet *ps, const char *path, const char *file_prefix) {
    ParamsLoadOptions lo = params_load_defaults();
    lo.strict = 0;
    lo.file_prefix = file_prefix;
    lo.param_prefix = "text_encoder.";
    ParamsLoadReport rep;
    if (params_load(ps, path, lo, &rep) < 0) return -1;
    int rc = 0;
    if (rep.missing || rep.mismatched)
        rc = error_set("%s: the text encoder needs every %s* tensor with its shape: %d missing, %d mismatched:\n%s",
                       path, file_prefix, rep.missing, rep.mismatched, rep.details ? rep.details : "");
    params_load_report_free(&rep);
    return rc;
}
