#include "data/retrieval_set.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/xalloc.h"
#include "data/caption.h"
#include "data/transform.h"

static int tokenize_all(RetrievalSet *s, const Tokenizer *tok) {
    int64_t n = s->split.n_texts;
    s->ids = malloc((size_t)(n * s->max_len) * sizeof *s->ids);
    s->mask = malloc((size_t)(n * s->max_len) * sizeof *s->mask);
    char **clean = malloc((size_t)(n > 0 ? n : 1) * sizeof *clean);
    CHECK(s->ids && s->mask && clean, "out of memory");
    for (int64_t t = 0; t < n; t++) {
        /* LAVIS cleans every caption with pre_caption before tokenising (spec §6.4). */
        clean[t] = pre_caption(s->split.texts[t], CAPTION_LAVIS, PRE_CAPTION_MAX_WORDS_LAVIS);
        CHECK(clean[t] != NULL, "out of memory");
    }
    int rc = tokenizer_encode_batch(tok, (const char *const *)clean, n, s->max_len, s->ids, s->mask);
    for (int64_t t = 0; t < n; t++) free(clean[t]);
    free(clean);
    return rc < 0 ? -1 : 0;
}

static int cache_images(RetrievalSet *s, int64_t cache_bytes) {
    int64_t n = s->split.n_images;
    if (cache_bytes <= 0 || n == 0) return 0;
    /* Decide on the first image's size: a split's images are of similar size. */
    Image first;
    if (image_read(s->split.image_paths[0], &first) < 0) return -1;
    int64_t estimate = (int64_t)first.width * first.height * 3 * n;
    image_free(&first);
    if (estimate > cache_bytes) return 0;
    s->cache = calloc((size_t)n, sizeof *s->cache);
    CHECK(s->cache != NULL, "out of memory");
    int failed = 0;
#pragma omp parallel for schedule(dynamic, 16)
    for (int64_t i = 0; i < n; i++) {
        if (failed) continue;
        if (image_read(s->split.image_paths[i], &s->cache[i]) < 0) {
#pragma omp critical
            {
                if (!failed) failed = 1;
            }
        }
    }
    if (failed) {
        /* The error message is thread-local to the worker that failed: read
         * the images again in order on this thread to report the first one. */
        for (int64_t i = 0; i < n; i++) {
            Image probe;
            if (image_read(s->split.image_paths[i], &probe) < 0) return -1;
            image_free(&probe);
        }
        return error_set("%s: could not decode an image", s->split.image_paths[0]);
    }
    return 0;
}

int retrieval_set_load(RetrievalSet *s, const char *json_path, Flickr30kLayout layout, const char *image_root,
                       const Tokenizer *tok, int max_len, int image_size, int64_t cache_bytes) {
    memset(s, 0, sizeof *s);
    s->max_len = max_len;
    s->image_size = image_size;
    if (flickr30k_read(json_path, layout, image_root, 1, &s->split) < 0) return -1;
    if (tokenize_all(s, tok) < 0 || cache_images(s, cache_bytes) < 0) {
        retrieval_set_free(s);
        return -1;
    }
    return 0;
}

void retrieval_set_free(RetrievalSet *s) {
    if (s->cache) {
        for (int64_t i = 0; i < s->split.n_images; i++) image_free(&s->cache[i]);
        free(s->cache);
    }
    free(s->ids);
    free(s->mask);
    flickr30k_free(&s->split);
    memset(s, 0, sizeof *s);
}

int retrieval_set_pixels(const RetrievalSet *s, int64_t image, ImageAugment aug, uint64_t seed, uint64_t epoch,
                         float *out_chw) {
    CHECK(image >= 0 && image < s->split.n_images, "image %lld of %lld", (long long)image,
          (long long)s->split.n_images);
    Image loaded;
    const Image *src;
    if (s->cache) {
        src = &s->cache[image];
    } else {
        if (image_read(s->split.image_paths[image], &loaded) < 0) return -1;
        src = &loaded;
    }
    int rc = aug == IMAGE_AUG_LAVIS ? transform_train(src, s->image_size, seed, epoch, (uint64_t)image, out_chw, NULL)
                                    : transform_eval(src, s->image_size, out_chw);
    if (!s->cache) image_free(&loaded);
    return rc;
}

int retrieval_set_fingerprint(const RetrievalSet *s, uint64_t *h) {
    const Flickr30kSplit *sp = &s->split;
    *h = fnv1a_bytes(*h, &sp->n_images, sizeof sp->n_images);
    for (int64_t i = 0; i < sp->n_images; i++) {
        struct stat st;
        if (stat(sp->image_paths[i], &st) != 0)
            return error_set("%s: %s", sp->image_paths[i], strerror(errno));
        int64_t facts[3] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec, (int64_t)st.st_mtim.tv_nsec};
        *h = fnv1a_bytes(*h, sp->image_paths[i], strlen(sp->image_paths[i]) + 1);
        *h = fnv1a_bytes(*h, sp->image_keys[i], strlen(sp->image_keys[i]) + 1);
        *h = fnv1a_bytes(*h, facts, sizeof facts);
    }
    *h = fnv1a_bytes(*h, &sp->n_texts, sizeof sp->n_texts);
    *h = fnv1a_bytes(*h, &s->max_len, sizeof s->max_len);
    *h = fnv1a_bytes(*h, sp->txt2img, (size_t)sp->n_texts * sizeof *sp->txt2img);
    *h = fnv1a_bytes(*h, s->ids, (size_t)(sp->n_texts * s->max_len) * sizeof *s->ids);
    *h = fnv1a_bytes(*h, s->mask, (size_t)(sp->n_texts * s->max_len) * sizeof *s->mask);
    return 0;
}
