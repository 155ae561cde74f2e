/* FVD metric: protocols, quantisation, float64 statistics, the Fréchet distance (eigen and gram
 * routes against closed forms and an independent Denman–Beavers sqrtm of Σ1Σ2, as scipy's sqrtm is
 * used by StyleGAN-V), rank-deficient inputs, the real-statistics cache.  Host only. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svgan/fvd.h"
#include "svgan/video.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------------------------------- */

/* n×D features: x = c + L·g with g ~ N(0, I_k) (rank ≤ k), plus per-dimension offset c. */
static float *make_feats(uint64_t seed, int64_t n, int D, int k, double offset, double scale)
{
    tu_rng r;
    tu_seed(&r, seed);
    double *L = malloc((size_t)D * k * sizeof *L), *g = malloc((size_t)k * sizeof *g);
    tu_fill_normal(&r, L, (size_t)D * k, scale);
    float *x = malloc((size_t)n * D * sizeof *x);
    for (int64_t i = 0; i < n; i++) {
        tu_fill_normal(&r, g, (size_t)k, 1.0);
        for (int j = 0; j < D; j++) {
            double v = offset + 0.1 * j;
            for (int q = 0; q < k; q++)
                v += L[j * k + q] * g[q];
            x[i * D + j] = (float)v;
        }
    }
    free(L);
    free(g);
    return x;
}

static sv_fvd_stats *stats_of(const float *x, int64_t n, int D, int keep)
{
    sv_fvd_stats *s = NULL;
    sv_err e = {0};
    ck_assert_msg(sv_fvd_stats_new(D, keep, &s, &e) == 0, "%s", e.msg);
    ck_assert_msg(sv_fvd_stats_add(s, x, n, NULL, NULL, &e) == 0, "%s", e.msg);
    return s;
}

static double fd_of(const sv_fvd_stats *a, const sv_fvd_stats *b, int unbiased, sv_fd_route route, sv_fd_result *res)
{
    sv_fd_result r;
    sv_err e = {0};
    int rc = sv_fvd_distance(a, b, unbiased, route, &r, &e);
    ck_assert_msg(rc == 0, "sv_fvd_distance(%s): %s", sv_fd_route_name(route), e.msg);
    ck_assert(isfinite(r.fd) && r.fd >= 0);
    if (res)
        *res = r;
    return r.fd;
}

/* Two-pass float64 mean and covariance of float features. */
static void ref_moments(const float *x, int64_t n, int D, int unbiased, double *mu, double *cov)
{
    for (int j = 0; j < D; j++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            s += x[i * D + j];
        mu[j] = s / (double)n;
    }
    for (int a = 0; a < D; a++)
        for (int b = 0; b < D; b++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++)
                s += ((double)x[i * D + a] - mu[a]) * ((double)x[i * D + b] - mu[b]);
            cov[a * D + b] = s / (double)(unbiased ? n - 1 : n);
        }
}

/* Small dense helpers for the independent reference (general, non-symmetric). */
static void matmul(int D, const double *A, const double *B, double *C)
{
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int k = 0; k < D; k++)
                s += A[i * D + k] * B[k * D + j];
            C[i * D + j] = s;
        }
}

static void inverse(int D, const double *A, double *Inv)
{
    double *M = malloc((size_t)D * 2 * D * sizeof *M);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < 2 * D; j++)
            M[i * 2 * D + j] = j < D ? A[i * D + j] : (j - D == i);
    for (int c = 0; c < D; c++) {
        int p = c;
        for (int i = c + 1; i < D; i++)
            if (fabs(M[i * 2 * D + c]) > fabs(M[p * 2 * D + c]))
                p = i;
        for (int j = 0; j < 2 * D; j++) {
            double t = M[c * 2 * D + j];
            M[c * 2 * D + j] = M[p * 2 * D + j];
            M[p * 2 * D + j] = t;
        }
        double piv = M[c * 2 * D + c];
        for (int j = 0; j < 2 * D; j++)
            M[c * 2 * D + j] /= piv;
        for (int i = 0; i < D; i++)
            if (i != c) {
                double f = M[i * 2 * D + c];
                for (int j = 0; j < 2 * D; j++)
                    M[i * 2 * D + j] -= f * M[c * 2 * D + j];
            }
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++)
            Inv[i * D + j] = M[i * 2 * D + D + j];
    free(M);
}

/* tr sqrtm(A) by the Denman–Beavers iteration (A with positive real eigenvalues). */
static double trace_sqrtm_db(int D, const double *A)
{
    size_t DD = (size_t)D * D;
    double *Y = malloc(DD * sizeof *Y), *Z = calloc(DD, sizeof *Z), *Yi = malloc(DD * sizeof *Yi),
           *Zi = malloc(DD * sizeof *Zi);
    memcpy(Y, A, DD * sizeof *Y);
    for (int i = 0; i < D; i++)
        Z[i * D + i] = 1;
    for (int it = 0; it < 60; it++) {
        inverse(D, Y, Yi);
        inverse(D, Z, Zi);
        for (size_t i = 0; i < DD; i++) {
            Y[i] = 0.5 * (Y[i] + Zi[i]);
            Z[i] = 0.5 * (Z[i] + Yi[i]);
        }
    }
    double t = 0;
    for (int i = 0; i < D; i++)
        t += Y[i * D + i];
    free(Y);
    free(Z);
    free(Yi);
    free(Zi);
    return t;
}

/* ---- tests ---------------------------------------------------------------------------------------- */

START_TEST(t_protocols)
{
    sv_fvd_protocol p;
    sv_err e = {0};
    ck_assert_int_eq(sv_fvd_protocol_get("fvd2048_16f", &p, &e), 0);
    ck_assert(p.num_videos == 2048 && p.frames == 16 && p.stride == 1 && !strcmp(p.name, "fvd2048_16f"));
    ck_assert_int_eq(sv_fvd_min_video_frames(&p), 16);
    ck_assert_int_eq(sv_fvd_protocol_get("fvd2048_128f", &p, &e), 0);
    ck_assert(p.num_videos == 2048 && p.frames == 128 && p.stride == 1);
    ck_assert_int_eq(sv_fvd_protocol_get("fvd2048_128f_subsample8f", &p, &e), 0);
    ck_assert(p.num_videos == 2048 && p.frames == 16 && p.stride == 8);
    ck_assert_int_eq(sv_fvd_min_video_frames(&p), 128);
    ck_assert_int_eq(sv_fvd_protocol_get("fvd16", &p, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "fvd16") && strstr(e.msg, "fvd2048_128f_subsample8f") && !strchr(e.msg, '\n'),
                  "%s", e.msg);
    const char *const *names = sv_fvd_protocol_names();
    int n = 0;
    while (names[n])
        n++;
    ck_assert_int_eq(n, 3);
}
END_TEST

START_TEST(t_quantize)
{
    /* official: uint8(clamp(x*127.5 + 128, 0, 255)), float32, truncating */
    const float x[] = {-1.0f, 1.0f, 0.0f, -1.5f, 2.0f, 0.99f, -0.5f / 127.5f, 0.5f, -0.9999f, 1e30f, -1e30f};
    const uint8_t want[] = {0, 255, 128, 0, 255, 254, 127, 191, 0, 255, 0};
    uint8_t out[sizeof x / sizeof x[0]];
    sv_err e = {0};
    ck_assert_int_eq(sv_fvd_quantize(x, sizeof x / sizeof x[0], out, &e), 0);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        ck_assert_msg(out[i] == want[i], "x = %g: %d, want %d", x[i], out[i], want[i]);
    /* exhaustive agreement with the float32 formula on a grid, and monotonicity */
    tu_rng r;
    tu_seed(&r, 5);
    for (int i = 0; i < 100000; i++) {
        float v = (float)(tu_uniform(&r) * 2.2 - 1.1);
        uint8_t q;
        ck_assert_int_eq(sv_fvd_quantize(&v, 1, &q, &e), 0);
        double ref = floor((double)(float)((float)(v * 127.5f) + 128.0f));
        ref = ref < 0 ? 0 : ref > 255 ? 255 : ref;
        ck_assert_msg(q == (uint8_t)ref, "x = %.9g: %d, want %g", v, q, ref);
    }
    const float bad[] = {0.5f, NAN};
    ck_assert_int_eq(sv_fvd_quantize(bad, 2, out, &e), SV_ERR_NUMERIC);
    ck_assert_msg(strstr(e.msg, "NaN") && strstr(e.msg, " 1 "), "%s", e.msg);
}
END_TEST

START_TEST(t_stats_moments)
{
    enum { N = 301, D = 9 };
    /* offset 1e3 on logits of scale ~1: cancellation in naive float64 Σxxᵀ/N − μμᵀ is ~1e-10 relative */
    float *x = make_feats(11, N, D, D, 1000.0, 1.0);
    sv_fvd_stats *s = stats_of(x, N, D, 1);
    ck_assert_int_eq(sv_fvd_stats_count(s), N);
    ck_assert_int_eq(sv_fvd_stats_dim(s), D);
    double mu[D], cov[D * D], rmu[D], rcov[D * D];
    sv_err e = {0};
    for (int unb = 0; unb < 2; unb++) {
        ck_assert_int_eq(sv_fvd_stats_moments(s, unb, mu, cov, &e), 0);
        ref_moments(x, N, D, unb, rmu, rcov);
        tu_assert_close("mu", mu, rmu, D, 1e-14);
        tu_assert_close(unb ? "cov unbiased" : "cov biased", cov, rcov, D * D, 1e-12);
        for (int i = 0; i < D; i++)
            for (int j = 0; j < D; j++)
                ck_assert(cov[i * D + j] == cov[j * D + i]);
    }
    /* features are kept bit-exactly; provenance defaults to -1 */
    ck_assert(!memcmp(sv_fvd_stats_features(s), x, sizeof(float) * N * D));
    ck_assert(sv_fvd_stats_videos(s)[0] == -1 && sv_fvd_stats_offsets(s)[N - 1] == -1);
    /* adding in pieces gives the same numbers */
    sv_fvd_stats *p = NULL;
    ck_assert_int_eq(sv_fvd_stats_new(D, 0, &p, &e), 0);
    ck_assert_int_eq(sv_fvd_stats_add(p, x, 100, NULL, NULL, &e), 0);
    ck_assert_int_eq(sv_fvd_stats_add(p, x + 100 * D, N - 100, NULL, NULL, &e), 0);
    double mu2[D], cov2[D * D];
    ck_assert_int_eq(sv_fvd_stats_moments(p, 0, mu2, cov2, &e), 0);
    ck_assert_int_eq(sv_fvd_stats_moments(s, 0, mu, cov, &e), 0);
    ck_assert(!memcmp(mu, mu2, sizeof mu) && !memcmp(cov, cov2, sizeof cov));
    ck_assert(sv_fvd_stats_features(p) == NULL);
    /* a non-finite feature is refused and nothing of that batch is added */
    x[3 * D + 4] = NAN;
    ck_assert_int_eq(sv_fvd_stats_add(p, x, 5, NULL, NULL, &e), SV_ERR_NUMERIC);
    ck_assert_msg(strstr(e.msg, "NaN") && strstr(e.msg, "feature 4"), "%s", e.msg);
    ck_assert_int_eq(sv_fvd_stats_count(p), N);
    x[3 * D + 4] = INFINITY;
    ck_assert_int_eq(sv_fvd_stats_add(p, x, 5, NULL, NULL, &e), SV_ERR_NUMERIC);
    /* unbiased with one clip, empty statistics */
    sv_fvd_stats *one = stats_of(x, 1, D, 0);
    ck_assert_int_eq(sv_fvd_stats_moments(one, 1, mu, cov, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fvd_stats_moments(one, 0, mu, cov, &e), 0);
    for (int i = 0; i < D * D; i++)
        ck_assert(cov[i] == 0);
    sv_fvd_stats *empty = NULL;
    ck_assert_int_eq(sv_fvd_stats_new(D, 0, &empty, &e), 0);
    ck_assert_int_eq(sv_fvd_stats_moments(empty, 0, mu, cov, &e), SV_ERR_INVALID);
    sv_fvd_stats_free(empty);
    ck_assert_int_eq(sv_fvd_stats_new(0, 0, &empty, &e), SV_ERR_INVALID);
    ck_assert(empty == NULL);
    sv_fvd_stats_free(s);
    sv_fvd_stats_free(p);
    sv_fvd_stats_free(one);
    free(x);
}
END_TEST

/* FD(X, X) = 0 and symmetry, full rank (eigen) and N < D (both routes). */
START_TEST(t_fd_self_and_symmetry)
{
    struct { int n, D, k; } cases[] = {{200, 40, 40}, {30, 64, 64}, {500, 400, 400}, {36, 400, 400}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n = cases[c].n, D = cases[c].D;
        float *x = make_feats(100 + c, n, D, cases[c].k, 3.0, 2.0);
        float *y = make_feats(200 + c, n + 7, D, cases[c].k, 3.5, 1.5);
        sv_fvd_stats *X = stats_of(x, n, D, 1), *Y = stats_of(y, n + 7, D, 1);
        sv_fd_result r;
        for (int route = SV_FD_EIGEN; route <= SV_FD_GRAM; route++) {
            if (route == SV_FD_GRAM && n > 200)
                continue; /* gram at N ≥ D is covered by t_fd_routes_agree */
            double self = fd_of(X, X, 0, route, &r);
            ck_assert_msg(self <= 1e-9 * r.trace1, "case %zu %s: FD(X,X) = %g (tr Σ = %g, raw %g)", c,
                          sv_fd_route_name(route), self, r.trace1, r.raw);
            double xy = fd_of(X, Y, 0, route, NULL), yx = fd_of(Y, X, 0, route, NULL);
            ck_assert_msg(fabs(xy - yx) <= 1e-9 * xy, "case %zu %s: FD(X,Y) %.17g != FD(Y,X) %.17g", c,
                          sv_fd_route_name(route), xy, yx);
            ck_assert(xy > 0);
        }
        sv_fvd_stats_free(X);
        sv_fvd_stats_free(Y);
        free(x);
        free(y);
    }
}
END_TEST

/* Diagonal Gaussians: Σ(μ1−μ2)² + Σ(σ1 + σ2 − 2√(σ1σ2)), also after a common random rotation, and
 * a non-commuting 2×2 pair against tr√M = √(tr M + 2√det M). */
START_TEST(t_fd_closed_forms)
{
    enum { D = 50 };
    tu_rng r;
    tu_seed(&r, 7);
    double mu1[D], mu2[D], s1[D], s2[D];
    static double c1[D * D], c2[D * D], Q[D * D], t1[D * D], t2[D * D];
    tu_fill_normal(&r, mu1, D, 1.0);
    tu_fill_normal(&r, mu2, D, 1.0);
    tu_fill_uniform(&r, s1, D, 0.0, 3.0);
    tu_fill_uniform(&r, s2, D, 0.0, 3.0);
    s1[3] = 0;       /* singular */
    s2[7] = s1[7] = 0;
    double want = 0;
    memset(c1, 0, sizeof c1);
    memset(c2, 0, sizeof c2);
    for (int i = 0; i < D; i++) {
        want += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + s1[i] + s2[i] - 2 * sqrt(s1[i] * s2[i]);
        c1[i * D + i] = s1[i];
        c2[i * D + i] = s2[i];
    }
    sv_fd_result res;
    sv_err e = {0};
    ck_assert_msg(sv_frechet_moments(D, mu1, c1, mu2, c2, &res, &e) == 0, "%s", e.msg);
    ck_assert_msg(fabs(res.fd - want) <= 1e-11 * want, "diagonal: %.17g want %.17g", res.fd, want);
    ck_assert(res.route == SV_FD_EIGEN);
    /* random orthogonal Q (Gram-Schmidt): Σ → QΣQᵀ for both leaves FD unchanged */
    tu_fill_normal(&r, Q, D * D, 1.0);
    for (int i = 0; i < D; i++) {
        for (int k = 0; k < i; k++) {
            double d = 0;
            for (int j = 0; j < D; j++)
                d += Q[i * D + j] * Q[k * D + j];
            for (int j = 0; j < D; j++)
                Q[i * D + j] -= d * Q[k * D + j];
        }
        double nr = 0;
        for (int j = 0; j < D; j++)
            nr += Q[i * D + j] * Q[i * D + j];
        for (int j = 0; j < D; j++)
            Q[i * D + j] /= sqrt(nr);
    }
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double a = 0, b = 0;
            for (int k = 0; k < D; k++) {
                a += Q[k * D + i] * s1[k] * Q[k * D + j];
                b += Q[k * D + i] * s2[k] * Q[k * D + j];
            }
            t1[i * D + j] = a;
            t2[i * D + j] = b;
        }
    ck_assert_msg(sv_frechet_moments(D, mu1, t1, mu2, t2, &res, &e) == 0, "%s", e.msg);
    ck_assert_msg(fabs(res.fd - want) <= 1e-9 * want, "rotated diagonal: %.17g want %.17g", res.fd, want);
    /* 2×2, non-commuting */
    const double a[4] = {2.0, 0.7, 0.7, 1.0}, b[4] = {0.5, -0.3, -0.3, 3.0}, m1[2] = {0.1, -0.2}, m2[2] = {0.4, 0.1};
    double M[4];
    matmul(2, a, b, M);
    double trM = M[0] + M[3], detM = M[0] * M[3] - M[1] * M[2];
    double w2 = 0.09 + 0.09 + a[0] + a[3] + b[0] + b[3] - 2 * sqrt(trM + 2 * sqrt(detM));
    ck_assert_int_eq(sv_frechet_moments(2, m1, a, m2, b, &res, &e), 0);
    ck_assert_msg(fabs(res.fd - w2) <= 1e-13 * w2, "2x2: %.17g want %.17g", res.fd, w2);
    ck_assert_int_eq(sv_frechet_moments(2, m2, b, m1, a, &res, &e), 0);
    ck_assert_msg(fabs(res.fd - w2) <= 1e-13 * w2, "2x2 swapped: %.17g want %.17g", res.fd, w2);
}
END_TEST

/* Against tr sqrtm(Σ1Σ2) of the non-symmetric product (what scipy does), by Denman–Beavers. */
START_TEST(t_fd_vs_sqrtm_product)
{
    enum { D = 12, N = 80 };
    float *x = make_feats(31, N, D, D, 0.0, 1.0), *y = make_feats(32, N, D, D, 0.5, 0.8);
    sv_fvd_stats *X = stats_of(x, N, D, 1), *Y = stats_of(y, N, D, 1);
    double mu1[D], mu2[D], c1[D * D], c2[D * D], P[D * D];
    sv_err e = {0};
    ck_assert_int_eq(sv_fvd_stats_moments(X, 0, mu1, c1, &e), 0);
    ck_assert_int_eq(sv_fvd_stats_moments(Y, 0, mu2, c2, &e), 0);
    matmul(D, c1, c2, P);
    double trs = trace_sqrtm_db(D, P), want = -2 * trs;
    for (int i = 0; i < D; i++)
        want += (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]) + c1[i * D + i] + c2[i * D + i];
    sv_fd_result r;
    double got = fd_of(X, Y, 0, SV_FD_EIGEN, &r);
    ck_assert_msg(fabs(got - want) <= 1e-10 * want, "eigen %.17g vs sqrtm(Σ1Σ2) %.17g", got, want);
    ck_assert_msg(fabs(r.trace_sqrt - trs) <= 1e-12 * trs, "tr sqrt %.17g vs %.17g", r.trace_sqrt, trs);
    got = fd_of(X, Y, 0, SV_FD_GRAM, NULL);
    ck_assert_msg(fabs(got - want) <= 1e-10 * want, "gram %.17g vs sqrtm(Σ1Σ2) %.17g", got, want);
    sv_fvd_stats_free(X);
    sv_fvd_stats_free(Y);
    free(x);
    free(y);
}
END_TEST

/* The two routes agree where both apply (N > D and N < D, biased and unbiased); AUTO's choice. */
START_TEST(t_fd_routes_agree)
{
    struct { int n1, n2, D, k; double tol; } cases[] = {
        {60, 70, 20, 20, 1e-10},   /* N > D, full rank */
        {500, 450, 400, 400, 2e-7}, /* realistic width, N > D (measured 5e-8: small eigenvalues near N ≈ D) */
        {36, 40, 400, 400, 1e-6},  /* N < D: eigen route sees rank-deficient covariances */
        {36, 2048, 400, 400, 1e-6}, /* one small set */
        {50, 50, 30, 5, 1e-6},     /* rank 5 data in 30 dims */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int D = cases[c].D;
        float *x = make_feats(300 + c, cases[c].n1, D, cases[c].k, 1.0, 1.0);
        float *y = make_feats(400 + c, cases[c].n2, D, cases[c].k, 1.2, 1.1);
        sv_fvd_stats *X = stats_of(x, cases[c].n1, D, 1), *Y = stats_of(y, cases[c].n2, D, 1);
        for (int unb = 0; unb < 2; unb++) {
            sv_fd_result re, rg, ra;
            double fe = fd_of(X, Y, unb, SV_FD_EIGEN, &re), fg = fd_of(X, Y, unb, SV_FD_GRAM, &rg);
            fd_of(X, Y, unb, SV_FD_AUTO, &ra);
            ck_assert_msg(fabs(fe - fg) <= cases[c].tol * fg, "case %zu unbiased %d: eigen %.17g gram %.17g (rel %.3g)",
                          c, unb, fe, fg, fabs(fe - fg) / fg);
            ck_assert_msg(fabs(re.trace1 - rg.trace1) <= 1e-12 * rg.trace1, "traces differ");
            ck_assert_int_eq(ra.route, (cases[c].n1 < D || cases[c].n2 < D) ? SV_FD_GRAM : SV_FD_EIGEN);
        }
        /* unbiased = biased covariances scaled by n/(n−1): differs, slightly */
        double b = fd_of(X, Y, 0, SV_FD_AUTO, NULL), u = fd_of(X, Y, 1, SV_FD_AUTO, NULL);
        ck_assert(b != u);
        sv_fvd_stats_free(X);
        sv_fvd_stats_free(Y);
        free(x);
        free(y);
    }
}
END_TEST

/* Singular covariances: constant features, duplicated features, N = 1, N = 2; always finite, ≥ 0. */
START_TEST(t_fd_singular)
{
    enum { D = 400 };
    sv_err e = {0};
    float *x = make_feats(5, 3, D, 2, 0.0, 1.0), *y = make_feats(6, 50, D, 50, 0.0, 1.0);
    float *cst = malloc(sizeof(float) * 10 * D);
    for (int i = 0; i < 10; i++)
        for (int j = 0; j < D; j++)
            cst[i * D + j] = 0.25f * j;
    sv_fvd_stats *X = stats_of(x, 3, D, 1), *Y = stats_of(y, 50, D, 1), *C = stats_of(cst, 10, D, 1);
    sv_fvd_stats *X1 = stats_of(x, 1, D, 1);
    const sv_fvd_stats *sets[] = {X, Y, C, X1};
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (int route = SV_FD_EIGEN; route <= SV_FD_GRAM; route++) {
                sv_fd_result r;
                int rc = sv_fvd_distance(sets[a], sets[b], 0, route, &r, &e);
                ck_assert_msg(rc == 0, "%d,%d %s: %s", a, b, sv_fd_route_name(route), e.msg);
                ck_assert_msg(isfinite(r.fd) && r.fd >= 0, "%d,%d: %g", a, b, r.fd);
                if (a == b)
                    ck_assert_msg(r.fd <= 1e-9 * (r.trace1 + 1), "%d,%d %s: self %g", a, b,
                                  sv_fd_route_name(route), r.fd);
            }
    /* constant set vs itself: exactly the mean term = 0; vs a shifted constant set: ‖Δμ‖² exactly */
    for (int i = 0; i < 10 * D; i++)
        cst[i] += 1.0f;
    sv_fvd_stats *C2 = stats_of(cst, 10, D, 1);
    ck_assert_msg(fabs(fd_of(C, C2, 0, SV_FD_EIGEN, NULL) - D) <= 1e-9 * D, "constant shift");
    ck_assert_msg(fabs(fd_of(C, C2, 0, SV_FD_GRAM, NULL) - D) <= 1e-9 * D, "constant shift (gram)");
    /* unbiased needs ≥ 2 clips per set */
    sv_fd_result r;
    ck_assert_int_eq(sv_fvd_distance(X1, Y, 1, SV_FD_AUTO, &r, &e), SV_ERR_INVALID);
    sv_fvd_stats_free(X);
    sv_fvd_stats_free(Y);
    sv_fvd_stats_free(C);
    sv_fvd_stats_free(C2);
    sv_fvd_stats_free(X1);
    free(x);
    free(y);
    free(cst);
}
END_TEST

/* Shifting one set moves only the mean term; scaling features by c scales FD by c². */
START_TEST(t_fd_invariances)
{
    enum { N = 120, D = 30 };
    float *x = make_feats(41, N, D, D, 0.0, 1.0), *y = make_feats(42, N, D, D, 0.3, 1.2);
    float *ys = malloc(sizeof(float) * N * D), *xs = malloc(sizeof(float) * N * D);
    for (int i = 0; i < N * D; i++) {
        ys[i] = y[i] + 0.5f;
        xs[i] = x[i] * 4.0f;
    }
    for (int i = 0; i < N * D; i++)
        y[i] *= 4.0f;
    sv_fvd_stats *X = stats_of(x, N, D, 1), *Ys = stats_of(ys, N, D, 1), *Xs = stats_of(xs, N, D, 1),
                 *Y4 = stats_of(y, N, D, 1);
    for (int i = 0; i < N * D; i++)
        y[i] /= 4.0f;
    sv_fvd_stats *Y = stats_of(y, N, D, 1);
    sv_fd_result a, b;
    fd_of(X, Y, 0, SV_FD_EIGEN, &a);
    fd_of(X, Ys, 0, SV_FD_EIGEN, &b);
    ck_assert_msg(fabs(a.trace_sqrt - b.trace_sqrt) <= 1e-9 * a.trace_sqrt, "shift changed tr sqrt");
    ck_assert(fabs(a.mean_term - b.mean_term) > 0.1);
    double s1 = fd_of(X, Y, 0, SV_FD_EIGEN, NULL), s16 = fd_of(Xs, Y4, 0, SV_FD_EIGEN, NULL);
    ck_assert_msg(fabs(s16 - 16 * s1) <= 1e-6 * s16, "scaling: %.17g vs 16 x %.17g", s16, s1);
    sv_fvd_stats_free(X);
    sv_fvd_stats_free(Y);
    sv_fvd_stats_free(Ys);
    sv_fvd_stats_free(Xs);
    sv_fvd_stats_free(Y4);
    free(x);
    free(y);
    free(ys);
    free(xs);
}
END_TEST

START_TEST(t_fd_errors)
{
    enum { D = 4 };
    double mu[D] = {0}, c[D * D] = {0}, cn[D * D] = {0};
    for (int i = 0; i < D; i++)
        c[i * D + i] = cn[i * D + i] = 1;
    cn[5] = NAN;
    sv_fd_result r;
    sv_err e = {0};
    ck_assert_int_eq(sv_frechet_moments(D, mu, c, mu, cn, &r, &e), SV_ERR_NUMERIC);
    ck_assert_msg(strstr(e.msg, "NaN") != NULL, "%s", e.msg);
    ck_assert_int_eq(sv_frechet_moments(0, mu, c, mu, c, &r, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_frechet_moments(D, mu, c, mu, c, &r, &e), 0);
    ck_assert(r.fd == 0);
    /* different widths; gram without features */
    float f[8] = {0};
    sv_fvd_stats *a = stats_of(f, 2, 4, 1), *b = stats_of(f, 1, 8, 1), *nf = stats_of(f, 2, 4, 0);
    ck_assert_int_eq(sv_fvd_distance(a, b, 0, SV_FD_AUTO, &r, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fvd_distance(a, nf, 0, SV_FD_GRAM, &r, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_fvd_distance(a, nf, 0, SV_FD_AUTO, &r, &e), 0); /* falls back to eigen */
    ck_assert(r.route == SV_FD_EIGEN);
    sv_fvd_stats_free(a);
    sv_fvd_stats_free(b);
    sv_fvd_stats_free(nf);
}
END_TEST

START_TEST(t_cache)
{
    enum { N = 40, D = 400 };
    char dir[] = "/tmp/svgan-fvd-test-XXXXXX";
    ck_assert(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/real.safetensors", dir);
    float *x = make_feats(77, N, D, D, 0.0, 1.0), *y = make_feats(78, N, D, D, 0.1, 1.0);
    sv_fvd_stats *s = NULL, *l = NULL, *Y = stats_of(y, N, D, 1);
    sv_err e = {0};
    ck_assert_int_eq(sv_fvd_stats_new(D, 1, &s, &e), 0);
    int64_t vid[N], off[N];
    for (int i = 0; i < N; i++) {
        vid[i] = i + 3;
        off[i] = 2 * i;
    }
    ck_assert_int_eq(sv_fvd_stats_add(s, x, N, vid, off, &e), 0);
    const char *key[] = {"protocol", "fvd2048_16f", "frames", "16", "dataset_fingerprint", "0123456789abcdef", NULL};
    const char *info[] = {"num_clips", "40", NULL};
    char why[256];
    /* absent */
    ck_assert_int_eq(sv_fvd_cache_load(path, key, &l, why, sizeof why, &e), 0);
    ck_assert(l == NULL && strstr(why, "no cache file"));
    ck_assert_msg(sv_fvd_cache_save(path, s, key, info, &e) == 0, "%s", e.msg);
    /* round trip: same features, provenance, distance */
    ck_assert_int_eq(sv_fvd_cache_load(path, key, &l, why, sizeof why, &e), 0);
    ck_assert_msg(l != NULL, "%s", why);
    ck_assert_int_eq(sv_fvd_stats_count(l), N);
    ck_assert(!memcmp(sv_fvd_stats_features(l), x, sizeof(float) * N * D));
    ck_assert(sv_fvd_stats_videos(l)[5] == 8 && sv_fvd_stats_offsets(l)[5] == 10);
    ck_assert(fd_of(s, Y, 0, SV_FD_AUTO, NULL) == fd_of(l, Y, 0, SV_FD_AUTO, NULL));
    sv_fvd_stats_free(l);
    /* the stored mu/sigma are the biased moments */
    sv_st_file *f = NULL;
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    const sv_st_tensor *t = sv_st_find(f, "sigma");
    ck_assert(t && t->dtype == SV_ST_F64 && t->shape[0] == D && t->shape[1] == D);
    ck_assert_str_eq(sv_st_metadata(f, "num_clips"), "40");
    ck_assert_str_eq(sv_st_metadata(f, "format"), SV_FVD_STATS_FORMAT);
    sv_st_close(f);
    /* any key difference: not used, and the reason names the key */
    const char *key2[] = {"protocol", "fvd2048_16f", "frames", "128", "dataset_fingerprint", "0123456789abcdef", NULL};
    ck_assert_int_eq(sv_fvd_cache_load(path, key2, &l, why, sizeof why, &e), 0);
    ck_assert_msg(l == NULL && strstr(why, "frames") && strstr(why, "128"), "%s", why);
    const char *key3[] = {"protocol", "fvd2048_16f", "frames", "16", "dataset_fingerprint", "0123456789abcdeF", NULL};
    ck_assert_int_eq(sv_fvd_cache_load(path, key3, &l, why, sizeof why, &e), 0);
    ck_assert_msg(l == NULL && strstr(why, "dataset_fingerprint"), "%s", why);
    const char *key4[] = {"protocol", "fvd2048_16f", "seed", "0", NULL};
    ck_assert_int_eq(sv_fvd_cache_load(path, key4, &l, why, sizeof why, &e), 0);
    ck_assert_msg(l == NULL && strstr(why, "does not record seed"), "%s", why);
    /* not a statistics file / garbage */
    FILE *g = fopen(path, "wb");
    fputs("garbage", g);
    fclose(g);
    ck_assert_int_eq(sv_fvd_cache_load(path, key, &l, why, sizeof why, &e), 0);
    ck_assert_msg(l == NULL && strstr(why, "unreadable"), "%s", why);
    /* statistics without features cannot be cached */
    sv_fvd_stats *nf = stats_of(x, N, D, 0);
    ck_assert_int_eq(sv_fvd_cache_save(path, nf, key, NULL, &e), SV_ERR_INVALID);
    sv_fvd_stats_free(nf);
    /* default path: keyed by hash, under $SVGAN_CACHE_DIR/fvd; "off" disables */
    char p1[1024], p2[1024];
    setenv("SVGAN_CACHE_DIR", dir, 1);
    ck_assert_int_eq(sv_fvd_cache_path(key, p1, sizeof p1, &e), 0);
    ck_assert_int_eq(sv_fvd_cache_path(key2, p2, sizeof p2, &e), 0);
    ck_assert(strncmp(p1, dir, strlen(dir)) == 0 && strstr(p1, "/fvd/real-") && strcmp(p1, p2));
    setenv("SVGAN_CACHE_DIR", "off", 1);
    ck_assert_int_eq(sv_fvd_cache_path(key, p1, sizeof p1, &e), SV_ERR_UNSUPPORTED);
    unlink(path);
    snprintf(p1, sizeof p1, "%s/fvd", dir);
    rmdir(p1);
    rmdir(dir);
    sv_fvd_stats_free(s);
    sv_fvd_stats_free(Y);
    free(x);
    free(y);
}
END_TEST

/* Same-distribution sets: FD > 0 at small N and shrinks as N grows (small-sample bias, fvd.md §5.3). */
START_TEST(t_fd_small_sample_bias)
{
    enum { D = 20 };
    double prev = INFINITY;
    const int ns[] = {40, 160, 640, 2560};
    for (int c = 0; c < 4; c++) {
        float *x = make_feats(900, 2 * ns[c], D, D, 0.0, 1.0); /* one distribution; two disjoint halves */
        sv_fvd_stats *A = stats_of(x, ns[c], D, 1), *B = stats_of(x + (size_t)ns[c] * D, ns[c], D, 1);
        double fd = fd_of(A, B, 0, SV_FD_AUTO, NULL);
        ck_assert_msg(fd > 0 && fd < prev, "N = %d: FD %g not below %g", ns[c], fd, prev);
        prev = fd;
        sv_fvd_stats_free(A);
        sv_fvd_stats_free(B);
        free(x);
    }
}
END_TEST

/* Real-clip plan on a frame-folder dataset with videos of 3, 20, 10, 20, 25, 16 frames. */
START_TEST(t_plan_frames)
{
    char dir[] = "/tmp/svgan-fvd-plan-XXXXXX", path[512];
    ck_assert(mkdtemp(dir) != NULL);
    const int lens[] = {3, 20, 10, 20, 25, 16};
    uint8_t img[8 * 8 * 3];
    sv_err e = {0};
    for (int v = 0; v < 6; v++) {
        snprintf(path, sizeof path, "%s/v%d", dir, v);
        ck_assert(mkdir(path, 0755) == 0);
        for (int f = 0; f < lens[v]; f++) {
            memset(img, (v * 40 + f) & 255, sizeof img);
            snprintf(path, sizeof path, "%s/v%d/%04d.png", dir, v, f);
            ck_assert_msg(sv_image_write(path, img, 8, 8, 0, &e) == 0, "%s", e.msg);
        }
    }
    sv_dataset *ds = NULL;
    ck_assert_msg(sv_dataset_open(dir, NULL, &ds, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(sv_dataset_num_videos(ds), 6);
    sv_fvd_protocol p = {"custom", 3, 8, 2}; /* needs 16 frames: videos 1, 3, 4 (then 5) */
    sv_fvd_plan pl;
    ck_assert_msg(sv_fvd_plan_dataset(ds, &p, 9, 1, 0, &pl, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(pl.n, 3);
    ck_assert(pl.video[0] == 1 && pl.video[1] == 3 && pl.video[2] == 4);
    ck_assert_int_eq(pl.skipped, 2);
    ck_assert_int_eq(pl.visited, 5);
    for (int i = 0; i < 3; i++) /* offsets in 0 … L − n·s + s − 1: last frame o + (n−1)s ≤ L − 1 */
        ck_assert_msg(pl.offset[i] >= 0 && pl.offset[i] + 7 * 2 <= lens[pl.video[i]] - 1, "offset %lld",
                      (long long)pl.offset[i]);
    /* a video's offset depends on the seed and its index only */
    sv_fvd_plan p2;
    sv_fvd_protocol pp = {"custom", 4, 8, 2};
    ck_assert_int_eq(sv_fvd_plan_dataset(ds, &pp, 9, 1, 0, &p2, &e), 0);
    ck_assert(p2.n == 4 && p2.video[3] == 5 && p2.offset[3] == 0); /* 16 frames: one possible offset */
    for (int i = 0; i < 3; i++)
        ck_assert(p2.offset[i] == pl.offset[i]);
    sv_fvd_plan_free(&p2);
    /* first frames (fakes from a dataset) */
    ck_assert_int_eq(sv_fvd_plan_dataset(ds, &p, 9, 0, 0, &p2, &e), 0);
    ck_assert(p2.offset[0] == 0 && p2.offset[1] == 0 && p2.offset[2] == 0);
    sv_fvd_plan_free(&p2);
    /* too few: error naming the dataset and the counts; allowed: all of them */
    sv_fvd_protocol big = {"custom", 5, 8, 2};
    ck_assert_int_eq(sv_fvd_plan_dataset(ds, &big, 9, 1, 0, &p2, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, dir) && strstr(e.msg, "4 of its 6 videos") && strstr(e.msg, "5 requested") &&
                      !strchr(e.msg, '\n'), "%s", e.msg);
    ck_assert(p2.video == NULL);
    ck_assert_int_eq(sv_fvd_plan_dataset(ds, &big, 9, 1, 1, &p2, &e), 0);
    ck_assert_int_eq(p2.n, 4);
    sv_fvd_plan_free(&p2);
    sv_fvd_protocol none = {"custom", 2, 30, 1};
    ck_assert_int_eq(sv_fvd_plan_dataset(ds, &none, 9, 1, 1, &p2, &e), SV_ERR_INVALID);
    sv_fvd_plan_free(&pl);
    sv_dataset_close(ds);
    for (int v = 0; v < 6; v++) {
        for (int f = 0; f < lens[v]; f++) {
            snprintf(path, sizeof path, "%s/v%d/%04d.png", dir, v, f);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/v%d", dir, v);
        rmdir(path);
    }
    rmdir(dir);
}
END_TEST

/* Offsets are uniform over the whole range {0 … L − n·s + s − 1} (demo: 400 videos of 40 frames). */
START_TEST(t_plan_offsets_uniform)
{
    sv_dataset_opts o;
    sv_dataset_opts_default(&o);
    o.demo_videos = 400;
    o.demo_frames = 40;
    o.resolution = 16;
    sv_dataset *ds = NULL;
    sv_err e = {0};
    ck_assert_msg(sv_dataset_open("demo", &o, &ds, &e) == 0, "%s", e.msg);
    for (int s = 1; s <= 2; s++) {
        sv_fvd_protocol p = {"custom", 400, 16, s};
        const int range = 40 - 16 * s + s; /* 25 or 10 offsets */
        sv_fvd_plan pl;
        ck_assert_int_eq(sv_fvd_plan_dataset(ds, &p, 3, 1, 0, &pl, &e), 0);
        int hist[32] = {0};
        for (int i = 0; i < 400; i++) {
            ck_assert(pl.offset[i] >= 0 && pl.offset[i] < range);
            hist[pl.offset[i]]++;
        }
        for (int k = 0; k < range; k++) /* expected 16 or 40 per value */
            ck_assert_msg(hist[k] > 400 / range / 3, "stride %d: offset %d drawn %d times", s, k, hist[k]);
        sv_fvd_plan_free(&pl);
    }
    sv_dataset_close(ds);
}
END_TEST

/* Generated clips: clip i = the video of seed (seed + i) rendered on its own at t = 0, s, …, (n−1)s and
 * quantised as x·127.5 + 128 (checked here with an independent single-video render), clip layout
 * [k, n, 3, R, R].  Needs an OpenCL device (returns early without one, like the CLI checks). */
START_TEST(t_generator_clips)
{
    sv_devinfo *l = NULL;
    int nd = 0;
    sv_err e = {0};
    if (sv_devices(&l, &nd, &e) != 0 || nd == 0) {
        fprintf(stderr, "no OpenCL device: generator clip check skipped\n");
        return;
    }
    free(l);
    sv_ctx *ctx = tu_ctx();
    sv_mconfig cfg;
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &cfg, &e), 0);
    sv_generator *g = NULL;
    TU_OK(ctx, sv_generator_new(ctx, &cfg, &g));
    TU_OK(ctx, sv_generator_init(g, 5));
    const sv_fvd_protocol p = {"custom", 3, 9, 2};
    const int R = cfg.resolution, n = p.frames, k = 2;
    const size_t fsz = (size_t)3 * R * R, clip = (size_t)n * fsz;
    uint8_t *clips = malloc(k * clip), *ref = malloc(clip);
    float *z = malloc(sizeof(float) * cfg.z_dim), *host = malloc(sizeof(float) * clip);
    ck_assert_msg(sv_fvd_generator_clips(g, &p, 1, k, 10, clips, &e) == 0, "%s", e.msg);
    double t[9];
    for (int f = 0; f < n; f++)
        t[f] = 2.0 * f;
    size_t worst = 0, off1 = 0;
    for (int b = 0; b < k; b++) {
        uint64_t sd = 10 + 1 + (uint64_t)b, st = 0;
        sv_rng_normal(sd, SV_STREAM_Z, 0, (size_t)cfg.z_dim, z);
        sv_gen_video *gv = NULL;
        TU_OK(ctx, sv_generator_begin(g, 1, z, &sd, &st, 1.0f, &gv));
        sv_tensor fr = {0};
        int64_t shape[4] = {n, 3, R, R};
        TU_OK(ctx, sv_tensor_new(ctx, &fr, 4, shape));
        TU_OK(ctx, sv_generator_frames(gv, t, n, &fr));
        TU_OK(ctx, sv_tensor_read(&fr, host, clip));
        sv_tensor_free(&fr);
        sv_gen_video_free(gv);
        for (size_t i = 0; i < clip; i++) {
            float m = host[i] * 127.5f, a = m + 128.0f;
            a = a < 0 ? 0 : a > 255 ? 255 : a;
            ref[i] = (uint8_t)a;
        }
        for (size_t i = 0; i < clip; i++) {
            int d = abs((int)clips[b * clip + i] - (int)ref[i]);
            if (d > 1)
                worst++;
            else if (d == 1)
                off1++;
        }
    }
    /* batched (2 videos, frames in chunks) vs alone: equal up to float rounding at a truncation edge */
    ck_assert_msg(worst == 0 && off1 <= clip * k / 1000, "%zu bytes differ by > 1, %zu by 1", worst, off1);
    ck_assert(memcmp(clips, clips + clip, clip) != 0);          /* two seeds, two videos */
    ck_assert(memcmp(clips, clips + (n - 1) * fsz, fsz) != 0);  /* frames move */
    free(clips);
    free(ref);
    free(z);
    free(host);
    sv_generator_free(g);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fvd");
    TCase *tc = tcase_create("metric");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_protocols);
    tcase_add_test(tc, t_quantize);
    tcase_add_test(tc, t_stats_moments);
    tcase_add_test(tc, t_fd_self_and_symmetry);
    tcase_add_test(tc, t_fd_closed_forms);
    tcase_add_test(tc, t_fd_vs_sqrtm_product);
    tcase_add_test(tc, t_fd_routes_agree);
    tcase_add_test(tc, t_fd_singular);
    tcase_add_test(tc, t_fd_invariances);
    tcase_add_test(tc, t_fd_errors);
    tcase_add_test(tc, t_cache);
    tcase_add_test(tc, t_fd_small_sample_bias);
    tcase_add_test(tc, t_plan_frames);
    tcase_add_test(tc, t_plan_offsets_uniform);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("device");
    tcase_set_timeout(td, 300);
    tcase_add_test(td, t_generator_clips);
    suite_add_tcase(s, td);
    return tu_main(s, 0);
}
