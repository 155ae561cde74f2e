/* conv1d: device (im2col + GEMM) vs float64 host reference (direct loops),
 * central differences of the host reference, NaN, shape errors. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-5
#define TOL_BWD 1e-5

static void check(const char *what, const sv_tensor *t, const double *want, double tol)
{
    double *got = tu_download(t);
    fprintf(stderr, "  %-45s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(got, want, (size_t)sv_numel(t)), tol);
    free(got);
    tu_assert_tensor(what, t, want, tol);
}

typedef struct {
    int64_t B, Cin, L, Cout, K;
    double wg;
    const double *gy;
    double *sc;
    const double *wfix;
} fd_ctx;

/* L = Σ gy·conv1d(x, W), parameters packed [x ; W] */
static double loss_xw(const double *p, void *u)
{
    fd_ctx *f = u;
    int64_t nx = f->B * f->Cin * f->L, ny = f->B * f->Cout * (f->L - f->K + 1);
    sv_ref_conv1d_fwd(p, p + nx, f->B, f->Cin, f->L, f->Cout, f->K, f->wg, f->sc);
    double s = 0;
    for (int64_t i = 0; i < ny; i++)
        s += f->gy[i] * f->sc[i];
    return s;
}

static double loss_x(const double *x, void *u)
{
    fd_ctx *f = u;
    int64_t ny = f->B * f->Cout * (f->L - f->K + 1);
    sv_ref_conv1d_fwd(x, f->wfix, f->B, f->Cin, f->L, f->Cout, f->K, f->wg, f->sc);
    double s = 0;
    for (int64_t i = 0; i < ny; i++)
        s += f->gy[i] * f->sc[i];
    return s;
}

static void run_case(int64_t B, int64_t Cin, int64_t Cout, int64_t K, int64_t L, float lrmul, uint64_t seed)
{
    int64_t Lo = L - K + 1, nx = B * Cin * L, nw = Cout * Cin * K, ny = B * Cout * Lo;
    float wg = sv_conv1d_wgain(Cin, K, lrmul);
    tu_rng r;
    tu_seed(&r, seed);
    double *p = malloc((nx + nw) * sizeof *p), *g = malloc((nx + nw) * sizeof *g);
    double *y = malloc(ny * sizeof *y), *gy = malloc(ny * sizeof *gy), *sc = malloc(ny * sizeof *sc);
    tu_fill_normal(&r, p, (size_t)nx, 1.0);
    tu_fill_normal(&r, p + nx, (size_t)nw, 1.0 / lrmul); /* N(0,1)/λ as initialised */
    tu_fill_normal(&r, gy, (size_t)ny, 1.0);
    sv_ref_conv1d_fwd(p, p + nx, B, Cin, L, Cout, K, wg, y);
    sv_ref_conv1d_bwd_data(gy, p + nx, B, Cin, L, Cout, K, wg, g);
    sv_ref_conv1d_bwd_weight(p, gy, B, Cin, L, Cout, K, wg, g + nx);
    fd_ctx f = {B, Cin, L, Cout, K, wg, gy, sc, NULL};
    tu_gradcheck("conv1d ref (x, W)", loss_xw, &f, p, g, (size_t)(nx + nw), 6, 1e-4, 1e-7, seed + 1);
    /* x alone, W fixed (W's larger gradient would hide an x error in the packed check) */
    f.wfix = p + nx;
    tu_gradcheck("conv1d ref (x)", loss_x, &f, p, g, (size_t)nx, 4, 1e-4, 1e-7, seed + 2);

    sv_ctx *ctx = tu_ctx();
    int64_t sx[3] = {B, Cin, L}, sw[3] = {Cout, Cin, K}, sy[3] = {B, Cout, Lo};
    sv_tensor tx = tu_upload(ctx, p, 3, sx), tw = tu_upload(ctx, p + nx, 3, sw), tgy = tu_upload(ctx, gy, 3, sy);
    sv_tensor ty, tgx, tgw;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 3, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 3, sx));
    TU_OK(ctx, sv_tensor_new(ctx, &tgw, 3, sw));
    TU_OK(ctx, sv_tensor_fill(&ty, NAN)); /* outputs must be overwritten */
    TU_OK(ctx, sv_tensor_fill(&tgx, NAN));
    TU_OK(ctx, sv_tensor_fill(&tgw, NAN));
    char what[128];
    snprintf(what, sizeof what, "conv1d fwd B%lld %lld->%lld K%lld L%lld", (long long)B, (long long)Cin,
             (long long)Cout, (long long)K, (long long)L);
    TU_OK(ctx, sv_conv1d_fwd(ctx, &tx, &tw, wg, &ty));
    check(what, &ty, y, TOL_FWD);
    TU_OK(ctx, sv_conv1d_bwd_data(ctx, &tgy, &tw, wg, &tgx));
    check("conv1d bwd_data", &tgx, g, TOL_BWD);
    TU_OK(ctx, sv_conv1d_bwd_weight(ctx, &tx, &tgy, wg, &tgw, 0));
    check("conv1d bwd_weight", &tgw, g + nx, TOL_BWD);
    TU_OK(ctx, sv_conv1d_bwd_weight(ctx, &tx, &tgy, wg, &tgw, 1));
    for (int64_t i = 0; i < nw; i++)
        g[nx + i] *= 2;
    tu_assert_tensor("conv1d bwd_weight accumulate", &tgw, g + nx, TOL_BWD);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgw);
    sv_ctx_destroy(ctx);
    free(p);
    free(g);
    free(y);
    free(gy);
    free(sc);
}

/* the motion network scaled down: Cin = Cout = 16, K = 11, L = 40, λ = 0.01 */
START_TEST(t_motion_like) { run_case(3, 16, 16, 11, 40, 0.01f, 81); }
END_TEST
START_TEST(t_odd) { run_case(2, 7, 9, 11, 40, 0.01f, 82); }
END_TEST
/* more output channels than a work-group, odd length */
START_TEST(t_wide) { run_case(3, 13, 70, 3, 67, 1.0f, 83); }
END_TEST
/* K = 1 (pointwise) and Lo = 1 (L = K) */
START_TEST(t_k1) { run_case(1, 5, 3, 1, 7, 1.0f, 84); }
END_TEST
START_TEST(t_lo1) { run_case(2, 3, 4, 5, 5, 0.01f, 85); }
END_TEST

START_TEST(t_nan)
{
    const int64_t B = 1, Cin = 2, Cout = 2, K = 3, L = 8, Lo = L - K + 1;
    double x[16], w[12];
    tu_rng r;
    tu_seed(&r, 86);
    tu_fill_normal(&r, x, 16, 1);
    tu_fill_normal(&r, w, 12, 1);
    x[1 * L + 6] = NAN; /* channel 1, position 6 → outputs j = 4, 5 */
    sv_ctx *ctx = tu_ctx();
    int64_t sx[3] = {B, Cin, L}, sw[3] = {Cout, Cin, K}, sy[3] = {B, Cout, Lo};
    sv_tensor tx = tu_upload(ctx, x, 3, sx), tw = tu_upload(ctx, w, 3, sw), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 3, sy));
    TU_OK(ctx, sv_conv1d_fwd(ctx, &tx, &tw, 0.5f, &ty));
    double *y = tu_download(&ty);
    for (int64_t o = 0; o < Cout; o++)
        for (int64_t j = 0; j < Lo; j++)
            ck_assert_msg((j >= 4) == (isnan(y[o * Lo + j]) != 0), "NaN reach wrong at o=%lld j=%lld: %g",
                          (long long)o, (long long)j, y[o * Lo + j]);
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&tw);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, w, w2, y, ybad, xs;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 3, (int64_t)2, (int64_t)3, (int64_t)10));
    TU_OK(ctx, sv_tensor_newv(ctx, &w, 3, (int64_t)4, (int64_t)3, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &w2, 3, (int64_t)4, (int64_t)2, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 3, (int64_t)2, (int64_t)4, (int64_t)6));
    TU_OK(ctx, sv_tensor_newv(ctx, &ybad, 3, (int64_t)2, (int64_t)4, (int64_t)10));
    TU_OK(ctx, sv_tensor_newv(ctx, &xs, 3, (int64_t)2, (int64_t)3, (int64_t)4));
    ck_assert_int_eq(sv_conv1d_fwd(ctx, &x, &w, 1.0f, &ybad), SV_ERR_INVALID); /* "same" shape is wrong */
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_conv1d_fwd(ctx, &x, &w2, 1.0f, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_conv1d_fwd(ctx, &xs, &w, 1.0f, &y), SV_ERR_INVALID); /* L < K */
    ck_assert_int_eq(sv_conv1d_bwd_data(ctx, &ybad, &w, 1.0f, &x), SV_ERR_INVALID);
    ck_assert_int_eq(sv_conv1d_bwd_weight(ctx, &x, &y, 1.0f, &w2, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_conv1d_bwd_weight(ctx, &x, &ybad, 1.0f, &w, 0), SV_ERR_INVALID);
    TU_OK(ctx, sv_conv1d_fwd(ctx, &x, &w, 1.0f, &y));
    sv_tensor_free(&x);
    sv_tensor_free(&w);
    sv_tensor_free(&w2);
    sv_tensor_free(&y);
    sv_tensor_free(&ybad);
    sv_tensor_free(&xs);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv1d");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_motion_like);
    tcase_add_test(tc, t_odd);
    tcase_add_test(tc, t_wide);
    tcase_add_test(tc, t_k1);
    tcase_add_test(tc, t_lo1);
    tcase_add_test(tc, t_nan);
    tcase_add_test(tc, t_errors);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
