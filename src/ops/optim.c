/* optim: Adam and EMA — device launchers and float64 host references. */
#include "config.h"

#include <math.h>

#include "ops_internal.h"

static const char FILE_CL[] = "optim.cl";

static int check_numel(const sv_tensor *ref, const sv_tensor *t, const char *op, const char *what)
{
    if (sv_numel(t) == sv_numel(ref))
        return SV_OK;
    return sv_seterr(sv_ctx_err(ref->ctx), SV_ERR_INVALID, "%s: %s has %lld elements, parameter has %lld", op, what,
                     (long long)sv_numel(t), (long long)sv_numel(ref));
}

int sv_adam_step(sv_ctx *ctx, sv_tensor *param, const sv_tensor *grad, sv_tensor *m, sv_tensor *v, float lr,
                 float beta1, float beta2, float eps, int64_t step)
{
    SV_TRY(check_numel(param, grad, "adam", "gradient"));
    SV_TRY(check_numel(param, m, "adam", "first moment"));
    SV_TRY(check_numel(param, v, "adam", "second moment"));
    if (step < 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "adam: step must be ≥ 1 (got %lld)", (long long)step);
    if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "adam: betas must lie in [0, 1) (got %g, %g)",
                         (double)beta1, (double)beta2);
    /* as torch: bias corrections in double from the float hyper-parameters */
    double bc1 = 1.0 - pow((double)beta1, (double)step);
    double bc2 = 1.0 - pow((double)beta2, (double)step);
    float step_size = (float)((double)lr / bc1);
    float bc2s = (float)sqrt(bc2);
    int64_t n = sv_numel(param);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "adam_step", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "adam_step");
    sv_arg_tensor(&a, param);
    sv_arg_tensor(&a, grad);
    sv_arg_tensor(&a, m);
    sv_arg_tensor(&a, v);
    sv_arg_float(&a, beta1);
    sv_arg_float(&a, beta2);
    sv_arg_float(&a, eps);
    sv_arg_float(&a, step_size);
    sv_arg_float(&a, bc2s);
    sv_arg_long(&a, n);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)n, "adam_step");
}

int sv_ema_update(sv_ctx *ctx, sv_tensor *p_ema, const sv_tensor *p, float beta)
{
    SV_TRY(check_numel(p_ema, p, "ema", "source parameter"));
    int64_t n = sv_numel(p);
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "ema_update", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "ema_update");
    sv_arg_tensor(&a, p_ema);
    sv_arg_tensor(&a, p);
    sv_arg_float(&a, beta);
    sv_arg_long(&a, n);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)n, "ema_update");
}

/* ---- float64 host references ---- */

void sv_ref_adam_step(double *p, const double *g, double *m, double *v, int64_t n, double lr, double beta1,
                      double beta2, double eps, int64_t step)
{
    double bc1 = 1.0 - pow(beta1, (double)step);
    double bc2 = 1.0 - pow(beta2, (double)step);
    for (int64_t i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
        p[i] -= (lr / bc1) * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

void sv_ref_ema_update(double *p_ema, const double *p, int64_t n, double beta)
{
    for (int64_t i = 0; i < n; i++)
        p_ema[i] = p[i] + beta * (p_ema[i] - p[i]);
}
