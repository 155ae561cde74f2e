/* modconv: device forward/backward (non-fused: scale, conv, scale) and
 * float64 host references (fused: per-video modulated/demodulated weights). */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "modconv.cl";

#define MC_EPS 1e-8

void sv_modconv_cache_free(sv_modconv_cache *c)
{
    if (!c)
        return;
    sv_tensor_free(&c->d);
    sv_tensor_free(&c->wsq);
    memset(c, 0, sizeof *c);
}

int sv_modconv_out_size(const sv_modconv_params *p, int H, int W, int *Ho, int *Wo)
{
    if (!p || p->k < 1 || p->k % 2 == 0 || H < 1 || W < 1 || p->frames_per_video < 1)
        return -1;
    if (p->up == 1) {
        *Ho = H;
        *Wo = W;
        return 0;
    }
    if (p->up == 2 && p->k == 3) {
        *Ho = 2 * H;
        *Wo = 2 * W;
        return 0;
    }
    return -1;
}

/* ---- kernel launchers ---- */

/* out[r, c, :] (+)= a[r, c, :] · v[r / F, c];  a, out [R, C, S...] */
static int launch_scale(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *v, sv_tensor *out, int C, int64_t S, int F,
                        int accumulate)
{
    int64_t planes = sv_numel(a) / S;
    if (S > INT32_MAX || planes > INT32_MAX)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "modconv: tensor too large for the scaling kernel");
    const int rows = sv_ctx_row_kernels(ctx);
    const char *kname = rows ? "mc_scale_rows" : "mc_scale";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args g;
    sv_args_begin(&g, ctx, k, kname);
    sv_arg_tensor(&g, a);
    sv_arg_tensor(&g, v);
    sv_arg_tensor(&g, out);
    sv_arg_int(&g, (int)S);
    sv_arg_int(&g, C);
    sv_arg_int(&g, (int)planes);
    sv_arg_int(&g, F);
    sv_arg_int(&g, accumulate ? 1 : 0);
    SV_TRY(sv_args_end(&g));
    if (rows) {
        size_t g1 = (size_t)planes;
        return sv_launch(ctx, k, 1, &g1, NULL, kname);
    }
    size_t gs[2] = {(size_t)S, (size_t)planes};
    return sv_launch(ctx, k, 2, gs, NULL, kname);
}

/* out[n, c] = Σ_{f, p} a[nF+f, c, p]·b[nF+f, c, p] */
static int launch_video_dot(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, sv_tensor *out, int64_t B, int C,
                            int64_t S, int F)
{
    const int rows = sv_ctx_row_kernels(ctx);
    const char *kname = rows ? "mc_video_dot_rows" : "mc_video_dot";
    if (rows && B * C > INT32_MAX)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "modconv: too many (video, channel) pairs");
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args g;
    sv_args_begin(&g, ctx, k, kname);
    sv_arg_tensor(&g, a);
    sv_arg_tensor(&g, b);
    sv_arg_tensor(&g, out);
    sv_arg_int(&g, C);
    sv_arg_long(&g, S);
    sv_arg_int(&g, F);
    if (rows)
        sv_arg_int(&g, (int)(B * C));
    SV_TRY(sv_args_end(&g));
    if (rows) {
        size_t g1 = (size_t)(B * C);
        return sv_launch(ctx, k, 1, &g1, NULL, kname);
    }
    size_t gs = (size_t)(B * C) * SV_WG, l = SV_WG;
    return sv_launch(ctx, k, 1, &gs, &l, kname);
}

/* Two-tensor elementwise kernels over n elements: (in, out) signature. */
static int launch_unary(sv_ctx *ctx, const char *name, const sv_tensor *a, sv_tensor *out, int64_t n)
{
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, name, NULL, k);
    sv_args g;
    sv_args_begin(&g, ctx, k, name);
    sv_arg_tensor(&g, a);
    sv_arg_tensor(&g, out);
    sv_arg_long(&g, n);
    SV_TRY(sv_args_end(&g));
    return sv_launch1(ctx, k, (size_t)n, name);
}

/* wsq [Cout, Cin] = Σ_ab w², d [B, Cout] = (s² · wsqᵀ + eps)^(-1/2).  Per video,
 * never per frame. */
static int compute_demod(sv_ctx *ctx, const sv_tensor *w, const sv_tensor *s, int64_t B, int Cin, int Cout, int kk,
                         sv_tensor *wsq, sv_tensor *d)
{
    int rc;
    sv_tensor s2 = {0};
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "mc_wsq", NULL, k);
    sv_args g;
    sv_args_begin(&g, ctx, k, "mc_wsq");
    sv_arg_tensor(&g, w);
    sv_arg_tensor(&g, wsq);
    sv_arg_long(&g, (int64_t)Cout * Cin);
    sv_arg_int(&g, kk);
    SV_TRY(sv_args_end(&g));
    SV_TRY(sv_launch1(ctx, k, (size_t)Cout * Cin, "mc_wsq"));
    int64_t ss[2] = {B, Cin};
    SV_TRY(sv_tensor_new(ctx, &s2, 2, ss));
    rc = launch_unary(ctx, "mc_square", s, &s2, B * Cin);
    if (!rc)
        rc = sv_gemm(ctx, SV_N, SV_T, (size_t)B, (size_t)Cout, (size_t)Cin, 1.0f, sv_tmat(&s2, 0, (size_t)Cin),
                     sv_tmat(wsq, 0, (size_t)Cin), 0.0f, sv_tmat(d, 0, (size_t)Cout));
    if (!rc)
        rc = launch_unary(ctx, "mc_demod", d, d, B * Cout);
    sv_tensor_free(&s2);
    return rc;
}

/* (Re)allocate t to the given shape unless it already has it. */
static int ensure(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape)
{
    if (t->buf && t->ctx == ctx && t->ndim == ndim) {
        int same = 1;
        for (int i = 0; i < ndim; i++)
            same &= t->shape[i] == shape[i];
        if (same)
            return SV_OK;
    }
    sv_tensor_free(t);
    return sv_tensor_new(ctx, t, ndim, shape);
}

typedef struct dims {
    int64_t B, BF;
    int F, Cin, Cout, H, W, Ho, Wo, kk;
} dims;

static int check_common(sv_ctx *ctx, const char *what, const sv_tensor *x, const sv_tensor *w, const sv_tensor *s,
                        const sv_modconv_params *p, dims *d)
{
    sv_err *e = sv_ctx_err(ctx);
    if (!p || p->frames_per_video < 1)
        return sv_seterr(e, SV_ERR_INVALID, "%s: frames_per_video must be >= 1", what);
    if (x->ndim != 4)
        return sv_seterr(e, SV_ERR_INVALID, "%s: x must be [B*F, Cin, H, W], got %d dims", what, x->ndim);
    if (!sv_same_ctx(x, w) || !sv_same_ctx(x, s) || x->ctx != ctx)
        return sv_seterr(e, SV_ERR_INVALID, "%s: tensors from different contexts", what);
    d->F = p->frames_per_video;
    d->BF = x->shape[0];
    d->Cin = (int)x->shape[1];
    d->H = (int)x->shape[2];
    d->W = (int)x->shape[3];
    if (d->BF < 1 || d->BF % d->F != 0)
        return sv_seterr(e, SV_ERR_INVALID, "%s: %lld frames is not a multiple of frames_per_video %d", what,
                         (long long)d->BF, d->F);
    d->B = d->BF / d->F;
    if (sv_modconv_out_size(p, d->H, d->W, &d->Ho, &d->Wo))
        return sv_seterr(e, SV_ERR_INVALID, "%s: unsupported k=%d up=%d for %dx%d input", what, p->k, p->up, d->H,
                         d->W);
    if (w->ndim != 4)
        return sv_seterr(e, SV_ERR_INVALID, "%s: w must be [Cout, Cin, k, k], got %d dims", what, w->ndim);
    d->Cout = (int)w->shape[0];
    d->kk = p->k * p->k;
    int64_t ws[4] = {d->Cout, d->Cin, p->k, p->k}, ss[2] = {d->B, d->Cin};
    SV_TRY(sv_check_shape(w, "modconv weight", 4, ws));
    SV_TRY(sv_check_shape(s, "modconv styles", 2, ss));
    return SV_OK;
}

#define CK(expr)            \
    do {                    \
        rc = (expr);        \
        if (rc)             \
            goto done;      \
    } while (0)

int sv_modconv_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *s,
                   const sv_modconv_params *p, sv_tensor *y, sv_modconv_cache *c)
{
    dims D;
    SV_TRY(check_common(ctx, "modconv_fwd", x, w, s, p, &D));
    int64_t ys[4] = {D.BF, D.Cout, D.Ho, D.Wo};
    SV_TRY(sv_check_shape(y, "modconv output", 4, ys));
    int rc = SV_OK;
    sv_tensor xs = {0}, dl = {0}, wl = {0};
    sv_tensor *dt = c ? &c->d : &dl, *wt = c ? &c->wsq : &wl;
    sv_conv2d_params cp = {p->k, p->up, 1, 1.0f};
    CK(sv_tensor_new(ctx, &xs, 4, x->shape));
    CK(launch_scale(ctx, x, s, &xs, D.Cin, (int64_t)D.H * D.W, D.F, 0));
    CK(sv_conv2d_fwd(ctx, &xs, w, &cp, y));
    sv_tensor_free(&xs);
    if (p->demodulate) {
        int64_t dsh[2] = {D.B, D.Cout}, wsh[2] = {D.Cout, D.Cin};
        CK(ensure(ctx, dt, 2, dsh));
        CK(ensure(ctx, wt, 2, wsh));
        CK(compute_demod(ctx, w, s, D.B, D.Cin, D.Cout, D.kk, wt, dt));
        CK(launch_scale(ctx, y, dt, y, D.Cout, (int64_t)D.Ho * D.Wo, D.F, 0));
    }
done:
    sv_tensor_free(&xs);
    sv_tensor_free(&dl);
    sv_tensor_free(&wl);
    return rc;
}

int sv_modconv_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *s, const sv_tensor *y,
                   const sv_tensor *gy, const sv_modconv_params *p, const sv_modconv_cache *c, sv_tensor *gx,
                   int gx_accumulate, sv_tensor *gw, sv_tensor *gs, int accumulate)
{
    dims D;
    SV_TRY(check_common(ctx, "modconv_bwd", x, w, s, p, &D));
    int64_t ys[4] = {D.BF, D.Cout, D.Ho, D.Wo}, dsh[2] = {D.B, D.Cout}, wsh[2] = {D.Cout, D.Cin};
    SV_TRY(sv_check_shape(gy, "modconv grad_out", 4, ys));
    if (gx)
        SV_TRY(sv_check_shape(gx, "modconv grad x", 4, x->shape));
    if (gw)
        SV_TRY(sv_check_shape(gw, "modconv grad w", 4, w->shape));
    if (gs)
        SV_TRY(sv_check_shape(gs, "modconv grad s", 2, s->shape));
    int need_gd = p->demodulate && (gw || gs);
    if (need_gd) {
        if (!y)
            return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                             "modconv_bwd: the forward output y is needed for demodulated weight/style gradients");
        SV_TRY(sv_check_shape(y, "modconv output", 4, ys));
    }
    if (p->demodulate && c && c->d.buf) {
        SV_TRY(sv_check_shape(&c->d, "modconv cache d", 2, dsh));
        SV_TRY(sv_check_shape(&c->wsq, "modconv cache wsq", 2, wsh));
    }
    if (!gx && !gw && !gs)
        return SV_OK;

    int rc = SV_OK;
    sv_tensor dl = {0}, wl = {0}, gz = {0}, gdr = {0}, e = {0}, gxs = {0}, r = {0}, t = {0}, xs = {0}, s2 = {0},
              u = {0};
    const sv_tensor *dt = NULL, *wt = NULL, *gzp = gy;
    sv_conv2d_params cp = {p->k, p->up, 1, 1.0f};
    int64_t HW = (int64_t)D.H * D.W, HWo = (int64_t)D.Ho * D.Wo;

    if (p->demodulate) {
        if (c && c->d.buf) {
            dt = &c->d;
            wt = &c->wsq;
        } else {
            CK(sv_tensor_new(ctx, &dl, 2, dsh));
            CK(sv_tensor_new(ctx, &wl, 2, wsh));
            CK(compute_demod(ctx, w, s, D.B, D.Cin, D.Cout, D.kk, &wl, &dl));
            dt = &dl;
            wt = &wl;
        }
        /* gz = d ⊙ gy */
        CK(sv_tensor_new(ctx, &gz, 4, ys));
        CK(launch_scale(ctx, gy, dt, &gz, D.Cout, HWo, D.F, 0));
        gzp = &gz;
    }
    if (need_gd) {
        /* e[n,o] = gd·(−d³) = −(Σ gy·y)·d² */
        CK(sv_tensor_new(ctx, &gdr, 2, dsh));
        CK(sv_tensor_new(ctx, &e, 2, dsh));
        CK(launch_video_dot(ctx, gy, y, &gdr, D.B, D.Cout, HWo, D.F));
        cl_kernel k;
        CK(sv_kernel(ctx, FILE_CL, "mc_demod_grad", NULL, &k));
        sv_args g;
        sv_args_begin(&g, ctx, k, "mc_demod_grad");
        sv_arg_tensor(&g, &gdr);
        sv_arg_tensor(&g, dt);
        sv_arg_tensor(&g, &e);
        sv_arg_long(&g, D.B * D.Cout);
        CK(sv_args_end(&g));
        CK(sv_launch1(ctx, k, (size_t)(D.B * D.Cout), "mc_demod_grad"));
    }
    if (gx || gs) {
        CK(sv_tensor_new(ctx, &gxs, 4, x->shape));
        CK(sv_conv2d_bwd_data(ctx, gzp, w, &cp, &gxs, 0));
        if (gx)
            CK(launch_scale(ctx, &gxs, s, gx, D.Cin, HW, D.F, gx_accumulate));
        if (gs) {
            int64_t ss[2] = {D.B, D.Cin};
            CK(sv_tensor_new(ctx, &r, 2, ss));
            CK(launch_video_dot(ctx, &gxs, x, &r, D.B, D.Cin, HW, D.F));
            if (need_gd) {
                /* t[n,i] = Σ_o e[n,o]·Wsq[o,i] */
                CK(sv_tensor_new(ctx, &t, 2, ss));
                CK(sv_gemm(ctx, SV_N, SV_N, (size_t)D.B, (size_t)D.Cin, (size_t)D.Cout, 1.0f,
                           sv_tmat(&e, 0, (size_t)D.Cout), sv_tmat(wt, 0, (size_t)D.Cin), 0.0f,
                           sv_tmat(&t, 0, (size_t)D.Cin)));
            }
            cl_kernel k;
            CK(sv_kernel(ctx, FILE_CL, "mc_gs_combine", NULL, &k));
            sv_args g;
            sv_args_begin(&g, ctx, k, "mc_gs_combine");
            sv_arg_tensor(&g, &r);
            sv_arg_tensor(&g, s);
            sv_arg_tensor(&g, need_gd ? &t : &r);
            sv_arg_int(&g, need_gd);
            sv_arg_tensor(&g, gs);
            sv_arg_long(&g, D.B * D.Cin);
            sv_arg_int(&g, accumulate ? 1 : 0);
            CK(sv_args_end(&g));
            CK(sv_launch1(ctx, k, (size_t)(D.B * D.Cin), "mc_gs_combine"));
        }
        sv_tensor_free(&gxs);
    }
    if (gw) {
        CK(sv_tensor_new(ctx, &xs, 4, x->shape));
        CK(launch_scale(ctx, x, s, &xs, D.Cin, HW, D.F, 0));
        CK(sv_conv2d_bwd_weight(ctx, &xs, gzp, &cp, gw, accumulate));
        sv_tensor_free(&xs);
        if (need_gd) {
            /* u[o,i] = Σ_n e[n,o]·s[n,i]²;  gw += w ⊙ u */
            int64_t ss[2] = {D.B, D.Cin};
            CK(sv_tensor_new(ctx, &s2, 2, ss));
            CK(sv_tensor_new(ctx, &u, 2, wsh));
            CK(launch_unary(ctx, "mc_square", s, &s2, D.B * D.Cin));
            CK(sv_gemm(ctx, SV_T, SV_N, (size_t)D.Cout, (size_t)D.Cin, (size_t)D.B, 1.0f,
                       sv_tmat(&e, 0, (size_t)D.Cout), sv_tmat(&s2, 0, (size_t)D.Cin), 0.0f,
                       sv_tmat(&u, 0, (size_t)D.Cin)));
            cl_kernel k;
            CK(sv_kernel(ctx, FILE_CL, "mc_gw_demod", NULL, &k));
            sv_args g;
            sv_args_begin(&g, ctx, k, "mc_gw_demod");
            sv_arg_tensor(&g, w);
            sv_arg_tensor(&g, &u);
            sv_arg_tensor(&g, gw);
            sv_arg_long(&g, sv_numel(w));
            sv_arg_int(&g, D.kk);
            CK(sv_args_end(&g));
            CK(sv_launch1(ctx, k, (size_t)sv_numel(w), "mc_gw_demod"));
        }
    }
done:
    sv_tensor_free(&dl);
    sv_tensor_free(&wl);
    sv_tensor_free(&gz);
    sv_tensor_free(&gdr);
    sv_tensor_free(&e);
    sv_tensor_free(&gxs);
    sv_tensor_free(&r);
    sv_tensor_free(&t);
    sv_tensor_free(&xs);
    sv_tensor_free(&s2);
    sv_tensor_free(&u);
    return rc;
}

/* ---- float64 host references (fused) ---- */

/* Private direct convolution, N frames, weight wt [Cout, Cin, k, k]:
 *   up 1: §1.4(a) correlation, zero padding k/2;
 *   up 2: §1.4(b) zero-insert, full TRUE convolution → (2H+1)², blur (upfirdn2d preset). */
static void conv_fwd(const double *x, const double *wt, int64_t N, int Cin, int Cout, int H, int W, int k, int up,
                     double *y)
{
    if (up == 1) {
        int pad = k / 2;
        for (int64_t n = 0; n < N; n++)
            for (int o = 0; o < Cout; o++)
                for (int pp = 0; pp < H; pp++)
                    for (int q = 0; q < W; q++) {
                        double acc = 0;
                        for (int i = 0; i < Cin; i++)
                            for (int a = 0; a < k; a++)
                                for (int b = 0; b < k; b++) {
                                    int r = pp + a - pad, cc = q + b - pad;
                                    if (r >= 0 && r < H && cc >= 0 && cc < W)
                                        acc += wt[((int64_t)o * Cin + i) * k * k + a * k + b] *
                                               x[((n * Cin + i) * H + r) * W + cc];
                                }
                        y[((n * Cout + o) * H + pp) * W + q] = acc;
                    }
        return;
    }
    int Hz = 2 * H + k - 2, Wz = 2 * W + k - 2;
    double *z = calloc((size_t)(N * Cout * Hz * Wz), sizeof *z);
    if (!z)
        return;
    for (int64_t n = 0; n < N; n++)
        for (int o = 0; o < Cout; o++)
            for (int i = 0; i < Cin; i++)
                for (int m = 0; m < H; m++)
                    for (int mm = 0; mm < W; mm++) {
                        double xv = x[((n * Cin + i) * H + m) * W + mm];
                        /* u[2m, 2mm] = xv contributes to z[2m + a, 2mm + b] */
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++)
                                z[((n * Cout + o) * Hz + 2 * m + a) * Wz + 2 * mm + b] +=
                                    wt[((int64_t)o * Cin + i) * k * k + a * k + b] * xv;
                    }
    sv_upfirdn2d_params bp = sv_upfirdn2d_blur_up_conv();
    sv_ref_upfirdn2d_fwd(z, N, Cout, Hz, Wz, &bp, y);
    free(z);
}

/* Adjoint of conv_fwd: gx (overwritten, nullable) and gwt (overwritten, nullable). */
static void conv_bwd(const double *x, const double *wt, const double *gy, int64_t N, int Cin, int Cout, int H, int W,
                     int k, int up, double *gx, double *gwt)
{
    if (gx)
        memset(gx, 0, (size_t)(N * Cin * H * W) * sizeof *gx);
    if (gwt)
        memset(gwt, 0, (size_t)Cout * Cin * k * k * sizeof *gwt);
    if (up == 1) {
        int pad = k / 2;
        for (int64_t n = 0; n < N; n++)
            for (int o = 0; o < Cout; o++)
                for (int pp = 0; pp < H; pp++)
                    for (int q = 0; q < W; q++) {
                        double g = gy[((n * Cout + o) * H + pp) * W + q];
                        for (int i = 0; i < Cin; i++)
                            for (int a = 0; a < k; a++)
                                for (int b = 0; b < k; b++) {
                                    int r = pp + a - pad, cc = q + b - pad;
                                    if (r < 0 || r >= H || cc < 0 || cc >= W)
                                        continue;
                                    int64_t xi = ((n * Cin + i) * H + r) * W + cc;
                                    int64_t wi = ((int64_t)o * Cin + i) * k * k + a * k + b;
                                    if (gx)
                                        gx[xi] += wt[wi] * g;
                                    if (gwt)
                                        gwt[wi] += x[xi] * g;
                                }
                    }
        return;
    }
    int Hz = 2 * H + k - 2, Wz = 2 * W + k - 2;
    double *gz = malloc((size_t)(N * Cout * Hz * Wz) * sizeof *gz);
    if (!gz)
        return;
    sv_upfirdn2d_params bp = sv_upfirdn2d_blur_up_conv();
    sv_ref_upfirdn2d_bwd(gy, N, Cout, Hz, Wz, &bp, gz);
    for (int64_t n = 0; n < N; n++)
        for (int o = 0; o < Cout; o++)
            for (int i = 0; i < Cin; i++)
                for (int m = 0; m < H; m++)
                    for (int mm = 0; mm < W; mm++) {
                        int64_t xi = ((n * Cin + i) * H + m) * W + mm;
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++) {
                                double g = gz[((n * Cout + o) * Hz + 2 * m + a) * Wz + 2 * mm + b];
                                int64_t wi = ((int64_t)o * Cin + i) * k * k + a * k + b;
                                if (gx)
                                    gx[xi] += wt[wi] * g;
                                if (gwt)
                                    gwt[wi] += x[xi] * g;
                            }
                    }
    free(gz);
}

/* Per-video fused weight W''[o,i,:] = w·s[i]·d[o], d[o] as in §1.5 step 3 (1 when !demod). */
static void fused_weight(const double *w, const double *sn, int Cin, int Cout, int kk, int demod, double *wpp,
                         double *d)
{
    for (int o = 0; o < Cout; o++) {
        double acc = 0;
        for (int i = 0; i < Cin; i++)
            for (int t = 0; t < kk; t++) {
                double m = w[((int64_t)o * Cin + i) * kk + t] * sn[i];
                acc += m * m;
            }
        d[o] = demod ? 1.0 / sqrt(acc + MC_EPS) : 1.0;
        for (int i = 0; i < Cin; i++)
            for (int t = 0; t < kk; t++) {
                int64_t j = ((int64_t)o * Cin + i) * kk + t;
                wpp[j] = w[j] * sn[i] * d[o];
            }
    }
}

void sv_ref_modconv_fwd(const double *x, const double *w, const double *s, int64_t B, int Cin, int Cout, int H,
                        int W, const sv_modconv_params *p, double *y)
{
    int Ho, Wo, F = p->frames_per_video, kk = p->k * p->k;
    if (sv_modconv_out_size(p, H, W, &Ho, &Wo))
        return;
    double *wpp = malloc((size_t)Cout * Cin * kk * sizeof *wpp), *d = malloc((size_t)Cout * sizeof *d);
    if (wpp && d)
        for (int64_t n = 0; n < B; n++) {
            fused_weight(w, s + n * Cin, Cin, Cout, kk, p->demodulate, wpp, d);
            conv_fwd(x + n * F * Cin * H * W, wpp, F, Cin, Cout, H, W, p->k, p->up, y + n * F * Cout * Ho * Wo);
        }
    free(wpp);
    free(d);
}

void sv_ref_modconv_bwd(const double *x, const double *w, const double *s, const double *gy, int64_t B, int Cin,
                        int Cout, int H, int W, const sv_modconv_params *p, double *gx, double *gw, double *gs)
{
    int Ho, Wo, F = p->frames_per_video, kk = p->k * p->k;
    if (sv_modconv_out_size(p, H, W, &Ho, &Wo))
        return;
    size_t nw = (size_t)Cout * Cin * kk;
    double *wpp = malloc(nw * sizeof *wpp), *g = malloc(nw * sizeof *g), *dm = malloc(nw * sizeof *dm);
    double *d = malloc((size_t)Cout * sizeof *d);
    if (gw)
        memset(gw, 0, nw * sizeof *gw);
    if (wpp && g && dm && d)
        for (int64_t n = 0; n < B; n++) {
            const double *sn = s + n * Cin;
            fused_weight(w, sn, Cin, Cout, kk, p->demodulate, wpp, d);
            /* g = ∂L/∂W''[n] (summed over the video's frames), gx via W'' */
            conv_bwd(x + n * F * Cin * H * W, wpp, gy + n * F * Cout * Ho * Wo, F, Cin, Cout, H, W, p->k, p->up,
                     gx ? gx + n * F * Cin * H * W : NULL, g);
            /* ∂L/∂m = g·d − m·d³·⟨g, m⟩ over each output slice, m = W' = w·s */
            for (int o = 0; o < Cout; o++) {
                double gm = 0;
                for (int i = 0; i < Cin; i++)
                    for (int t = 0; t < kk; t++) {
                        int64_t j = ((int64_t)o * Cin + i) * kk + t;
                        gm += g[j] * w[j] * sn[i];
                    }
                for (int i = 0; i < Cin; i++)
                    for (int t = 0; t < kk; t++) {
                        int64_t j = ((int64_t)o * Cin + i) * kk + t;
                        double m = w[j] * sn[i];
                        dm[j] = p->demodulate ? g[j] * d[o] - m * d[o] * d[o] * d[o] * gm : g[j];
                    }
            }
            for (int i = 0; i < Cin; i++) {
                double acc = 0;
                for (int o = 0; o < Cout; o++)
                    for (int t = 0; t < kk; t++) {
                        int64_t j = ((int64_t)o * Cin + i) * kk + t;
                        acc += dm[j] * w[j];
                        if (gw)
                            gw[j] += dm[j] * sn[i];
                    }
                if (gs)
                    gs[n * Cin + i] = acc;
            }
        }
    free(wpp);
    free(g);
    free(dm);
    free(d);
}
