/* timeenc: motion-code gather, aligned time encoder and D time-difference
 * features — device vs float64 host references, central differences of the
 * host references, official buffer values, NaN and error cases. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_EXACT 1e-7 /* gathers / copies */
#define TOL_FWD 1e-5
#define TOL_BWD 1e-4 /* float32 arguments up to ~200 rad (ph·σ, σ ≤ 64) */
/* t ≈ 1000: float32 arguments ω·μ·t of up to ~800 rad carry absolute errors
 * ~1e-4 (as in the official float32 code) */
#define TOL_FWD_BIG 5e-5
#define TOL_BWD_BIG 2e-4

/* Official float32 buffers from the tiny32-k3 parity bundle (D = 32,
 * Pmin = 16, Pmax = 1024; M = 1024). */
static const float ref_freqs32[32] = {
    0x1.921fb60000000p-8, 0x1.cbdba40000000p-8, 0x1.06f0c80000000p-7, 0x1.2cb1140000000p-7,
    0x1.57dce80000000p-7, 0x1.893b780000000p-7, 0x1.c1b0980000000p-7, 0x1.0120660000000p-6,
    0x1.260b000000000p-6, 0x1.5042740000000p-6, 0x1.8089920000000p-6, 0x1.b7bf1c0000000p-6,
    0x1.f6e1da0000000p-6, 0x1.1f8a900000000p-5, 0x1.48d30c0000000p-5, 0x1.7808e20000000p-5,
    0x1.ae05ea0000000p-5, 0x1.ebc3440000000p-5, 0x1.192eec0000000p-4, 0x1.418dba0000000p-4,
    0x1.6fb8520000000p-4, 0x1.a483c00000000p-4, 0x1.e0e3a20000000p-4, 0x1.12f7460000000p-3,
    0x1.3a71900000000p-3, 0x1.6796d40000000p-3, 0x1.9b376a0000000p-3, 0x1.d6418a0000000p-3,
    0x1.0ce2d20000000p-2, 0x1.337da40000000p-2, 0x1.5fa35e0000000p-2, 0x1.921fb60000000p-2};
static const float ref_pscales32[32] = {
    0x1.0000000000000p+0, 0x1.24c1320000000p+0, 0x1.4ec94c0000000p+0, 0x1.7eda420000000p+0,
    0x1.b5d1e20000000p+0, 0x1.f4adcc0000000p+0, 0x1.1e480c0000000p+1, 0x1.47623a0000000p+1,
    0x1.7663180000000p+1, 0x1.ac23940000000p+1, 0x1.e99bb20000000p+1, 0x1.17f38a0000000p+2,
    0x1.40250e0000000p+2, 0x1.6e1be00000000p+2, 0x1.a2ac160000000p+2, 0x1.dec8400000000p+2,
    0x1.11c2de0000000p+3, 0x1.3910de0000000p+3, 0x1.6603800000000p+3, 0x1.996a2e0000000p+3,
    0x1.d432140000000p+3, 0x1.0bb53c0000000p+4, 0x1.3224c20000000p+4, 0x1.5e18f40000000p+4,
    0x1.905cae0000000p+4, 0x1.c9d7d80000000p+4, 0x1.05c9de0000000p+5, 0x1.2b5fd00000000p+5,
    0x1.565b360000000p+5, 0x1.87826a0000000p+5, 0x1.bfb8360000000p+5, 0x1.0000000000000p+6};
static const float ref_kappa1024[10] = {
    0x1.921fb60000000p-9, 0x1.921fb60000000p-8, 0x1.921fb60000000p-7, 0x1.921fb60000000p-6,
    0x1.921fb60000000p-5, 0x1.921fb60000000p-4, 0x1.921fb60000000p-3, 0x1.921fb60000000p-2,
    0x1.921fb60000000p-1, 0x1.921fb60000000p+0};

/* tu_assert_tensor + print the measured error (for the record). */
static void check(const char *what, const sv_tensor *t, const double *want, double tol)
{
    double *got = tu_download(t);
    size_t n = (size_t)sv_numel(t);
    fprintf(stderr, "  %-40s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(got, want, n), tol);
    free(got);
    tu_assert_tensor(what, t, want, tol);
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static void free_all(sv_tensor *t, int n)
{
    for (int i = 0; i < n; i++)
        sv_tensor_free(&t[i]);
}

/* ------------------------------------------------------------ buffers */

START_TEST(t_buffers)
{
    float fr[256], ps[256], kap[32];
    ck_assert_int_eq(sv_timeenc_freqs(32, 16, 1024, fr, ps), SV_OK);
    for (int k = 0; k < 32; k++) {
        ck_assert_msg(fr[k] == ref_freqs32[k], "freqs[%d] %a != official %a", k, (double)fr[k],
                      (double)ref_freqs32[k]);
        ck_assert_msg(ps[k] == ref_pscales32[k], "phase_scales[%d] %a != official %a", k, (double)ps[k],
                      (double)ref_pscales32[k]);
    }
    int nf = 0;
    ck_assert_int_eq(sv_tdiff_kappa(1024, kap, &nf), SV_OK);
    ck_assert_int_eq(nf, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(kap[i] == ref_kappa1024[i], "kappa[%d] %a != official %a", i, (double)kap[i],
                      (double)ref_kappa1024[i]);
    /* default D = 256: ω from 2π/1024 to 2π/16, σ from 1 to 64, ascending */
    ck_assert_int_eq(sv_timeenc_freqs(256, 16, 1024, fr, ps), SV_OK);
    ck_assert(fabs(fr[0] - 2 * M_PI / 1024) < 1e-9 && fabs(fr[255] - 2 * M_PI / 16) < 1e-7);
    ck_assert(ps[0] == 1.0f && ps[255] == 64.0f);
    for (int k = 1; k < 256; k++)
        ck_assert(fr[k] > fr[k - 1] && ps[k] > ps[k - 1]);
    /* non-power-of-two M: time_resolution 64, nf = 6 */
    ck_assert_int_eq(sv_tdiff_kappa(40, kap, &nf), SV_OK);
    ck_assert_int_eq(nf, 6);
    ck_assert(kap[0] == (float)M_PI / 64 && kap[5] == (float)M_PI / 2);
    ck_assert_int_eq(sv_tdiff_kappa(0, kap, &nf), SV_ERR_INVALID);
    ck_assert_int_eq(sv_timeenc_freqs(0, 16, 1024, fr, ps), SV_ERR_INVALID);
}
END_TEST

/* ------------------------------------------------------------ (a) gather */

typedef struct {
    int64_t B, C, Lu, F;
    double d;
    const double *t, *gL, *gR;
    double *sL, *sR;
} g_ctx;

static double loss_gather(const double *u, void *p)
{
    g_ctx *g = p;
    sv_ref_motion_gather(u, g->B, g->C, g->Lu, g->t, g->F, g->d, g->sL, g->sR);
    return dot(g->gL, g->sL, g->B * g->F * g->C) + dot(g->gR, g->sR, g->B * g->F * g->C);
}

static void gather_case(int64_t B, int64_t C, int64_t Lu, int64_t F, double d, const double *t, uint64_t seed)
{
    int64_t nu = B * C * Lu, no = B * F * C;
    tu_rng r;
    tu_seed(&r, seed);
    double *u = malloc(nu * sizeof *u), *gu = malloc(nu * sizeof *gu);
    double *uL = malloc(no * sizeof *uL), *uR = malloc(no * sizeof *uR), *gL = malloc(no * sizeof *gL),
           *gR = malloc(no * sizeof *gR), *sL = malloc(no * sizeof *sL), *sR = malloc(no * sizeof *sR);
    tu_fill_normal(&r, u, (size_t)nu, 1.0);
    tu_fill_normal(&r, gL, (size_t)no, 1.0);
    tu_fill_normal(&r, gR, (size_t)no, 1.0);
    sv_ref_motion_gather(u, B, C, Lu, t, F, d, uL, uR);
    sv_ref_motion_gather_bwd(gL, gR, B, C, Lu, t, F, d, gu);
    g_ctx g = {B, C, Lu, F, d, t, gL, gR, sL, sR};
    tu_gradcheck("motion gather ref", loss_gather, &g, u, gu, (size_t)nu, 4, 1e-4, 1e-7, seed + 1);

    sv_ctx *ctx = tu_ctx();
    int64_t su[3] = {B, C, Lu}, so[2] = {B * F, C};
    sv_tensor T[6];
    T[0] = tu_upload(ctx, u, 3, su);
    T[1] = tu_upload(ctx, gL, 2, so);
    T[2] = tu_upload(ctx, gR, 2, so);
    TU_OK(ctx, sv_tensor_new(ctx, &T[3], 2, so));
    TU_OK(ctx, sv_tensor_new(ctx, &T[4], 2, so));
    TU_OK(ctx, sv_tensor_new(ctx, &T[5], 3, su));
    TU_OK(ctx, sv_motion_gather(ctx, &T[0], t, F, d, &T[3], &T[4]));
    tu_assert_tensor("motion gather uL", &T[3], uL, TOL_EXACT);
    tu_assert_tensor("motion gather uR", &T[4], uR, TOL_EXACT);
    TU_OK(ctx, sv_tensor_fill(&T[5], 123.0f)); /* must be overwritten */
    TU_OK(ctx, sv_motion_gather_bwd(ctx, &T[1], &T[2], t, F, d, &T[5]));
    tu_assert_tensor("motion gather bwd", &T[5], gu, TOL_BWD);
    /* left codes only */
    sv_ref_motion_gather_bwd(gL, NULL, B, C, Lu, t, F, d, gu);
    TU_OK(ctx, sv_motion_gather_bwd(ctx, &T[1], NULL, t, F, d, &T[5]));
    tu_assert_tensor("motion gather bwd (left only)", &T[5], gu, TOL_BWD);
    free_all(T, 6);
    sv_ctx_destroy(ctx);
    free(u);
    free(gu);
    free(uL);
    free(uR);
    free(gL);
    free(gR);
    free(sL);
    free(sR);
}

START_TEST(t_gather)
{
    /* clip 0 integer times (several frames share codes), clip 1 fractional,
     * clip 2 times near the end of the code range (t = 127.9 → j = 7, 8) */
    const double t[12] = {0, 1, 16, 17, 3.25, 15.999, 31.5, 47.75, 100, 112, 127.9, 120};
    gather_case(3, 5, 9, 4, 16.0, t, 51);
    /* more channels than a work-group, d = 4, one clip */
    const double t2[5] = {0.5, 2, 8, 8.25, 27.5};
    gather_case(1, 70, 8, 5, 4.0, t2, 52);
}
END_TEST

START_TEST(t_gather_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor u, uL, uR, bad;
    TU_OK(ctx, sv_tensor_newv(ctx, &u, 3, (int64_t)2, (int64_t)3, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &uL, 2, (int64_t)4, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &uR, 2, (int64_t)4, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 2, (int64_t)3, (int64_t)4));
    double ok[4] = {0, 1, 2, 63.9}, past[4] = {0, 1, 2, 64}, neg[4] = {0, -1, 2, 3}, nan_[4] = {0, NAN, 2, 3};
    TU_OK(ctx, sv_motion_gather(ctx, &u, ok, 2, 16, &uL, &uR)); /* j = 3, 4 of 5 codes */
    ck_assert_int_eq(sv_motion_gather(ctx, &u, past, 2, 16, &uL, &uR), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "motion noise"));
    ck_assert_int_eq(sv_motion_gather(ctx, &u, neg, 2, 16, &uL, &uR), SV_ERR_INVALID);
    ck_assert_int_eq(sv_motion_gather(ctx, &u, nan_, 2, 16, &uL, &uR), SV_ERR_INVALID);
    ck_assert_int_eq(sv_motion_gather_bwd(ctx, &uL, &uR, past, 2, 16, &u), SV_ERR_INVALID);
    ck_assert_int_eq(sv_motion_gather(ctx, &u, ok, 2, 16, &bad, &uR), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_motion_gather(ctx, &u, ok, 2, 0, &uL, &uR), SV_ERR_INVALID);
    sv_tensor_free(&u);
    sv_tensor_free(&uL);
    sv_tensor_free(&uR);
    sv_tensor_free(&bad);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ------------------------------------------------------------ (b) encoder */

typedef struct {
    int64_t Nf, D;
    double d;
    const double *t, *fr, *ps, *gv;
    double *sc;
} te_ctx;

/* parameters packed [pr ; ph ; AL ; AR] */
static double loss_te(const double *p, void *u)
{
    te_ctx *c = u;
    int64_t a = c->Nf * c->D;
    sv_ref_timeenc_fwd(c->t, p, p + a, p + 2 * a, p + 4 * a, c->fr, c->ps, c->d, c->Nf, c->D, c->sc);
    return dot(c->gv, c->sc, 2 * a);
}

typedef struct {
    te_ctx *c;
    const double *base;
    int64_t off, len;
    double *full;
} te_blk;

static double loss_blk(const double *q, void *u)
{
    te_blk *b = u;
    int64_t np = 6 * b->c->Nf * b->c->D;
    memcpy(b->full, b->base, (size_t)np * sizeof *b->full);
    memcpy(b->full + b->off, q, (size_t)b->len * sizeof *q);
    return loss_te(b->full, b->c);
}

static void timeenc_case(const double *t, int64_t Nf, int64_t D, double d, double tol_f, double tol_b,
                         uint64_t seed)
{
    int64_t a = Nf * D, np = 6 * a;
    tu_rng r;
    tu_seed(&r, seed);
    float frf[512], psf[512];
    ck_assert_int_eq(sv_timeenc_freqs((int)D, 16, 1024, frf, psf), SV_OK);
    double fr[512], ps[512];
    for (int64_t k = 0; k < D; k++) {
        fr[k] = frf[k];
        ps[k] = psf[k];
    }
    double *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g), *v = malloc(2 * a * sizeof *v);
    double *gv = malloc(2 * a * sizeof *gv), *sc = malloc(2 * a * sizeof *sc);
    tu_fill_normal(&r, p, (size_t)np, 1.0);
    tu_fill_normal(&r, gv, (size_t)(2 * a), 1.0);
    double *pr = p, *ph = p + a, *AL = p + 2 * a, *AR = p + 4 * a;
    sv_ref_timeenc_fwd(t, pr, ph, AL, AR, fr, ps, d, Nf, D, v);
    sv_ref_timeenc_bwd(t, pr, ph, fr, ps, d, Nf, D, gv, g, g + a, g + 2 * a, g + 4 * a);
    te_ctx c = {Nf, D, d, t, fr, ps, gv, sc};
    tu_gradcheck("timeenc ref", loss_te, &c, p, g, (size_t)np, 8, 1e-6, 1e-6, seed + 1);
    /* and each input block alone (pr, ph, AL, AR), the others fixed */
    {
        const int64_t off[4] = {0, a, 2 * a, 4 * a}, len[4] = {a, a, 2 * a, 2 * a};
        static const char *nm[4] = {"timeenc ref d/dpr", "timeenc ref d/dph", "timeenc ref d/dAL", "timeenc ref d/dAR"};
        for (int blk = 0; blk < 4; blk++) {
            te_blk cb = {&c, p, off[blk], len[blk], malloc(np * sizeof(double))};
            tu_gradcheck(nm[blk], loss_blk, &cb, p + off[blk], g + off[blk], (size_t)len[blk], 4, 1e-6, 1e-6,
                         seed + 2 + (uint64_t)blk);
            free(cb.full);
        }
    }

    sv_ctx *ctx = tu_ctx();
    int64_t st[1] = {Nf}, sD[2] = {1, D}, s1[2] = {Nf, D}, s2[2] = {Nf, 2 * D};
    double *tt = malloc(Nf * sizeof *tt);
    memcpy(tt, t, (size_t)Nf * sizeof *tt);
    sv_tensor T[14];
    T[0] = tu_upload(ctx, tt, 1, st);
    T[1] = tu_upload(ctx, pr, 2, s1);
    T[2] = tu_upload(ctx, ph, 2, s1);
    T[3] = tu_upload(ctx, AL, 2, s2);
    T[4] = tu_upload(ctx, AR, 2, s2);
    T[5] = tu_upload(ctx, fr, 2, sD);
    T[6] = tu_upload(ctx, ps, 2, sD);
    T[7] = tu_upload(ctx, gv, 2, s2);
    TU_OK(ctx, sv_tensor_new(ctx, &T[8], 2, s2));
    TU_OK(ctx, sv_tensor_new(ctx, &T[9], 2, s1));
    TU_OK(ctx, sv_tensor_new(ctx, &T[10], 2, s1));
    TU_OK(ctx, sv_tensor_new(ctx, &T[11], 2, s2));
    TU_OK(ctx, sv_tensor_new(ctx, &T[12], 2, s2));
    TU_OK(ctx, sv_tensor_new(ctx, &T[13], 2, s1));
    TU_OK(ctx, sv_timeenc_fwd(ctx, &T[0], &T[1], &T[2], &T[3], &T[4], &T[5], &T[6], (float)d, &T[8]));
    check("timeenc fwd", &T[8], v, tol_f);
    TU_OK(ctx, sv_timeenc_bwd(ctx, &T[0], &T[1], &T[2], &T[5], &T[6], (float)d, &T[7], &T[9], &T[10], &T[11],
                              &T[12]));
    check("timeenc bwd pr", &T[9], g, tol_b);
    check("timeenc bwd ph", &T[10], g + a, tol_b);
    tu_assert_tensor("timeenc bwd AL", &T[11], g + 2 * a, TOL_EXACT);
    tu_assert_tensor("timeenc bwd AR", &T[12], g + 4 * a, TOL_EXACT);
    /* without aligner gradients */
    TU_OK(ctx, sv_timeenc_bwd(ctx, &T[0], &T[1], &T[2], &T[5], &T[6], (float)d, &T[7], &T[13], &T[10], NULL,
                              NULL));
    tu_assert_tensor("timeenc bwd pr (no aligner grads)", &T[13], g, tol_b);
    free_all(T, 14);
    sv_ctx_destroy(ctx);
    free(tt);
    free(p);
    free(g);
    free(v);
    free(gv);
    free(sc);
}

START_TEST(t_timeenc_integer)
{
    const double t[7] = {0, 1, 15, 16, 17, 32, 47}; /* knots (α = 0) included */
    timeenc_case(t, 7, 37, 16.0, TOL_FWD, TOL_BWD, 61);
}
END_TEST
START_TEST(t_timeenc_fractional)
{
    const double t[6] = {0.5, 3.25, 15.75, 16.125, 40.0625, 63.875};
    timeenc_case(t, 6, 32, 16.0, TOL_FWD, TOL_BWD, 62);
}
END_TEST
START_TEST(t_timeenc_big)
{
    const double t[5] = {992, 999, 1000.5, 1007.25, 1023};
    timeenc_case(t, 5, 33, 16.0, TOL_FWD_BIG, TOL_BWD_BIG, 63);
}
END_TEST

/* v at a knot t = j·d is exactly the aligner A(u_j) = AL (§2.4). */
START_TEST(t_timeenc_knot)
{
    const int64_t Nf = 3, D = 8;
    double t[3] = {0, 16, 48}, pr[24], ph[24], AL[48], AR[48], fr[8], ps[8], v[48];
    float frf[8], psf[8];
    sv_timeenc_freqs((int)D, 16, 1024, frf, psf);
    for (int k = 0; k < D; k++) {
        fr[k] = frf[k];
        ps[k] = psf[k];
    }
    tu_rng r;
    tu_seed(&r, 64);
    tu_fill_normal(&r, pr, 24, 1);
    tu_fill_normal(&r, ph, 24, 1);
    tu_fill_normal(&r, AL, 48, 1);
    tu_fill_normal(&r, AR, 48, 1);
    sv_ref_timeenc_fwd(t, pr, ph, AL, AR, fr, ps, 16, Nf, D, v);
    tu_assert_close("timeenc ref at knots = AL", v, AL, 48, 1e-14);
    sv_ctx *ctx = tu_ctx();
    int64_t st[1] = {Nf}, sD[1] = {D}, s1[2] = {Nf, D}, s2[2] = {Nf, 2 * D};
    sv_tensor T[8];
    T[0] = tu_upload(ctx, t, 1, st);
    T[1] = tu_upload(ctx, pr, 2, s1);
    T[2] = tu_upload(ctx, ph, 2, s1);
    T[3] = tu_upload(ctx, AL, 2, s2);
    T[4] = tu_upload(ctx, AR, 2, s2);
    T[5] = tu_upload(ctx, fr, 1, sD);
    T[6] = tu_upload(ctx, ps, 1, sD);
    TU_OK(ctx, sv_tensor_new(ctx, &T[7], 2, s2));
    TU_OK(ctx, sv_timeenc_fwd(ctx, &T[0], &T[1], &T[2], &T[3], &T[4], &T[5], &T[6], 16.0f, &T[7]));
    tu_assert_tensor("timeenc device at knots = AL", &T[7], AL, 1e-6);
    /* NaN in one pre-activation → NaN in that frame's entries for k */
    pr[1 * D + 2] = NAN;
    sv_tensor_free(&T[1]);
    T[1] = tu_upload(ctx, pr, 2, s1);
    TU_OK(ctx, sv_timeenc_fwd(ctx, &T[0], &T[1], &T[2], &T[3], &T[4], &T[5], &T[6], 16.0f, &T[7]));
    double *got = tu_download(&T[7]);
    ck_assert_msg(isnan(got[1 * 2 * D + 2]) && isnan(got[1 * 2 * D + D + 2]), "NaN pre-activation must give NaN");
    ck_assert(isfinite(got[0]) && isfinite(got[2 * 2 * D + 2]));
    free(got);
    /* shape errors */
    ck_assert_int_eq(sv_timeenc_fwd(ctx, &T[0], &T[1], &T[2], &T[1], &T[4], &T[5], &T[6], 16.0f, &T[7]),
                     SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_timeenc_fwd(ctx, &T[0], &T[1], &T[2], &T[3], &T[4], &T[3], &T[6], 16.0f, &T[7]),
                     SV_ERR_INVALID);
    ck_assert_int_eq(sv_timeenc_fwd(ctx, &T[5], &T[1], &T[2], &T[3], &T[4], &T[5], &T[6], 16.0f, &T[7]),
                     SV_ERR_INVALID);
    ck_assert_int_eq(sv_timeenc_bwd(ctx, &T[0], &T[1], &T[2], &T[5], &T[6], 16.0f, &T[1], &T[1], &T[2], NULL,
                                    NULL),
                     SV_ERR_INVALID);
    free_all(T, 8);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ------------------------------------------------------------ (c) tdiff */

typedef struct {
    const double *t, *gout, *kap;
    int64_t B, F, M, De;
    int nf;
    double *sc;
} td_ctx;

static double loss_td(const double *E, void *u)
{
    td_ctx *c = u;
    sv_ref_tdiff_fwd(c->t, c->B, c->F, E, c->M, c->De, c->kap, c->nf, c->sc);
    return dot(c->gout, c->sc, c->B * (c->F - 1) * (c->De + 2 * c->nf));
}

START_TEST(t_tdiff)
{
    const int64_t B = 3, F = 4, M = 40, De = 13;
    /* clip 0 integer (repeated difference 2), clip 1 fractional with δ = 2.5
     * (rounds to 2, half-to-even) and 3.5 (→ 4), clip 2 large times */
    const double t[12] = {0, 2, 4, 11, 0.25, 2.75, 6.25, 7.25, 990, 1021, 1022, 1023};
    float kf[32];
    int nf = 0;
    ck_assert_int_eq(sv_tdiff_kappa((int)M, kf, &nf), SV_OK);
    double kap[32];
    for (int i = 0; i < nf; i++)
        kap[i] = kf[i];
    int64_t W = De + 2 * nf, no = B * (F - 1) * W;
    tu_rng r;
    tu_seed(&r, 71);
    double *E = malloc(M * De * sizeof *E), *gE = malloc(M * De * sizeof *gE), *out = malloc(no * sizeof *out);
    double *gout = malloc(no * sizeof *gout), *sc = malloc(no * sizeof *sc);
    tu_fill_normal(&r, E, (size_t)(M * De), 1.0);
    tu_fill_normal(&r, gout, (size_t)no, 1.0);
    sv_ref_tdiff_fwd(t, B, F, E, M, De, kap, nf, out);
    sv_ref_tdiff_bwd(t, B, F, gout, M, De, nf, gE);
    /* half-to-even rounding picked rows 2 (twice in clip 0, once in clip 1) and 4 */
    ck_assert(out[(3 + 0) * W + 0] == E[2 * De] && out[(3 + 1) * W + 0] == E[4 * De]);
    ck_assert(fabs(out[(3 + 0) * W + De] - sin(kap[0] * 2.5)) < 1e-15);
    td_ctx c = {t, gout, kap, B, F, M, De, nf, sc};
    tu_gradcheck("tdiff ref", loss_td, &c, E, gE, (size_t)(M * De), 4, 1e-4, 1e-7, 72);

    sv_ctx *ctx = tu_ctx();
    int64_t sE[2] = {M, De}, sk[2] = {1, nf}, so[2] = {B, (F - 1) * W};
    sv_tensor T[5];
    T[0] = tu_upload(ctx, E, 2, sE);
    T[1] = tu_upload(ctx, kap, 2, sk);
    T[2] = tu_upload(ctx, gout, 2, so);
    TU_OK(ctx, sv_tensor_new(ctx, &T[3], 2, so));
    TU_OK(ctx, sv_tensor_new(ctx, &T[4], 2, sE));
    TU_OK(ctx, sv_tdiff_fwd(ctx, t, B, F, &T[0], &T[1], &T[3]));
    check("tdiff fwd", &T[3], out, TOL_FWD);
    TU_OK(ctx, sv_tdiff_bwd(ctx, t, B, F, &T[2], &T[4], 0));
    check("tdiff bwd", &T[4], gE, TOL_BWD);
    TU_OK(ctx, sv_tdiff_bwd(ctx, t, B, F, &T[2], &T[4], 1));
    for (int64_t i = 0; i < M * De; i++)
        gE[i] *= 2;
    tu_assert_tensor("tdiff bwd accumulate", &T[4], gE, TOL_BWD);
    /* errors: difference ≥ M, unsorted times, wrong output shape */
    const double far_[12] = {0, 2, 4, 44, 0, 1, 2, 3, 0, 1, 2, 3}, unsorted[12] = {0, 2, 1, 3, 0, 1, 2, 3, 0, 1, 2, 3};
    ck_assert_int_eq(sv_tdiff_fwd(ctx, far_, B, F, &T[0], &T[1], &T[3]), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "outside"));
    ck_assert_int_eq(sv_tdiff_fwd(ctx, unsorted, B, F, &T[0], &T[1], &T[3]), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tdiff_bwd(ctx, unsorted, B, F, &T[2], &T[4], 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tdiff_fwd(ctx, t, B, F, &T[0], &T[1], &T[4]), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tdiff_bwd(ctx, t, B, F, &T[0], &T[4], 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tdiff_fwd(ctx, t, B, 1, &T[0], &T[1], &T[3]), SV_ERR_INVALID);
    free_all(T, 5);
    sv_ctx_destroy(ctx);
    free(E);
    free(gE);
    free(out);
    free(gout);
    free(sc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("timeenc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_buffers);
    tcase_add_test(tc, t_gather);
    tcase_add_test(tc, t_gather_errors);
    tcase_add_test(tc, t_timeenc_integer);
    tcase_add_test(tc, t_timeenc_fractional);
    tcase_add_test(tc, t_timeenc_big);
    tcase_add_test(tc, t_timeenc_knot);
    tcase_add_test(tc, t_tdiff);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
