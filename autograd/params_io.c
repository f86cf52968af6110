#include "autograd/params_io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/device.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/log.h"

/* The error buffer holds 2 KiB; a long list is cut here with a count of the rest
 * (the report's `details` keeps all of it). */
#define ERROR_LIST_BYTES 1500

ParamsLoadOptions params_load_defaults(void) { return (ParamsLoadOptions){.strict = 1}; }

void params_load_report_free(ParamsLoadReport *r) {
    free(r->details);
    memset(r, 0, sizeof *r);
}

int params_save(const ParamSet *ps, const char *path, const StMetaEntry *meta, int meta_count) {
    CHECK(ps->finalized, "saving parameters before params_finalize");
    StWriteTensor *out = malloc((size_t)(ps->count ? ps->count : 1) * sizeof *out);
    CHECK(out != NULL, "out of memory");
    /* Device parameters are written from one host copy of the value block. */
    float *host = NULL;
    if (ps->device != DEVICE_CPU) {
        host = malloc((size_t)(ps->total ? ps->total : 1) * sizeof *host);
        CHECK(host != NULL, "out of memory");
        device_copy(host, DEVICE_CPU, ps->values, ps->device, (size_t)ps->total * sizeof *host);
    }
    for (int k = 0; k < ps->count; k++) {
        const Tensor *t = ps->items[k];
        const void *data = host ? (const void *)(host + params_offset(ps, t)) : t->data;
        out[k] = (StWriteTensor){t->name, ST_F32, t->ndim, t->shape, data};
    }
    int rc = safetensors_write(path, out, ps->count, meta, meta_count);
    free(out);
    free(host);
    return rc;
}

static void print_info_shape(FILE *s, const StTensorInfo *t) {
    fputc('[', s);
    for (int d = 0; d < t->ndim; d++) fprintf(s, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    fputc(']', s);
}

static int info_matches(const StTensorInfo *t, const Tensor *p) {
    if (t->ndim != p->ndim) return 0;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] != p->shape[d]) return 0;
    return 1;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* Copies the first lines of `details` that fit in ERROR_LIST_BYTES into `out`,
 * then "  ... and N more". */
static void clip_lines(const char *details, char *out, size_t size) {
    size_t n = 0;
    const char *p = details;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
        if (n + len >= ERROR_LIST_BYTES || n + len >= size) break;
        memcpy(out + n, p, len);
        n += len;
        p += len;
    }
    out[n] = '\0';
    int rest = 0;
    for (const char *q = p; *q; q++) rest += *q == '\n';
    if (rest > 0) snprintf(out + n, size - n, "  ... and %d more\n", rest);
}

static int allow_nonfinite;

void params_allow_nonfinite(int allow) { allow_nonfinite = allow; }

/* Reads every planned tensor once into scratch and names those holding NaN or
 * ±inf: a warning each, and an error unless allowed. Done before anything is
 * copied, so a refused file leaves the set unchanged. */
static int check_finite_sources(const SafetensorsFile *f, const StTensorInfo *const *source, const ParamSet *ps) {
    int64_t largest = 1;
    for (int k = 0; k < ps->count; k++)
        if (source[k] && source[k]->numel > largest) largest = source[k]->numel;
    float *scratch = malloc((size_t)largest * sizeof *scratch);
    CHECK(scratch, "out of memory");
    int n_bad = 0;
    const char *first = NULL;
    for (int k = 0; k < ps->count; k++) {
        const StTensorInfo *t = source[k];
        if (!t) continue;
        CHECK(safetensors_read_f32(f, t, scratch, t->numel) == 0, "%s", error_message());
        int64_t bad = finite_count_bad_f32(scratch, t->numel);
        if (bad == 0) continue;
        int64_t at = finite_first_bad_f32(scratch, t->numel);
        log_warn("%s: tensor %s holds %lld non-finite value(s) of %lld (first at element %lld: %g)", f->path, t->name,
                 (long long)bad, (long long)t->numel, (long long)at, scratch[at]);
        if (n_bad++ == 0) first = t->name;
    }
    free(scratch);
    if (n_bad == 0 || allow_nonfinite) return 0;
    return error_set("%s: %d tensor(s) hold NaN or infinite values (first: %s); a model with them gives meaningless "
                     "results (--allow-nonfinite loads it anyway)",
                     f->path, n_bad, first);
}

int params_load(ParamSet *ps, const char *path, ParamsLoadOptions opt, ParamsLoadReport *report) {
    CHECK(ps->finalized, "loading parameters before params_finalize");
    const char *file_prefix = opt.file_prefix ? opt.file_prefix : "";
    const char *param_prefix = opt.param_prefix ? opt.param_prefix : "";
    SafetensorsFile f;
    if (safetensors_open(&f, path) < 0) return -1;

    /* Plan every copy first, so a failed strict load changes nothing. */
    const StTensorInfo **source = calloc((size_t)ps->count + 1, sizeof *source);
    char *used = calloc((size_t)f.count + 1, 1);
    CHECK(source && used, "out of memory");
    ParamsLoadReport r = {0};
    size_t details_len = 0;
    FILE *details = open_memstream(&r.details, &details_len);
    CHECK(details != NULL, "out of memory");
    size_t prefix_len = strlen(param_prefix);
    char shape[128];
    for (int k = 0; k < ps->count; k++) {
        const Tensor *p = ps->items[k];
        if (!starts_with(p->name, param_prefix)) continue;
        char file_name[1024];
        snprintf(file_name, sizeof file_name, "%s%s", file_prefix, p->name + prefix_len);
        const StTensorInfo *t = safetensors_find(&f, file_name);
        tensor_shape_str(p, shape, sizeof shape);
        if (!t) {
            r.missing++;
            fprintf(details, "  missing: %s %s\n", file_name, shape);
            continue;
        }
        used[t - f.tensors] = 1;
        if (!info_matches(t, p)) {
            r.mismatched++;
            fprintf(details, "  wrong shape: %s: expected %s, found ", file_name, shape);
            print_info_shape(details, t);
            fputc('\n', details);
        } else if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16) {
            r.mismatched++;
            fprintf(details, "  wrong dtype: %s: expected a float type, found %s\n", file_name,
                    st_dtype_name(t->dtype));
        } else {
            source[k] = t;
        }
    }
    for (int j = 0; j < f.count; j++) {
        if (used[j] || !starts_with(f.tensors[j].name, file_prefix)) continue;
        r.unexpected++;
        fprintf(details, "  unexpected: %s %s ", f.tensors[j].name, st_dtype_name(f.tensors[j].dtype));
        print_info_shape(details, &f.tensors[j]);
        fputc('\n', details);
    }
    fclose(details);

    int skipped = r.missing + r.unexpected + r.mismatched;
    int rc = 0;
    if (opt.strict && skipped > 0) {
        char list[ERROR_LIST_BYTES + 64];
        clip_lines(r.details, list, sizeof list);
        rc = error_set("%s: checkpoint does not match the model (%d missing, %d unexpected, %d wrong shape or "
                       "dtype):\n%s",
                       path, r.missing, r.unexpected, r.mismatched, list);
    } else if ((rc = check_finite_sources(&f, source, ps)) == 0) {
        /* Device parameters are read into one host copy of the value block
         * (the tensors left out keep their values) and sent back at once. */
        float *host = NULL;
        if (ps->device != DEVICE_CPU) {
            host = malloc((size_t)(ps->total ? ps->total : 1) * sizeof *host);
            CHECK(host != NULL, "out of memory");
            device_copy(host, DEVICE_CPU, ps->values, ps->device, (size_t)ps->total * sizeof *host);
        }
        for (int k = 0; k < ps->count; k++) {
            if (!source[k]) continue;
            float *dst = host ? host + params_offset(ps, ps->items[k]) : tensor_f32(ps->items[k]);
            CHECK(safetensors_read_f32(&f, source[k], dst, tensor_numel(ps->items[k])) == 0, "%s", error_message());
            r.loaded++;
        }
        if (host) device_copy(ps->values, ps->device, host, DEVICE_CPU, (size_t)ps->total * sizeof *host);
        free(host);
        if (skipped > 0) {
            char list[ERROR_LIST_BYTES + 64];
            clip_lines(r.details, list, sizeof list);
            log_warn("%s: loaded %d tensors; skipped %d missing, %d unexpected, %d wrong shape or dtype:\n%s", path,
                     r.loaded, r.missing, r.unexpected, r.mismatched, list);
        }
    }
    free(source);
    free(used);
    safetensors_close(&f);
    if (report)
        *report = r;
    else
        free(r.details);
    return rc;
}
