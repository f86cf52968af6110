/* The PGR graph-text task (spec/pgr_graph_text.md; spec/unlearning_methods.md
 * §2.4, §5.2 "Graph-text") on the task interface (models/task.h):
 *  - an item is a corpus row (data/pgr_corpus.h): its enclosing subgraph and
 *    its marked sentence; its group is itself (a row is the unit of deletion:
 *    only the association is deleted, the nodes stay in the graph, §4.2 step 5);
 *  - the image side is the graph: TaskBatch.graph holds the batch's PgrInputs
 *    (image and text_mask are NULL, text_ids the sentence tokens);
 *  - sides(): image_feat = u_G, text_feat = u_T (BERT [CLS]), image_tokens =
 *    u_G as one token [n, 1, 2·gcn_hidden]; L_UKR retains [u_G; u_T] (§5.2);
 *  - fused() = z, the fusion FFN's output; L_MD pairs θ0's z on (G_i, T_π(i))
 *    with θ's z on (G_i, T_i);
 *  - loss(): cross-entropy of the 2-class classifier; item_probs its softmax
 *    (column 1 = True);
 *  - "-F": the fusion FFN and the classifier (§2.3); Erm-Ktp's image-side
 *    mask multiplies u_G's channels, and its head weight is classifier.fc1_graph. */
#ifndef MODELS_TASK_PGR_H
#define MODELS_TASK_PGR_H

#include "data/pgr_corpus.h"
#include "models/model_config.h"
#include "models/pgr_model.h"
#include "models/task.h"

/* What the task reads (borrowed; must outlive it). bert_cfg is the
 * ModelConfig view of cfg that Task.cfg points to (pgr_config_bert). */
typedef struct {
    const PgrCorpus *corpus;
    PgrConfig cfg;
    ModelConfig bert_cfg;
    Device device; /* where batch tensors go: the models' device */
    /* A BERT checkpoint the text encoder of every new model starts from
     * (pgr_model_load_text with this name prefix), or NULL: from scratch.
     * Retrain then starts where the original did (spec/unlearning_methods.md §4.1). */
    const char *text_init, *text_init_prefix;
} PgrTaskData;

void task_pgr_init(Task *t, const PgrTaskData *d);
/* The PGR network inside a model of this task. */
PgrModel *task_pgr_model(const TaskModel *m);

#endif
