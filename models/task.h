/* The task interface the unlearning methods and the metrics are written
 * against, once (DESIGN.md "Layers": models/ holds the task; a method in
 * unlearn/ never names one). A task is a model family plus a dataset plus an
 * objective: Flickr30K-format retrieval on ALBEF today; SNLI-VE and NLVR2
 * (ALBEF with a classification head) and PGR (graph + text) plug in the same
 * way.
 *
 * Contract (what each function promises):
 *  - Items. The training data is n_items[TASK_SPLIT_TRAIN] items, named by their index
 *    0 .. n-1 (retrieval: an image-caption pair = a caption index; VE:
 *    an image-hypothesis pair; NLVR2: two images and a statement). Df, Dr and
 *    every subset are arrays of item indices. item_group(i) is the unit an
 *    item belongs to (retrieval: its image; items of one group are positives
 *    of each other in the ITC targets, and Erm-Ktp's class of an item).
 *  - Sides. Every task has an "image side" (pixels, or a graph) and a "text
 *    side"; TaskBatch carries both inputs, TaskSides both unimodal
 *    representations. NLVR2's two images per item are the image side of
 *    2n rows, its own business.
 *  - Batches are pure functions of (items, augment, seed, epoch): batch_make
 *    builds one now in the activation arena; a loader prepares a sequence on a
 *    background thread and yields the same numbers. Batch tensors live until
 *    autograd_step_end() (batch_make) or the next loader_next (loader).
 *  - loss(): the task's training loss on a batch, with the side effects the
 *    model has inside its training forward (ALBEF: temperature clamp, EMA
 *    update, queue enqueue). NULL with error_set when the batch cannot be
 *    used (retrieval: no hard negative can be drawn).
 *  - sides()/fused(): the representations MultiDelete and Erm-Ktp read, and
 *    the probe's unimodal features (image_feat, text_feat; eval/unimodal_features.h).
 *    fused z is [n, D] (ALBEF: the fused [CLS]). sides()
 *    also names the unimodal tensors L_UKR keeps (retain[]: retrieval the
 *    normalised ITC features, spec/unlearning_methods.md §5.2; classification
 *    the ViT token sequence, and the text tokens when the task asks for them).
 *  - md_targets()/md_outputs(): L_MD's pairs (spec §5.2), MSE(outputs[k],
 *    targets[k]) summed over k. targets come from θ0 with the Df items
 *    re-paired by perm (texts permuted against fixed images); outputs from θ
 *    on the Df batch as it is. Retrieval: the cosine-similarity matrix and its
 *    transpose; classification: the fused [CLS].
 *  - item_probs(): the black-box output of each item, rows of n_classes
 *    probabilities (retrieval: softmax of the ITM logits of the pair, column 1
 *    = match; VE: the 3 class probabilities). The MI attacker's features are
 *    built from it (programs/run_eval.c); a classification task's Df AUC is
 *    to rank it per class column, while retrieval's ranks the pairs' ITC
 *    cosine (eval/forget_metrics.c, spec/unlearning_methods.md §6.2).
 *  - item_label(): a classification item's label in its split, the truth of
 *    Dt accuracy (NULL for retrieval, whose Dt is recall@k).
 *  - Models are TaskModel handles: net is the task's network, params the
 *    trainable parameter set (what optimizers step and -F freezes), momentum
 *    the EMA twins (NULL when the model has none). model_init gives random
 *    weights from a seed, model_load a strict checkpoint load, model_to_device
 *    moves parameters and buffers, model_set_fusion_only the paper's "-F"
 *    trainable set (spec/unlearning_methods.md §2.3).
 *
 * Registering a task: write models/task_<name>.c with an init function that
 * fills a Task (every field of the table below, as task_retrieval_init does),
 * mark its row built in models/task_registry.c (--task accepts the names
 * there), add its recipe rows to unlearn/recipe.c, and let the run driver
 * (programs/run_driver.c run_setup) load the task's data and call the init
 * function for that name. */
#ifndef MODELS_TASK_H
#define MODELS_TASK_H

#include <stdint.h>

#include "autograd/params.h"
#include "core/device.h"
#include "core/tensor.h"
#include "models/model_config.h"

typedef enum { TASK_RETRIEVAL, TASK_CLASSIFICATION } TaskKind;
/* The splits item indices refer to: training items (D, Df, Dr), test items
 * (Dt, the unseen items of Df-vs-unseen), validation items (MI non-members,
 * model selection). */
typedef enum { TASK_SPLIT_TRAIN, TASK_SPLIT_TEST, TASK_SPLIT_VAL } TaskSplit;

typedef struct {
    void *net;          /* the task's network (Albef * for the ALBEF tasks) */
    ParamSet *params;   /* trainable parameters */
    ParamSet *momentum; /* EMA twins, or NULL */
    int owned;          /* 1: net was allocated by model_init and is freed by model_free */
} TaskModel;

typedef struct {
    int n;                  /* items */
    const int64_t *items;   /* [n] their indices (borrowed) */
    Tensor *image;          /* image side input: f32 [n, 3, H, W] (normalised pixels); NULL for a graph */
    const void *graph;      /* graph side input of a graph-text task (PGR: its PgrInputs); NULL otherwise */
    Tensor *text_ids;       /* i32 [n, L] */
    Tensor *text_mask;      /* i32 [n, L] 1 token, 0 padding */
    const int64_t *groups;  /* [n] item_group of each item */
    const int32_t *labels;  /* [n] class labels; NULL for retrieval */
} TaskBatch;

typedef struct {
    Tensor *image_tokens, *image_feat; /* [n, Nv, Dv], [n, E] */
    Tensor *text_tokens, *text_feat;   /* [n, L, D], [n, E] */
    Tensor *text_mask;                 /* additive [n, L]: 0 keep, -10000 padding */
    Tensor *retain[2];                 /* what L_UKR keeps (see above) */
    int n_retain;
} TaskSides;

typedef struct {
    int epoch;
    int64_t step_in_epoch, steps_per_epoch; /* the distillation ramp reads them */
    uint64_t sample_seed, sample_stream;    /* Philox of any sampling inside the loss */
    int want_accuracy;                      /* fill TaskLossOutput.accuracy (a host read of the outputs) */
} TaskLossOptions;

typedef struct {
    Tensor *loss;     /* the scalar the method differentiates */
    double accuracy;  /* fraction of the batch's items the model gets right (retrieval: ITM "match" on the
                         positive pairs; classification: argmax = label) */
} TaskLossOutput;

typedef struct TaskLoader TaskLoader;

#define TASK_MAX_MD_TERMS 2

typedef struct Task Task;
struct Task {
    const char *name;
    TaskKind kind;
    int n_classes;            /* columns of item_probs */
    const ModelConfig *cfg;   /* borrowed */
    int64_t n_items[3];       /* per TaskSplit; 0 = the split is absent */
    const void *data[3];      /* the task's data per TaskSplit (borrowed; retrieval: RetrievalSet *) */
    void *state;              /* anything else the task owns (freed by free); may be NULL */

    /* Batches and loaders read training items. */
    int64_t (*item_group)(const Task *t, int64_t item);
    int (*batch_make)(const Task *t, const int64_t *items, int n, int augment, uint64_t seed, uint64_t epoch,
                      TaskBatch *out);
    TaskLoader *(*loader_start)(const Task *t, const int64_t *items, int64_t n_batches, int batch, int augment,
                                uint64_t seed, uint64_t epoch);
    int (*loader_next)(TaskLoader *l, TaskBatch *out); /* 1 batch, 0 end, -1 error */
    void (*loader_stop)(TaskLoader *l);

    int (*model_init)(const Task *t, TaskModel *m, uint64_t seed);
    void (*model_free)(const Task *t, TaskModel *m);
    int (*model_load)(const Task *t, TaskModel *m, const char *path);
    int (*model_save)(const Task *t, const TaskModel *m, const char *path);
    /* Starts a model that model_init made from pretrained weights, on the host, strictly: a tensor the model
     * needs that the file lacks or holds with another shape is an error naming the file and the tensor. The
     * task's own checkpoints load as model_load does; a classification task also takes a pretrained ALBEF
     * (ALBEF.pth, pretrain_model_nlvr.pth converted: its encoders, the head keeping its initialisation),
     * as the original fine-tuning and Retrain start (spec/unlearning_methods.md §3.4, §4.1). */
    int (*model_init_from)(const Task *t, TaskModel *m, const char *path);
    void (*model_to_device)(const Task *t, TaskModel *m, Device device);
    void (*model_set_mode)(const Task *t, TaskModel *m, int training, uint64_t seed);
    int (*model_set_fusion_only)(const Task *t, TaskModel *m);
    /* Copies the online encoders into their momentum twins, as model_init leaves them (no-op without twins). */
    void (*model_reset_momentum)(const Task *t, TaskModel *m);
    /* A channel mask multiplied into every image-side token before the heads and the fusion ([n, Nv, Dv] or
     * [Dv]; NULL removes it): the entanglement-reduced mask of Erm-Ktp (spec/unlearning_methods.md §4.7). */
    void (*set_image_token_mask)(const Task *t, TaskModel *m, Tensor *mask);
    /* The weight [out, Dv] of the first linear layer that reads the image-side token channels (ALBEF: vision_proj). */
    Tensor *(*image_channel_weight)(const Task *t, TaskModel *m);
    /* Parameter-name prefixes of the task heads above the encoders (NULL-terminated). */
    const char *const *head_prefixes;
    int image_tokens;         /* Nv: tokens per image on the image side */

    Tensor *(*loss)(const Task *t, TaskModel *m, const TaskBatch *b, const TaskLossOptions *o, TaskLossOutput *out);
    /* The loss of a model that predicts uniformly, for batches of `batch` items (NegGrad's floor). */
    double (*chance_loss)(const Task *t, const TaskModel *m, int batch);
    TaskSides (*sides)(const Task *t, TaskModel *m, const TaskBatch *b);
    Tensor *(*fused)(const Task *t, TaskModel *m, const TaskBatch *b, const TaskSides *s);
    int (*md_targets)(const Task *t, TaskModel *original, const TaskBatch *df, const TaskSides *s0,
                      const int32_t *perm, Tensor **out);
    int (*md_outputs)(const Task *t, TaskModel *m, const TaskBatch *df, const TaskSides *s, Tensor **out);
    /* out [n, n_classes] for items of `split`, in eval mode without a tape (the caller's mode comes back). */
    int (*item_probs)(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                      float *out);
    /* The class label (0 .. n_classes-1) of an item of `split`, what Dt accuracy compares the argmax of
     * item_probs with (spec/unlearning_methods.md §6.1); -1 with error_set for an absent split or an item
     * outside it. NULL for a task without labels (retrieval). */
    int32_t (*item_label)(const Task *t, TaskSplit split, int64_t item);
    /* The loss of each item's own prediction, the batch mean, in the model's current mode and without the
     * training loss's side effects: the cross-entropy of the item's logits against what it should be
     * (retrieval: the pair's ITM logits against "match"; classification: the class logits against the label).
     * L-codec's task loss (spec/unlearning_methods.md §4.6 "Multimodal adaptation"). */
    Tensor *(*item_loss)(const Task *t, TaskModel *m, const TaskBatch *b);
    /* The fraction of a batch's predictions that are right, without a tape, in the model's current mode
     * (retrieval: ITM "match" on each pair and "no match" on each text against the next item's image where
     * the two images differ, so that a scorer saying "match" to all gets half; classification: argmax =
     * label). L-codec's guard (§4.6 step 8). */
    double (*item_accuracy)(const Task *t, TaskModel *m, const TaskBatch *b);
    /* A batch of any split's items with the eval transform (no augmentation, no swap), built as batch_make
     * builds training batches: the unseen items UL's stopping threshold is measured on (§4.8). */
    int (*split_batch_make)(const Task *t, TaskSplit split, const int64_t *items, int n, TaskBatch *out);
    /* The token states [n, L, D] a masked-language-modelling head reads, in the model's current mode (ALBEF:
     * the text layers, then the fusion layers over the item's image side; PGR: its text encoder, whose
     * fusion is after the [CLS]), and the word embeddings [V, D] its decoder is tied to (UL, §4.8). */
    Tensor *(*text_states)(const Task *t, TaskModel *m, const TaskBatch *b);
    Tensor *(*word_embeddings)(const Task *t, TaskModel *m);
    /* Parameter-name prefixes of the text side, f_T and the fusion module g (NULL-terminated): what UL
     * trains, the image side frozen (§4.8). */
    const char *const *text_prefixes;
    void (*free)(Task *t);
};

/* Every task name --task accepts, "|"-separated (models/task_registry.c). */
const char *task_names(void);
/* 0 when `name` is a task that is built, else -1 with error_set saying why
 * (an unknown name lists the known ones; a known task not built yet says so). */
int task_check_name(const char *name);

/* θ := a copy of θ0's parameters and momentum twins (same task, same config). */
void task_model_copy(TaskModel *dst, const TaskModel *src);

#endif
