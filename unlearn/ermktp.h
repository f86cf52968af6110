/* Erm-Ktp (Lin et al., CVPR 2023) over the task interface, adapted as
 * spec/unlearning_methods.md §4.7 describes, with one choice of this port:
 *
 * Classes. An item's ERM class is its group (Task.item_group). Retrieval has
 * no class label; the deletion unit is the image (spec §1.1: a Df entry
 * removes an image with all its captions), and ALBEF already treats the
 * captions of one image as one class (its `idx` positives). So for retrieval
 * the ERM "classes" are the training images: K = number of training images,
 * and a pair's class is its image. (The spec's guess, K = 2 over ITM
 * match/non-match, leaves the prohibition nothing to act on for a
 * sample-level deletion.)
 *
 * Prohibition. S7 prohibits every channel any target class uses; with ten
 * classes and entanglement reduced, those channels are the target's own. With
 * hundreds of images over C = 64 channels no such separation exists: every
 * channel is shared by many images, and the union over the Df images covers
 * all of them (measured: 64 of 64 prohibited, the student's ITC projection
 * zeroed, test retrieval at chance). So a channel is prohibited when some Df
 * image uses it and no retained image does: S7's rule where the classes'
 * channels are disjoint, and it never takes a channel the retained data needs.
 *
 * (a) ERM: M ∈ [0,1]^{C×K} (C = ViT width), stored as rows [K, C], starts at
 *     0.5. On mask epochs (epoch % period >= epoch_min) every image's ViT
 *     output tokens are multiplied channel-wise by its own column M[:, class]
 *     (Task.set_image_token_mask), the task loss gets λ_reg·R(M), and
 *     M takes an SGD step. After every iteration each channel row is divided
 *     by its maximum over classes and clamped to [0, 1].
 * (b) KTP: a freshly initialised student (model_init with the run's seed,
 *     the start of every trained model here) is distilled on Dr from the
 *     frozen ERM teacher: MSE of the ViT tokens (unmasked) plus MSE of the
 *     fused [CLS], the teacher's computed with the prohibited channels
 *     (M[c, t] > threshold for some Df image t) zeroed. The heads
 *     (Task.head_prefixes; ALBEF: vision_proj, text_proj, itm_head, temp) are
 *     copied from the teacher and frozen; the columns of the prohibited
 *     channels in the first linear layer reading them (Task.image_channel_weight;
 *     ALBEF: vision_proj) are zeroed (S7 zeroes the FC columns of the
 *     target-relevant channels).
 * There is no -F variant (paper: N/A). */
#ifndef UNLEARN_ERMKTP_H
#define UNLEARN_ERMKTP_H

#include <stdint.h>

#include "autograd/params.h"
#include "models/task.h"
#include "unlearn/recipe.h"

typedef struct {
    ParamSet ps;   /* one tensor "erm_mask" [K, C] */
    Tensor *rows;  /* row k = M[:, k] */
    int classes, channels;
} ErmMask;

/* On the host, M = 0.5 everywhere; erm_mask_to_device moves it (as
 * albef_to_device a model). The functions below take M on either side: on a
 * device they copy it to the host, compute there and copy the result back. */
void erm_mask_init(ErmMask *m, int classes, int channels);
void erm_mask_to_device(ErmMask *m, Device device);
void erm_mask_free(ErmMask *m);
/* R(M) = max(0, ‖M‖₁ − 0.1·C·K) + 0.1·Σ_{i<j}⟨M[:, i], M[:, j]⟩ (spec §4.7 a). When
 * grad is not NULL, adds scale·∂R/∂M into it ([K, C] like the rows, on M's
 * device: mask->ps.grads). */
double erm_mask_regulariser(const ErmMask *m, float *grad, double scale);
/* M[c, :] ← clamp(M[c, :] / max_k M[c, k], 0, 1). */
void erm_mask_normalise(ErmMask *m);
/* The mask tensor of a batch, [B, T, C]: token t of sample b gets row
 * classes[b] (differentiable into the rows). */
Tensor *erm_mask_tokens(const ErmMask *m, const int64_t *classes, int B, int T);
/* prohibited[c] = 1 when M[c, t] > threshold for some target class t and
 * M[c, r] <= threshold for every retained class r (the header says why).
 * Returns the count. */
int erm_mask_prohibited(const ErmMask *m, const int64_t *targets, int64_t n_targets, const int64_t *retained,
                        int64_t n_retained, float threshold, unsigned char *prohibited);
/* The mean over classes of the fraction of channels with M[c, k] > threshold
 * (S7's budget aims at 0.1), and the channels no class uses at all. */
double erm_mask_density(const ErmMask *m, float threshold, int *unused_channels);

typedef struct {
    /* (a) */
    int erm_epochs, mask_period, mask_epoch_min;
    double mask_lr, mask_momentum, mask_weight_decay, reg;
    /* (b) */
    int ktp_epochs;
    double ktp_lr;
    float prohibit_threshold;
    uint64_t seed;
} ErmKtpOptions;

typedef struct {
    int64_t steps, mask_steps;
    double first_reg, last_reg;   /* R(M) at the first and the last mask step */
    double first_loss, last_loss; /* mean task loss of the first and last epoch */
    double seconds;
} ErmStats;

typedef struct {
    int64_t steps;
    int prohibited;
    int target_channels;          /* channels some Df image uses (S7's prohibition) */
    double first_loss, last_loss; /* mean distillation loss of the first and last epoch */
    double seconds;               /* the unlearning (spec §6.5) */
} KtpStats;

/* (a) Trains m in place with the ERM mask on the given items; the recipe
 * gives the model's optimiser and schedule (spec §3). Classes are the items'
 * groups. 0, or -1 with error_set. */
int ermktp_train_erm(const Task *t, TaskModel *m, ErmMask *mask, const int64_t *items, int64_t n_items,
                     const Recipe *recipe, const ErmKtpOptions *o, ErmStats *stats);
/* (b) Distils teacher into student (freshly initialised by the caller) on Dr,
 * prohibiting the channels of the Df groups. 0, or -1 with error_set. */
int ermktp_transfer(const Task *t, TaskModel *student, TaskModel *teacher, const ErmMask *mask, const int64_t *df,
                    int64_t n_df, const int64_t *dr, int64_t n_dr, const Recipe *recipe, const ErmKtpOptions *o,
                    KtpStats *stats);

#endif
