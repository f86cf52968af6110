/* The ITC feature queues on the device (models/albef.c albef_enqueue): the
 * same batches enqueued into a CPU model and into a device copy leave the
 * same queues, pointer and ids, through a write that wraps around the end of
 * the queue; albef_save writes the device queues. Skips without a GPU. */
#include <stdlib.h>
#include <string.h>

#include "autograd/grad_check.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/json.h"
#include "models/albef.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"

static int albef_tiny_with_queue(ModelConfig *c, int queue_size) {
    char path[512];
    snprintf(path, sizeof path, "%s/../../models/configs/albef-tiny.json", test_fixture_dir());
    if (model_config_load(c, path)) return -1;
    c->queue_size = queue_size;
    c->momentum_distill = 1; /* the queues hold momentum features (albef-tiny itself trains without) */
    return 0;
}

TEST(test_cuda_albef_queues_enqueue_on_device_like_the_cpu) {
    if (!cuda_parity_ready()) return;
    ModelConfig c;
    ASSERT_MSG(albef_tiny_with_queue(&c, 10) == 0, "%s", error_message());
    Albef cpu, dev;
    albef_init(&cpu, &c, 3);
    albef_init(&dev, &c, 3);
    albef_to_device(&dev, DEVICE_CUDA);
    const int64_t E = c.embed_dim, Q = c.queue_size, B = 4;
    /* Three batches of 4 into 10 columns: the third write wraps (columns 8, 9, 0, 1). */
    for (int step = 0; step < 3; step++) {
        Tensor *fi = tensor_random_uniform(SHAPE(B, E), -1.0f, 1.0f, 10 + step);
        Tensor *ft = tensor_random_uniform(SHAPE(B, E), -1.0f, 1.0f, 20 + step);
        int64_t ids[4] = {100 * step, 100 * step + 1, 100 * step + 2, 100 * step + 3};
        albef_enqueue(&cpu, fi, ft, ids);
        albef_enqueue(&dev, tensor_to_device(fi, DEVICE_CUDA), tensor_to_device(ft, DEVICE_CUDA), ids);
        autograd_step_end();
    }
    ASSERT_EQ_INT(dev.queue_ptr, 2);
    ASSERT_EQ_INT(dev.queue_ptr, cpu.queue_ptr);
    ASSERT(memcmp(dev.idx_queue, cpu.idx_queue, (size_t)Q * sizeof(int64_t)) == 0);
    float *got = malloc((size_t)(E * Q) * sizeof *got);
    device_copy(got, DEVICE_CPU, dev.image_queue, DEVICE_CUDA, (size_t)(E * Q) * sizeof *got);
    ASSERT(memcmp(got, cpu.image_queue, (size_t)(E * Q) * sizeof *got) == 0);
    device_copy(got, DEVICE_CPU, dev.text_queue, DEVICE_CUDA, (size_t)(E * Q) * sizeof *got);
    ASSERT(memcmp(got, cpu.text_queue, (size_t)(E * Q) * sizeof *got) == 0);

    /* The checkpoint of the device model holds its queues. */
    char path[512];
    test_tmp_path(path, sizeof path, "albef_device_queues.safetensors");
    ASSERT_MSG(albef_save(&dev, path) == 0, "%s", error_message());
    Albef back;
    albef_init(&back, &c, 9);
    ASSERT_MSG(albef_load(&back, path) == 0, "%s", error_message());
    ASSERT(memcmp(back.image_queue, cpu.image_queue, (size_t)(E * Q) * sizeof(float)) == 0);
    ASSERT(memcmp(back.text_queue, cpu.text_queue, (size_t)(E * Q) * sizeof(float)) == 0);
    ASSERT_EQ_INT(back.queue_ptr, 2);
    free(got);
    albef_free(&back);
    albef_free(&dev);
    albef_free(&cpu);
}
