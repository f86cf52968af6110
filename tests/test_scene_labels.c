/* Probe labels from a synthetic world's scenes.json: every image gets its
 * object count minus 2, read back independently here; a missing scene or
 * file is an error naming it. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/json.h"
#include "eval/scene_labels.h"
#include "tests/eval_world.h"
#include "tests/test.h"

TEST(test_scene_labels_are_object_counts_of_each_image) {
    Tokenizer *tok = eval_world_tokenizer();
    ASSERT_MSG(tok != NULL, "%s", error_message());
    ModelConfig cfg;
    ASSERT(eval_world_config(&cfg, tokenizer_vocab_size(tok)) == 0);
    RetrievalSet test;
    ASSERT_MSG(eval_world_set(&test, "test", tok, &cfg) == 0, "%s", error_message());
    char scenes[600];
    snprintf(scenes, sizeof scenes, "%s/scenes.json", eval_world_dir());
    int labels[64];
    int rc = scene_labels_for_split(scenes, &test, labels);
    cJSON *root = json_read_file(scenes);
    int checked = 0, wrong = 0;
    for (int64_t i = 0; rc == 0 && root && i < test.split.n_images; i++) {
        const char *file = strrchr(test.split.image_paths[i], '/') + 1;
        const cJSON *s;
        cJSON_ArrayForEach(s, root) {
            if (strcmp(cJSON_GetObjectItem(s, "image")->valuestring, file) != 0) continue;
            wrong += labels[i] != cJSON_GetArraySize(cJSON_GetObjectItem(s, "objects")) - 2;
            checked++;
        }
    }
    cJSON_Delete(root);
    char missing[600];
    int rc_missing = scene_labels_for_split(test_tmp_path(missing, sizeof missing, "no_scenes.json"), &test, labels);
    const char *msg = rc_missing < 0 ? strdup(error_message()) : NULL;
    int64_t n = test.split.n_images;
    retrieval_set_free(&test);
    tokenizer_free(tok);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(checked, n);
    ASSERT_EQ_INT(wrong, 0);
    ASSERT(rc_missing < 0);
    ASSERT_STR_CONTAINS(msg, "no_scenes.json");
    free((void *)msg);
}
