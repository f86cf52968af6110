/* The graph-text model of the PGR task (spec/unlearning_methods.md §2.4, §2.5;
 * spec/pgr_graph_text.md §4.3, the MultiDelete variant):
 *   u_G = [h_u; h_v]      rows of the gene and the phenotype after the GCN
 *                         layers over the batch of enclosing subgraphs
 *   u_T = BERT [CLS]      of the sentence with both mentions marked
 *   z   = FFN([u_G; u_T]) the fusion module g ("-F" trains it and the classifier, §2.3)
 *   logits = classifier([u_G; u_T; z]), 2 classes (0 False, 1 True)
 * The three pieces are separate calls, because MultiDelete's losses read
 * u_G, u_T and z on their own (§5.2 "Graph-text") and pair graphs with other
 * samples' texts. Parameter names:
 *   graph.node_embedding.weight   [vocab or graph nodes, node_dim]
 *   graph.gcn.<l>.weight/bias     [gcn_hidden, in]
 *   text_encoder.*                BERT under Hugging Face's names (models/bert.h)
 *   fusion.fc1, fusion.fc2        the FFN
 *   classifier.fc1_graph          [classifier_hidden, 2·gcn_hidden], no bias: the
 *                                 classifier's first layer on u_G, kept apart so that
 *                                 the channels of u_G have a weight of their own (Erm-Ktp
 *                                 zeroes its columns, spec/unlearning_methods.md §4.7)
 *   classifier.fc1                the same layer on [u_T; z], with the bias
 *   classifier.fc2 */
#ifndef MODELS_PGR_MODEL_H
#define MODELS_PGR_MODEL_H

#include "autograd/params.h"
#include "data/pgr_batch.h"
#include "models/bert.h"
#include "models/pgr_config.h"
#include "nn/gcn.h"
#include "nn/layers.h"

typedef struct {
    PgrConfig cfg;
    Embedding node_embedding;
    GcnLayer *gcn;
    Bert text;
    Linear fuse1, fuse2, cls1_graph, cls1, cls2;
} PgrModel;

/* n_graph_nodes sizes the per-node table (node_features "per_node"); the
 * name-token table has vocab_size rows. */
void pgr_model_declare(PgrModel *m, ParamSet *ps, const PgrConfig *c, int64_t n_graph_nodes);
void pgr_model_free(PgrModel *m);

/* The batch's inputs as tensors on `device` (from the activation arena). The
 * batch's CSR arrays must outlive the backward (op_spmm keeps them). */
typedef struct {
    const PgrBatch *batch;
    Tensor *ids, *mask_add, *labels, *targets, *tokens, *node_global;
} PgrInputs;
PgrInputs pgr_inputs(const PgrBatch *b, Device device);

Tensor *pgr_model_graph(const PgrModel *m, const PgrInputs *in);                          /* u_G [B, 2·gcn_hidden] */
Tensor *pgr_model_text(const PgrModel *m, const PgrInputs *in, DropoutState *dropout);    /* u_T [B, text_width] */
Tensor *pgr_model_fuse(const PgrModel *m, Tensor *u_g, Tensor *u_t);                      /* z [B, fusion_dim] */
Tensor *pgr_model_classify(const PgrModel *m, Tensor *u_g, Tensor *u_t, Tensor *z);       /* logits [B, 2] */

/* Loads the BERT text encoder from a checkpoint whose tensors are named
 * file_prefix + Hugging Face's BERT names ("bert." for a BertModel checkpoint
 * converted to safetensors): every text_encoder.* parameter must be there with
 * its shape (a vocabulary of another size is an error naming the tensor);
 * the file's other tensors (pooler, heads) are skipped. 0, or -1 with error_set. */
int pgr_model_load_text(ParamSet *ps, const char *path, const char *file_prefix);

/* Prefixes of the "-F" parameter set (§2.3): the fusion FFN and the classifier. */
extern const char *const PGR_FUSION_PREFIXES[];

#endif
