/* I3D (fvd.md §2) and its layers (include/svgan/ops/conv3d.h), inference only:
 *   - TF SAME / VALID padding table (odd sizes, stride 2, extra pad at the end);
 *   - conv3d, maxpool3d, avgpool3d, mean, resize: device (row and element
 *     kernel forms, chunked im2col) vs the float64 host references, odd T/H/W,
 *     stride 2, channel-slice output; NaN propagation; shape errors;
 *   - BatchNorm folding == conv followed by BN;
 *   - the weights reader: missing file / wrong size / missing or bad table;
 *     SHA-1s against sha1sum and git hash-object;
 *   - the parity bundle i3d-random-s0 (features and per-endpoint means);
 *   - the whole network vs its float64 host reference on random weights in
 *     the checkpoint layout (1 clip; 2 clips with SVGAN_SLOW_TESTS=1). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "svgan/i3d.h"
#include "svgan/ops/conv3d.h"
#include "testutil.h"

#define TOL 2e-6      /* device (float32, GEMM) vs float64 host reference, rel L2 */
#define TOL_NET 1e-4  /* whole network / parity bundle */

static const char *forms[2] = {"rows", "elem"};

static double *rnd(size_t n, uint64_t seed, double lo, double hi)
{
    tu_rng r;
    tu_seed(&r, seed);
    double *x = malloc((n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tu_fill_uniform(&r, x, n, lo, hi);
    return x;
}

START_TEST(tf_padding)
{
    /* in, k, s, same -> out, before, after */
    static const int tab[][7] = {
        {16, 7, 2, 1, 8, 2, 3},  {15, 7, 2, 1, 8, 3, 3},  {9, 7, 2, 1, 5, 3, 3},   {224, 7, 2, 1, 112, 2, 3},
        {112, 3, 2, 1, 56, 0, 1}, {8, 3, 2, 1, 4, 0, 1},   {9, 3, 2, 1, 5, 1, 1},   {5, 3, 2, 1, 3, 1, 1},
        {4, 2, 2, 1, 2, 0, 0},   {7, 2, 2, 1, 4, 0, 1},   {3, 2, 2, 1, 2, 0, 1},   {1, 7, 2, 1, 1, 3, 3},
        {8, 1, 1, 1, 8, 0, 0},   {8, 3, 1, 1, 8, 1, 1},   {2, 2, 1, 0, 1, 0, 0},   {7, 7, 1, 0, 1, 0, 0},
        {15, 2, 1, 0, 14, 0, 0},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        int o, b, a;
        ck_assert_int_eq(sv_tf_pad(tab[i][0], tab[i][1], tab[i][2], tab[i][3], &o, &b, &a), 0);
        ck_assert_msg(o == tab[i][4] && b == tab[i][5] && a == tab[i][6], "row %zu: got %d (%d,%d)", i, o, b, a);
    }
    int o;
    ck_assert_int_eq(sv_tf_pad(1, 2, 1, 0, &o, NULL, NULL), -1); /* VALID, input < window */
    ck_assert_int_eq(sv_tf_pad(0, 3, 1, 1, &o, NULL, NULL), -1);
    /* the time axis of the whole stride chain: T >= 9 reaches the average pool with >= 2 steps */
    for (int T = 1; T <= 40; T++) {
        int t1, t2, t3, t4;
        sv_tf_pad(T, 7, 2, 1, &t1, NULL, NULL);
        sv_tf_pad(t1, 3, 2, 1, &t2, NULL, NULL);
        sv_tf_pad(t2, 2, 2, 1, &t3, NULL, NULL);
        ck_assert_int_eq(sv_tf_pad(t3, 2, 1, 0, &t4, NULL, NULL) == 0, T >= SV_I3D_MIN_FRAMES);
    }
}
END_TEST

typedef struct ccfg {
    int N, in[3], Cin, Cout, k[3], s[3], same, relu, bias, c_off, Ctot;
} ccfg;

static const ccfg CONVS[] = {
    {2, {5, 7, 6}, 5, 7, {3, 3, 3}, {1, 1, 1}, 1, 1, 1, 3, 12}, /* Inception 3x3x3 into a slice */
    {1, {9, 11, 10}, 3, 8, {7, 7, 7}, {2, 2, 2}, 1, 1, 1, 0, 8}, /* stem 7x7x7 s2, odd sizes */
    {2, {4, 5, 3}, 17, 9, {1, 1, 1}, {1, 1, 1}, 1, 1, 1, 4, 20}, /* 1x1x1: direct GEMM */
    {1, {7, 6, 9}, 4, 5, {3, 1, 2}, {2, 1, 3}, 1, 0, 0, 0, 5},   /* anisotropic, no bias, linear */
    {2, {3, 7, 7}, 6, 4, {2, 7, 7}, {1, 1, 1}, 0, 0, 1, 0, 4},   /* VALID */
    {1, {3, 3, 3}, 70, 3, {3, 3, 3}, {1, 1, 1}, 1, 1, 1, 0, 3},  /* K above a work-group */
};

static void run_conv(const ccfg *c, int chunk)
{
    sv_ctx *ctx = tu_ctx();
    sv_conv3d_params p = {{c->k[0], c->k[1], c->k[2]}, {c->s[0], c->s[1], c->s[2]}, c->same, c->relu};
    int out[3];
    ck_assert_int_eq(sv_conv3d_out_size(p.k, p.s, p.same, c->in, out, NULL), 0);
    size_t nx = (size_t)c->N * c->in[0] * c->in[1] * c->in[2] * c->Cin;
    size_t nw = (size_t)c->k[0] * c->k[1] * c->k[2] * c->Cin * c->Cout;
    size_t P = (size_t)c->N * out[0] * out[1] * out[2];
    double *x = rnd(nx, 1, -1, 1), *w = rnd(nw, 2, -0.5, 0.5), *b = rnd((size_t)c->Cout, 3, -0.5, 0.5);
    double *y = malloc(P * c->Cout * sizeof *y), *full = malloc(P * c->Ctot * sizeof *full);
    sv_ref_conv3d_fwd(x, w, c->bias ? b : NULL, c->N, c->in, c->Cin, c->Cout, &p, y);
    for (size_t r = 0; r < P; r++)
        for (int ch = 0; ch < c->Ctot; ch++) {
            int o = ch - c->c_off;
            full[r * c->Ctot + ch] = o >= 0 && o < c->Cout ? y[r * c->Cout + o] : 7.25; /* untouched */
        }
    int64_t xs[5] = {c->N, c->in[0], c->in[1], c->in[2], c->Cin};
    int64_t ws[5] = {c->k[0], c->k[1], c->k[2], c->Cin, c->Cout}, bs[1] = {c->Cout};
    int64_t ys[5] = {c->N, out[0], out[1], out[2], c->Ctot};
    sv_tensor tx = tu_upload(ctx, x, 5, xs), tw = tu_upload(ctx, w, 5, ws), tb = tu_upload(ctx, b, 1, bs), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 5, ys));
    if (chunk)
        setenv("SVGAN_CONV_CHUNK_BYTES", "4000", 1); /* a few rows of columns per chunk */
    for (int f = 0; f < 2; f++) {
        setenv("SVGAN_KERNEL_FORM", forms[f], 1);
        TU_OK(ctx, sv_tensor_fill(&ty, 7.25f));
        sv_conv3d_prof pr = {0, 0, 0};
        TU_OK(ctx, sv_conv3d_fwd(ctx, &tx, &tw, c->bias ? &tb : NULL, &p, &ty, c->c_off, f ? &pr : NULL));
        char what[128];
        snprintf(what, sizeof what, "conv3d k%dx%dx%d s%d%d%d %s chunk=%d %s", c->k[0], c->k[1], c->k[2], c->s[0],
                 c->s[1], c->s[2], c->same ? "SAME" : "VALID", chunk, forms[f]);
        tu_assert_tensor(what, &ty, full, TOL);
    }
    unsetenv("SVGAN_KERNEL_FORM");
    unsetenv("SVGAN_CONV_CHUNK_BYTES");
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&tb);
    sv_tensor_free(&ty);
    free(x);
    free(w);
    free(b);
    free(y);
    free(full);
    sv_ctx_destroy(ctx);
}

START_TEST(conv3d_vs_ref)
{
    run_conv(&CONVS[_i], 0);
}
END_TEST

START_TEST(conv3d_chunked)
{
    run_conv(&CONVS[_i], 1);
}
END_TEST

/* An independent check of the host reference itself: a 1-D conv along each
 * axis by direct definition, on a tiny case with hand-countable padding. */
START_TEST(conv3d_ref_by_hand)
{
    /* x: T=3, H=1, W=1, C=1 values 1,2,3; k=(3,1,1) SAME s1 -> pad (1,1): y = [w1+2w2, w0+2w1+3w2, 2w0+3w1] */
    double x[3] = {1, 2, 3}, w[3] = {10, 100, 1000}, y[3];
    sv_conv3d_params p = {{3, 1, 1}, {1, 1, 1}, 1, 0};
    int in[3] = {3, 1, 1};
    sv_ref_conv3d_fwd(x, w, NULL, 1, in, 1, 1, &p, y);
    ck_assert(y[0] == 100 + 2000 && y[1] == 10 + 200 + 3000 && y[2] == 20 + 300);
    /* stride 2, k 2, in 3 -> out 2, pad (0,1): y = [x0 w0 + x1 w1, x2 w0] */
    sv_conv3d_params p2 = {{1, 1, 2}, {1, 1, 2}, 1, 0};
    int in2[3] = {1, 1, 3};
    double y2[2];
    sv_ref_conv3d_fwd(x, w, NULL, 1, in2, 1, 1, &p2, y2);
    ck_assert(y2[0] == 10 + 200 && y2[1] == 30);
    /* maxpool TF semantics: negative inputs, padded cells ignored (zero padding would give 0) */
    double xn[3] = {-1, -2, -3}, yn[2];
    sv_pool3d_params mp = {{1, 1, 2}, {1, 1, 2}, 1};
    sv_ref_maxpool3d_fwd(xn, 1, in2, 1, &mp, yn);
    ck_assert(yn[0] == -1 && yn[1] == -3);
}
END_TEST

typedef struct pcfg {
    int N, in[3], C, k[3], s[3], same;
} pcfg;

static const pcfg POOLS[] = {
    {2, {5, 7, 9}, 5, {3, 3, 3}, {2, 2, 2}, 1},  /* MaxPool3d_4a, odd sizes */
    {1, {3, 11, 10}, 7, {1, 3, 3}, {1, 2, 2}, 1}, /* MaxPool3d_2a/3a */
    {2, {3, 5, 5}, 3, {2, 2, 2}, {2, 2, 2}, 1},  /* MaxPool3d_5a, odd T */
    {1, {4, 6, 5}, 70, {3, 3, 3}, {1, 1, 1}, 1}, /* Branch_3 pool */
};

START_TEST(maxpool_vs_ref)
{
    const pcfg *c = &POOLS[_i];
    sv_ctx *ctx = tu_ctx();
    sv_pool3d_params p = {{c->k[0], c->k[1], c->k[2]}, {c->s[0], c->s[1], c->s[2]}, c->same};
    int out[3];
    ck_assert_int_eq(sv_conv3d_out_size(p.k, p.s, 1, c->in, out, NULL), 0);
    size_t nx = (size_t)c->N * c->in[0] * c->in[1] * c->in[2] * c->C, ny = (size_t)c->N * out[0] * out[1] * out[2] * c->C;
    double *x = rnd(nx, 11, -2, -0.5), *y = malloc(ny * sizeof *y); /* all negative: padding must be ignored */
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)x[i]; /* the device sees float32: max is then exact */
    sv_ref_maxpool3d_fwd(x, c->N, c->in, c->C, &p, y);
    int64_t xs[5] = {c->N, c->in[0], c->in[1], c->in[2], c->C}, ys[5] = {c->N, out[0], out[1], out[2], c->C};
    sv_tensor tx = tu_upload(ctx, x, 5, xs), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 5, ys));
    for (int f = 0; f < 2; f++) {
        setenv("SVGAN_KERNEL_FORM", forms[f], 1);
        TU_OK(ctx, sv_tensor_fill(&ty, NAN));
        TU_OK(ctx, sv_maxpool3d_fwd(ctx, &tx, &p, &ty));
        tu_assert_tensor(forms[f], &ty, y, 0); /* max is exact */
    }
    /* NaN propagation: a NaN at input cell 0 reaches exactly the outputs whose window holds it */
    x[0] = NAN;
    sv_ref_maxpool3d_fwd(x, c->N, c->in, c->C, &p, y);
    sv_tensor_free(&tx);
    tx = tu_upload(ctx, x, 5, xs);
    for (int f = 0; f < 2; f++) {
        setenv("SVGAN_KERNEL_FORM", forms[f], 1);
        TU_OK(ctx, sv_maxpool3d_fwd(ctx, &tx, &p, &ty));
        double *g = tu_download(&ty);
        int nn = 0;
        for (size_t i = 0; i < ny; i++) {
            ck_assert_msg(isnan(g[i]) == isnan(y[i]), "NaN pattern differs at %zu (%s)", i, forms[f]);
            nn += isnan(g[i]) != 0;
            if (!isnan(y[i]))
                ck_assert(g[i] == (double)(float)y[i]);
        }
        ck_assert_int_ge(nn, 1);
        free(g);
    }
    unsetenv("SVGAN_KERNEL_FORM");
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    free(x);
    free(y);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(avgpool_mean_vs_ref)
{
    sv_ctx *ctx = tu_ctx();
    /* Logits/AvgPool3D (2,7,7) VALID on [2, 3, 7, 7, 33] and a general VALID window with stride */
    const pcfg cs[2] = {{2, {3, 7, 7}, 33, {2, 7, 7}, {1, 1, 1}, 0}, {1, {5, 6, 7}, 4, {2, 3, 2}, {2, 1, 3}, 0}};
    for (int i = 0; i < 2; i++) {
        const pcfg *c = &cs[i];
        sv_pool3d_params p = {{c->k[0], c->k[1], c->k[2]}, {c->s[0], c->s[1], c->s[2]}, 0};
        int out[3];
        ck_assert_int_eq(sv_conv3d_out_size(p.k, p.s, 0, c->in, out, NULL), 0);
        size_t nx = (size_t)c->N * c->in[0] * c->in[1] * c->in[2] * c->C,
               ny = (size_t)c->N * out[0] * out[1] * out[2] * c->C;
        double *x = rnd(nx, 21 + i, -1, 1), *y = malloc(ny * sizeof *y);
        sv_ref_avgpool3d_fwd(x, c->N, c->in, c->C, &p, y);
        int64_t xs[5] = {c->N, c->in[0], c->in[1], c->in[2], c->C}, ys[5] = {c->N, out[0], out[1], out[2], c->C};
        sv_tensor tx = tu_upload(ctx, x, 5, xs), ty;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 5, ys));
        TU_OK(ctx, sv_avgpool3d_fwd(ctx, &tx, &p, &ty));
        tu_assert_tensor("avgpool", &ty, y, TOL);
        sv_tensor_free(&tx);
        sv_tensor_free(&ty);
        free(x);
        free(y);
    }
    /* mean over the middle axes: the time mean [N, T, 1, 1, C] and a long endpoint mean (S = 100352) */
    const int64_t S[2] = {7, 8 * 112 * 112};
    for (int i = 0; i < 2; i++) {
        int N = 2, C = i ? 3 : 400;
        size_t nx = (size_t)N * S[i] * C;
        double *x = rnd(nx, 31 + i, 0, 3), y[1200];
        sv_ref_mean_mid_fwd(x, N, S[i], C, y);
        int64_t xs[3] = {N, S[i], C}, ys[2] = {N, C};
        sv_tensor tx = tu_upload(ctx, x, 3, xs), ty;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, ys));
        TU_OK(ctx, sv_mean_mid_fwd(ctx, &tx, &ty));
        tu_assert_tensor("mean", &ty, y, 1e-6);
        sv_tensor_free(&tx);
        sv_tensor_free(&ty);
        free(x);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(resize_vs_ref)
{
    sv_ctx *ctx = tu_ctx();
    /* up (64 -> 224, odd 13x9 -> 224), down (300x250 -> 224), identity (224) */
    const int sz[4][2] = {{64, 64}, {13, 9}, {300, 250}, {224, 224}};
    for (int i = 0; i < 4; i++) {
        int F = 3, C = 3, H = sz[i][0], W = sz[i][1];
        size_t nx = (size_t)F * C * H * W, ny = (size_t)F * 224 * 224 * C;
        double *x = rnd(nx, 41 + i, 0, 255), *y = malloc(ny * sizeof *y);
        for (size_t j = 0; j < nx; j++)
            x[j] = floor(x[j]); /* uint8 values */
        sv_ref_resize_bilinear_fwd(x, F, C, H, W, 224, 224, 2.0 / 255.0, -1.0, y);
        int64_t xs[4] = {F, C, H, W}, ys[4] = {F, 224, 224, C};
        sv_tensor tx = tu_upload(ctx, x, 4, xs), ty;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
        TU_OK(ctx, sv_resize_bilinear_fwd(ctx, &tx, 2.0f / 255.0f, -1.0f, &ty));
        double *g = tu_download(&ty);
        double m = tu_max_abs(g, y, ny);
        ck_assert_msg(m < 2e-6, "resize %dx%d: max abs %g", H, W, m);
        if (H == 224) /* identity: exactly x/255*2-1 */
            for (int f = 0; f < F; f++)
                for (int c = 0; c < C; c++)
                    ck_assert(fabs(g[(((size_t)f * 224 + 5) * 224 + 7) * C + c] -
                                   (x[(((size_t)f * C + c) * H + 5) * W + 7] * 2 / 255 - 1)) < 1e-6);
        free(g);
        sv_tensor_free(&tx);
        sv_tensor_free(&ty);
        free(x);
        free(y);
    }
    /* a hand case: 2 -> 4 pixels (half-pixel: src = (d+0.5)/2-0.5 = -0.25, 0.25, 0.75, 1.25 -> 0, .25, .75, 1) */
    double x[2] = {0, 4}, y[4];
    sv_ref_resize_bilinear_fwd(x, 1, 1, 1, 2, 1, 4, 1, 0, y);
    ck_assert(y[0] == 0 && y[1] == 1 && y[2] == 3 && y[3] == 4);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(bn_fold)
{
    sv_ctx *ctx = tu_ctx();
    const int N = 2, in[3] = {5, 6, 7}, Cin = 6, Cout = 9, K = 27 * Cin;
    sv_conv3d_params p = {{3, 3, 3}, {1, 1, 1}, 1, 0};
    int out[3];
    sv_conv3d_out_size(p.k, p.s, 1, in, out, NULL);
    size_t nx = (size_t)N * in[0] * in[1] * in[2] * Cin, P = (size_t)N * out[0] * out[1] * out[2];
    double *x = rnd(nx, 51, -1, 1), *w = rnd((size_t)K * Cout, 52, -0.3, 0.3), *beta = rnd(Cout, 53, -0.2, 0.2),
           *mean = rnd(Cout, 54, -0.2, 0.2), *var = rnd(Cout, 55, 0.5, 1.5);
    /* conv, then BN, then ReLU in float64 */
    double *y = malloc(P * Cout * sizeof *y);
    sv_ref_conv3d_fwd(x, w, NULL, N, in, Cin, Cout, &p, y);
    sv_ref_batchnorm(y, (int64_t)P, Cout, beta, mean, var, 1e-3);
    for (size_t i = 0; i < P * Cout; i++)
        y[i] = y[i] > 0 ? y[i] : 0;
    /* folded conv with fused bias + ReLU on the device */
    float *wf = malloc((size_t)K * Cout * sizeof *wf), fb[9], fbeta[9], fmean[9], fvar[9];
    for (int i = 0; i < K * Cout; i++)
        wf[i] = (float)w[i];
    for (int c = 0; c < Cout; c++) {
        fbeta[c] = (float)beta[c];
        fmean[c] = (float)mean[c];
        fvar[c] = (float)var[c];
    }
    sv_bn_fold(wf, K, Cout, fbeta, fmean, fvar, 1e-3, fb);
    int64_t xs[5] = {N, in[0], in[1], in[2], Cin}, ws[5] = {3, 3, 3, Cin, Cout}, bs[1] = {Cout};
    int64_t ys[5] = {N, out[0], out[1], out[2], Cout};
    sv_tensor tx = tu_upload(ctx, x, 5, xs), tw, tb, ty;
    TU_OK(ctx, sv_tensor_new(ctx, &tw, 5, ws));
    TU_OK(ctx, sv_tensor_write(&tw, wf, (size_t)K * Cout));
    TU_OK(ctx, sv_tensor_new(ctx, &tb, 1, bs));
    TU_OK(ctx, sv_tensor_write(&tb, fb, Cout));
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 5, ys));
    p.relu = 1;
    TU_OK(ctx, sv_conv3d_fwd(ctx, &tx, &tw, &tb, &p, &ty, 0, NULL));
    tu_assert_tensor("folded conv vs conv+BN+ReLU", &ty, y, TOL);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&tb);
    sv_tensor_free(&ty);
    free(x);
    free(w);
    free(beta);
    free(mean);
    free(var);
    free(y);
    free(wf);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(op_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, w, y, y4, b;
    int64_t xs[5] = {1, 4, 5, 6, 3}, ws[5] = {3, 3, 3, 3, 8}, ys[5] = {1, 4, 5, 6, 8}, y4s[4] = {1, 4, 5, 6},
            bs[1] = {7};
    TU_OK(ctx, sv_tensor_zeros(ctx, &x, 5, xs));
    TU_OK(ctx, sv_tensor_zeros(ctx, &w, 5, ws));
    TU_OK(ctx, sv_tensor_zeros(ctx, &y, 5, ys));
    TU_OK(ctx, sv_tensor_zeros(ctx, &y4, 4, y4s));
    TU_OK(ctx, sv_tensor_zeros(ctx, &b, 1, bs));
    sv_conv3d_params p = {{3, 3, 3}, {1, 1, 1}, 1, 1};
    TU_OK(ctx, sv_conv3d_fwd(ctx, &x, &w, NULL, &p, &y, 0, NULL));
    ck_assert_int_eq(sv_conv3d_fwd(ctx, &x, &w, &b, &p, &y, 0, NULL), SV_ERR_INVALID); /* bias [7] vs 8 */
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "bias"));
    ck_assert_int_eq(sv_conv3d_fwd(ctx, &x, &w, NULL, &p, &y, 1, NULL), SV_ERR_INVALID); /* slice past the end */
    ck_assert_int_eq(sv_conv3d_fwd(ctx, &y4, &w, NULL, &p, &y, 0, NULL), SV_ERR_INVALID); /* 4-D input */
    sv_conv3d_params p2 = {{3, 3, 3}, {2, 2, 2}, 1, 1};
    ck_assert_int_eq(sv_conv3d_fwd(ctx, &x, &w, NULL, &p2, &y, 0, NULL), SV_ERR_INVALID); /* wrong output */
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "output"));
    sv_conv3d_params p3 = {{3, 3, 2}, {1, 1, 1}, 1, 1};
    ck_assert_int_eq(sv_conv3d_fwd(ctx, &x, &w, NULL, &p3, &y, 0, NULL), SV_ERR_INVALID); /* weight shape */
    sv_pool3d_params ap = {{2, 7, 7}, {1, 1, 1}, 0};
    ck_assert_int_eq(sv_avgpool3d_fwd(ctx, &x, &ap, &y), SV_ERR_INVALID); /* 5x6 < 7x7 VALID */
    ap.same = 1;
    ck_assert_int_eq(sv_avgpool3d_fwd(ctx, &x, &ap, &y), SV_ERR_UNSUPPORTED);
    sv_pool3d_params mp = {{3, 3, 3}, {2, 2, 2}, 1};
    ck_assert_int_eq(sv_maxpool3d_fwd(ctx, &x, &mp, &y), SV_ERR_INVALID); /* output must be 2x3x3 */
    ck_assert_int_eq(sv_mean_mid_fwd(ctx, &x, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_resize_bilinear_fwd(ctx, &x, 1, 0, &y4), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&w);
    sv_tensor_free(&y);
    sv_tensor_free(&y4);
    sv_tensor_free(&b);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- the network ---------------------------------------------------- */

static const char *shared_dir(void)
{
    const char *d = getenv("SVGAN_SHARED_DIR");
    return d && *d ? d : "../shared";
}

/* Random weights in the checkpoint layout (conv w ~ U with variance 2/fan_in,
 * BN beta, mean ~ 0.1·U, var ~ U(0.5, 1.5), logits w variance 1/fan_in), written by
 * parsing the layout table independently of the library. */
static void write_random_weights(const char *path, uint64_t seed)
{
    const char *dd = getenv("SVGAN_DATA_DIR");
    char tsv[2048];
    snprintf(tsv, sizeof tsv, "%s/i3d-tf-checkpoint-layout.tsv", dd ? dd : "data");
    FILE *f = fopen(tsv, "r");
    ck_assert_msg(f != NULL, "cannot open %s", tsv);
    unsigned char *buf = calloc((size_t)SV_I3D_WEIGHTS_BYTES, 1);
    ck_assert_ptr_nonnull(buf);
    tu_rng r;
    tu_seed(&r, seed);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        char name[512], shape[128];
        long long off, size;
        if (line[0] == '#' || sscanf(line, "%511s %127s %lld %lld", name, shape, &off, &size) != 4)
            continue;
        long long fan = 1;
        int nd = 0;
        for (char *p = shape; *p; nd++) {
            long long v = strtoll(p, &p, 10);
            if (*p == 'x')
                p++;
            if (nd < 4)
                fan *= v;
        }
        float *dst = (float *)(buf + off);
        for (long long i = 0; i < size / 4; i++) {
            double u = tu_uniform(&r) * 2 - 1;
            float v;
            if (strstr(name, "moving_variance"))
                v = (float)(1.0 + 0.5 * u);
            else if (strstr(name, "/w"))
                v = (float)(u * sqrt(3.0 * (strstr(name, "Logits") ? 1.0 : 2.0) / (double)fan));
            else
                v = (float)(0.1 * u);
            memcpy(dst + i, &v, 4);
        }
        n++;
    }
    fclose(f);
    ck_assert_int_eq(n, 230);
    FILE *o = fopen(path, "wb");
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(fwrite(buf, 1, (size_t)SV_I3D_WEIGHTS_BYTES, o), (size_t)SV_I3D_WEIGHTS_BYTES);
    fclose(o);
    free(buf);
}

static void cmd_out(const char *cmd, char *out, size_t n)
{
    out[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (!fgets(out, (int)n, p))
        out[0] = 0;
    pclose(p);
}

START_TEST(loader_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_i3d *net = (sv_i3d *)1;
    char tmp[] = "/tmp/svgan-i3d-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char path[256], tsv[256], bad[256];
    snprintf(path, sizeof path, "%s/missing.bin", tmp);
    ck_assert_int_eq(sv_i3d_load(ctx, path, NULL, &net), SV_ERR_IO);
    ck_assert_ptr_null(net);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), path));
    ck_assert_ptr_null(strchr(sv_ctx_errmsg(ctx), '\n'));
    snprintf(path, sizeof path, "%s/short.bin", tmp);
    FILE *f = fopen(path, "wb");
    fputs("not a checkpoint", f);
    fclose(f);
    ck_assert_int_eq(sv_i3d_load(ctx, path, NULL, &net), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "50818176"));
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), path));
    snprintf(tsv, sizeof tsv, "%s/none.tsv", tmp);
    ck_assert_int_eq(sv_i3d_load(ctx, path, tsv, &net), SV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), tsv));
    /* a malformed table and one that lacks a tensor */
    snprintf(bad, sizeof bad, "%s/bad.tsv", tmp);
    f = fopen(bad, "w");
    fputs("# comment\nname\tshape\tbyte_offset\tbyte_size\nRGB/x\t3xq\t0\t12\n", f);
    fclose(f);
    ck_assert_int_eq(sv_i3d_load(ctx, path, bad, &net), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "bad.tsv:3"));
    snprintf(path, sizeof path, "%s/w.bin", tmp);
    write_random_weights(path, 5);
    f = fopen(bad, "w");
    fputs("RGB/inception_i3d/Conv3d_1a_7x7/batch_norm/beta\t64\t0\t256\n", f);
    fclose(f);
    ck_assert_int_eq(sv_i3d_load(ctx, path, bad, &net), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "no tensor"));
    /* a good load: SHA-1s as sha1sum / git hash-object print them; not the official file */
    TU_OK(ctx, sv_i3d_load(ctx, path, NULL, &net));
    char cmd[512], out[256];
    snprintf(cmd, sizeof cmd, "sha1sum '%s' 2>/dev/null", path);
    cmd_out(cmd, out, sizeof out);
    if (strlen(out) >= 40)
        ck_assert_msg(!strncmp(out, sv_i3d_sha1(net), 40), "sha1 %s vs %s", sv_i3d_sha1(net), out);
    snprintf(cmd, sizeof cmd, "git hash-object '%s' 2>/dev/null", path);
    cmd_out(cmd, out, sizeof out);
    if (strlen(out) >= 40)
        ck_assert_msg(!strncmp(out, sv_i3d_git_sha1(net), 40), "git sha1 %s vs %s", sv_i3d_git_sha1(net), out);
    else
        fprintf(stderr, "loader_errors: git not available, git blob SHA-1 unchecked\n");
    ck_assert_int_eq(strlen(sv_i3d_sha1(net)), 40);
    ck_assert_int_eq(sv_i3d_is_official(net), 0);
    /* too few frames: one-line error */
    uint8_t clip[8 * 3 * 4 * 4] = {0};
    float feats[400];
    ck_assert_int_eq(sv_i3d_features(net, clip, 1, 8, 4, 4, feats), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "at least 9"));
    sv_i3d_free(net);
    unlink(path);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
    sv_ctx_destroy(ctx);
}
END_TEST

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rel_l2f(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1e-300));
}

START_TEST(bundle_parity)
{
    char dir[2048], bin[2100], st[2100];
    snprintf(dir, sizeof dir, "%s/reference/i3d-random-s0", shared_dir());
    snprintf(bin, sizeof bin, "%s/i3d-random.bin", dir);
    snprintf(st, sizeof st, "%s/bundle.safetensors", dir);
    if (access(bin, R_OK) || access(st, R_OK)) {
        fprintf(stderr, "bundle_parity: bundle absent: skipped (%s)\n", dir);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_st_file *f = NULL;
    ck_assert_msg(sv_st_open(st, &f, &e) == 0, "%s", e.msg);
    const sv_st_tensor *tc = sv_st_find(f, "in.clips");
    ck_assert_ptr_nonnull(tc);
    ck_assert_int_eq(tc->ndim, 5);
    int B = (int)tc->shape[0], T = (int)tc->shape[1], H = (int)tc->shape[2], W = (int)tc->shape[3];
    ck_assert_int_eq(tc->shape[4], 3);
    const uint8_t *packed = (const uint8_t *)tc->data;
    uint8_t *planar = malloc((size_t)B * T * 3 * H * W);
    for (int n = 0; n < B * T; n++) /* [B,T,H,W,3] -> [B,T,3,H,W] */
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < H * W; i++)
                planar[((size_t)n * 3 + c) * H * W + i] = packed[((size_t)n * H * W + i) * 3 + c];
    float *want = malloc((size_t)B * 400 * sizeof *want), *got = malloc((size_t)B * 400 * sizeof *got);
    ck_assert_msg(sv_st_read_f32(f, "out.features", want, (size_t)B * 400, &e) == 0, "%s", e.msg);
    float *acts[SV_I3D_ENDPOINTS];
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++)
        acts[i] = malloc((size_t)B * sv_i3d_endpoint_channels(i) * sizeof(float));
    sv_i3d *net = NULL;
    TU_OK(ctx, sv_i3d_load(ctx, bin, NULL, &net));
    sv_i3d_set_profile(net, 1);
    TU_OK(ctx, sv_i3d_features_ex(net, planar, B, T, H, W, got, acts));
    double worst = 0;
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++) {
        char name[128];
        int C = sv_i3d_endpoint_channels(i);
        snprintf(name, sizeof name, "act.%s", sv_i3d_endpoint_name(i));
        float *w = malloc((size_t)B * C * sizeof *w);
        ck_assert_msg(sv_st_read_f32(f, name, w, (size_t)B * C, &e) == 0, "%s", e.msg);
        double r = rel_l2f(acts[i], w, (size_t)B * C);
        fprintf(stderr, "bundle_parity: %-22s rel L2 %.3g\n", name, r);
        ck_assert_msg(r <= TOL_NET, "%s: rel L2 %g", name, r);
        worst = r > worst ? r : worst;
        free(w);
    }
    double r = rel_l2f(got, want, (size_t)B * 400);
    fprintf(stderr, "bundle_parity: out.features           rel L2 %.3g (worst endpoint %.3g)\n", r, worst);
    ck_assert_msg(r <= TOL_NET, "out.features: rel L2 %g", r);
    /* the same features without endpoint means, one clip per batch */
    sv_i3d_set_batch_bytes(net, 1);
    float *got1 = malloc((size_t)B * 400 * sizeof *got1);
    TU_OK(ctx, sv_i3d_features(net, planar, B, T, H, W, got1));
    ck_assert_msg(rel_l2f(got1, got, (size_t)B * 400) < 1e-6, "batching changes the features");
    sv_i3d_prof pr;
    sv_i3d_get_profile(net, &pr);
    fprintf(stderr, "bundle_parity: time resize %.2f im2col %.2f gemm %.2f bias+relu %.2f maxpool %.2f logits %.2f s\n",
            pr.resize_s, pr.im2col_s, pr.gemm_s, pr.bias_relu_s, pr.maxpool_s, pr.logits_s);
    sv_i3d_free(net);
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++)
        free(acts[i]);
    free(planar);
    free(want);
    free(got);
    free(got1);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

/* The whole network against its float64 host reference, on random weights in
 * the checkpoint layout: clips of 9 frames (odd T, the minimum) of 20x17. */
START_TEST(network_vs_host)
{
    /* 1 clip by default (~1 min on a busy 2-core box); SVGAN_SLOW_TESTS=1: 2 clips (~2 min) */
    const char *slow = getenv("SVGAN_SLOW_TESTS");
    const int n = slow && !strcmp(slow, "1") ? 2 : 1;
    sv_ctx *ctx = tu_ctx();
    char tmp[] = "/tmp/svgan-i3d-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char path[256];
    snprintf(path, sizeof path, "%s/w.bin", tmp);
    write_random_weights(path, 7);
    const int T = 9, H = 20, W = 17;
    size_t nin = (size_t)n * T * 3 * H * W;
    uint8_t *clips = malloc(nin);
    tu_rng r;
    tu_seed(&r, 9);
    for (size_t i = 0; i < nin; i++)
        clips[i] = (uint8_t)(tu_next(&r) >> 56);
    float feats[2 * 400], *acts[SV_I3D_ENDPOINTS];
    double want[2 * 400], *racts[SV_I3D_ENDPOINTS];
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++) {
        acts[i] = malloc((size_t)n * sv_i3d_endpoint_channels(i) * sizeof(float));
        racts[i] = malloc((size_t)n * sv_i3d_endpoint_channels(i) * sizeof(double));
    }
    sv_i3d *net = NULL;
    TU_OK(ctx, sv_i3d_load(ctx, path, NULL, &net));
    double t0 = wall_s();
    TU_OK(ctx, sv_i3d_features_ex(net, clips, n, T, H, W, feats, acts));
    double t1 = wall_s();
    sv_err e = {0};
    ck_assert_msg(sv_ref_i3d_features(path, NULL, clips, n, T, H, W, want, racts, &e) == 0, "%s", e.msg);
    fprintf(stderr, "network_vs_host: device %.1f s, float64 host reference %.1f s (wall; CPU %.1f s)\n", t1 - t0,
            wall_s() - t1, (double)clock() / CLOCKS_PER_SEC);
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++) {
        size_t m = (size_t)n * sv_i3d_endpoint_channels(i);
        double *g = malloc(m * sizeof *g);
        for (size_t j = 0; j < m; j++)
            g[j] = acts[i][j];
        double rr = tu_rel_l2(g, racts[i], m);
        fprintf(stderr, "network_vs_host: %-20s rel L2 %.3g\n", sv_i3d_endpoint_name(i), rr);
        ck_assert_msg(rr <= TOL_NET, "%s: %g", sv_i3d_endpoint_name(i), rr);
        free(g);
    }
    double g[800];
    for (int j = 0; j < n * 400; j++)
        g[j] = feats[j];
    double rr = tu_rel_l2(g, want, (size_t)n * 400);
    fprintf(stderr, "network_vs_host: features rel L2 %.3g\n", rr);
    ck_assert_msg(rr <= TOL_NET, "features: %g", rr);
    sv_i3d_free(net);
    for (int i = 0; i < SV_I3D_ENDPOINTS; i++) {
        free(acts[i]);
        free(racts[i]);
    }
    free(clips);
    unlink(path);
    rmdir(tmp);
    sv_ctx_destroy(ctx);
}
END_TEST

/* svgan bench i3d: usage errors exit 2, a missing weights file exits 1 with one line. */
START_TEST(cli_bench)
{
    const char *bin = getenv("SVGAN_BIN");
    if (!bin || access(bin, X_OK)) {
        fprintf(stderr, "cli_bench: SVGAN_BIN unset: skipped\n");
        return;
    }
    char cmd[4096], out[1024];
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --frames 8 >/dev/null 2>&1; echo $?", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_str_eq(out, "2\n");
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --bogus >/dev/null 2>&1; echo $?", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_str_eq(out, "2\n");
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --help >/dev/null 2>&1; echo $?", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_str_eq(out, "0\n");
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --i3d /nonexistent/i3d.bin 2>&1 >/dev/null | wc -l", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_str_eq(out, "1\n");
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --i3d /nonexistent/i3d.bin 2>&1 >/dev/null", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_msg(!strncmp(out, "svgan: I3D weights /nonexistent/i3d.bin", 39), "got: %s", out);
    snprintf(cmd, sizeof cmd, "'%s' bench i3d --i3d /nonexistent/i3d.bin >/dev/null 2>&1; echo $?", bin);
    cmd_out(cmd, out, sizeof out);
    ck_assert_str_eq(out, "1\n");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("i3d");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, tf_padding);
    tcase_add_loop_test(tc, conv3d_vs_ref, 0, (int)(sizeof CONVS / sizeof CONVS[0]));
    tcase_add_loop_test(tc, conv3d_chunked, 0, 2);
    tcase_add_test(tc, conv3d_ref_by_hand);
    tcase_add_loop_test(tc, maxpool_vs_ref, 0, (int)(sizeof POOLS / sizeof POOLS[0]));
    tcase_add_test(tc, avgpool_mean_vs_ref);
    tcase_add_test(tc, resize_vs_ref);
    tcase_add_test(tc, bn_fold);
    tcase_add_test(tc, op_errors);
    tcase_add_test(tc, loader_errors);
    tcase_add_test(tc, cli_bench);
    suite_add_tcase(s, tc);
    TCase *net = tcase_create("network");
    tcase_set_timeout(net, 600);
    tcase_add_test(net, bundle_parity);
    tcase_add_test(net, network_vs_host);
    suite_add_tcase(s, net);
    return tu_main(s, 1);
}
