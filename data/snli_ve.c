#include "data/snli_ve.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "data/flickr30k_ann.h"

static const char *const label_names[3] = {"contradiction", "neutral", "entailment"};

const char *snli_ve_label_name(int label) { return label >= 0 && label < 3 ? label_names[label] : "?"; }

int snli_ve_label_parse(const char *name) {
    /* Exact, lower-case names: the published files use nothing else, and a
     * typo must not silently become a class. */
    for (int k = 0; k < 3; k++)
        if (strcmp(name, label_names[k]) == 0) return k;
    return -1;
}

void snli_ve_free(SnliVeSplit *s) {
    for (int64_t i = 0; i < s->n; i++) {
        free(s->records[i].image);
        free(s->records[i].image_path);
        free(s->records[i].sentence);
    }
    free(s->records);
    memset(s, 0, sizeof *s);
}

int snli_ve_read(const char *path, const char *image_root, int check_images, SnliVeSplit *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = ann_read_array(path);
    if (!root) return -1;
    SnliVeSplit s = {0};
    s.records = calloc((size_t)cJSON_GetArraySize(root), sizeof *s.records);
    CHECK(s.records, "out of memory");
    int rc = -1;
    long long r = 0;
    AnnUtf8Count bad_utf8 = {0};
    char what[64];
    for (const cJSON *rec = root->child; rec; rec = rec->next, r++) {
        snprintf(what, sizeof what, "record %lld", r);
        const char *image = NULL, *sentence = NULL, *label = NULL;
        if (json_get_string(rec, "image", &image, path, what) < 0) goto done;
        if (json_get_string(rec, "sentence", &sentence, path, what) < 0) goto done;
        if (json_get_string(rec, "label", &label, path, what) < 0) goto done;
        if (!image[0]) {
            error_set("%s: %s: field \"image\" is an empty string", path, what);
            goto done;
        }
        int y = snli_ve_label_parse(label);
        if (y < 0) {
            error_set("%s: %s: unknown label \"%s\" (expected entailment, neutral or contradiction)", path, what,
                      label);
            goto done;
        }
        ann_count_utf8(&bad_utf8, sentence, r);
        SnliVeRecord *o = &s.records[s.n++];
        o->image = strdup(image);
        o->sentence = strdup(sentence);
        o->image_path = ann_join_path(image_root, image, ".jpg");
        o->label = y;
        CHECK(o->image && o->sentence, "out of memory");
        if (check_images && ann_check_image(o->image_path, path, r) < 0) goto done;
    }
    s.n_invalid_utf8 = bad_utf8.n;
    ann_log_utf8(&bad_utf8, path);
    *out = s;
    rc = 0;
done:
    if (rc < 0) snli_ve_free(&s);
    cJSON_Delete(root);
    return rc;
}
