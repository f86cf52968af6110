/* data/cls_set.h on a small synthetic world: every item's images resolve to
 * the files its annotation names, shared images are listed once, sentences
 * are cleaned and tokenised, deletion keys follow spec/unlearning_methods.md §1.1. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "data/caption.h"
#include "data/cls_set.h"
#include "data/nlvr2.h"
#include "data/snli_ve.h"
#include "data/synth_image_text.h"
#include "models/cls_batch.h"
#include "tests/test.h"

static const char *small_world(void) {
    static char dir[512];
    if (dir[0]) return dir;
    SynthImageTextOptions o = synth_image_text_defaults();
    o.train_images = 6;
    o.val_images = 2;
    o.test_images = 2;
    o.image_size = 32;
    o.vocab_size = 300;
    test_tmp_path(dir, sizeof dir, "cls_world");
    CHECK(synth_image_text_write(&o, dir) == 0, "%s", error_message());
    return dir;
}

TEST(test_cls_set_reads_ve_and_nlvr_with_shared_images_listed_once) {
    const char *dir = small_world();
    char path[1024], root[1024];
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Tokenizer *tok = tokenizer_load(path);
    ASSERT_MSG(tok != NULL, "%s", error_message());

    ClsSet ve;
    snprintf(path, sizeof path, "%s/ve_train.json", dir);
    ASSERT_MSG(cls_set_load(&ve, CLS_SET_SNLI_VE, path, root, tok, 24, 32, 1 << 20) == 0, "%s", error_message());
    SnliVeSplit raw;
    ASSERT(snli_ve_read(path, root, 0, &raw) == 0);
    ASSERT_EQ_INT(ve.n, raw.n);
    ASSERT_EQ_INT(ve.n_images, 6); /* 6 premises, several hypotheses each */
    ASSERT(ve.cache != NULL);
    for (int64_t t = 0; t < ve.n; t++) {
        ASSERT(!strcmp(ve.image_paths[ve.item_images[t]], raw.records[t].image_path));
        ASSERT(!strcmp(ve.keys[t], raw.records[t].image));
        ASSERT_EQ_INT(ve.labels[t], raw.records[t].label);
        char *clean = pre_caption(raw.records[t].sentence, CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS);
        ASSERT(!strcmp(ve.sentences[t], clean));
        int32_t ids[24], mask[24];
        tokenizer_encode(tok, clean, 24, ids, mask);
        ASSERT(!memcmp(ids, ve.ids + t * 24, sizeof ids) && !memcmp(mask, ve.mask + t * 24, sizeof mask));
        free(clean);
    }
    snli_ve_free(&raw);
    float *px = malloc(3 * 32 * 32 * sizeof *px);
    ASSERT(cls_set_pixels(&ve, 0, IMAGE_AUG_NONE, 0, 0, px) == 0);
    free(px);
    cls_set_free(&ve);

    ClsSet nl;
    snprintf(path, sizeof path, "%s/nlvr_train.json", dir);
    ASSERT_MSG(cls_set_load(&nl, CLS_SET_NLVR2, path, root, tok, 24, 32, 0) == 0, "%s", error_message());
    Nlvr2Split rn;
    ASSERT(nlvr2_read(path, root, 0, &rn) == 0);
    ASSERT_EQ_INT(nl.n, rn.n);
    ASSERT(nl.cache == NULL && nl.n_images <= 6 && nl.images_per_item == 2);
    for (int64_t t = 0; t < nl.n; t++) {
        ASSERT(!strcmp(nl.image_paths[nl.item_images[2 * t]], rn.records[t].image_paths[0]));
        ASSERT(!strcmp(nl.image_paths[nl.item_images[2 * t + 1]], rn.records[t].image_paths[1]));
        ASSERT(!strcmp(nl.keys[t], rn.records[t].pair_key));
    }
    for (int64_t i = 1; i < nl.n_images; i++) /* listed once */
        for (int64_t j = 0; j < i; j++) ASSERT(strcmp(nl.image_paths[i], nl.image_paths[j]));
    nlvr2_free(&rn);
    cls_set_free(&nl);

    snprintf(path, sizeof path, "%s/missing.json", dir);
    ASSERT(cls_set_load(&nl, CLS_SET_NLVR2, path, root, tok, 24, 32, 0) == -1);
    ASSERT_STR_CONTAINS(error_message(), "missing.json");
    error_clear();
    tokenizer_free(tok);
}

/* NLVR2 batches: rows 0..n-1 of the pixel block are the left images, n..2n-1
 * the right; with the swap, an item whose draw swaps shows its images the
 * other way round and its sentence with left/right exchanged; the same
 * arguments give the same batch. */
TEST(test_cls_batch_nlvr_swap_exchanges_images_and_words_deterministically) {
    const char *dir = small_world();
    char path[1024], root[1024];
    snprintf(root, sizeof root, "%s/images", dir);
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    Tokenizer *tok = tokenizer_load(path);
    ClsSet nl;
    snprintf(path, sizeof path, "%s/nlvr_train.json", dir);
    ASSERT_MSG(cls_set_load(&nl, CLS_SET_NLVR2, path, root, tok, 24, 32, 1 << 20) == 0, "%s", error_message());
    int n = (int)nl.n;
    int64_t items[64];
    ASSERT(n <= 64);
    for (int i = 0; i < n; i++) items[i] = i;
    AlbefClsBatch plain, swapped, again;
    Tensor *both_p, *both_s, *both_a;
    ASSERT(cls_batch_make(&nl, tok, items, n, IMAGE_AUG_NONE, 0, 1, 0, &plain, &both_p) == 0);
    ASSERT(cls_batch_make(&nl, tok, items, n, IMAGE_AUG_NONE, 1, 1, 0, &swapped, &both_s) == 0);
    ASSERT(cls_batch_make(&nl, tok, items, n, IMAGE_AUG_NONE, 1, 1, 0, &again, &both_a) == 0);
    ASSERT(!memcmp(tensor_f32(both_s), tensor_f32(both_a), tensor_nbytes(both_s)));
    ASSERT(!memcmp(tensor_i32(swapped.text_ids), tensor_i32(again.text_ids), tensor_nbytes(swapped.text_ids)));
    const int64_t img = 3 * 32 * 32;
    int n_swapped = 0;
    for (int i = 0; i < n; i++) {
        const float *l = tensor_f32(both_p) + i * img, *r = tensor_f32(both_p) + (n + i) * img;
        const float *sl = tensor_f32(both_s) + i * img, *sr = tensor_f32(both_s) + (n + i) * img;
        int same = !memcmp(l, sl, img * sizeof(float)) && !memcmp(r, sr, img * sizeof(float));
        int crossed = !memcmp(l, sr, img * sizeof(float)) && !memcmp(r, sl, img * sizeof(float));
        ASSERT(same || crossed);
        if (crossed && !same) {
            n_swapped++;
            char want[1024];
            ASSERT(nlvr2_swap_sentence(nl.sentences[i], 0.0f, want, sizeof want) == 1);
            int32_t ids[24];
            tokenizer_encode(tok, want, 24, ids, NULL);
            ASSERT(!memcmp(ids, tensor_i32(swapped.text_ids) + i * 24, sizeof ids));
        }
        ASSERT_EQ_INT(tensor_i32(plain.labels)[i], nl.labels[i]);
    }
    ASSERT(n_swapped > 0 && n_swapped < n); /* about half of the items */
    cls_set_free(&nl);
    tokenizer_free(tok);
}
