/* mbstd: device forward/backward/tangent and float64 host references. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "mbstd.cl";

int sv_mbstd_group(sv_ctx *ctx, int64_t N, int group_size)
{
    if (group_size < 1 || N < 1) {
        if (ctx)
            sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "mbstd: group size %d and batch %lld must be ≥ 1",
                      group_size, (long long)N);
        return 0;
    }
    int G = N < group_size ? (int)N : group_size;
    if (N % G != 0) {
        if (ctx)
            sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "mbstd: batch %lld is not divisible by group size %d",
                      (long long)N, G);
        return 0;
    }
    return G;
}

typedef struct mb_dims {
    int64_t N, C, H, W, HW, S;
    int G, n;
} mb_dims;

/* Validate x [N, C, H, W] and the group size. */
static int mb_setup(sv_ctx *ctx, const sv_tensor *x, int group_size, mb_dims *d)
{
    if (x->ndim != 4)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "mbstd: input must be [N, C, H, W] (got %d dims)",
                         x->ndim);
    d->N = x->shape[0];
    d->C = x->shape[1];
    d->H = x->shape[2];
    d->W = x->shape[3];
    d->HW = d->H * d->W;
    d->S = d->C * d->HW;
    if (d->N < 1 || d->S < 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "mbstd: empty input");
    d->G = sv_mbstd_group(ctx, d->N, group_size);
    if (!d->G)
        return SV_ERR_INVALID;
    d->n = (int)(d->N / d->G);
    return SV_OK;
}

static int check_y(const sv_tensor *t, const char *what, const mb_dims *d)
{
    int64_t sh[4] = {d->N, d->C + 1, d->H, d->W};
    return sv_check_shape(t, what, 4, sh);
}

/* out[0..n) = σ (xd == NULL) or σ̇. */
static int launch_stats(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xd, sv_tensor *out, const mb_dims *d)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "mbstd_stats", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "mbstd_stats");
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, xd ? xd : x);
    sv_arg_int(&a, xd != NULL);
    sv_arg_tensor(&a, out);
    sv_arg_long(&a, d->S);
    sv_arg_int(&a, d->n);
    sv_arg_int(&a, d->G);
    SV_TRY(sv_args_end(&a));
    size_t g = (size_t)d->n * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &g, &l, "mbstd_stats");
}

static int launch_fill(sv_ctx *ctx, const sv_tensor *src, const sv_tensor *stat, sv_tensor *y, const mb_dims *d)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "mbstd_fill", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "mbstd_fill");
    sv_arg_tensor(&a, src);
    sv_arg_tensor(&a, stat);
    sv_arg_tensor(&a, y);
    sv_arg_int(&a, (int)d->N);
    sv_arg_long(&a, d->S);
    sv_arg_long(&a, d->HW);
    sv_arg_int(&a, d->n);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(d->N * (d->S + d->HW)), "mbstd_fill");
}

/* gam[first .. first+n) = Γ of gy. */
static int launch_gamma(sv_ctx *ctx, const sv_tensor *gy, sv_tensor *gam, size_t first, const mb_dims *d)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "mbstd_gamma", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "mbstd_gamma");
    sv_arg_tensor(&a, gy);
    sv_arg_mem(&a, gam->mem);
    sv_arg_long(&a, (int64_t)(gam->off + first));
    sv_arg_long(&a, d->S);
    sv_arg_long(&a, d->HW);
    sv_arg_int(&a, d->n);
    sv_arg_int(&a, d->G);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)d->n, "mbstd_gamma");
}

int sv_mbstd_fwd(sv_ctx *ctx, const sv_tensor *x, int group_size, sv_tensor *y)
{
    mb_dims d;
    SV_TRY(mb_setup(ctx, x, group_size, &d));
    SV_TRY(check_y(y, "mbstd output", &d));
    sv_tensor st;
    SV_TRY(sv_tensor_newv(ctx, &st, 1, (int64_t)d.n));
    int rc = launch_stats(ctx, x, NULL, &st, &d);
    if (!rc)
        rc = launch_fill(ctx, x, &st, y, &d);
    sv_tensor_free(&st);
    return rc;
}

int sv_mbstd_jvp(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xdot, int group_size, sv_tensor *ydot)
{
    mb_dims d;
    SV_TRY(mb_setup(ctx, x, group_size, &d));
    SV_TRY(sv_check_shape(xdot, "mbstd tangent input", 4, x->shape));
    SV_TRY(check_y(ydot, "mbstd tangent output", &d));
    sv_tensor st;
    SV_TRY(sv_tensor_newv(ctx, &st, 1, (int64_t)d.n));
    int rc = launch_stats(ctx, x, xdot, &st, &d);
    if (!rc)
        rc = launch_fill(ctx, xdot, &st, ydot, &d);
    sv_tensor_free(&st);
    return rc;
}

static int launch_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xd, const sv_tensor *gy,
                      const sv_tensor *gyd, const sv_tensor *gam, sv_tensor *gx, sv_tensor *gxd, const mb_dims *d)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "mbstd_bwd", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "mbstd_bwd");
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, xd ? xd : x);
    sv_arg_tensor(&a, gy ? gy : gyd);
    sv_arg_int(&a, gy != NULL);
    sv_arg_tensor(&a, gyd ? gyd : gy);
    sv_arg_int(&a, xd != NULL);
    sv_arg_tensor(&a, gam);
    sv_arg_tensor(&a, gx);
    sv_arg_tensor(&a, gxd ? gxd : gx);
    sv_arg_int(&a, (int)d->N);
    sv_arg_long(&a, d->S);
    sv_arg_long(&a, d->HW);
    sv_arg_int(&a, d->n);
    sv_arg_int(&a, d->G);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(d->N * d->S), "mbstd_bwd");
}

int sv_mbstd_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, int group_size, sv_tensor *gx)
{
    mb_dims d;
    SV_TRY(mb_setup(ctx, x, group_size, &d));
    SV_TRY(check_y(gy, "mbstd grad_out", &d));
    SV_TRY(sv_check_shape(gx, "mbstd grad_in", 4, x->shape));
    sv_tensor gam;
    SV_TRY(sv_tensor_newv(ctx, &gam, 1, (int64_t)d.n));
    int rc = launch_gamma(ctx, gy, &gam, 0, &d);
    if (!rc)
        rc = launch_bwd(ctx, x, NULL, gy, NULL, &gam, gx, NULL, &d);
    sv_tensor_free(&gam);
    return rc;
}

int sv_mbstd_jvp_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xdot, const sv_tensor *gy,
                     const sv_tensor *gydot, int group_size, sv_tensor *gx, sv_tensor *gxdot)
{
    mb_dims d;
    SV_TRY(mb_setup(ctx, x, group_size, &d));
    SV_TRY(sv_check_shape(xdot, "mbstd tangent input", 4, x->shape));
    if (gy)
        SV_TRY(check_y(gy, "mbstd grad_out", &d));
    SV_TRY(check_y(gydot, "mbstd tangent grad_out", &d));
    SV_TRY(sv_check_shape(gx, "mbstd grad_in", 4, x->shape));
    SV_TRY(sv_check_shape(gxdot, "mbstd tangent grad_in", 4, x->shape));
    sv_tensor gam;
    SV_TRY(sv_tensor_newv(ctx, &gam, 1, (int64_t)(2 * d.n)));
    int rc = SV_OK;
    if (gy)
        rc = launch_gamma(ctx, gy, &gam, 0, &d);
    if (!rc)
        rc = launch_gamma(ctx, gydot, &gam, (size_t)d.n, &d);
    if (!rc)
        rc = launch_bwd(ctx, x, xdot, gy, gydot, &gam, gx, gxdot, &d);
    sv_tensor_free(&gam);
    return rc;
}

/* ---- float64 host references ---- */

/* Per-element statistics of group g at element e. */
static void ref_stats(const double *x, const double *xd, int64_t S, int n, int G, int g, int64_t e, double *mu,
                      double *s, double *mud, double *p)
{
    double m = 0, md = 0;
    for (int k = 0; k < G; k++) {
        m += x[(int64_t)(g + k * n) * S + e];
        if (xd)
            md += xd[(int64_t)(g + k * n) * S + e];
    }
    m /= G;
    md /= G;
    double v = 0, pp = 0;
    for (int k = 0; k < G; k++) {
        double dd = x[(int64_t)(g + k * n) * S + e] - m;
        v += dd * dd;
        if (xd)
            pp += dd * xd[(int64_t)(g + k * n) * S + e];
    }
    *mu = m;
    *s = sqrt(v / G + SV_MBSTD_EPS);
    if (mud)
        *mud = md;
    if (p)
        *p = pp;
}

static void ref_fill(const double *src, const double *stat, int64_t N, int64_t S, int64_t HW, int n, double *y)
{
    for (int64_t i = 0; i < N; i++) {
        memcpy(y + i * (S + HW), src + i * S, (size_t)S * sizeof *y);
        for (int64_t h = 0; h < HW; h++)
            y[i * (S + HW) + S + h] = stat[i % n];
    }
}

static void ref_stat_all(const double *x, const double *xd, int64_t N, int64_t S, int G, double *stat)
{
    int n = (int)(N / G);
    for (int g = 0; g < n; g++) {
        double acc = 0;
        for (int64_t e = 0; e < S; e++) {
            double mu, s, p;
            ref_stats(x, xd, S, n, G, g, e, &mu, &s, NULL, &p);
            acc += xd ? p / s : s;
        }
        stat[g] = xd ? acc / ((double)G * (double)S) : acc / (double)S;
    }
}

void sv_ref_mbstd_fwd(const double *x, int64_t N, int64_t C, int64_t HW, int G, double *y)
{
    double *st = malloc((size_t)(N / G) * sizeof *st);
    if (!st)
        return;
    ref_stat_all(x, NULL, N, C * HW, G, st);
    ref_fill(x, st, N, C * HW, HW, (int)(N / G), y);
    free(st);
}

void sv_ref_mbstd_jvp(const double *x, const double *xdot, int64_t N, int64_t C, int64_t HW, int G, double *ydot)
{
    double *st = malloc((size_t)(N / G) * sizeof *st);
    if (!st)
        return;
    ref_stat_all(x, xdot, N, C * HW, G, st);
    ref_fill(xdot, st, N, C * HW, HW, (int)(N / G), ydot);
    free(st);
}

static double ref_gamma(const double *gy, int64_t S, int64_t HW, int n, int G, int g)
{
    double acc = 0;
    for (int k = 0; k < G; k++)
        for (int64_t h = 0; h < HW; h++)
            acc += gy[(int64_t)(g + k * n) * (S + HW) + S + h];
    return acc;
}

void sv_ref_mbstd_jvp_bwd(const double *x, const double *xdot, const double *gy, const double *gydot, int64_t N,
                          int64_t C, int64_t HW, int G, double *gx, double *gxdot)
{
    int64_t S = C * HW;
    int n = (int)(N / G);
    double gs = (double)G * (double)S;
    for (int64_t i = 0; i < N; i++) {
        int g = (int)(i % n);
        double gam = gy ? ref_gamma(gy, S, HW, n, G, g) : 0;
        double gamd = xdot ? ref_gamma(gydot, S, HW, n, G, g) : 0;
        for (int64_t e = 0; e < S; e++) {
            double mu, s, mud = 0, p = 0;
            ref_stats(x, xdot, S, n, G, g, e, &mu, &s, &mud, &p);
            double di = x[i * S + e] - mu;
            int64_t yi = i * (S + HW) + e;
            double r = gy ? gy[yi] + gam * di / (gs * s) : 0;
            if (xdot) {
                double ddi = xdot[i * S + e] - mud;
                r += gamd / gs * (ddi / s - p * di / (G * s * s * s));
                gxdot[i * S + e] = gydot[yi] + gamd * di / (gs * s);
            }
            gx[i * S + e] = r;
        }
    }
}

void sv_ref_mbstd_bwd(const double *x, const double *gy, int64_t N, int64_t C, int64_t HW, int G, double *gx)
{
    sv_ref_mbstd_jvp_bwd(x, NULL, gy, NULL, N, C, HW, G, gx, NULL);
}
