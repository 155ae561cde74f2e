/* normalize_2nd_moment: device vs float64 host reference, central differences
 * of the host reference (backward and the symmetric-Jacobian tangent claim),
 * aliasing, zero rows, NaN propagation, shapes. */
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

static void check(const char *what, const sv_tensor *got, const double *want, double tol)
{
    double *g = tu_download(got);
    size_t n = (size_t)sv_numel(got);
    printf("%-40s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(g, want, n), tol);
    tu_assert_close(what, g, want, n, tol);
    free(g);
}

typedef struct {
    int64_t N, D;
    const double *gy;
    double *scratch;
} fd_ctx;

static double loss_x(const double *x, void *u)
{
    fd_ctx *f = u;
    sv_ref_normalize_2nd_moment_fwd(x, f->N, f->D, f->scratch);
    double L = 0;
    for (int64_t i = 0; i < f->N * f->D; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

/* shape given as ndim/dims; rows = dim 0 */
static void run_case(int ndim, const int64_t *shape, double scale, uint64_t seed)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    const int64_t N = shape[0], D = n / N;
    tu_rng r;
    tu_seed(&r, seed);
    double *x = malloc(n * sizeof *x), *gy = malloc(n * sizeof *gy), *y = malloc(n * sizeof *y);
    double *gx = malloc(n * sizeof *gx), *sc = malloc(n * sizeof *sc), *tmp = malloc(n * sizeof *tmp),
           *yp = malloc(n * sizeof *yp);
    tu_fill_normal(&r, x, n, scale);
    tu_fill_normal(&r, gy, n, 1.0);
    round_f32(x, n);
    round_f32(gy, n);
    sv_ref_normalize_2nd_moment_fwd(x, N, D, y);
    sv_ref_normalize_2nd_moment_bwd(x, gy, N, D, gx);
    fd_ctx f = {N, D, gy, sc};
    tu_gradcheck("normalize ref", loss_x, &f, x, gx, (size_t)n, 6, 1e-5 * scale, 1e-6, seed + 1);
    /* tangent = J·v = bwd(x, v) (J symmetric): compare with central differences */
    {
        const double h = 1e-5 * scale;
        for (int64_t i = 0; i < n; i++)
            tmp[i] = x[i] + h * gy[i];
        sv_ref_normalize_2nd_moment_fwd(tmp, N, D, yp);
        for (int64_t i = 0; i < n; i++)
            tmp[i] = x[i] - h * gy[i];
        sv_ref_normalize_2nd_moment_fwd(tmp, N, D, sc);
        for (int64_t i = 0; i < n; i++)
            yp[i] = (yp[i] - sc[i]) / (2 * h);
        tu_assert_close("normalize ref: bwd(x, v) is the tangent J·v", gx, yp, (size_t)n, 1e-6);
    }

    sv_ctx *ctx = tu_ctx();
    sv_tensor tx = tu_upload(ctx, x, ndim, shape), tgy = tu_upload(ctx, gy, ndim, shape), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, ndim, shape));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, ndim, shape));
    TU_OK(ctx, sv_normalize_2nd_moment_fwd(ctx, &tx, &ty));
    check("normalize fwd", &ty, y, TOL_FWD);
    TU_OK(ctx, sv_normalize_2nd_moment_bwd(ctx, &tx, &tgy, &tgx));
    check("normalize bwd", &tgx, gx, TOL_BWD);
    /* in place: gx aliasing gy, y aliasing x */
    TU_OK(ctx, sv_normalize_2nd_moment_bwd(ctx, &tx, &tgy, &tgy));
    check("normalize bwd in place", &tgy, gx, TOL_BWD);
    TU_OK(ctx, sv_normalize_2nd_moment_fwd(ctx, &tx, &tx));
    check("normalize fwd in place", &tx, y, TOL_FWD);
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(y);
    free(gx);
    free(sc);
    free(tmp);
    free(yp);
}

START_TEST(t_small_rows)
{
    int64_t s[2] = {5, 7};
    run_case(2, s, 1.0, 31);
}
END_TEST
START_TEST(t_z_like)
{
    int64_t s[2] = {3, 512};
    run_case(2, s, 1.0, 32);
}
END_TEST
START_TEST(t_odd_large_scaled)
{
    int64_t s[2] = {4, 1031};
    run_case(2, s, 30.0, 33);
}
END_TEST
START_TEST(t_rank3)
{
    int64_t s[3] = {3, 4, 5};
    run_case(3, s, 0.1, 34);
}
END_TEST

START_TEST(t_zero_row_and_nan)
{
    sv_ctx *ctx = tu_ctx();
    const int64_t N = 3, D = 70;
    double x[3 * 70];
    tu_rng r;
    tu_seed(&r, 7);
    tu_fill_normal(&r, x, (size_t)(N * D), 1.0);
    for (int64_t j = 0; j < D; j++)
        x[j] = 0.0; /* row 0: zeros -> zeros (eps) */
    x[2 * D + 69] = NAN; /* row 2: NaN -> whole row NaN */
    int64_t sh[2] = {N, D};
    sv_tensor tx = tu_upload(ctx, x, 2, sh), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, sh));
    TU_OK(ctx, sv_normalize_2nd_moment_fwd(ctx, &tx, &ty));
    double *y = tu_download(&ty);
    for (int64_t j = 0; j < D; j++) {
        ck_assert_msg(y[j] == 0.0, "zero row must stay zero, y[0,%lld] = %g", (long long)j, y[j]);
        ck_assert_msg(isfinite(y[D + j]), "row 1 must be finite");
        ck_assert_msg(isnan(y[2 * D + j]), "row 2 must be NaN, y[2,%lld] = %g", (long long)j, y[2 * D + j]);
    }
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_shape_mismatch)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, y, x1;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 2, (int64_t)2, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 2, (int64_t)3, (int64_t)2));
    TU_OK(ctx, sv_tensor_newv(ctx, &x1, 1, (int64_t)6));
    ck_assert_int_eq(sv_normalize_2nd_moment_fwd(ctx, &x, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_normalize_2nd_moment_fwd(ctx, &x1, &x1), SV_ERR_INVALID);
    ck_assert_int_eq(sv_normalize_2nd_moment_bwd(ctx, &x, &x, &y), SV_ERR_INVALID);
    ck_assert_int_eq(sv_normalize_2nd_moment_bwd(ctx, &x, &y, &x), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_tensor_free(&x1);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("normalize");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_small_rows);
    tcase_add_test(tc, t_z_like);
    tcase_add_test(tc, t_odd_large_scaled);
    tcase_add_test(tc, t_rank3);
    tcase_add_test(tc, t_zero_row_and_nan);
    tcase_add_test(tc, t_shape_mismatch);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
