/* Device tensors and the per-context buffer pool. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

size_t sv_dtype_size(sv_dtype t) { return t == SV_F16 ? 2 : 4; }

int64_t sv_shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

int64_t sv_numel(const sv_tensor *t) { return sv_shape_numel(t->ndim, t->shape); }
size_t sv_nbytes(const sv_tensor *t) { return (size_t)sv_numel(t) * sv_dtype_size(t->dtype); }

const char *sv_shape_str(const sv_tensor *t, char *buf, size_t n)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "[");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}

/* Pool: buckets of power-of-two sizes (minimum 256 bytes).  A request takes a
 * free buffer from its bucket or creates one of the bucket's full size, so
 * repeated steps of a training loop reuse buffers and never call
 * clCreateBuffer once warmed up.  Waste is < 2x for one buffer; the activations
 * of a step sum to far less than device memory in the supported configs. */
static int bucket_of(size_t bytes, size_t *bucket_bytes)
{
    int b = 8;
    size_t s = 256;
    while (s < bytes && b < SV_POOL_BUCKETS - 1) {
        s <<= 1;
        b++;
    }
    *bucket_bytes = s < bytes ? bytes : s;
    return b;
}

static sv_buf *pool_get(sv_ctx *c, size_t bytes)
{
    size_t bb;
    int b = bucket_of(bytes ? bytes : 1, &bb);
    sv_buf *f = c->pool_free[b];
    if (f && f->bytes >= bytes) {
        c->pool_free[b] = f->next;
        f->next = NULL;
        f->refs = 1;
        return f;
    }
    sv_buf *nb = calloc(1, sizeof *nb);
    if (!nb) {
        sv_seterr(&c->err, SV_ERR_NOMEM, "out of host memory");
        return NULL;
    }
    cl_int err = 0;
    nb->mem = clCreateBuffer(c->cl, CL_MEM_READ_WRITE | c->buf_flags, bb, NULL, &err);
    if (!nb->mem) {
        /* one retry after dropping the free lists */
        sv_pool_trim(c);
        nb->mem = clCreateBuffer(c->cl, CL_MEM_READ_WRITE | c->buf_flags, bb, NULL, &err);
    }
    if (!nb->mem) {
        free(nb);
        sv_seterr(&c->err, SV_ERR_NOMEM, "device allocation of %zu bytes failed: %s", bb, sv_cl_errname(err));
        return NULL;
    }
    nb->bytes = bb;
    nb->refs = 1;
    c->stats.buffers_created++;
    c->stats.pool_bytes += bb;
    return nb;
}

static void pool_put(sv_ctx *c, sv_buf *b)
{
    size_t bb;
    int k = bucket_of(b->bytes, &bb);
    b->next = c->pool_free[k];
    c->pool_free[k] = b;
}

void sv_pool_trim(sv_ctx *c)
{
    for (int i = 0; i < SV_POOL_BUCKETS; i++) {
        for (sv_buf *b = c->pool_free[i], *n; b; b = n) {
            n = b->next;
            c->stats.pool_bytes -= b->bytes;
            clReleaseMemObject(b->mem);
            free(b);
        }
        c->pool_free[i] = NULL;
    }
}

void sv_pool_release_all(sv_ctx *c) { sv_pool_trim(c); }

int sv_tensor_new(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (ndim < 0 || ndim > SV_MAX_DIMS)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "tensor: %d dimensions (at most %d)", ndim, SV_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return sv_seterr(&ctx->err, SV_ERR_INVALID, "tensor: negative dimension %lld", (long long)shape[i]);
    int64_t n = sv_shape_numel(ndim, shape);
    sv_buf *b = pool_get(ctx, (size_t)n * 4);
    if (!b)
        return SV_ERR_NOMEM;
    t->ctx = ctx;
    t->buf = b;
    t->mem = b->mem;
    t->off = 0;
    t->dtype = SV_F32;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    return SV_OK;
}

int sv_tensor_newv(sv_ctx *ctx, sv_tensor *t, int ndim, ...)
{
    int64_t s[SV_MAX_DIMS] = {0};
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim && i < SV_MAX_DIMS; i++)
        s[i] = va_arg(ap, int64_t);
    va_end(ap);
    return sv_tensor_new(ctx, t, ndim, s);
}

int sv_tensor_zeros(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape)
{
    int rc = sv_tensor_new(ctx, t, ndim, shape);
    if (!rc)
        rc = sv_tensor_fill(t, 0.0f);
    return rc;
}

void sv_tensor_free(sv_tensor *t)
{
    if (!t || !t->buf)
        return;
    if (--t->buf->refs == 0)
        pool_put(t->ctx, t->buf);
    memset(t, 0, sizeof *t);
}

int sv_tensor_view(const sv_tensor *src, sv_tensor *v, size_t first, int ndim, const int64_t *shape)
{
    sv_ctx *c = src->ctx;
    if (ndim < 0 || ndim > SV_MAX_DIMS)
        return sv_seterr(&c->err, SV_ERR_INVALID, "view: %d dimensions", ndim);
    int64_t n = sv_shape_numel(ndim, shape);
    if (n < 0 || first + (size_t)n > (size_t)sv_numel(src))
        return sv_seterr(&c->err, SV_ERR_INVALID, "view: elements [%zu, %zu) outside a tensor of %lld", first,
                         first + (size_t)n, (long long)sv_numel(src));
    sv_tensor tmp = *src;
    tmp.off = src->off + first;
    tmp.ndim = ndim;
    memset(tmp.shape, 0, sizeof tmp.shape);
    for (int i = 0; i < ndim; i++)
        tmp.shape[i] = shape[i];
    src->buf->refs++;
    *v = tmp;
    return SV_OK;
}

int sv_tensor_reshape(const sv_tensor *src, sv_tensor *v, int ndim, const int64_t *shape)
{
    if (sv_shape_numel(ndim, shape) != sv_numel(src))
        return sv_seterr(&src->ctx->err, SV_ERR_INVALID, "reshape: %lld elements into %lld",
                         (long long)sv_numel(src), (long long)sv_shape_numel(ndim, shape));
    return sv_tensor_view(src, v, 0, ndim, shape);
}

int sv_tensor_rows(const sv_tensor *src, sv_tensor *v, int64_t r0, int64_t r1)
{
    if (src->ndim < 1 || r0 < 0 || r1 < r0 || r1 > src->shape[0])
        return sv_seterr(&src->ctx->err, SV_ERR_INVALID, "rows [%lld, %lld) out of range", (long long)r0,
                         (long long)r1);
    int64_t inner = sv_numel(src) / (src->shape[0] ? src->shape[0] : 1);
    int64_t s[SV_MAX_DIMS];
    memcpy(s, src->shape, sizeof s);
    s[0] = r1 - r0;
    return sv_tensor_view(src, v, (size_t)(r0 * inner), src->ndim, s);
}

int sv_tensor_write(sv_tensor *t, const float *host, size_t n)
{
    if (n != (size_t)sv_numel(t))
        return sv_seterr(&t->ctx->err, SV_ERR_INVALID, "write: %zu values into a tensor of %lld", n,
                         (long long)sv_numel(t));
    if (n == 0)
        return SV_OK;
    SV_CL(&t->ctx->err, clEnqueueWriteBuffer(t->ctx->q, t->mem, CL_TRUE, t->off * 4, n * 4, host, 0, NULL, NULL));
    return SV_OK;
}

int sv_tensor_read(const sv_tensor *t, float *host, size_t n)
{
    if (n != (size_t)sv_numel(t))
        return sv_seterr(&t->ctx->err, SV_ERR_INVALID, "read: %zu values from a tensor of %lld", n,
                         (long long)sv_numel(t));
    if (n == 0)
        return SV_OK;
    SV_CL(&t->ctx->err, clEnqueueReadBuffer(t->ctx->q, t->mem, CL_TRUE, t->off * 4, n * 4, host, 0, NULL, NULL));
    return SV_OK;
}

float *sv_tensor_to_host(const sv_tensor *t, sv_err *e)
{
    size_t n = (size_t)sv_numel(t);
    float *h = malloc(n ? n * 4 : 4);
    if (!h) {
        sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        return NULL;
    }
    if (sv_tensor_read(t, h, n)) {
        if (e)
            *e = t->ctx->err;
        free(h);
        return NULL;
    }
    return h;
}

int sv_tensor_copy(sv_tensor *dst, const sv_tensor *src)
{
    size_t n = (size_t)sv_numel(src);
    if (n > (size_t)sv_numel(dst))
        return sv_seterr(&dst->ctx->err, SV_ERR_INVALID, "copy: %zu elements into %lld", n, (long long)sv_numel(dst));
    if (n == 0)
        return SV_OK;
    SV_CL(&dst->ctx->err,
          clEnqueueCopyBuffer(dst->ctx->q, src->mem, dst->mem, src->off * 4, dst->off * 4, n * 4, 0, NULL, NULL));
    return SV_OK;
}

int sv_tensor_fill(sv_tensor *t, float v)
{
    size_t n = (size_t)sv_numel(t);
    if (n == 0)
        return SV_OK;
    SV_CL(&t->ctx->err,
          clEnqueueFillBuffer(t->ctx->q, t->mem, &v, sizeof v, t->off * 4, n * 4, 0, NULL, NULL));
    return SV_OK;
}

int sv_check_shape(const sv_tensor *t, const char *what, int ndim, const int64_t *shape)
{
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == shape[i];
    if (ok)
        return SV_OK;
    char a[128], b[128];
    sv_tensor want = {0};
    want.ndim = ndim;
    for (int i = 0; i < ndim && i < SV_MAX_DIMS; i++)
        want.shape[i] = shape[i];
    return sv_seterr(&t->ctx->err, SV_ERR_INVALID, "%s: expected shape %s, got %s", what,
                     sv_shape_str(&want, b, sizeof b), sv_shape_str(t, a, sizeof a));
}
