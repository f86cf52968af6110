/* Flickr30K-format image-text retrieval on ALBEF as a Task (models/task.h;
 * spec/albef_blip.md §3.1, §6.1): an item is an image-caption pair (a caption
 * index of the training set), its group the caption's image; the task loss is
 * ITC + ITM with momentum distillation; L_MD compares cosine-similarity
 * matrices (spec/unlearning_methods.md §5.2); item_probs is the softmax of
 * the pair's ITM logits. */
#ifndef MODELS_TASK_RETRIEVAL_H
#define MODELS_TASK_RETRIEVAL_H

#include "data/retrieval_set.h"
#include "models/albef.h"
#include "models/task.h"

/* The task over borrowed sets (they must outlive it); test and val may be
 * NULL (or hold no pairs) when absent, and train too for a task that only
 * computes losses and representations on batches given to it (the reference
 * tests). It allocates nothing (t->free only clears it). */
void task_retrieval_init(Task *t, const ModelConfig *cfg, const RetrievalSet *train, const RetrievalSet *test,
                         const RetrievalSet *val);

/* A TaskModel over an ALBEF the caller owns (model_free leaves it alone). */
TaskModel task_retrieval_wrap(Albef *m);
/* A TaskBatch over an ALBEF batch (items NULL: the batch names no item). */
TaskBatch task_retrieval_batch(const AlbefBatch *a);
/* The ALBEF inside a retrieval model. */
Albef *task_albef(const TaskModel *m);
/* The training set the task reads (for its caption texts and keys). */
const RetrievalSet *task_retrieval_train(const Task *t);

#endif
