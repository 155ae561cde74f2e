/* optim: Adam and EMA against float64 host loops over several steps,
 * exactness properties (β1 = 0 → m = g; EMA β = 0 / 1), NaN propagation,
 * offsets (views), argument errors. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void round_f32(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(float)x[i];
}

static void check(const char *what, const double *got, const double *want, size_t n, double tol)
{
    printf("%-44s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(got, want, n), tol);
    tu_assert_close(what, got, want, n, tol);
}

/* Adam over `steps` steps, parameters in a view at element offset 37 of a
 * bigger buffer.  Compares the accumulated update p − p0, m and v. */
static void adam_case(double beta1, double gscale, int steps, uint64_t seed)
{
    const int64_t n = 1001, off = 37;
    const double lr = 0.0025, beta2 = 0.99, eps = 1e-8;
    tu_rng r;
    tu_seed(&r, seed);
    double *p = malloc(n * sizeof *p), *p0 = malloc(n * sizeof *p0), *g = malloc(n * sizeof *g);
    double *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v), *dref = malloc(n * sizeof *dref),
           *ddev = malloc(n * sizeof *ddev);
    tu_fill_normal(&r, p, n, 1.0);
    round_f32(p, n);
    memcpy(p0, p, n * sizeof *p);

    sv_ctx *ctx = tu_ctx();
    sv_tensor big, tp, tm, tv, tg;
    TU_OK(ctx, sv_tensor_newv(ctx, &big, 1, (int64_t)(n + 2 * off)));
    TU_OK(ctx, sv_tensor_fill(&big, 123.0f));
    int64_t sh[1] = {n};
    TU_OK(ctx, sv_tensor_view(&big, &tp, (size_t)off, 1, sh));
    {
        sv_tensor up = tu_upload(ctx, p, 1, sh);
        TU_OK(ctx, sv_tensor_copy(&tp, &up));
        sv_tensor_free(&up);
    }
    TU_OK(ctx, sv_tensor_zeros(ctx, &tm, 1, sh));
    TU_OK(ctx, sv_tensor_zeros(ctx, &tv, 1, sh));
    char what[96];
    for (int t = 1; t <= steps; t++) {
        tu_fill_normal(&r, g, n, gscale);
        round_f32(g, n);
        tg = tu_upload(ctx, g, 1, sh);
        TU_OK(ctx, sv_adam_step(ctx, &tp, &tg, &tm, &tv, (float)lr, (float)beta1, (float)beta2, (float)eps, t));
        /* the host loop uses the same float32 hyper-parameters */
        sv_ref_adam_step(p, g, m, v, n, (float)lr, (float)beta1, (float)beta2, (float)eps, t);
        double *pd = tu_download(&tp), *md = tu_download(&tm), *vd = tu_download(&tv);
        for (int64_t i = 0; i < n; i++) {
            dref[i] = p[i] - p0[i];
            ddev[i] = pd[i] - p0[i];
        }
        snprintf(what, sizeof what, "adam b1=%g g~%g step %d update", beta1, gscale, t);
        check(what, ddev, dref, (size_t)n, 1e-4);
        snprintf(what, sizeof what, "adam b1=%g g~%g step %d m", beta1, gscale, t);
        check(what, md, m, (size_t)n, 1e-6);
        snprintf(what, sizeof what, "adam b1=%g g~%g step %d v", beta1, gscale, t);
        check(what, vd, v, (size_t)n, 1e-6);
        if (beta1 == 0.0)
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(md[i] == g[i], "beta1 = 0: m must equal g exactly (%.9g vs %.9g)", md[i], g[i]);
        free(pd);
        free(md);
        free(vd);
        sv_tensor_free(&tg);
    }
    /* the guard elements around the view are untouched */
    double *all = tu_download(&big);
    for (int64_t i = 0; i < off; i++)
        ck_assert(all[i] == 123.0 && all[n + off + i] == 123.0);
    free(all);
    sv_tensor_free(&tp);
    sv_tensor_free(&big);
    sv_tensor_free(&tm);
    sv_tensor_free(&tv);
    sv_ctx_destroy(ctx);
    free(p);
    free(p0);
    free(g);
    free(m);
    free(v);
    free(dref);
    free(ddev);
}

START_TEST(t_adam_beta1_0) { adam_case(0.0, 1.0, 6, 41); }
END_TEST
START_TEST(t_adam_beta1_09) { adam_case(0.9, 1.0, 6, 42); }
END_TEST
/* gradients of the size of eps: the eps term matters */
START_TEST(t_adam_tiny_grads) { adam_case(0.9, 1e-8, 4, 43); }
END_TEST

START_TEST(t_adam_nan)
{
    sv_ctx *ctx = tu_ctx();
    double p[3] = {1, 2, 3}, g[3] = {0.5, NAN, -0.5};
    int64_t sh[1] = {3};
    sv_tensor tp = tu_upload(ctx, p, 1, sh), tg = tu_upload(ctx, g, 1, sh), tm, tv;
    TU_OK(ctx, sv_tensor_zeros(ctx, &tm, 1, sh));
    TU_OK(ctx, sv_tensor_zeros(ctx, &tv, 1, sh));
    TU_OK(ctx, sv_adam_step(ctx, &tp, &tg, &tm, &tv, 0.1f, 0.0f, 0.99f, 1e-8f, 1));
    double *pd = tu_download(&tp);
    ck_assert(isfinite(pd[0]) && isnan(pd[1]) && isfinite(pd[2]));
    /* first step with β1 = 0: update = lr·g/(|g| + eps') = ±lr */
    ck_assert(fabs(pd[0] - 0.9) < 1e-6 && fabs(pd[2] - 3.1) < 1e-6);
    free(pd);
    sv_tensor_free(&tp);
    sv_tensor_free(&tg);
    sv_tensor_free(&tm);
    sv_tensor_free(&tv);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_adam_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor a, b;
    TU_OK(ctx, sv_tensor_newv(ctx, &a, 1, (int64_t)10));
    TU_OK(ctx, sv_tensor_newv(ctx, &b, 2, (int64_t)3, (int64_t)3));
    ck_assert_int_eq(sv_adam_step(ctx, &a, &b, &a, &a, 0.1f, 0.0f, 0.99f, 1e-8f, 1), SV_ERR_INVALID);
    ck_assert_int_eq(sv_adam_step(ctx, &a, &a, &b, &a, 0.1f, 0.0f, 0.99f, 1e-8f, 1), SV_ERR_INVALID);
    ck_assert_int_eq(sv_adam_step(ctx, &a, &a, &a, &b, 0.1f, 0.0f, 0.99f, 1e-8f, 1), SV_ERR_INVALID);
    ck_assert_int_eq(sv_adam_step(ctx, &a, &a, &a, &a, 0.1f, 0.0f, 0.99f, 1e-8f, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_adam_step(ctx, &a, &a, &a, &a, 0.1f, 1.0f, 0.99f, 1e-8f, 1), SV_ERR_INVALID);
    ck_assert_int_eq(sv_ema_update(ctx, &a, &b, 0.5f), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "ema"));
    sv_tensor_free(&a);
    sv_tensor_free(&b);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_ema)
{
    const int64_t n = 777;
    const double beta = 0.999;
    tu_rng r;
    tu_seed(&r, 51);
    double *pe = malloc(n * sizeof *pe), *p = malloc(n * sizeof *p);
    tu_fill_normal(&r, pe, n, 1.0);
    round_f32(pe, n);
    sv_ctx *ctx = tu_ctx();
    int64_t sh[1] = {n};
    sv_tensor tpe = tu_upload(ctx, pe, 1, sh);
    char what[64];
    for (int t = 0; t < 5; t++) {
        tu_fill_normal(&r, p, n, 1.0);
        round_f32(p, n);
        sv_tensor tp = tu_upload(ctx, p, 1, sh);
        TU_OK(ctx, sv_ema_update(ctx, &tpe, &tp, (float)beta));
        sv_ref_ema_update(pe, p, n, (float)beta);
        double *d = tu_download(&tpe);
        snprintf(what, sizeof what, "ema step %d", t);
        check(what, d, pe, (size_t)n, 1e-6);
        free(d);
        sv_tensor_free(&tp);
    }
    /* β = 1: unchanged exactly; β = 0: copy exactly */
    double *before = tu_download(&tpe);
    sv_tensor tp = tu_upload(ctx, p, 1, sh);
    TU_OK(ctx, sv_ema_update(ctx, &tpe, &tp, 1.0f));
    double *after = tu_download(&tpe);
    ck_assert(memcmp(before, after, n * sizeof *after) == 0);
    free(after);
    TU_OK(ctx, sv_ema_update(ctx, &tpe, &tp, 0.0f));
    after = tu_download(&tpe);
    for (int64_t i = 0; i < n; i++)
        ck_assert(after[i] == (double)(float)p[i]);
    free(after);
    free(before);
    sv_tensor_free(&tp);
    sv_tensor_free(&tpe);
    sv_ctx_destroy(ctx);
    free(pe);
    free(p);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_adam_beta1_0);
    tcase_add_test(tc, t_adam_beta1_09);
    tcase_add_test(tc, t_adam_tiny_grads);
    tcase_add_test(tc, t_adam_nan);
    tcase_add_test(tc, t_adam_errors);
    tcase_add_test(tc, t_ema);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
