/* fc: device vs float64 host reference (forward, backward, tangent), central
 * differences of the host reference, accumulate, NaN propagation, shapes.
 * Settings: the mapping network (λ = 0.01, lrelu √2), the affine layers
 * (λ = 1, linear, bias 1) and a clamped lrelu. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-5
#define TOL_BWD 1e-4

static void round_f32(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(float)x[i];
}

/* Compare and log the measured error. */
static void check(const char *what, const sv_tensor *got, const double *want, double tol)
{
    double *g = tu_download(got);
    size_t n = (size_t)sv_numel(got);
    printf("%-40s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(g, want, n), tol);
    tu_assert_close(what, g, want, n, tol);
    free(g);
}

typedef struct {
    int64_t N, in, out;
    double wgain;
    sv_bias_act_params p;
    const double *gy;
    double *scratch;
} fd_ctx;

/* L(x, W, b) = Σ gy ⊙ fc(x, W, b), parameters packed [x ; W ; b]. */
static double loss_xwb(const double *q, void *u)
{
    fd_ctx *f = u;
    const double *x = q, *w = q + f->N * f->in, *b = w + f->out * f->in;
    sv_ref_fc_fwd(x, w, b, f->N, f->in, f->out, f->wgain, &f->p, f->scratch);
    double L = 0;
    for (int64_t i = 0; i < f->N * f->out; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

typedef struct {
    int64_t N, in, out;
    float lr_mul;
    sv_act act;
    float clampv;
    double bias_mean;
    uint64_t seed;
} fc_case;

static void run_case(const fc_case *cs)
{
    const int64_t N = cs->N, in = cs->in, out = cs->out;
    const int64_t nx = N * in, nw = out * in, ny = N * out, np = nx + nw + out;
    tu_rng r;
    tu_seed(&r, cs->seed);
    double *q = malloc(np * sizeof *q), *gy = malloc(ny * sizeof *gy), *y = malloc(ny * sizeof *y);
    double *g = malloc(np * sizeof *g), *sc = malloc(ny * sizeof *sc), *pre = malloc(ny * sizeof *pre);
    double *xd = malloc(nx * sizeof *xd), *yd = malloc(ny * sizeof *yd), *yp = malloc(ny * sizeof *yp),
           *ym = malloc(ny * sizeof *ym), *tmp = malloc(nx * sizeof *tmp);
    double *x = q, *w = q + nx, *b = w + nw;
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, w, nw, 1.0 / cs->lr_mul); /* stored weights N(0,1)/λ */
    for (int64_t o = 0; o < out; o++)
        b[o] = cs->bias_mean + tu_normal(&r) * 0.5 / cs->lr_mul;
    tu_fill_normal(&r, gy, ny, 1.0);
    tu_fill_normal(&r, xd, nx, 1.0);
    round_f32(q, np);
    round_f32(gy, ny);
    round_f32(xd, nx);
    sv_bias_act_params p = sv_bias_act_default(cs->act);
    p.clamp = cs->clampv;
    p.bias_gain = cs->lr_mul;
    float wgain = sv_fc_wgain(in, cs->lr_mul);

    sv_ref_fc_fwd(x, w, b, N, in, out, wgain, &p, y);
    /* the finite-difference check is only valid away from the kinks */
    sv_bias_act_params lin = sv_bias_act_default(SV_ACT_LINEAR);
    lin.bias_gain = p.bias_gain;
    sv_ref_fc_fwd(x, w, b, N, in, out, wgain, &lin, pre);
    sv_bias_act_params unc = p;
    unc.clamp = -1.0f;
    sv_ref_fc_fwd(x, w, b, N, in, out, wgain, &unc, sc); /* unclamped output */
    double margin = INFINITY;
    int nclamped = 0;
    for (int64_t i = 0; i < ny; i++) {
        if (p.act == SV_ACT_LRELU)
            margin = fmin(margin, fabs(pre[i]));
        if (p.clamp >= 0) {
            margin = fmin(margin, fabs(fabs(sc[i]) - p.clamp));
            nclamped += fabs(sc[i]) >= p.clamp;
        }
    }
    ck_assert_msg(margin > 2e-4, "test data too close to a kink (%g): change the seed", margin);
    if (p.clamp >= 0)
        ck_assert_msg(nclamped > 0 && nclamped < ny, "clamp case must clamp some outputs (%d of %lld)", nclamped,
                      (long long)ny);

    sv_ref_fc_bwd(x, w, y, gy, N, in, out, wgain, &p, g, g + nx, g + nx + nw);
    fd_ctx f = {N, in, out, wgain, p, gy, sc};
    tu_gradcheck("fc ref [x;W;b]", loss_xwb, &f, q, g, (size_t)np, 8, 1e-4, 1e-6, cs->seed + 1);
    /* a few single coordinates (x, W or b alone), scaled step */
    for (int k = 0; k < 6; k++) {
        int64_t i = k < 2 ? (int64_t)(tu_next(&r) % (uint64_t)nx)
                  : k < 4 ? nx + (int64_t)(tu_next(&r) % (uint64_t)nw)
                          : nx + nw + (int64_t)(tu_next(&r) % (uint64_t)out);
        double h = 1e-6 * fmax(1.0, fabs(q[i])), save = q[i];
        q[i] = save + h;
        double fp = loss_xwb(q, &f);
        q[i] = save - h;
        double fm = loss_xwb(q, &f);
        q[i] = save;
        double num = (fp - fm) / (2 * h);
        ck_assert_msg(fabs(num - g[i]) <= 1e-5 * fabs(g[i]) + 1e-9,
                      "fc ref coordinate %lld: analytic %.10g vs difference %.10g", (long long)i, g[i], num);
    }
    /* host tangent vs central difference of the host forward along xdot */
    sv_ref_fc_jvp(xd, w, y, N, in, out, wgain, &p, yd);
    {
        const double h = 1e-6;
        for (int64_t i = 0; i < nx; i++)
            tmp[i] = x[i] + h * xd[i];
        sv_ref_fc_fwd(tmp, w, b, N, in, out, wgain, &p, yp);
        for (int64_t i = 0; i < nx; i++)
            tmp[i] = x[i] - h * xd[i];
        sv_ref_fc_fwd(tmp, w, b, N, in, out, wgain, &p, ym);
        for (int64_t i = 0; i < ny; i++)
            yp[i] = (yp[i] - ym[i]) / (2 * h);
        tu_assert_close("fc ref jvp vs central difference", yd, yp, (size_t)ny, 1e-6);
    }

    /* device */
    sv_ctx *ctx = tu_ctx();
    int64_t sx[2] = {N, in}, sw[2] = {out, in}, sb[1] = {out}, sy[2] = {N, out};
    sv_tensor tx = tu_upload(ctx, x, 2, sx), tw = tu_upload(ctx, w, 2, sw), tb = tu_upload(ctx, b, 1, sb);
    sv_tensor tgy = tu_upload(ctx, gy, 2, sy), txd = tu_upload(ctx, xd, 2, sx);
    sv_tensor ty, tgx, tgw, tgb, tyd;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tyd, 2, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 2, sx));
    TU_OK(ctx, sv_tensor_new(ctx, &tgw, 2, sw));
    TU_OK(ctx, sv_tensor_new(ctx, &tgb, 1, sb));
    TU_OK(ctx, sv_tensor_fill(&ty, NAN));
    TU_OK(ctx, sv_fc_fwd(ctx, &tx, &tw, &tb, wgain, &p, &ty));
    check("fc fwd", &ty, y, TOL_FWD);
    /* accumulate = 0 overwrites: stale NaN in the outputs must not survive */
    TU_OK(ctx, sv_tensor_fill(&tgx, NAN));
    TU_OK(ctx, sv_tensor_fill(&tgw, NAN));
    TU_OK(ctx, sv_tensor_fill(&tgb, NAN));
    TU_OK(ctx, sv_fc_bwd(ctx, &tx, &tw, &ty, &tgy, wgain, &p, &tgx, &tgw, &tgb, 0));
    check("fc bwd gx", &tgx, g, TOL_BWD);
    check("fc bwd gW", &tgw, g + nx, TOL_BWD);
    check("fc bwd gb", &tgb, g + nx + nw, TOL_BWD);
    /* accumulate adds into gW and gb; gx NULL is allowed */
    TU_OK(ctx, sv_fc_bwd(ctx, &tx, &tw, &ty, &tgy, wgain, &p, NULL, &tgw, &tgb, 1));
    for (int64_t i = nx; i < np; i++)
        g[i] *= 2;
    check("fc bwd gW accumulate", &tgw, g + nx, TOL_BWD);
    check("fc bwd gb accumulate", &tgb, g + nx + nw, TOL_BWD);
    /* tangent */
    TU_OK(ctx, sv_fc_jvp(ctx, &txd, &tw, &ty, wgain, &p, &tyd));
    check("fc jvp", &tyd, yd, TOL_FWD);
    /* no bias */
    sv_ref_fc_fwd(x, w, NULL, N, in, out, wgain, &p, sc);
    TU_OK(ctx, sv_fc_fwd(ctx, &tx, &tw, NULL, wgain, &p, &ty));
    check("fc fwd (no bias)", &ty, sc, TOL_FWD);

    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&tb);
    sv_tensor_free(&tgy);
    sv_tensor_free(&txd);
    sv_tensor_free(&ty);
    sv_tensor_free(&tyd);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgw);
    sv_tensor_free(&tgb);
    sv_ctx_destroy(ctx);
    free(q);
    free(gy);
    free(y);
    free(g);
    free(sc);
    free(pre);
    free(xd);
    free(yd);
    free(yp);
    free(ym);
    free(tmp);
}

/* mapping network layer: λ = 0.01, lrelu, gain √2, bias init 0 */
START_TEST(t_mapping)
{
    fc_case c = {5, 37, 70, 0.01f, SV_ACT_LRELU, -1.0f, 0.0, 21};
    run_case(&c);
}
END_TEST
/* affine (style) layer: λ = 1, linear, bias init 1 */
START_TEST(t_affine)
{
    fc_case c = {3, 130, 33, 1.0f, SV_ACT_LINEAR, -1.0f, 1.0, 22};
    run_case(&c);
}
END_TEST
/* clamped lrelu */
START_TEST(t_clamp)
{
    fc_case c = {4, 17, 9, 1.0f, SV_ACT_LRELU, 0.8f, 0.0, 23};
    run_case(&c);
}
END_TEST
/* larger than a work-group in every dim, odd sizes */
START_TEST(t_large)
{
    fc_case c = {67, 129, 65, 0.01f, SV_ACT_LRELU, -1.0f, 0.0, 26};
    run_case(&c);
}
END_TEST

START_TEST(t_nan_propagates)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t N = 3, in = 4, out = 5;
    double x[12], w[20];
    tu_rng r;
    tu_seed(&r, 5);
    tu_fill_normal(&r, x, 12, 1.0);
    tu_fill_normal(&r, w, 20, 1.0);
    x[1 * in + 2] = NAN; /* row 1 */
    int64_t sx[2] = {N, in}, sw[2] = {out, in}, sy[2] = {N, out};
    sv_tensor tx = tu_upload(ctx, x, 2, sx), tw = tu_upload(ctx, w, 2, sw), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, sy));
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LRELU);
    TU_OK(ctx, sv_fc_fwd(ctx, &tx, &tw, NULL, sv_fc_wgain(in, 1.0f), &p, &ty));
    double *y = tu_download(&ty);
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < out; o++)
            ck_assert_msg(isnan(y[n * out + o]) == (n == 1), "NaN must reach exactly row 1: y[%lld,%lld] = %g",
                          (long long)n, (long long)o, y[n * out + o]);
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_shape_mismatch)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, w, wbad, y, ybad, b, bbad;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 2, (int64_t)2, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &w, 2, (int64_t)4, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &wbad, 2, (int64_t)4, (int64_t)2));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 2, (int64_t)2, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &ybad, 2, (int64_t)2, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &b, 1, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &bbad, 1, (int64_t)3));
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LINEAR);
    ck_assert_int_eq(sv_fc_fwd(ctx, &x, &wbad, NULL, 1.0f, &p, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "fc weight"));
    ck_assert_int_eq(sv_fc_fwd(ctx, &x, &w, NULL, 1.0f, &p, &ybad), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fc_fwd(ctx, &x, &w, &bbad, 1.0f, &p, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fc_bwd(ctx, &x, &w, &y, &ybad, 1.0f, &p, NULL, NULL, &b, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fc_bwd(ctx, &x, &w, &y, &y, 1.0f, &p, NULL, &wbad, NULL, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fc_bwd(ctx, &x, &w, &y, &y, 1.0f, &p, NULL, NULL, &bbad, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fc_jvp(ctx, &x, &w, &y, 1.0f, &p, &ybad), SV_ERR_INVALID);
    TU_OK(ctx, sv_fc_fwd(ctx, &x, &w, &b, 1.0f, &p, &y));
    sv_tensor_free(&x);
    sv_tensor_free(&w);
    sv_tensor_free(&wbad);
    sv_tensor_free(&y);
    sv_tensor_free(&ybad);
    sv_tensor_free(&b);
    sv_tensor_free(&bbad);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_wgain)
{
    ck_assert(fabs(sv_fc_wgain(512, 0.01f) - 0.01 / sqrt(512.0)) < 1e-9);
    ck_assert(fabs(sv_fc_wgain(3, 1.0f) - 1 / sqrt(3.0)) < 1e-7);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_mapping);
    tcase_add_test(tc, t_affine);
    tcase_add_test(tc, t_clamp);
    tcase_add_test(tc, t_large);
    tcase_add_test(tc, t_nan_propagates);
    tcase_add_test(tc, t_shape_mismatch);
    tcase_add_test(tc, t_wgain);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
