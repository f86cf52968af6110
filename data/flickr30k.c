#include "data/flickr30k.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "data/deletion_keys.h"
#include "data/flickr30k_ann.h"

void flickr30k_free(Flickr30kSplit *s) {
    for (int64_t i = 0; i < s->n_images; i++) {
        free(s->image_paths[i]);
        free(s->image_keys[i]);
    }
    for (int64_t t = 0; t < s->n_texts; t++) free(s->texts[t]);
    free(s->image_paths);
    free(s->image_keys);
    free(s->texts);
    free(s->txt2img);
    free(s->img2txt_start);
    free(s->img2txt);
    memset(s, 0, sizeof *s);
}

/* Counting sort of texts by image: the CSR img2txt map. */
static void build_img2txt(Flickr30kSplit *s) {
    s->img2txt_start = calloc((size_t)s->n_images + 1, sizeof(int64_t));
    s->img2txt = malloc((size_t)s->n_texts * sizeof(int64_t));
    CHECK(s->img2txt_start && s->img2txt, "out of memory");
    for (int64_t t = 0; t < s->n_texts; t++) s->img2txt_start[s->txt2img[t] + 1]++;
    for (int64_t i = 0; i < s->n_images; i++) s->img2txt_start[i + 1] += s->img2txt_start[i];
    int64_t *fill = malloc((size_t)s->n_images * sizeof(int64_t) + 1);
    CHECK(fill, "out of memory");
    memcpy(fill, s->img2txt_start, (size_t)s->n_images * sizeof(int64_t));
    for (int64_t t = 0; t < s->n_texts; t++) s->img2txt[fill[s->txt2img[t]]++] = t;
    free(fill);
}

static void push_text(Flickr30kSplit *s, int64_t *cap, const char *text, int64_t image) {
    if (s->n_texts == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        s->texts = realloc(s->texts, (size_t)*cap * sizeof *s->texts);
        s->txt2img = realloc(s->txt2img, (size_t)*cap * sizeof *s->txt2img);
        CHECK(s->texts && s->txt2img, "out of memory");
    }
    s->texts[s->n_texts] = strdup(text);
    CHECK(s->texts[s->n_texts], "out of memory");
    s->txt2img[s->n_texts++] = image;
}

int flickr30k_read(const char *path, Flickr30kLayout layout, const char *image_root, int check_images,
                   Flickr30kSplit *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = ann_read_array(path);
    if (!root) return -1;
    int64_t n_records = cJSON_GetArraySize(root);
    Flickr30kSplit s = {0};
    s.image_paths = calloc((size_t)n_records, sizeof(char *));
    s.image_keys = calloc((size_t)n_records, sizeof(char *));
    CHECK(s.image_paths && s.image_keys, "out of memory");
    int64_t text_cap = 0;
    KeyIndex ids; /* image key -> dense index */
    keyindex_init(&ids);
    int64_t *first_record = malloc((size_t)n_records * sizeof(int64_t)); /* per image */
    CHECK(first_record, "out of memory");
    int rc = -1;
    long long r = 0;
    AnnUtf8Count bad_utf8 = {0};
    char what[64];
    for (const cJSON *rec = root->child; rec; rec = rec->next, r++) {
        snprintf(what, sizeof what, "record %lld", r);
        const char *image = NULL;
        if (json_get_string(rec, "image", &image, path, what) < 0) goto done;
        if (!image[0]) {
            error_set("%s: %s: field \"image\" is an empty string", path, what);
            goto done;
        }
        if (layout == FLICKR30K_TRAIN) {
            const char *caption = NULL;
            if (json_get_string(rec, "caption", &caption, path, what) < 0) goto done;
            char *key = ann_get_id(rec, "image_id", path, what);
            if (!key) goto done;
            int added = 0;
            int64_t img = keyindex_add(&ids, key, &added);
            free(key);
            if (added) {
                first_record[img] = r;
                s.image_keys[img] = strdup(ids.keys[img]);
                s.image_paths[img] = ann_join_path(image_root, image, "");
                s.n_images++;
                if (check_images && ann_check_image(s.image_paths[img], path, r) < 0) goto done;
            } else {
                char *p = ann_join_path(image_root, image, "");
                int same = strcmp(p, s.image_paths[img]) == 0;
                free(p);
                if (!same) {
                    error_set("%s: %s: image_id \"%s\" names image \"%s\" here but a different image in record %lld",
                              path, what, ids.keys[img], image, (long long)first_record[img]);
                    goto done;
                }
            }
            ann_count_utf8(&bad_utf8, caption, r);
            push_text(&s, &text_cap, caption, img);
        } else {
            const cJSON *caps = NULL;
            if (json_get_array(rec, "caption", &caps, path, what) < 0) goto done;
            if (cJSON_GetArraySize(caps) == 0) {
                error_set("%s: %s: field \"caption\" is an empty list", path, what);
                goto done;
            }
            int added = 0;
            int64_t img = keyindex_add(&ids, image, &added);
            if (!added) {
                error_set("%s: %s: image \"%s\" is listed again (first in record %lld); val/test files hold one "
                          "record per image",
                          path, what, image, (long long)first_record[img]);
                goto done;
            }
            first_record[img] = r;
            s.image_keys[img] = strdup(image);
            s.image_paths[img] = ann_join_path(image_root, image, "");
            s.n_images++;
            if (check_images && ann_check_image(s.image_paths[img], path, r) < 0) goto done;
            int c = 0;
            for (const cJSON *t = caps->child; t; t = t->next, c++) {
                if (!cJSON_IsString(t)) {
                    error_set("%s: %s: caption %d is not a string", path, what, c);
                    goto done;
                }
                ann_count_utf8(&bad_utf8, t->valuestring, r);
                push_text(&s, &text_cap, t->valuestring, img);
            }
        }
    }
    build_img2txt(&s);
    s.n_invalid_utf8 = bad_utf8.n;
    ann_log_utf8(&bad_utf8, path);
    *out = s;
    rc = 0;
done:
    if (rc < 0) flickr30k_free(&s);
    free(first_record);
    keyindex_free(&ids);
    cJSON_Delete(root);
    return rc;
}
