/* conv3d: the I3D layers (inference only) — launchers around cl/conv3d.cl and
 * the GEMM module, and float64 host references written from fvd.md §2. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops_internal.h"
#include "svgan/gemm.h"
#include "svgan/ops/conv3d.h"

static const char FILE_CL[] = "conv3d.cl";

#define DEFAULT_CHUNK_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------------------ */
/* padding and shapes                                                        */

int sv_tf_pad(int in, int k, int s, int same, int *out, int *pad_before, int *pad_after)
{
    if (in < 1 || k < 1 || s < 1)
        return -1;
    int o, pt;
    if (same) {
        o = (in + s - 1) / s;
        pt = (o - 1) * s + k - in;
        if (pt < 0)
            pt = 0;
    } else {
        if (in < k)
            return -1;
        o = (in - k) / s + 1;
        pt = 0;
    }
    if (out)
        *out = o;
    if (pad_before)
        *pad_before = pt / 2;
    if (pad_after)
        *pad_after = pt - pt / 2;
    return 0;
}

int sv_conv3d_out_size(const int k[3], const int s[3], int same, const int in[3], int out[3], int pad_before[3])
{
    for (int i = 0; i < 3; i++)
        if (sv_tf_pad(in[i], k[i], s[i], same, &out[i], pad_before ? &pad_before[i] : NULL, NULL))
            return -1;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int rows_form(sv_ctx *ctx) { return sv_ctx_row_kernels(ctx); }

/* Geometry of a window op on x [N, T, H, W, C]. */
typedef struct geo {
    int N, in[3], C, out[3], pad[3];
    int64_t P; /* output positions N·To·Ho·Wo */
} geo;

static int get_geo(sv_ctx *ctx, const char *op, const sv_tensor *x, const int k[3], const int s[3], int same, geo *g)
{
    sv_err *e = sv_ctx_err(ctx);
    if (x->ndim != 5)
        return sv_seterr(e, SV_ERR_INVALID, "%s: input must be [N, T, H, W, C], got %d dims", op, x->ndim);
    for (int i = 0; i < 3; i++)
        if (k[i] < 1 || s[i] < 1)
            return sv_seterr(e, SV_ERR_INVALID, "%s: kernel and stride must be >= 1", op);
    for (int i = 0; i < 5; i++)
        if (x->shape[i] < 1 || x->shape[i] > INT32_MAX)
            return sv_seterr(e, SV_ERR_INVALID, "%s: empty or oversized input", op);
    g->N = (int)x->shape[0];
    for (int i = 0; i < 3; i++)
        g->in[i] = (int)x->shape[1 + i];
    g->C = (int)x->shape[4];
    if (sv_conv3d_out_size(k, s, same, g->in, g->out, g->pad))
        return sv_seterr(e, SV_ERR_INVALID, "%s: input %dx%dx%d smaller than the %dx%dx%d VALID window", op, g->in[0],
                         g->in[1], g->in[2], k[0], k[1], k[2]);
    g->P = (int64_t)g->N * g->out[0] * g->out[1] * g->out[2];
    if (g->P > INT32_MAX || (int64_t)g->N * g->in[0] * g->in[1] * g->in[2] > INT32_MAX)
        return sv_seterr(e, SV_ERR_INVALID, "%s: more than 2^31 positions; use a smaller batch", op);
    return SV_OK;
}

static size_t chunk_budget(void)
{
    size_t budget = DEFAULT_CHUNK_BYTES;
    const char *s = getenv("SVGAN_CONV_CHUNK_BYTES");
    if (s && *s) {
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (end != s && v > 0)
            budget = (size_t)v;
    }
    return budget;
}

/* ------------------------------------------------------------------------ */
/* convolution                                                               */

static int im2col(sv_ctx *ctx, const sv_tensor *x, const geo *g, const int k[3], const int s[3], cl_mem cols,
                  int p0, int np)
{
    const int rows = rows_form(ctx);
    const char *kname = rows ? "c3_im2col_rows" : "c3_im2col";
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, kname);
    sv_arg_tensor(&a, x);
    sv_arg_mem(&a, cols);
    sv_arg_long(&a, 0);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, g->in[i]);
    sv_arg_int(&a, g->C);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, g->out[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, k[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, s[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, g->pad[i]);
    sv_arg_int(&a, p0);
    sv_arg_int(&a, np);
    SV_TRY(sv_args_end(&a));
    size_t K = (size_t)k[0] * k[1] * k[2] * g->C;
    size_t gs[2];
    if (rows) {
        gs[0] = (size_t)np;
        gs[1] = (size_t)k[0] * k[1];
    } else {
        gs[0] = K;
        gs[1] = (size_t)np;
    }
    return sv_launch(ctx, kr, 2, gs, NULL, kname);
}

static int bias_act(sv_ctx *ctx, const sv_tensor *y, int c_off, int64_t P, int C, const sv_tensor *b, int relu)
{
    const int rows = rows_form(ctx);
    const char *kname = rows ? "c3_bias_act_rows" : "c3_bias_act";
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, kname);
    sv_arg_mem(&a, y->mem);
    sv_arg_long(&a, (int64_t)(y->off + (size_t)c_off));
    sv_arg_long(&a, y->shape[4]);
    sv_arg_int(&a, (int)P);
    sv_arg_int(&a, C);
    sv_arg_mem(&a, b ? b->mem : y->mem);
    sv_arg_long(&a, b ? (int64_t)b->off : 0);
    sv_arg_int(&a, b != NULL);
    sv_arg_int(&a, relu);
    SV_TRY(sv_args_end(&a));
    size_t gs[2] = {(size_t)C, (size_t)P};
    if (rows)
        return sv_launch(ctx, kr, 1, &gs[1], NULL, kname);
    return sv_launch(ctx, kr, 2, gs, NULL, kname);
}

int sv_conv3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *b,
                  const sv_conv3d_params *p, sv_tensor *y, int c_off, sv_conv3d_prof *prof)
{
    sv_err *e = sv_ctx_err(ctx);
    if (!p)
        return sv_seterr(e, SV_ERR_INVALID, "conv3d: NULL params");
    if (!sv_same_ctx(x, w) || !sv_same_ctx(x, y) || (b && !sv_same_ctx(x, b)))
        return sv_seterr(e, SV_ERR_INVALID, "conv3d: tensors from different contexts");
    geo g;
    SV_TRY(get_geo(ctx, "conv3d", x, p->k, p->s, p->same, &g));
    if (w->ndim != 5)
        return sv_seterr(e, SV_ERR_INVALID, "conv3d: weight must be [kT, kH, kW, Cin, Cout], got %d dims", w->ndim);
    int Cout = (int)w->shape[4];
    int64_t ws[5] = {p->k[0], p->k[1], p->k[2], g.C, Cout};
    SV_TRY(sv_check_shape(w, "conv3d weight", 5, ws));
    if (b) {
        int64_t bs[1] = {Cout};
        SV_TRY(sv_check_shape(b, "conv3d bias", 1, bs));
    }
    if (y->ndim != 5)
        return sv_seterr(e, SV_ERR_INVALID, "conv3d: output must be [N, To, Ho, Wo, Ctot], got %d dims", y->ndim);
    int64_t Ctot = y->shape[4];
    if (c_off < 0 || c_off + Cout > Ctot)
        return sv_seterr(e, SV_ERR_INVALID, "conv3d: channel slice [%d, %d) outside the output's %lld channels",
                         c_off, c_off + Cout, (long long)Ctot);
    int64_t ys[5] = {g.N, g.out[0], g.out[1], g.out[2], Ctot};
    SV_TRY(sv_check_shape(y, "conv3d output", 5, ys));

    const size_t K = (size_t)p->k[0] * p->k[1] * p->k[2] * g.C;
    double t0 = prof ? now_s() : 0;
    int direct = p->k[0] == 1 && p->k[1] == 1 && p->k[2] == 1 && p->s[0] == 1 && p->s[1] == 1 && p->s[2] == 1;
    if (direct) {
        SV_TRY(sv_gemm(ctx, SV_N, SV_N, (size_t)g.P, (size_t)Cout, K, 1.0f, sv_mat_of(x->mem, x->off, K),
                       sv_mat_of(w->mem, w->off, (size_t)Cout), 0.0f, sv_mat_of(y->mem, y->off + (size_t)c_off, (size_t)Ctot)));
        if (prof) {
            SV_TRY(sv_ctx_finish(ctx));
            prof->gemm_s += now_s() - t0;
        }
    } else {
        size_t per = K * sizeof(float);
        int64_t np = (int64_t)(chunk_budget() / per);
        if (np < 1)
            np = 1;
        if (np > g.P)
            np = g.P;
        sv_tensor cols = {0};
        int64_t cs[2] = {np, (int64_t)K};
        SV_TRY(sv_tensor_new(ctx, &cols, 2, cs));
        int rc = SV_OK;
        for (int64_t p0 = 0; p0 < g.P && !rc; p0 += np) {
            int64_t nn = g.P - p0 < np ? g.P - p0 : np;
            double ta = prof ? now_s() : 0;
            rc = im2col(ctx, x, &g, p->k, p->s, cols.mem, (int)p0, (int)nn);
            if (!rc && prof) {
                rc = sv_ctx_finish(ctx);
                prof->im2col_s += now_s() - ta;
                ta = now_s();
            }
            if (!rc)
                rc = sv_gemm(ctx, SV_N, SV_N, (size_t)nn, (size_t)Cout, K, 1.0f, sv_mat_of(cols.mem, cols.off, K),
                             sv_mat_of(w->mem, w->off, (size_t)Cout), 0.0f,
                             sv_mat_of(y->mem, y->off + (size_t)p0 * (size_t)Ctot + (size_t)c_off, (size_t)Ctot));
            if (!rc && prof) {
                rc = sv_ctx_finish(ctx);
                prof->gemm_s += now_s() - ta;
            }
        }
        sv_tensor_free(&cols);
        SV_TRY(rc);
    }
    if (b || p->relu) {
        double tb = prof ? now_s() : 0;
        SV_TRY(bias_act(ctx, y, c_off, g.P, Cout, b, p->relu));
        if (prof) {
            SV_TRY(sv_ctx_finish(ctx));
            prof->bias_s += now_s() - tb;
        }
    }
    return SV_OK;
}

/* ------------------------------------------------------------------------ */
/* pooling, mean, resize                                                     */

static int pool(sv_ctx *ctx, const sv_tensor *x, const sv_pool3d_params *p, sv_tensor *y, int avg)
{
    sv_err *e = sv_ctx_err(ctx);
    const char *op = avg ? "avgpool3d" : "maxpool3d";
    if (!p)
        return sv_seterr(e, SV_ERR_INVALID, "%s: NULL params", op);
    if (!sv_same_ctx(x, y))
        return sv_seterr(e, SV_ERR_INVALID, "%s: tensors from different contexts", op);
    if (avg && p->same)
        return sv_seterr(e, SV_ERR_UNSUPPORTED, "avgpool3d: only VALID padding is implemented");
    geo g;
    SV_TRY(get_geo(ctx, op, x, p->k, p->s, p->same, &g));
    int64_t ys[5] = {g.N, g.out[0], g.out[1], g.out[2], g.C};
    SV_TRY(sv_check_shape(y, avg ? "avgpool3d output" : "maxpool3d output", 5, ys));
    const int rows = !avg && rows_form(ctx);
    const char *kname = avg ? "c3_avgpool" : rows ? "c3_maxpool_rows" : "c3_maxpool";
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, kname);
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, y);
    sv_arg_int(&a, (int)g.P);
    sv_arg_int(&a, g.C);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, g.in[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, g.out[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, p->k[i]);
    for (int i = 0; i < 3; i++)
        sv_arg_int(&a, p->s[i]);
    if (!avg)
        for (int i = 0; i < 3; i++)
            sv_arg_int(&a, g.pad[i]);
    SV_TRY(sv_args_end(&a));
    size_t gs[2] = {(size_t)g.C, (size_t)g.P};
    if (rows)
        return sv_launch(ctx, kr, 1, &gs[1], NULL, kname);
    return sv_launch(ctx, kr, 2, gs, NULL, kname);
}

int sv_maxpool3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_pool3d_params *p, sv_tensor *y)
{
    return pool(ctx, x, p, y, 0);
}

int sv_avgpool3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_pool3d_params *p, sv_tensor *y)
{
    return pool(ctx, x, p, y, 1);
}

int sv_mean_mid_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y)
{
    sv_err *e = sv_ctx_err(ctx);
    if (!sv_same_ctx(x, y))
        return sv_seterr(e, SV_ERR_INVALID, "mean: tensors from different contexts");
    if (x->ndim < 2)
        return sv_seterr(e, SV_ERR_INVALID, "mean: input must be [N, S..., C], got %d dims", x->ndim);
    int64_t N = x->shape[0], C = x->shape[x->ndim - 1], S = 1;
    for (int i = 1; i < x->ndim - 1; i++)
        S *= x->shape[i];
    if (N < 1 || C < 1 || S < 1 || S > INT32_MAX || N > INT32_MAX || C > INT32_MAX)
        return sv_seterr(e, SV_ERR_INVALID, "mean: empty or oversized input");
    int64_t ys[2] = {N, C};
    SV_TRY(sv_check_shape(y, "mean output", 2, ys));
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, "c3_mean_mid", NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, "c3_mean_mid");
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, y);
    sv_arg_int(&a, (int)N);
    sv_arg_int(&a, (int)S);
    sv_arg_int(&a, (int)C);
    SV_TRY(sv_args_end(&a));
    size_t gs[2] = {(size_t)C, (size_t)N};
    return sv_launch(ctx, kr, 2, gs, NULL, "c3_mean_mid");
}

int sv_resize_bilinear_fwd(sv_ctx *ctx, const sv_tensor *x, float scale, float shift, sv_tensor *y)
{
    sv_err *e = sv_ctx_err(ctx);
    if (!sv_same_ctx(x, y))
        return sv_seterr(e, SV_ERR_INVALID, "resize: tensors from different contexts");
    if (x->ndim != 4 || y->ndim != 4)
        return sv_seterr(e, SV_ERR_INVALID, "resize: x must be [F, C, H, W] and y [F, Ho, Wo, C]");
    for (int i = 0; i < 4; i++)
        if (x->shape[i] < 1 || y->shape[i] < 1 || x->shape[i] > INT32_MAX || y->shape[i] > INT32_MAX)
            return sv_seterr(e, SV_ERR_INVALID, "resize: empty or oversized tensor");
    int F = (int)x->shape[0], C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    int Ho = (int)y->shape[1], Wo = (int)y->shape[2];
    if (2LL * ((int64_t)H * Ho + (int64_t)W * Wo) > INT32_MAX)
        return sv_seterr(e, SV_ERR_INVALID, "resize: %dx%d -> %dx%d too large", H, W, Ho, Wo);
    int64_t ys[4] = {F, Ho, Wo, C};
    SV_TRY(sv_check_shape(y, "resize output", 4, ys));
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, "c3_resize", NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, "c3_resize");
    sv_arg_tensor(&a, x);
    sv_arg_tensor(&a, y);
    sv_arg_int(&a, F);
    sv_arg_int(&a, C);
    sv_arg_int(&a, H);
    sv_arg_int(&a, W);
    sv_arg_int(&a, Ho);
    sv_arg_int(&a, Wo);
    sv_arg_float(&a, scale);
    sv_arg_float(&a, shift);
    SV_TRY(sv_args_end(&a));
    size_t gs[3] = {(size_t)Wo, (size_t)Ho, (size_t)F};
    return sv_launch(ctx, kr, 3, gs, NULL, "c3_resize");
}

/* ------------------------------------------------------------------------ */
/* float64 host references                                                   */

void sv_ref_conv3d_fwd(const double *x, const double *w, const double *b, int N, const int in[3], int Cin, int Cout,
                       const sv_conv3d_params *p, double *y)
{
    int out[3], pad[3];
    if (sv_conv3d_out_size(p->k, p->s, p->same, in, out, pad))
        return;
    const int T = in[0], H = in[1], W = in[2];
    for (int n = 0; n < N; n++)
        for (int to = 0; to < out[0]; to++)
            for (int ho = 0; ho < out[1]; ho++)
                for (int wo = 0; wo < out[2]; wo++) {
                    double *d = y + ((((int64_t)n * out[0] + to) * out[1] + ho) * out[2] + wo) * Cout;
                    for (int o = 0; o < Cout; o++)
                        d[o] = b ? b[o] : 0.0;
                    for (int a = 0; a < p->k[0]; a++) {
                        int t = to * p->s[0] + a - pad[0];
                        if (t < 0 || t >= T)
                            continue;
                        for (int bb = 0; bb < p->k[1]; bb++) {
                            int h = ho * p->s[1] + bb - pad[1];
                            if (h < 0 || h >= H)
                                continue;
                            for (int c = 0; c < p->k[2]; c++) {
                                int ww = wo * p->s[2] + c - pad[2];
                                if (ww < 0 || ww >= W)
                                    continue;
                                const double *s = x + ((((int64_t)n * T + t) * H + h) * W + ww) * Cin;
                                const double *wr = w + (((int64_t)a * p->k[1] + bb) * p->k[2] + c) * Cin * Cout;
                                for (int i = 0; i < Cin; i++) {
                                    double v = s[i];
                                    const double *wi = wr + (int64_t)i * Cout;
                                    for (int o = 0; o < Cout; o++)
                                        d[o] += v * wi[o];
                                }
                            }
                        }
                    }
                    if (p->relu)
                        for (int o = 0; o < Cout; o++)
                            d[o] = d[o] > 0 ? d[o] : (isnan(d[o]) ? d[o] : 0.0);
                }
}

static void ref_pool(const double *x, int N, const int in[3], int C, const sv_pool3d_params *p, double *y, int avg)
{
    int out[3], pad[3];
    if (sv_conv3d_out_size(p->k, p->s, p->same, in, out, pad))
        return;
    const int T = in[0], H = in[1], W = in[2];
    for (int n = 0; n < N; n++)
        for (int to = 0; to < out[0]; to++)
            for (int ho = 0; ho < out[1]; ho++)
                for (int wo = 0; wo < out[2]; wo++)
                    for (int c = 0; c < C; c++) {
                        double m = avg ? 0.0 : -INFINITY;
                        int cnt = 0;
                        for (int a = 0; a < p->k[0]; a++)
                            for (int bb = 0; bb < p->k[1]; bb++)
                                for (int e = 0; e < p->k[2]; e++) {
                                    int t = to * p->s[0] + a - pad[0], h = ho * p->s[1] + bb - pad[1],
                                        ww = wo * p->s[2] + e - pad[2];
                                    if (t < 0 || t >= T || h < 0 || h >= H || ww < 0 || ww >= W)
                                        continue;
                                    double v = x[((((int64_t)n * T + t) * H + h) * W + ww) * C + c];
                                    cnt++;
                                    if (avg)
                                        m += v;
                                    else if (isnan(v) || v > m)
                                        m = isnan(m) ? m : v;
                                }
                        if (avg)
                            m /= (double)(p->k[0] * p->k[1] * p->k[2]);
                        (void)cnt;
                        y[((((int64_t)n * out[0] + to) * out[1] + ho) * out[2] + wo) * C + c] = m;
                    }
}

void sv_ref_maxpool3d_fwd(const double *x, int N, const int in[3], int C, const sv_pool3d_params *p, double *y)
{
    ref_pool(x, N, in, C, p, y, 0);
}

void sv_ref_avgpool3d_fwd(const double *x, int N, const int in[3], int C, const sv_pool3d_params *p, double *y)
{
    ref_pool(x, N, in, C, p, y, 1);
}

void sv_ref_mean_mid_fwd(const double *x, int N, int64_t S, int C, double *y)
{
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int64_t i = 0; i < S; i++)
                s += x[((int64_t)n * S + i) * C + c];
            y[(int64_t)n * C + c] = s / (double)S;
        }
}

void sv_ref_resize_bilinear_fwd(const double *x, int F, int C, int H, int W, int Ho, int Wo, double scale,
                                double shift, double *y)
{
    for (int f = 0; f < F; f++)
        for (int ho = 0; ho < Ho; ho++) {
            double sy = ((double)ho + 0.5) * H / Ho - 0.5;
            if (sy < 0)
                sy = 0;
            int y0 = (int)sy < H - 1 ? (int)sy : H - 1, y1 = y0 < H - 1 ? y0 + 1 : y0;
            double ly = sy - y0;
            for (int wo = 0; wo < Wo; wo++) {
                double sx = ((double)wo + 0.5) * W / Wo - 0.5;
                if (sx < 0)
                    sx = 0;
                int x0 = (int)sx < W - 1 ? (int)sx : W - 1, x1 = x0 < W - 1 ? x0 + 1 : x0;
                double lx = sx - x0;
                for (int c = 0; c < C; c++) {
                    const double *s = x + ((int64_t)f * C + c) * H * W;
                    double v = (1 - ly) * ((1 - lx) * s[y0 * W + x0] + lx * s[y0 * W + x1]) +
                               ly * ((1 - lx) * s[y1 * W + x0] + lx * s[y1 * W + x1]);
                    y[(((int64_t)f * Ho + ho) * Wo + wo) * C + c] = scale * v + shift;
                }
            }
        }
}

void sv_ref_batchnorm(double *x, int64_t P, int C, const double *beta, const double *mean, const double *var,
                      double eps)
{
    for (int64_t r = 0; r < P; r++)
        for (int c = 0; c < C; c++)
            x[r * C + c] = (x[r * C + c] - mean[c]) / sqrt(var[c] + eps) + beta[c];
}

void sv_bn_fold(float *w, int64_t K, int C, const float *beta, const float *mean, const float *var, double eps,
                float *b)
{
    for (int c = 0; c < C; c++) {
        double r = 1.0 / sqrt((double)var[c] + eps);
        b[c] = (float)((double)beta[c] - (double)mean[c] * r);
        for (int64_t k = 0; k < K; k++)
            w[k * C + c] = (float)((double)w[k * C + c] * r);
    }
}
