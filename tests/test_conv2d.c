/* conv2d: every variant of spec §1.4 (a) same k=3 and k=1, (b) up-2,
 * (d) down-2 k=3, (e) down-2 skip k=1):
 *   - host reference vs an independent composition with the upfirdn2d host
 *     reference (scatter-form transposed conv for (b));
 *   - central differences of the host reference w.r.t. x and w;
 *   - device fwd / bwd_data / bwd_weight vs the host reference, overwrite
 *     (into NaN-filled outputs) and accumulate;
 *   - chunked frame loops (SVGAN_CONV_CHUNK_FRAMES / _BYTES knobs);
 *   - NaN propagation, shape / parameter errors;
 *   - parity with the official StyleGAN-V bundle (D conv0/conv1/skip of b32,
 *     G up-conv b16.conv0 with host-side modulation/demodulation). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-5
#define TOL_BWD 1e-5

typedef struct cfg {
    int k, up, down;
    int64_t N;
    int Cin, Cout, H, W;
} cfg;

static sv_conv2d_params mkp(const cfg *c)
{
    sv_conv2d_params p;
    p.k = c->k;
    p.up = c->up;
    p.down = c->down;
    p.wgain = (float)(1.0 / sqrt((double)c->Cin * c->k * c->k));
    return p;
}

static void out_hw(const cfg *c, int *Ho, int *Wo)
{
    sv_conv2d_params p = mkp(c);
    ck_assert_int_eq(sv_conv2d_out_size(&p, c->H, c->W, Ho, Wo), 0);
}

/* ---- independent forward: upfirdn2d host reference + plain loops ---- */
static void indep_fwd(const cfg *c, const double *x, const double *w, double *y)
{
    sv_conv2d_params p = mkp(c);
    const int k = c->k, Cin = c->Cin, Cout = c->Cout, H = c->H, W = c->W;
    int Ho, Wo;
    out_hw(c, &Ho, &Wo);
    const double wg = p.wgain;
    memset(y, 0, (size_t)c->N * Cout * Ho * Wo * sizeof *y);
    if (c->up == 2) {
        /* transposed conv in scatter form: z[o, 2m+a, 2n+b] += W[o,i,a,b]·x[i,m,n] */
        int P = 2 * H + 1, Q = 2 * W + 1;
        double *z = calloc((size_t)c->N * Cout * P * Q, sizeof *z);
        for (int64_t n = 0; n < c->N; n++)
            for (int o = 0; o < Cout; o++)
                for (int i = 0; i < Cin; i++)
                    for (int m = 0; m < H; m++)
                        for (int l = 0; l < W; l++)
                            for (int a = 0; a < k; a++)
                                for (int b = 0; b < k; b++)
                                    z[((n * Cout + o) * P + 2 * m + a) * Q + 2 * l + b] +=
                                        wg * w[((o * Cin + i) * k + a) * k + b] * x[((n * Cin + i) * H + m) * W + l];
        sv_upfirdn2d_params bp = sv_upfirdn2d_blur_up_conv();
        sv_ref_upfirdn2d_fwd(z, c->N, Cout, P, Q, &bp, y);
        free(z);
        return;
    }
    /* source after the optional blur, then strided correlation */
    int Hs = H, Ws = W, stride = 1, pad = k / 2;
    const double *src = x;
    double *bl = NULL;
    if (c->down == 2) {
        sv_upfirdn2d_params bp = k == 3 ? sv_upfirdn2d_blur_down_conv() : sv_upfirdn2d_down2();
        Hs = sv_upfirdn2d_out_size(H, &bp);
        Ws = sv_upfirdn2d_out_size(W, &bp);
        bl = malloc((size_t)c->N * Cin * Hs * Ws * sizeof *bl);
        sv_ref_upfirdn2d_fwd(x, c->N, Cin, H, W, &bp, bl);
        src = bl;
        stride = k == 3 ? 2 : 1;
        pad = 0;
    }
    for (int64_t n = 0; n < c->N; n++)
        for (int o = 0; o < Cout; o++)
            for (int pp = 0; pp < Ho; pp++)
                for (int q = 0; q < Wo; q++) {
                    double acc = 0;
                    for (int i = 0; i < Cin; i++)
                        for (int a = 0; a < k; a++)
                            for (int b = 0; b < k; b++) {
                                int h = pp * stride + a - pad, ww = q * stride + b - pad;
                                if (h < 0 || h >= Hs || ww < 0 || ww >= Ws)
                                    continue;
                                acc += w[((o * Cin + i) * k + a) * k + b] * src[((n * Cin + i) * Hs + h) * Ws + ww];
                            }
                    y[((n * Cout + o) * Ho + pp) * Wo + q] = wg * acc;
                }
    free(bl);
}

/* ---- loss for central differences: L = Σ gy ⊙ conv(x, w) ---- */
typedef struct fd_ctx {
    const cfg *c;
    const double *x, *w, *gy;
    int wrt_w; /* 0: parameter vector is x, 1: it is w */
    double *scratch;
    size_t ny;
} fd_ctx;

static double loss(const double *v, void *u)
{
    fd_ctx *f = u;
    sv_conv2d_params p = mkp(f->c);
    sv_ref_conv2d_fwd(f->wrt_w ? f->x : v, f->wrt_w ? v : f->w, f->c->N, f->c->Cin, f->c->Cout, f->c->H, f->c->W,
                      &p, f->scratch);
    double L = 0;
    for (size_t i = 0; i < f->ny; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

static void report(const char *what, const cfg *c, const double *got, const double *want, size_t n, double tol)
{
    double e = tu_rel_l2(got, want, n);
    fprintf(stderr, "  %-28s k=%d up=%d down=%d N=%lld Cin=%d Cout=%d %dx%d: rel-L2 %.3g\n", what, c->k, c->up,
            c->down, (long long)c->N, c->Cin, c->Cout, c->H, c->W, e);
    tu_assert_close(what, got, want, n, tol);
}

static void fill_nan(sv_ctx *ctx, sv_tensor *t)
{
    TU_OK(ctx, sv_tensor_fill(t, NAN));
}

static void run_variant(const cfg *c, uint64_t seed, int host_checks)
{
    sv_conv2d_params p = mkp(c);
    int Ho, Wo;
    out_hw(c, &Ho, &Wo);
    const size_t nx = (size_t)c->N * c->Cin * c->H * c->W, nw = (size_t)c->Cout * c->Cin * c->k * c->k,
                 ny = (size_t)c->N * c->Cout * Ho * Wo;
    tu_rng r;
    tu_seed(&r, seed);
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *gy = malloc(ny * sizeof *gy);
    double *y = malloc(ny * sizeof *y), *y2 = malloc(ny * sizeof *y2), *gx = malloc(nx * sizeof *gx),
           *gw = malloc(nw * sizeof *gw), *sc = malloc(ny * sizeof *sc);
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, w, nw, 1.0);
    tu_fill_normal(&r, gy, ny, 1.0);
    sv_ref_conv2d_fwd(x, w, c->N, c->Cin, c->Cout, c->H, c->W, &p, y);
    sv_ref_conv2d_bwd(x, w, gy, c->N, c->Cin, c->Cout, c->H, c->W, &p, gx, gw);

    if (host_checks) {
        /* host reference vs the independent composition */
        indep_fwd(c, x, w, y2);
        report("ref fwd vs independent", c, y, y2, ny, 1e-12);
        /* central differences (L is bilinear: differences are exact up to rounding) */
        fd_ctx f = {c, x, w, gy, 0, sc, ny};
        tu_gradcheck("conv2d ref d/dx", loss, &f, x, gx, nx, 4, 1e-3, 1e-7, seed + 1);
        f.wrt_w = 1;
        tu_gradcheck("conv2d ref d/dw", loss, &f, w, gw, nw, 4, 1e-3, 1e-7, seed + 2);
    }

    sv_ctx *ctx = tu_ctx();
    int64_t xs[4] = {c->N, c->Cin, c->H, c->W}, ws[4] = {c->Cout, c->Cin, c->k, c->k},
            ys[4] = {c->N, c->Cout, Ho, Wo};
    sv_tensor tx = tu_upload(ctx, x, 4, xs), tw = tu_upload(ctx, w, 4, ws), tgy = tu_upload(ctx, gy, 4, ys);
    sv_tensor ty, tgx, tgw;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, xs));
    TU_OK(ctx, sv_tensor_new(ctx, &tgw, 4, ws));
    /* overwrite mode must not read the old contents */
    fill_nan(ctx, &ty);
    fill_nan(ctx, &tgx);
    fill_nan(ctx, &tgw);

    TU_OK(ctx, sv_conv2d_fwd(ctx, &tx, &tw, &p, &ty));
    double *d = tu_download(&ty);
    report("device fwd", c, d, y, ny, TOL_FWD);
    free(d);

    TU_OK(ctx, sv_conv2d_bwd_data(ctx, &tgy, &tw, &p, &tgx, 0));
    d = tu_download(&tgx);
    report("device bwd_data", c, d, gx, nx, TOL_BWD);
    free(d);
    TU_OK(ctx, sv_conv2d_bwd_weight(ctx, &tx, &tgy, &p, &tgw, 0));
    d = tu_download(&tgw);
    report("device bwd_weight", c, d, gw, nw, TOL_BWD);
    free(d);

    /* accumulate adds */
    TU_OK(ctx, sv_conv2d_bwd_data(ctx, &tgy, &tw, &p, &tgx, 1));
    TU_OK(ctx, sv_conv2d_bwd_weight(ctx, &tx, &tgy, &p, &tgw, 1));
    for (size_t i = 0; i < nx; i++)
        gx[i] *= 2;
    for (size_t i = 0; i < nw; i++)
        gw[i] *= 2;
    d = tu_download(&tgx);
    report("device bwd_data accumulate", c, d, gx, nx, TOL_BWD);
    free(d);
    d = tu_download(&tgw);
    report("device bwd_weight accumulate", c, d, gw, nw, TOL_BWD);
    free(d);

    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgw);
    sv_ctx_destroy(ctx);
    free(x);
    free(w);
    free(gy);
    free(y);
    free(y2);
    free(gx);
    free(gw);
    free(sc);
}

/* odd channel counts, N = 3, non-square sizes */
static const cfg V_SAME3 = {3, 1, 1, 3, 5, 7, 8, 5};
static const cfg V_SAME3B = {3, 1, 1, 3, 7, 3, 5, 9};
static const cfg V_SAME1 = {1, 1, 1, 3, 5, 7, 8, 5};
static const cfg V_UP = {3, 2, 1, 3, 5, 7, 4, 5};
static const cfg V_DOWN3 = {3, 1, 2, 3, 5, 7, 6, 8};
static const cfg V_DOWN3B = {3, 1, 2, 3, 3, 5, 8, 6};
static const cfg V_DOWN1 = {1, 1, 2, 3, 5, 7, 6, 8};

START_TEST(t_same3) { run_variant(&V_SAME3, 101, 1); run_variant(&V_SAME3B, 102, 1); }
END_TEST
START_TEST(t_same1) { run_variant(&V_SAME1, 103, 1); }
END_TEST
START_TEST(t_up2) { run_variant(&V_UP, 104, 1); }
END_TEST
START_TEST(t_down3) { run_variant(&V_DOWN3, 105, 1); run_variant(&V_DOWN3B, 106, 1); }
END_TEST
START_TEST(t_down1) { run_variant(&V_DOWN1, 107, 1); }
END_TEST

/* a 5×5 kernel exercises the general odd-k path */
START_TEST(t_same5)
{
    cfg c = {5, 1, 1, 2, 3, 4, 6, 7};
    run_variant(&c, 108, 1);
}
END_TEST

/* N = 5 frames in chunks of 2 (2+2+1) and of 1, every variant.  Device vs host only. */
START_TEST(t_chunked)
{
    const cfg *vs[5] = {&V_SAME3, &V_SAME1, &V_UP, &V_DOWN3, &V_DOWN1};
    const char *caps[2] = {"2", "1"};
    for (int ci = 0; ci < 2; ci++) {
        setenv("SVGAN_CONV_CHUNK_FRAMES", caps[ci], 1);
        for (int i = 0; i < 5; i++) {
            cfg c = *vs[i];
            c.N = 5;
            run_variant(&c, 200 + (uint64_t)(10 * ci + i), 0);
        }
    }
    unsetenv("SVGAN_CONV_CHUNK_FRAMES");
    /* the byte budget: 1 byte forces one frame per chunk */
    setenv("SVGAN_CONV_CHUNK_BYTES", "1", 1);
    cfg c = V_DOWN3;
    c.N = 4;
    run_variant(&c, 230, 0);
    unsetenv("SVGAN_CONV_CHUNK_BYTES");
}
END_TEST

/* larger spatial size than a work-group row; single-frame GEMM paths */
START_TEST(t_larger)
{
    cfg a = {3, 1, 1, 1, 9, 11, 17, 19};
    run_variant(&a, 301, 0);
    cfg b = {3, 2, 1, 2, 9, 6, 9, 7};
    run_variant(&b, 302, 0);
    cfg d = {3, 1, 2, 1, 6, 9, 18, 14};
    run_variant(&d, 303, 0);
}
END_TEST

/* the other kernel form (per-element on CPU, rows elsewhere), every variant, chunked */
START_TEST(t_other_kernels)
{
    sv_ctx *ctx = tu_ctx();
    int cpu = sv_ctx_is_cpu(ctx);
    sv_ctx_destroy(ctx);
    setenv("SVGAN_KERNEL_FORM", cpu ? "elem" : "rows", 1);
    const cfg *vs[7] = {&V_SAME3, &V_SAME3B, &V_SAME1, &V_UP, &V_DOWN3, &V_DOWN3B, &V_DOWN1};
    for (int i = 0; i < 7; i++)
        run_variant(vs[i], 400 + (uint64_t)i, 0);
    cfg c5 = {5, 1, 1, 2, 3, 4, 6, 7};
    run_variant(&c5, 410, 0);
    setenv("SVGAN_CONV_CHUNK_FRAMES", "2", 1);
    for (int i = 0; i < 7; i++) {
        cfg c = *vs[i];
        c.N = 5;
        run_variant(&c, 420 + (uint64_t)i, 0);
    }
    unsetenv("SVGAN_CONV_CHUNK_FRAMES");
    unsetenv("SVGAN_KERNEL_FORM");
}
END_TEST

START_TEST(t_nan)
{
    const cfg *vs[5] = {&V_SAME3, &V_SAME1, &V_UP, &V_DOWN3, &V_DOWN1};
    sv_ctx *ctx = tu_ctx();
    for (int vi = 0; vi < 5; vi++) {
        const cfg *c = vs[vi];
        sv_conv2d_params p = mkp(c);
        int Ho, Wo;
        out_hw(c, &Ho, &Wo);
        size_t nx = (size_t)c->N * c->Cin * c->H * c->W, nw = (size_t)c->Cout * c->Cin * c->k * c->k;
        size_t fy = (size_t)c->Cout * Ho * Wo;
        double *x = calloc(nx, sizeof *x), *w = calloc(nw, sizeof *w);
        for (size_t i = 0; i < nw; i++)
            w[i] = 1.0;
        /* one NaN in frame 1, channel 2, at (1, 2) */
        x[(((size_t)1 * c->Cin + 2) * c->H + 1) * c->W + 2] = NAN;
        int64_t xs[4] = {c->N, c->Cin, c->H, c->W}, ws[4] = {c->Cout, c->Cin, c->k, c->k},
                ys[4] = {c->N, c->Cout, Ho, Wo};
        sv_tensor tx = tu_upload(ctx, x, 4, xs), tw = tu_upload(ctx, w, 4, ws), ty, tgx;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
        TU_OK(ctx, sv_conv2d_fwd(ctx, &tx, &tw, &p, &ty));
        double *y = tu_download(&ty);
        int nan1 = 0, nan_other = 0;
        for (size_t i = 0; i < (size_t)c->N * fy; i++)
            if (isnan(y[i])) {
                if (i / fy == 1)
                    nan1++;
                else
                    nan_other++;
            }
        ck_assert_msg(nan1 > 0, "variant %d: NaN input must give NaN output", vi);
        ck_assert_msg(nan_other == 0, "variant %d: NaN leaked into other frames", vi);
        free(y);
        /* backward: a NaN upstream gradient gives a NaN input gradient */
        TU_OK(ctx, sv_tensor_fill(&ty, 0.0f));
        float nanv = NAN;
        ck_assert_int_eq(clEnqueueWriteBuffer(sv_ctx_queue(ctx), ty.mem, CL_TRUE, (ty.off + fy + 3) * 4, 4, &nanv, 0,
                                              NULL, NULL),
                         CL_SUCCESS);
        TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, xs));
        TU_OK(ctx, sv_conv2d_bwd_data(ctx, &ty, &tw, &p, &tgx, 0));
        double *gx = tu_download(&tgx);
        int gn = 0;
        for (size_t i = 0; i < nx; i++)
            gn += isnan(gx[i]) != 0;
        ck_assert_msg(gn > 0, "variant %d: NaN gradient must propagate", vi);
        free(gx);
        sv_tensor_free(&tx);
        sv_tensor_free(&tw);
        sv_tensor_free(&ty);
        sv_tensor_free(&tgx);
        free(x);
        free(w);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

static int try_fwd(sv_ctx *ctx, int k, int up, int down, int64_t N, int Cin, int Cout, int H, int W, int wk,
                   int Ho, int Wo, int64_t wCin)
{
    sv_tensor x, w, y;
    int64_t xs[4] = {N, Cin, H, W}, ws[4] = {Cout, wCin, wk, wk}, ys[4] = {N, Cout, Ho, Wo};
    TU_OK(ctx, sv_tensor_zeros(ctx, &x, 4, xs));
    TU_OK(ctx, sv_tensor_zeros(ctx, &w, 4, ws));
    TU_OK(ctx, sv_tensor_zeros(ctx, &y, 4, ys));
    sv_conv2d_params p = {k, up, down, 1.0f};
    int rc = sv_conv2d_fwd(ctx, &x, &w, &p, &y);
    int rc2 = sv_conv2d_bwd_data(ctx, &y, &w, &p, &x, 0);
    int rc3 = sv_conv2d_bwd_weight(ctx, &x, &y, &p, &w, 0);
    sv_tensor_free(&x);
    sv_tensor_free(&w);
    sv_tensor_free(&y);
    ck_assert_int_eq(rc2, rc);
    ck_assert_int_eq(rc3, rc);
    return rc;
}

START_TEST(t_errors)
{
    sv_ctx *ctx = tu_ctx();
    /* valid baselines */
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 1, 2, 3, 4, 5, 6, 3, 5, 6, 3), SV_OK);
    ck_assert_int_eq(try_fwd(ctx, 3, 2, 1, 2, 3, 4, 5, 6, 3, 10, 12, 3), SV_OK);
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 2, 2, 3, 4, 6, 8, 3, 3, 4, 3), SV_OK);
    ck_assert_int_eq(try_fwd(ctx, 1, 1, 2, 2, 3, 4, 6, 8, 1, 3, 4, 3), SV_OK);
    /* wrong output size */
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 1, 2, 3, 4, 5, 6, 3, 6, 5, 3), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(try_fwd(ctx, 3, 2, 1, 2, 3, 4, 5, 6, 3, 11, 13, 3), SV_ERR_INVALID);
    /* weight Cin / k mismatch */
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 1, 2, 3, 4, 5, 6, 3, 5, 6, 2), SV_ERR_INVALID);
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 1, 2, 3, 4, 5, 6, 1, 5, 6, 3), SV_ERR_INVALID);
    /* odd size with down 2 */
    ck_assert_int_eq(try_fwd(ctx, 3, 1, 2, 2, 3, 4, 7, 8, 3, 3, 4, 3), SV_ERR_INVALID);
    /* unsupported parameter combinations */
    ck_assert_int_eq(try_fwd(ctx, 2, 1, 1, 2, 3, 4, 5, 6, 2, 5, 6, 3), SV_ERR_INVALID);
    ck_assert_int_eq(try_fwd(ctx, 1, 2, 1, 2, 3, 4, 5, 6, 1, 10, 12, 3), SV_ERR_INVALID);
    ck_assert_int_eq(try_fwd(ctx, 5, 1, 2, 2, 3, 4, 6, 8, 5, 3, 4, 3), SV_ERR_INVALID);
    ck_assert_int_eq(try_fwd(ctx, 3, 3, 1, 2, 3, 4, 5, 6, 3, 15, 18, 3), SV_ERR_INVALID);
    /* rank */
    sv_tensor x3, w, y;
    TU_OK(ctx, sv_tensor_newv(ctx, &x3, 3, (int64_t)3, (int64_t)5, (int64_t)6));
    TU_OK(ctx, sv_tensor_newv(ctx, &w, 4, (int64_t)4, (int64_t)3, (int64_t)3, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 4, (int64_t)1, (int64_t)4, (int64_t)5, (int64_t)6));
    sv_conv2d_params p = {3, 1, 1, 1.0f};
    ck_assert_int_eq(sv_conv2d_fwd(ctx, &x3, &w, &p, &y), SV_ERR_INVALID);
    sv_tensor_free(&x3);
    sv_tensor_free(&w);
    sv_tensor_free(&y);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- parity with the official bundle ---- */

static double *st_get(sv_st_file *f, const char *name, size_t n)
{
    float *t = malloc(n * sizeof *t);
    sv_err e;
    memset(&e, 0, sizeof e);
    int rc = sv_st_read_f32(f, name, t, n, &e);
    ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
    double *d = malloc(n * sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = t[i];
    free(t);
    return d;
}

static double lrelu(double v) { return v > 0 ? v : 0.2 * v; }

/* y = conv(x) on the device, then host out[n,o,s] = gain·act(y·dm[n,o] + b[o]) */
static void parity_layer(sv_ctx *ctx, sv_st_file *f, const char *xname, const double *xin, int64_t N, int Cin,
                         int H, int W, const char *wname, const char *bname, const char *outname, int Cout, int k,
                         int up, int down, float wgain, const double *dm, int act, double gain)
{
    sv_conv2d_params p = {k, up, down, wgain};
    int Ho, Wo;
    ck_assert_int_eq(sv_conv2d_out_size(&p, H, W, &Ho, &Wo), 0);
    size_t nx = (size_t)N * Cin * H * W, nw = (size_t)Cout * Cin * k * k, ny = (size_t)N * Cout * Ho * Wo;
    double *x = xin ? NULL : st_get(f, xname, nx);
    double *w = st_get(f, wname, nw), *want = st_get(f, outname, ny);
    double *b = bname ? st_get(f, bname, (size_t)Cout) : NULL;
    int64_t xs[4] = {N, Cin, H, W}, ws[4] = {Cout, Cin, k, k}, ys[4] = {N, Cout, Ho, Wo};
    sv_tensor tx = tu_upload(ctx, xin ? xin : x, 4, xs), tw = tu_upload(ctx, w, 4, ws), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_conv2d_fwd(ctx, &tx, &tw, &p, &ty));
    double *y = tu_download(&ty);
    size_t S = (size_t)Ho * Wo;
    for (size_t i = 0; i < ny; i++) {
        size_t no = i / S, o = no % (size_t)Cout;
        double v = y[i] * (dm ? dm[no] : 1.0) + (b ? b[o] : 0.0);
        y[i] = gain * (act ? lrelu(v) : v);
    }
    double e = tu_rel_l2(y, want, ny);
    fprintf(stderr, "  parity %-28s rel-L2 %.3g\n", outname, e);
    tu_assert_close(outname, y, want, ny, 1e-4);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&ty);
    free(x);
    free(w);
    free(want);
    free(b);
    free(y);
}

START_TEST(t_parity_official)
{
    const char *dir = getenv("SVGAN_SHARED_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", dir ? dir : "../shared");
    sv_st_file *f = NULL;
    sv_err e;
    memset(&e, 0, sizeof e);
    if (sv_st_open(path, &f, &e)) {
        fprintf(stderr, "parity bundle not found (%s): skipped\n", path);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    const double s2 = sqrt(2.0), sh = sqrt(0.5);
    /* D b32 (per frame, 12 frames, 16 channels, 32²): resnet block
     *   conv0 = √2·lrelu(conv_same(fromrgb) + b)           (a)
     *   conv1 = √2·√0.5·lrelu(conv_down(conv0) + b)         (d)
     *   skip  = √0.5·conv_skip(fromrgb)                     (e) */
    parity_layer(ctx, f, "act.D.b32.fromrgb", NULL, 12, 16, 32, 32, "D.b32.conv0.weight", "D.b32.conv0.bias",
                 "act.D.b32.conv0", 16, 3, 1, 1, (float)(1.0 / sqrt(16.0 * 9)), NULL, 1, s2);
    parity_layer(ctx, f, "act.D.b32.conv0", NULL, 12, 16, 32, 32, "D.b32.conv1.weight", "D.b32.conv1.bias",
                 "act.D.b32.conv1", 16, 3, 1, 2, (float)(1.0 / sqrt(16.0 * 9)), NULL, 1, s2 * sh);
    parity_layer(ctx, f, "act.D.b32.fromrgb", NULL, 12, 16, 32, 32, "D.b32.skip.weight", NULL, "act.D.b32.skip",
                 16, 1, 1, 2, (float)(1.0 / sqrt(16.0)), NULL, 0, sh);
    /* G b16.conv0 (up 2, 32 → 32 channels, 8² → 16²), modulated/demodulated on
     * the host: x·s → conv (b) → ·d[n,o] → √2·lrelu(· + b) */
    {
        const int N = 12, C = 32, H = 8;
        size_t nx = (size_t)N * C * H * H, nw = (size_t)C * C * 9;
        double *x = st_get(f, "act.G.synthesis.b8.0", nx), *s = st_get(f, "act.G.synthesis.b16.conv0.affine",
                                                                        (size_t)N * C);
        double *w = st_get(f, "G.synthesis.b16.conv0.weight", nw), *dm = malloc((size_t)N * C * sizeof *dm);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < C; i++)
                for (int j = 0; j < H * H; j++)
                    x[((size_t)n * C + i) * H * H + j] *= s[n * C + i];
        for (int n = 0; n < N; n++)
            for (int o = 0; o < C; o++) {
                double acc = 0;
                for (int i = 0; i < C; i++)
                    for (int j = 0; j < 9; j++) {
                        double v = w[((size_t)o * C + i) * 9 + j] * s[n * C + i];
                        acc += v * v;
                    }
                dm[n * C + o] = 1.0 / sqrt(acc + 1e-8);
            }
        parity_layer(ctx, f, NULL, x, N, C, H, H, "G.synthesis.b16.conv0.weight", "G.synthesis.b16.conv0.bias",
                     "act.G.synthesis.b16.conv0", C, 3, 2, 1, 1.0f, dm, 1, s2);
        free(x);
        free(s);
        free(w);
        free(dm);
    }
    sv_ctx_destroy(ctx);
    sv_st_close(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv2d");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_same3);
    tcase_add_test(tc, t_same1);
    tcase_add_test(tc, t_same5);
    tcase_add_test(tc, t_up2);
    tcase_add_test(tc, t_down3);
    tcase_add_test(tc, t_down1);
    tcase_add_test(tc, t_chunked);
    tcase_add_test(tc, t_larger);
    tcase_add_test(tc, t_other_kernels);
    tcase_add_test(tc, t_nan);
    tcase_add_test(tc, t_errors);
    tcase_add_test(tc, t_parity_official);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
