/* Both kernel forms (SVGAN_KERNEL_FORM=rows, the CPU default, and elem, the
 * GPU default) of upfirdn2d and bias_act (forward, backward, channel_sum)
 * against the float64 host references, at sizes that reach every branch of
 * the row kernels:
 * borders and interiors of upfirdn2d for all (up, down) phases, rows shorter
 * than the taps, bias_act planes longer than one row chunk (4096), and
 * channel sums whose planes do not line up with the SV_WG lanes.  The two
 * channel_sum forms must agree bit for bit (same lanes, same tree). */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 1e-6

static void set_form(const char *f) { ck_assert_int_eq(setenv("SVGAN_KERNEL_FORM", f, 1), 0); }

static const char *const FORMS[2] = {"rows", "elem"};

static void ufd_case(sv_ctx *ctx, int64_t N, int64_t C, int H, int W, const sv_upfirdn2d_params *p, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    int Ho = sv_upfirdn2d_out_size(H, p), Wo = sv_upfirdn2d_out_size(W, p);
    if (Ho < 1 || Wo < 1)
        return;
    size_t nx = (size_t)(N * C * H * W), ny = (size_t)(N * C * Ho * Wo);
    double *x = malloc(nx * sizeof *x), *gy = malloc(ny * sizeof *gy), *y = malloc(ny * sizeof *y);
    double *gx = malloc(nx * sizeof *gx), *gx0 = malloc(nx * sizeof *gx0);
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, gy, ny, 1.0);
    tu_fill_normal(&r, gx0, nx, 1.0);
    sv_ref_upfirdn2d_fwd(x, N, C, H, W, p, y);
    sv_ref_upfirdn2d_bwd(gy, N, C, H, W, p, gx);
    int64_t xs[4] = {N, C, H, W}, ys[4] = {N, C, Ho, Wo};
    char what[160];
    for (int f = 0; f < 2; f++) {
        set_form(FORMS[f]);
        sv_tensor tx = tu_upload(ctx, x, 4, xs), tgy = tu_upload(ctx, gy, 4, ys), ty;
        sv_tensor tgx = tu_upload(ctx, gx0, 4, xs);
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
        TU_OK(ctx, sv_upfirdn2d_fwd(ctx, &tx, p, &ty));
        snprintf(what, sizeof what, "%s upfirdn2d fwd up %d down %d pad %d taps %d %dx%d", FORMS[f], p->up, p->down,
                 p->pad0, p->ntaps, H, W);
        tu_assert_tensor(what, &ty, y, TOL);
        /* accumulate onto gx0, then overwrite */
        TU_OK(ctx, sv_upfirdn2d_bwd(ctx, &tgy, p, &tgx, 1));
        double *want = malloc(nx * sizeof *want);
        for (size_t i = 0; i < nx; i++)
            want[i] = gx0[i] + gx[i];
        snprintf(what, sizeof what, "%s upfirdn2d bwd+acc up %d down %d pad %d taps %d %dx%d", FORMS[f], p->up,
                 p->down, p->pad0, p->ntaps, H, W);
        tu_assert_tensor(what, &tgx, want, TOL);
        free(want);
        TU_OK(ctx, sv_upfirdn2d_bwd(ctx, &tgy, p, &tgx, 0));
        snprintf(what, sizeof what, "%s upfirdn2d bwd up %d down %d pad %d taps %d %dx%d", FORMS[f], p->up, p->down,
                 p->pad0, p->ntaps, H, W);
        tu_assert_tensor(what, &tgx, gx, TOL);
        sv_tensor_free(&tx);
        sv_tensor_free(&tgy);
        sv_tensor_free(&ty);
        sv_tensor_free(&tgx);
    }
    free(x);
    free(gy);
    free(y);
    free(gx);
    free(gx0);
}

START_TEST(t_upfirdn2d_forms)
{
    sv_ctx *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, 7);
    const sv_upfirdn2d_params presets[4] = {sv_upfirdn2d_blur_up_conv(), sv_upfirdn2d_upsample2(),
                                            sv_upfirdn2d_blur_down_conv(), sv_upfirdn2d_down2()};
    const int sizes[][2] = {{1, 1}, {2, 3}, {4, 4}, {5, 9}, {8, 17}, {33, 33}, {3, 70}};
    for (int i = 0; i < 4; i++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            ufd_case(ctx, 2, 3, sizes[s][0], sizes[s][1], &presets[i], 100 + 10 * (uint64_t)i + s);
    /* rows wider than the row kernels' buffer (256) take the per-element form */
    ufd_case(ctx, 1, 1, 3, 300, &presets[2], 200);
    ufd_case(ctx, 1, 1, 3, 300, &presets[3], 201);
    /* random asymmetric taps, other phases and tap counts */
    const int combos[][5] = {{2, 1, 2, 1, 4}, {1, 2, 1, 1, 4}, {2, 2, 1, 2, 5}, {3, 1, 2, 2, 3},
                             {1, 3, 0, 2, 5}, {2, 3, 3, 1, 6}, {1, 1, 0, 0, 1}, {1, 2, 5, 5, 2}};
    for (size_t c = 0; c < sizeof combos / sizeof combos[0]; c++) {
        sv_upfirdn2d_params p =
            tu_upfirdn2d_random(combos[c][0], combos[c][1], combos[c][2], combos[c][3], combos[c][4], &r);
        ufd_case(ctx, 1, 2, 7, 13, &p, 300 + c);
        ufd_case(ctx, 1, 1, 2, 41, &p, 400 + c);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

static void ba_case(sv_ctx *ctx, int64_t N, int64_t C, int64_t S, sv_act act, float clampv, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    size_t n = (size_t)(N * C * S);
    double *x = malloc(n * sizeof *x), *b = malloc((size_t)C * sizeof *b), *y = malloc(n * sizeof *y);
    double *gy = malloc(n * sizeof *gy), *gx = malloc(n * sizeof *gx), *gb = malloc((size_t)C * sizeof *gb);
    tu_fill_normal(&r, x, n, 1.0);
    tu_fill_normal(&r, b, (size_t)C, 1.0);
    tu_fill_normal(&r, gy, n, 1.0);
    sv_bias_act_params p = sv_bias_act_default(act);
    p.clamp = clampv;
    p.bias_gain = 0.5f;
    sv_ref_bias_act_fwd(x, b, N, C, S, &p, y);
    int64_t sh[3] = {N, C, S}, cs[1] = {C};
    float sums[2][64];
    ck_assert_int_le(C, 64);
    char what[128];
    for (int f = 0; f < 2; f++) {
        set_form(FORMS[f]);
        sv_tensor tx = tu_upload(ctx, x, 3, sh), tb = tu_upload(ctx, b, 1, cs), tgy = tu_upload(ctx, gy, 3, sh);
        sv_tensor ty, tgx, tgb;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 3, sh));
        TU_OK(ctx, sv_tensor_new(ctx, &tgx, 3, sh));
        TU_OK(ctx, sv_tensor_new(ctx, &tgb, 1, cs));
        TU_OK(ctx, sv_bias_act_fwd(ctx, &tx, &tb, &p, &ty));
        snprintf(what, sizeof what, "%s bias_act fwd %lldx%lldx%lld", FORMS[f], (long long)N, (long long)C,
                 (long long)S);
        tu_assert_tensor(what, &ty, y, TOL);
        /* backward from the device's y, compared with the host's from it */
        double *yd = tu_download(&ty);
        sv_ref_bias_act_bwd(yd, gy, N, C, S, &p, gx, gb);
        TU_OK(ctx, sv_bias_act_bwd(ctx, &ty, &tgy, &p, &tgx, &tgb, 0));
        snprintf(what, sizeof what, "%s bias_act bwd gx %lldx%lldx%lld", FORMS[f], (long long)N, (long long)C,
                 (long long)S);
        tu_assert_tensor(what, &tgx, gx, TOL);
        snprintf(what, sizeof what, "%s bias_act bwd gb %lldx%lldx%lld", FORMS[f], (long long)N, (long long)C,
                 (long long)S);
        tu_assert_tensor(what, &tgb, gb, 1e-5);
        TU_OK(ctx, sv_tensor_read(&tgb, sums[f], (size_t)C));
        /* no bias: the plain activation */
        TU_OK(ctx, sv_bias_act_fwd(ctx, &tx, NULL, &p, &ty));
        sv_ref_bias_act_fwd(x, NULL, N, C, S, &p, y);
        snprintf(what, sizeof what, "%s bias_act fwd (no bias) %lldx%lldx%lld", FORMS[f], (long long)N,
                 (long long)C, (long long)S);
        tu_assert_tensor(what, &ty, y, TOL);
        sv_ref_bias_act_fwd(x, b, N, C, S, &p, y);
        free(yd);
        sv_tensor_free(&tx);
        sv_tensor_free(&tb);
        sv_tensor_free(&tgy);
        sv_tensor_free(&ty);
        sv_tensor_free(&tgx);
        sv_tensor_free(&tgb);
    }
    ck_assert_msg(memcmp(sums[0], sums[1], (size_t)C * sizeof sums[0][0]) == 0,
                  "channel_sum rows and elem forms differ for %lldx%lldx%lld", (long long)N, (long long)C,
                  (long long)S);
    free(x);
    free(b);
    free(y);
    free(gy);
    free(gx);
    free(gb);
}

START_TEST(t_bias_act_forms)
{
    sv_ctx *ctx = tu_ctx();
    ba_case(ctx, 2, 3, 2 * 4096 + 37, SV_ACT_LRELU, 2.0f, 1); /* more than two row chunks */
    ba_case(ctx, 3, 5, 1001, SV_ACT_LRELU, -1.0f, 2);         /* planes straddle the lanes */
    ba_case(ctx, 4, 7, 1, SV_ACT_LINEAR, -1.0f, 3);           /* fc-like: one value per plane */
    ba_case(ctx, 5, 2, 64, SV_ACT_LINEAR, 0.5f, 4);
    ba_case(ctx, 2, 3, 4096, SV_ACT_LRELU, -1.0f, 5);         /* exactly one chunk */
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kernel_forms");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_upfirdn2d_forms);
    tcase_add_test(tc, t_bias_act_forms);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
