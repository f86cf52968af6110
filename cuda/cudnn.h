/* cuDNN's graph ("backend") API, loaded at run time (issue 17: cuDNN's fused
 * attention beside the handwritten kernels).
 *
 * Why loaded and not linked: cuDNN is optional here. The handwritten kernels
 * run every op, so a machine whose cuDNN is missing or too old (the GPU
 * machines carry it as PyTorch's pip package, outside the linker's path)
 * still builds and runs, and says why cuDNN was not used. Why our own
 * declarations and not <cudnn_graph.h>: the build then needs no cuDNN headers
 * (the GPU machines have none) and the kernel emulator compiles this code
 * with its stand-in CUDA headers. The values below are cuDNN 9's
 * (cudnn_graph_v9.h); tests/test_cudnn_api.c compares each with the real
 * header wherever that header is on the include path.
 *
 * The library: $MMU_CUDNN_LIB if set, else libcudnn.so.9 from the loader's
 * path, else the CUDA toolkit's copy (/usr/local/cuda/lib64). */
#ifndef CUDA_CUDNN_H
#define CUDA_CUDNN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *CudnnDesc;

enum { /* cudnnStatus_t */ CUDNN_OK = 0 };

enum { /* cudnnBackendDescriptorType_t */
       CUDNN_DESC_ENGINE = 2,
       CUDNN_DESC_ENGINECFG = 3,
       CUDNN_DESC_ENGINEHEUR = 4,
       CUDNN_DESC_EXECUTION_PLAN = 5,
       CUDNN_DESC_OPERATIONGRAPH = 15,
       CUDNN_DESC_VARIANT_PACK = 16,
       CUDNN_DESC_TENSOR = 17,
       CUDNN_DESC_OPERATION_SDPA_FWD = 41 };

enum { /* cudnnBackendAttributeType_t */
       CUDNN_T_HANDLE = 0,
       CUDNN_T_DATA_TYPE = 1,
       CUDNN_T_BOOLEAN = 2,
       CUDNN_T_INT64 = 3,
       CUDNN_T_VOID_PTR = 6,
       CUDNN_T_HEUR_MODE = 8,
       CUDNN_T_NUMERICAL_NOTE = 11,
       CUDNN_T_BACKEND_DESCRIPTOR = 15 };

enum { /* cudnnDataType_t, cudnnBackendHeurMode_t, cudnnBackendNumericalNote_t */
       CUDNN_FLOAT = 0,
       CUDNN_BFLOAT16 = 9,
       CUDNN_HEUR_FALLBACK = 2,
       CUDNN_HEUR_A = 3,
       CUDNN_NOTE_NONDETERMINISTIC = 4,
       CUDNN_NOTE_COUNT = 10 };

enum { /* cudnnBackendAttributeName_t */
       CUDNN_A_ENGINEHEUR_MODE = 200,
       CUDNN_A_ENGINEHEUR_OPERATION_GRAPH = 201,
       CUDNN_A_ENGINEHEUR_RESULTS = 202,
       CUDNN_A_ENGINECFG_ENGINE = 300,
       CUDNN_A_EXECUTION_PLAN_HANDLE = 400,
       CUDNN_A_EXECUTION_PLAN_ENGINE_CONFIG = 401,
       CUDNN_A_EXECUTION_PLAN_WORKSPACE_SIZE = 402,
       CUDNN_A_OPERATIONGRAPH_HANDLE = 800,
       CUDNN_A_OPERATIONGRAPH_OPS = 801,
       CUDNN_A_TENSOR_BYTE_ALIGNMENT = 900,
       CUDNN_A_TENSOR_DATA_TYPE = 901,
       CUDNN_A_TENSOR_DIMENSIONS = 902,
       CUDNN_A_TENSOR_STRIDES = 903,
       CUDNN_A_TENSOR_UNIQUE_ID = 906,
       CUDNN_A_TENSOR_IS_BY_VALUE = 908,
       CUDNN_A_VARIANT_PACK_UNIQUE_IDS = 1000,
       CUDNN_A_VARIANT_PACK_DATA_POINTERS = 1001,
       CUDNN_A_VARIANT_PACK_WORKSPACE = 1003,
       CUDNN_A_ENGINE_NUMERICAL_NOTE = 1303,
       CUDNN_A_SDPA_FWD_QDESC = 2800,
       CUDNN_A_SDPA_FWD_KDESC = 2801,
       CUDNN_A_SDPA_FWD_VDESC = 2802,
       CUDNN_A_SDPA_FWD_ODESC = 2803,
       CUDNN_A_SDPA_FWD_STATSDESC = 2804,
       CUDNN_A_SDPA_FWD_SCALEDESC = 2805 };

/* The entry points used, as cuDNN 9 declares them (its enums are ints). */
typedef struct {
    size_t version; /* cudnnGetVersion(): 91900 for 9.19.0 */
    const char *(*error_string)(int status);
    void (*last_error)(char *message, size_t max_size);
    int (*create)(void **handle);
    int (*set_stream)(void *handle, void *stream);
    int (*create_descriptor)(int type, CudnnDesc *desc);
    int (*destroy_descriptor)(CudnnDesc desc);
    int (*finalize)(CudnnDesc desc);
    int (*set_attribute)(CudnnDesc desc, int name, int type, int64_t count, const void *values);
    int (*get_attribute)(CudnnDesc desc, int name, int type, int64_t requested, int64_t *count, void *values);
    int (*execute)(void *handle, CudnnDesc plan, CudnnDesc variant_pack);
} CudnnApi;

/* The library's entry points, loaded on the first call; NULL when it cannot
 * be loaded, and then cudnn_unavailable() says why (the path tried, dlerror,
 * or the missing symbol). */
const CudnnApi *cudnn_api(void);
const char *cudnn_unavailable(void);

/* "<what> failed: <cuDNN's name of status> (<cuDNN's last error message>)"
 * into buf, for the messages that say why cuDNN was not used. */
const char *cudnn_describe_failure(const char *what, int status, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
