/* Shared by the LAVIS annotation readers (Flickr30K, SNLI-VE, NLVR2): every
 * annotation file is a JSON array of objects (spec/albef_blip.md §6), and every
 * record names an image relative to a user-given image root. */
#ifndef DATA_FLICKR30K_ANN_H
#define DATA_FLICKR30K_ANN_H

#include <stdint.h>

#include <cjson/cJSON.h>

/* Reads `path` as a non-empty JSON array of objects. NULL with error_set for an
 * empty file, malformed JSON (line/column), a top level that is not an array,
 * an array with no records, or a record that is not an object. */
cJSON *ann_read_array(const char *path);

/* "<root>/<rel><suffix>" (root may be NULL or "": then rel<suffix>; an
 * absolute rel ignores the root, as os.path.join does). Malloc'ed. */
char *ann_join_path(const char *root, const char *rel, const char *suffix);

/* 0 when `image_path` exists; else -1 with
 * error_set("<origin>: record <i>: image file \"<path>\" does not exist"). */
int ann_check_image(const char *image_path, const char *origin, long long record);

/* A copy of the string field, or of an integral number field printed in
 * decimal (ids are only keys; some releases store them as numbers). NULL with
 * error_set when missing or of another type. */
char *ann_get_id(const cJSON *obj, const char *name, const char *origin, const char *what);

/* Texts holding invalid UTF-8 (pre_caption turns the bad bytes into U+FFFD,
 * which the tokenizer drops): counted while reading, then logged once per
 * file as a warning naming the count and the first record, so the loss is
 * never silent (DESIGN.md "Nothing silently wrong"). */
typedef struct {
    int64_t n;
    long long first_record;
} AnnUtf8Count;
void ann_count_utf8(AnnUtf8Count *c, const char *text, long long record);
void ann_log_utf8(const AnnUtf8Count *c, const char *origin);

#endif
