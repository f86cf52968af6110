/* Graph convolution (Kipf & Welling): H' = Â H W + b with the symmetric
 * normalised adjacency Â = D^-1/2 (A + I) D^-1/2 (spec/pgr_graph_text.md). */
#ifndef NN_GCN_H
#define NN_GCN_H

#include "autograd/ops.h"
#include "autograd/params.h"
#include "nn/layers.h"

typedef struct {
    Linear linear; /* "<prefix>.weight" [out, in], "<prefix>.bias" */
} GcnLayer;

/* Builds Â from an undirected edge list over n nodes (self loops added once;
 * duplicate edges counted once). The arrays are malloc'ed: free with csr_free. */
CsrMatrix gcn_normalized_adjacency(int64_t n_nodes, const int32_t *src, const int32_t *dst, int64_t n_edges);
void csr_free(CsrMatrix *m);

void gcn_layer_declare(GcnLayer *g, ParamSet *ps, const char *prefix, int in, int out);
/* Â (H W) + b. */
Tensor *gcn_layer_forward(const GcnLayer *g, const CsrMatrix *adj, Tensor *h);

#endif
