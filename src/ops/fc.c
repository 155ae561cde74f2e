/* fc: fully connected layer = one GEMM + bias_act (device), and float64 host
 * references.  See include/svgan/ops/fc.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

float sv_fc_wgain(int64_t in, float lr_mul) { return (float)((double)lr_mul / sqrt((double)in)); }

/* x [N, in], w [out, in]; returns N, in, out. */
static int fc_dims(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, int64_t *N, int64_t *in, int64_t *out)
{
    if (x->ndim != 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "fc: input must be [N, in] (reshape first), has %d dims",
                         x->ndim);
    if (w->ndim != 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "fc: weight must be [out, in], has %d dims", w->ndim);
    *N = x->shape[0];
    *in = x->shape[1];
    *out = w->shape[0];
    int64_t ws[2] = {*out, *in};
    SV_TRY(sv_check_shape(w, "fc weight", 2, ws));
    return SV_OK;
}

/* C[N, out] = wgain · A[N, in] · Wᵀ. */
static int fc_gemm(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *w, float wgain, int64_t N, int64_t in,
                   int64_t out, sv_tensor *c)
{
    return sv_gemm(ctx, SV_N, SV_T, (size_t)N, (size_t)out, (size_t)in, wgain, sv_tmat(a, 0, (size_t)in),
                   sv_tmat(w, 0, (size_t)in), 0.0f, sv_tmat(c, 0, (size_t)out));
}

int sv_fc_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *b, float wgain,
              const sv_bias_act_params *p, sv_tensor *y)
{
    int64_t N = 0, in = 0, out = 0;
    SV_TRY(fc_dims(ctx, x, w, &N, &in, &out));
    int64_t ys[2] = {N, out};
    SV_TRY(sv_check_shape(y, "fc output", 2, ys));
    if (b) {
        int64_t bs[1] = {out};
        SV_TRY(sv_check_shape(b, "fc bias", 1, bs));
    }
    SV_TRY(fc_gemm(ctx, x, w, wgain, N, in, out, y));
    return sv_bias_act_fwd(ctx, y, b, p, y);
}

int sv_fc_jvp(sv_ctx *ctx, const sv_tensor *xdot, const sv_tensor *w, const sv_tensor *y, float wgain,
              const sv_bias_act_params *p, sv_tensor *ydot)
{
    int64_t N = 0, in = 0, out = 0;
    SV_TRY(fc_dims(ctx, xdot, w, &N, &in, &out));
    int64_t ys[2] = {N, out};
    SV_TRY(sv_check_shape(y, "fc forward output", 2, ys));
    SV_TRY(sv_check_shape(ydot, "fc tangent output", 2, ys));
    SV_TRY(fc_gemm(ctx, xdot, w, wgain, N, in, out, ydot));
    return sv_bias_act_bwd(ctx, y, ydot, p, ydot, NULL, 0);
}

int sv_fc_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *y, const sv_tensor *gy,
              float wgain, const sv_bias_act_params *p, sv_tensor *gx, sv_tensor *gw, sv_tensor *gb,
              int accumulate)
{
    int64_t N = 0, in = 0, out = 0;
    SV_TRY(fc_dims(ctx, x, w, &N, &in, &out));
    int64_t ys[2] = {N, out};
    SV_TRY(sv_check_shape(y, "fc forward output", 2, ys));
    SV_TRY(sv_check_shape(gy, "fc grad_out", 2, ys));
    if (gx)
        SV_TRY(sv_check_shape(gx, "fc grad_in", 2, x->shape));
    if (gw)
        SV_TRY(sv_check_shape(gw, "fc weight grad", 2, w->shape));
    if (gb) {
        int64_t bs[1] = {out};
        SV_TRY(sv_check_shape(gb, "fc bias grad", 1, bs));
    }
    if (!gx && !gw && !gb)
        return SV_OK;
    sv_tensor g;
    SV_TRY(sv_tensor_new(ctx, &g, 2, ys));
    /* g = f'(y)·gy; gb (+)= bias_gain·Σ_n g */
    int rc = sv_bias_act_bwd(ctx, y, gy, p, &g, gb, accumulate);
    /* gx = wgain · g[N, out] · W[out, in] */
    if (!rc && gx)
        rc = sv_gemm(ctx, SV_N, SV_N, (size_t)N, (size_t)in, (size_t)out, wgain, sv_tmat(&g, 0, (size_t)out),
                     sv_tmat(w, 0, (size_t)in), 0.0f, sv_tmat(gx, 0, (size_t)in));
    /* gW (+)= wgain · gᵀ[out, N] · x[N, in] */
    if (!rc && gw)
        rc = sv_gemm(ctx, SV_T, SV_N, (size_t)out, (size_t)in, (size_t)N, wgain, sv_tmat(&g, 0, (size_t)out),
                     sv_tmat(x, 0, (size_t)in), accumulate ? 1.0f : 0.0f, sv_tmat(gw, 0, (size_t)in));
    sv_tensor_free(&g);
    return rc;
}

/* ---- float64 host references ---- */

static void ref_matmul_t(const double *x, const double *w, int64_t N, int64_t in, int64_t out, double wgain,
                         double *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t i = 0; i < in; i++)
                s += x[n * in + i] * w[o * in + i];
            y[n * out + o] = s * wgain;
        }
}

void sv_ref_fc_fwd(const double *x, const double *w, const double *b, int64_t N, int64_t in, int64_t out,
                   double wgain, const sv_bias_act_params *p, double *y)
{
    ref_matmul_t(x, w, N, in, out, wgain, y);
    sv_ref_bias_act_fwd(y, b, N, out, 1, p, y);
}

void sv_ref_fc_jvp(const double *xdot, const double *w, const double *y, int64_t N, int64_t in, int64_t out,
                   double wgain, const sv_bias_act_params *p, double *ydot)
{
    ref_matmul_t(xdot, w, N, in, out, wgain, ydot);
    sv_ref_bias_act_bwd(y, ydot, N, out, 1, p, ydot, NULL);
}

void sv_ref_fc_bwd(const double *x, const double *w, const double *y, const double *gy, int64_t N, int64_t in,
                   int64_t out, double wgain, const sv_bias_act_params *p, double *gx, double *gw, double *gb)
{
    double *g = malloc((size_t)(N * out) * sizeof *g);
    if (!g)
        return;
    sv_ref_bias_act_bwd(y, gy, N, out, 1, p, g, gb);
    if (gx)
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t o = 0; o < out; o++)
                    s += g[n * out + o] * w[o * in + i];
                gx[n * in + i] = s * wgain;
            }
    if (gw)
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t n = 0; n < N; n++)
                    s += g[n * out + o] * x[n * in + i];
                gw[o * in + i] = s * wgain;
            }
    free(g);
}
