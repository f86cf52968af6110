/* bin/bench_images: image loading throughput of the training and eval input
 * pipelines (spec/albef_blip.md §5.5) on ~500x375 JPEGs like Flickr30K.
 *
 *   bench_images --make DIR [--count 32]   writes synthetic photo-like JPEGs (quality 90)
 *   bench_images --dir DIR [--images 600] [--size 384]
 *
 * The timed loop is what a data-loader worker does per image: read the file,
 * decode, then either the eval transform (resize to SxS, normalise) or the
 * training transform (RandomResizedCrop + flip + RandAugment(2,5) +
 * normalise) into a CHW float buffer. Images are spread over
 * OMP_NUM_THREADS threads (dynamic schedule). Prints one line per stage:
 *   <stage> <threads> <images/s> <images/s per thread> */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "data/image.h"
#include "data/transform.h"

/* Smooth large-scale colour fields, a few hard-edged shapes and mild grain:
 * JPEG sizes near real photos' (tens of KB at 500x375, quality 90). */
static int make_images(const char *dir, int count) {
    if (make_dirs(dir) != 0) return -1;
    for (int n = 0; n < count; n++) {
        Image img;
        if (image_create(&img, 500, 375, IMAGE_U8) != 0) return -1;
        Rng r = rng_make(42, (uint64_t)n);
        float f[6];
        for (int k = 0; k < 6; k++) f[k] = 0.005f + 0.03f * rng_uniform(&r);
        int cx = (int)rng_below(&r, 500), cy = (int)rng_below(&r, 375), rad = 40 + (int)rng_below(&r, 80);
        for (int y = 0; y < 375; y++)
            for (int x = 0; x < 500; x++) {
                uint8_t *p = image_u8(&img) + ((size_t)y * 500 + x) * 3;
                int inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
                for (int c = 0; c < 3; c++) {
                    float v = 128 + 90 * sinf(f[c] * x + f[c + 3] * y + c) + 12 * rng_normal(&r);
                    if (inside) v = 255 - v * 0.5f;
                    p[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        char path[4096];
        snprintf(path, sizeof path, "%s/img_%03d.jpg", dir, n);
        int rc = image_write_jpeg(path, &img, 90);
        image_free(&img);
        if (rc != 0) return -1;
    }
    return 0;
}

enum { STAGE_DECODE, STAGE_EVAL, STAGE_TRAIN };

/* Runs `images` loads over the files; returns images/s, or -1 on error. */
static double run_stage(int stage, char **paths, int n_files, int images, int size) {
    int failed = 0;
    double t0 = clock_seconds();
#pragma omp parallel
    {
        float *out = malloc(sizeof(float) * 3 * (size_t)size * size);
#pragma omp for schedule(dynamic, 4)
        for (int i = 0; i < images; i++) {
            Image img;
            if (image_read(paths[i % n_files], &img) != 0) {
#pragma omp critical
                {
                    fprintf(stderr, "error: %s\n", error_message());
                    failed = 1;
                }
                continue;
            }
            int rc = 0;
            if (stage == STAGE_EVAL) rc = transform_eval(&img, size, out);
            if (stage == STAGE_TRAIN) rc = transform_train(&img, size, 7, 0, (uint64_t)i, out, NULL);
            if (rc != 0) failed = 1;
            image_free(&img);
        }
        free(out);
    }
    double dt = clock_seconds() - t0;
    return failed ? -1 : images / dt;
}

int main(int argc, char **argv) {
    const char *make_dir = NULL, *dir = NULL;
    int count = 32, images = 600, size = 384;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--make") && i + 1 < argc) make_dir = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--images") && i + 1 < argc) images = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = atoi(argv[++i]);
        else {
            printf("usage: bench_images --make DIR [--count 32]\n"
                   "       bench_images --dir DIR [--images 600] [--size 384]\n"
                   "  --make DIR    write --count synthetic 500x375 quality-90 JPEGs into DIR\n"
                   "  --dir DIR     time decode / eval / train pipelines over DIR/img_*.jpg\n"
                   "  --images N    loads per stage (default 600)\n"
                   "  --size S      output side (default 384)\n"
                   "threads: OMP_NUM_THREADS\n");
            return strcmp(argv[i], "--help") ? 2 : 0;
        }
    }
    if (make_dir) {
        error_exit_if(make_images(make_dir, count));
        return 0;
    }
    if (!dir) fatal("give --make DIR or --dir DIR (see --help)");
    char **paths = malloc(sizeof(char *) * (size_t)count);
    int n_files = 0;
    size_t bytes = 0;
    for (int k = 0; k < count; k++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/img_%03d.jpg", dir, k);
        size_t sz;
        char *buf = file_read_all(p, &sz);
        if (!buf) break;
        free(buf);
        bytes += sz;
        paths[n_files++] = strdup(p);
    }
    if (n_files == 0) fatal("%s: no img_*.jpg (run --make first)", dir);
    int threads = omp_get_max_threads();
    printf("# %d files, mean %.0f KB, output %dx%d, %d threads\n", n_files, bytes / 1024.0 / n_files, size, size,
           threads);
    const char *names[3] = {"decode", "decode+eval", "decode+train"};
    run_stage(STAGE_TRAIN, paths, n_files, n_files, size); /* warm the page cache and allocator */
    for (int s = 0; s < 3; s++) {
        double ips = run_stage(s, paths, n_files, images, size);
        if (ips < 0) return 1;
        printf("%s %d %.1f %.1f\n", names[s], threads, ips, ips / threads);
    }
    for (int k = 0; k < n_files; k++) free(paths[k]);
    free(paths);
    return 0;
}
