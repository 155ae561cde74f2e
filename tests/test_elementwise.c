/* elementwise: device vs float64 host references, central differences of the
 * host references for the differentiable ops (gradients from the documented
 * backward rules, computed on the device), reductions (odd sizes, more groups
 * than the stage-1 cap, determinism), NaN/Inf hygiene, layout ops, errors. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL_EW 1e-6  /* elementwise float32 vs float64 */
#define TOL_RED 1e-5 /* reductions */

static void round_f32(double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(float)x[i];
}

static double *rnd(tu_rng *r, int64_t n, double scale)
{
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    tu_fill_normal(r, x, (size_t)n, scale);
    round_f32(x, (size_t)n);
    return x;
}

static void check(const char *what, const sv_tensor *got, const double *want, double tol)
{
    double *g = tu_download(got);
    size_t n = (size_t)sv_numel(got);
    printf("%-40s rel L2 %.3g (tol %.0e)\n", what, tu_rel_l2(g, want, n), tol);
    tu_assert_close(what, g, want, n, tol);
    free(g);
}

/* Generic "L(p) = Σ gy · F(p)" for gradient checks: F writes ny outputs. */
typedef void (*ref_fn)(const double *p, void *u, double *y);
typedef struct {
    ref_fn F;
    void *u;
    const double *gy;
    int64_t ny;
    double *scratch;
} lin_loss;

static double lin_loss_eval(const double *p, void *v)
{
    lin_loss *l = v;
    l->F(p, l->u, l->scratch);
    double L = 0;
    for (int64_t i = 0; i < l->ny; i++)
        L += l->gy[i] * l->scratch[i];
    return L;
}

static void gradcheck(const char *what, ref_fn F, void *u, const double *p, const double *grad, int64_t np,
                      const double *gy, int64_t ny, double h, uint64_t seed)
{
    lin_loss l = {F, u, gy, ny, malloc((size_t)ny * sizeof(double))};
    tu_gradcheck(what, lin_loss_eval, &l, p, grad, (size_t)np, 6, h, 1e-6, seed);
    free(l.scratch);
}

/* ---------------------------------------------------------------- arithmetic */

typedef struct { int64_t n; } n_ctx;
static void mul_F(const double *p, void *u, double *y)
{
    int64_t n = ((n_ctx *)u)->n;
    for (int64_t i = 0; i < n; i++)
        y[i] = p[i] * p[n + i];
}

START_TEST(t_arith)
{
    const int64_t n = 1001;
    tu_rng r;
    tu_seed(&r, 61);
    double *a = rnd(&r, n, 1.0), *b = rnd(&r, n, 1.0), *t = malloc(n * sizeof *t), *want = malloc(n * sizeof *want);
    tu_fill_uniform(&r, t, n, 0.0, 1.0);
    round_f32(t, n);
    sv_ctx *ctx = tu_ctx();
    int64_t sh[1] = {n}, sh2[2] = {7, 143};
    sv_tensor ta = tu_upload(ctx, a, 1, sh), tb = tu_upload(ctx, b, 2, sh2), tt = tu_upload(ctx, t, 1, sh), ty;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 1, sh));

    TU_OK(ctx, sv_add(ctx, &ta, &tb, &ty));
    for (int64_t i = 0; i < n; i++)
        want[i] = a[i] + b[i];
    check("add", &ty, want, TOL_EW);
    TU_OK(ctx, sv_mul(ctx, &ta, &tb, &ty));
    for (int64_t i = 0; i < n; i++)
        want[i] = a[i] * b[i];
    check("mul", &ty, want, TOL_EW);
    /* y = 2.5·a − 0.5·y */
    TU_OK(ctx, sv_axpby(ctx, 2.5f, &ta, -0.5f, &ty));
    for (int64_t i = 0; i < n; i++)
        want[i] = 2.5 * a[i] - 0.5 * want[i];
    check("axpby", &ty, want, TOL_EW);
    TU_OK(ctx, sv_scale(ctx, &ty, -3.0f));
    for (int64_t i = 0; i < n; i++)
        want[i] *= -3.0;
    check("scale", &ty, want, TOL_EW);
    /* b = 0 does not read y, even when y holds NaN */
    TU_OK(ctx, sv_tensor_fill(&ty, NAN));
    TU_OK(ctx, sv_axpby(ctx, 0.25f, &ta, 0.0f, &ty));
    for (int64_t i = 0; i < n; i++)
        want[i] = 0.25 * a[i];
    check("axpby b=0 over NaN", &ty, want, TOL_EW);
    for (float s = 0.3f; s < 1.0f; s += 0.4f) { /* both branches of the lerp formula */
        TU_OK(ctx, sv_lerp(ctx, &ta, &tb, s, &ty));
        for (int64_t i = 0; i < n; i++)
            want[i] = a[i] + (double)s * (b[i] - a[i]);
        check(s < 0.5f ? "lerp t=0.3" : "lerp t=0.7", &ty, want, TOL_EW);
    }
    TU_OK(ctx, sv_lerp_t(ctx, &ta, &tb, &tt, &ty));
    for (int64_t i = 0; i < n; i++)
        want[i] = a[i] + t[i] * (b[i] - a[i]);
    check("lerp_t", &ty, want, TOL_EW);
    /* rowscale over 7 rows of 143 */
    {
        double s7[7];
        tu_fill_normal(&r, s7, 7, 1.0);
        round_f32(s7, 7);
        int64_t s1[1] = {7};
        sv_tensor ts = tu_upload(ctx, s7, 1, s1), tx2;
        TU_OK(ctx, sv_tensor_reshape(&ta, &tx2, 2, sh2));
        TU_OK(ctx, sv_rowscale(ctx, &tx2, &ts, -1.5f, &ty));
        for (int64_t i = 0; i < n; i++)
            want[i] = -1.5 * s7[i / 143] * a[i];
        check("rowscale", &ty, want, TOL_EW);
        sv_tensor_free(&ts);
        sv_tensor_free(&tx2);
    }
    /* mul backward = two muls; checked against central differences of Σ gy·(a⊙b) */
    {
        double *gy = rnd(&r, n, 1.0), *p = malloc(2 * n * sizeof *p), *grad;
        memcpy(p, a, n * sizeof *p);
        memcpy(p + n, b, n * sizeof *p);
        sv_tensor tgy = tu_upload(ctx, gy, 1, sh), tga, tgb;
        TU_OK(ctx, sv_tensor_new(ctx, &tga, 1, sh));
        TU_OK(ctx, sv_tensor_new(ctx, &tgb, 1, sh));
        TU_OK(ctx, sv_mul(ctx, &tgy, &tb, &tga)); /* ga = gy ⊙ b */
        TU_OK(ctx, sv_mul(ctx, &tgy, &ta, &tgb)); /* gb = gy ⊙ a */
        double *ga = tu_download(&tga), *gb = tu_download(&tgb);
        grad = malloc(2 * n * sizeof *grad);
        memcpy(grad, ga, n * sizeof *grad);
        memcpy(grad + n, gb, n * sizeof *grad);
        n_ctx u = {n};
        gradcheck("mul backward rule", mul_F, &u, p, grad, 2 * n, gy, n, 1e-4, 62);
        free(ga);
        free(gb);
        free(grad);
        free(p);
        free(gy);
        sv_tensor_free(&tgy);
        sv_tensor_free(&tga);
        sv_tensor_free(&tgb);
    }
    sv_tensor_free(&ta);
    sv_tensor_free(&tb);
    sv_tensor_free(&tt);
    sv_tensor_free(&ty);
    sv_ctx_destroy(ctx);
    free(a);
    free(b);
    free(t);
    free(want);
}
END_TEST

/* ---------------------------------------------------------------- softplus */

static void softplus_F(const double *p, void *u, double *y) { sv_ref_softplus_fwd(p, ((n_ctx *)u)->n, y); }

START_TEST(t_softplus)
{
    const int64_t n = 517;
    tu_rng r;
    tu_seed(&r, 71);
    double *x = rnd(&r, n, 6.0), *gy = rnd(&r, n, 1.0), *y = malloc(n * sizeof *y), *gx = malloc(n * sizeof *gx);
    /* extremes: no overflow, no cancellation */
    x[0] = 100.0;
    x[1] = -100.0;
    x[2] = 1e4;
    x[3] = -1e4;
    x[4] = 0.0;
    x[5] = -30.0;
    sv_ref_softplus_fwd(x, n, y);
    sv_ref_softplus_bwd(x, gy, n, gx);
    ck_assert(y[2] == 1e4 && y[3] == 0.0 && fabs(y[4] - log(2.0)) < 1e-15);
    ck_assert(fabs(y[5] - exp(-30.0)) < 1e-25); /* relative accuracy far in the tail */
    n_ctx u = {n};
    gradcheck("softplus ref", softplus_F, &u, x, gx, n, gy, n, 1e-4, 72);

    sv_ctx *ctx = tu_ctx();
    int64_t sh[1] = {n};
    sv_tensor tx = tu_upload(ctx, x, 1, sh), tgy = tu_upload(ctx, gy, 1, sh), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 1, sh));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 1, sh));
    TU_OK(ctx, sv_softplus_fwd(ctx, &tx, &ty));
    double *yd = tu_download(&ty);
    /* rel L2 over the ordinary values (the extremes would dominate it) */
    printf("%-40s rel L2 %.3g (tol %.0e)\n", "softplus fwd", tu_rel_l2(yd + 6, y + 6, n - 6), TOL_EW);
    tu_assert_close("softplus fwd", yd + 6, y + 6, n - 6, TOL_EW);
    ck_assert(fabs(yd[0] - 100.0) < 1e-5 && yd[1] < 1e-40 && yd[1] >= 0 && fabs(yd[4] - log(2.0)) < 1e-7);
    ck_assert(yd[2] == 1e4 && yd[3] == 0.0);
    ck_assert_msg(fabs(yd[5] - exp(-30.0)) < 1e-6 * exp(-30.0), "softplus(-30) = %g", yd[5]);
    free(yd);
    TU_OK(ctx, sv_softplus_bwd(ctx, &tx, &tgy, &tgx));
    check("softplus bwd", &tgx, gx, TOL_EW);
    TU_OK(ctx, sv_softplus_bwd(ctx, &tx, &tgy, &tgy)); /* gx aliasing gy */
    check("softplus bwd in place", &tgy, gx, TOL_EW);
    /* NaN in -> NaN out (forward and backward); ±Inf handled */
    {
        double v[4] = {NAN, INFINITY, -INFINITY, 1.0}, one[4] = {1, 1, 1, 1};
        int64_t s4[1] = {4};
        sv_tensor tv = tu_upload(ctx, v, 1, s4), to = tu_upload(ctx, one, 1, s4), tr;
        TU_OK(ctx, sv_tensor_new(ctx, &tr, 1, s4));
        TU_OK(ctx, sv_softplus_fwd(ctx, &tv, &tr));
        double *o = tu_download(&tr);
        ck_assert_msg(isnan(o[0]) && o[1] == INFINITY && o[2] == 0.0, "softplus(NaN, Inf, -Inf) = %g %g %g", o[0],
                      o[1], o[2]);
        free(o);
        TU_OK(ctx, sv_softplus_bwd(ctx, &tv, &to, &tr));
        o = tu_download(&tr);
        ck_assert_msg(isnan(o[0]) && o[1] == 1.0 && o[2] == 0.0, "sigmoid(NaN, Inf, -Inf) = %g %g %g", o[0], o[1],
                      o[2]);
        free(o);
        sv_tensor_free(&tv);
        sv_tensor_free(&to);
        sv_tensor_free(&tr);
    }
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(y);
    free(gx);
}
END_TEST

/* ---------------------------------------------------------------- reductions */

static void sum_case(sv_ctx *ctx, int64_t n, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    double *x = rnd(&r, n, 1.0);
    for (int64_t i = 0; i < n; i++)
        x[i] += 0.25; /* nonzero mean */
    x[0] = (double)(float)x[0];
    round_f32(x, n);
    int64_t sh[1] = {n}, s1[1] = {1};
    sv_tensor tx = tu_upload(ctx, x, 1, sh), to;
    TU_OK(ctx, sv_tensor_new(ctx, &to, 1, s1));
    TU_OK(ctx, sv_sum(ctx, &tx, 0.5f, &to, 0));
    double want = 0.5 * sv_ref_sum(x, n);
    char what[64];
    snprintf(what, sizeof what, "sum n=%lld", (long long)n);
    check(what, &to, &want, TOL_RED);
    double *first = tu_download(&to);
    TU_OK(ctx, sv_sum(ctx, &tx, 0.5f, &to, 0));
    double *again = tu_download(&to);
    ck_assert_msg(first[0] == again[0], "sum must be bit-reproducible");
    TU_OK(ctx, sv_sum(ctx, &tx, -2.0f, &to, 1)); /* accumulate */
    want = want - 2.0 * sv_ref_sum(x, n);
    snprintf(what, sizeof what, "sum n=%lld accumulate", (long long)n);
    check(what, &to, &want, TOL_RED);
    free(first);
    free(again);
    sv_tensor_free(&tx);
    sv_tensor_free(&to);
    free(x);
}

START_TEST(t_sum)
{
    sv_ctx *ctx = tu_ctx();
    sum_case(ctx, 1, 81);
    sum_case(ctx, 63, 82);
    sum_case(ctx, 1000, 83);
    sum_case(ctx, 100003, 84); /* > 256 groups · 64 lanes: grid-stride */
    sv_tensor x, o;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 1, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &o, 1, (int64_t)2));
    ck_assert_int_eq(sv_sum(ctx, &x, 1.0f, &o, 0), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&o);
    sv_ctx_destroy(ctx);
}
END_TEST

typedef struct { int64_t N, D; } nd_ctx;
static void rowsumsq_F(const double *p, void *u, double *y)
{
    nd_ctx *c = u;
    sv_ref_rowsumsq(p, c->N, c->D, y);
}

static void rowsumsq_case(sv_ctx *ctx, int ndim, const int64_t *shape, uint64_t seed)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    const int64_t N = shape[0], D = n / N;
    tu_rng r;
    tu_seed(&r, seed);
    double *x = rnd(&r, n, 1.0), *gout = rnd(&r, N, 1.0), *want = malloc(N * sizeof *want);
    sv_ref_rowsumsq(x, N, D, want);
    for (int64_t i = 0; i < N; i++)
        want[i] *= 0.5;
    int64_t sN[1] = {N};
    sv_tensor tx = tu_upload(ctx, x, ndim, shape), tg = tu_upload(ctx, gout, 1, sN), to, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &to, 1, sN));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, ndim, shape));
    TU_OK(ctx, sv_rowsumsq(ctx, &tx, 0.5f, &to, 0));
    char what[64];
    snprintf(what, sizeof what, "rowsumsq %lldx%lld", (long long)N, (long long)D);
    check(what, &to, want, TOL_RED);
    TU_OK(ctx, sv_rowsumsq(ctx, &tx, 0.5f, &to, 1));
    for (int64_t i = 0; i < N; i++)
        want[i] *= 2;
    check("rowsumsq accumulate", &to, want, TOL_RED);
    /* backward rule: gx = 2·alpha·gout[n]·x via rowscale; alpha = 1 here */
    TU_OK(ctx, sv_rowscale(ctx, &tx, &tg, 2.0f, &tgx));
    double *gx = tu_download(&tgx);
    nd_ctx u = {N, D};
    gradcheck("rowsumsq backward rule", rowsumsq_F, &u, x, gx, n, gout, N, 1e-4, seed + 1);
    free(gx);
    sv_tensor_free(&tx);
    sv_tensor_free(&tg);
    sv_tensor_free(&to);
    sv_tensor_free(&tgx);
    free(x);
    free(gout);
    free(want);
}

START_TEST(t_rowsumsq)
{
    sv_ctx *ctx = tu_ctx();
    int64_t s4[4] = {6, 3, 5, 7}, s2[2] = {3, 20011}, s1[2] = {5, 1};
    rowsumsq_case(ctx, 4, s4, 91);
    rowsumsq_case(ctx, 2, s2, 92);
    rowsumsq_case(ctx, 2, s1, 93);
    sv_tensor x, o;
    TU_OK(ctx, sv_tensor_newv(ctx, &x, 2, (int64_t)4, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &o, 1, (int64_t)5));
    ck_assert_int_eq(sv_rowsumsq(ctx, &x, 1.0f, &o, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_rowscale(ctx, &x, &o, 1.0f, &x), SV_ERR_INVALID);
    sv_tensor_free(&x);
    sv_tensor_free(&o);
    sv_ctx_destroy(ctx);
}
END_TEST

static void rowdot_F(const double *p, void *u, double *y)
{
    nd_ctx *c = u;
    sv_ref_rowdot(p, p + c->N * c->D, c->N, c->D, y);
}

START_TEST(t_rowdot)
{
    /* forward vs host, backward rule (two rowscales) vs central differences */
    const int64_t N = 5, D = 1031, n = N * D;
    tu_rng r;
    tu_seed(&r, 150);
    double *ab = rnd(&r, 2 * n, 1.0), *gy = rnd(&r, N, 1.0), *want = malloc(N * sizeof *want);
    sv_ref_rowdot(ab, ab + n, N, D, want);
    for (int64_t i = 0; i < N; i++)
        want[i] = 0.25 * want[i] + 1.0; /* alpha 0.25, accumulate onto ones */
    sv_ctx *ctx = tu_ctx();
    int64_t sh[2] = {N, D}, s1[1] = {N};
    sv_tensor ta = tu_upload(ctx, ab, 2, sh), tb = tu_upload(ctx, ab + n, 2, sh), tg = tu_upload(ctx, gy, 1, s1);
    sv_tensor to, tga, tgb;
    TU_OK(ctx, sv_tensor_new(ctx, &to, 1, s1));
    TU_OK(ctx, sv_tensor_fill(&to, 1.0f));
    TU_OK(ctx, sv_rowdot(ctx, &ta, &tb, 0.25f, &to, 1));
    check("rowdot", &to, want, 1e-5);
    TU_OK(ctx, sv_tensor_new(ctx, &tga, 2, sh));
    TU_OK(ctx, sv_tensor_new(ctx, &tgb, 2, sh));
    TU_OK(ctx, sv_rowscale(ctx, &tb, &tg, 1.0f, &tga));
    TU_OK(ctx, sv_rowscale(ctx, &ta, &tg, 1.0f, &tgb));
    double *g = malloc(2 * n * sizeof *g), *g1 = tu_download(&tga), *g2 = tu_download(&tgb);
    memcpy(g, g1, n * sizeof *g);
    memcpy(g + n, g2, n * sizeof *g);
    nd_ctx u = {N, D};
    gradcheck("rowdot backward = rowscale pair", rowdot_F, &u, ab, g, 2 * n, gy, N, 1e-3, 151);
    ck_assert_int_eq(sv_rowdot(ctx, &ta, &tg, 1.0f, &to, 0), SV_ERR_INVALID); /* shape mismatch */
    free(g);
    free(g1);
    free(g2);
    sv_tensor_free(&ta);
    sv_tensor_free(&tb);
    sv_tensor_free(&tg);
    sv_tensor_free(&to);
    sv_tensor_free(&tga);
    sv_tensor_free(&tgb);
    sv_ctx_destroy(ctx);
    free(ab);
    free(gy);
    free(want);
}
END_TEST

typedef struct { int64_t R, S, reps; } rep_ctx;
static void repeat_F(const double *p, void *u, double *y)
{
    rep_ctx *c = u;
    sv_ref_repeat_rows(p, c->R, c->S, c->reps, y);
}

START_TEST(t_repeat_rows)
{
    const int64_t cases[2][3] = {{1, 96 * 16, 12}, {4, 70, 3}}; /* broadcast const; per-video rows to frames */
    sv_ctx *ctx = tu_ctx();
    for (int c = 0; c < 2; c++) {
        int64_t R = cases[c][0], S = cases[c][1], reps = cases[c][2];
        tu_rng r;
        tu_seed(&r, 160 + (uint64_t)c);
        double *x = rnd(&r, R * S, 1.0), *gy = rnd(&r, R * reps * S, 1.0);
        double *y = malloc(R * reps * S * sizeof *y), *gx = malloc(R * S * sizeof *gx);
        sv_ref_repeat_rows(x, R, S, reps, y);
        sv_ref_repeat_rows_bwd(gy, R, S, reps, gx);
        rep_ctx u = {R, S, reps};
        gradcheck("repeat_rows ref backward", repeat_F, &u, x, gx, R * S, gy, R * reps * S, 1e-3, 162);
        int64_t sx[2] = {R, S}, sy[2] = {R * reps, S};
        sv_tensor tx = tu_upload(ctx, x, 2, sx), tgy = tu_upload(ctx, gy, 2, sy), ty, tgx;
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 2, sy));
        TU_OK(ctx, sv_tensor_new(ctx, &tgx, 2, sx));
        TU_OK(ctx, sv_repeat_rows(ctx, &tx, reps, &ty));
        check("repeat_rows", &ty, y, 0.0);
        TU_OK(ctx, sv_tensor_fill(&tgx, NAN));
        TU_OK(ctx, sv_repeat_rows_bwd(ctx, &tgy, reps, &tgx, 0));
        check("repeat_rows_bwd", &tgx, gx, 1e-6);
        TU_OK(ctx, sv_repeat_rows_bwd(ctx, &tgy, reps, &tgx, 1));
        for (int64_t i = 0; i < R * S; i++)
            gx[i] *= 2;
        check("repeat_rows_bwd accumulate", &tgx, gx, 1e-6);
        ck_assert_int_eq(sv_repeat_rows(ctx, &tx, reps + 1, &ty), SV_ERR_INVALID);
        sv_tensor_free(&tx);
        sv_tensor_free(&tgy);
        sv_tensor_free(&ty);
        sv_tensor_free(&tgx);
        free(x);
        free(gy);
        free(y);
        free(gx);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_nonfinite)
{
    const int64_t n = 50021;
    tu_rng r;
    tu_seed(&r, 101);
    double *x = rnd(&r, n, 10.0);
    int64_t bad[] = {0, 1, 63, 64, 16383, 16384, 30000, 50020};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        x[bad[i]] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
    sv_ctx *ctx = tu_ctx();
    int64_t sh[1] = {n};
    sv_tensor tx = tu_upload(ctx, x, 1, sh);
    int64_t cnt = -1;
    TU_OK(ctx, sv_count_nonfinite(ctx, &tx, &cnt));
    ck_assert_int_eq(cnt, (int64_t)(sizeof bad / sizeof bad[0]));
    TU_OK(ctx, sv_nan_to_num(ctx, &tx));
    TU_OK(ctx, sv_count_nonfinite(ctx, &tx, &cnt));
    ck_assert_int_eq(cnt, 0);
    sv_ref_nan_to_num(x, n);
    double *d = tu_download(&tx);
    ck_assert(d[0] == 0.0 && d[1] == 1e5 && d[63] == -1e5);
    ck_assert_msg(memcmp(d, x, n * sizeof *d) == 0, "nan_to_num must match the host exactly");
    free(d);
    /* a view with an offset, and an empty-ish small tensor */
    sv_tensor v;
    int64_t s3[1] = {3};
    TU_OK(ctx, sv_tensor_view(&tx, &v, 5, 1, s3));
    TU_OK(ctx, sv_tensor_fill(&v, NAN));
    TU_OK(ctx, sv_count_nonfinite(ctx, &tx, &cnt));
    ck_assert_int_eq(cnt, 3);
    TU_OK(ctx, sv_count_nonfinite(ctx, &v, &cnt));
    ck_assert_int_eq(cnt, 3);
    sv_tensor_free(&v);
    sv_tensor_free(&tx);
    sv_ctx_destroy(ctx);
    free(x);
}
END_TEST

/* ---------------------------------------------------------------- layout */

typedef struct {
    int n;
    int64_t N, S, C[3];
} cat_ctx;
static void concat_F(const double *p, void *u, double *y)
{
    cat_ctx *c = u;
    const double *xs[3];
    int64_t o = 0;
    for (int i = 0; i < c->n; i++) {
        xs[i] = p + o;
        o += c->N * c->C[i] * c->S;
    }
    sv_ref_concat1(c->n, xs, c->C, c->N, c->S, y);
}
typedef struct {
    int64_t N, C, S, c0, c1;
} slice_ctx;
static void slice_F(const double *p, void *u, double *y)
{
    slice_ctx *c = u;
    sv_ref_slice1(p, c->N, c->C, c->S, c->c0, c->c1, y);
}

static void concat_case(sv_ctx *ctx, int ndim, const int64_t *base, const int64_t *C, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    int64_t N = base[0], S = 1, Ct = C[0] + C[1] + C[2];
    for (int d = 2; d < ndim; d++)
        S *= base[d];
    int64_t nx = N * Ct * S;
    double *p = rnd(&r, nx, 1.0), *gy = rnd(&r, nx, 1.0), *y = malloc(nx * sizeof *y);
    const double *xs[3] = {p, p + N * C[0] * S, p + N * (C[0] + C[1]) * S};
    sv_ref_concat1(3, xs, C, N, S, y);
    sv_tensor tx[3], ty, tgy;
    int64_t sh[SV_MAX_DIMS];
    memcpy(sh, base, (size_t)ndim * sizeof *sh);
    for (int i = 0; i < 3; i++) {
        sh[1] = C[i];
        tx[i] = tu_upload(ctx, xs[i], ndim, sh);
    }
    sh[1] = Ct;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, ndim, sh));
    tgy = tu_upload(ctx, gy, ndim, sh);
    const sv_tensor *in[3] = {&tx[0], &tx[1], &tx[2]};
    TU_OK(ctx, sv_concat1(ctx, 3, in, &ty));
    check("concat1", &ty, y, 0.0);
    /* backward: gx_i = slice1(gy), checked by central differences of the host concat */
    double *grad = malloc(nx * sizeof *grad);
    int64_t c0 = 0, o = 0;
    for (int i = 0; i < 3; i++) {
        sv_tensor tg;
        sh[1] = C[i];
        TU_OK(ctx, sv_tensor_new(ctx, &tg, ndim, sh));
        TU_OK(ctx, sv_slice1(ctx, &tgy, c0, c0 + C[i], &tg, 0));
        double *g = tu_download(&tg);
        memcpy(grad + o, g, (size_t)(N * C[i] * S) * sizeof *grad);
        /* slice of the forward output gives the input back exactly */
        TU_OK(ctx, sv_slice1(ctx, &ty, c0, c0 + C[i], &tg, 0));
        check("slice1 of concat1", &tg, xs[i], 0.0);
        /* accumulate */
        TU_OK(ctx, sv_slice1(ctx, &ty, c0, c0 + C[i], &tg, 1));
        double *two = malloc((size_t)(N * C[i] * S) * sizeof *two);
        for (int64_t j = 0; j < N * C[i] * S; j++)
            two[j] = 2 * xs[i][j];
        check("slice1 accumulate", &tg, two, 0.0);
        free(two);
        free(g);
        sv_tensor_free(&tg);
        c0 += C[i];
        o += N * C[i] * S;
    }
    cat_ctx cu = {3, N, S, {C[0], C[1], C[2]}};
    gradcheck("concat1 backward = slice1", concat_F, &cu, p, grad, nx, gy, nx, 1e-3, seed + 1);
    /* slice backward: zero-padded concat of [0, gy_slice, 0] */
    {
        int64_t a0 = C[0], a1 = C[0] + C[1];
        int64_t ns = N * (a1 - a0) * S;
        sv_tensor tz0, tz1, tgs, tgx;
        sh[1] = a0;
        TU_OK(ctx, sv_tensor_zeros(ctx, &tz0, ndim, sh));
        sh[1] = Ct - a1;
        TU_OK(ctx, sv_tensor_zeros(ctx, &tz1, ndim, sh));
        sh[1] = a1 - a0;
        tgs = tu_upload(ctx, gy, ndim, sh); /* first ns values of gy as the slice's upstream gradient */
        sh[1] = Ct;
        TU_OK(ctx, sv_tensor_new(ctx, &tgx, ndim, sh));
        const sv_tensor *parts[3] = {&tz0, &tgs, &tz1};
        TU_OK(ctx, sv_concat1(ctx, 3, parts, &tgx));
        double *gx = tu_download(&tgx);
        slice_ctx su = {N, Ct, S, a0, a1};
        gradcheck("slice1 backward = padded concat1", slice_F, &su, y, gx, nx, gy, ns, 1e-3, seed + 2);
        free(gx);
        sv_tensor_free(&tz0);
        sv_tensor_free(&tz1);
        sv_tensor_free(&tgs);
        sv_tensor_free(&tgx);
    }
    for (int i = 0; i < 3; i++)
        sv_tensor_free(&tx[i]);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgy);
    free(p);
    free(gy);
    free(y);
    free(grad);
}

START_TEST(t_concat_slice)
{
    sv_ctx *ctx = tu_ctx();
    int64_t b4[4] = {2, 0, 4, 5}, C4[3] = {3, 1, 6};
    int64_t b2[2] = {3, 0}, C2[3] = {70, 5, 1}; /* FC-like [N, C], > one work-group */
    int64_t b3[3] = {5, 0, 33}, C3[3] = {2, 2, 3};
    concat_case(ctx, 4, b4, C4, 111);
    concat_case(ctx, 2, b2, C2, 112);
    concat_case(ctx, 3, b3, C3, 113);
    /* errors */
    sv_tensor a, b, y, ybad;
    TU_OK(ctx, sv_tensor_newv(ctx, &a, 3, (int64_t)2, (int64_t)3, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &b, 3, (int64_t)2, (int64_t)1, (int64_t)5));
    TU_OK(ctx, sv_tensor_newv(ctx, &y, 3, (int64_t)2, (int64_t)4, (int64_t)4));
    TU_OK(ctx, sv_tensor_newv(ctx, &ybad, 3, (int64_t)2, (int64_t)5, (int64_t)4));
    const sv_tensor *ab[2] = {&a, &b}, *aa[2] = {&a, &a};
    ck_assert_int_eq(sv_concat1(ctx, 2, ab, &y), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "concat1"));
    ck_assert_int_eq(sv_concat1(ctx, 2, aa, &ybad), SV_ERR_INVALID);
    ck_assert_int_eq(sv_slice1(ctx, &y, 1, 5, &a, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_slice1(ctx, &y, 0, 2, &a, 0), SV_ERR_INVALID);
    TU_OK(ctx, sv_slice1(ctx, &y, 1, 4, &a, 0));
    sv_tensor_free(&a);
    sv_tensor_free(&b);
    sv_tensor_free(&y);
    sv_tensor_free(&ybad);
    sv_ctx_destroy(ctx);
}
END_TEST

typedef struct { int64_t NC, HW; } bc_ctx;
static void bcast_F(const double *p, void *u, double *y)
{
    bc_ctx *c = u;
    sv_ref_broadcast_spatial(p, c->NC, c->HW, y);
}

START_TEST(t_broadcast_spatial)
{
    const int64_t N = 3, C = 5, H = 4, W = 17, NC = N * C, HW = H * W, ny = NC * HW;
    tu_rng r;
    tu_seed(&r, 121);
    double *x = rnd(&r, NC, 1.0), *gy = rnd(&r, ny, 1.0), *y = malloc(ny * sizeof *y), *gx = malloc(NC * sizeof *gx);
    sv_ref_broadcast_spatial(x, NC, HW, y);
    sv_ref_broadcast_spatial_bwd(gy, NC, HW, gx);
    bc_ctx u = {NC, HW};
    gradcheck("broadcast_spatial ref", bcast_F, &u, x, gx, NC, gy, ny, 1e-3, 122);
    sv_ctx *ctx = tu_ctx();
    int64_t sx[2] = {N, C}, sy[4] = {N, C, H, W};
    sv_tensor tx = tu_upload(ctx, x, 2, sx), tgy = tu_upload(ctx, gy, 4, sy), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 4, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 2, sx));
    TU_OK(ctx, sv_broadcast_spatial(ctx, &tx, &ty));
    check("broadcast_spatial", &ty, y, 0.0);
    TU_OK(ctx, sv_broadcast_spatial_bwd(ctx, &tgy, &tgx, 0));
    check("broadcast_spatial bwd", &tgx, gx, TOL_RED);
    TU_OK(ctx, sv_broadcast_spatial_bwd(ctx, &tgy, &tgx, 1));
    for (int64_t i = 0; i < NC; i++)
        gx[i] *= 2;
    check("broadcast_spatial bwd accumulate", &tgx, gx, TOL_RED);
    sv_tensor bad;
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 2, N, C + 1));
    ck_assert_int_eq(sv_broadcast_spatial(ctx, &bad, &ty), SV_ERR_INVALID);
    ck_assert_int_eq(sv_broadcast_spatial_bwd(ctx, &tgy, &bad, 0), SV_ERR_INVALID);
    ck_assert_int_eq(sv_broadcast_spatial(ctx, &tx, &tx), SV_ERR_INVALID);
    sv_tensor_free(&bad);
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(y);
    free(gx);
}
END_TEST

typedef struct { int64_t B, A, C; } tp_ctx;
static void transpose_F(const double *p, void *u, double *y)
{
    tp_ctx *c = u;
    sv_ref_transpose12(p, c->B, c->A, c->C, y);
}

START_TEST(t_swap_mid)
{
    /* [P, A, B, S] -> [P, B, A, S] for several shapes, its backward rule
     * (swap back), offsets and the overlap error */
    const int64_t shapes[3][4] = {{2, 5, 7, 3}, {1, 4, 6, 11}, {3, 1, 9, 2}};
    sv_ctx *ctx = tu_ctx();
    for (int c = 0; c < 3; c++) {
        int64_t P = shapes[c][0], A = shapes[c][1], B = shapes[c][2], S = shapes[c][3], n = P * A * B * S;
        tu_rng r;
        tu_seed(&r, 140 + (uint64_t)c);
        double *x = rnd(&r, n, 1.0), *y = malloc(n * sizeof *y), *back = malloc(n * sizeof *back);
        sv_ref_swap_mid(x, P, A, B, S, y);
        sv_ref_swap_mid(y, P, B, A, S, back);
        for (int64_t i = 0; i < n; i++)
            ck_assert(back[i] == x[i]);
        int64_t flat = n + 5, sh[1] = {n};
        double *pad = calloc((size_t)flat, sizeof *pad);
        memcpy(pad + 5, x, (size_t)n * sizeof *x);
        sv_tensor tbig = tu_upload(ctx, pad, 1, &flat), tx, ty, tz;
        TU_OK(ctx, sv_tensor_view(&tbig, &tx, 5, 1, sh)); /* input at an offset */
        TU_OK(ctx, sv_tensor_new(ctx, &ty, 1, sh));
        TU_OK(ctx, sv_tensor_new(ctx, &tz, 1, sh));
        TU_OK(ctx, sv_swap_mid(ctx, &tx, P, A, B, S, &ty));
        check("swap_mid", &ty, y, 0.0);
        TU_OK(ctx, sv_swap_mid(ctx, &ty, P, B, A, S, &tz));
        check("swap_mid back", &tz, x, 0.0);
        ck_assert_int_eq(sv_swap_mid(ctx, &tx, P, A, B, S + 1, &ty), SV_ERR_INVALID);
        ck_assert_int_eq(sv_swap_mid(ctx, &tx, 1, 1, 1, n, &tx), SV_ERR_INVALID); /* in place */
        sv_tensor_free(&tx);
        sv_tensor_free(&ty);
        sv_tensor_free(&tz);
        sv_tensor_free(&tbig);
        free(x);
        free(y);
        free(back);
        free(pad);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_transpose12)
{
    const int64_t B = 3, A = 70, C = 9, n = B * A * C;
    tu_rng r;
    tu_seed(&r, 131);
    double *x = rnd(&r, n, 1.0), *gy = rnd(&r, n, 1.0), *y = malloc(n * sizeof *y);
    sv_ref_transpose12(x, B, A, C, y);
    sv_ctx *ctx = tu_ctx();
    int64_t sx[3] = {B, A, C}, sy[3] = {B, C, A};
    sv_tensor tx = tu_upload(ctx, x, 3, sx), tgy = tu_upload(ctx, gy, 3, sy), ty, tgx;
    TU_OK(ctx, sv_tensor_new(ctx, &ty, 3, sy));
    TU_OK(ctx, sv_tensor_new(ctx, &tgx, 3, sx));
    TU_OK(ctx, sv_transpose12(ctx, &tx, &ty));
    check("transpose12", &ty, y, 0.0);
    TU_OK(ctx, sv_transpose12(ctx, &ty, &tgx)); /* round trip */
    check("transpose12 round trip", &tgx, x, 0.0);
    TU_OK(ctx, sv_transpose12(ctx, &tgy, &tgx)); /* backward rule */
    double *gx = tu_download(&tgx);
    tp_ctx u = {B, A, C};
    gradcheck("transpose12 backward = transpose back", transpose_F, &u, x, gx, n, gy, n, 1e-3, 132);
    ck_assert_int_eq(sv_transpose12(ctx, &tx, &tx), SV_ERR_INVALID);
    free(gx);
    sv_tensor_free(&tx);
    sv_tensor_free(&tgy);
    sv_tensor_free(&ty);
    sv_tensor_free(&tgx);
    sv_ctx_destroy(ctx);
    free(x);
    free(gy);
    free(y);
}
END_TEST

START_TEST(t_numel_mismatch)
{
    sv_ctx *ctx = tu_ctx();
    sv_tensor a, b;
    TU_OK(ctx, sv_tensor_newv(ctx, &a, 1, (int64_t)10));
    TU_OK(ctx, sv_tensor_newv(ctx, &b, 1, (int64_t)11));
    ck_assert_int_eq(sv_add(ctx, &a, &b, &a), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "add"));
    ck_assert_int_eq(sv_mul(ctx, &a, &a, &b), SV_ERR_INVALID);
    ck_assert_int_eq(sv_axpby(ctx, 1.0f, &a, 1.0f, &b), SV_ERR_INVALID);
    ck_assert_int_eq(sv_lerp(ctx, &a, &b, 0.5f, &a), SV_ERR_INVALID);
    ck_assert_int_eq(sv_lerp_t(ctx, &a, &a, &b, &a), SV_ERR_INVALID);
    ck_assert_int_eq(sv_softplus_fwd(ctx, &a, &b), SV_ERR_INVALID);
    ck_assert_int_eq(sv_softplus_bwd(ctx, &a, &a, &b), SV_ERR_INVALID);
    sv_tensor_free(&a);
    sv_tensor_free(&b);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_arith);
    tcase_add_test(tc, t_softplus);
    tcase_add_test(tc, t_sum);
    tcase_add_test(tc, t_rowsumsq);
    tcase_add_test(tc, t_nonfinite);
    tcase_add_test(tc, t_concat_slice);
    tcase_add_test(tc, t_broadcast_spatial);
    tcase_add_test(tc, t_transpose12);
    tcase_add_test(tc, t_swap_mid);
    tcase_add_test(tc, t_rowdot);
    tcase_add_test(tc, t_repeat_rows);
    tcase_add_test(tc, t_numel_mismatch);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
