// Loading cuDNN's graph API at run time (cuda/cudnn.h says why it is loaded
// and not linked). Host code only.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda/cudnn.h"

namespace {

CudnnApi api;
int tried, loaded;
char why_not[512];

void *open_library(void) {
    const char *own = getenv("MMU_CUDNN_LIB");
    if (own && *own) {
        void *h = dlopen(own, RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(why_not, sizeof why_not, "MMU_CUDNN_LIB=%s cannot be loaded: %s", own, dlerror());
        return h;
    }
    const char *names[] = {"libcudnn.so.9", "/usr/local/cuda/lib64/libcudnn.so.9"};
    for (const char *name : names) {
        void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
    }
    snprintf(why_not, sizeof why_not,
             "libcudnn.so.9 is not on the loader's path nor in /usr/local/cuda/lib64 (set MMU_CUDNN_LIB to its file)");
    return NULL;
}

// Each entry point by name; 0 and why_not set when one is missing (a cuDNN
// older than 9 has no cudnnGetLastErrorString, for one).
template <typename F> int bind(void *lib, F *slot, const char *name) {
    *slot = (F)dlsym(lib, name);
    if (*slot) return 1;
    snprintf(why_not, sizeof why_not, "the cuDNN library has no %s (cuDNN 9 or later is needed)", name);
    return 0;
}

void load(void) {
    void *lib = open_library();
    if (!lib) return;
    size_t (*get_version)(void) = NULL;
    if (!(bind(lib, &get_version, "cudnnGetVersion") && bind(lib, &api.error_string, "cudnnGetErrorString") &&
          bind(lib, &api.last_error, "cudnnGetLastErrorString") && bind(lib, &api.create, "cudnnCreate") &&
          bind(lib, &api.set_stream, "cudnnSetStream") &&
          bind(lib, &api.create_descriptor, "cudnnBackendCreateDescriptor") &&
          bind(lib, &api.destroy_descriptor, "cudnnBackendDestroyDescriptor") &&
          bind(lib, &api.finalize, "cudnnBackendFinalize") &&
          bind(lib, &api.set_attribute, "cudnnBackendSetAttribute") &&
          bind(lib, &api.get_attribute, "cudnnBackendGetAttribute") &&
          bind(lib, &api.execute, "cudnnBackendExecute")))
        return;
    api.version = get_version();
    // The fused-attention operation (the SDPA_FWD descriptor) works from
    // 9.13.1 on (cudnn-frontend uses it from there).
    if (api.version < 91301) {
        snprintf(why_not, sizeof why_not, "cuDNN %zu is older than 9.13.1, the first with the SDPA_FWD operation",
                 api.version);
        return;
    }
    loaded = 1;
}

} // namespace

const CudnnApi *cudnn_api(void) {
    if (!tried) {
        tried = 1;
        load();
    }
    return loaded ? &api : NULL;
}

const char *cudnn_unavailable(void) {
    cudnn_api();
    return loaded ? "" : why_not;
}

const char *cudnn_describe_failure(const char *what, int status, char *buf, size_t size) {
    char detail[256] = "";
    api.last_error(detail, sizeof detail);
    snprintf(buf, size, "%s failed: %s%s%s%s", what, api.error_string(status), *detail ? " (" : "", detail,
             *detail ? ")" : "");
    return buf;
}
