/* ParamSet <-> safetensors checkpoints.
 *
 * Tensor names are the parameter names (the original ALBEF/BLIP keys,
 * DESIGN.md "Real formats in, standard formats out"). Loading is strict by
 * default: every parameter must be in the file with its shape and every
 * tensor of the file must be a parameter; a violation names every offending
 * tensor with expected and found shapes, and leaves the ParamSet unchanged.
 * Non-strict loading (converting an official checkpoint with heads we do not
 * build) loads what matches and reports what it skipped. BF16 and F16 tensors
 * are widened to f32. */
#ifndef AUTOGRAD_PARAMS_IO_H
#define AUTOGRAD_PARAMS_IO_H

#include "autograd/params.h"
#include "core/safetensors.h"

typedef struct {
    int strict;               /* 1: any missing, extra or mismatched tensor is an error */
    /* Prefix mapping for loading part of a model from another file: only file
     * tensors named file_prefix + rest are considered, and each loads into the
     * parameter param_prefix + rest; only parameters under param_prefix count
     * as missing. NULL means "" (the whole file into the whole set). */
    const char *file_prefix;
    const char *param_prefix;
} ParamsLoadOptions;

/* strict, no prefixes */
ParamsLoadOptions params_load_defaults(void);

/* A tensor with NaN or ±inf values is named in a warning, and the load fails
 * unless non-finite values were allowed: a NaN weight makes every later metric
 * a plausible-looking number (a retrieval recall, an AUC of 1). Programs set
 * this once from --allow-nonfinite. */
void params_allow_nonfinite(int allow);

typedef struct {
    int loaded;
    int missing;      /* parameters with no tensor in the file (left as they were) */
    int unexpected;   /* file tensors matching no parameter */
    int mismatched;   /* shape or dtype differs (left as they were) */
    char *details;    /* one line per skipped name: "missing a.b [2, 3]", ...; malloc'ed */
} ParamsLoadReport;

void params_load_report_free(ParamsLoadReport *r);

/* Writes every parameter as F32 (finalized set), with optional metadata. */
int params_save(const ParamSet *ps, const char *path, const StMetaEntry *meta, int meta_count);
/* Loads `path` into a finalized set on any device. 0, or -1 with error_set("<path>: ...")
 * naming each offending tensor (missing, unexpected, wrong shape or dtype,
 * non-finite values unless allowed); the set is unchanged after an error. `report` may be NULL; non-strict loads also
 * log a warning with the counts. */
int params_load(ParamSet *ps, const char *path, ParamsLoadOptions opt, ParamsLoadReport *report);

#endif
