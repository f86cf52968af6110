/* ParamSet checkpoints: round trip, strict and non-strict loading, BF16
 * widening, prefix mapping. */
#include <stdlib.h>

#include "autograd/params_io.h"
#include "core/error.h"
#include "core/log.h"
#include "tests/test.h"

/* A two-layer model: "enc.w" [2, 3], "enc.b" [3], "head.w" [3, 2]. */
static void make_model(ParamSet *ps, int with_head) {
    params_init(ps);
    params_add(ps, "enc.w", SHAPE(2, 3));
    params_add(ps, "enc.b", SHAPE(3));
    if (with_head) params_add(ps, "head.w", SHAPE(3, 2));
    params_finalize(ps);
}

static void fill(ParamSet *ps, float base) {
    for (int64_t k = 0; k < ps->total; k++) ps->values[k] = base + 0.5f * (float)k;
}

/* Log output goes to a scratch file during these tests, so warnings do not
 * clutter the test report. */
static FILE *quiet_log(void) {
    FILE *fp = tmpfile();
    log_set_console(fp);
    return fp;
}

static void restore_log(FILE *fp) {
    log_set_console(NULL);
    if (fp) fclose(fp);
}

TEST(test_params_io_round_trip_restores_values_and_metadata) {
    ParamSet a, b;
    make_model(&a, 1);
    make_model(&b, 1);
    fill(&a, 1.0f);
    char path[512];
    test_tmp_path(path, sizeof path, "model.safetensors");
    StMetaEntry meta[] = {{"model", "tiny"}};
    ASSERT_MSG(params_save(&a, path, meta, 1) == 0, "%s", error_message());
    ParamsLoadReport r;
    ASSERT_MSG(params_load(&b, path, params_load_defaults(), &r) == 0, "%s", error_message());
    ASSERT_EQ_INT(r.loaded, 3);
    ASSERT_EQ_INT(r.missing + r.unexpected + r.mismatched, 0);
    ASSERT(memcmp(a.values, b.values, (size_t)a.total * sizeof(float)) == 0);
    SafetensorsFile f;
    ASSERT(safetensors_open(&f, path) == 0);
    ASSERT(strcmp(safetensors_meta_get(&f, "model"), "tiny") == 0);
    ASSERT(safetensors_find(&f, "head.w") && safetensors_find(&f, "head.w")->shape[0] == 3);
    safetensors_close(&f);
    params_load_report_free(&r);
    params_free(&a);
    params_free(&b);
}

TEST(test_params_io_strict_load_lists_every_offending_name_and_changes_nothing) {
    /* File: enc.w [3, 2] (transposed), enc.b, extra "pooler.w"; model also wants head.w. */
    float w[6] = {0}, bias[3] = {0}, pooler[4] = {0};
    StWriteTensor in[] = {{"enc.w", ST_F32, SHAPE(3, 2), w},
                          {"enc.b", ST_F32, SHAPE(3), bias},
                          {"pooler.w", ST_F32, SHAPE(2, 2), pooler}};
    char path[512];
    test_tmp_path(path, sizeof path, "bad.safetensors");
    ASSERT(safetensors_write(path, in, 3, NULL, 0) == 0);
    ParamSet ps;
    make_model(&ps, 1);
    fill(&ps, 7.0f);
    ASSERT(params_load(&ps, path, params_load_defaults(), NULL) < 0);
    const char *msg = error_message();
    ASSERT_STR_CONTAINS(msg, "bad.safetensors: checkpoint does not match the model (1 missing, 1 unexpected, 1 wrong");
    ASSERT_STR_CONTAINS(msg, "missing: head.w [3, 2]");
    ASSERT_STR_CONTAINS(msg, "unexpected: pooler.w F32 [2, 2]");
    ASSERT_STR_CONTAINS(msg, "wrong shape: enc.w: expected [2, 3], found [3, 2]");
    /* enc.b matched, yet nothing may be copied when the load fails. */
    for (int64_t k = 0; k < ps.total; k++) ASSERT(ps.values[k] == 7.0f + 0.5f * (float)k);
    params_free(&ps);
}

TEST(test_params_io_non_strict_load_counts_and_names_skipped_tensors) {
    ParamSet full, part;
    make_model(&full, 1);
    fill(&full, 1.0f);
    char path[512];
    test_tmp_path(path, sizeof path, "full.safetensors");
    ASSERT(params_save(&full, path, NULL, 0) == 0);
    make_model(&part, 0); /* no head: head.w in the file is extra */
    ParamsLoadOptions opt = params_load_defaults();
    opt.strict = 0;
    ParamsLoadReport r;
    FILE *log = quiet_log();
    int rc = params_load(&part, path, opt, &r);
    char logged[2048] = {0};
    rewind(log);
    size_t n = fread(logged, 1, sizeof logged - 1, log);
    logged[n] = '\0';
    restore_log(log);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT_EQ_INT(r.loaded, 2);
    ASSERT_EQ_INT(r.unexpected, 1);
    ASSERT_EQ_INT(r.missing, 0);
    ASSERT_STR_CONTAINS(r.details, "unexpected: head.w F32 [3, 2]");
    ASSERT_STR_CONTAINS(logged, "loaded 2 tensors; skipped 0 missing, 1 unexpected");
    ASSERT(memcmp(part.values, full.values, (size_t)part.total * sizeof(float)) == 0);
    params_load_report_free(&r);
    params_free(&full);
    params_free(&part);
}

TEST(test_params_io_widens_bf16_and_f16_tensors_on_load) {
    uint16_t w[6] = {0x3F80, 0xC000, 0x3E20, 0x0000, 0x4040, 0xBF00}; /* 1 -2 0.15625 0 3 -0.5 */
    uint16_t b[3] = {0x3C00, 0xB800, 0x4200};                         /* f16: 1 -0.5 3 */
    StWriteTensor in[] = {{"enc.w", ST_BF16, SHAPE(2, 3), w}, {"enc.b", ST_F16, SHAPE(3), b}};
    char path[512];
    test_tmp_path(path, sizeof path, "half.safetensors");
    ASSERT(safetensors_write(path, in, 2, NULL, 0) == 0);
    ParamSet ps;
    make_model(&ps, 0);
    ASSERT_MSG(params_load(&ps, path, params_load_defaults(), NULL) == 0, "%s", error_message());
    float want[9] = {1, -2, 0.15625f, 0, 3, -0.5f, 1, -0.5f, 3};
    ASSERT_CLOSE_ARRAY(ps.values, want, 9, 1e-12, 0.0); /* exact: tolerance only avoids 0/0 */
    params_free(&ps);
}

TEST(test_params_io_refuses_integer_tensor_for_a_parameter) {
    int32_t b[3] = {1, 2, 3};
    float w[6] = {0};
    StWriteTensor in[] = {{"enc.w", ST_F32, SHAPE(2, 3), w}, {"enc.b", ST_I32, SHAPE(3), b}};
    char path[512];
    test_tmp_path(path, sizeof path, "int.safetensors");
    ASSERT(safetensors_write(path, in, 2, NULL, 0) == 0);
    ParamSet ps;
    make_model(&ps, 0);
    ASSERT(params_load(&ps, path, params_load_defaults(), NULL) < 0);
    ASSERT_STR_CONTAINS(error_message(), "wrong dtype: enc.b: expected a float type, found I32");
    params_free(&ps);
}

TEST(test_params_io_prefix_mapping_loads_one_submodule_from_another_file) {
    /* A checkpoint whose encoder is stored under "module.visual." loads into
     * our "enc." parameters; "head.w" (outside the prefix) is neither loaded
     * nor reported missing, and the file's "text.*" tensors are not extra. */
    float w[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {-1, -2, -3}, other[2] = {9, 9};
    StWriteTensor in[] = {{"module.visual.w", ST_F32, SHAPE(2, 3), w},
                          {"module.visual.b", ST_F32, SHAPE(3), bias},
                          {"text.w", ST_F32, SHAPE(2), other}};
    char path[512];
    test_tmp_path(path, sizeof path, "prefixed.safetensors");
    ASSERT(safetensors_write(path, in, 3, NULL, 0) == 0);
    ParamSet ps;
    make_model(&ps, 1);
    fill(&ps, 100.0f);
    ParamsLoadOptions opt = params_load_defaults();
    opt.file_prefix = "module.visual.";
    opt.param_prefix = "enc.";
    ParamsLoadReport r;
    ASSERT_MSG(params_load(&ps, path, opt, &r) == 0, "%s", error_message());
    ASSERT_EQ_INT(r.loaded, 2);
    ASSERT_CLOSE_ARRAY(tensor_f32(params_find(&ps, "enc.w")), w, 6, 1e-12, 0.0);
    ASSERT_CLOSE_ARRAY(tensor_f32(params_find(&ps, "enc.b")), bias, 3, 1e-12, 0.0);
    ASSERT(tensor_f32(params_find(&ps, "head.w"))[0] == 100.0f + 0.5f * 9);
    params_load_report_free(&r);
    params_free(&ps);
}

TEST(test_params_io_strict_error_lists_many_names_then_counts_the_rest) {
    ParamSet ps;
    params_init(&ps);
    char name[64];
    for (int k = 0; k < 200; k++) {
        snprintf(name, sizeof name, "blocks.%d.attention.output.dense.weight", k);
        params_add(&ps, name, SHAPE(1));
    }
    params_finalize(&ps);
    float v = 1;
    StWriteTensor in[] = {{"unrelated", ST_F32, SHAPE(1), &v}};
    char path[512];
    test_tmp_path(path, sizeof path, "few.safetensors");
    ASSERT(safetensors_write(path, in, 1, NULL, 0) == 0);
    ParamsLoadReport r;
    ASSERT(params_load(&ps, path, params_load_defaults(), &r) < 0);
    ASSERT_STR_CONTAINS(error_message(), "(200 missing, 1 unexpected");
    ASSERT_STR_CONTAINS(error_message(), "missing: blocks.0.attention.output.dense.weight [1]");
    ASSERT_STR_CONTAINS(error_message(), "more\n");
    ASSERT_STR_CONTAINS(r.details, "missing: blocks.199.attention.output.dense.weight [1]");
    params_load_report_free(&r);
    params_free(&ps);
}

TEST(test_params_io_nonfinite_values_are_named_and_refused_unless_allowed) {
    ParamSet a, b;
    make_model(&a, 1);
    make_model(&b, 1);
    fill(&a, 1.0f);
    a.values[10] = NAN; /* head.w, element 1 (enc.w 6 + enc.b 3 come first) */
    a.values[11] = INFINITY;
    char path[512];
    test_tmp_path(path, sizeof path, "nan_model.safetensors");
    ASSERT_MSG(params_save(&a, path, NULL, 0) == 0, "%s", error_message());
    fill(&b, -5.0f);
    FILE *log = quiet_log();
    int rc = params_load(&b, path, params_load_defaults(), NULL);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", error_message());
    rewind(log);
    char logged[1024] = "";
    logged[fread(logged, 1, sizeof logged - 1, log)] = '\0';
    ASSERT(rc == -1);
    ASSERT_STR_CONTAINS(msg, "nan_model.safetensors: 1 tensor(s) hold NaN or infinite values (first: head.w)");
    ASSERT_STR_CONTAINS(msg, "--allow-nonfinite");
    ASSERT_STR_CONTAINS(logged, "tensor head.w holds 2 non-finite value(s) of 6 (first at element 1: nan)");
    ASSERT(b.values[0] == -5.0f); /* refused before anything was copied */
    params_allow_nonfinite(1);
    rc = params_load(&b, path, params_load_defaults(), NULL);
    params_allow_nonfinite(0);
    restore_log(log);
    ASSERT_MSG(rc == 0, "%s", error_message());
    ASSERT(isnan(b.values[10]) && b.values[0] == 1.0f);
    params_free(&a);
    params_free(&b);
}
