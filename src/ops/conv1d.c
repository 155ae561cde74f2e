/* conv1d: im2col + GEMM device implementation and float64 host references. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "conv1d.cl";

float sv_conv1d_wgain(int64_t Cin, int64_t K, float lr_multiplier)
{
    return (float)((double)lr_multiplier / sqrt((double)(Cin * K)));
}

typedef struct c1_dims {
    int64_t B, Cin, L, Cout, K, Lo;
} c1_dims;

/* Dimensions from x [B, Cin, L] (or gx) and W [Cout, Cin, K] shapes. */
static int c1_setup(sv_ctx *ctx, const sv_tensor *x, const int64_t *wshape, c1_dims *d)
{
    if (x->ndim != 3)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "conv1d: input must be [B, Cin, L] (got %d dims)",
                         x->ndim);
    d->B = x->shape[0];
    d->Cin = x->shape[1];
    d->L = x->shape[2];
    d->Cout = wshape[0];
    d->K = wshape[2];
    if (wshape[1] != d->Cin)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "conv1d: weight has %lld input channels, input has %lld",
                         (long long)wshape[1], (long long)d->Cin);
    if (d->K < 1 || d->L < d->K || d->B < 1 || d->Cin < 1 || d->Cout < 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                         "conv1d: length %lld shorter than kernel %lld (valid convolution) or empty tensor",
                         (long long)d->L, (long long)d->K);
    d->Lo = d->L - d->K + 1;
    return SV_OK;
}

static int check_w(sv_ctx *ctx, const sv_tensor *W)
{
    if (W->ndim != 3)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "conv1d: weight must be [Cout, Cin, K] (got %d dims)",
                         W->ndim);
    return SV_OK;
}

/* col [Cin·K, B, Lo] from x (see cl/conv1d.cl for why this layout). */
static int im2col(sv_ctx *ctx, const sv_tensor *x, sv_tensor *col, const c1_dims *d)
{
    SV_TRY(sv_tensor_newv(ctx, col, 3, d->Cin * d->K, d->B, d->Lo));
    cl_kernel k;
    int rc = sv_kernel(ctx, FILE_CL, "conv1d_im2col", NULL, &k);
    if (!rc) {
        sv_args a;
        sv_args_begin(&a, ctx, k, "conv1d_im2col");
        sv_arg_tensor(&a, x);
        sv_arg_tensor(&a, col);
        sv_arg_int(&a, (int)d->B);
        sv_arg_int(&a, (int)d->Cin);
        sv_arg_int(&a, (int)d->L);
        sv_arg_int(&a, (int)d->K);
        sv_arg_int(&a, (int)d->Lo);
        rc = sv_args_end(&a);
    }
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(d->B * d->Cin * d->K * d->Lo), "conv1d_im2col");
    if (rc)
        sv_tensor_free(col);
    return rc;
}

int sv_conv1d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *W, float wgain, sv_tensor *y)
{
    c1_dims d;
    SV_TRY(check_w(ctx, W));
    SV_TRY(c1_setup(ctx, x, W->shape, &d));
    int64_t sy[3] = {d.B, d.Cout, d.Lo};
    SV_TRY(sv_check_shape(y, "conv1d output", 3, sy));
    sv_tensor col;
    SV_TRY(im2col(ctx, x, &col, &d));
    size_t CK = (size_t)(d.Cin * d.K), Lo = (size_t)d.Lo;
    /* y[b] [Cout, Lo] = W [Cout, CK] · col[:, b, :] (ld B·Lo) */
    int rc = sv_gemm_strided_batched(ctx, SV_N, SV_N, (size_t)d.Cout, Lo, CK, wgain, sv_tmat(W, 0, CK), 0,
                                     sv_tmat(&col, 0, (size_t)d.B * Lo), Lo, 0.0f, sv_tmat(y, 0, Lo),
                                     (size_t)d.Cout * Lo, (size_t)d.B);
    sv_tensor_free(&col);
    return rc;
}

int sv_conv1d_bwd_data(sv_ctx *ctx, const sv_tensor *gy, const sv_tensor *W, float wgain, sv_tensor *gx)
{
    c1_dims d;
    SV_TRY(check_w(ctx, W));
    SV_TRY(c1_setup(ctx, gx, W->shape, &d));
    int64_t sy[3] = {d.B, d.Cout, d.Lo};
    SV_TRY(sv_check_shape(gy, "conv1d grad_out", 3, sy));
    size_t CK = (size_t)(d.Cin * d.K), Lo = (size_t)d.Lo;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "conv1d_col2im", NULL, k);
    sv_tensor gcol;
    SV_TRY(sv_tensor_newv(ctx, &gcol, 3, d.B, (int64_t)CK, d.Lo));
    int rc = sv_gemm_strided_batched(ctx, SV_T, SV_N, CK, Lo, (size_t)d.Cout, wgain, sv_tmat(W, 0, CK), 0,
                                     sv_tmat(gy, 0, Lo), (size_t)d.Cout * Lo, 0.0f, sv_tmat(&gcol, 0, Lo), CK * Lo,
                                     (size_t)d.B);
    if (!rc) {
        sv_args a;
        sv_args_begin(&a, ctx, k, "conv1d_col2im");
        sv_arg_tensor(&a, &gcol);
        sv_arg_tensor(&a, gx);
        sv_arg_int(&a, (int)d.B);
        sv_arg_int(&a, (int)d.Cin);
        sv_arg_int(&a, (int)d.L);
        sv_arg_int(&a, (int)d.K);
        sv_arg_int(&a, (int)d.Lo);
        rc = sv_args_end(&a);
    }
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(d.B * d.Cin * d.L), "conv1d_col2im");
    sv_tensor_free(&gcol);
    return rc;
}

int sv_conv1d_bwd_weight(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, float wgain, sv_tensor *gW,
                         int accumulate)
{
    c1_dims d;
    SV_TRY(check_w(ctx, gW));
    SV_TRY(c1_setup(ctx, x, gW->shape, &d));
    int64_t sy[3] = {d.B, d.Cout, d.Lo};
    SV_TRY(sv_check_shape(gy, "conv1d grad_out", 3, sy));
    size_t CK = (size_t)(d.Cin * d.K), Lo = (size_t)d.Lo, Co = (size_t)d.Cout;
    /* gW = Σ_{b,j} gy[b, o, j]·col[ck, b, j]: one GEMM over K = B·Lo after
     * permuting gy [B, Cout, Lo] -> [Cout, B, Lo] */
    sv_tensor col, gyp;
    SV_TRY(im2col(ctx, x, &col, &d));
    int rc = sv_tensor_newv(ctx, &gyp, 3, d.Cout, d.B, d.Lo);
    if (rc) {
        sv_tensor_free(&col);
        return rc;
    }
    rc = sv_swap_mid(ctx, gy, 1, d.B, d.Cout, d.Lo, &gyp);
    if (!rc)
        rc = sv_gemm(ctx, SV_N, SV_T, Co, CK, (size_t)d.B * Lo, wgain, sv_tmat(&gyp, 0, (size_t)d.B * Lo),
                     sv_tmat(&col, 0, (size_t)d.B * Lo), accumulate ? 1.0f : 0.0f, sv_tmat(gW, 0, CK));
    sv_tensor_free(&gyp);
    sv_tensor_free(&col);
    return rc;
}

/* ---- float64 host references ---- */

void sv_ref_conv1d_fwd(const double *x, const double *W, int64_t B, int64_t Cin, int64_t L, int64_t Cout, int64_t K,
                       double wgain, double *y)
{
    int64_t Lo = L - K + 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t j = 0; j < Lo; j++) {
                double s = 0;
                for (int64_t i = 0; i < Cin; i++)
                    for (int64_t k = 0; k < K; k++)
                        s += W[(o * Cin + i) * K + k] * x[(b * Cin + i) * L + j + k];
                y[(b * Cout + o) * Lo + j] = wgain * s;
            }
}

void sv_ref_conv1d_bwd_data(const double *gy, const double *W, int64_t B, int64_t Cin, int64_t L, int64_t Cout,
                            int64_t K, double wgain, double *gx)
{
    int64_t Lo = L - K + 1;
    memset(gx, 0, (size_t)(B * Cin * L) * sizeof *gx);
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t j = 0; j < Lo; j++) {
                double g = wgain * gy[(b * Cout + o) * Lo + j];
                for (int64_t i = 0; i < Cin; i++)
                    for (int64_t k = 0; k < K; k++)
                        gx[(b * Cin + i) * L + j + k] += g * W[(o * Cin + i) * K + k];
            }
}

void sv_ref_conv1d_bwd_weight(const double *x, const double *gy, int64_t B, int64_t Cin, int64_t L, int64_t Cout,
                              int64_t K, double wgain, double *gW)
{
    int64_t Lo = L - K + 1;
    memset(gW, 0, (size_t)(Cout * Cin * K) * sizeof *gW);
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < Cout; o++)
            for (int64_t j = 0; j < Lo; j++) {
                double g = wgain * gy[(b * Cout + o) * Lo + j];
                for (int64_t i = 0; i < Cin; i++)
                    for (int64_t k = 0; k < K; k++)
                        gW[(o * Cin + i) * K + k] += g * x[(b * Cin + i) * L + j + k];
            }
}
