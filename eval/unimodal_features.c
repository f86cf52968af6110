#include "eval/unimodal_features.h"

#include "eval/item_representations.h"

float *unimodal_features(const Task *t, TaskModel *m, TaskSplit split, const int64_t *items, int64_t n, int batch,
                         UnimodalSide side, int *dim) {
    ItemRepresentations r;
    int image = side == UNIMODAL_IMAGE;
    if (item_representations(t, m, split, items, n, batch, image ? ITEM_REP_IMAGE : ITEM_REP_TEXT, &r) < 0) return NULL;
    *dim = image ? r.image_dim : r.text_dim;
    return image ? r.image : r.text;
}
