/* upfirdn2d: device forward/backward and float64 host references. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "upfirdn2d.cl";

/* Longest source row (forward: W, backward: Wo) the row kernels take in
 * their private row buffer (-DMAXW); wider planes (or more than INT32_MAX
 * planes) use the per-element form. */
#define UFD_ROW_MAXW 256

static sv_upfirdn2d_params preset(int up, int down, int pad0, int pad1, float norm)
{
    sv_upfirdn2d_params p = {.up = up, .down = down, .pad0 = pad0, .pad1 = pad1, .ntaps = 4,
                             .taps = {1.0f / norm, 3.0f / norm, 3.0f / norm, 1.0f / norm}};
    return p;
}

sv_upfirdn2d_params sv_upfirdn2d_blur_up_conv(void) { return preset(1, 1, 1, 1, 4.0f); }
sv_upfirdn2d_params sv_upfirdn2d_upsample2(void) { return preset(2, 1, 2, 1, 4.0f); }
sv_upfirdn2d_params sv_upfirdn2d_blur_down_conv(void) { return preset(1, 1, 2, 2, 8.0f); }
sv_upfirdn2d_params sv_upfirdn2d_down2(void) { return preset(1, 2, 1, 1, 8.0f); }

static int params_ok(const sv_upfirdn2d_params *p)
{
    return p && p->up >= 1 && p->down >= 1 && p->ntaps >= 1 && p->ntaps <= SV_UPFIRDN_MAX_TAPS;
}

int sv_upfirdn2d_out_size(int H, const sv_upfirdn2d_params *p)
{
    if (!params_ok(p) || H < 1)
        return 0;
    long num = (long)H * p->up + p->pad0 + p->pad1 - p->ntaps;
    if (num < 0)
        return 0;
    return (int)(num / p->down + 1);
}

/* Validate x-side shape [N, C, H, W] and compute Ho, Wo. */
static int check(sv_ctx *ctx, const char *what, const sv_tensor *t, const sv_upfirdn2d_params *p, int *Ho, int *Wo)
{
    if (!params_ok(p))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                         "%s: bad parameters (need up >= 1, down >= 1, 1 <= ntaps <= %d)", what,
                         SV_UPFIRDN_MAX_TAPS);
    if (t->ndim != 4)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: tensor must be [N, C, H, W], got %d dims", what,
                         t->ndim);
    if (t->shape[2] < 1 || t->shape[3] < 1 || t->shape[2] > (1 << 24) || t->shape[3] > (1 << 24))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: bad spatial size", what);
    *Ho = sv_upfirdn2d_out_size((int)t->shape[2], p);
    *Wo = sv_upfirdn2d_out_size((int)t->shape[3], p);
    if (*Ho < 1 || *Wo < 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: empty output for input %lldx%lld", what,
                         (long long)t->shape[2], (long long)t->shape[3]);
    return SV_OK;
}

/* Build options specialising the kernels to one parameter set (taps as
 * exact hex-float literals). */
static void defines(const sv_upfirdn2d_params *p, char *buf, size_t n)
{
    int k = snprintf(buf, n, "-DUP=%d -DDOWN=%d -DPAD0=%d -DMAXW=%d -DNTAPS=%d -DTAPS=", p->up, p->down, p->pad0,
                     UFD_ROW_MAXW, p->ntaps);
    for (int i = 0; i < p->ntaps && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, "%s%af", i ? "," : "", (double)p->taps[i]);
}

/* Per-element form (GPUs): NDRange (columns, rows, planes).  Row form (CPU
 * devices, sv_ctx_row_kernels, source rows up to UFD_ROW_MAXW): NDRange
 * (rows, planes), one work-item per destination row, with the plane count as
 * the last kernel argument. */
static int launch3(sv_ctx *ctx, cl_kernel k, int cols, int rows, int64_t planes, const char *kname)
{
    size_t g[3] = {(size_t)cols, (size_t)rows, (size_t)planes};
    return sv_launch(ctx, k, 3, g, NULL, kname);
}

static int launch_rows(sv_ctx *ctx, cl_kernel k, int rows, int64_t planes, const char *kname)
{
    size_t g[2] = {(size_t)rows, (size_t)planes};
    return sv_launch(ctx, k, 2, g, NULL, kname);
}

int sv_upfirdn2d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_upfirdn2d_params *p, sv_tensor *y)
{
    int Ho = 0, Wo = 0;
    SV_TRY(check(ctx, "upfirdn2d_fwd", x, p, &Ho, &Wo));
    int64_t ys[4] = {x->shape[0], x->shape[1], Ho, Wo};
    SV_TRY(sv_check_shape(y, "upfirdn2d output", 4, ys));
    if (!sv_same_ctx(x, y))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "upfirdn2d_fwd: tensors from different contexts");
    int64_t total = sv_numel(y);
    if (total == 0)
        return SV_OK;
    char defs[512];
    defines(p, defs, sizeof defs);
    const int64_t planes = x->shape[0] * x->shape[1];
    const int rows = sv_ctx_row_kernels(ctx) && x->shape[3] <= UFD_ROW_MAXW && planes <= INT32_MAX;
    const char *kname = rows ? "upfirdn2d_fwd_rows" : "upfirdn2d_fwd";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, defs, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, y);
    sv_arg_int(&a, (int)x->shape[2]);
    sv_arg_int(&a, (int)x->shape[3]);
    sv_arg_int(&a, Ho);
    sv_arg_int(&a, Wo);
    if (rows)
        sv_arg_int(&a, (int)planes);
    SV_TRY(sv_args_end(&a));
    if (rows)
        return launch_rows(ctx, k, Ho, planes, kname);
    return launch3(ctx, k, Wo, Ho, planes, kname);
}

int sv_upfirdn2d_bwd(sv_ctx *ctx, const sv_tensor *gy, const sv_upfirdn2d_params *p, sv_tensor *gx, int accumulate)
{
    int Ho = 0, Wo = 0;
    SV_TRY(check(ctx, "upfirdn2d_bwd", gx, p, &Ho, &Wo));
    int64_t ys[4] = {gx->shape[0], gx->shape[1], Ho, Wo};
    SV_TRY(sv_check_shape(gy, "upfirdn2d grad_out", 4, ys));
    if (!sv_same_ctx(gx, gy))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "upfirdn2d_bwd: tensors from different contexts");
    int64_t total = sv_numel(gx);
    if (total == 0)
        return SV_OK;
    char defs[512];
    defines(p, defs, sizeof defs);
    const int64_t planes = gx->shape[0] * gx->shape[1];
    const int rows = sv_ctx_row_kernels(ctx) && Wo <= UFD_ROW_MAXW && planes <= INT32_MAX;
    const char *kname = rows ? "upfirdn2d_bwd_rows" : "upfirdn2d_bwd";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, defs, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, gy);
    sv_arg_tensor(&a, gx);
    sv_arg_int(&a, (int)gx->shape[2]);
    sv_arg_int(&a, (int)gx->shape[3]);
    sv_arg_int(&a, Ho);
    sv_arg_int(&a, Wo);
    sv_arg_int(&a, accumulate ? 1 : 0);
    if (rows)
        sv_arg_int(&a, (int)planes);
    SV_TRY(sv_args_end(&a));
    if (rows)
        return launch_rows(ctx, k, (int)gx->shape[2], planes, kname);
    return launch3(ctx, k, (int)gx->shape[3], (int)gx->shape[2], planes, kname);
}

/* ---- float64 host references: direct from the definition (forward) and its
 * transpose by scattering (backward). ---- */

/* value of z (upsampled, padded plane) at index a along one axis: the source
 * index into x, or -1 for a zero. */
static int src_index(int a, int H, const sv_upfirdn2d_params *p)
{
    int m = a - p->pad0;
    if (m < 0 || m >= H * p->up || m % p->up != 0)
        return -1;
    return m / p->up;
}

void sv_ref_upfirdn2d_fwd(const double *x, int64_t N, int64_t C, int H, int W, const sv_upfirdn2d_params *p,
                          double *y)
{
    int Ho = sv_upfirdn2d_out_size(H, p), Wo = sv_upfirdn2d_out_size(W, p);
    if (Ho < 1 || Wo < 1)
        return;
    for (int64_t nc = 0; nc < N * C; nc++) {
        const double *xp = x + nc * H * W;
        double *yp = y + nc * Ho * Wo;
        for (int pp = 0; pp < Ho; pp++)
            for (int q = 0; q < Wo; q++) {
                double acc = 0;
                for (int j = 0; j < p->ntaps; j++)
                    for (int k = 0; k < p->ntaps; k++) {
                        int r = src_index(pp * p->down + j, H, p), c = src_index(q * p->down + k, W, p);
                        if (r >= 0 && c >= 0)
                            acc += (double)p->taps[j] * (double)p->taps[k] * xp[r * W + c];
                    }
                yp[pp * Wo + q] = acc;
            }
    }
}

void sv_ref_upfirdn2d_bwd(const double *gy, int64_t N, int64_t C, int H, int W, const sv_upfirdn2d_params *p,
                          double *gx)
{
    memset(gx, 0, (size_t)(N * C * H * W) * sizeof *gx);
    int Ho = sv_upfirdn2d_out_size(H, p), Wo = sv_upfirdn2d_out_size(W, p);
    if (Ho < 1 || Wo < 1)
        return;
    for (int64_t nc = 0; nc < N * C; nc++) {
        double *xp = gx + nc * H * W;
        const double *yp = gy + nc * Ho * Wo;
        for (int pp = 0; pp < Ho; pp++)
            for (int q = 0; q < Wo; q++)
                for (int j = 0; j < p->ntaps; j++)
                    for (int k = 0; k < p->ntaps; k++) {
                        int r = src_index(pp * p->down + j, H, p), c = src_index(q * p->down + k, W, p);
                        if (r >= 0 && c >= 0)
                            xp[r * W + c] += (double)p->taps[j] * (double)p->taps[k] * yp[pp * Wo + q];
                    }
    }
}
