/* Class labels for the unimodal utility probe (spec/unlearning_methods.md
 * §6.4) from a synthetic world's scenes.json (data/synth_image_text.c): the
 * label of an image is its object count minus 2 (scenes hold 2-4 objects, so
 * 3 classes), a fact both the image and each of its captions carry. Retrieval
 * data has no class labels of its own (spec §9 [U] on Table 5's label set). */
#ifndef EVAL_SCENE_LABELS_H
#define EVAL_SCENE_LABELS_H

#include <stdint.h>

#include "data/retrieval_set.h"

#define SCENE_LABEL_CLASSES 3

/* labels[i] for every image i of the split (matched by file name). 0, or -1
 * with error_set naming the file and the image without a scene. */
int scene_labels_for_split(const char *scenes_json, const RetrievalSet *s, int *labels);

#endif
