/* bin/unlearn_ermktp: Erm-Ktp (Lin et al., CVPR 2023; spec/unlearning_methods.md
 * §4.7) on ALBEF retrieval, with the training images as its classes
 * (unlearn/ermktp.h says why): (a) an ERM teacher trained on all of D with the
 * entanglement-reduced mask after the ViT feature maps, (b) a fresh student
 * distilled from it on Dr with the channels only the Df images use
 * prohibited. Only (b)
 * is timed as unlearning: (a) is how Erm-Ktp trains its original model.
 * Erm-Ktp-F does not exist (paper Table 2: N/A). Then the common evaluation. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/log.h"
#include "models/task_retrieval.h"
#include "programs/run_eval.h"
#include "programs/run_program.h"
#include "unlearn/ermktp.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    const char *erm_init;
    int erm_epochs, ktp_epochs, mask_period, mask_epoch_min, eval_teacher;
    double ktp_lr, mask_lr, mask_reg, threshold;
    CliFlag own[] = {
        CLI_FLAG_CHOICE("erm-init", &erm_init, "scratch", "scratch|original",
                        "start of the ERM teacher: scratch = the model's initialisation, as S7 trains its original "
                        "model with the mask (spec §4.7 a); original = fine-tune θ0 with the mask (cheaper)"),
        CLI_FLAG_INT("erm-epochs", &erm_epochs, "-1", "ERM training epochs (-1: the recipe's)"),
        CLI_FLAG_INT("mask-period", &mask_period, "-1", "mask epochs are e % period >= min (-1: the recipe's, 3)"),
        CLI_FLAG_INT("mask-epoch-min", &mask_epoch_min, "-1", "see --mask-period (-1: the recipe's, 2)"),
        CLI_FLAG_FLOAT("mask-lr", &mask_lr, "-1", "SGD lr of the mask (-1: the recipe's, S7's 0.1)"),
        CLI_FLAG_FLOAT("mask-reg", &mask_reg, "-1", "λ_reg of R(M) (-1: the recipe's, S7's 1e-3)"),
        CLI_FLAG_FLOAT("prohibit-threshold", &threshold, "0",
                       "a channel is prohibited when M[c, t] exceeds this for some Df image t and for no retained image (S7: 0)"),
        CLI_FLAG_INT("ktp-epochs", &ktp_epochs, "-1", "KTP distillation epochs on Dr (-1: the recipe's)"),
        CLI_FLAG_FLOAT("ktp-lr", &ktp_lr, "-1", "KTP learning rate (-1: the recipe's; --lr also sets it)"),
        CLI_FLAG_BOOL("eval-teacher", &eval_teacher, "false", "also evaluate the ERM teacher (row erm-teacher)"),
    };
    /* --lr and --epochs set the KTP phase (--ktp-lr and --ktp-epochs, when given, win) */
    const RunKnob knobs[] = {RUN_KNOB_DOUBLE("lr", ermktp_ktp_lr), RUN_KNOB_INT("epochs", ermktp_ktp_epochs)};
    ctx.flags.no_fusion_only = "Erm-Ktp has no -F variant (the paper marks Erm-Ktp-F N/A: the method retrains the "
                               "encoders from a fresh initialisation, so it cannot be confined to the fusion module)";
    run_program_start(&ctx, "unlearn_ermktp",
                    "Erm-Ktp: trains an ERM-masked teacher on D, then distils a fresh student on Dr with the Df "
                    "images' mask channels prohibited; reports Dt, Df, the MI ratio and time. No -F variant.",
                      own, CLI_COUNT(own), knobs, CLI_COUNT(knobs), argc, argv);

    const Recipe *r = &ctx.recipe;
    ErmKtpOptions o = {
        .erm_epochs = erm_epochs > 0 ? erm_epochs : r->ermktp_erm_epochs,
        .mask_period = mask_period > 0 ? mask_period : r->ermktp_mask_period,
        .mask_epoch_min = mask_epoch_min >= 0 ? mask_epoch_min : r->ermktp_mask_epoch_min,
        .mask_lr = mask_lr >= 0 ? mask_lr : r->ermktp_mask_lr,
        .mask_momentum = 0.9,
        .mask_weight_decay = 5e-4,
        .reg = mask_reg >= 0 ? mask_reg : r->ermktp_reg,
        .ktp_epochs = ktp_epochs > 0 ? ktp_epochs : r->ermktp_ktp_epochs,
        .ktp_lr = ktp_lr > 0 ? ktp_lr : r->ermktp_ktp_lr,
        .prohibit_threshold = (float)threshold,
        .seed = (uint64_t)ctx.flags.seed,
    };
    const Task *t = &ctx.task;
    TaskModel original, teacher, student;
    error_exit_if(run_original_model(&ctx, &original));

    /* (a) the ERM teacher on all of D */
    error_exit_if(t->model_init(t, &teacher, (uint64_t)ctx.flags.seed));
    run_model_to_device(&ctx, &teacher);
    if (strcmp(erm_init, "original") == 0) task_model_copy(&teacher, &original);
    /* The mask's classes are the task's groups (retrieval: the training images) */
    int64_t n = t->n_items[TASK_SPLIT_TRAIN], classes = 0;
    int64_t *all = malloc((size_t)n * sizeof *all);
    CHECK(all, "out of memory");
    for (int64_t k = 0; k < n; k++) {
        all[k] = k;
        if (t->item_group(t, k) >= classes) classes = t->item_group(t, k) + 1;
    }
    ErmMask mask;
    erm_mask_init(&mask, (int)classes, ctx.cfg.vision_width);
    erm_mask_to_device(&mask, ctx.device); /* nothing on the CPU */
    log_info("Erm-Ktp (a): ERM teacher from %s, %d epochs, mask %d classes x %d channels, mask epochs e %% %d >= %d",
             erm_init, o.erm_epochs, mask.classes, mask.channels, o.mask_period, o.mask_epoch_min);
    ErmStats es;
    error_exit_if(ermktp_train_erm(t, &teacher, &mask, all, n, r, &o, &es));
    free(all);
    int unused;
    double density = erm_mask_density(&mask, o.prohibit_threshold, &unused);
    log_info("ERM teacher in %.1f s: R(M) %.4g -> %.4g over %lld mask steps; an image uses %.1f%% of the channels "
             "on average (M > %g), %d channels no image uses", es.seconds, es.first_reg, es.last_reg,
             (long long)es.mask_steps, 100.0 * density, o.prohibit_threshold, unused);

    /* (b) KTP into a fresh student on Dr */
    error_exit_if(t->model_init(t, &student, (uint64_t)ctx.flags.seed));
    run_model_to_device(&ctx, &student);
    KtpStats ks;
    error_exit_if(ermktp_transfer(t, &student, &teacher, &mask, ctx.split.df, ctx.split.n_df, ctx.split.dr,
                                  ctx.split.n_dr, r, &o, &ks));
    log_info("KTP in %.1f s (%lld steps): %d of %d channels prohibited (the Df images use %d, the retained images "
             "need the rest); distillation loss %.5f -> %.5f", ks.seconds, (long long)ks.steps, ks.prohibited,
             mask.channels, ks.target_channels, ks.first_loss, ks.last_loss);
    char path[1100];
    error_exit_if(t->model_save(t, &student, run_path(&ctx, "model.safetensors", path, sizeof path)));

    RunEvaluation ev;
    run_evaluation_init(&ev, &ctx, "ermktp");
    error_exit_if(run_evaluation_set_original(&ev, &ctx, &original)); /* MI attacker, P_before (§6.3) */
    if (ctx.flags.eval_original) error_exit_if(run_evaluation_add(&ev, &ctx, &original, "original", -1.0));
    if (eval_teacher) error_exit_if(run_evaluation_add(&ev, &ctx, &teacher, "erm-teacher", -1.0));
    error_exit_if(run_evaluation_add(&ev, &ctx, &student, "ermktp", ks.seconds));
    error_exit_if(run_evaluation_finish(&ev, &ctx));
    run_evaluation_free(&ev);
    erm_mask_free(&mask);
    t->model_free(t, &student);
    t->model_free(t, &teacher);
    t->model_free(t, &original);
    run_free(&ctx);
    return 0;
}
