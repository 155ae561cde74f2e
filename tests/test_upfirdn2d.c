/* upfirdn2d: device vs float64 host reference for several (up, down, pad,
 * ntaps) combinations and odd sizes, central differences of the host
 * reference, device backward vs host backward (overwrite and accumulate), the
 * four StyleGAN presets against direct implementations of the index formulas
 * of spec §1.4 (b)-(e), NaN propagation and bad shapes. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_FWD 1e-6
#define TOL_BWD 1e-6

typedef struct {
    int64_t N, C;
    int H, W;
    const sv_upfirdn2d_params *p;
    const double *gy;
    double *scratch;
    size_t ny;
} fd_ctx;

/* L(x) = Σ gy ⊙ upfirdn2d(x) */
static double loss_x(const double *x, void *u)
{
    fd_ctx *f = u;
    sv_ref_upfirdn2d_fwd(x, f->N, f->C, f->H, f->W, f->p, f->scratch);
    double L = 0;
    for (size_t i = 0; i < f->ny; i++)
        L += f->gy[i] * f->scratch[i];
    return L;
}

static void run_case(int64_t N, int64_t C, int H, int W, const sv_upfirdn2d_params *p, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    int Ho = sv_upfirdn2d_out_size(H, p), Wo = sv_upfirdn2d_out_size(W, p);
    ck_assert_msg(Ho > 0 && Wo > 0, "case has empty output");
    size_t nx = (size_t)(N * C * H * W), ny = (size_t)(N * C * Ho * Wo);
    double *x = malloc(nx * sizeof *x), *gy = malloc(ny * sizeof *gy), *y = malloc(ny * sizeof *y);
    double *gx = malloc(nx * sizeof *gx), *sc = malloc(ny * sizeof *sc), *gx2 = malloc(nx * sizeof *gx2);
    tu_fill_normal(&r, x, nx, 1.0);
    tu_fill_normal(&r, gy, ny, 1.0);
    sv_ref_upfirdn2d_fwd(x, N, C, H, W, p, y);
    sv_ref_upfirdn2d_bwd(gy, N, C, H, W, p, gx);

    /* adjoint identity <gy, A x> = <A^T gy, x> and central differences */
    fd_ctx f = {N, C, H, W, p, gy, sc, ny};
    tu_gradcheck("upfirdn2d ref bwd", loss_x, &f, x, gx, nx, 4, 1e-3, 1e-7, seed + 1);

    sv_ctx *ctx = tu_ctx();
    int64_t xs[4] = {N, C, H, W}, ys[4] = {N, C, Ho, Wo};
    sv_tensor tx = tu_upload(ctx, x, 4, xs), tgy = tu_upload(ctx, gy, 4, ys), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, xs));
    TU_OK(ctx, sv_upfirdn2d_fwd(ctx, &tx, p, &ty));
    tu_assert_tensor("upfirdn2d fwd", &ty, y, TOL_FWD);
    TU_OK(ctx, sv_upfirdn2d_bwd(ctx, &tgy, p, &tgx, 0));
    tu_assert_tensor("upfirdn2d bwd", &tgx, gx, TOL_BWD);
    /* accumulate: gx += A^T gy */
    TU_OK(ctx, sv_upfirdn2d_bwd(ctx, &tgy, p, &tgx, 1));
    for (size_t i = 0; i < nx; i++)
        gx2[i] = 2 * gx[i];
    tu_assert_tensor("upfirdn2d bwd accumulate", &tgx, gx2, TOL_BWD);
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(y);
    free(gx);
    free(gx2);
    free(sc);
}

START_TEST(t_combos)
{
    tu_rng r;
    tu_seed(&r, 5);
    struct { int up, down, pad0, pad1, ntaps, H, W; } cs[] = {
        {1, 1, 1, 1, 4, 13, 9},  {2, 1, 2, 1, 4, 7, 11},  {1, 2, 1, 1, 4, 14, 10}, {1, 1, 2, 2, 4, 9, 15},
        {3, 2, 0, 3, 5, 6, 5},   {2, 3, -1, 2, 3, 11, 8}, {1, 1, -2, -1, 1, 9, 7}, {2, 2, 4, 4, 8, 5, 9},
        {1, 3, 3, 0, 7, 17, 13}, {4, 1, 1, 2, 2, 3, 4},   {1, 1, 0, 0, 6, 40, 33},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        sv_upfirdn2d_params p =
            tu_upfirdn2d_random(cs[i].up, cs[i].down, cs[i].pad0, cs[i].pad1, cs[i].ntaps, &r);
        run_case(2, 3, cs[i].H, cs[i].W, &p, 100 + i);
    }
}
END_TEST

START_TEST(t_presets_random_inputs)
{
    sv_upfirdn2d_params ps[4] = {sv_upfirdn2d_blur_up_conv(), sv_upfirdn2d_upsample2(), sv_upfirdn2d_blur_down_conv(),
                                 sv_upfirdn2d_down2()};
    for (int i = 0; i < 4; i++)
        run_case(1, 5, 8 + (i == 0), 10, &ps[i], 200 + i);
}
END_TEST

/* Direct implementations of spec §1.4 (b) step 3, (c), (d) step 1, (e) on one plane. */
static double at(const double *x, int H, int W, int r, int c)
{
    return (r < 0 || r >= H || c < 0 || c >= W) ? 0.0 : x[r * W + c];
}

static void direct_formulas(int which, const double *x, int H, int W, double *y, int *Ho, int *Wo)
{
    static const double g[4] = {1 / 4., 3 / 4., 3 / 4., 1 / 4.}, h[4] = {1 / 8., 3 / 8., 3 / 8., 1 / 8.};
    if (which == 0) { /* (b) blur of the (2H+1)x(2W+1) full-conv output z; x plays z */
        *Ho = H - 1;
        *Wo = W - 1;
        for (int p = 0; p < *Ho; p++)
            for (int q = 0; q < *Wo; q++) {
                double a = 0;
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 4; k++)
                        a += g[j] * g[k] * at(x, H, W, p - 1 + j, q - 1 + k);
                y[p * *Wo + q] = a;
            }
    } else if (which == 1) { /* (c) */
        *Ho = 2 * H;
        *Wo = 2 * W;
        for (int p = 0; p < *Ho; p++)
            for (int q = 0; q < *Wo; q++) {
                double a = 0;
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 4; k++) {
                        int ur = p - 2 + j, uc = q - 2 + k;
                        if (ur >= 0 && uc >= 0 && ur % 2 == 0 && uc % 2 == 0)
                            a += g[j] * g[k] * at(x, H, W, ur / 2, uc / 2);
                    }
                y[p * *Wo + q] = a;
            }
    } else if (which == 2) { /* (d) */
        *Ho = H + 1;
        *Wo = W + 1;
        for (int p = 0; p < *Ho; p++)
            for (int q = 0; q < *Wo; q++) {
                double a = 0;
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 4; k++)
                        a += h[j] * h[k] * at(x, H, W, p - 2 + j, q - 2 + k);
                y[p * *Wo + q] = a;
            }
    } else { /* (e) */
        *Ho = H / 2;
        *Wo = W / 2;
        for (int p = 0; p < *Ho; p++)
            for (int q = 0; q < *Wo; q++) {
                double a = 0;
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 4; k++)
                        a += h[j] * h[k] * at(x, H, W, 2 * p - 1 + j, 2 * q - 1 + k);
                y[p * *Wo + q] = a;
            }
    }
}

START_TEST(t_presets_match_spec)
{
    sv_upfirdn2d_params ps[4] = {sv_upfirdn2d_blur_up_conv(), sv_upfirdn2d_upsample2(), sv_upfirdn2d_blur_down_conv(),
                                 sv_upfirdn2d_down2()};
    /* (b) acts on a (2h+1)-sized plane; the others on an even-sized image */
    const int Hs[4] = {2 * 6 + 1, 6, 8, 8}, Ws[4] = {2 * 5 + 1, 5, 12, 10};
    sv_ctx *ctx = tu_ctx();
    tu_rng r;
    tu_seed(&r, 31);
    for (int i = 0; i < 4; i++) {
        int H = Hs[i], W = Ws[i], Ho = 0, Wo = 0;
        double x[13 * 13], want[26 * 26], got[26 * 26];
        tu_fill_normal(&r, x, (size_t)(H * W), 1.0);
        direct_formulas(i, x, H, W, want, &Ho, &Wo);
        ck_assert_int_eq(sv_upfirdn2d_out_size(H, &ps[i]), Ho);
        ck_assert_int_eq(sv_upfirdn2d_out_size(W, &ps[i]), Wo);
        sv_ref_upfirdn2d_fwd(x, 1, 1, H, W, &ps[i], got);
        ck_assert_msg(tu_max_abs(got, want, (size_t)(Ho * Wo)) < 1e-14, "preset %d: host ref != spec formula", i);
        int64_t xs[4] = {1, 1, H, W}, ys[4] = {1, 1, Ho, Wo};
        sv_tensor tx = tu_upload(ctx, x, 4, xs), ty;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
        TU_OK(ctx, sv_upfirdn2d_fwd(ctx, &tx, &ps[i], &ty));
        tu_assert_tensor("preset device vs spec formula", &ty, want, TOL_FWD);
        sv_tensor_free(&tx);
        sv_tensor_free(&ty);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_nan_propagates)
{
    sv_ctx *ctx = tu_ctx();
    const int H = 6, W = 6;
    double x[36];
    for (int i = 0; i < 36; i++)
        x[i] = 1.0;
    x[2 * W + 3] = NAN;
    sv_upfirdn2d_params p = sv_upfirdn2d_upsample2();
    int64_t xs[4] = {1, 1, H, W}, ys[4] = {1, 1, 2 * H, 2 * W};
    sv_tensor tx = tu_upload(ctx, x, 4, xs), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, ys));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 4, xs));
    TU_OK(ctx, sv_upfirdn2d_fwd(ctx, &tx, &p, &ty));
    double *y = tu_download(&ty);
    /* u[4][6] is NaN; y[p][q] uses u[p-2+j][q-2+k], j,k in 0..3 */
    ck_assert_msg(isnan(y[4 * 2 * W + 6]), "NaN input must reach the output");
    ck_assert_msg(isnan(y[3 * 2 * W + 5]), "NaN input must reach the output");
    ck_assert_msg(!isnan(y[0]) && fabs(y[0] - 9.0 / 16) < 1e-6, "far output is finite, got %g", y[0]);
    /* backward: NaN gradient in reaches gx */
    TU_OK(ctx, sv_upfirdn2d_bwd(ctx, &ty, &p, &tgx, 0));
    double *gx = tu_download(&tgx);
    ck_assert_msg(isnan(gx[2 * W + 3]), "NaN gradient must propagate");
    free(y);
    free(gx);
    sv_tensor_free(&tx);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_bad_shapes)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor x, y, y3, tiny;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 4, (int64_t)1, (int64_t)2, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 4, (int64_t)1, (int64_t)2, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &y3, 3, (int64_t)2, (int64_t)8, (int64_t)8));
    TU_OK(ctx, sv_tensor_newv(ctx, &tiny, 4, (int64_t)1, (int64_t)1, (int64_t)1, (int64_t)1));
    sv_upfirdn2d_params p = sv_upfirdn2d_down2(); /* 8 -> 4, so y [.., 8, 8] is wrong */
    ck_assert_int_eq(sv_upfirdn2d_fwd(ctx, &x, &p, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "expected shape"));
    ck_assert_int_eq(sv_upfirdn2d_bwd(ctx, &y, &p, &x, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_upfirdn2d_fwd(ctx, &y3, &p, &y), SV_ERR_INVALID);
    p.ntaps = SV_UPFIRDN_MAX_TAPS + 1;
    ck_assert_int_eq(sv_upfirdn2d_fwd(ctx, &x, &p, &y), SV_ERR_INVALID);
    p = sv_upfirdn2d_blur_up_conv();
    p.up = 0;
    ck_assert_int_eq(sv_upfirdn2d_fwd(ctx, &x, &p, &y), SV_ERR_INVALID);
    p = sv_upfirdn2d_down2(); /* 1x1 input: 1 + 2 - 4 < 0 -> empty output */
    ck_assert_int_eq(sv_upfirdn2d_out_size(1, &p), 0);
    ck_assert_int_eq(sv_upfirdn2d_fwd(ctx, &tiny, &p, &y), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    sv_tensor_free(&y3);
    sv_tensor_free(&tiny);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("upfirdn2d");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_combos);
    tcase_add_test(tc, t_presets_random_inputs);
    tcase_add_test(tc, t_presets_match_spec);
    tcase_add_test(tc, t_nan_propagates);
    tcase_add_test(tc, t_bad_shapes);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
