#include "data/nlvr2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "data/flickr30k_ann.h"

/* repr() of a Python str for printable ASCII: single quotes unless the text
 * holds a ' and no ", backslashes and the chosen quote escaped. */
static size_t py_repr(const char *s, char *dst) {
    char q = (strchr(s, '\'') && !strchr(s, '"')) ? '"' : '\'';
    size_t n = 0;
    if (dst) dst[n] = q;
    n++;
    for (; *s; s++) {
        if (*s == '\\' || *s == q) {
            if (dst) dst[n] = '\\';
            n++;
        }
        if (dst) dst[n] = *s;
        n++;
    }
    if (dst) dst[n] = q;
    return n + 1;
}

char *nlvr2_pair_key(const char *left, const char *right) {
    size_t n = 1 + py_repr(left, NULL) + 2 + py_repr(right, NULL) + 1 + 1;
    char *out = malloc(n);
    CHECK(out, "out of memory");
    size_t k = 0;
    out[k++] = '(';
    k += py_repr(left, out + k);
    out[k++] = ',';
    out[k++] = ' ';
    k += py_repr(right, out + k);
    out[k++] = ')';
    out[k] = '\0';
    return out;
}

void nlvr2_free(Nlvr2Split *s) {
    for (int64_t i = 0; i < s->n; i++) {
        Nlvr2Record *r = &s->records[i];
        for (int k = 0; k < 2; k++) {
            free(r->images[k]);
            free(r->image_paths[k]);
        }
        free(r->sentence);
        free(r->pair_key);
    }
    free(s->records);
    memset(s, 0, sizeof *s);
}

int nlvr2_read(const char *path, const char *image_root, int check_images, Nlvr2Split *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = ann_read_array(path);
    if (!root) return -1;
    Nlvr2Split s = {0};
    s.records = calloc((size_t)cJSON_GetArraySize(root), sizeof *s.records);
    CHECK(s.records, "out of memory");
    int rc = -1;
    long long r = 0;
    AnnUtf8Count bad_utf8 = {0};
    char what[64];
    for (const cJSON *rec = root->child; rec; rec = rec->next, r++) {
        snprintf(what, sizeof what, "record %lld", r);
        const cJSON *images = NULL;
        const char *sentence = NULL, *label = NULL;
        if (json_get_array(rec, "images", &images, path, what) < 0) goto done;
        if (json_get_string(rec, "sentence", &sentence, path, what) < 0) goto done;
        if (json_get_string(rec, "label", &label, path, what) < 0) goto done;
        if (cJSON_GetArraySize(images) != 2) {
            error_set("%s: %s: field \"images\" has %d entries, expected 2 (left, right)", path, what,
                      cJSON_GetArraySize(images));
            goto done;
        }
        int y = strcmp(label, "True") == 0 ? 1 : strcmp(label, "False") == 0 ? 0 : -1;
        if (y < 0) {
            error_set("%s: %s: unknown label \"%s\" (expected \"True\" or \"False\")", path, what, label);
            goto done;
        }
        Nlvr2Record *o = &s.records[s.n++];
        int k = 0;
        for (const cJSON *im = images->child; im; im = im->next, k++) {
            if (!cJSON_IsString(im) || !im->valuestring[0]) {
                error_set("%s: %s: images[%d] is not a non-empty string", path, what, k);
                goto done;
            }
            o->images[k] = strdup(im->valuestring);
            o->image_paths[k] = ann_join_path(image_root, im->valuestring, "");
        }
        ann_count_utf8(&bad_utf8, sentence, r);
        o->sentence = strdup(sentence);
        o->label = y;
        o->pair_key = nlvr2_pair_key(o->images[0], o->images[1]);
        for (k = 0; k < 2; k++)
            if (check_images && ann_check_image(o->image_paths[k], path, r) < 0) goto done;
    }
    s.n_invalid_utf8 = bad_utf8.n;
    ann_log_utf8(&bad_utf8, path);
    *out = s;
    rc = 0;
done:
    if (rc < 0) nlvr2_free(&s);
    cJSON_Delete(root);
    return rc;
}

/* Appends s[0..n) to out, failing when it would not fit. */
static int append(char *out, size_t size, size_t *at, const char *s, size_t n) {
    if (*at + n + 1 > size) return -1;
    memcpy(out + *at, s, n);
    *at += n;
    out[*at] = '\0';
    return 0;
}

int nlvr2_swap_sentence(const char *sentence, float u, char *out, size_t out_size) {
    int swap = u < 0.5f;
    size_t at = 0;
    CHECK(out_size > 0, "nlvr2_swap_sentence: empty output buffer");
    out[0] = '\0';
    for (const char *p = sentence; *p;) {
        const char *with = NULL;
        size_t skip = 1;
        if (swap && !strncmp(p, "left", 4)) with = "right", skip = 4;
        else if (swap && !strncmp(p, "right", 5)) with = "left", skip = 5;
        int rc = with ? append(out, out_size, &at, with, strlen(with)) : append(out, out_size, &at, p, 1);
        CHECK(rc == 0, "nlvr2_swap_sentence: \"%s\" does not fit %zu bytes after the swap", sentence, out_size);
        p += skip;
    }
    return swap;
}
