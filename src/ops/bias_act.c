/* bias_act: device forward/backward and float64 host references. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "bias_act.cl";

sv_bias_act_params sv_bias_act_default(sv_act act)
{
    sv_bias_act_params p;
    p.act = act;
    p.alpha = 0.2f;
    p.gain = act == SV_ACT_LRELU ? (float)M_SQRT2 : 1.0f;
    p.clamp = -1.0f;
    p.bias_gain = 1.0f;
    return p;
}

/* N, C, S from a tensor [N, C, ...]. */
static int ncs(const sv_tensor *t, int64_t *N, int64_t *C, int64_t *S)
{
    if (t->ndim < 2)
        return sv_seterr(sv_ctx_err(t->ctx), SV_ERR_INVALID, "bias_act: tensor needs ≥ 2 dims [N, C, ...]");
    *N = t->shape[0];
    *C = t->shape[1];
    *S = 1;
    for (int i = 2; i < t->ndim; i++)
        *S *= t->shape[i];
    return SV_OK;
}

int sv_bias_act_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *b, const sv_bias_act_params *p, sv_tensor *y)
{
    int64_t N = 0, C = 0, S = 0;
    SV_TRY(ncs(x, &N, &C, &S));
    SV_TRY(sv_check_shape(y, "bias_act output", x->ndim, x->shape));
    if (b && sv_numel(b) != C)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "bias_act: bias has %lld values for %lld channels",
                         (long long)sv_numel(b), (long long)C);
    const int rows = sv_ctx_row_kernels(ctx);
    const char *kname = rows ? "bias_act_fwd_rows" : "bias_act_fwd";
    /* row form: chunks of at most `chunk` values of one plane per work-item */
    const int64_t chunk = 4096, parts = (S + chunk - 1) / chunk;
    if (rows && N * C > INT32_MAX)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "bias_act: too many planes (%lld)", (long long)(N * C));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, x);
    if (b)
        sv_arg_tensor(&a, b);
    else
        sv_arg_tensor(&a, x);
    sv_arg_int(&a, b != NULL);
    sv_arg_tensor(&a, y);
    if (rows) {
        sv_arg_int(&a, (int)(N * C));
        sv_arg_int(&a, (int)C);
        sv_arg_long(&a, S);
        sv_arg_int(&a, (int)chunk);
    } else {
        sv_arg_long(&a, N * C * S);
        sv_arg_int(&a, (int)C);
        sv_arg_long(&a, S);
    }
    sv_arg_int(&a, (int)p->act);
    sv_arg_float(&a, p->alpha);
    sv_arg_float(&a, p->gain);
    sv_arg_float(&a, p->clamp);
    sv_arg_float(&a, p->bias_gain);
    SV_TRY(sv_args_end(&a));
    if (N * C * S == 0)
        return SV_OK;
    if (rows) {
        size_t g[2] = {(size_t)parts, (size_t)(N * C)};
        return sv_launch(ctx, k, 2, g, NULL, kname);
    }
    return sv_launch1(ctx, k, (size_t)(N * C * S), kname);
}

int sv_channel_sum(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate)
{
    int64_t N = 0, C = 0, S = 0;
    SV_TRY(ncs(x, &N, &C, &S));
    if (sv_numel(out) != C)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "channel_sum: output has %lld values for %lld channels",
                         (long long)sv_numel(out), (long long)C);
    const int rows = sv_ctx_row_kernels(ctx);
    const char *kname = rows ? "channel_sum_rows" : "channel_sum";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, out);
    sv_arg_int(&a, (int)N);
    sv_arg_int(&a, (int)C);
    sv_arg_long(&a, S);
    sv_arg_float(&a, alpha);
    sv_arg_int(&a, accumulate);
    SV_TRY(sv_args_end(&a));
    if (rows) {
        size_t g1 = (size_t)C;
        return sv_launch(ctx, k, 1, &g1, NULL, kname);
    }
    size_t g = (size_t)C * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &g, &l, kname);
}

int sv_bias_act_bwd(sv_ctx *ctx, const sv_tensor *y, const sv_tensor *gy, const sv_bias_act_params *p,
                    sv_tensor *gx, sv_tensor *gb, int accumulate)
{
    int64_t N = 0, C = 0, S = 0;
    SV_TRY(ncs(y, &N, &C, &S));
    SV_TRY(sv_check_shape(gy, "bias_act grad_out", y->ndim, y->shape));
    SV_TRY(sv_check_shape(gx, "bias_act grad_in", y->ndim, y->shape));
    const int rows = sv_ctx_row_kernels(ctx);
    const char *kname = rows ? "bias_act_bwd_rows" : "bias_act_bwd";
    const int64_t total = N * C * S, chunk = 4096;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, y);
    sv_arg_tensor(&a, gy);
    sv_arg_tensor(&a, gx);
    sv_arg_long(&a, total);
    if (rows)
        sv_arg_int(&a, (int)chunk);
    sv_arg_int(&a, (int)p->act);
    sv_arg_float(&a, p->alpha);
    sv_arg_float(&a, p->gain);
    sv_arg_float(&a, p->clamp);
    SV_TRY(sv_args_end(&a));
    if (total > 0)
        SV_TRY(sv_launch1(ctx, k, (size_t)(rows ? (total + chunk - 1) / chunk : total), kname));
    if (gb)
        SV_TRY(sv_channel_sum(ctx, gx, p->bias_gain, gb, accumulate));
    return SV_OK;
}

/* ---- float64 host references ---- */

void sv_ref_bias_act_fwd(const double *x, const double *b, int64_t N, int64_t C, int64_t S,
                         const sv_bias_act_params *p, double *y)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double v = x[i] + (b ? b[c] * (double)p->bias_gain : 0.0);
                if (p->act == SV_ACT_LRELU && !(v > 0))
                    v *= (double)p->alpha;
                v *= (double)p->gain;
                if (p->clamp >= 0 && !isnan(v))
                    v = fmin(fmax(v, -(double)p->clamp), (double)p->clamp);
                y[i] = v;
            }
}

void sv_ref_bias_act_bwd(const double *y, const double *gy, int64_t N, int64_t C, int64_t S,
                         const sv_bias_act_params *p, double *gx, double *gb)
{
    if (gb)
        memset(gb, 0, (size_t)C * sizeof *gb);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t s = 0; s < S; s++) {
                int64_t i = (n * C + c) * S + s;
                double d = p->gain;
                if (p->act == SV_ACT_LRELU && !(y[i] > 0))
                    d *= (double)p->alpha;
                if (p->clamp >= 0 && !(fabs(y[i]) < (double)p->clamp) && !isnan(y[i]))
                    d = 0;
                gx[i] = gy[i] * d;
                if (gb)
                    gb[c] += gx[i] * (double)p->bias_gain;
            }
}
