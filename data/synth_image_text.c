#include "data/synth_image_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "core/rng.h"
#include "data/image.h"
#include "data/snli_ve.h"
#include "data/synth_claims.h"
#include "data/synth_scene.h"
#include "data/synth_text.h"
#include "data/wordpiece_build.h"

#define NLVR_STREAM (4ull << 40)
#define NLVR_CLAIM_STREAM (8ull << 40)

int synth_image_text_world(const char *name, SynthImageTextOptions *out) {
    SynthImageTextOptions o = {
        .seed = 42,
        .train_images = 1000,
        .val_images = 150,
        .test_images = 150,
        .image_size = 64,
        .ve_per_label = 2,
        .nlvr_pairs_percent = 100,
        .jpeg_quality = 95,
        .vocab_size = 1000,
        .emblem_percent = 0,
        .emblem_captions = 0,
    };
    if (strcmp(name, "longtail") == 0) {
        o.train_images = 800;
        o.emblem_percent = 100;
        o.emblem_captions = 2;
    } else if (strcmp(name, "scenes") != 0) {
        return error_set("synthetic world \"%s\": unknown (known: %s)", name, SYNTH_WORLD_NAMES);
    }
    *out = o;
    return 0;
}

SynthImageTextOptions synth_image_text_defaults(void) {
    SynthImageTextOptions o;
    CHECK(synth_image_text_world(SYNTH_WORLD_DEFAULT, &o) == 0, "the default world has options");
    return o;
}

typedef struct {
    char **v;
    int64_t n, cap;
} TextList;

static void texts_push(TextList *t, const char *s) {
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 1024;
        t->v = realloc(t->v, (size_t)t->cap * sizeof *t->v);
        CHECK(t->v, "out of memory");
    }
    t->v[t->n] = strdup(s);
    CHECK(t->v[t->n], "out of memory");
    t->n++;
}

static void id_text(int64_t index, char *buf, size_t size) { snprintf(buf, size, "%lld", (long long)(SYNTH_IMAGE_ID_BASE + index)); }

static int write_json(const char *dir, const char *name, cJSON *root) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = json_write_file(path, root);
    cJSON_Delete(root);
    return rc;
}

static cJSON *scene_json(const SynthScene *s, const char *image, const char *split) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "image", image);
    cJSON_AddStringToObject(o, "split", split);
    if (s->emblem.present) cJSON_AddStringToObject(o, "emblem", s->emblem.name);
    cJSON *objs = cJSON_AddArrayToObject(o, "objects");
    for (int i = 0; i < s->n; i++) {
        const SynthObject *b = &s->obj[i];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "shape", synth_shape_names[b->shape]);
        cJSON_AddStringToObject(j, "colour", synth_colour_names[b->colour]);
        cJSON_AddStringToObject(j, "size", synth_size_names[b->size]);
        cJSON_AddStringToObject(j, "position", synth_position_names[b->pos]);
        cJSON_AddItemToArray(objs, j);
    }
    return o;
}

/* The vocabulary corpus's NLVR2 sentences of one pair (data/synth_text.h):
 * a pair of the split's scenes, then a true and a false sentence about it. */
static void push_vocab_nlvr_sentences(const SynthScene *split, int64_t count, Rng *r, TextList *texts) {
    int64_t a = (int64_t)rng_below(r, (uint64_t)count), b = (int64_t)rng_below(r, (uint64_t)count - 1);
    if (b >= a) b++;
    for (int want = 1; want >= 0; want--) {
        char text[SYNTH_TEXT_MAX];
        synth_vocab_nlvr_sentence(&split[a], &split[b], r, want, text);
        texts_push(texts, text);
    }
}

/* Samples every scene of the world (indices [0, total) across the three
 * splits) and writes its JPEG, in parallel: a scene and its image are pure
 * functions of (seed, index), so the files are the same whatever the thread
 * count. At 384 px one image is ~25 ms on a core, and the GPU's Figure 2
 * world has 6,000+ (bench/gpu_fig2.sh). 0, or -1 with the lowest failing
 * image's message. */
static int render_images(const SynthImageTextOptions *opt, SynthScene *scenes, int64_t total, const char *images_dir) {
    int64_t failed = -1;
    char why[2048] = "";
#pragma omp parallel
    {
        Image img;
        int ready = image_create(&img, opt->image_size, opt->image_size, IMAGE_U8) == 0;
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < total; i++) {
            synth_scene_sample(opt->seed, i, &scenes[i]);
            synth_emblem_sample(opt->seed, i, opt->emblem_percent, &scenes[i].emblem);
            char id[32], path[4200];
            id_text(i, id, sizeof id);
            snprintf(path, sizeof path, "%s/%s.jpg", images_dir, id);
            int rc = ready ? 0 : error_set("out of memory for a %dx%d image", opt->image_size, opt->image_size);
            if (rc == 0) {
                synth_scene_render(&scenes[i], opt->image_size, image_u8(&img));
                rc = image_write_jpeg(path, &img, opt->jpeg_quality);
            }
            if (rc < 0) {
#pragma omp critical(synth_render_failure)
                if (failed < 0 || i < failed) {
                    failed = i;
                    snprintf(why, sizeof why, "%s", error_message());
                }
            }
        }
        if (ready) image_free(&img);
    }
    return failed < 0 ? 0 : error_set("%s", why);
}

int synth_image_text_write(const SynthImageTextOptions *opt, const char *out_dir) {
    if (opt->train_images < 2 || opt->val_images < 2 || opt->test_images < 2)
        return error_set("synthetic world: need at least 2 images per split (got %d/%d/%d)", opt->train_images,
                         opt->val_images, opt->test_images);
    if (opt->emblem_percent < 0 || opt->emblem_percent > 100 || opt->emblem_captions < 0 ||
        opt->emblem_captions > SYNTH_CAPTIONS_PER_IMAGE)
        return error_set("synthetic world: emblem share %d%% outside 0..100 or emblem captions %d outside 0..%d",
                         opt->emblem_percent, opt->emblem_captions, SYNTH_CAPTIONS_PER_IMAGE);
    if (opt->image_size < 16 || opt->image_size > 1024)
        return error_set("synthetic world: image size %d outside 16..1024", opt->image_size);
    if (opt->nlvr_pairs_percent < 0 || opt->nlvr_pairs_percent > 10000)
        return error_set("synthetic world: NLVR2 pairs percent %d outside 0..10000", opt->nlvr_pairs_percent);
    if (opt->ve_per_label < 0 || opt->ve_per_label > 1000)
        return error_set("synthetic world: SNLI-VE hypotheses per label %d outside 0..1000", opt->ve_per_label);
    char images_dir[4096];
    snprintf(images_dir, sizeof images_dir, "%s/images", out_dir);
    if (make_dirs(images_dir) < 0) return -1;

    static const char *const split_names[3] = {"train", "val", "test"};
    static const char *const ve_names[3] = {"ve_train.json", "ve_dev.json", "ve_test.json"};
    static const char *const nlvr_names[3] = {"nlvr_train.json", "nlvr_dev.json", "nlvr_test.json"};
    static const char *const f30k_names[3] = {"flickr30k_train.json", "flickr30k_val.json", "flickr30k_test.json"};
    int counts[3] = {opt->train_images, opt->val_images, opt->test_images};
    int64_t total = (int64_t)counts[0] + counts[1] + counts[2];

    SynthScene *scenes = malloc((size_t)total * sizeof *scenes);
    if (!scenes) return error_set("synthetic world: out of memory");
    if (render_images(opt, scenes, total, images_dir) < 0) {
        free(scenes);
        return error_prefix("writing the synthetic image-text world to %s", out_dir);
    }
    TextList texts = {0};
    cJSON *scene_list = cJSON_CreateArray();
    int rc = -1;
    int64_t first = 0;
    int max_per_label = opt->ve_per_label;
    SynthHypothesis *hyp = malloc((size_t)(3 * max_per_label + 1) * sizeof *hyp);
    char(*vocab_ve)[SYNTH_TEXT_MAX] = malloc((size_t)(3 * max_per_label + 1) * sizeof *vocab_ve);
    CHECK(hyp && vocab_ve, "out of memory");
    for (int sp = 0; sp < 3; sp++) {
        cJSON *f30k = cJSON_CreateArray(), *ve = cJSON_CreateArray();
        for (int64_t i = first; i < first + counts[sp]; i++) {
            char id[32], image[48];
            id_text(i, id, sizeof id);
            snprintf(image, sizeof image, "%s.jpg", id);
            cJSON_AddItemToArray(scene_list, scene_json(&scenes[i], image, split_names[sp]));
            char caps[SYNTH_CAPTIONS_PER_IMAGE][SYNTH_TEXT_MAX];
            synth_captions(&scenes[i], opt->seed, i, caps);
            synth_captions_name_emblem(&scenes[i], opt->seed, i, opt->emblem_captions, caps);
            if (sp == 0) { /* §6.1: train holds one record per caption */
                for (int c = 0; c < SYNTH_CAPTIONS_PER_IMAGE; c++) {
                    cJSON *r = cJSON_CreateObject();
                    cJSON_AddStringToObject(r, "image", image);
                    cJSON_AddStringToObject(r, "caption", caps[c]);
                    cJSON_AddStringToObject(r, "image_id", id);
                    cJSON_AddItemToArray(f30k, r);
                }
            } else { /* val/test: one record per image */
                cJSON *r = cJSON_CreateObject(), *list = cJSON_CreateArray();
                cJSON_AddStringToObject(r, "image", image);
                for (int c = 0; c < SYNTH_CAPTIONS_PER_IMAGE; c++) cJSON_AddItemToArray(list, cJSON_CreateString(caps[c]));
                cJSON_AddItemToObject(r, "caption", list);
                cJSON_AddItemToArray(f30k, r);
            }
            for (int c = 0; c < SYNTH_CAPTIONS_PER_IMAGE; c++) texts_push(&texts, caps[c]);
            synth_vocab_ve_sentences(&scenes[i], opt->seed, i, max_per_label, vocab_ve);
            for (int h = 0; h < 3 * max_per_label; h++) texts_push(&texts, vocab_ve[h]);
            int nh = synth_ve_hypotheses(&scenes[i], opt->seed, i, max_per_label, hyp);
            for (int h = 0; h < nh; h++) { /* §6.2: image = the id without extension */
                cJSON *r = cJSON_CreateObject();
                cJSON_AddStringToObject(r, "image", id);
                cJSON_AddStringToObject(r, "sentence", hyp[h].text);
                cJSON_AddStringToObject(r, "label", snli_ve_label_name(hyp[h].label));
                cJSON_AddItemToArray(ve, r);
            }
        }
        int w1 = write_json(out_dir, f30k_names[sp], f30k), w2 = write_json(out_dir, ve_names[sp], ve);
        if (w1 < 0 || w2 < 0) goto done;

        /* §6.3: per step a true and a false NLVR2 item, each on its own pair of the split's images;
         * the vocabulary corpus draws its pair and sentences from its own stream alongside. */
        cJSON *nlvr = cJSON_CreateArray();
        Rng vr = rng_make(opt->seed, NLVR_STREAM + (uint64_t)sp), r = rng_make(opt->seed, NLVR_CLAIM_STREAM + (uint64_t)sp);
        int64_t n_pairs = (int64_t)counts[sp] * opt->nlvr_pairs_percent / 100;
        for (int64_t p = 0; p < n_pairs; p++) {
            push_vocab_nlvr_sentences(scenes + first, counts[sp], &vr, &texts);
            for (int want = 1; want >= 0; want--) {
                char text[SYNTH_TEXT_MAX], ida[32], idb[32], ima[48], imb[48];
                int64_t pair[2];
                if (synth_nlvr_item(scenes + first, counts[sp], &r, want, pair, text) < 0) {
                    cJSON_Delete(nlvr);
                    error_prefix("%s", nlvr_names[sp]);
                    goto done;
                }
                id_text(first + pair[0], ida, sizeof ida);
                id_text(first + pair[1], idb, sizeof idb);
                snprintf(ima, sizeof ima, "%s.jpg", ida);
                snprintf(imb, sizeof imb, "%s.jpg", idb);
                cJSON *rec = cJSON_CreateObject(), *images = cJSON_CreateArray();
                cJSON_AddItemToArray(images, cJSON_CreateString(ima));
                cJSON_AddItemToArray(images, cJSON_CreateString(imb));
                cJSON_AddItemToObject(rec, "images", images);
                cJSON_AddStringToObject(rec, "sentence", text);
                cJSON_AddStringToObject(rec, "label", want ? "True" : "False");
                cJSON_AddItemToArray(nlvr, rec);
            }
        }
        if (write_json(out_dir, nlvr_names[sp], nlvr) < 0) goto done;
        first += counts[sp];
    }
    if (write_json(out_dir, "scenes.json", scene_list) < 0) {
        scene_list = NULL;
        goto done;
    }
    scene_list = NULL;
    char vocab[4200];
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", out_dir);
    if (wordpiece_build_vocab((const char *const *)texts.v, texts.n, opt->vocab_size, vocab) < 0) goto done;
    rc = 0;
done:
    if (rc < 0) error_prefix("writing the synthetic image-text world to %s", out_dir);
    cJSON_Delete(scene_list);
    for (int64_t i = 0; i < texts.n; i++) free(texts.v[i]);
    free(texts.v);
    free(hyp);
    free(vocab_ve);
    free(scenes);
    return rc;
}
