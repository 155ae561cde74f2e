/* normalize_2nd_moment: device forward/backward and float64 host references. */
#include "config.h"

#include <math.h>

#include "ops_internal.h"

static const char FILE_CL[] = "normalize.cl";

static int rows(const sv_tensor *x, int64_t *N, int64_t *D)
{
    if (x->ndim < 2)
        return sv_seterr(sv_ctx_err(x->ctx), SV_ERR_INVALID, "normalize_2nd_moment: input needs ≥ 2 dims [N, D]");
    *N = x->shape[0];
    *D = *N ? sv_numel(x) / *N : 0;
    return SV_OK;
}

static int launch(sv_ctx *ctx, const char *kname, const sv_tensor *x, const sv_tensor *gy, sv_tensor *out,
                  int64_t N, int64_t D)
{
    if (N == 0 || D == 0)
        return SV_OK;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, x);
    if (gy)
        sv_arg_tensor(&a, gy);
    sv_arg_tensor(&a, out);
    sv_arg_long(&a, D);
    sv_arg_float(&a, (float)SV_NORMALIZE_EPS);
    SV_TRY(sv_args_end(&a));
    size_t g = (size_t)N * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &g, &l, kname);
}

int sv_normalize_2nd_moment_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y)
{
    int64_t N = 0, D = 0;
    SV_TRY(rows(x, &N, &D));
    SV_TRY(sv_check_shape(y, "normalize_2nd_moment output", x->ndim, x->shape));
    return launch(ctx, "normalize_fwd", x, NULL, y, N, D);
}

int sv_normalize_2nd_moment_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, sv_tensor *gx)
{
    int64_t N = 0, D = 0;
    SV_TRY(rows(x, &N, &D));
    SV_TRY(sv_check_shape(gy, "normalize_2nd_moment grad_out", x->ndim, x->shape));
    SV_TRY(sv_check_shape(gx, "normalize_2nd_moment grad_in", x->ndim, x->shape));
    return launch(ctx, "normalize_bwd", x, gy, gx, N, D);
}

/* ---- float64 host references ---- */

void sv_ref_normalize_2nd_moment_fwd(const double *x, int64_t N, int64_t D, double *y)
{
    for (int64_t r = 0; r < N; r++) {
        const double *xr = x + r * D;
        double ss = 0;
        for (int64_t j = 0; j < D; j++)
            ss += xr[j] * xr[j];
        double s = 1.0 / sqrt(ss / (double)D + SV_NORMALIZE_EPS);
        for (int64_t j = 0; j < D; j++)
            y[r * D + j] = xr[j] * s;
    }
}

void sv_ref_normalize_2nd_moment_bwd(const double *x, const double *gy, int64_t N, int64_t D, double *gx)
{
    for (int64_t r = 0; r < N; r++) {
        const double *xr = x + r * D, *gr = gy + r * D;
        double ss = 0, dot = 0;
        for (int64_t j = 0; j < D; j++) {
            ss += xr[j] * xr[j];
            dot += gr[j] * xr[j];
        }
        double s = 1.0 / sqrt(ss / (double)D + SV_NORMALIZE_EPS);
        double c = s * s * s * dot / (double)D;
        for (int64_t j = 0; j < D; j++)
            gx[r * D + j] = s * gr[j] - c * xr[j];
    }
}
