/* bin/unlearn_lcodec: L-codec (Mehta et al., CVPR 2022; spec/unlearning_methods.md
 * §4.6) on ALBEF retrieval: per batch of Df, FOCI over perturbation-sampled
 * Linear-unit activations picks the parameter slices the loss depends on, a
 * Newton step with a Woodbury-solved low-rank Hessian and calibrated Gaussian
 * noise scrubs them. --fusion-only restricts the candidate units to the
 * fusion layers and the ITM head (L-codec-F, paper Table 2). Then the common
 * evaluation of θ0 and the scrubbed model. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "core/log.h"
#include "programs/run_program.h"
#include "unlearn/lcodec.h"

static int pick(int flag, int recipe_value) { return flag > 0 ? flag : recipe_value; }
static double pickf(double flag, double recipe_value) { return flag >= 0 ? flag : recipe_value; }

static cJSON *options_json(const LcodecOptions *o, const LcodecStats *s) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "perturbations", o->perturbations);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddStringToObject(j, "foci", o->foci == LCODEC_FOCI_FULL ? "full" : "cheap");
    cJSON_AddNumberToObject(j, "max_units", o->max_units);
    cJSON_AddStringToObject(j, "hessian", o->hessian == LCODEC_HESSIAN_SAMPLES ? "samples" : "mean");
    cJSON_AddNumberToObject(j, "hessian_batches", o->hessian_batches);
    cJSON_AddStringToObject(j, "newton", o->newton == LCODEC_NEWTON_CR ? "cr" : "sekhari");
    cJSON_AddNumberToObject(j, "l2_reg", o->l2_reg);
    cJSON_AddNumberToObject(j, "epsilon", o->epsilon);
    cJSON_AddNumberToObject(j, "delta", o->delta);
    cJSON_AddNumberToObject(j, "n_train", (double)o->n_train);
    cJSON_AddNumberToObject(j, "sigma", s->sigma);
    cJSON_AddNumberToObject(j, "guard_gap", o->guard_gap);
    cJSON_AddNumberToObject(j, "token_lo", o->token_lo);
    cJSON_AddNumberToObject(j, "token_hi", o->token_hi);
    cJSON_AddNumberToObject(j, "batches", (double)s->batches);
    cJSON_AddNumberToObject(j, "applied", (double)s->applied);
    cJSON_AddNumberToObject(j, "skipped", (double)s->skipped);
    cJSON_AddNumberToObject(j, "units_selected", (double)s->units_selected);
    cJSON_AddNumberToObject(j, "values_changed", (double)s->values_changed);
    cJSON_AddNumberToObject(j, "guard_first", s->guard_first);
    cJSON_AddNumberToObject(j, "guard_last", s->guard_last);
    cJSON_AddNumberToObject(j, "seconds", s->seconds);
    return j;
}

int main(int argc, char **argv) {
    RunContext ctx = {0};
    int perturbations, batch, max_units, hessian_batches, noise, guard_pairs;
    double l2_reg, epsilon, delta, guard_gap, image_noise;
    const char *foci, *hessian, *newton;
    CliFlag own[] = {
        CLI_FLAG_INT("perturbations", &perturbations, "-1",
                     "P perturbed copies of each Df batch for FOCI (-1: the recipe's, 32; spec §4.6 'P = 32-100')"),
        CLI_FLAG_INT("batch", &batch, "-1", "Df pairs removed per Newton step (-1: the recipe's, batch_train)"),
        CLI_FLAG_CHOICE("foci", &foci, "cheap", "cheap|full",
                        "unit selection: cheap = the single most dependent unit (spec §4.6 recommendation); full = "
                        "greedy conditional FOCI up to --max-units"),
        CLI_FLAG_INT("max-units", &max_units, "16", "cap on the units full FOCI selects per batch"),
        CLI_FLAG_CHOICE("hessian", &hessian, "mean", "mean|samples",
                        "H_old without FD banks (spec §4.6): mean = Fisher of the mean Dr gradient (the spec's "
                        "fallback); samples = Σ g_i g_iᵀ/k over the Dr batch gradients (Woodbury rank k+1)"),
        CLI_FLAG_INT("hessian-batches", &hessian_batches, "-1", "k Dr batches for H_old (-1: the recipe's, 4)"),
        CLI_FLAG_CHOICE("newton", &newton, "sekhari", "sekhari|cr",
                        "Newton form (S6 HessType): sekhari (default; with noise) or cr (no noise)"),
        CLI_FLAG_FLOAT("l2-reg", &l2_reg, "-1", "λ of (H + λI) and of the noise scale (-1: the recipe's, 0.01)"),
        CLI_FLAG_FLOAT("epsilon", &epsilon, "-1", "ε of the noise (-1: the recipe's, 0.1)"),
        CLI_FLAG_FLOAT("delta", &delta, "-1", "δ of the noise (-1: the recipe's, 0.01)"),
        CLI_FLAG_BOOL("noise", &noise, "true", "add the calibrated Gaussian noise after the step (spec §4.6 step 7)"),
        CLI_FLAG_FLOAT("guard-gap", &guard_gap, "-2",
                       "revert a step that lowers the Dr ITM accuracy by more than this (S6 val_gap_skip; -2: the "
                       "recipe's, 0.05; -1: no guard)"),
        CLI_FLAG_INT("guard-pairs", &guard_pairs, "64", "Dr pairs of the guard's ITM accuracy"),
        CLI_FLAG_FLOAT("image-noise", &image_noise, "0.1", "std of the pixel perturbation (S6: 0.1)"),
    };
    run_program_start(&ctx, "unlearn_lcodec",
                    "L-codec: scrubs the parameter slices that FOCI finds conditionally dependent on each Df batch "
                    "with a Newton step and calibrated noise, then reports Dt, Df, the MI ratio and time. --fusion-only gives "
                    "L-codec-F.",
                      own, CLI_COUNT(own), NULL, 0, argc, argv);

    TaskModel original, scrubbed;
    run_program_models(&ctx, &original, &scrubbed);

    const Recipe *r = &ctx.recipe;
    TokenizerSpecial sp = tokenizer_special(ctx.tok);
    int32_t vocab = tokenizer_vocab_size(ctx.tok), lo = sp.pad;
    int32_t specials[5] = {sp.pad, sp.unk, sp.cls, sp.sep, sp.mask};
    for (int k = 0; k < 5; k++)
        if (specials[k] >= lo) lo = specials[k] + 1;
    /* BERT's vocabulary: ids [999, 30521] as S6, past the [unusedN] block. */
    if (vocab > 30000) lo = 999;
    LcodecOptions o = {
        .perturbations = pick(perturbations, r->lcodec_perturbations),
        .batch = pick(batch, r->lcodec_batch),
        .image_noise = (float)image_noise,
        .token_lo = lo,
        .token_hi = vocab - 1,
        .foci = strcmp(foci, "full") == 0 ? LCODEC_FOCI_FULL : LCODEC_FOCI_CHEAP,
        .max_units = max_units,
        .hessian = strcmp(hessian, "samples") == 0 ? LCODEC_HESSIAN_SAMPLES : LCODEC_HESSIAN_MEAN,
        .hessian_batches = pick(hessian_batches, r->lcodec_hessian_batches),
        .newton = strcmp(newton, "cr") == 0 ? LCODEC_NEWTON_CR : LCODEC_NEWTON_SEKHARI,
        .l2_reg = pickf(l2_reg, r->lcodec_l2_reg),
        .epsilon = pickf(epsilon, r->lcodec_epsilon),
        .delta = pickf(delta, r->lcodec_delta),
        .n_train = ctx.task.n_items[TASK_SPLIT_TRAIN], /* n = |D| in items */
        .noise = noise,
        .guard_gap = guard_gap < -1.5 ? r->lcodec_guard_gap : guard_gap,
        .guard_pairs = guard_pairs,
        .seed = (uint64_t)ctx.flags.seed,
    };
    log_info("L-codec: %lld Df pairs in batches of %d, P %d, %s FOCI, H_old %s of %d Dr batches, %s step, "
             "λ %g, noise σ %g, guard gap %g",
             (long long)ctx.split.n_df, o.batch, o.perturbations, foci, hessian, o.hessian_batches, newton, o.l2_reg,
             o.noise && o.newton == LCODEC_NEWTON_SEKHARI
                 ? lcodec_noise_sigma((double)o.n_train, o.l2_reg, o.epsilon, o.delta)
                 : 0.0,
             o.guard_gap);
    LcodecStats stats;
    error_exit_if(lcodec_unlearn(&ctx.task, &scrubbed, ctx.split.df, ctx.split.n_df, ctx.split.dr, ctx.split.n_dr, &o,
                                 NULL, &stats));
    log_info("scrubbed in %.1f s: %lld of %lld batches applied (%lld reverted by the guard), %lld units, "
             "%lld values changed; guard accuracy %.3f -> %.3f",
             stats.seconds, (long long)stats.applied, (long long)stats.batches, (long long)stats.skipped,
             (long long)stats.units_selected, (long long)stats.values_changed, stats.guard_first, stats.guard_last);
    char path[1100];
    cJSON *j = options_json(&o, &stats);
    error_exit_if(json_write_file(run_path(&ctx, "lcodec.json", path, sizeof path), j));
    cJSON_Delete(j);
    run_program_finish(&ctx, "lcodec", &original, &scrubbed, stats.seconds);
    ctx.task.model_free(&ctx.task, &scrubbed);
    ctx.task.model_free(&ctx.task, &original);
    run_free(&ctx);
    return 0;
}
