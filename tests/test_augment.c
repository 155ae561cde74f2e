/* augment (ADA "bgc", spec §4.4): parameter draws (p = 0 identity, p = 1
 * all ops, determinism, bad p), each transform alone on the device vs the
 * float64 host reference (forward, tangent, adjoint), the whole pipeline
 * (several seeds and p), the host adjoint by central differences, the device
 * adjoint by the dot-product test <A x, y> = <x, Aᵀ y>, closed forms (p = 0
 * identity, x-flip, 90° rotation, integer translation with reflection,
 * colour matrices), video consistency (per-clip parameters on every frame),
 * NaN propagation, shape errors, and the adaptive-p controller. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

#define TOL_DEV 2e-5   /* device float32 vs float64 reference, relative L2 */
#define TOL_ADJ 2e-5   /* dot-product test, relative */

static sv_augment_cfg only(int op)
{
    sv_augment_cfg c = sv_augment_bgc();
    double *m[SV_AUG_NUM_OPS] = {&c.xflip, &c.rotate90, &c.xint, &c.scale, &c.rotate, &c.aniso, &c.rotate,
                                 &c.xfrac, &c.brightness, &c.contrast, &c.lumaflip, &c.hue, &c.saturation};
    double keep = *m[op];
    for (int k = 0; k < SV_AUG_NUM_OPS; k++)
        *m[k] = 0;
    *m[op] = keep;
    return c;
}

static double dot(const double *a, const double *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Device fwd / jvp / bwd vs host, dot-product test on the device. */
static void check_device(sv_ctx *ctx, const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W,
                         uint64_t seed, const char *what)
{
    tu_rng r;
    tu_seed(&r, seed);
    size_t n = (size_t)(B * F * 3 * H * W);
    double *x = malloc(n * sizeof *x), *gy = malloc(n * sizeof *gy), *y = malloc(n * sizeof *y);
    double *yl = malloc(n * sizeof *yl), *gx = malloc(n * sizeof *gx);
    tu_fill_uniform(&r, x, n, -1, 1);
    tu_fill_normal(&r, gy, n, 1.0);
    ck_assert_int_eq(sv_ref_augment_fwd(clips, B, F, H, W, x, y, 1), 0);
    ck_assert_int_eq(sv_ref_augment_fwd(clips, B, F, H, W, x, yl, 0), 0);
    ck_assert_int_eq(sv_ref_augment_bwd(clips, B, F, H, W, gy, gx), 0);
    sv_augment_plan *pl;
    TU_OK(ctx, sv_augment_plan_new(ctx, clips, B, F, H, W, &pl));
    int64_t s[4] = {B * F, 3, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, s), tgy = tu_upload(ctx, gy, 4, s), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, s));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, s));
    char msg[160];
    TU_OK(ctx, sv_augment_fwd(ctx, pl, &tx, &ty));
    snprintf(msg, sizeof msg, "%s fwd", what);
    tu_assert_tensor(msg, &ty, y, TOL_DEV);
    TU_OK(ctx, sv_augment_jvp(ctx, pl, &tx, &ty));
    snprintf(msg, sizeof msg, "%s jvp", what);
    tu_assert_tensor(msg, &ty, yl, TOL_DEV);
    double *dAx = tu_download(&ty);
    TU_OK(ctx, sv_augment_bwd(ctx, pl, &tgy, &tgx));
    snprintf(msg, sizeof msg, "%s bwd", what);
    tu_assert_tensor(msg, &tgx, gx, TOL_DEV);
    double *dATy = tu_download(&tgx);
    /* device dot-product test with float32 x and gy as uploaded (use the
       host copies: the upload rounds them, error far below the tolerance) */
    /* chunks of one clip give bit-identical results */
    if (B > 1) {
        sv_augment_plan_set_chunk(pl, 1);
        TU_OK(ctx, sv_augment_jvp(ctx, pl, &tx, &ty));
        double *c1 = tu_download(&ty);
        ck_assert_msg(memcmp(c1, dAx, n * sizeof *c1) == 0, "%s: chunked jvp differs", what);
        free(c1);
        TU_OK(ctx, sv_augment_bwd(ctx, pl, &tgy, &tgx));
        c1 = tu_download(&tgx);
        ck_assert_msg(memcmp(c1, dATy, n * sizeof *c1) == 0, "%s: chunked bwd differs", what);
        free(c1);
        TU_OK(ctx, sv_augment_fwd(ctx, pl, &tx, &ty));
        tu_assert_tensor("chunked fwd", &ty, y, TOL_DEV);
        sv_augment_plan_set_chunk(pl, 0);
    }
    double l = dot(dAx, gy, n), rr = dot(x, dATy, n);
    double rel = fabs(l - rr) / fmax(fabs(l), 1e-30);
    ck_assert_msg(rel < TOL_ADJ, "%s: <A x, y> = %.10g vs <x, A^T y> = %.10g (rel %.3g)", what, l, rr, rel);
    free(dAx);
    free(dATy);
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_augment_plan_free(pl);
    free(x);
    free(gy);
    free(y);
    free(yl);
    free(gx);
}

START_TEST(t_draw)
{
    sv_augment_clip c[8], d[8];
    sv_err e;
    memset(&e, 0, sizeof e);
    ck_assert_int_eq(sv_augment_draw(NULL, 0.0, 8, 16, 16, 5, 7, c, &e), 0);
    for (int b = 0; b < 8; b++) {
        ck_assert_uint_eq(c[b].fired, 0);
        for (int k = 0; k < 9; k++)
            ck_assert(c[b].G[k] == (k % 4 == 0 ? 1.0 : 0.0));
        for (int k = 0; k < 16; k++)
            ck_assert(c[b].C[k] == (k % 5 == 0 ? 1.0 : 0.0));
    }
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 8, 16, 16, 5, 7, c, &e), 0);
    for (int b = 0; b < 8; b++)
        ck_assert_uint_eq(c[b].fired, (1u << SV_AUG_NUM_OPS) - 1);
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 8, 16, 16, 5, 7, d, &e), 0);
    ck_assert(memcmp(c, d, sizeof c) == 0);
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 8, 16, 16, 5, 8, d, &e), 0);
    ck_assert(memcmp(c, d, sizeof c) != 0);
    /* clip b's draw does not depend on how many clips were drawn */
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 3, 16, 16, 5, 7, d, &e), 0);
    ck_assert(memcmp(c, d, 3 * sizeof *c) == 0);
    /* p = 0.5: roughly half of each op fires over many clips */
    static sv_augment_clip many[2000];
    ck_assert_int_eq(sv_augment_draw(NULL, 0.5, 2000, 16, 16, 1, 2, many, &e), 0);
    for (int op = 0; op < SV_AUG_NUM_OPS; op++) {
        int cnt = 0;
        for (int b = 0; b < 2000; b++)
            cnt += (many[b].fired >> op) & 1;
        double want = (op == 4 || op == 6) ? 2000 * (1 - sqrt(0.5)) : 1000; /* p_rot */
        ck_assert_msg(fabs(cnt - want) < 120, "op %d fired %d times, expected ~%.0f", op, cnt, want);
    }
    ck_assert_int_eq(sv_augment_draw(NULL, -0.1, 8, 16, 16, 5, 7, c, &e), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "probability"));
    ck_assert_int_eq(sv_augment_draw(NULL, NAN, 8, 16, 16, 5, 7, c, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_augment_draw(NULL, 0.5, 0, 16, 16, 5, 7, c, &e), SV_ERR_INVALID);
}
END_TEST

/* colour matrices of each op have the documented structure */
START_TEST(t_color_matrices)
{
    sv_augment_clip c[4];
    const double v = 1 / sqrt(3.0);
    for (int op = 8; op < SV_AUG_NUM_OPS; op++) {
        sv_augment_cfg cfg = only(op);
        ck_assert_int_eq(sv_augment_draw(&cfg, 1.0, 4, 8, 8, 11, 3, c, NULL), 0);
        for (int b = 0; b < 4; b++) {
            const double *M = c[b].C;
            ck_assert_uint_eq(c[b].fired, 1u << op);
            for (int k = 0; k < 9; k++)
                ck_assert(c[b].G[k] == (k % 4 == 0 ? 1.0 : 0.0));
            if (op == 8) { /* brightness: I + b on the translation column */
                ck_assert(M[3] == M[7] && M[7] == M[11] && M[3] != 0);
                ck_assert(M[0] == 1 && M[1] == 0 && M[5] == 1 && M[10] == 1);
            } else if (op == 9) { /* contrast: c·I */
                ck_assert(M[0] == M[5] && M[5] == M[10] && M[0] > 0 && M[0] != 1 && M[1] == 0 && M[3] == 0);
            } else {
                /* lumaflip / hue / saturation act on v: M v = ±v, linear (no translation) */
                double Mv[3];
                for (int r = 0; r < 3; r++)
                    Mv[r] = (M[4 * r] + M[4 * r + 1] + M[4 * r + 2]) * v;
                double sgn = op == 10 ? (fabs(Mv[0] + v) < 1e-12 ? -1 : 1) : 1;
                for (int r = 0; r < 3; r++) {
                    ck_assert_msg(fabs(Mv[r] - sgn * v) < 1e-12, "op %d: M v != ±v", op);
                    ck_assert(M[4 * r + 3] == 0);
                }
                if (op == 11) { /* hue: orthogonal */
                    for (int a = 0; a < 3; a++)
                        for (int bb = 0; bb < 3; bb++) {
                            double s = 0;
                            for (int k = 0; k < 3; k++)
                                s += M[4 * k + a] * M[4 * k + bb];
                            ck_assert(fabs(s - (a == bb)) < 1e-12);
                        }
                }
                if (op == 12) { /* saturation: u ⊥ v scaled by s */
                    double u[3] = {1, -1, 0}, Mu[3];
                    for (int r = 0; r < 3; r++)
                        Mu[r] = M[4 * r] * u[0] + M[4 * r + 1] * u[1] + M[4 * r + 2] * u[2];
                    ck_assert(fabs(Mu[0] + Mu[1]) < 1e-12 && fabs(Mu[2]) < 1e-12 && Mu[0] > 0);
                }
            }
        }
    }
}
END_TEST

/* geometric closed forms on the host reference (integer sampling → exact up
 * to the sym6 round trip), and p = 0 identity */
static double max_err_vs(const double *y, const double *x, int H, int W, int mode, int tx, int ty)
{
    double m = 0;
    for (int64_t pl = 0; pl < 3; pl++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                int si = i, sj = j;
                if (mode == 1)
                    sj = W - 1 - j;
                else if (mode == 2) { /* out (j, i) samples in = rot(+π/2)·(j−c, i−c): (−(i−c), j−c) */
                    sj = W - 1 - i;
                    si = j;
                } else if (mode == 3) {
                    sj = j + tx;
                    si = i + ty;
                    sj = sj < 0 ? -sj : (sj >= W ? 2 * (W - 1) - sj : sj);
                    si = si < 0 ? -si : (si >= H ? 2 * (H - 1) - si : si);
                }
                double d = fabs(y[(pl * H + i) * W + j] - x[(pl * H + si) * W + sj]);
                m = d > m ? d : m;
            }
    return m;
}

START_TEST(t_closed_forms)
{
    const int H = 12, W = 12;
    tu_rng r;
    tu_seed(&r, 3);
    size_t n = 3 * H * W;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    for (int pl = 0; pl < 3; pl++) /* smooth image: low frequencies only */
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++)
                x[(pl * H + i) * W + j] = 0.5 * sin(0.35 * j + 0.25 * i + pl) + 0.3 * cos(0.2 * i - 0.3 * j);
    (void)r;
    sv_augment_clip c;
    memset(&c, 0, sizeof c);
    for (int k = 0; k < 16; k++)
        c.C[k] = k % 5 == 0;
    const int modes[4][3] = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, -3, 2}};
    const char *names[4] = {"identity (p = 0)", "x-flip", "rotate90", "integer translation"};
    for (int m = 0; m < 4; m++) {
        for (int k = 0; k < 9; k++)
            c.G[k] = k % 4 == 0;
        if (m == 1)
            c.G[0] = -1;
        if (m == 2) {
            c.G[0] = 0;
            c.G[1] = -1;
            c.G[3] = 1;
            c.G[4] = 0;
        }
        if (m == 3) {
            c.G[2] = modes[m][1];
            c.G[5] = modes[m][2];
        }
        ck_assert_int_eq(sv_ref_augment_fwd(&c, 1, 1, H, W, x, y, 1), 0);
        double e = max_err_vs(y, x, H, W, modes[m][0], modes[m][1], modes[m][2]);
        fprintf(stderr, "%s: %.3g\n", names[m], e);
        /* Identity and integer translation commute with the sym6 round trip,
           which is exact (orthogonal filter): measured 1.6e-13.  x-flip and
           rotate90 are NOT exact in the official pipeline either: sym6 is
           asymmetric (centroid 5.098 of 12 taps instead of 5.5), so mirroring
           the upsampled image shifts the result by ~0.1 px (error ∝
           frequency, measured 0.0255 on this image; a half-pixel error in
           the centring conventions would give > 0.1). */
        double tol = (m == 1 || m == 2) ? 0.04 : 1e-9;
        ck_assert_msg(e < tol, "%s: max |y − expected| = %.3g", names[m], e);
    }
    free(x);
    free(y);
}
END_TEST

START_TEST(t_each_transform_device)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t B = 2, F = 2;
    for (int op = 0; op < SV_AUG_NUM_OPS; op++) {
        sv_augment_cfg cfg = only(op);
        sv_augment_clip c[2];
        ck_assert_int_eq(sv_augment_draw(&cfg, 1.0, B, 11, 13, 100 + op, 1, c, NULL), 0);
        char what[64];
        snprintf(what, sizeof what, "op %d alone", op);
        check_device(ctx, c, B, F, 11, 13, 40 + op, what);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_pipeline_device)
{
    sv_ctx *ctx = tu_ctx();
    const double ps[4] = {0.0, 0.3, 1.0, 2.5};
    for (int k = 0; k < 4; k++) {
        sv_augment_clip c[3];
        ck_assert_int_eq(sv_augment_draw(NULL, ps[k], 3, 17, 15, 9, 100 + k, c, NULL), 0);
        char what[64];
        snprintf(what, sizeof what, "bgc p = %g", ps[k]);
        check_device(ctx, c, 3, 3, 17, 15, 7 + k, what);
    }
    /* a size above a work-group in every stage */
    sv_augment_clip c[2];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 2, 32, 32, 4, 4, c, NULL), 0);
    check_device(ctx, c, 2, 1, 32, 32, 5, "bgc 32x32");
    sv_ctx_destroy(ctx);
}
END_TEST

typedef struct {
    const sv_augment_clip *c;
    int64_t B, F;
    int H, W;
    const double *gy;
    double *scratch;
    size_t n;
} fd_ctx;

static double loss_x(const double *x, void *u)
{
    fd_ctx *f = u;
    sv_ref_augment_fwd(f->c, f->B, f->F, f->H, f->W, x, f->scratch, 1);
    return dot(f->gy, f->scratch, f->n);
}

START_TEST(t_gradcheck_host)
{
    const int64_t B = 2, F = 2;
    const int H = 9, W = 10;
    sv_augment_clip c[2];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, B, H, W, 21, 5, c, NULL), 0);
    size_t n = (size_t)(B * F * 3 * H * W);
    tu_rng r;
    tu_seed(&r, 77);
    double *x = malloc(n * sizeof *x), *gy = malloc(n * sizeof *gy), *gx = malloc(n * sizeof *gx),
           *sc = malloc(n * sizeof *sc);
    tu_fill_uniform(&r, x, n, -1, 1);
    tu_fill_normal(&r, gy, n, 1.0);
    ck_assert_int_eq(sv_ref_augment_bwd(c, B, F, H, W, gy, gx), 0);
    fd_ctx f = {c, B, F, H, W, gy, sc, n};
    tu_gradcheck("augment ref bwd", loss_x, &f, x, gx, n, 4, 1e-3, 1e-8, 99);
    free(x);
    free(gy);
    free(gx);
    free(sc);
}
END_TEST

/* Every frame of clip b is transformed with clip b's parameters: the F-frame
 * run equals, frame by frame, F runs of one frame per clip; equal frames of a
 * clip give bit-identical outputs. */
START_TEST(t_video_consistency)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t B = 3, F = 3;
    const int H = 16, W = 16;
    sv_augment_clip c[3];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, B, H, W, 2, 9, c, NULL), 0);
    const size_t fr = 3 * H * W, n = (size_t)(B * F) * fr;
    tu_rng r;
    tu_seed(&r, 8);
    double *x = malloc(n * sizeof *x), *xf = malloc((size_t)B * fr * sizeof *xf),
           *yf = malloc((size_t)B * fr * sizeof *yf);
    tu_fill_uniform(&r, x, n, -1, 1);
    sv_augment_plan *pl;
    TU_OK(ctx, sv_augment_plan_new(ctx, c, B, F, H, W, &pl));
    int64_t s[4] = {B * F, 3, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, s), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, s));
    TU_OK(ctx, sv_augment_fwd(ctx, pl, &tx, &ty));
    double *y = tu_download(&ty);
    for (int f = 0; f < F; f++) {
        for (int64_t b = 0; b < B; b++)
            memcpy(xf + b * fr, x + (b * F + f) * fr, fr * sizeof *x);
        ck_assert_int_eq(sv_ref_augment_fwd(c, B, 1, H, W, xf, yf, 1), 0);
        for (int64_t b = 0; b < B; b++)
            tu_assert_close("frame f of clip b vs clip b's transform", y + (b * F + f) * fr, yf + b * fr, fr,
                            TOL_DEV);
    }
    free(y);
    /* equal frames → equal outputs (bit-exact) */
    for (int64_t b = 0; b < B; b++)
        for (int f = 1; f < F; f++)
            memcpy(x + (b * F + f) * fr, x + b * F * fr, fr * sizeof *x);
    sv_tensor_free(&tx);
    tx = tu_upload(ctx, x, 4, s);
    TU_OK(ctx, sv_augment_fwd(ctx, pl, &tx, &ty));
    y = tu_download(&ty);
    for (int64_t b = 0; b < B; b++)
        for (int f = 1; f < F; f++)
            ck_assert_msg(memcmp(y + (b * F + f) * fr, y + b * F * fr, fr * sizeof *y) == 0,
                          "clip %lld frame %d differs from frame 0", (long long)b, f);
    /* and the clips differ from each other (parameters are per clip) */
    ck_assert(memcmp(y, y + F * fr, fr * sizeof *y) != 0);
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_augment_plan_free(pl);
    free(x);
    free(xf);
    free(yf);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_nan_propagates)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t B = 2, F = 2;
    const int H = 8, W = 8;
    sv_augment_clip c[2];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, B, H, W, 6, 6, c, NULL), 0);
    const size_t fr = 3 * H * W, n = (size_t)(B * F) * fr;
    double *x = calloc(n, sizeof *x);
    x[3 * W + 4] = NAN; /* clip 0, frame 0, red channel */
    sv_augment_plan *pl;
    TU_OK(ctx, sv_augment_plan_new(ctx, c, B, F, H, W, &pl));
    int64_t s[4] = {B * F, 3, H, W};
    sv_tensor tx = tu_upload(ctx, x, 4, s), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, s));
    for (int dir = 0; dir < 2; dir++) {
        if (dir == 0)
            TU_OK(ctx, sv_augment_fwd(ctx, pl, &tx, &ty));
        else
            TU_OK(ctx, sv_augment_bwd(ctx, pl, &tx, &ty));
        double *y = tu_download(&ty);
        int nan0 = 0, nan_other = 0;
        for (size_t i = 0; i < n; i++) {
            if (isnan(y[i]) && i < fr)
                nan0++;
            else if (isnan(y[i]))
                nan_other++;
        }
        ck_assert_msg(nan0 > 0, "dir %d: NaN lost", dir);
        ck_assert_msg(nan_other == 0, "dir %d: NaN leaked into other frames", dir);
        free(y);
    }
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_augment_plan_free(pl);
    free(x);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_bad_shapes)
{
    sv_ctx *ctx = tu_ctx();
    sv_augment_clip c[2];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, 2, 8, 8, 6, 6, c, NULL), 0);
    sv_augment_plan *pl = NULL;
    ck_assert_int_eq(sv_augment_plan_new(ctx, c, 2, 0, 8, 8, &pl), SV_ERR_INVALID);
    ck_assert_ptr_null(pl);
    ck_assert_int_eq(sv_augment_plan_new(ctx, c, 2, 2, 0, 8, &pl), SV_ERR_INVALID);
    sv_augment_clip bad = c[0];
    bad.G[0] = NAN;
    ck_assert_int_eq(sv_augment_plan_new(ctx, &bad, 1, 1, 8, 8, &pl), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "non-finite"));
    TU_OK(ctx, sv_augment_plan_new(ctx, c, 2, 2, 8, 8, &pl));
    sv_tensor x, y, z, w;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 4, (int64_t)4, (int64_t)3, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 4, (int64_t)4, (int64_t)3, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &z, 4, (int64_t)2, (int64_t)3, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &w, 4, (int64_t)4, (int64_t)1, (int64_t)8, (int64_t)8));
    ck_assert_int_eq(sv_augment_fwd(ctx, pl, &z, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_augment_fwd(ctx, pl, &x, &w), SV_ERR_INVALID);
    ck_assert_int_eq(sv_augment_bwd(ctx, pl, &z, &x), SV_ERR_INVALID);
    ck_assert_int_eq(sv_augment_jvp(ctx, pl, &x, &x), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "alias"));
    ck_assert_int_eq(sv_augment_fwd(ctx, NULL, &x, &y), SV_ERR_INVALID);
    TU_OK(ctx, sv_augment_fwd(ctx, pl, &x, &y));
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_tensor_free(&z);
    sv_tensor_free(&w);
    sv_augment_plan_free(pl);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_ada)
{
    sv_ada_state s;
    ck_assert_int_eq(sv_ada_init(&s, 0.0, 0.6, 64, 100, 4, NULL), 0);
    ck_assert(fabs(s.step - 0.00256) < 1e-15);
    const float pos[4] = {1.0f, 2.0f, 0.5f, 3.0f}, neg[4] = {-1.0f, -2.0f, 1.0f, -3.0f};
    /* reals judged real (mean sign 1 > 0.6): p rises, only every 4th iteration */
    for (int it = 1; it <= 8; it++) {
        sv_ada_accumulate(&s, pos, 4);
        int upd = sv_ada_step(&s, it);
        ck_assert_int_eq(upd, it % 4 == 0);
        ck_assert(fabs(s.p - 0.00256 * (it / 4)) < 1e-15);
    }
    ck_assert(s.count == 0 && s.sign_sum == 0);
    /* mean sign −0.5 < 0.6: p falls, clamped at 0 */
    for (int it = 9; it <= 20; it++) {
        sv_ada_accumulate(&s, neg, 4);
        sv_ada_step(&s, it);
    }
    ck_assert(s.p == 0.0);
    /* exactly at the target (and NaN skipped): no change */
    const float at[5] = {1, 1, 1, -1, NAN}; /* mean (3 − 1)/4 = 0.5 */
    ck_assert_int_eq(sv_ada_init(&s, 0.5, 0.5, 64, 100, 4, NULL), 0);
    sv_ada_accumulate(&s, at, 5);
    ck_assert(s.count == 4);
    sv_ada_step(&s, 4);
    ck_assert(s.p == 0.5);
    /* no upper bound */
    ck_assert_int_eq(sv_ada_init(&s, 0.999, 0.6, 64, 100, 4, NULL), 0);
    sv_ada_accumulate(&s, pos, 4);
    sv_ada_step(&s, 4);
    ck_assert(s.p > 1.0);
    sv_err e = {0};
    ck_assert_int_eq(sv_ada_init(&s, -0.1, 0.6, 64, 100, 4, &e), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "ada_kimg"));
    ck_assert_int_eq(sv_ada_init(&s, 0.0, 0.6, 64, 0, 4, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_ada_init(&s, 0.0, 0.6, 0, 100, 4, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_ada_init(&s, 0.0, NAN, 64, 100, 4, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_ada_init(&s, 0.999, 0.6, 64, 100, 4, NULL), 0);
    sv_ada_accumulate(&s, pos, 4);
    sv_ada_step(&s, 4);
    /* nothing accumulated: unchanged */
    double p0 = s.p;
    sv_ada_step(&s, 8);
    ck_assert(s.p == p0);
}
END_TEST

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Throughput at the training shape 64², B = 4 clips × 3 frames (information,
 * no assertion beyond success). */
START_TEST(t_timing)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t B = 4, F = 3;
    const int R = 64;
    int64_t s[4] = {B * F, 3, R, R};
    sv_tensor x, y;
    TU_OK(ctx, sv_tensor_zeros(ctx, &x, 4, s));
    TU_OK(ctx, sv_tensor_new(ctx, &y, 4, s));
    const double ps[2] = {0.0, 1.0};
    for (int k = 0; k < 2; k++) {
        sv_augment_clip c[4];
        ck_assert_int_eq(sv_augment_draw(NULL, ps[k], B, R, R, 1, 2, c, NULL), 0);
        sv_augment_plan *pl;
        TU_OK(ctx, sv_augment_plan_new(ctx, c, B, F, R, R, &pl));
        const sv_augment_geom *g = sv_augment_plan_geom(pl);
        TU_OK(ctx, sv_augment_fwd(ctx, pl, &x, &y)); /* warm-up (build) */
        TU_OK(ctx, sv_augment_bwd(ctx, pl, &y, &x));
        TU_OK(ctx, sv_ctx_finish(ctx));
        const int reps = 3;
        double t0 = now_s();
        for (int i = 0; i < reps; i++)
            TU_OK(ctx, sv_augment_fwd(ctx, pl, &x, &y));
        TU_OK(ctx, sv_ctx_finish(ctx));
        double t1 = now_s();
        for (int i = 0; i < reps; i++)
            TU_OK(ctx, sv_augment_bwd(ctx, pl, &y, &x));
        TU_OK(ctx, sv_ctx_finish(ctx));
        double t2 = now_s();
        fprintf(stderr, "  timing 64² B=4 k=3 p=%g (margins %d,%d,%d,%d, upsampled %dx%d): fwd %.2f ms, bwd %.2f ms\n",
                ps[k], g->mx0, g->my0, g->mx1, g->my1, g->Hu, g->Wu, 1e3 * (t1 - t0) / reps, 1e3 * (t2 - t1) / reps);
        sv_augment_plan_free(pl);
    }
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_draw);
    tcase_add_test(tc, t_color_matrices);
    tcase_add_test(tc, t_closed_forms);
    tcase_add_test(tc, t_gradcheck_host);
    tcase_add_test(tc, t_ada);
    tcase_add_test(tc, t_each_transform_device);
    tcase_add_test(tc, t_pipeline_device);
    tcase_add_test(tc, t_video_consistency);
    tcase_add_test(tc, t_nan_propagates);
    tcase_add_test(tc, t_bad_shapes);
    tcase_add_test(tc, t_timing);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
