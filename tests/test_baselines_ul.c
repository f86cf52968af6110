/* UL (spec/unlearning_methods.md §4.8; unlearn/ul.h) on the tiny eval world:
 * ALBEF's MLM masking has its rates and never touches [CLS]/[SEP]/[PAD]; the
 * ascent lowers the Df caption likelihood (masked-token NLL up) and stops by
 * UL's memorisation-accuracy rule; the image encoder and the MLM head stay
 * bit-identical (text-only method, frozen scorer); UL-F changes only the
 * fusion parameters. */
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/error.h"
#include "models/retrieval_batch.h"
#include "models/task_retrieval.h"
#include "nn/optim.h"
#include "tests/eval_world.h"
#include "tests/test.h"
#include "unlearn/ul.h"

#define DF_IMAGES 4
#define MEMORISE_STEPS 40
#define MEMORISE_LR 1e-2f

typedef struct {
    Tokenizer *tok;
    RetrievalSet train, test;
    Albef m;
    Task task;
    TaskModel tm;
    MlmHead head;
    MlmSpecial sp;
    int64_t df[64], n_df, all[64], n_all, test_pairs[64], n_test;
} Fixture;

/* UL starts from a model that has memorised the forget set's captions more
 * than unseen ones (the state UL's MA rule measures). The tiny world's
 * captions share one grammar, so training on all of them does not get there;
 * the fixture runs MLM descent on the Df captions (text side and head). */
static int memorise_train_captions(Fixture *f) {
    ul_set_trainable(&f->task, &f->tm, 0);
    params_set_trainable_all(&f->head.params, 1);
    AdamW om, oh;
    adamw_init(&om, &f->m.params, 0.9f, 0.999f, 1e-8f, 0.0f);
    adamw_init(&oh, &f->head.params, 0.9f, 0.999f, 1e-8f, 0.0f);
    int64_t ids[10];
    int32_t labels[10 * 64], masked[10 * 64];
    int L = f->train.max_len, rc = 0;
    albef_set_mode(&f->m, 0, 0);
    for (int step = 0; step < MEMORISE_STEPS && rc == 0; step++) {
        AlbefBatch b;
        rc = retrieval_batch_make(&f->train, f->df + (step % 2) * 10, 10, IMAGE_AUG_NONE, 0, 0, ids, &b);
        if (rc < 0) break;
        mlm_mask(tensor_i32(b.text_ids), tensor_i32(b.text_mask), 10, L, 0.3f, f->sp, f->head.vocab, 99,
                       (uint64_t)step, masked, labels);
        memcpy(tensor_i32(b.text_ids), masked, (size_t)10 * L * sizeof(int32_t));
        MlmOutput out;
        TaskBatch tb = task_retrieval_batch(&b);
        mlm_head_loss(&f->head, f->m.online.text.word.weight, f->task.text_states(&f->task, &f->tm, &tb), labels, &out);
        if (out.loss) {
            autograd_backward(out.loss);
            adamw_step(&om, MEMORISE_LR);
            adamw_step(&oh, MEMORISE_LR);
        }
        params_zero_grad(&f->m.params);
        params_zero_grad(&f->head.params);
        autograd_step_end();
    }
    adamw_free(&om);
    adamw_free(&oh);
    params_set_trainable_all(&f->m.params, 1);
    params_set_trainable_all(&f->head.params, 0);
    return rc;
}

static int fixture_load(Fixture *f) {
    memset(f, 0, sizeof *f);
    f->tok = eval_world_tokenizer();
    ModelConfig c;
    if (!f->tok || eval_world_config(&c, tokenizer_vocab_size(f->tok)) < 0) return -1;
    albef_init(&f->m, &c, 31); /* BERT init: it learns in a few dozen steps, unlike the wide fixture weights */
    TokenizerSpecial ts = tokenizer_special(f->tok);
    if (ts.mask < 0) return error_set("the eval world's vocabulary has no [MASK]");
    f->sp = (MlmSpecial){.mask = ts.mask, .cls = ts.cls, .sep = ts.sep, .pad = ts.pad};
    if (eval_world_set(&f->train, "train", f->tok, &f->m.cfg) < 0 || eval_world_set(&f->test, "test", f->tok, &f->m.cfg) < 0)
        return -1;
    task_retrieval_init(&f->task, &f->m.cfg, &f->train, &f->test, NULL);
    f->tm = task_retrieval_wrap(&f->m);
    for (int64_t t = 0; t < f->train.split.n_texts; t++) {
        f->all[f->n_all++] = t;
        if (f->train.split.txt2img[t] < DF_IMAGES) f->df[f->n_df++] = t;
    }
    for (int64_t t = 0; t < f->test.split.n_texts; t++) f->test_pairs[f->n_test++] = t;
    /* The head as the program initialises it when the checkpoint has none. */
    mlm_head_init(&f->head, &f->m.cfg, 5);
    double first, last;
    if (ul_train_mlm_head(&f->task, &f->tm, &f->head, f->all, f->n_all, 5, 1e-2, 10, 0.3f, f->sp, 7, &first,
                          &last) < 0)
        return -1;
    if (!(last < first)) return error_set("MLM head loss %.4f -> %.4f did not fall", first, last);
    return memorise_train_captions(f);
}

static void fixture_free(Fixture *f) {
    f->task.free(&f->task);
    mlm_head_free(&f->head);
    albef_free(&f->m);
    retrieval_set_free(&f->train);
    retrieval_set_free(&f->test);
    tokenizer_free(f->tok);
}

static void copy_model(Albef *dst, const Albef *src) {
    albef_init(dst, &src->cfg, 1);
    params_copy_values(&dst->params, &src->params);
}

static UlRun tiny_run(const Fixture *f, double stop) {
    return (UlRun){.lr = 3e-3, .max_epochs = 20, .batch_size = 8, .mask_prob = 0.3f, .stop_accuracy = stop,
                   .special = f->sp, .seed = 7};
}

TEST(test_ul_mlm_masking_rates) {
    enum { N = 400, L = 30 };
    static int32_t ids[N * L], mask[N * L], out[N * L], labels[N * L];
    MlmSpecial sp = {.mask = 3, .cls = 1, .sep = 2, .pad = 0};
    for (int b = 0; b < N; b++)
        for (int j = 0; j < L; j++) {
            int real = j < 20;
            ids[b * L + j] = j == 0 ? 1 : j == 19 ? 2 : real ? 10 + (b + j) % 50 : 0;
            mask[b * L + j] = real;
        }
    int64_t chosen = mlm_mask(ids, mask, N, L, 0.15f, sp, 100, 9, 4, out, labels);
    int64_t eligible = (int64_t)N * 18, to_mask = 0, kept = 0, counted = 0;
    for (int k = 0; k < N * L; k++) {
        if (labels[k] == MLM_IGNORE) {
            ASSERT_EQ_INT(out[k], ids[k]);
            continue;
        }
        ASSERT(ids[k] != sp.cls && ids[k] != sp.sep && ids[k] != sp.pad && mask[k]);
        ASSERT_EQ_INT(labels[k], ids[k]);
        counted++;
        to_mask += out[k] == sp.mask;
        kept += out[k] == ids[k];
    }
    ASSERT_EQ_INT(counted, chosen);
    /* 7200 eligible tokens: 15% ± 3 s.e. (0.4%); of ~1080 chosen, 80% ± 3.6%, and ~10% (+1% random hits) kept. */
    ASSERT_NEAR((double)chosen / (double)eligible, 0.15, 0.013);
    ASSERT_NEAR((double)to_mask / (double)chosen, 0.80, 0.04);
    ASSERT_NEAR((double)kept / (double)chosen, 0.11, 0.03);
    /* The same (seed, stream) gives the same masks. */
    static int32_t out2[N * L], labels2[N * L];
    mlm_mask(ids, mask, N, L, 0.15f, sp, 100, 9, 4, out2, labels2);
    ASSERT(memcmp(out, out2, sizeof out) == 0 && memcmp(labels, labels2, sizeof labels) == 0);
}

TEST(test_ul_lowers_df_caption_likelihood_and_stops_by_ma) {
    Fixture f;
    ASSERT_MSG(fixture_load(&f) == 0, "%s", error_message());
    double unseen_ma, unseen_nll;
    ASSERT(ul_mlm_score(&f.task, &f.tm, &f.head, TASK_SPLIT_TEST, f.test_pairs, f.n_test, 16, 0.3f, f.sp, 7, &unseen_ma,
                        &unseen_nll) == 0);
    Albef m;
    copy_model(&m, &f.m);
    TaskModel tm = task_retrieval_wrap(&m);
    ASSERT(ul_set_trainable(&f.task, &tm, 0) > 0);
    float *head_before = malloc((size_t)f.head.params.total * sizeof(float));
    memcpy(head_before, f.head.params.values, (size_t)f.head.params.total * sizeof(float));
    UlRun run = tiny_run(&f, unseen_ma);
    UlStats st;
    ASSERT(ul_unlearn(&f.task, &tm, &f.head, f.df, f.n_df, &run, &st) == 0);
    printf("  unseen MA %.4f; Df MA %.4f -> %.4f, NLL %.4f -> %.4f in %d updates\n", unseen_ma, st.first_ma,
           st.last_ma, st.first_nll, st.last_nll, st.epochs);
    ASSERT_MSG(st.first_ma > unseen_ma, "Df MA %.4f already at unseen %.4f before UL", st.first_ma, unseen_ma);
    ASSERT_EQ_INT(st.stopped, 1);
    ASSERT(st.last_ma <= unseen_ma);
    ASSERT(st.epochs >= 1 && st.epochs < run.max_epochs);
    /* Lower likelihood of the Df captions = higher masked-token NLL. */
    ASSERT_MSG(st.last_nll > st.first_nll + 0.05, "Df NLL %.4f -> %.4f", st.first_nll, st.last_nll);
    double ma, nll;
    ASSERT(ul_mlm_score(&f.task, &tm, &f.head, TASK_SPLIT_TRAIN, f.df, f.n_df, 16, 0.3f, f.sp, 7, &ma, &nll) == 0);
    ASSERT_NEAR(nll, st.last_nll, 1e-6);
    /* The head is a frozen scorer; the image side never moves (text-only method). */
    ASSERT(memcmp(head_before, f.head.params.values, (size_t)f.head.params.total * sizeof(float)) == 0);
    for (int k = 0; k < m.params.count; k++) {
        const Tensor *p = m.params.items[k], *q = f.m.params.items[k];
        if (strncmp(p->name, "text_encoder.", 13) == 0) continue;
        ASSERT_MSG(memcmp(tensor_f32(p), tensor_f32(q), (size_t)tensor_numel(p) * sizeof(float)) == 0,
                   "UL changed %s outside the text side", p->name);
    }
    /* Without the rule the budget is spent and the ascent runs further. */
    Albef m2;
    copy_model(&m2, &f.m);
    TaskModel tm2 = task_retrieval_wrap(&m2);
    ul_set_trainable(&f.task, &tm2, 0);
    run.stop_accuracy = -1;
    run.max_epochs = st.epochs + 3;
    UlStats st2;
    ASSERT(ul_unlearn(&f.task, &tm2, &f.head, f.df, f.n_df, &run, &st2) == 0);
    ASSERT_EQ_INT(st2.epochs, run.max_epochs);
    ASSERT_EQ_INT(st2.stopped, 0);
    ASSERT(st2.last_nll > st.last_nll);
    free(head_before);
    albef_free(&m);
    albef_free(&m2);
    fixture_free(&f);
}

TEST(test_ul_fusion_only_leaves_non_fusion_bit_identical) {
    Fixture f;
    ASSERT_MSG(fixture_load(&f) == 0, "%s", error_message());
    Albef m;
    copy_model(&m, &f.m);
    TaskModel tm = task_retrieval_wrap(&m);
    ASSERT(ul_set_trainable(&f.task, &tm, 1) > 0);
    UlRun run = tiny_run(&f, -1);
    run.max_epochs = 3;
    UlStats st;
    ASSERT(ul_unlearn(&f.task, &tm, &f.head, f.df, f.n_df, &run, &st) == 0);
    ASSERT_EQ_INT(st.epochs, 3);
    ASSERT_MSG(st.last_nll > st.first_nll, "UL-F Df NLL %.4f -> %.4f", st.first_nll, st.last_nll);
    int changed = 0;
    for (int k = 0; k < m.params.count; k++) {
        const Tensor *p = m.params.items[k], *q = f.m.params.items[k];
        int same = memcmp(tensor_f32(p), tensor_f32(q), (size_t)tensor_numel(p) * sizeof(float)) == 0;
        if (p->requires_grad)
            changed += !same;
        else
            ASSERT_MSG(same, "non-fusion parameter %s changed under UL-F", p->name);
    }
    ASSERT(changed > 0);
    albef_free(&m);
    fixture_free(&f);
}
