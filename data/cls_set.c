#include "data/cls_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "data/caption.h"
#include "data/nlvr2.h"
#include "data/snli_ve.h"
#include "data/transform.h"

typedef struct {
    const char *path;
    int64_t slot; /* index into item_images */
} PathSlot;

static int by_path_then_slot(const void *a, const void *b) {
    const PathSlot *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    return c ? c : (x->slot > y->slot) - (x->slot < y->slot);
}

/* Distinct images in order of first use: sort the (path, slot) pairs, give
 * each run of equal paths the smallest slot's rank. */
static void index_images(ClsSet *s, const char **slot_paths) {
    int64_t n_slots = s->n * s->images_per_item;
    PathSlot *ps = malloc((size_t)(n_slots ? n_slots : 1) * sizeof *ps);
    int64_t *first = malloc((size_t)(n_slots ? n_slots : 1) * sizeof *first);
    CHECK(ps && first, "out of memory");
    for (int64_t k = 0; k < n_slots; k++) ps[k] = (PathSlot){slot_paths[k], k};
    qsort(ps, (size_t)n_slots, sizeof *ps, by_path_then_slot);
    /* first[k] = the first slot holding slot k's path */
    for (int64_t k = 0; k < n_slots; k++)
        first[ps[k].slot] = (k > 0 && !strcmp(ps[k].path, ps[k - 1].path)) ? first[ps[k - 1].slot] : ps[k].slot;
    s->image_paths = malloc((size_t)(n_slots ? n_slots : 1) * sizeof *s->image_paths);
    CHECK(s->image_paths, "out of memory");
    for (int64_t k = 0; k < n_slots; k++) {
        if (first[k] == k) {
            s->item_images[k] = s->n_images;
            s->image_paths[s->n_images++] = strdup(slot_paths[k]);
        } else {
            s->item_images[k] = s->item_images[first[k]];
        }
    }
    free(ps);
    free(first);
}

/* Copies the annotations (sentences cleaned, §6.4) out of the reader's split. */
static void take_items(ClsSet *s, int64_t n, const char *const *sentences, const int *labels,
                       const char *const *keys, const char **slot_paths) {
    s->n = n;
    s->sentences = malloc((size_t)(n ? n : 1) * sizeof *s->sentences);
    s->keys = malloc((size_t)(n ? n : 1) * sizeof *s->keys);
    s->labels = malloc((size_t)(n ? n : 1) * sizeof *s->labels);
    s->item_images = malloc((size_t)(n ? n : 1) * s->images_per_item * sizeof *s->item_images);
    CHECK(s->sentences && s->keys && s->labels && s->item_images, "out of memory");
    for (int64_t t = 0; t < n; t++) {
        s->sentences[t] = pre_caption(sentences[t], CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS);
        s->keys[t] = strdup(keys[t]);
        CHECK(s->sentences[t] && s->keys[t], "out of memory");
        s->labels[t] = labels[t];
    }
    index_images(s, slot_paths);
}

static int read_annotations(ClsSet *s, const char *json_path, const char *image_root) {
    if (s->kind == CLS_SET_SNLI_VE) {
        SnliVeSplit v;
        if (snli_ve_read(json_path, image_root, 1, &v) < 0) return -1;
        const char **sent = malloc((size_t)(v.n ? v.n : 1) * 3 * sizeof(char *));
        int *labels = malloc((size_t)(v.n ? v.n : 1) * sizeof *labels);
        CHECK(sent && labels, "out of memory");
        const char **keys = sent + v.n, **paths = sent + 2 * v.n;
        for (int64_t t = 0; t < v.n; t++) {
            sent[t] = v.records[t].sentence;
            keys[t] = v.records[t].image;
            paths[t] = v.records[t].image_path;
            labels[t] = v.records[t].label;
        }
        take_items(s, v.n, sent, labels, keys, paths);
        free(sent);
        free(labels);
        snli_ve_free(&v);
        return 0;
    }
    Nlvr2Split v;
    if (nlvr2_read(json_path, image_root, 1, &v) < 0) return -1;
    const char **sent = malloc((size_t)(v.n ? v.n : 1) * 4 * sizeof(char *));
    int *labels = malloc((size_t)(v.n ? v.n : 1) * sizeof *labels);
    CHECK(sent && labels, "out of memory");
    const char **keys = sent + v.n, **paths = sent + 2 * v.n;
    for (int64_t t = 0; t < v.n; t++) {
        sent[t] = v.records[t].sentence;
        keys[t] = v.records[t].pair_key;
        paths[2 * t] = v.records[t].image_paths[0];
        paths[2 * t + 1] = v.records[t].image_paths[1];
        labels[t] = v.records[t].label;
    }
    take_items(s, v.n, sent, labels, keys, paths);
    free(sent);
    free(labels);
    nlvr2_free(&v);
    return 0;
}

static int cache_images(ClsSet *s, int64_t cache_bytes) {
    if (cache_bytes <= 0 || s->n_images == 0) return 0;
    Image first;
    if (image_read(s->image_paths[0], &first) < 0) return -1;
    int64_t estimate = (int64_t)first.width * first.height * 3 * s->n_images;
    image_free(&first);
    if (estimate > cache_bytes) return 0;
    s->cache = calloc((size_t)s->n_images, sizeof *s->cache);
    CHECK(s->cache != NULL, "out of memory");
    for (int64_t i = 0; i < s->n_images; i++)
        if (image_read(s->image_paths[i], &s->cache[i]) < 0) return -1;
    return 0;
}

int cls_set_load(ClsSet *s, ClsSetKind kind, const char *json_path, const char *image_root, const Tokenizer *tok,
                 int max_len, int image_size, int64_t cache_bytes) {
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->images_per_item = kind == CLS_SET_NLVR2 ? 2 : 1;
    s->n_classes = kind == CLS_SET_NLVR2 ? 2 : 3;
    s->max_len = max_len;
    s->image_size = image_size;
    if (read_annotations(s, json_path, image_root) < 0) return -1;
    s->ids = malloc((size_t)(s->n ? s->n : 1) * (size_t)max_len * sizeof *s->ids);
    s->mask = malloc((size_t)(s->n ? s->n : 1) * (size_t)max_len * sizeof *s->mask);
    CHECK(s->ids && s->mask, "out of memory");
    if (tokenizer_encode_batch(tok, (const char *const *)s->sentences, s->n, max_len, s->ids, s->mask) < 0 ||
        cache_images(s, cache_bytes) < 0) {
        cls_set_free(s);
        return error_prefix("%s: ", json_path);
    }
    return 0;
}

void cls_set_free(ClsSet *s) {
    for (int64_t t = 0; t < s->n; t++) {
        free(s->sentences ? s->sentences[t] : NULL);
        free(s->keys ? s->keys[t] : NULL);
    }
    for (int64_t i = 0; i < s->n_images; i++) {
        free(s->image_paths[i]);
        if (s->cache) image_free(&s->cache[i]);
    }
    free(s->sentences);
    free(s->keys);
    free(s->labels);
    free(s->item_images);
    free(s->image_paths);
    free(s->cache);
    free(s->ids);
    free(s->mask);
    memset(s, 0, sizeof *s);
}

int cls_set_pixels(const ClsSet *s, int64_t image, ImageAugment aug, uint64_t seed, uint64_t epoch, float *out_chw) {
    CHECK(image >= 0 && image < s->n_images, "image %lld of %lld", (long long)image, (long long)s->n_images);
    Image loaded;
    const Image *src = s->cache ? &s->cache[image] : NULL;
    if (!src) {
        if (image_read(s->image_paths[image], &loaded) < 0) return -1;
        src = &loaded;
    }
    int rc = aug == IMAGE_AUG_LAVIS ? transform_train(src, s->image_size, seed, epoch, (uint64_t)image, out_chw, NULL)
                                    : transform_eval(src, s->image_size, out_chw);
    if (!s->cache) image_free(&loaded);
    return rc;
}

int cls_set_encode(const ClsSet *s, const Tokenizer *tok, const char *sentence, int32_t *ids, int32_t *mask) {
    return tokenizer_encode(tok, sentence, s->max_len, ids, mask) < 0 ? -1 : 0;
}

int cls_set_fingerprint(const ClsSet *s, uint64_t *h) {
    *h = fnv1a_bytes(*h, &s->n_images, sizeof s->n_images);
    for (int64_t i = 0; i < s->n_images; i++) {
        struct stat st;
        if (stat(s->image_paths[i], &st) != 0) return error_set("%s: %s", s->image_paths[i], strerror(errno));
        int64_t facts[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        *h = fnv1a_bytes(*h, s->image_paths[i], strlen(s->image_paths[i]) + 1);
        *h = fnv1a_bytes(*h, facts, sizeof facts);
    }
    *h = fnv1a_bytes(*h, &s->n, sizeof s->n);
    *h = fnv1a_bytes(*h, &s->max_len, sizeof s->max_len);
    *h = fnv1a_bytes(*h, s->item_images, (size_t)(s->n * s->images_per_item) * sizeof *s->item_images);
    *h = fnv1a_bytes(*h, s->labels, (size_t)s->n * sizeof *s->labels);
    for (int64_t i = 0; i < s->n; i++) *h = fnv1a_str(*h, s->keys[i]);
    *h = fnv1a_bytes(*h, s->ids, (size_t)(s->n * s->max_len) * sizeof *s->ids);
    *h = fnv1a_bytes(*h, s->mask, (size_t)(s->n * s->max_len) * sizeof *s->mask);
    return 0;
}
