/* ALBEF's hard negatives drawn on the device (cuda/sampling.cu): the same
 * draws as the host's albef_sample_hard_negatives_rows, and an ALBEF
 * retrieval loss on the device that reads nothing back to draw them. Skips
 * without a GPU. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "autograd/device_kernels.h"
#include "autograd/grad_check.h"
#include "autograd/tape.h"
#include "core/device.h"
#include "core/error.h"
#include "core/rng.h"
#include "models/albef.h"
#include "tests/cuda_parity.h"
#include "tests/test.h"
#ifdef HAVE_CUDA
#include "cuda/backend.h"
#endif

/* Rows 4..8 of a batch of 12 against its 12 columns, inside logits of 19
 * columns (a queue after the batch), with repeated image ids; 64 streams. */
TEST(test_cuda_hard_negatives_are_the_hosts_draws) {
    if (!cuda_parity_ready()) return;
    enum { ROWS = 5, COLS = 12, WIDTH = 19, FIRST = 4 };
    const int64_t col_ids[COLS] = {7, 7, 3, 9, 9, 9, 1, 2, 2, 5, 6, 8};
    const int64_t *row_ids = col_ids + FIRST;
    Tensor *logits = tensor_random_uniform(SHAPE(ROWS, WIDTH), -4.0f, 4.0f, 5);
    Tensor *cand = tensor_new(DTYPE_I32, SHAPE(ROWS, COLS));
    float block[ROWS * COLS];
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < COLS; j++) {
            tensor_i32(cand)[r * COLS + j] = col_ids[j] != row_ids[r];
            block[r * COLS + j] = tensor_f32(logits)[r * WIDTH + j];
        }
    Tensor *dl = tensor_to_device(logits, DEVICE_CUDA), *dc = tensor_to_device(cand, DEVICE_CUDA);
    Tensor *dout = tensor_new_on(DEVICE_CUDA, DTYPE_I32, 1, (int64_t[]){ROWS});
    const DeviceKernels *k = device_kernels(DEVICE_CUDA, "test");
    int distinct = 0, last = -1;
    for (uint64_t stream = 0; stream < 64; stream++) {
        int32_t want[ROWS], got[ROWS];
        ASSERT_MSG(albef_sample_hard_negatives_rows(block, ROWS, COLS, row_ids, col_ids, FIRST, 11, stream, want) == 0,
                   "%s", error_message());
        k->sample_hard_negatives(tensor_f32(dl), WIDTH, ROWS, COLS, tensor_i32(dc), FIRST, 11, stream,
                                 tensor_i32(dout));
        tensor_copy_to_host(dout, got);
        for (int r = 0; r < ROWS; r++) {
            ASSERT_MSG(got[r] == want[r], "stream %llu row %d: device draws %d, host %d", (unsigned long long)stream,
                       r, got[r], want[r]);
            ASSERT(col_ids[got[r]] != row_ids[r]);
        }
        distinct += got[0] != last;
        last = got[0];
    }
    ASSERT_MSG(distinct > 8, "the draws hardly change with the stream (%d changes in 64)", distinct);
}

#ifdef HAVE_CUDA
static AlbefBatch tiny_batch(const ModelConfig *c, int64_t B, Device device, int64_t *image_ids) {
    AlbefBatch b;
    b.images = tensor_on(tensor_random_uniform(SHAPE(B, 3, c->image_size, c->image_size), -1.0f, 1.0f, 8), device);
    b.text_ids = tensor_new(DTYPE_I32, SHAPE(B, 8));
    b.text_mask = tensor_new(DTYPE_I32, SHAPE(B, 8));
    Rng r = rng_make(3, 1);
    for (int64_t k = 0; k < B * 8; k++) {
        tensor_i32(b.text_ids)[k] = (int32_t)rng_below(&r, (uint64_t)c->vocab_size);
        tensor_i32(b.text_mask)[k] = k % 8 < 6;
    }
    b.image_ids = image_ids;
    return b;
}
#endif

/* The whole retrieval loss on the device draws what the CPU draws, and its
 * window of device operations holds no device-to-host copy (the draws used
 * to read both similarity matrices back: a wait for the device in every
 * fine-tuning step). */
TEST(test_cuda_albef_loss_draws_negatives_without_reading_back) {
    if (!cuda_parity_ready()) return;
#ifdef HAVE_CUDA
    char path[512];
    snprintf(path, sizeof path, "%s/../../models/configs/albef-tiny.json", test_fixture_dir());
    ModelConfig c;
    ASSERT_MSG(model_config_load(&c, path) == 0, "%s", error_message());
    Albef cpu, dev;
    albef_init(&cpu, &c, 4);
    albef_init(&dev, &c, 4);
    albef_to_device(&dev, DEVICE_CUDA);
    enum { B = 6 };
    int64_t ids[B] = {10, 11, 11, 12, 13, 10};
    AlbefLossOptions o = {.alpha = 0.0f, .sample_seed = 9, .sample_stream = 2};
    AlbefLossOutput oc, od;
    AlbefBatch bc = tiny_batch(&c, B, DEVICE_CPU, ids), bd = tiny_batch(&c, B, DEVICE_CUDA, ids);
    ASSERT_MSG(albef_retrieval_loss(&cpu, &bc, &o, &oc) != NULL, "%s", error_message());
    cuda_profile_clear();
    cuda_profile_begin();
    ASSERT_MSG(albef_retrieval_loss(&dev, &bd, &o, &od) != NULL, "%s", error_message());
    cuda_profile_end();
    char text[8192];
    cuda_parity_profile_text(text, sizeof text, 200);
    cuda_profile_clear();
    ASSERT_MSG(strstr(text, "copy device to host") == NULL, "the loss reads the device back:\n%s", text);
    ASSERT(od.neg_image_for_text == NULL && od.neg_images->device == DEVICE_CUDA);
    int32_t got_img[B], got_txt[B];
    tensor_copy_to_host(od.neg_images, got_img);
    tensor_copy_to_host(od.neg_texts, got_txt);
    ASSERT(memcmp(got_img, oc.neg_image_for_text, sizeof got_img) == 0);
    ASSERT(memcmp(got_txt, oc.neg_text_for_image, sizeof got_txt) == 0);
    float lc, ld;
    tensor_copy_to_host(oc.itm, &lc);
    tensor_copy_to_host(od.itm, &ld);
    ASSERT_MSG(fabsf(lc - ld) <= 1e-4f * fabsf(lc), "ITM loss: device %g, CPU %g", ld, lc);
    autograd_step_end();
    albef_free(&dev);
    albef_free(&cpu);
#endif
}
