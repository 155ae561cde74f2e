#include "config.h"

#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void tu_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ULL + 0x1234567ULL; }

uint64_t tu_next(tu_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

double tu_uniform(tu_rng *r) { return (double)(tu_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double tu_normal(tu_rng *r)
{
    double u1 = tu_uniform(r), u2 = tu_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_normal(tu_rng *r, double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * tu_normal(r);
}

void tu_fill_uniform(tu_rng *r, double *x, size_t n, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * tu_uniform(r);
}

sv_ctx *tu_ctx(void)
{
    sv_ctx *c = NULL;
    sv_err e = {0};
    int rc = sv_ctx_create(&c, NULL, &e);
    ck_assert_msg(rc == 0 && c, "cannot open OpenCL device: %s", e.msg);
    return c;
}

sv_tensor tu_upload(sv_ctx *ctx, const double *x, int ndim, const int64_t *shape)
{
    sv_tensor t;
    TU_OK(ctx, sv_tensor_new(ctx, &t, ndim, shape));
    size_t n = (size_t)sv_numel(&t);
    float *f = malloc((n ? n : 1) * sizeof *f);
    ck_assert_ptr_nonnull(f);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    TU_OK(ctx, sv_tensor_write(&t, f, n));
    free(f);
    return t;
}

double *tu_download(const sv_tensor *t)
{
    size_t n = (size_t)sv_numel(t);
    float *f = malloc((n ? n : 1) * sizeof *f);
    double *d = malloc((n ? n : 1) * sizeof *d);
    ck_assert(f && d);
    TU_OK(t->ctx, sv_tensor_read(t, f, n));
    for (size_t i = 0; i < n; i++)
        d[i] = f[i];
    free(f);
    return d;
}

double tu_rel_l2(const double *a, const double *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]) || isinf(a[i]) || isinf(b[i]))
            return NAN;
        num += (a[i] - b[i]) * (a[i] - b[i]);
        den += b[i] * b[i];
    }
    if (den < 1e-300)
        return sqrt(num); /* reference is zero: absolute */
    return sqrt(num / den);
}

double tu_max_abs(const double *a, const double *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (isnan(d))
            return NAN;
        if (d > m)
            m = d;
    }
    return m;
}

void tu_assert_close(const char *what, const double *got, const double *want, size_t n, double tol)
{
    double r = tu_rel_l2(got, want, n);
    ck_assert_msg(!isnan(r) && r <= tol, "%s: relative L2 error %.3g > %.3g (max abs %.3g, n=%zu)", what, r, tol,
                  tu_max_abs(got, want, n), n);
}

void tu_assert_tensor(const char *what, const sv_tensor *got, const double *want, double tol)
{
    double *g = tu_download(got);
    tu_assert_close(what, g, want, (size_t)sv_numel(got), tol);
    free(g);
}

void tu_gradcheck(const char *what, tu_scalar_fn f, void *user, const double *p, const double *grad, size_t n,
                  int dirs, double h, double tol, uint64_t seed)
{
    tu_rng r;
    tu_seed(&r, seed);
    double *v = malloc(n * sizeof *v), *q = malloc(n * sizeof *q);
    ck_assert(v && q);
    for (int d = 0; d < dirs; d++) {
        double vn = 0;
        for (size_t i = 0; i < n; i++) {
            v[i] = tu_normal(&r);
            vn += v[i] * v[i];
        }
        vn = sqrt(vn);
        double an = 0;
        for (size_t i = 0; i < n; i++) {
            v[i] /= vn;
            an += grad[i] * v[i];
        }
        for (size_t i = 0; i < n; i++)
            q[i] = p[i] + h * v[i];
        double fp = f(q, user);
        for (size_t i = 0; i < n; i++)
            q[i] = p[i] - h * v[i];
        double fm = f(q, user);
        double num = (fp - fm) / (2 * h);
        double scale = fabs(num) > fabs(an) ? fabs(num) : fabs(an);
        double err = fabs(num - an) / (scale > 1e-8 ? scale : 1e-8);
        ck_assert_msg(err <= tol, "%s: gradient check direction %d: analytic %.10g vs central difference %.10g (rel %.3g > %.3g)",
                      what, d, an, num, err, tol);
    }
    free(v);
    free(q);
}

static int probe_device(void)
{
    /* In a child: touching OpenCL in the parent before Check forks hangs the
     * children on some ICDs. */
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        sv_devinfo *l;
        int n;
        sv_err e = {0};
        int rc = sv_devices(&l, &n, &e);
        if (rc == 0)
            free(l);
        else
            fprintf(stderr, "skip: %s\n", e.msg);
        _exit(rc == 0 ? 0 : 1);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) < 0)
        return 0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int tu_main(Suite *s, int needs_device)
{
    SRunner *sr = srunner_create(s); /* owns s from here on */
    if (needs_device && !probe_device()) {
        fprintf(stderr, "no OpenCL device: skipping\n");
        srunner_free(sr);
        return 77;
    }
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}

sv_upfirdn2d_params tu_upfirdn2d_random(int up, int down, int pad0, int pad1, int ntaps, tu_rng *r)
{
    sv_upfirdn2d_params p = {.up = up, .down = down, .pad0 = pad0, .pad1 = pad1, .ntaps = ntaps};
    for (int i = 0; i < ntaps; i++)
        p.taps[i] = (float)(0.5 + tu_uniform(r));
    return p;
}
