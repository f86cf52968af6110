/* Shared fixture of the eval tests: a tiny synthetic image-text world on disk
 * (data/synth_image_text.h: 12 train images of 32 px with 5 captions each,
 * 2 val, 6 test) and a tiny random ALBEF whose vocabulary is the world's.
 * The world is written once per test run into the scratch directory. */
#ifndef TESTS_EVAL_WORLD_H
#define TESTS_EVAL_WORLD_H

#include "data/retrieval_set.h"
#include "data/tokenizer.h"
#include "models/albef.h"

#define EVAL_WORLD_TRAIN_IMAGES 12
#define EVAL_WORLD_TEST_IMAGES 6
#define EVAL_WORLD_CAPTIONS 5
#define EVAL_WORLD_MAX_LEN 30

/* The world's directory, written on first use; NULL with error_set on failure. */
const char *eval_world_dir(void);
/* A tiny ALBEF config (16 px input, 8 px patches, width 32, 2+2 text layers)
 * with the given vocabulary size. */
int eval_world_config(ModelConfig *c, int vocab_size);
/* The world's tokenizer and the model built on it (seeded random weights). */
Tokenizer *eval_world_tokenizer(void);
int eval_world_model(Albef *m, const Tokenizer *tok, uint64_t seed);
/* flickr30k_<split>.json of the world as a RetrievalSet at the config's size. */
int eval_world_set(RetrievalSet *s, const char *split, const Tokenizer *tok, const ModelConfig *c);

#endif
