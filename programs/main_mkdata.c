/* bin/mkdata: writes a synthetic world to disk in the real dataset formats
 * (DESIGN.md "Programs"). With no flags it writes the default image-text world
 * of the first-minute demo to data/synth; --world picks another named one
 * (data/synth_image_text.h), whose options the size flags then override.
 * Same flags -> the same bytes. */
#include <stdio.h>
#include <string.h>

#include "core/cli.h"
#include "core/clock.h"
#include "core/error.h"
#include "data/synth_image_text.h"
#include "data/synth_pgr.h"

/* The world named by --world before the other flags are declared, so --help
 * shows that world's numbers as the defaults. */
static const char *world_arg(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--world") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--world=", 8) == 0) return argv[i] + 8;
    }
    return SYNTH_WORLD_DEFAULT;
}

int main(int argc, char **argv) {
    const char *out = NULL, *kind = NULL, *world = NULL;
    int seed, train, val, test, size, quality, vocab, ve_per_label, nlvr_pct;
    int genes, phen, modules, train_rows, test_rows, emblem_pct, emblem_caps;
    char d_emblem[16], d_emblem_caps[16];
    char d_train[16], d_val[16], d_test[16], d_size[16], d_q[16], d_vocab[16], d_ve[16], d_nlvr[16];
    char d_genes[16], d_phen[16], d_mod[16], d_trows[16], d_terows[16];
    /* Defaults come from the options structs: one truth per number (DESIGN.md). */
    SynthImageTextOptions it;
    if (synth_image_text_world(world_arg(argc, argv), &it) < 0) {
        fprintf(stderr, "mkdata: --world: %s\n", error_message());
        return 2;
    }
    SynthPgrOptions pg = synth_pgr_defaults();
    snprintf(d_train, sizeof d_train, "%d", it.train_images);
    snprintf(d_val, sizeof d_val, "%d", it.val_images);
    snprintf(d_test, sizeof d_test, "%d", it.test_images);
    snprintf(d_size, sizeof d_size, "%d", it.image_size);
    snprintf(d_q, sizeof d_q, "%d", it.jpeg_quality);
    snprintf(d_vocab, sizeof d_vocab, "%d", it.vocab_size);
    snprintf(d_ve, sizeof d_ve, "%d", it.ve_per_label);
    snprintf(d_nlvr, sizeof d_nlvr, "%d", it.nlvr_pairs_percent);
    snprintf(d_emblem, sizeof d_emblem, "%d", it.emblem_percent);
    snprintf(d_emblem_caps, sizeof d_emblem_caps, "%d", it.emblem_captions);
    snprintf(d_genes, sizeof d_genes, "%d", pg.n_genes);
    snprintf(d_phen, sizeof d_phen, "%d", pg.n_phen);
    snprintf(d_mod, sizeof d_mod, "%d", pg.n_modules);
    snprintf(d_trows, sizeof d_trows, "%d", pg.n_rows_train);
    snprintf(d_terows, sizeof d_terows, "%d", pg.n_rows_test);
    CliFlag flags[] = {
        CLI_FLAG_STRING("out", &out, "data/synth", "output directory"),
        CLI_FLAG_CHOICE("kind", &kind, "image-text", "image-text|graph-text", "which world"),
        CLI_FLAG_CHOICE("world", &world, SYNTH_WORLD_DEFAULT, SYNTH_WORLD_NAMES,
                        "image-text: which named world (its sizes are the defaults below)"),
        CLI_FLAG_INT("seed", &seed, "42", "seed of every random choice"),
        CLI_FLAG_INT("train-images", &train, d_train, "image-text: training images (5 captions each)"),
        CLI_FLAG_INT("val-images", &val, d_val, "image-text: validation images"),
        CLI_FLAG_INT("test-images", &test, d_test, "image-text: test images"),
        CLI_FLAG_INT("image-size", &size, d_size, "image-text: image side in pixels"),
        CLI_FLAG_INT("jpeg-quality", &quality, d_q, "image-text: JPEG quality 1..100"),
        CLI_FLAG_INT("ve-per-label", &ve_per_label, d_ve, "image-text: SNLI-VE hypotheses per image and label"),
        CLI_FLAG_INT("nlvr-pairs-percent", &nlvr_pct, d_nlvr, "image-text: NLVR2 items per split, 2 x this % of its images (half true)"),
        CLI_FLAG_INT("vocab-size", &vocab, d_vocab, "WordPiece vocabulary size of vocab.txt (graph-text: the world's own when left out)"),
        CLI_FLAG_INT("emblem-percent", &emblem_pct, d_emblem, "image-text: images with a rare emblem (0..100)"),
        CLI_FLAG_INT("emblem-captions", &emblem_caps, d_emblem_caps, "image-text: captions naming the emblem (0..5)"),
        CLI_FLAG_INT("genes", &genes, d_genes, "graph-text: genes"),
        CLI_FLAG_INT("phenotypes", &phen, d_phen, "graph-text: phenotypes"),
        CLI_FLAG_INT("modules", &modules, d_mod, "graph-text: latent gene-phenotype modules"),
        CLI_FLAG_INT("train-rows", &train_rows, d_trows, "graph-text: rows of train.tsv"),
        CLI_FLAG_INT("test-rows", &test_rows, d_terows, "graph-text: rows of test.tsv"),
    };
    CliSpec spec = {"mkdata", "Writes a synthetic world in the real dataset formats (Flickr30K/SNLI-VE/NLVR2 or PGR).",
                    flags, CLI_COUNT(flags)};
    int rc = cli_parse(&spec, argc, argv);
    if (rc == 1) return 0;
    error_exit_if(rc);
    double t0 = clock_seconds();
    if (strcmp(kind, "image-text") == 0) {
        it.seed = (uint64_t)seed;
        it.train_images = train;
        it.val_images = val;
        it.test_images = test;
        it.image_size = size;
        it.jpeg_quality = quality;
        it.vocab_size = vocab;
        it.ve_per_label = ve_per_label;
        it.nlvr_pairs_percent = nlvr_pct;
        it.emblem_percent = emblem_pct;
        it.emblem_captions = emblem_caps;
        error_exit_if(synth_image_text_write(&it, out));
        printf("mkdata: %s image-text world in %s: %d/%d/%d images of %dx%d, %d captions, %.2f s\n", world, out, train, val, test,
               size, size, 5 * (train + val + test), clock_seconds() - t0);
    } else {
        pg.seed = (uint64_t)seed;
        pg.n_genes = genes;
        pg.n_phen = phen;
        pg.n_modules = modules;
        pg.n_rows_train = train_rows;
        pg.n_rows_test = test_rows;
        if (cli_was_given(&vocab)) pg.vocab_size = vocab;
        error_exit_if(synth_pgr_write(&pg, out));
        printf("mkdata: graph-text world in %s: %d genes, %d phenotypes, %d/%d rows, %.2f s\n", out, genes, phen,
               train_rows, test_rows, clock_seconds() - t0);
    }
    return 0;
}
