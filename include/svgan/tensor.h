/* svgan — device tensors.
 *
 * A tensor is (dtype, up to 5 dims, buffer + element offset).  Data are
 * row-major contiguous from the offset; a view shares the buffer with another
 * offset/shape (slices along the leading dimension, reshapes).  Buffers come
 * from the context's pool, so a training step that frees and re-allocates the
 * same sizes makes no clCreateBuffer calls after the first iteration.
 *
 * dtype is stored so that fp16 storage can be added later; today every op
 * takes SV_F32. */
#ifndef SVGAN_TENSOR_H
#define SVGAN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "svgan/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SV_MAX_DIMS 5

typedef enum sv_dtype { SV_F32 = 0, SV_F16 = 1 } sv_dtype;

typedef struct sv_buf sv_buf; /* pooled, reference-counted cl_mem */

typedef struct sv_tensor {
    sv_ctx *ctx;
    sv_buf *buf;
    cl_mem mem;        /* == buffer of buf (cached for kernel arguments) */
    size_t off;        /* element offset into mem */
    sv_dtype dtype;
    int ndim;
    int64_t shape[SV_MAX_DIMS];
} sv_tensor;

size_t sv_dtype_size(sv_dtype t);
int64_t sv_numel(const sv_tensor *t);
size_t sv_nbytes(const sv_tensor *t);
/* Product of shape[0..ndim) as given. */
int64_t sv_shape_numel(int ndim, const int64_t *shape);
/* "[2, 3, 4]" into buf. */
const char *sv_shape_str(const sv_tensor *t, char *buf, size_t n);

/* New contiguous float32 tensor from the pool (uninitialised). */
int sv_tensor_new(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape);
/* Same, zero-filled. */
int sv_tensor_zeros(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape);
/* Varargs convenience: sv_tensor_newv(ctx, &t, 3, 2, 3, 4). */
int sv_tensor_newv(sv_ctx *ctx, sv_tensor *t, int ndim, ...);
/* Release (returns the buffer to the pool when the last view is gone).
 * Safe on a zeroed / already released tensor. */
void sv_tensor_free(sv_tensor *t);

/* View: elements [first, first + numel(shape)) of src, with a new shape.
 * Takes a reference; free the view with sv_tensor_free. */
int sv_tensor_view(const sv_tensor *src, sv_tensor *view, size_t first, int ndim,
                   const int64_t *shape);
/* Reshape view over all of src (numel must match). */
int sv_tensor_reshape(const sv_tensor *src, sv_tensor *view, int ndim, const int64_t *shape);
/* Slice along dim 0: rows [r0, r1). */
int sv_tensor_rows(const sv_tensor *src, sv_tensor *view, int64_t r0, int64_t r1);

/* Host <-> device (blocking). n must equal numel. */
int sv_tensor_write(sv_tensor *t, const float *host, size_t n);
int sv_tensor_read(const sv_tensor *t, float *host, size_t n);
/* Device-side copy of numel(src) elements (shapes may differ). */
int sv_tensor_copy(sv_tensor *dst, const sv_tensor *src);
int sv_tensor_fill(sv_tensor *t, float v);
/* Read to a fresh malloc'ed host array (caller frees). */
float *sv_tensor_to_host(const sv_tensor *t, sv_err *e);

/* Shape check helper: returns 0 if t has exactly this shape, else records a
 * message "what: expected [..], got [..]" in the ctx error. */
int sv_check_shape(const sv_tensor *t, const char *what, int ndim, const int64_t *shape);

/* Pool control (per context). */
void sv_pool_trim(sv_ctx *ctx); /* release free buffers */

#ifdef __cplusplus
}
#endif
#endif
