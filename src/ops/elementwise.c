/* elementwise: device launchers and float64 host references. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "elementwise.cl";
#define RED_MAX_GROUPS 256

static int same_numel(const sv_tensor *a, const sv_tensor *b, const char *op, const char *what)
{
    if (sv_numel(a) == sv_numel(b))
        return SV_OK;
    char s1[128], s2[128];
    return sv_seterr(sv_ctx_err(a->ctx), SV_ERR_INVALID, "%s: %s has %lld elements %s, expected %lld %s", op, what,
                     (long long)sv_numel(b), sv_shape_str(b, s2, sizeof s2), (long long)sv_numel(a),
                     sv_shape_str(a, s1, sizeof s1));
}

/* Elements per row for a tensor [N, ...]. */
static int rows_of(const sv_tensor *t, const char *op, int64_t *N, int64_t *D)
{
    if (t->ndim < 1)
        return sv_seterr(sv_ctx_err(t->ctx), SV_ERR_INVALID, "%s: tensor needs ≥ 1 dim [N, ...]", op);
    *N = t->shape[0];
    *D = *N ? sv_numel(t) / *N : 0;
    return SV_OK;
}

int sv_axpby(sv_ctx *ctx, float a, const sv_tensor *x, float b, sv_tensor *y)
{
    SV_TRY(same_numel(y, x, "axpby", "x"));
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "axpby", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "axpby");
    sv_arg_float(&ar, a);
    sv_arg_tensor(&ar, x);
    sv_arg_float(&ar, b);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "axpby");
}

int sv_scale(sv_ctx *ctx, sv_tensor *y, float a)
{
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "scale", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "scale");
    sv_arg_tensor(&ar, y);
    sv_arg_float(&ar, a);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "scale");
}

static int binary(sv_ctx *ctx, const char *kname, const sv_tensor *a, const sv_tensor *b, sv_tensor *y)
{
    SV_TRY(same_numel(y, a, kname, "a"));
    SV_TRY(same_numel(y, b, kname, "b"));
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, kname);
    sv_arg_tensor(&ar, a);
    sv_arg_tensor(&ar, b);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, kname);
}

int sv_mul(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, sv_tensor *y) { return binary(ctx, "mul", a, b, y); }
int sv_add(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, sv_tensor *y) { return binary(ctx, "add", a, b, y); }

int sv_lerp(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, float t, sv_tensor *y)
{
    SV_TRY(same_numel(y, a, "lerp", "a"));
    SV_TRY(same_numel(y, b, "lerp", "b"));
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "lerp_s", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "lerp_s");
    sv_arg_tensor(&ar, a);
    sv_arg_tensor(&ar, b);
    sv_arg_float(&ar, t);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "lerp_s");
}

int sv_lerp_t(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, const sv_tensor *t, sv_tensor *y)
{
    SV_TRY(same_numel(y, a, "lerp_t", "a"));
    SV_TRY(same_numel(y, b, "lerp_t", "b"));
    SV_TRY(same_numel(y, t, "lerp_t", "t"));
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "lerp_t", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "lerp_t");
    sv_arg_tensor(&ar, a);
    sv_arg_tensor(&ar, b);
    sv_arg_tensor(&ar, t);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "lerp_t");
}

int sv_rowscale(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *s, float alpha, sv_tensor *y)
{
    int64_t N = 0, D = 0;
    SV_TRY(rows_of(x, "rowscale", &N, &D));
    SV_TRY(same_numel(x, y, "rowscale", "output"));
    if (sv_numel(s) != N)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "rowscale: scale has %lld values for %lld rows",
                         (long long)sv_numel(s), (long long)N);
    int64_t n = N * D;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "rowscale", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "rowscale");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, s);
    sv_arg_float(&ar, alpha);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, D);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "rowscale");
}

int sv_softplus_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y)
{
    SV_TRY(same_numel(y, x, "softplus", "x"));
    int64_t n = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "softplus_fwd", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "softplus_fwd");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "softplus_fwd");
}

int sv_softplus_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, sv_tensor *gx)
{
    SV_TRY(same_numel(x, gy, "softplus_bwd", "grad_out"));
    SV_TRY(same_numel(x, gx, "softplus_bwd", "grad_in"));
    int64_t n = sv_numel(x);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "softplus_bwd", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "softplus_bwd");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, gy);
    sv_arg_tensor(&ar, gx);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "softplus_bwd");
}

/* ---- reductions ---- */

static size_t red_groups(int64_t n)
{
    int64_t g = (n + SV_WG - 1) / SV_WG;
    if (g > RED_MAX_GROUPS)
        g = RED_MAX_GROUPS;
    return g < 1 ? 1 : (size_t)g;
}

/* First stage of a two-level reduction: kernel kname(x, n, part) over G
 * work-groups of SV_WG lanes, one partial result per group. */
static int stage1(sv_ctx *ctx, const char *kname, const sv_tensor *x, int64_t n, sv_tensor *part, size_t G)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, kname);
    sv_arg_tensor(&ar, x);
    sv_arg_long(&ar, n);
    sv_arg_tensor(&ar, part);
    SV_TRY(sv_args_end(&ar));
    size_t g = G * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &g, &l, kname);
}

int sv_sum(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate)
{
    if (sv_numel(out) != 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "sum: output must have 1 element, has %lld",
                         (long long)sv_numel(out));
    int64_t n = sv_numel(x);
    size_t G = red_groups(n);
    sv_tensor part;
    SV_TRY(sv_tensor_newv(ctx, &part, 1, (int64_t)G));
    cl_kernel k2;
    int rc = stage1(ctx, "sum_stage1", x, n, &part, G);
    if (!rc)
        rc = sv_kernel(ctx, FILE_CL, "sum_stage2", NULL, &k2);
    if (!rc) {
        sv_args ar;
        sv_args_begin(&ar, ctx, k2, "sum_stage2");
        sv_arg_tensor(&ar, &part);
        sv_arg_long(&ar, (int64_t)G);
        sv_arg_float(&ar, alpha);
        sv_arg_tensor(&ar, out);
        sv_arg_int(&ar, accumulate);
        rc = sv_args_end(&ar);
        size_t g = SV_WG, l = SV_WG;
        if (!rc)
            rc = sv_launch(ctx, k2, 1, &g, &l, "sum_stage2");
    }
    sv_tensor_free(&part);
    return rc;
}

/* out[r] (+)= alpha Σ_j f(x[r, j]) over R rows of length L. */
/* mode 0: row sums; 1: row sums of squares; 2: row dot products with z. */
static int row_reduce(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *z, int64_t R, int64_t L, int mode,
                      float alpha, sv_tensor *out, int accumulate)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "row_reduce", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "row_reduce");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, z ? z : x);
    sv_arg_long(&ar, L);
    sv_arg_int(&ar, mode);
    sv_arg_float(&ar, alpha);
    sv_arg_tensor(&ar, out);
    sv_arg_int(&ar, accumulate);
    SV_TRY(sv_args_end(&ar));
    size_t g = (size_t)R * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &g, &l, "row_reduce");
}

int sv_rowsumsq(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate)
{
    int64_t N = 0, D = 0;
    SV_TRY(rows_of(x, "rowsumsq", &N, &D));
    if (sv_numel(out) != N)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "rowsumsq: output has %lld values for %lld rows",
                         (long long)sv_numel(out), (long long)N);
    return row_reduce(ctx, x, NULL, N, D, 1, alpha, out, accumulate);
}

int sv_rowdot(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, float alpha, sv_tensor *out, int accumulate)
{
    int64_t N = 0, D = 0;
    SV_TRY(rows_of(a, "rowdot", &N, &D));
    SV_TRY(sv_check_shape(b, "rowdot second operand", a->ndim, a->shape));
    if (sv_numel(out) != N)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "rowdot: output has %lld values for %lld rows",
                         (long long)sv_numel(out), (long long)N);
    return row_reduce(ctx, a, b, N, D, 2, alpha, out, accumulate);
}

/* few [R, S...] and many [R·reps, S...]: same trailing dims; *S = row size. */
static int check_repeat(sv_ctx *ctx, const char *what, const sv_tensor *few, const sv_tensor *many, int64_t reps,
                        int64_t *S)
{
    int ok = few->ndim >= 1 && reps >= 1 && many->ndim == few->ndim && many->shape[0] == few->shape[0] * reps;
    for (int i = 1; ok && i < few->ndim; i++)
        ok = few->shape[i] == many->shape[i];
    if (!ok) {
        char a[128], b[128];
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: %s and %s do not match %lld repeats of each row", what,
                         sv_shape_str(few, a, sizeof a), sv_shape_str(many, b, sizeof b), (long long)reps);
    }
    *S = few->shape[0] ? sv_numel(few) / few->shape[0] : 0;
    return SV_OK;
}

int sv_repeat_rows(sv_ctx *ctx, const sv_tensor *x, int64_t reps, sv_tensor *y)
{
    int64_t S = 0, total = sv_numel(y);
    SV_TRY(check_repeat(ctx, "repeat_rows", x, y, reps, &S));
    if (total == 0)
        return SV_OK;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "repeat_rows", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "repeat_rows");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, S);
    sv_arg_long(&ar, reps);
    sv_arg_long(&ar, total);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)total, "repeat_rows");
}

int sv_repeat_rows_bwd(sv_ctx *ctx, const sv_tensor *gy, int64_t reps, sv_tensor *gx, int accumulate)
{
    int64_t S = 0, total = sv_numel(gx);
    SV_TRY(check_repeat(ctx, "repeat_rows_bwd", gx, gy, reps, &S));
    if (total == 0)
        return SV_OK;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "repeat_rows_bwd", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "repeat_rows_bwd");
    sv_arg_tensor(&ar, gy);
    sv_arg_tensor(&ar, gx);
    sv_arg_long(&ar, S);
    sv_arg_long(&ar, reps);
    sv_arg_long(&ar, total);
    sv_arg_int(&ar, accumulate);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)total, "repeat_rows_bwd");
}

int sv_count_nonfinite(sv_ctx *ctx, const sv_tensor *x, int64_t *count)
{
    int64_t n = sv_numel(x);
    *count = 0;
    if (n == 0)
        return SV_OK;
    size_t G = red_groups(n);
    sv_tensor part;
    SV_TRY(sv_tensor_newv(ctx, &part, 1, (int64_t)G));
    int rc = stage1(ctx, "count_nonfinite", x, n, &part, G);
    float host[RED_MAX_GROUPS];
    if (!rc)
        rc = sv_tensor_read(&part, host, G);
    sv_tensor_free(&part);
    if (rc)
        return rc;
    int64_t c = 0;
    for (size_t i = 0; i < G; i++) {
        uint32_t u;
        memcpy(&u, &host[i], sizeof u); /* the kernel stores uint counts */
        c += u;
    }
    *count = c;
    return SV_OK;
}

int sv_nan_to_num(sv_ctx *ctx, sv_tensor *x)
{
    int64_t n = sv_numel(x);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "nan_to_num", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "nan_to_num");
    sv_arg_tensor(&ar, x);
    sv_arg_long(&ar, n);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)n, "nan_to_num");
}

/* ---- layout ---- */

static int64_t trailing(const sv_tensor *t)
{
    int64_t S = 1;
    for (int i = 2; i < t->ndim; i++)
        S *= t->shape[i];
    return S;
}

static int copy_channels(sv_ctx *ctx, const sv_tensor *src, int64_t sC, int64_t sc0, sv_tensor *dst, int64_t dC,
                         int64_t dc0, int64_t N, int64_t nc, int64_t S, int accumulate)
{
    int64_t total = N * nc * S;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "copy_channels", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "copy_channels");
    sv_arg_tensor(&ar, src);
    sv_arg_long(&ar, sC);
    sv_arg_long(&ar, sc0);
    sv_arg_tensor(&ar, dst);
    sv_arg_long(&ar, dC);
    sv_arg_long(&ar, dc0);
    sv_arg_long(&ar, nc);
    sv_arg_long(&ar, S);
    sv_arg_long(&ar, total);
    sv_arg_int(&ar, accumulate);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)total, "copy_channels");
}

int sv_concat1(sv_ctx *ctx, int n, const sv_tensor *const *xs, sv_tensor *y)
{
    if (n < 1 || y->ndim < 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "concat1: need ≥ 1 input and an output [N, C, ...]");
    int64_t Ctot = 0;
    for (int i = 0; i < n; i++) {
        const sv_tensor *x = xs[i];
        int ok = x->ndim == y->ndim && x->shape[0] == y->shape[0];
        for (int d = 2; ok && d < y->ndim; d++)
            ok = x->shape[d] == y->shape[d];
        if (!ok) {
            char s1[128], s2[128];
            return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                             "concat1: input %d has shape %s, incompatible with output %s", i,
                             sv_shape_str(x, s1, sizeof s1), sv_shape_str(y, s2, sizeof s2));
        }
        Ctot += x->shape[1];
    }
    if (Ctot != y->shape[1])
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "concat1: inputs have %lld channels, output %lld",
                         (long long)Ctot, (long long)y->shape[1]);
    int64_t N = y->shape[0], S = trailing(y), c0 = 0;
    for (int i = 0; i < n; i++) {
        int64_t C = xs[i]->shape[1];
        SV_TRY(copy_channels(ctx, xs[i], C, 0, y, Ctot, c0, N, C, S, 0));
        c0 += C;
    }
    return SV_OK;
}

int sv_slice1(sv_ctx *ctx, const sv_tensor *x, int64_t c0, int64_t c1, sv_tensor *y, int accumulate)
{
    if (x->ndim < 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "slice1: input needs ≥ 2 dims [N, C, ...]");
    if (c0 < 0 || c1 < c0 || c1 > x->shape[1])
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "slice1: channel range [%lld, %lld) outside [0, %lld)",
                         (long long)c0, (long long)c1, (long long)x->shape[1]);
    int64_t sh[SV_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[1] = c1 - c0;
    SV_TRY(sv_check_shape(y, "slice1 output", x->ndim, sh));
    return copy_channels(ctx, x, x->shape[1], c0, y, c1 - c0, 0, x->shape[0], c1 - c0, trailing(x), accumulate);
}

int sv_broadcast_spatial(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y)
{
    if (y->ndim != 4)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "broadcast_spatial: output must be [N, C, H, W]");
    int64_t sh[2] = {y->shape[0], y->shape[1]};
    SV_TRY(sv_check_shape(x, "broadcast_spatial input", 2, sh));
    int64_t HW = y->shape[2] * y->shape[3], total = sv_numel(y);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "broadcast_spatial", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "broadcast_spatial");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, HW);
    sv_arg_long(&ar, total);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)total, "broadcast_spatial");
}

int sv_broadcast_spatial_bwd(sv_ctx *ctx, const sv_tensor *gy, sv_tensor *gx, int accumulate)
{
    if (gy->ndim != 4)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "broadcast_spatial_bwd: grad_out must be [N, C, H, W]");
    int64_t sh[2] = {gy->shape[0], gy->shape[1]};
    SV_TRY(sv_check_shape(gx, "broadcast_spatial_bwd grad_in", 2, sh));
    return row_reduce(ctx, gy, NULL, sh[0] * sh[1], gy->shape[2] * gy->shape[3], 0, 1.0f, gx, accumulate);
}

int sv_swap_mid(sv_ctx *ctx, const sv_tensor *x, int64_t P, int64_t A, int64_t B, int64_t S, sv_tensor *y)
{
    if (P < 0 || A < 0 || B < 0 || S < 0 || P * A * B * S != sv_numel(x) || sv_numel(y) != sv_numel(x))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                         "swap_mid: [%lld, %lld, %lld, %lld] does not match tensors of %lld and %lld elements",
                         (long long)P, (long long)A, (long long)B, (long long)S, (long long)sv_numel(x),
                         (long long)sv_numel(y));
    if (x->mem == y->mem && x->off < y->off + (size_t)sv_numel(y) && y->off < x->off + (size_t)sv_numel(x))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "swap_mid: output must not overlap the input");
    int64_t total = sv_numel(x);
    if (total == 0)
        return SV_OK;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "swap_mid", NULL, k);
    sv_args ar;
    sv_args_begin(&ar, ctx, k, "swap_mid");
    sv_arg_tensor(&ar, x);
    sv_arg_tensor(&ar, y);
    sv_arg_long(&ar, A);
    sv_arg_long(&ar, B);
    sv_arg_long(&ar, S);
    sv_arg_long(&ar, total);
    SV_TRY(sv_args_end(&ar));
    return sv_launch1(ctx, k, (size_t)total, "swap_mid");
}

int sv_transpose12(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y)
{
    if (x->ndim != 3)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "transpose12: input must be [B, A, C]");
    int64_t sh[3] = {x->shape[0], x->shape[2], x->shape[1]};
    SV_TRY(sv_check_shape(y, "transpose12 output", 3, sh));
    return sv_swap_mid(ctx, x, x->shape[0], x->shape[1], x->shape[2], 1, y);
}

/* ---- float64 host references ---- */

void sv_ref_softplus_fwd(const double *x, int64_t n, double *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] > 0 ? x[i] : 0.0) + log1p(exp(-fabs(x[i]))); /* NaN propagates via exp */
}

void sv_ref_softplus_bwd(const double *x, const double *gy, int64_t n, double *gx)
{
    for (int64_t i = 0; i < n; i++) {
        double e = exp(-fabs(x[i]));
        double s = x[i] >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        gx[i] = gy[i] * (isnan(x[i]) ? x[i] : s);
    }
}

double sv_ref_sum(const double *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

void sv_ref_rowdot(const double *a, const double *b, int64_t N, int64_t D, double *out)
{
    for (int64_t r = 0; r < N; r++) {
        double s = 0;
        for (int64_t j = 0; j < D; j++)
            s += a[r * D + j] * b[r * D + j];
        out[r] = s;
    }
}

void sv_ref_repeat_rows(const double *x, int64_t R, int64_t S, int64_t reps, double *y)
{
    for (int64_t r = 0; r < R * reps; r++)
        for (int64_t s = 0; s < S; s++)
            y[r * S + s] = x[(r / reps) * S + s];
}

void sv_ref_repeat_rows_bwd(const double *gy, int64_t R, int64_t S, int64_t reps, double *gx)
{
    for (int64_t r = 0; r < R; r++)
        for (int64_t s = 0; s < S; s++) {
            double acc = 0;
            for (int64_t k = 0; k < reps; k++)
                acc += gy[(r * reps + k) * S + s];
            gx[r * S + s] = acc;
        }
}

void sv_ref_rowsumsq(const double *x, int64_t N, int64_t D, double *out)
{
    for (int64_t r = 0; r < N; r++) {
        double s = 0;
        for (int64_t j = 0; j < D; j++)
            s += x[r * D + j] * x[r * D + j];
        out[r] = s;
    }
}

void sv_ref_concat1(int n, const double *const *xs, const int64_t *C, int64_t N, int64_t S, double *y)
{
    int64_t Ct = 0;
    for (int i = 0; i < n; i++)
        Ct += C[i];
    for (int64_t b = 0; b < N; b++) {
        int64_t c0 = 0;
        for (int i = 0; i < n; i++) {
            memcpy(y + (b * Ct + c0) * S, xs[i] + b * C[i] * S, (size_t)(C[i] * S) * sizeof *y);
            c0 += C[i];
        }
    }
}

void sv_ref_slice1(const double *x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double *y)
{
    int64_t nc = c1 - c0;
    for (int64_t b = 0; b < N; b++)
        memcpy(y + b * nc * S, x + (b * C + c0) * S, (size_t)(nc * S) * sizeof *y);
}

void sv_ref_broadcast_spatial(const double *x, int64_t NC, int64_t HW, double *y)
{
    for (int64_t r = 0; r < NC; r++)
        for (int64_t s = 0; s < HW; s++)
            y[r * HW + s] = x[r];
}

void sv_ref_broadcast_spatial_bwd(const double *gy, int64_t NC, int64_t HW, double *gx)
{
    for (int64_t r = 0; r < NC; r++) {
        double s = 0;
        for (int64_t j = 0; j < HW; j++)
            s += gy[r * HW + j];
        gx[r] = s;
    }
}

void sv_ref_swap_mid(const double *x, int64_t P, int64_t A, int64_t B, int64_t S, double *y)
{
    for (int64_t p = 0; p < P; p++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t b = 0; b < B; b++)
                for (int64_t s = 0; s < S; s++)
                    y[((p * B + b) * A + a) * S + s] = x[((p * A + a) * B + b) * S + s];
}

void sv_ref_transpose12(const double *x, int64_t B, int64_t A, int64_t C, double *y)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t c = 0; c < C; c++)
                y[(b * C + c) * A + a] = x[(b * A + a) * C + c];
}

void sv_ref_nan_to_num(double *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            x[i] = 0;
        else if (isinf(x[i]))
            x[i] = x[i] > 0 ? 1e5 : -1e5;
    }
}
