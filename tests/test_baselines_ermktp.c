/* Erm-Ktp (unlearn/ermktp.h, spec/unlearning_methods.md §4.7): R(M) and its
 * gradient, the per-channel normalisation, the prohibition keeps every
 * channel a retained image uses, the mask hook (a mask of ones is
 * the identity, a trained mask changes the outputs), ERM training moves the
 * mask through the task loss and lowers R(M), KTP distils a fresh student
 * with frozen copied heads and prohibited channels, and the program refuses
 * --fusion-only (Erm-Ktp-F is N/A in the paper). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "models/retrieval_batch.h"
#include "models/task_retrieval.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/ermktp.h"

TEST(test_erm_mask_regulariser_matches_definition_and_gradient) {
    ErmMask m;
    erm_mask_init(&m, 3, 4); /* K = 3 classes, C = 4 channels */
    for (int64_t k = 0; k < 12; k++) m.ps.values[k] = philox_uniform(5, 0, (uint64_t)k);
    /* brute force: max(0, Σ|M| − 0.1·C·K) + 0.1·Σ_{i<j} ⟨M_i, M_j⟩ over class columns */
    double l1 = 0, ent = 0;
    for (int k = 0; k < 12; k++) l1 += fabs(m.ps.values[k]);
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            for (int c = 0; c < 4; c++) ent += (double)m.ps.values[i * 4 + c] * m.ps.values[j * 4 + c];
    double want = fmax(0.0, l1 - 1.2) + 0.1 * ent;
    float grad[12] = {0};
    ASSERT_NEAR(erm_mask_regulariser(&m, grad, 2.0), want, 1e-6);
    for (int k = 0; k < 12; k++) { /* central differences of 2·R */
        float v = m.ps.values[k];
        m.ps.values[k] = v + 1e-3f;
        double up = erm_mask_regulariser(&m, NULL, 0);
        m.ps.values[k] = v - 1e-3f;
        double down = erm_mask_regulariser(&m, NULL, 0);
        m.ps.values[k] = v;
        ASSERT_NEAR(grad[k], 2.0 * (up - down) / 2e-3, 2e-3);
    }
    erm_mask_free(&m);
}

TEST(test_erm_mask_normalise_divides_each_channel_by_its_max) {
    ErmMask m;
    erm_mask_init(&m, 2, 3);
    const float v[6] = {0.2f, 0.5f, -0.3f, 0.4f, 0.25f, -0.1f}; /* rows = classes */
    memcpy(m.ps.values, v, sizeof v);
    erm_mask_normalise(&m);
    const float want[6] = {0.5f, 1.0f, 0.0f, 1.0f, 0.5f, 0.0f}; /* channel 2: max < 0 -> dead */
    for (int k = 0; k < 6; k++) ASSERT_NEAR(m.ps.values[k], want[k], 1e-7);
    erm_mask_free(&m);
}

TEST(test_erm_mask_prohibits_only_channels_no_retained_image_uses) {
    ErmMask m;
    erm_mask_init(&m, 4, 6); /* classes 0, 1 = Df images; 2, 3 = retained images */
    const float v[24] = {
        1.0f, 0.3f, 0.9f, 0.0f, 0.0f, 0.0f, /* image 0 uses channels 0, 1, 2 */
        0.0f, 0.0f, 0.0f, 0.7f, 0.0f, 0.0f, /* image 1 uses channel 3 */
        0.0f, 1.0f, 0.0f, 0.0f, 1.0f, 0.0f, /* image 2 needs channels 1, 4 */
        0.0f, 0.0f, 0.0f, 0.2f, 0.0f, 1.0f, /* image 3 needs channels 3, 5 */
    };
    memcpy(m.ps.values, v, sizeof v);
    const int64_t targets[3] = {0, 1, 0}, retained[2] = {2, 3};
    unsigned char p[6];
    /* S7's rule alone (no retained classes given): every channel a target uses */
    ASSERT_EQ_INT(erm_mask_prohibited(&m, targets, 3, NULL, 0, 0.0f, p), 4);
    const unsigned char s7[6] = {1, 1, 1, 1, 0, 0};
    ASSERT(memcmp(p, s7, 6) == 0);
    /* with the retained images: channels 1 and 3 are theirs too and stay */
    ASSERT_EQ_INT(erm_mask_prohibited(&m, targets, 3, retained, 2, 0.0f, p), 2);
    const unsigned char want[6] = {1, 0, 1, 0, 0, 0};
    ASSERT(memcmp(p, want, 6) == 0);
    /* a threshold above image 3's 0.2 on channel 3 leaves that channel to image 1 alone */
    ASSERT_EQ_INT(erm_mask_prohibited(&m, targets, 3, retained, 2, 0.25f, p), 3);
    ASSERT(p[0] && p[2] && p[3] && !p[1]);
    int unused = -1;
    ASSERT_NEAR(erm_mask_density(&m, 0.0f, &unused), 8.0 / 24.0, 1e-12);
    ASSERT_EQ_INT(unused, 0);
    erm_mask_free(&m);
}

typedef struct {
    Tokenizer *tok;
    Albef m;
    RetrievalSet train;
    Recipe recipe;
    Task task;     /* retrieval over train */
    TaskModel tm;  /* over m */
} World;

static int world_open(World *w, uint64_t seed) {
    memset(w, 0, sizeof *w);
    w->tok = eval_world_tokenizer();
    if (!w->tok || eval_world_model(&w->m, w->tok, seed) < 0) return -1;
    w->recipe = recipe_get("albef-tiny", "flickr30k");
    w->recipe.batch_size = 10, w->recipe.warmup_steps = 0, w->recipe.init_lr = 1e-3;
    if (eval_world_set(&w->train, "train", w->tok, &w->m.cfg) < 0) return -1;
    task_retrieval_init(&w->task, &w->m.cfg, &w->train, NULL, NULL);
    w->tm = task_retrieval_wrap(&w->m);
    return 0;
}

static void world_close(World *w) {
    retrieval_set_free(&w->train);
    albef_free(&w->m);
    tokenizer_free(w->tok);
}

static float *itm_of(Albef *m, const AlbefBatch *b) {
    int prev = autograd_set_enabled(0);
    AlbefImageEmbed img = albef_embed_image(m, b->images);
    AlbefTextEmbed txt = albef_embed_text(m, b->text_ids, b->text_mask);
    const float *l = tensor_f32(albef_itm_logits(m, albef_fused_cls(m, &txt, img.tokens)));
    int64_t n = 2 * b->images->shape[0];
    float *out = malloc((size_t)n * sizeof *out);
    memcpy(out, l, (size_t)n * sizeof *out);
    autograd_set_enabled(prev);
    return out;
}

TEST(test_ermktp_mask_of_ones_is_identity_and_a_mask_changes_outputs) {
    World w;
    ASSERT_MSG(world_open(&w, 3) == 0, "%s", error_message());
    enum { B = 6 };
    int64_t pairs[B] = {0, 5, 10, 15, 20, 25}, ids[B];
    AlbefBatch b;
    ASSERT(retrieval_batch_make(&w.train, pairs, B, IMAGE_AUG_NONE, 0, 0, ids, &b) == 0);
    int T = model_config_image_tokens(&w.m.cfg);
    float *plain = itm_of(&w.m, &b);
    ErmMask mask;
    erm_mask_init(&mask, (int)w.train.split.n_images, w.m.cfg.vision_width);
    for (int64_t k = 0; k < mask.ps.total; k++) mask.ps.values[k] = 1.0f;
    w.m.image_token_mask = erm_mask_tokens(&mask, ids, B, T);
    float *ones = itm_of(&w.m, &b);
    ASSERT(memcmp(plain, ones, 2 * B * sizeof(float)) == 0); /* bit-identical */
    for (int64_t k = 0; k < mask.ps.total; k++) mask.ps.values[k] = philox_uniform(8, 1, (uint64_t)k);
    w.m.image_token_mask = erm_mask_tokens(&mask, ids, B, T);
    float *masked = itm_of(&w.m, &b);
    w.m.image_token_mask = NULL;
    double diff = 0;
    for (int k = 0; k < 2 * B; k++) diff = fmax(diff, fabs(masked[k] - plain[k]));
    ASSERT_MSG(diff > 1e-3, "a random mask moved the ITM logits by only %g", diff);
    float *again = itm_of(&w.m, &b);
    ASSERT(memcmp(plain, again, 2 * B * sizeof(float)) == 0); /* off again: back to the plain model */
    autograd_step_end();
    free(plain), free(ones), free(masked), free(again);
    erm_mask_free(&mask);
    world_close(&w);
}

static ErmKtpOptions erm_options(double reg) {
    return (ErmKtpOptions){.erm_epochs = 1, .mask_period = 1, .mask_epoch_min = 0, .mask_lr = 0.1,
                           .mask_momentum = 0.9, .mask_weight_decay = 5e-4, .reg = reg, .ktp_epochs = 3,
                           .ktp_lr = 1e-3, .prohibit_threshold = 0.0f, .seed = 4};
}

TEST(test_ermktp_erm_trains_the_mask_through_the_loss_and_lowers_R) {
    World w;
    ASSERT_MSG(world_open(&w, 3) == 0, "%s", error_message());
    int64_t all[60];
    for (int k = 0; k < 60; k++) all[k] = k;
    /* λ_reg = 0: only the task loss's gradient can move the mask, so it moves
     * only if the mask is applied in the forward. */
    ErmMask mask;
    erm_mask_init(&mask, (int)w.train.split.n_images, w.m.cfg.vision_width);
    ErmKtpOptions o = erm_options(0.0);
    ErmStats st;
    ASSERT_MSG(ermktp_train_erm(&w.task, &w.tm, &mask, all, 60, &w.recipe, &o, &st) == 0, "%s", error_message());
    ASSERT_EQ_INT(st.mask_steps, 6);
    int64_t below_one = 0;
    for (int64_t k = 0; k < mask.ps.total; k++) {
        ASSERT(mask.ps.values[k] >= 0.0f && mask.ps.values[k] <= 1.0f);
        below_one += mask.ps.values[k] < 0.999f;
    }
    ASSERT_MSG(below_one > mask.ps.total / 4, "only %lld of %lld mask values moved", (long long)below_one,
               (long long)mask.ps.total);
    ASSERT(w.m.image_token_mask == NULL); /* evaluation runs without the mask */
    erm_mask_free(&mask);
    /* With S7's regulariser (scaled up for a 6-step run): R(M) falls. */
    erm_mask_init(&mask, (int)w.train.split.n_images, w.m.cfg.vision_width);
    o = erm_options(0.2);
    o.erm_epochs = 2;
    ASSERT(ermktp_train_erm(&w.task, &w.tm, &mask, all, 60, &w.recipe, &o, &st) == 0);
    ASSERT_MSG(st.last_reg < 0.9 * st.first_reg, "R(M) %g -> %g", st.first_reg, st.last_reg);
    erm_mask_free(&mask);
    world_close(&w);
}

TEST(test_ermktp_transfer_distils_a_fresh_student_with_frozen_heads) {
    World w;
    ASSERT_MSG(world_open(&w, 3) == 0, "%s", error_message());
    ErmMask mask;
    erm_mask_init(&mask, (int)w.train.split.n_images, w.m.cfg.vision_width);
    int C = mask.channels;
    for (int64_t k = 0; k < mask.ps.total; k++) mask.ps.values[k] = 0.0f;
    for (int c = 0; c < C; c++) mask.ps.values[(int64_t)(c % 12) * C + c] = 1.0f; /* channel c belongs to image c % 12 */
    int64_t df[10], dr[50];
    int nf = 0, nr = 0;
    for (int64_t t = 0; t < 60; t++) {
        if (w.train.split.txt2img[t] < 2) df[nf++] = t;
        else dr[nr++] = t;
    }
    ASSERT(nf == 10 && nr == 50);
    Albef student;
    albef_init(&student, &w.m.cfg, 77);
    ErmKtpOptions o = erm_options(0.0);
    KtpStats ks;
    TaskModel t_student = task_retrieval_wrap(&student);
    ASSERT_MSG(ermktp_transfer(&w.task, &t_student, &w.tm, &mask, df, nf, dr, nr, &w.recipe, &o, &ks) == 0, "%s",
               error_message());
    /* images 0 and 1 own channels c with c % 12 in {0, 1} */
    int want = 0;
    for (int c = 0; c < C; c++) want += c % 12 < 2;
    ASSERT_EQ_INT(ks.prohibited, want);
    ASSERT_MSG(ks.last_loss < 0.7 * ks.first_loss, "distillation loss %g -> %g", ks.first_loss, ks.last_loss);
    /* heads copied and frozen: equal to the teacher's, except vision_proj's prohibited columns (zero) */
    const char *heads[] = {"text_proj.weight", "itm_head.weight", "itm_head.bias", "temp", "vision_proj.bias"};
    for (int h = 0; h < 5; h++) {
        const Tensor *a = params_find(&student.params, heads[h]), *b = params_find(&w.m.params, heads[h]);
        ASSERT_MSG(memcmp(tensor_f32(a), tensor_f32(b), (size_t)tensor_numel(a) * sizeof(float)) == 0, "%s", heads[h]);
    }
    const Tensor *vs = params_find(&student.params, "vision_proj.weight"), *vt = params_find(&w.m.params, "vision_proj.weight");
    for (int64_t r = 0; r < vs->shape[0]; r++)
        for (int c = 0; c < C; c++) {
            float s = tensor_f32(vs)[r * C + c], t = tensor_f32(vt)[r * C + c];
            if (c % 12 < 2) ASSERT(s == 0.0f);
            else ASSERT(s == t);
        }
    albef_free(&student);
    erm_mask_free(&mask);
    world_close(&w);
}

TEST(test_ermktp_program_refuses_fusion_only) {
    const char *bin = getenv("MMU_BIN") ? getenv("MMU_BIN") : "bin";
    /* The refusal comes before the run is set up: no run directory is written. */
    char cmd[2048], run_dir[600];
    ASSERT_MSG(eval_world_dir() != NULL, "%s", error_message());
    test_tmp_path(run_dir, sizeof run_dir, "ermktp_fusion_only");
    snprintf(cmd, sizeof cmd, "%s/unlearn_ermktp --fusion-only --data %s --df-size 2 --out %s 2>&1", bin,
             eval_world_dir(), run_dir);
    FILE *p = popen(cmd, "r");
    ASSERT(p);
    char out[4096] = {0};
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 127, "status %d: %s", st, out);
    ASSERT_STR_CONTAINS(out, "N/A");
    char partial[700];
    snprintf(partial, sizeof partial, "%s.partial", run_dir);
    ASSERT_MSG(!file_exists(run_dir) && !file_exists(partial), "%s or its .partial folder was written", run_dir);
}
