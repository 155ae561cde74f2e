/* modconv: the device's non-fused path (scale, conv, demod scale) against the
 * float64 host reference computed the fused way (per-video W''); central
 * differences of the host reference w.r.t. x, w and s; accumulate flags; the
 * cache-less backward; the private reference conv against sv_ref_conv2d
 * (kernel orientation of the up-conv); NaN propagation; bad shapes. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-5
#define TOL_BWD 1e-4

typedef struct cfg {
    int64_t B;
    int F, Cin, Cout, H, W, k, up, demod;
} cfg;

typedef struct {
    const cfg *c;
    sv_modconv_params p;
    const double *gy;
    double *scratch;
    size_t nx, nw, ny;
} fd_ctx;

static sv_modconv_params mkp(const cfg *c)
{
    sv_modconv_params p = {c->k, c->up, c->demod, c->F};
    return p;
}

/* L(x, w, s) = Σ gy ⊙ modconv(x, w, s); parameters packed [x ; w ; s]. */
static double loss_xws(const double *v, void *u)
{
    fd_ctx *f = u;
    const cfg *c = f->c;
    sv_ref_modconv_fwd(v, v + f->nx, v + f->nx + f->nw, c->B, c->Cin, c->Cout, c->H, c->W, &f->p, f->scratch);
    double L = 0;
    for (size_t i = 0; i < f->ny; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

static void run_case(const cfg *c, uint64_t seed)
{
    sv_modconv_params p = mkp(c);
    int Ho = 0, Wo = 0;
    ck_assert_int_eq(sv_modconv_out_size(&p, c->H, c->W, &Ho, &Wo), 0);
    int64_t BF = c->B * c->F;
    size_t nx = (size_t)(BF * c->Cin * c->H * c->W), nw = (size_t)c->Cout * c->Cin * c->k * c->k;
    size_t ns = (size_t)(c->B * c->Cin), ny = (size_t)(BF * c->Cout * Ho * Wo), np = nx + nw + ns;
    tu_rng r;
    tu_seed(&r, seed);
    double *v = malloc(np * sizeof *v), *gy = malloc(ny * sizeof *gy), *y = malloc(ny * sizeof *y);
    double *g = malloc(np * sizeof *g), *sc = malloc(ny * sizeof *sc), *g2 = malloc(np * sizeof *g2);
    double *x = v, *w = v + nx, *s = v + nx + nw;
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, w, nw, 1.0);
    for (size_t i = 0; i < ns; i++) /* styles around the affine bias init 1 */
        s[i] = (c->demod ? 1.0 : 1.0 / sqrt(c->Cin)) * (1.0 + 0.4 * tu_normal(&r));
    tu_fill_normal(&r, gy, ny, 1.0);

    sv_ref_modconv_fwd(x, w, s, c->B, c->Cin, c->Cout, c->H, c->W, &p, y);
    sv_ref_modconv_bwd(x, w, s, gy, c->B, c->Cin, c->Cout, c->H, c->W, &p, g, g + nx, g + nx + nw);

    /* central differences of the float64 reference, all inputs together and each block alone */
    fd_ctx f = {c, p, gy, sc, nx, nw, ny};
    tu_gradcheck("modconv ref (x,w,s)", loss_xws, &f, v, g, np, 4, 1e-5, 1e-6, seed + 1);
    for (int blk = 0; blk < 3; blk++) {
        size_t lo = blk == 0 ? 0 : blk == 1 ? nx : nx + nw, hi = blk == 0 ? nx : blk == 1 ? nx + nw : np;
        for (size_t i = 0; i < np; i++)
            g2[i] = (i >= lo && i < hi) ? g[i] : 0.0;
        /* a direction restricted to one block: grad masked, perturbation along the same mask */
        double *vd = malloc(np * sizeof *vd);
        tu_rng rr;
        tu_seed(&rr, seed + 10 + blk);
        double dot = 0, nn = 0;
        for (size_t i = 0; i < np; i++) {
            vd[i] = (i >= lo && i < hi) ? tu_normal(&rr) : 0.0;
            dot += vd[i] * g2[i];
            nn += vd[i] * vd[i];
        }
        const double h = 1e-5;
        double *q = malloc(np * sizeof *q);
        for (size_t i = 0; i < np; i++)
            q[i] = v[i] + h * vd[i] / sqrt(nn);
        double fp = loss_xws(q, &f);
        for (size_t i = 0; i < np; i++)
            q[i] = v[i] - h * vd[i] / sqrt(nn);
        double fm = loss_xws(q, &f);
        double num = (fp - fm) / (2 * h), an = dot / sqrt(nn);
        ck_assert_msg(fabs(num - an) <= 1e-6 * fmax(fabs(num), 1e-8), "modconv ref block %d: analytic %.10g vs fd %.10g",
                      blk, an, num);
        free(vd);
        free(q);
    }

    /* device */
    sv_ctx *ctx = tu_ctx();
    int64_t xs[4] = {BF, c->Cin, c->H, c->W}, ws[4] = {c->Cout, c->Cin, c->k, c->k}, ss[2] = {c->B, c->Cin};
    int64_t ys[4] = {BF, c->Cout, Ho, Wo};
    sv_tensor tx = tu_upload(ctx, x, 4, xs), tw = tu_upload(ctx, w, 4, ws), ts = tu_upload(ctx, s, 2, ss);
    sv_tensor tgy = tu_upload(ctx, gy, 4, ys), ty, tgx, tgw, tgs;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, xs));
    TU_OK(ctx, sv_tensor_new(ctx, &tgw, 4, ws));
    TU_OK(ctx, sv_tensor_new(ctx, &tgs, 2, ss));
    sv_modconv_cache cache;
    memset(&cache, 0, sizeof cache);
    TU_OK(ctx, sv_modconv_fwd(ctx, &tx, &tw, &ts, &p, &ty, &cache));
    tu_assert_tensor("modconv fwd", &ty, y, TOL_FWD);
    /* second forward reuses the cache tensors */
    TU_OK(ctx, sv_modconv_fwd(ctx, &tx, &tw, &ts, &p, &ty, &cache));
    tu_assert_tensor("modconv fwd (cache reused)", &ty, y, TOL_FWD);

    TU_OK(ctx, sv_modconv_bwd(ctx, &tx, &tw, &ts, &ty, &tgy, &p, &cache, &tgx, 0, &tgw, &tgs, 0));
    tu_assert_tensor("modconv bwd gx", &tgx, g, TOL_BWD);
    tu_assert_tensor("modconv bwd gw", &tgw, g + nx, TOL_BWD);
    tu_assert_tensor("modconv bwd gs", &tgs, g + nx + nw, TOL_BWD);
    /* accumulate: everything doubles */
    TU_OK(ctx, sv_modconv_bwd(ctx, &tx, &tw, &ts, &ty, &tgy, &p, &cache, &tgx, 1, &tgw, &tgs, 1));
    for (size_t i = 0; i < np; i++)
        g2[i] = 2 * g[i];
    tu_assert_tensor("modconv bwd gx accumulate", &tgx, g2, TOL_BWD);
    tu_assert_tensor("modconv bwd gw accumulate", &tgw, g2 + nx, TOL_BWD);
    tu_assert_tensor("modconv bwd gs accumulate", &tgs, g2 + nx + nw, TOL_BWD);
    /* no cache (d recomputed), no y needed for gx alone, forward without cache */
    TU_OK(ctx, sv_modconv_bwd(ctx, &tx, &tw, &ts, &ty, &tgy, &p, NULL, NULL, 0, &tgw, &tgs, 0));
    tu_assert_tensor("modconv bwd gw (no cache)", &tgw, g + nx, TOL_BWD);
    tu_assert_tensor("modconv bwd gs (no cache)", &tgs, g + nx + nw, TOL_BWD);
    TU_OK(ctx, sv_modconv_bwd(ctx, &tx, &tw, &ts, NULL, &tgy, &p, NULL, &tgx, 0, NULL, NULL, 0));
    tu_assert_tensor("modconv bwd gx only", &tgx, g, TOL_BWD);
    TU_OK(ctx, sv_modconv_fwd(ctx, &tx, &tw, &ts, &p, &ty, NULL));
    tu_assert_tensor("modconv fwd (no cache)", &ty, y, TOL_FWD);

    sv_modconv_cache_free(&cache);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&ts);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgw);
    sv_tensor_free(&tgs);
    sv_ctx_destroy(ctx);
    free(v);
    free(gy);
    free(y);
    free(g);
    free(g2);
    free(sc);
}

/*                                   B  F Cin Cout H   W  k up demod */
START_TEST(t_k3_up1_f1) { cfg c = {2, 1, 5, 7, 9, 7, 3, 1, 1}; run_case(&c, 1); }
END_TEST
START_TEST(t_k3_up1_f3) { cfg c = {2, 3, 3, 5, 7, 10, 3, 1, 1}; run_case(&c, 2); }
END_TEST
START_TEST(t_k3_up2_f3) { cfg c = {2, 3, 5, 3, 5, 4, 3, 2, 1}; run_case(&c, 3); }
END_TEST
START_TEST(t_k3_up2_f1) { cfg c = {3, 1, 3, 4, 4, 5, 3, 2, 1}; run_case(&c, 4); }
END_TEST
START_TEST(t_k1_torgb_f3) { cfg c = {2, 3, 9, 3, 8, 11, 1, 1, 0}; run_case(&c, 5); }
END_TEST
START_TEST(t_k1_torgb_f1) { cfg c = {3, 1, 7, 3, 6, 5, 1, 1, 0}; run_case(&c, 6); }
END_TEST
START_TEST(t_k3_nodemod_up2) { cfg c = {1, 2, 3, 3, 4, 3, 3, 2, 0}; run_case(&c, 7); }
END_TEST

/* With s ≡ 1 and no demodulation modconv is the plain conv: the private
 * reference conv (fused path) must agree with sv_ref_conv2d (kernel
 * orientation of the up-conv, padding), and with the device conv. */
START_TEST(t_matches_conv2d_ref)
{
    for (int up = 1; up <= 2; up++) {
        const int64_t N = 2;
        const int Cin = 3, Cout = 4, H = 5, W = 6, k = 3;
        sv_modconv_params p = {k, up, 0, 1};
        sv_conv2d_params cp = {k, up, 1, 1.0f};
        int Ho, Wo;
        ck_assert_int_eq(sv_modconv_out_size(&p, H, W, &Ho, &Wo), 0);
        size_t nx = (size_t)(N * Cin * H * W), nw = (size_t)(Cout * Cin * k * k), ny = (size_t)(N * Cout * Ho * Wo);
        tu_rng r;
        tu_seed(&r, 40 + up);
        double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *s = malloc((size_t)(N * Cin) * sizeof *s);
        double *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
        tu_fill_normal(&r, x, nx, 1.0);
        tu_fill_normal(&r, w, nw, 1.0);
        for (int i = 0; i < N * Cin; i++)
            s[i] = 1.0;
        sv_ref_modconv_fwd(x, w, s, N, Cin, Cout, H, W, &p, y1);
        sv_ref_conv2d_fwd(x, w, N, Cin, Cout, H, W, &cp, y2);
        ck_assert_msg(tu_max_abs(y1, y2, ny) < 1e-12, "up=%d: modconv private conv != sv_ref_conv2d (max %g)", up,
                      tu_max_abs(y1, y2, ny));
        free(x);
        free(w);
        free(s);
        free(y1);
        free(y2);
    }
}
END_TEST

/* Demodulated output is invariant to a per-video scale of the styles (up to eps). */
START_TEST(t_demod_scale_invariance)
{
    cfg c = {2, 2, 4, 3, 5, 5, 3, 1, 1};
    sv_modconv_params p = mkp(&c);
    size_t nx = (size_t)(c.B * c.F * c.Cin * c.H * c.W), nw = (size_t)(c.Cout * c.Cin * 9), ny = (size_t)(c.B * c.F * c.Cout * 25);
    tu_rng r;
    tu_seed(&r, 77);
    double *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), s[8], s3[8];
    double *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, w, nw, 1.0);
    for (int i = 0; i < 8; i++) {
        s[i] = 1 + 0.3 * tu_normal(&r);
        s3[i] = s[i] * (i < 4 ? 3.0 : 0.5);
    }
    sv_ref_modconv_fwd(x, w, s, c.B, c.Cin, c.Cout, c.H, c.W, &p, y1);
    sv_ref_modconv_fwd(x, w, s3, c.B, c.Cin, c.Cout, c.H, c.W, &p, y2);
    ck_assert_msg(tu_rel_l2(y2, y1, ny) < 1e-7, "demod must cancel a style scale: %g", tu_rel_l2(y2, y1, ny));
    free(x);
    free(w);
    free(y1);
    free(y2);
}
END_TEST

START_TEST(t_nan_propagates)
{
    cfg c = {2, 2, 3, 2, 5, 5, 3, 1, 1};
    sv_modconv_params p = mkp(&c);
    int64_t BF = 4;
    size_t nx = (size_t)(BF * 3 * 25), nw = 2 * 3 * 9, ny = (size_t)(BF * 2 * 25);
    tu_rng r;
    tu_seed(&r, 9);
    double *x = malloc(nx * sizeof *x), w[54], s[6];
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, w, nw, 1.0);
    for (int i = 0; i < 6; i++)
        s[i] = 1.0;
    s[1] = NAN; /* video 0, channel 1: poisons all of video 0 via the demod */
    x[(3 * 3 + 0) * 25 + 12] = NAN; /* frame 3 (video 1), channel 0, centre pixel */
    sv_ctx *ctx = tu_ctx();
    int64_t xs[4] = {BF, 3, 5, 5}, ws[4] = {2, 3, 3, 3}, ss[2] = {2, 3}, ys[4] = {BF, 2, 5, 5};
    sv_tensor tx = tu_upload(ctx, x, 4, xs), tw = tu_upload(ctx, w, 4, ws), ts = tu_upload(ctx, s, 2, ss), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_modconv_fwd(ctx, &tx, &tw, &ts, &p, &ty, NULL));
    double *y = tu_download(&ty);
    for (size_t i = 0; i < (size_t)(2 * 2 * 25); i++)
        ck_assert_msg(isnan(y[i]), "video 0 output %zu must be NaN", i);
    size_t f2 = 2 * 2 * 25, f3 = 3 * 2 * 25;
    for (size_t i = f2; i < f3; i++)
        ck_assert_msg(!isnan(y[i]), "frame 2 must be finite");
    ck_assert_msg(isnan(y[f3 + 12]) && isnan(y[f3 + 25 + 6]), "NaN pixel must reach frame 3's outputs");
    ck_assert_msg(!isnan(y[f3 + 0]), "pixel outside the receptive field stays finite");
    (void)ny;
    free(y);
    free(x);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&ts);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_bad_shapes)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, w, s, y, sbad, xbad, wbad, ybad, gw;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 4, (int64_t)6, (int64_t)3, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &w, 4, (int64_t)2, (int64_t)3, (int64_t)3, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &s, 2, (int64_t)2, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 4, (int64_t)6, (int64_t)2, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &sbad, 2, (int64_t)3, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &xbad, 4, (int64_t)5, (int64_t)3, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &wbad, 4, (int64_t)2, (int64_t)4, (int64_t)3, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &ybad, 4, (int64_t)6, (int64_t)2, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &gw, 4, (int64_t)2, (int64_t)3, (int64_t)3, (int64_t)3));
    sv_modconv_params p = {3, 1, 1, 3};
    ck_assert_int_eq(sv_modconv_fwd(ctx, &x, &w, &sbad, &p, &y, NULL), SV_ERR_INVALID); /* B mismatch */
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_modconv_fwd(ctx, &xbad, &w, &s, &p, &y, NULL), SV_ERR_INVALID); /* 5 % 3 */
    ck_assert_int_eq(sv_modconv_fwd(ctx, &x, &wbad, &s, &p, &y, NULL), SV_ERR_INVALID); /* Cin */
    ck_assert_int_eq(sv_modconv_fwd(ctx, &x, &w, &s, &p, &ybad, NULL), SV_ERR_INVALID); /* up 1 → 4x4 */
    ck_assert_int_eq(sv_modconv_bwd(ctx, &x, &w, &s, &y, &ybad, &p, NULL, NULL, 0, &gw, NULL, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_modconv_bwd(ctx, &x, &w, &s, &y, &y, &p, NULL, NULL, 0, &wbad, NULL, 0), SV_ERR_INVALID);
    /* demodulated weight gradient needs the forward output */
    ck_assert_int_eq(sv_modconv_bwd(ctx, &x, &w, &s, NULL, &y, &p, NULL, NULL, 0, &gw, NULL, 0), SV_ERR_INVALID);
    sv_modconv_params pu = {1, 2, 1, 3}; /* up-conv needs k = 3 */
    ck_assert_int_eq(sv_modconv_fwd(ctx, &x, &w, &s, &pu, &ybad, NULL), SV_ERR_INVALID);
    sv_modconv_params pf = {3, 1, 1, 0};
    ck_assert_int_eq(sv_modconv_fwd(ctx, &x, &w, &s, &pf, &y, NULL), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&w);
    sv_tensor_free(&s);
    sv_tensor_free(&y);
    sv_tensor_free(&sbad);
    sv_tensor_free(&xbad);
    sv_tensor_free(&wbad);
    sv_tensor_free(&ybad);
    sv_tensor_free(&gw);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("modconv");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_k3_up1_f1);
    tcase_add_test(tc, t_k3_up1_f3);
    tcase_add_test(tc, t_k3_up2_f3);
    tcase_add_test(tc, t_k3_up2_f1);
    tcase_add_test(tc, t_k1_torgb_f3);
    tcase_add_test(tc, t_k1_torgb_f1);
    tcase_add_test(tc, t_k3_nodemod_up2);
    tcase_add_test(tc, t_matches_conv2d_ref);
    tcase_add_test(tc, t_demod_scale_invariance);
    tcase_add_test(tc, t_nan_propagates);
    tcase_add_test(tc, t_bad_shapes);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
