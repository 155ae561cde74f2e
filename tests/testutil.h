/* Shared helpers for svgan's Check suites.
 *
 * Rules (see DEVELOPERS.md): never touch OpenCL in a suite's main() before
 * Check forks — open the device inside each test with tu_ctx().  tu_main()
 * probes for a device in a forked child and returns 77 (skip) when none. */
#ifndef SVGAN_TESTUTIL_H
#define SVGAN_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "svgan/svgan.h"

/* Deterministic generator (splitmix64). */
typedef struct tu_rng { uint64_t s; } tu_rng;
void tu_seed(tu_rng *r, uint64_t seed);
uint64_t tu_next(tu_rng *r);
double tu_uniform(tu_rng *r);        /* [0,1) */
double tu_normal(tu_rng *r);
void tu_fill_normal(tu_rng *r, double *x, size_t n, double scale);
/* upfirdn2d parameters with random asymmetric taps in [0.5, 1.5) (so tap
 * orientation matters) */
sv_upfirdn2d_params tu_upfirdn2d_random(int up, int down, int pad0, int pad1, int ntaps, tu_rng *r);
void tu_fill_uniform(tu_rng *r, double *x, size_t n, double lo, double hi);

/* Open the selected device (SVGAN_DEVICE) inside a test; fails the test with
 * the error message when it cannot. */
sv_ctx *tu_ctx(void);
/* ck_assert that rc == 0, printing the ctx error message otherwise. */
#define TU_OK(ctx, expr)                                                                         \
    do {                                                                                         \
        int tu__rc = (expr);                                                                     \
        ck_assert_msg(tu__rc == 0, "%s -> %d: %s", #expr, tu__rc, (ctx) ? sv_ctx_errmsg(ctx) : ""); \
    } while (0)

/* Upload doubles as float32 into a new tensor of the given shape. */
sv_tensor tu_upload(sv_ctx *ctx, const double *x, int ndim, const int64_t *shape);
/* Download a tensor into a new double array (caller frees). */
double *tu_download(const sv_tensor *t);

/* Relative L2 error ||a-b|| / max(||b||, tiny); NaN if either has a NaN. */
double tu_rel_l2(const double *a, const double *b, size_t n);
double tu_max_abs(const double *a, const double *b, size_t n);
/* Assert rel L2 <= tol (and no NaN), reporting `what`. */
void tu_assert_close(const char *what, const double *got, const double *want, size_t n, double tol);
/* Compare a device tensor with a host double reference. */
void tu_assert_tensor(const char *what, const sv_tensor *got, const double *want, double tol);

/* Finite-difference gradient check of a scalar function of n parameters:
 * compares the analytic directional derivative <grad, v> with a central
 * difference along `dirs` random directions v; fails if the relative error
 * exceeds tol.  f must be float64 (host references). */
typedef double (*tu_scalar_fn)(const double *p, void *user);
void tu_gradcheck(const char *what, tu_scalar_fn f, void *user, const double *p, const double *grad, size_t n,
                  int dirs, double h, double tol, uint64_t seed);

/* Run a suite with per-case timeouts; returns the process exit status
 * (0 pass, 1 fail, 77 skip when needs_device and no OpenCL device exists). */
int tu_main(Suite *s, int needs_device);

#endif
