#include "models/task.h"

void task_model_copy(TaskModel *dst, const TaskModel *src) {
    params_copy_values(dst->params, src->params);
    if (dst->momentum && src->momentum) params_copy_values(dst->momentum, src->momentum);
}
