#include "eval/scene_labels.h"

#include <string.h>

#include "core/error.h"
#include "core/json.h"

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int scene_labels_for_split(const char *scenes_json, const RetrievalSet *s, int *labels) {
    cJSON *root = json_read_file(scenes_json);
    if (!root) return -1;
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return error_set("%s: not a JSON array of scenes", scenes_json);
    }
    int rc = 0;
    for (int64_t i = 0; i < s->split.n_images && rc == 0; i++) {
        const char *want = base_name(s->split.image_paths[i]);
        labels[i] = -1;
        const cJSON *scene;
        cJSON_ArrayForEach(scene, root) {
            const cJSON *image = cJSON_GetObjectItemCaseSensitive(scene, "image");
            if (!cJSON_IsString(image) || strcmp(base_name(image->valuestring), want) != 0) continue;
            int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(scene, "objects"));
            if (n < 2 || n > 1 + SCENE_LABEL_CLASSES)
                rc = error_set("%s: image %s: %d objects, outside 2..%d", scenes_json, want, n, 1 + SCENE_LABEL_CLASSES);
            labels[i] = n - 2;
            break;
        }
        if (rc == 0 && labels[i] < 0) rc = error_set("%s: no scene for image %s", scenes_json, want);
    }
    cJSON_Delete(root);
    return rc;
}
