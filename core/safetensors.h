/* safetensors checkpoints (https://huggingface.co/docs/safetensors), read and written.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 * {"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ...}, then the data region; offsets are
 * relative to its start. DESIGN.md: checkpoints are safetensors with the
 * original parameter names, so official checkpoints load as is and ours load
 * in PyTorch.
 *
 * Reading maps the file and validates the whole header before anything is
 * used: a corrupt, truncated or hostile file gives an error naming the file,
 * the tensor and the reason, never a crash. Data is read through the
 * conversion helpers below, which copy (tensors in a file need not be
 * aligned). The host is little-endian (x86-64, and the CUDA hosts). */
#ifndef CORE_SAFETENSORS_H
#define CORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* The dtypes this project reads; writing accepts all of them too. */
typedef enum { ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_BOOL } StDType;

#define ST_MAX_DIMS 8
/* A larger header is refused before it is allocated (the Hugging Face reader's limit too). */
#define ST_MAX_HEADER_BYTES (100u << 20)

typedef struct {
    char *name;
    StDType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;  /* byte range inside the data region */
} StTensorInfo;

typedef struct {
    char *key, *value;
} StMetaEntry;

typedef struct {
    char *path;
    const unsigned char *map;   /* the whole file, read-only */
    size_t map_size;
    const unsigned char *data;  /* start of the data region */
    size_t data_size;
    StTensorInfo *tensors;      /* in header order */
    int count;
    StMetaEntry *meta;
    int meta_count;
} SafetensorsFile;

size_t st_dtype_size(StDType dt);
const char *st_dtype_name(StDType dt);
/* "F32", "BF16", ... -> dtype; 0, or -1 (no message: callers name the context). */
int st_dtype_parse(const char *name, StDType *out);

/* Maps and validates `path`. 0, or -1 with error_set("<path>: <tensor>: <reason>"). */
int safetensors_open(SafetensorsFile *f, const char *path);
void safetensors_close(SafetensorsFile *f);

const StTensorInfo *safetensors_find(const SafetensorsFile *f, const char *name);
/* A __metadata__ value, or NULL when the key is absent. */
const char *safetensors_meta_get(const SafetensorsFile *f, const char *key);
/* The tensor's raw bytes (end - begin of them), possibly unaligned. */
const void *safetensors_bytes(const SafetensorsFile *f, const StTensorInfo *t);

/* Copy a tensor into a caller buffer of exactly `count` elements, converting:
 * read_f32 takes F32, BF16, F16; read_i64 and read_i32 take I64, I32, BOOL
 * (read_i32 refuses an I64 value outside the int32 range). -1 with error_set
 * naming the file, the tensor and the reason otherwise. */
int safetensors_read_f32(const SafetensorsFile *f, const StTensorInfo *t, float *out, int64_t count);
int safetensors_read_i64(const SafetensorsFile *f, const StTensorInfo *t, int64_t *out, int64_t count);
int safetensors_read_i32(const SafetensorsFile *f, const StTensorInfo *t, int32_t *out, int64_t count);

/* Half-precision conversions (exact: every bf16/f16 value is an f32 value). */
float st_bf16_to_f32(uint16_t bits);
float st_f16_to_f32(uint16_t bits);

/* One tensor to write: contiguous little-endian host data. */
typedef struct {
    const char *name;
    StDType dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
} StWriteTensor;

/* Writes the tensors and metadata atomically, laid out as the Hugging Face
 * writer does: compact JSON with __metadata__ first (keys sorted), tensors
 * ordered by element size (largest first) then name, so every tensor is
 * aligned to its element size; the header padded with spaces to a multiple
 * of 8 bytes. 0, or -1 with error_set (duplicate or empty names, ...). */
int safetensors_write(const char *path, const StWriteTensor *tensors, int count, const StMetaEntry *meta,
                      int meta_count);

#endif
