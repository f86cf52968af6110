/* safetensors: round trip, the writer's byte layout, every dtype of the
 * hand-built fixtures (scripts/make_safetensors_fixtures.py), conversions
 * against PyTorch, and one clear error for each kind of corrupt file. */
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fileio.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "core/tensor.h"
#include "tests/test.h"

static char *fixture(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/safetensors/%s", test_fixture_dir(), name);
    return buf;
}

/* Scratch files are written plainly: the atomic writer's fsync would make the
 * hundreds of files these tests write take seconds. */
static void write_bytes(const char *path, const void *data, size_t size) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp && fwrite(data, 1, size, fp) == size && fclose(fp) == 0, "cannot write %s", path);
}

/* Writes a file with the given header text (padded to 8 as a writer would)
 * followed by `data_len` bytes of 0x11. */
static void write_raw(const char *path, const char *header, size_t data_len) {
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    size_t total = 8 + padded + data_len;
    unsigned char *buf = malloc(total);
    for (int k = 0; k < 8; k++) buf[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(buf + 8, header, n);
    memset(buf + 8 + n, ' ', padded - n);
    memset(buf + 8 + padded, 0x11, data_len);
    write_bytes(path, buf, total);
    free(buf);
}

/* Opens `path`, which must fail; returns the message (empty after success). */
static const char *open_error(const char *path) {
    SafetensorsFile f;
    if (safetensors_open(&f, path) == 0) {
        safetensors_close(&f);
        return "";
    }
    return error_message();
}

static const char *raw_error(const char *header, size_t data_len) {
    static char path[512];
    test_tmp_path(path, sizeof path, "raw.safetensors");
    write_raw(path, header, data_len);
    return open_error(path);
}

TEST(test_safetensors_round_trip_keeps_names_shapes_values_and_metadata) {
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, 1e-20f, -7.0f};
    int32_t ids[3] = {-5, 0, 2147483647};
    int64_t big[2] = {-1, (int64_t)1 << 50};
    uint16_t half[2] = {0x3F80, 0xC000}; /* bf16 1, -2 */
    StWriteTensor in[] = {
        {"layer.weight", ST_F32, SHAPE(2, 3), w},
        {"ids", ST_I32, SHAPE(3), ids},
        {"big", ST_I64, SHAPE(2), big},
        {"half", ST_BF16, SHAPE(1, 2), half},
    };
    StMetaEntry meta[] = {{"step", "1200"}, {"format", "pt"}};
    char path[512];
    test_tmp_path(path, sizeof path, "round.safetensors");
    ASSERT_MSG(safetensors_write(path, in, 4, meta, 2) == 0, "%s", error_message());

    SafetensorsFile f;
    ASSERT_MSG(safetensors_open(&f, path) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.count, 4);
    const StTensorInfo *t = safetensors_find(&f, "layer.weight");
    ASSERT(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    float w2[6];
    ASSERT(safetensors_read_f32(&f, t, w2, 6) == 0);
    ASSERT(memcmp(w, w2, sizeof w) == 0);
    int32_t ids2[3];
    ASSERT(safetensors_read_i32(&f, safetensors_find(&f, "ids"), ids2, 3) == 0);
    ASSERT(memcmp(ids, ids2, sizeof ids) == 0);
    int64_t big2[2];
    ASSERT(safetensors_read_i64(&f, safetensors_find(&f, "big"), big2, 2) == 0);
    ASSERT(memcmp(big, big2, sizeof big) == 0);
    float h[2];
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "half"), h, 2) == 0);
    ASSERT(h[0] == 1.0f && h[1] == -2.0f);
    ASSERT(strcmp(safetensors_meta_get(&f, "step"), "1200") == 0);
    ASSERT(strcmp(safetensors_meta_get(&f, "format"), "pt") == 0);
    ASSERT(safetensors_meta_get(&f, "absent") == NULL);
    safetensors_close(&f);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    ASSERT(!file_exists(tmp));
}

TEST(test_safetensors_writer_output_is_byte_identical_to_hf_layout) {
    float weight[4] = {1, 2, 3, 4}, bias[2] = {-0.5f, 0.25f};
    int64_t ids[3] = {3, 1, 2};
    uint16_t half[3] = {0x3F80, 0x4000, 0xBF80};
    int32_t idx[2] = {7, -7};
    /* Given in an order unlike the file's: the writer must sort as Hugging Face does. */
    StWriteTensor in[] = {
        {"half", ST_BF16, SHAPE(3), half}, {"b.weight", ST_F32, SHAPE(2, 2), weight},
        {"idx", ST_I32, SHAPE(2), idx},    {"a.bias", ST_F32, SHAPE(2), bias},
        {"ids", ST_I64, SHAPE(3), ids},
    };
    StMetaEntry meta[] = {{"format", "pt"}};
    char path[512], ref[512];
    test_tmp_path(path, sizeof path, "hf.safetensors");
    ASSERT_MSG(safetensors_write(path, in, 5, meta, 1) == 0, "%s", error_message());
    size_t n_ours, n_ref;
    char *ours = file_read_all(path, &n_ours);
    char *want = file_read_all(fixture(ref, sizeof ref, "hf_layout.safetensors"), &n_ref);
    ASSERT_MSG(want != NULL, "%s", error_message());
    int same = ours && n_ours == n_ref && memcmp(ours, want, n_ref) == 0;
    if (!same) test_fail(__FILE__, __LINE__, "ours (%zu bytes):\n%s\nwant (%zu bytes):\n%s", n_ours,
                         ours ? ours + 8 : "", n_ref, want + 8);
    free(ours);
    free(want);
}

TEST(test_safetensors_header_is_space_padded_to_multiple_of_8) {
    float v = 1.0f;
    char path[512];
    test_tmp_path(path, sizeof path, "pad.safetensors");
    for (int len = 1; len <= 8; len++) { /* name lengths cover every remainder mod 8 */
        char name[16];
        memset(name, 'x', (size_t)len);
        name[len] = '\0';
        StWriteTensor t = {name, ST_F32, 0, NULL, &v};
        ASSERT(safetensors_write(path, &t, 1, NULL, 0) == 0);
        size_t size;
        unsigned char *bytes = (unsigned char *)file_read_all(path, &size);
        uint64_t header_len = 0;
        for (int k = 7; k >= 0; k--) header_len = (header_len << 8) | bytes[k];
        int ok = header_len % 8 == 0 && size == 8 + header_len + 4 && bytes[8 + header_len - 1] != '\0';
        size_t brace = header_len;
        while (brace > 0 && bytes[8 + brace - 1] == ' ') brace--;
        ok = ok && bytes[8 + brace - 1] == '}' && header_len - brace < 8;
        free(bytes);
        ASSERT_MSG(ok, "name length %d: header length %llu not padded with spaces to 8", len,
                   (unsigned long long)header_len);
    }
}

TEST(test_safetensors_reads_each_dtype_of_hand_built_fixture) {
    char path[512];
    SafetensorsFile f;
    ASSERT_MSG(safetensors_open(&f, fixture(path, sizeof path, "dtypes.safetensors")) == 0, "%s", error_message());
    ASSERT_EQ_INT(f.count, 8);
    float f32[6], want32[6] = {0.0f, 1.0f, -2.5f, 3.25f, 1.5e-30f, 65504.0f};
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "f32"), f32, 6) == 0);
    ASSERT(memcmp(f32, want32, sizeof f32) == 0);
    float f16[7];
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "f16"), f16, 7) == 0);
    ASSERT(f16[0] == 1.0f && f16[1] == -2.0f && f16[2] == ldexpf(1.0f, -24) && f16[3] == 65504.0f);
    ASSERT(isinf(f16[4]) && f16[4] > 0 && f16[5] == 0.0f && signbit(f16[5]) && f16[6] == 0.333251953125f);
    float bf[4];
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "bf16"), bf, 4) == 0);
    ASSERT(bf[0] == 1.0f && bf[1] == -3.0f && bf[2] == 0.15625f && isinf(bf[3]));
    int64_t i64[3];
    ASSERT(safetensors_read_i64(&f, safetensors_find(&f, "i64"), i64, 3) == 0);
    ASSERT(i64[0] == -1 && i64[1] == (int64_t)1 << 40 && i64[2] == 7);
    int32_t i32[2];
    ASSERT(safetensors_read_i32(&f, safetensors_find(&f, "i32"), i32, 2) == 0);
    ASSERT(i32[0] == INT32_MIN && i32[1] == 123456);
    int32_t mask[4];
    ASSERT(safetensors_read_i32(&f, safetensors_find(&f, "mask"), mask, 4) == 0);
    ASSERT(mask[0] == 1 && mask[1] == 0 && mask[2] == 0 && mask[3] == 1);
    const StTensorInfo *s = safetensors_find(&f, "scalar");
    float scalar;
    ASSERT(s && s->ndim == 0 && s->numel == 1 && safetensors_read_f32(&f, s, &scalar, 1) == 0 && scalar == 42.0f);
    const StTensorInfo *e = safetensors_find(&f, "empty");
    ASSERT(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3 && e->numel == 0);
    ASSERT_EQ_INT(f.meta_count, 2);
    ASSERT(strcmp(safetensors_meta_get(&f, "source"), "hand-built") == 0);
    safetensors_close(&f);
}

TEST(test_safetensors_half_conversions_match_torch) {
    char path[512];
    SafetensorsFile f;
    ASSERT_MSG(safetensors_open(&f, fixture(path, sizeof path, "torch_cast.safetensors")) == 0, "%s",
               error_message());
    const char *pairs[2][2] = {{"bf16", "bf16_as_f32"}, {"f16", "f16_as_f32"}};
    for (int p = 0; p < 2; p++) {
        const StTensorInfo *half = safetensors_find(&f, pairs[p][0]), *wide = safetensors_find(&f, pairs[p][1]);
        ASSERT(half && wide && half->numel == wide->numel && half->numel <= 64);
        float ours[64], torch[64];
        ASSERT(safetensors_read_f32(&f, half, ours, half->numel) == 0);
        ASSERT(safetensors_read_f32(&f, wide, torch, wide->numel) == 0);
        for (int64_t k = 0; k < half->numel; k++) /* bitwise: also compares -0 and inf */
            ASSERT_MSG(memcmp(&ours[k], &torch[k], 4) == 0, "%s[%lld]: %.9g vs torch %.9g", pairs[p][0],
                       (long long)k, ours[k], torch[k]);
    }
    safetensors_close(&f);
}

TEST(test_safetensors_conversion_helpers_refuse_wrong_type_or_count) {
    char path[512];
    SafetensorsFile f;
    ASSERT(safetensors_open(&f, fixture(path, sizeof path, "dtypes.safetensors")) == 0);
    int32_t i32[3];
    ASSERT(safetensors_read_i32(&f, safetensors_find(&f, "i64"), i32, 3) < 0);
    ASSERT_STR_CONTAINS(error_message(), "\"i64\": element 1: 1099511627776 does not fit in int32");
    float v[3];
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "i64"), v, 3) < 0);
    ASSERT_STR_CONTAINS(error_message(), "dtype I64 is not a float type");
    ASSERT(safetensors_read_f32(&f, safetensors_find(&f, "f32"), v, 3) < 0);
    ASSERT_STR_CONTAINS(error_message(), "\"f32\": holds 6 elements, the destination 3");
    safetensors_close(&f);
}

TEST(test_safetensors_truncated_files_fail_with_message_naming_file) {
    char path[512], cut[512];
    size_t size;
    char *bytes = file_read_all(fixture(path, sizeof path, "dtypes.safetensors"), &size);
    ASSERT(bytes != NULL);
    test_tmp_path(cut, sizeof cut, "cut.safetensors");
    /* Every cut inside the length field and the header's start, then a sample
     * through the rest (each file write costs a file-system round trip). */
    for (size_t n = 0; n < size; n += n < 24 ? 1 : 11) {
        write_bytes(cut, bytes, n);
        const char *msg = open_error(cut);
        ASSERT_MSG(msg[0] != '\0', "a file cut to %zu of %zu bytes opened", n, size);
        ASSERT_STR_CONTAINS(msg, cut);
    }
    write_bytes(cut, bytes, size - 1);
    ASSERT_STR_CONTAINS(open_error(cut), "tensor \"i32\": data_offsets [78, 86] out of range of the 85-byte data region");
    write_bytes(cut, bytes, 5);
    ASSERT_STR_CONTAINS(open_error(cut), "shorter than the 8-byte header length");
    free(bytes);
}

TEST(test_safetensors_rejects_oversized_header_length) {
    char path[512];
    test_tmp_path(path, sizeof path, "huge.safetensors");
    unsigned char bytes[16] = {0, 0, 0, 0, 0, 0, 0, 0x10, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    write_bytes(path, bytes, sizeof bytes);
    ASSERT_STR_CONTAINS(open_error(path), "exceeds the 100 MiB limit");
    bytes[7] = 0;
    bytes[0] = 200; /* below the cap but past the end of the file */
    write_bytes(path, bytes, sizeof bytes);
    ASSERT_STR_CONTAINS(open_error(path), "header length 200 runs past the end of the 16-byte file");
}

TEST(test_safetensors_rejects_overlapping_offsets_naming_both_tensors) {
    const char *msg = raw_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                                12);
    ASSERT_STR_CONTAINS(msg, "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\" [0, 8]");
}

TEST(test_safetensors_rejects_offsets_out_of_range) {
    const char *msg = raw_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
    ASSERT_STR_CONTAINS(msg, "tensor \"w\": data_offsets [0, 16] out of range of the 12-byte data region");
    msg = raw_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 12);
    ASSERT_STR_CONTAINS(msg, "tensor \"w\": data_offsets [8, 4] begin after end");
}

TEST(test_safetensors_rejects_shape_and_size_mismatch) {
    const char *msg = raw_error("{\"w\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24);
    ASSERT_STR_CONTAINS(msg, "tensor \"w\": data_offsets span 24 bytes but shape and dtype BF16 need 12");
}

TEST(test_safetensors_rejects_bad_json_with_line_and_column) {
    const char *msg = raw_error("{\"w\":{\"dtype\":\"F32\",\n\"shape\":[1],,}}", 4);
    ASSERT_STR_CONTAINS(msg, "raw.safetensors: header: line 2, column");
    ASSERT_STR_CONTAINS(msg, "malformed JSON");
}

/* The remaining ways a header can be wrong, each with the reason it must name. */
TEST(test_safetensors_rejects_each_malformed_entry_with_its_reason) {
    static const struct {
        const char *header;
        size_t data_len;
        const char *reason;
    } cases[] = {
        {"[1,2]", 0, "header is not a JSON object"},
        {"{\"w\":3}", 0, "tensor \"w\": entry is not a JSON object"},
        {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor \"w\": \"dtype\" is missing"},
        {"{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype \"F64\""},
        {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "tensor \"w\": \"shape\" is missing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0] is not a non-negative"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0] is not a non-negative"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "\"data_offsets\" is not a pair"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "\"data_offsets\" is not a pair"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
         "shape overflows"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "leaving a gap after byte 0"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
         "data region has 8 bytes but its tensors cover 4"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "tensor \"w\": name appears twice"},
        {"{\"__metadata__\":{\"step\":12}}", 0, "__metadata__: value of \"step\" is not a string"},
        {"{\"__metadata__\":[]}", 0, "__metadata__ is not a JSON object"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *msg = raw_error(cases[k].header, cases[k].data_len);
        ASSERT_MSG(strstr(msg, cases[k].reason) && strstr(msg, "raw.safetensors"),
                   "case %zu: \"%s\" lacks \"%s\"", k, msg, cases[k].reason);
    }
}

/* Random byte changes in the header must give a clean error or a valid file
 * (run under ASan, a crash or overread here fails the suite). */
TEST(test_safetensors_mutated_headers_never_crash) {
    char path[512], out[512];
    size_t size;
    unsigned char *bytes = (unsigned char *)file_read_all(fixture(path, sizeof path, "dtypes.safetensors"), &size);
    ASSERT(bytes != NULL);
    test_tmp_path(out, sizeof out, "mutated.safetensors");
    Rng rng = rng_make(7, 0);
    const char alphabet[] = "{}[],:\"0123456789-.eE \\aF";
    for (int trial = 0; trial < 150; trial++) {
        unsigned char *m = malloc(size);
        memcpy(m, bytes, size);
        for (int flips = 1 + (int)rng_below(&rng, 3); flips > 0; flips--) {
            size_t at = 8 + rng_below(&rng, 160); /* inside the header */
            m[at] = (unsigned char)alphabet[rng_below(&rng, sizeof alphabet - 1)];
        }
        write_bytes(out, m, size);
        SafetensorsFile f;
        if (safetensors_open(&f, out) == 0) {
            float buf[8];
            for (int k = 0; k < f.count; k++)
                if (f.tensors[k].numel <= 8) (void)safetensors_read_f32(&f, &f.tensors[k], buf, f.tensors[k].numel);
            safetensors_close(&f);
        } else {
            ASSERT_STR_CONTAINS(error_message(), "mutated.safetensors");
        }
        free(m);
    }
    free(bytes);
}

TEST(test_safetensors_write_refuses_duplicate_names_and_leaves_no_file) {
    float v[2] = {1, 2};
    StWriteTensor in[] = {{"w", ST_F32, SHAPE(2), v}, {"w", ST_F32, SHAPE(2), v}};
    char path[512];
    test_tmp_path(path, sizeof path, "dup.safetensors");
    ASSERT(safetensors_write(path, in, 2, NULL, 0) < 0);
    ASSERT_STR_CONTAINS(error_message(), "dup.safetensors: tensor \"w\": name given twice");
    ASSERT(!file_exists(path));
}
