/* Tensor records and views: views share storage, strided copies reorder. */
#include "core/tensor.h"
#include "tests/test.h"

TEST(test_tensor_reshape_view_shares_storage) {
    float v[6] = {0, 1, 2, 3, 4, 5};
    Tensor *t = tensor_from_f32(SHAPE(2, 3), v);
    Tensor *r = tensor_view_reshape(t, SHAPE(3, 2));
    ASSERT(r->data == t->data && r->ndim == 2 && r->shape[0] == 3 && r->shape[1] == 2);
    ASSERT(r->stride[0] == 2 && r->stride[1] == 1);
    tensor_f32(r)[5] = 50;
    ASSERT(tensor_f32(t)[5] == 50);
    char buf[32];
    ASSERT(strcmp(tensor_shape_str(r, buf, sizeof buf), "[3, 2]") == 0);
}

TEST(test_tensor_row_view_points_inside_base) {
    float v[12];
    for (int k = 0; k < 12; k++) v[k] = (float)k;
    Tensor *t = tensor_from_f32(SHAPE(4, 3), v);
    t->requires_grad = 1;
    Tensor *rows = tensor_view_rows(t, 1, 2);
    ASSERT(rows->shape[0] == 2 && rows->shape[1] == 3 && tensor_numel(rows) == 6);
    ASSERT(tensor_f32(rows) == tensor_f32(t) + 3);
    ASSERT(tensor_f32(rows)[0] == 3 && tensor_f32(rows)[5] == 8);
    ASSERT(rows->requires_grad == 0 && rows->grad == NULL); /* a view is no gradient path */
    tensor_f32(rows)[0] = -1;
    ASSERT(tensor_f32(t)[3] == -1);
    ASSERT(tensor_is_contiguous(rows));
}

TEST(test_tensor_contiguous_copy_of_transposed_view) {
    float v[6] = {0, 1, 2, 3, 4, 5}; /* [[0 1 2] [3 4 5]] */
    Tensor *t = tensor_from_f32(SHAPE(2, 3), v);
    Tensor tr = *t; /* the transpose as a strided view of the same data */
    tr.shape[0] = 3;
    tr.shape[1] = 2;
    tr.stride[0] = 1;
    tr.stride[1] = 3;
    ASSERT(!tensor_is_contiguous(&tr));
    Tensor *c = tensor_contiguous_copy(&tr);
    float want[6] = {0, 3, 1, 4, 2, 5};
    ASSERT(tensor_is_contiguous(c) && c->data != t->data);
    ASSERT(memcmp(tensor_f32(c), want, sizeof want) == 0);
    ASSERT_EQ_INT(tensor_rows(c), 3);
    ASSERT_EQ_INT(tensor_dim(c, -1), 1);
}

TEST(test_tensor_size_queries) {
    Tensor *t = tensor_zeros(DTYPE_BF16, SHAPE(2, 3, 4));
    ASSERT_EQ_INT(tensor_numel(t), 24);
    ASSERT_EQ_INT(tensor_nbytes(t), 48);
    ASSERT_EQ_INT(tensor_rows(t), 6);
    Tensor *s = tensor_scalar_f32(2.5f);
    ASSERT(s->ndim == 0 && tensor_numel(s) == 1 && tensor_f32(s)[0] == 2.5f);
    Tensor *e = tensor_zeros(DTYPE_F32, SHAPE(0, 5));
    ASSERT_EQ_INT(tensor_numel(e), 0);
    ASSERT_EQ_INT(tensor_rows(e), 0);
    ASSERT(strcmp(dtype_name(DTYPE_I32), "I32") == 0 && dtype_size(DTYPE_I32) == 4);
}
