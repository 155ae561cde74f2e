/* Helpers shared by the op implementations (not installed). */
#ifndef SVGAN_OPS_INTERNAL_H
#define SVGAN_OPS_INTERNAL_H

#include "svgan/svgan.h"

/* Fetch kernel `name` from `file` or return the error. */
#define SV_GET_KERNEL(ctx, file, name, defines, kvar)                   \
    do {                                                                \
        int sv__r = sv_kernel((ctx), (file), (name), (defines), &(kvar)); \
        if (sv__r)                                                      \
            return sv__r;                                               \
    } while (0)

#define SV_TRY(expr)          \
    do {                      \
        int sv__r = (expr);   \
        if (sv__r)            \
            return sv__r;     \
    } while (0)

/* Work-group size of the reduction kernels; must equal SV_WG in cl/common.cl. */
#define SV_WG 64

/* Argument helpers: a tensor is passed as (buffer, long element offset). */
static inline void sv_arg_tensor(sv_args *a, const sv_tensor *t)
{
    sv_arg_mem(a, t->mem);
    sv_arg_long(a, (int64_t)t->off);
}

/* Launch a 1-D kernel over n items with a default work-group size. */
static inline int sv_launch1(sv_ctx *ctx, cl_kernel k, size_t n, const char *kname)
{
    size_t g = n, l = 64;
    return sv_launch(ctx, k, 1, &g, n >= 64 ? &l : NULL, kname);
}

static inline int sv_same_ctx(const sv_tensor *a, const sv_tensor *b)
{
    return a->ctx == b->ctx;
}

#endif
