/* bin/learn_cls: how well a tiny ALBEF learns the synthetic SNLI-VE or NLVR2
 * world (bin/mkdata), and whether it needs the images to do so.
 *
 *   bin/learn_cls --task snli_ve|nlvr2 --data DIR [--init RETRIEVAL.safetensors] [--steps N] ...
 *
 * Trains from a random init (or encoders from a retrieval ALBEF trained on the
 * same world, as LAVIS starts from ALBEF.pth) with the task loss (CE + momentum distillation,
 * models/albef_cls.h; NLVR2 with the left/right swap augmentation) and prints
 * the test accuracy against chance, then the same model's accuracy when the
 * images are taken from other test items (every image; NLVR2 also each image
 * alone), which shows how much of the accuracy comes from the pixels. A
 * measurement run on purpose (bench/README.md), not a test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/tape.h"
#include "core/cli.h"
#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/cls_set.h"
#include "models/albef_cls.h"
#include "models/cls_batch.h"
#include "nn/optim.h"

/* Which images a batch shows: the item's own, or another item's (ablation). */
typedef struct {
    int other[2];      /* per image slot: 1 = take it from item perm[t] */
    const int64_t *perm;
} ImageSource;

static double accuracy(AlbefCls *m, const ClsSet *s, const Tokenizer *tok, const ImageSource *src) {
    const int B = 64;
    int64_t correct = 0, idx[64], other[64];
    albef_cls_set_mode(m, 0, 0);
    int prev = autograd_set_enabled(0);
    for (int64_t at = 0; at < s->n; at += B) {
        int n = (int)(s->n - at < B ? s->n - at : B);
        for (int i = 0; i < n; i++) idx[i] = at + i;
        AlbefClsBatch b, o;
        error_exit_if(cls_batch_make(s, tok, idx, n, IMAGE_AUG_NONE, 0, 0, 0, &b, NULL));
        if (src) { /* the same texts over the images of other items */
            for (int i = 0; i < n; i++) other[i] = src->perm[at + i];
            error_exit_if(cls_batch_make(s, tok, other, n, IMAGE_AUG_NONE, 0, 0, 0, &o, NULL));
            if (src->other[0]) b.image0 = o.image0;
            if (src->other[1]) b.image1 = o.image1;
        }
        const float *logits = tensor_f32(albef_cls_forward(m, &b).logits);
        for (int i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < m->n_classes; c++)
                if (logits[i * m->n_classes + c] > logits[i * m->n_classes + best]) best = c;
            correct += best == s->labels[at + i];
        }
        autograd_step_end();
    }
    autograd_set_enabled(prev);
    return (double)correct / (double)s->n;
}

int main(int argc, char **argv) {
    const char *task_name, *data, *config, *init;
    int steps, batch, seed;
    double lr;
    CliFlag flags[] = {
        CLI_FLAG_CHOICE("task", &task_name, "snli_ve", "snli_ve|nlvr2", "which world"),
        CLI_FLAG_STRING("data", &data, "data/synth", "a bin/mkdata image-text world"),
        CLI_FLAG_STRING("config", &config, "", "model config (default models/configs/albef-tiny-{ve,nlvr}.json)"),
        CLI_FLAG_INT("steps", &steps, "1500", "training steps"),
        CLI_FLAG_INT("batch", &batch, "32", "training batch"),
        CLI_FLAG_FLOAT("lr", &lr, "3e-4", "AdamW learning rate (constant)"),
        CLI_FLAG_INT("seed", &seed, "1", "seed of the init, the batches and the swaps"),
        CLI_FLAG_STRING("init", &init, "", "start the encoders from this retrieval ALBEF checkpoint (default: random)"),
    };
    CliSpec spec = {"learn_cls", "Trains a tiny ALBEF on a synthetic SNLI-VE / NLVR2 world and reports accuracy.",
                    flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    AlbefClsTask task;
    error_exit_if(albef_cls_task_parse(task_name, &task));
    int nlvr = task == ALBEF_TASK_NLVR2;
    char path[1024], root[1024], test_path[1024];
    if (!config[0]) config = nlvr ? "models/configs/albef-tiny-nlvr.json" : "models/configs/albef-tiny-ve.json";
    ModelConfig cfg;
    error_exit_if(model_config_load(&cfg, config));
    snprintf(path, sizeof path, "%s/vocab.txt", data);
    Tokenizer *tok = tokenizer_load(path);
    if (!tok) error_exit_if(-1);
    error_exit_if(model_config_use_vocab_file(&cfg, path));
    snprintf(root, sizeof root, "%s/images", data);
    snprintf(path, sizeof path, "%s/%s", data, nlvr ? "nlvr_train.json" : "ve_train.json");
    snprintf(test_path, sizeof test_path, "%s/%s", data, nlvr ? "nlvr_test.json" : "ve_test.json");
    ClsSet train, test;
    ClsSetKind kind = nlvr ? CLS_SET_NLVR2 : CLS_SET_SNLI_VE;
    error_exit_if(cls_set_load(&train, kind, path, root, tok, cfg.max_text_len, cfg.image_size, 1LL << 30));
    error_exit_if(cls_set_load(&test, kind, test_path, root, tok, cfg.max_text_len_eval, cfg.image_size, 1LL << 30));

    AlbefCls m;
    albef_cls_init(&m, &cfg, task, (uint64_t)seed);
    if (init[0]) error_exit_if(albef_cls_init_from_albef(&m, init));
    AdamW opt;
    adamw_init(&opt, &m.params, 0.9f, 0.999f, 1e-8f, 0.02f);
    adamw_use_lavis_decay_groups(&opt);
    int64_t *order = malloc((size_t)train.n * sizeof *order), *idx = malloc((size_t)batch * sizeof *idx);
    CHECK(order && idx, "out of memory");
    for (int64_t t = 0; t < train.n; t++) order[t] = t;
    int64_t per_epoch = train.n / batch, at = per_epoch;
    double t0 = clock_seconds(), loss_sum = 0.0;
    for (int step = 0; step < steps; step++) {
        if (at >= per_epoch) { /* a fresh shuffle each epoch, drop_last */
            Rng r = rng_make((uint64_t)seed, (uint64_t)step);
            rng_shuffle_i64(&r, order, train.n);
            at = 0;
        }
        for (int i = 0; i < batch; i++) idx[i] = order[at * batch + i];
        at++;
        AlbefClsBatch b;
        /* eval transform (no flips: the world's hypotheses name left and right), NLVR2's swap of §3.3 */
        error_exit_if(cls_batch_make(&train, tok, idx, batch, IMAGE_AUG_NONE, nlvr, (uint64_t)seed, (uint64_t)step,
                                     &b, NULL));
        albef_cls_set_mode(&m, 1, (uint64_t)seed * 1000003u + (uint64_t)step);
        float alpha = model_config_alpha_at(&cfg, (int)(step / per_epoch), step % per_epoch, per_epoch);
        AlbefClsLossOutput out;
        Tensor *loss = albef_cls_loss(&m, &b, alpha, &out);
        autograd_backward(loss);
        adamw_step(&opt, (float)lr);
        params_zero_grad(&m.params);
        loss_sum += tensor_f32(loss)[0];
        autograd_step_end();
        if ((step + 1) % 250 == 0) {
            printf("step %5d  loss %.4f  %.1f s\n", step + 1, loss_sum / 250, clock_seconds() - t0);
            fflush(stdout);
            loss_sum = 0.0;
        }
    }
    double train_s = clock_seconds() - t0;
    int64_t *perm = malloc((size_t)test.n * sizeof *perm);
    CHECK(perm, "out of memory");
    for (int64_t t = 0; t < test.n; t++) perm[t] = t;
    Rng r = rng_make((uint64_t)seed, 77);
    rng_shuffle_i64(&r, perm, test.n);
    double acc = accuracy(&m, &test, tok, NULL);
    ImageSource all = {{1, 1}, perm}, left = {{1, 0}, perm}, right = {{0, 1}, perm};
    printf("init: %s\n", init[0] ? init : "random");
    printf("%s: %lld train items, %d steps of %d in %.0f s; test (%lld items): accuracy %.3f, chance %.3f\n",
           task_name, (long long)train.n, steps, batch, train_s, (long long)test.n, acc, 1.0 / m.n_classes);
    printf("  images from other test items: %.3f\n", accuracy(&m, &test, tok, &all));
    if (nlvr)
        printf("  only the left image from another item: %.3f; only the right: %.3f\n",
               accuracy(&m, &test, tok, &left), accuracy(&m, &test, tok, &right));
    free(perm);
    free(order);
    free(idx);
    adamw_free(&opt);
    albef_cls_free(&m);
    cls_set_free(&train);
    cls_set_free(&test);
    tokenizer_free(tok);
    return 0;
}
