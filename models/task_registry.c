#include <string.h>

#include "core/error.h"
#include "models/task.h"

/* The tasks the programs know. A task whose implementation is not in this
 * build yet is listed with built = 0, so that --task names it and says why it
 * cannot run rather than treating it as unknown. */
static const struct {
    const char *name;
    int built;
    const char *what;
} TASKS[] = {
    {"flickr30k", 1, "image-text retrieval (Flickr30K format; ALBEF ITC + ITM)"},
    {"snli_ve", 1, "visual entailment (SNLI-VE; ALBEF with a 3-class head)"},
    {"nlvr2", 1, "visual reasoning over two images (NLVR2; ALBEF-NLVR2)"},
    {"pgr", 1, "graph-text relation classification (PGR; GCN + BERT + fusion FFN)"},
};

const char *task_names(void) {
    static char names[256];
    if (!names[0])
        for (size_t k = 0; k < sizeof TASKS / sizeof TASKS[0]; k++) {
            if (k) strcat(names, "|");
            strcat(names, TASKS[k].name);
        }
    return names;
}

int task_check_name(const char *name) {
    for (size_t k = 0; k < sizeof TASKS / sizeof TASKS[0]; k++) {
        if (strcmp(name, TASKS[k].name) != 0) continue;
        if (TASKS[k].built) return 0;
        return error_set("--task %s (%s): not built yet in this version", name,
                         TASKS[k].what);
    }
    return error_set("--task %s: unknown task (known: %s)", name, task_names());
}
