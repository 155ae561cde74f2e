/* bias_act and channel_sum: device vs float64 host reference, central
 * differences of the host reference, NaN propagation. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-6
#define TOL_BWD 1e-5

typedef struct {
    int64_t N, C, S;
    sv_bias_act_params p;
    const double *gy; /* fixed upstream gradient: loss = Σ gy·y */
    double *scratch;
} fd_ctx;

/* L(x, b) = Σ gy ⊙ bias_act(x, b); parameters packed as [x ; b]. */
static double loss_xb(const double *xb, void *u)
{
    fd_ctx *f = u;
    int64_t n = f->N * f->C * f->S;
    sv_ref_bias_act_fwd(xb, xb + n, f->N, f->C, f->S, &f->p, f->scratch);
    double L = 0;
    for (int64_t i = 0; i < n; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

static void run_case(int act, float clampv, float bias_gain, uint64_t seed)
{
    const int64_t N = 3, C = 5, S = 7, n = N * C * S;
    tu_rng r;
    tu_seed(&r, seed);
    double *xb = malloc((n + C) * sizeof *xb), *gy = malloc(n * sizeof *gy);
    double *y = malloc(n * sizeof *y), *gx = malloc(n * sizeof *gx), *gb = malloc(C * sizeof *gb);
    double *g = malloc((n + C) * sizeof *g), *sc = malloc(n * sizeof *sc);
    tu_fill_normal(&r, xb, n + C, 2.0);
    tu_fill_normal(&r, gy, n, 1.0);
    /* keep inputs away from the kinks (0 and ±clamp) so differences are smooth */
    for (int64_t i = 0; i < n; i++)
        if (fabs(xb[i]) < 0.05)
            xb[i] += 0.2;
    sv_bias_act_params p = sv_bias_act_default(act ? SV_ACT_LRELU : SV_ACT_LINEAR);
    p.clamp = clampv;
    p.bias_gain = bias_gain;

    sv_ref_bias_act_fwd(xb, xb + n, N, C, S, &p, y);
    sv_ref_bias_act_bwd(y, gy, N, C, S, &p, gx, gb);

    /* central differences of the host reference (x and b together) */
    for (int64_t i = 0; i < n; i++)
        g[i] = gx[i];
    for (int64_t c = 0; c < C; c++)
        g[n + c] = gb[c];
    fd_ctx f = {N, C, S, p, gy, sc};
    for (int64_t i = 0; i < n + C; i++) /* nudge off kinks after bias */
        (void)i;
    tu_gradcheck("bias_act ref", loss_xb, &f, xb, g, (size_t)(n + C), 6, 1e-6, 1e-6, seed + 1);

    /* device vs host */
    sv_ctx *ctx = tu_ctx();
    int64_t sh[3] = {N, C, S}, cs[1] = {C};
    sv_tensor tx = tu_upload(ctx, xb, 3, sh), tb = tu_upload(ctx, xb + n, 1, cs), tgy = tu_upload(ctx, gy, 3, sh);
    sv_tensor ty, tgx, tgb;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 3, sh));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 3, sh));
    TU_OK(ctx, sv_tensor_new(ctx, &tgb, 1, cs));
    TU_OK(ctx, sv_bias_act_fwd(ctx, &tx, &tb, &p, &ty));
    tu_assert_tensor("bias_act fwd", &ty, y, TOL_FWD);
    /* backward from the device's own y (mask), compared with the host's */
    TU_OK(ctx, sv_bias_act_bwd(ctx, &ty, &tgy, &p, &tgx, &tgb, 0));
    tu_assert_tensor("bias_act bwd gx", &tgx, gx, TOL_BWD);
    tu_assert_tensor("bias_act bwd gb", &tgb, gb, TOL_BWD);
    /* accumulate adds */
    TU_OK(ctx, sv_bias_act_bwd(ctx, &ty, &tgy, &p, &tgx, &tgb, 1));
    for (int64_t c = 0; c < C; c++)
        gb[c] *= 2;
    tu_assert_tensor("bias_act bwd gb accumulate", &tgb, gb, TOL_BWD);
    sv_tensor_free(&tx);
    sv_tensor_free(&tb);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_tensor_free(&tgb);
    sv_ctx_destroy(ctx);
    free(xb);
    free(gy);
    free(y);
    free(gx);
    free(gb);
    free(g);
    free(sc);
}

START_TEST(t_lrelu) { run_case(1, -1.0f, 1.0f, 11); }
END_TEST
START_TEST(t_lrelu_clamp) { run_case(1, 2.5f, 0.01f, 12); }
END_TEST
START_TEST(t_linear_clamp) { run_case(0, 1.5f, 1.0f, 13); }
END_TEST

START_TEST(t_nan_propagates)
{
    sv_ctx *ctx = tu_ctx();
    double x[4] = {NAN, 1.0, -1.0, INFINITY};
    int64_t sh[2] = {1, 4};
    sv_tensor tx = tu_upload(ctx, x, 2, sh), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, sh));
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LRELU);
    p.clamp = 256.0f;
    TU_OK(ctx, sv_bias_act_fwd(ctx, &tx, NULL, &p, &ty));
    double *y = tu_download(&ty);
    ck_assert_msg(isnan(y[0]), "NaN input must give NaN output (clamp must not hide it), got %g", y[0]);
    ck_assert(fabs(y[1] - sqrt(2.0)) < 1e-6);
    ck_assert(y[3] == 256.0);
    free(y);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_shape_mismatch)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, y;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 2, (int64_t)2, (int64_t)3));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 2, (int64_t)3, (int64_t)2));
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LINEAR);
    ck_assert_int_eq(sv_bias_act_fwd(ctx, &x, NULL, &p, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_channel_sum_large)
{
    /* more elements per channel than lanes, odd sizes */
    const int64_t N = 5, C = 3, S = 1001, n = N * C * S;
    tu_rng r;
    tu_seed(&r, 99);
    double *x = malloc(n * sizeof *x), want[3] = {0};
    tu_fill_normal(&r, x, n, 1.0);
    for (int64_t i = 0; i < n; i++)
        want[(i / S) % C] += 0.5 * x[i];
    sv_ctx *ctx = tu_ctx();
    int64_t sh[3] = {N, C, S}, cs[1] = {C};
    sv_tensor tx = tu_upload(ctx, x, 3, sh), to;
    TU_OK(ctx, sv_tensor_new(ctx, &to, 1, cs));
    TU_OK(ctx, sv_channel_sum(ctx, &tx, 0.5f, &to, 0));
    tu_assert_tensor("channel_sum", &to, want, 1e-5);
    sv_tensor_free(&tx);
    sv_tensor_free(&to);
    sv_ctx_destroy(ctx);
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bias_act");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_lrelu);
    tcase_add_test(tc, t_lrelu_clamp);
    tcase_add_test(tc, t_linear_clamp);
    tcase_add_test(tc, t_nan_propagates);
    tcase_add_test(tc, t_shape_mismatch);
    tcase_add_test(tc, t_channel_sum_large);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
