/* bin/unlearn_multidelete: MultiDelete (paper §2; spec/unlearning_methods.md
 * §5). From the original model θ0, minimises λ1·L_MD + λ2·L_MKR + λ3·L_UKR
 * over batches of half Df, half Dr, then evaluates θ0 and the unlearned θ
 * side by side. With no arguments it runs the embedded default: the synthetic
 * image-text world (written when absent), the tiny ALBEF (trained once and
 * cached), a deletion of 60 images (300 pairs). */
#include "core/error.h"
#include "core/log.h"
#include "unlearn/multidelete_loop.h"
#include "unlearn/run_program.h"

int main(int argc, char **argv) {
    RunContext ctx = {0};
    double lambda_md, lambda_mkr, lambda_ukr;
    int use_md, use_mkr, use_ukr;
    CliFlag own[] = {
        CLI_FLAG_FLOAT("lambda-md", &lambda_md, "1", "weight of L_MD, modality decoupling on Df (spec §5.1)"),
        CLI_FLAG_FLOAT("lambda-mkr", &lambda_mkr, "1", "weight of L_MKR, multimodal knowledge retention on Dr"),
        CLI_FLAG_FLOAT("lambda-ukr", &lambda_ukr, "1", "weight of L_UKR, unimodal knowledge retention on Df"),
        CLI_FLAG_BOOL("md", &use_md, "true", "keep L_MD (--no-md: the ablation without it, paper Table 4)"),
        CLI_FLAG_BOOL("mkr", &use_mkr, "true", "keep L_MKR (--no-mkr: ablation)"),
        CLI_FLAG_BOOL("ukr", &use_ukr, "true", "keep L_UKR (--no-ukr: ablation)"),
    };
    run_program_start(&ctx, "unlearn_multidelete",
                      "MultiDelete: makes a trained ALBEF forget the image-text pairs of a deletion list while "
                      "keeping its multimodal and unimodal knowledge, then reports Dt, Df, MI and time.",
                      own, CLI_COUNT(own), argc, argv);
    Albef original, unlearned;
    run_program_models(&ctx, &original, &unlearned);

    MultiDeleteRun run = {
        .lr = ctx.flags.lr > 0 ? ctx.flags.lr : ctx.recipe.unlearn_lr,
        .min_lr = ctx.recipe.min_lr,
        .epochs = ctx.flags.epochs > 0 ? ctx.flags.epochs : ctx.recipe.unlearn_epochs,
        .batch_df = ctx.recipe.unlearn_batch_df,
        .augment = ctx.recipe.augment,
        .seed = (uint64_t)ctx.flags.seed,
        .loss = multidelete_default_options(),
    };
    run.loss.lambda_md = (float)lambda_md;
    run.loss.lambda_mkr = (float)lambda_mkr;
    run.loss.lambda_ukr = (float)lambda_ukr;
    run.loss.use_md = use_md;
    run.loss.use_mkr = use_mkr;
    run.loss.use_ukr = use_ukr;
    log_info("unlearning %lld Df pairs (%lld images) against %lld Dr pairs: %d epochs, lr %g",
             (long long)ctx.split.n_df, (long long)ctx.split.n_units, (long long)ctx.split.n_dr, run.epochs, run.lr);
    MultiDeleteStats stats;
    error_exit_if(multidelete_unlearn(&unlearned, &original, &ctx.train, ctx.split.df, ctx.split.n_df, ctx.split.dr,
                                      ctx.split.n_dr, &run, &stats));
    log_info("unlearned in %.1f s (%lld steps); L_MD %.5f -> %.5f, L_MKR %.5f -> %.5f, L_UKR %.5f -> %.5f",
             stats.seconds, (long long)stats.steps, stats.first_md, stats.last_md, stats.first_mkr, stats.last_mkr,
             stats.first_ukr, stats.last_ukr);

    run_program_finish(&ctx, "multidelete", &original, &unlearned, stats.seconds);
    albef_free(&unlearned);
    albef_free(&original);
    run_free(&ctx);
    return 0;
}
