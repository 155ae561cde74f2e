/* mbstd: device vs float64 host reference for fwd, bwd, jvp and jvp_bwd;
 * central differences of the host references; strided (not contiguous)
 * groups; NaN propagation; group/shape errors. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-6
#define TOL_BWD 1e-5
/* central differences: step and relative tolerance (the std has curvature
 * ~1/|d|² where two members of a G = 2 group nearly agree) */
#ifndef FD_H
#define FD_H 1e-5
#endif
#ifndef FD_TOL
#define FD_TOL 1e-4
#endif
#define TOL_STAT 1e-5 /* the appended channel / the mbstd-only gradient part alone */
#define TOL_NEAR 1e-6 /* group members within 1e-6…1e-2 of each other (near_case) */

typedef struct {
    int64_t N, C, HW;
    int G;
    const double *gy, *gyd, *x, *xd;
    double *sc, *sc2;
} fd_ctx;

static int64_t ysz(const fd_ctx *f) { return f->N * (f->C + 1) * f->HW; }

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* L(x) = Σ gy·y(x) */
static double loss_fwd(const double *x, void *u)
{
    fd_ctx *f = u;
    sv_ref_mbstd_fwd(x, f->N, f->C, f->HW, f->G, f->sc);
    return dot(f->gy, f->sc, ysz(f));
}

/* L(x, ẋ) = Σ gy·y(x) + Σ gẏ·ẏ(x, ẋ), parameters packed [x ; ẋ] */
static double loss_dual(const double *p, void *u)
{
    fd_ctx *f = u;
    int64_t nx = f->N * f->C * f->HW;
    sv_ref_mbstd_fwd(p, f->N, f->C, f->HW, f->G, f->sc);
    sv_ref_mbstd_jvp(p, p + nx, f->N, f->C, f->HW, f->G, f->sc2);
    return (f->gy ? dot(f->gy, f->sc, ysz(f)) : 0.0) + dot(f->gyd, f->sc2, ysz(f));
}

/* Copy of the appended channel [N, HW] of y [N, C+1, HW]. */
static void last_channel(const double *y, int64_t N, int64_t C, int64_t HW, double *out)
{
    for (int64_t i = 0; i < N; i++)
        memcpy(out + i * HW, y + (i * (C + 1) + C) * HW, (size_t)HW * sizeof *out);
}

static void assert_last_channel(const char *what, const sv_tensor *t, const double *want, int64_t N, int64_t C,
                                int64_t HW, double tol)
{
    double *got = tu_download(t), *a = malloc(N * HW * sizeof *a), *b = malloc(N * HW * sizeof *b);
    last_channel(got, N, C, HW, a);
    last_channel(want, N, C, HW, b);
    tu_assert_close(what, a, b, (size_t)(N * HW), tol);
    free(got);
    free(a);
    free(b);
}

/* Per element |Γ̇|/(GS)·(|ḋ| + |d|·|P|/(G s²))/s: the size of the terms
 * whose difference is the second-order part of gx. */
static void second_order_scale(const double *x, const double *xd, const double *gyd, int64_t N, int64_t C,
                               int64_t HW, int G, double *out)
{
    int64_t S = C * HW, n = N / G;
    for (int64_t i = 0; i < N; i++) {
        int64_t g = i % n;
        double gam = 0;
        for (int k = 0; k < G; k++)
            for (int64_t h = 0; h < HW; h++)
                gam += gyd[(g + k * n) * (S + HW) + S + h];
        for (int64_t e = 0; e < S; e++) {
            double mu = 0, mud = 0, v = 0, p = 0;
            for (int k = 0; k < G; k++) {
                mu += x[(g + k * n) * S + e] / G;
                mud += xd[(g + k * n) * S + e] / G;
            }
            for (int k = 0; k < G; k++) {
                double d = x[(g + k * n) * S + e] - mu;
                v += d * d / G;
                p += d * xd[(g + k * n) * S + e];
            }
            double s = sqrt(v + 1e-8), d = x[i * S + e] - mu, dd = xd[i * S + e] - mud;
            out[i * S + e] = fabs(gam) / (G * S) * (fabs(dd) + fabs(d) * fabs(p) / (G * s * s)) / s;
        }
    }
}

/* gx of jvp_bwd contains Γ̇/(GS)·(ḋ − d·P/(G s²))/s, a difference of two
 * nearly equal terms (cancelling exactly for G = 2 up to eps), so float32
 * keeps only an absolute accuracy relative to those terms' size: assert
 * ‖got − want‖ ≤ tol·√(‖want‖² + ‖scale‖²). */
static void assert_scaled(const char *what, const sv_tensor *t, const double *want, const double *scale, size_t n,
                          double tol)
{
    double *got = tu_download(t), en = 0, sn = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(!isnan(got[i]), "%s: NaN at %zu", what, i);
        en += (got[i] - want[i]) * (got[i] - want[i]);
        sn += scale[i] * scale[i] + want[i] * want[i];
    }
    ck_assert_msg(sqrt(en) <= tol * sqrt(sn), "%s: error %.3g > %.3g x scale %.3g", what, sqrt(en), tol, sqrt(sn));
    free(got);
}

/* zero_copy: zero the first C channels of gy/gẏ, so gx is purely the
 * statistic's gradient (otherwise the identity copy dominates the error). */
static void run_case(int64_t N, int64_t C, int64_t H, int64_t W, int group, int zero_copy, uint64_t seed)
{
    const int64_t HW = H * W, nx = N * C * HW, ny = N * (C + 1) * HW;
    int G = sv_mbstd_group(NULL, N, group);
    ck_assert_int_gt(G, 0);
    tu_rng r;
    tu_seed(&r, seed);
    double *x = malloc(2 * nx * sizeof *x), *xd = x + nx; /* packed [x ; ẋ] */
    double *gy = malloc(ny * sizeof *gy), *gyd = malloc(ny * sizeof *gyd);
    double *y = malloc(ny * sizeof *y), *yd = malloc(ny * sizeof *yd), *gx = malloc(2 * nx * sizeof *gx);
    double *gxd = gx + nx, *g1 = malloc(nx * sizeof *g1);
    double *sc = malloc(ny * sizeof *sc), *sc2 = malloc(ny * sizeof *sc2), *q = malloc(nx * sizeof *q);
    tu_fill_normal(&r, x, (size_t)(2 * nx), 1.0);
    tu_fill_normal(&r, gy, (size_t)ny, 1.0);
    tu_fill_normal(&r, gyd, (size_t)ny, 1.0);
    if (zero_copy)
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < C * HW; j++)
                gy[i * (C + 1) * HW + j] = gyd[i * (C + 1) * HW + j] = 0;

    sv_ref_mbstd_fwd(x, N, C, HW, G, y);
    sv_ref_mbstd_bwd(x, gy, N, C, HW, G, g1);
    sv_ref_mbstd_jvp(x, xd, N, C, HW, G, yd);
    sv_ref_mbstd_jvp_bwd(x, xd, gy, gyd, N, C, HW, G, gx, gxd);

    /* (1) central differences of the host references */
    fd_ctx f = {N, C, HW, G, gy, gyd, x, xd, sc, sc2};
    tu_gradcheck("mbstd ref bwd", loss_fwd, &f, x, g1, (size_t)nx, 6, FD_H, FD_TOL, seed + 1);
    {
        /* tangent: ẏ vs (y(x + hẋ) − y(x − hẋ)) / 2h */
        const double h = 1e-5;
        for (int64_t i = 0; i < nx; i++)
            q[i] = x[i] + h * xd[i];
        sv_ref_mbstd_fwd(q, N, C, HW, G, sc);
        for (int64_t i = 0; i < nx; i++)
            q[i] = x[i] - h * xd[i];
        sv_ref_mbstd_fwd(q, N, C, HW, G, sc2);
        for (int64_t i = 0; i < ny; i++)
            sc[i] = (sc[i] - sc2[i]) / (2 * h);
        tu_assert_close("mbstd ref jvp vs central difference", yd, sc, (size_t)ny, 1e-7);
        double *a = malloc(N * HW * sizeof *a), *b = malloc(N * HW * sizeof *b);
        last_channel(yd, N, C, HW, a);
        last_channel(sc, N, C, HW, b);
        tu_assert_close("mbstd ref jvp (appended channel) vs central difference", a, b, (size_t)(N * HW), 1e-6);
        free(a);
        free(b);
    }
    tu_gradcheck("mbstd ref jvp_bwd", loss_dual, &f, x, gx, (size_t)(2 * nx), 8, FD_H, FD_TOL, seed + 2);
    f.gy = NULL;
    {
        double *gx0 = malloc(2 * nx * sizeof *gx0);
        sv_ref_mbstd_jvp_bwd(x, xd, NULL, gyd, N, C, HW, G, gx0, gx0 + nx);
        tu_gradcheck("mbstd ref jvp_bwd (gy = 0)", loss_dual, &f, x, gx0, (size_t)(2 * nx), 6, FD_H, FD_TOL,
                     seed + 3);
        free(gx0);
    }

    /* (2) device vs host */
    sv_ctx *ctx = tu_ctx();
    int64_t sx[4] = {N, C, H, W}, sy[4] = {N, C + 1, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, sx), txd = tu_upload(ctx, xd, 4, sx);
    sv_tensor tgy = tu_upload(ctx, gy, 4, sy), tgyd = tu_upload(ctx, gyd, 4, sy);
    sv_tensor ty, tyd, tgx, tgxd;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tyd, 4, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, sx));
    TU_OK(ctx, sv_tensor_new(ctx, &tgxd, 4, sx));

    TU_OK(ctx, sv_mbstd_fwd(ctx, &tx, group, &ty));
    tu_assert_tensor("mbstd fwd", &ty, y, TOL_FWD);
    assert_last_channel("mbstd fwd (appended channel)", &ty, y, N, C, HW, TOL_STAT);
    TU_OK(ctx, sv_mbstd_bwd(ctx, &tx, &tgy, group, &tgx));
    tu_assert_tensor("mbstd bwd", &tgx, g1, TOL_BWD);
    TU_OK(ctx, sv_mbstd_jvp(ctx, &tx, &txd, group, &tyd));
    tu_assert_tensor("mbstd jvp", &tyd, yd, TOL_FWD);
    assert_last_channel("mbstd jvp (appended channel)", &tyd, yd, N, C, HW, TOL_STAT);
    TU_OK(ctx, sv_mbstd_jvp_bwd(ctx, &tx, &txd, &tgy, &tgyd, group, &tgx, &tgxd));
    double *sc3 = malloc(nx * sizeof *sc3);
    second_order_scale(x, xd, gyd, N, C, HW, G, sc3);
    assert_scaled("mbstd jvp_bwd gx", &tgx, gx, sc3, (size_t)nx, TOL_BWD);
    tu_assert_tensor("mbstd jvp_bwd gxdot", &tgxd, gxd, TOL_BWD);
    {
        double *gx0 = malloc(2 * nx * sizeof *gx0);
        sv_ref_mbstd_jvp_bwd(x, xd, NULL, gyd, N, C, HW, G, gx0, gx0 + nx);
        TU_OK(ctx, sv_mbstd_jvp_bwd(ctx, &tx, &txd, NULL, &tgyd, group, &tgx, &tgxd));
        assert_scaled("mbstd jvp_bwd gx (gy = NULL)", &tgx, gx0, sc3, (size_t)nx, TOL_BWD);
        /* the second-order term alone, plain relative error: the kernel's
         * cancellation-free form keeps it accurate even for G = 2, where its
         * exact value is the eps term only (R1's bias gradients depend on it) */
        tu_assert_tensor("mbstd jvp_bwd gx (gy = NULL, relative)", &tgx, gx0, 1e-4);
        tu_assert_tensor("mbstd jvp_bwd gxdot (gy = NULL)", &tgxd, gx0 + nx, TOL_BWD);
        free(gx0);
    }

    free(sc3);
    sv_tensor_free(&tx);
    sv_tensor_free(&txd);
    sv_tensor_free(&tgy);
    sv_tensor_free(&tgyd);
    sv_tensor_free(&ty);
    sv_tensor_free(&tyd);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgxd);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(gyd);
    free(y);
    free(yd);
    free(gx);
    free(g1);
    free(sc);
    free(sc2);
    free(q);
}

/* N = 8, G = 4: two strided groups; S = 105 > one work-group of lanes */
START_TEST(t_n8_g4) { run_case(8, 5, 3, 7, 4, 0, 21); }
END_TEST
START_TEST(t_n8_g4_statonly) { run_case(8, 5, 3, 7, 4, 1, 22); }
END_TEST
START_TEST(t_n2_g2) { run_case(2, 3, 4, 4, 2, 1, 23); }
END_TEST
/* group larger than the batch: G = min(8, 4) = 4, one group; S = 528 */
START_TEST(t_n4_g8) { run_case(4, 33, 4, 4, 8, 1, 24); }
END_TEST
/* G = 2 with n = 3 groups, odd spatial size */
START_TEST(t_n6_g2) { run_case(6, 2, 5, 3, 2, 0, 25); }
END_TEST

/* Strided groups: a contiguous-group implementation (members 4g … 4g+3)
 * gives a clearly different appended channel, which the fwd test would
 * reject.  Contiguous groups of x equal strided groups of the batch permuted
 * by i ↦ (i mod G)·n + i / G. */
START_TEST(t_strided_not_contiguous)
{
    const int64_t N = 8, C = 3, H = 2, W = 2, HW = H * W, S = C * HW;
    const int G = 4, n = 2;
    tu_rng r;
    tu_seed(&r, 31);
    double x[8 * 12], xp[8 * 12], y[8 * 4 * 4], yp[8 * 4 * 4], yc[8 * 4 * 4];
    tu_fill_normal(&r, x, (size_t)(N * S), 1.0);
    /* make group membership matter: scale sample i by (1 + i) */
    for (int64_t i = 0; i < N; i++)
        for (int64_t e = 0; e < S; e++)
            x[i * S + e] *= (double)(1 + i);
    for (int64_t i = 0; i < N; i++) /* contiguous member j of group g = sample g·G + j → slot j·n + g */
        memcpy(xp + ((i % G) * n + i / G) * S, x + i * S, (size_t)S * sizeof *x);
    sv_ref_mbstd_fwd(x, N, C, HW, G, y);
    sv_ref_mbstd_fwd(xp, N, C, HW, G, yp);
    for (int64_t i = 0; i < N; i++) /* back to the original sample order */
        memcpy(yc + i * (S + HW), yp + ((i % G) * n + i / G) * (S + HW), (size_t)(S + HW) * sizeof *y);
    /* sanity: strided groups hand sample 0 and 2 the same statistic */
    ck_assert(y[0 * (S + HW) + S] == y[2 * (S + HW) + S]);
    ck_assert(y[0 * (S + HW) + S] != y[1 * (S + HW) + S]);

    sv_ctx *ctx = tu_ctx();
    int64_t sx[4] = {N, C, H, W}, sy[4] = {N, C + 1, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, sx), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, sy));
    TU_OK(ctx, sv_mbstd_fwd(ctx, &tx, G, &ty));
    tu_assert_tensor("mbstd strided fwd", &ty, y, TOL_FWD);
    double *got = tu_download(&ty);
    double ga[32], ca[32];
    last_channel(got, N, C, HW, ga);
    last_channel(yc, N, C, HW, ca);
    double e = tu_rel_l2(ga, ca, (size_t)(N * HW));
    ck_assert_msg(e > 1e-2, "contiguous groups would pass too (rel %.3g)", e);
    free(got);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

/* Nearly coinciding group members, the regime R1's bias gradients live in
 * for G = 2 (their only source is then the eps term eps·ḋ/s³ of mbstd's
 * second derivative, weighted by 1/|a − b|³).  The inputs are exactly
 * representable in float32, so the float64 reference sees what the device
 * sees and any error is the kernel's own.  For G = 2, d = (a − b)/2 must be
 * formed without an extra rounding (a − fl((a + b)/2) loses up to ulp(a)/4,
 * a relative 1e-3 at |a − b| ~ 1e-4, in ∂σ/∂x and σ̇); for any G, P = Σ d ḋ
 * must not pick up the rounding of the mean (Σ d ẋ does: σ̇ off by ~1e-4).
 * For G > 2 the kernels keep d = x − fl(mean), so ∂σ/∂x and the second-order
 * part of jvp_bwd carry a relative ~ulp(x)/|d| there (measured 2.5e-4 and
 * 8e-5; harmless for R1, whose bias gradients with G > 2 come from the cross
 * term, not from eps) and only σ, σ̇ are held to TOL_NEAR.  Members:
 * |x − x₀| = 10^U(−6, −2), every 13th element exactly equal; |x₀| ~ N(0, 1);
 * n = 2 groups. */
static void near_case(int G, uint64_t seed)
{
    const int n = 2;
    const int64_t N = (int64_t)n * G, C = 4, H = 4, W = 4, HW = H * W, S = C * HW;
    const int64_t nx = N * S, ny = N * (S + HW);
    tu_rng r;
    tu_seed(&r, seed);
    double *x = malloc(nx * sizeof *x), *xd = malloc(nx * sizeof *xd), *gyd = malloc(ny * sizeof *gyd);
    double *gx = malloc(2 * nx * sizeof *gx), *y = malloc(ny * sizeof *y), *yd = malloc(ny * sizeof *yd);
    double *gy = calloc((size_t)ny, sizeof *gy), *g1 = malloc(nx * sizeof *g1);
    tu_fill_normal(&r, x, (size_t)(n * S), 1.0);
    tu_fill_normal(&r, xd, (size_t)nx, 1.0);
    tu_fill_normal(&r, gyd, (size_t)ny, 1.0);
    for (int64_t i = 0; i < nx; i++)
        xd[i] = (float)xd[i];
    for (int64_t i = 0; i < ny; i++)
        gyd[i] = (float)gyd[i];
    for (int64_t i = 0; i < N; i++) /* gy on the appended channel only: bwd's gx is ∂σ/∂x alone */
        for (int64_t h = 0; h < HW; h++)
            gy[(i * (C + 1) + C) * HW + h] = (float)(gyd[i * HW + h] + 0.5);
    for (int64_t e = 0; e < n * S; e++) { /* members of group g: g + k n */
        x[e] = (float)x[e];
        for (int k = 1; k < G; k++) {
            double dlt = (e % 13 == 5) ? 0.0 : pow(10.0, -6.0 + 4.0 * tu_uniform(&r));
            x[k * n * S + e] = (float)(x[e] + (tu_uniform(&r) < 0.5 ? -dlt : dlt));
        }
    }
    sv_ref_mbstd_fwd(x, N, C, HW, G, y);
    sv_ref_mbstd_jvp(x, xd, N, C, HW, G, yd);
    sv_ref_mbstd_jvp_bwd(x, xd, NULL, gyd, N, C, HW, G, gx, gx + nx);
    sv_ref_mbstd_bwd(x, gy, N, C, HW, G, g1);

    sv_ctx *ctx = tu_ctx();
    int64_t sx[4] = {N, C, H, W}, sy[4] = {N, C + 1, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, sx), txd = tu_upload(ctx, xd, 4, sx), tgyd = tu_upload(ctx, gyd, 4, sy);
    sv_tensor tgy = tu_upload(ctx, gy, 4, sy);
    sv_tensor ty, tyd, tgx, tgxd;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tyd, 4, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, sx));
    TU_OK(ctx, sv_tensor_new(ctx, &tgxd, 4, sx));
    TU_OK(ctx, sv_mbstd_fwd(ctx, &tx, G, &ty));
    TU_OK(ctx, sv_mbstd_jvp(ctx, &tx, &txd, G, &tyd));
    TU_OK(ctx, sv_mbstd_jvp_bwd(ctx, &tx, &txd, NULL, &tgyd, G, &tgx, &tgxd));
    double *gy_ = tu_download(&ty), *gyd_ = tu_download(&tyd), *got = tu_download(&tgx);
    sv_tensor tg1;
    TU_OK(ctx, sv_tensor_new(ctx, &tg1, 4, sx));
    TU_OK(ctx, sv_mbstd_bwd(ctx, &tx, &tgy, G, &tg1));
    double *got1 = tu_download(&tg1);
    sv_tensor_free(&tg1);
    const double e_g1 = tu_rel_l2(got1, g1, (size_t)nx);
    free(got1);
    double *a = malloc(N * HW * sizeof *a), *b = malloc(N * HW * sizeof *b), worst = 0;
    last_channel(gy_, N, C, HW, a);
    last_channel(y, N, C, HW, b);
    const double e_s = tu_rel_l2(a, b, (size_t)(N * HW));
    last_channel(gyd_, N, C, HW, a);
    last_channel(yd, N, C, HW, b);
    const double e_sd = tu_rel_l2(a, b, (size_t)(N * HW)), e_gx = tu_rel_l2(got, gx, (size_t)nx);
    for (int64_t i = 0; i < nx; i++)
        worst = fmax(worst, fabs(got[i] - gx[i]) / fabs(gx[i]));
    fprintf(stderr,
            "mbstd near groups G=%d: rel-L2 sigma %.3g, sigma-dot %.3g, bwd gx %.3g, jvp_bwd gx %.3g (worst %.3g)\n", G,
            e_s, e_sd, e_g1, e_gx, worst);
    free(gy_);
    free(gyd_);
    free(got);
    free(a);
    free(b);
    ck_assert_msg(e_s <= TOL_NEAR && e_sd <= TOL_NEAR && (G > 2 || (e_g1 <= TOL_NEAR && e_gx <= TOL_NEAR)),
                  "mbstd near groups G=%d: rel-L2 sigma %.3g, sigma-dot %.3g, bwd gx %.3g, jvp_bwd gx (second-order "
                  "part alone) %.3g: above %.3g",
                  G, e_s, e_sd, e_g1, e_gx, TOL_NEAR);
    /* gẋ = gẏ + Γ̇ d/(G S s): for G > 2 its d carries the mean's rounding too */
    tu_assert_tensor("mbstd near groups jvp_bwd gxdot", &tgxd, gx + nx, G > 2 ? 1e-4 : TOL_BWD);

    sv_tensor_free(&tx);
    sv_tensor_free(&txd);
    sv_tensor_free(&tgyd);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tyd);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgxd);
    sv_ctx_destroy(ctx);
    free(x);
    free(xd);
    free(gyd);
    free(gy);
    free(g1);
    free(gx);
    free(y);
    free(yd);
}

START_TEST(t_g2_near_pairs) { near_case(2, 41); }
END_TEST
START_TEST(t_g4_near_groups) { near_case(4, 42); }
END_TEST

START_TEST(t_nan)
{
    const int64_t N = 4, C = 2, H = 2, W = 2, S = C * H * W;
    double x[4 * 8];
    tu_rng r;
    tu_seed(&r, 41);
    tu_fill_normal(&r, x, (size_t)(N * S), 1.0);
    x[1 * S + 3] = NAN; /* sample 1: group 1 of n = 2 (G = 2) */
    sv_ctx *ctx = tu_ctx();
    int64_t sx[4] = {N, C, H, W}, sy[4] = {N, C + 1, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, sx), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, sy));
    TU_OK(ctx, sv_mbstd_fwd(ctx, &tx, 2, &ty));
    double *y = tu_download(&ty);
    int64_t row = S + H * W;
    ck_assert_msg(isnan(y[1 * row + S]) && isnan(y[3 * row + S]), "NaN must reach its group's statistic");
    ck_assert_msg(isfinite(y[0 * row + S]) && isfinite(y[2 * row + S]), "other group must stay finite");
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, y, y2, x3;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 4, (int64_t)6, (int64_t)3, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 4, (int64_t)6, (int64_t)4, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &y2, 4, (int64_t)6, (int64_t)3, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &x3, 3, (int64_t)6, (int64_t)3, (int64_t)16));
    /* N = 6 with group 4 → not divisible */
    ck_assert_int_eq(sv_mbstd_fwd(ctx, &x, 4, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "divisible"));
    ck_assert_int_eq(sv_mbstd_bwd(ctx, &x, &y, 4, &x), SV_ERR_INVALID);
    ck_assert_int_eq(sv_mbstd_fwd(ctx, &x, 0, &y), SV_ERR_INVALID);
    /* group 3 / 2 / 6 are fine */
    TU_OK(ctx, sv_mbstd_fwd(ctx, &x, 3, &y));
    TU_OK(ctx, sv_mbstd_fwd(ctx, &x, 6, &y));
    /* wrong output shape (no extra channel), wrong rank */
    ck_assert_int_eq(sv_mbstd_fwd(ctx, &x, 2, &y2), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_mbstd_fwd(ctx, &x3, 2, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_mbstd_jvp(ctx, &x, &y, 2, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_mbstd_jvp_bwd(ctx, &x, &x, &y, &y2, 2, &x, &y2), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_tensor_free(&y2);
    sv_tensor_free(&x3);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mbstd");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_n8_g4);
    tcase_add_test(tc, t_n8_g4_statonly);
    tcase_add_test(tc, t_n2_g2);
    tcase_add_test(tc, t_n4_g8);
    tcase_add_test(tc, t_n6_g2);
    tcase_add_test(tc, t_strided_not_contiguous);
    tcase_add_test(tc, t_g2_near_pairs);
    tcase_add_test(tc, t_g4_near_groups);
    tcase_add_test(tc, t_nan);
    tcase_add_test(tc, t_errors);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
