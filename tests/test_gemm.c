/* GEMM module: sv_gemm / sv_gemm_strided_batched on both backends (CLBlast
 * and mapped-buffer OpenBLAS) against a float64 host GEMM, for every
 * transpose combination, alpha/beta, offsets, padded leading dimensions, odd
 * sizes, strided batches (stride 0 = shared matrix, foldable and not), K = 0,
 * beta = 0 over NaN, buffers shared between A/B/C; plus argument errors and
 * OpenBLAS loading. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define TOL 1e-5

static const sv_gemm_backend backends[2] = {SV_GEMM_CLBLAST, SV_GEMM_CBLAS};

/* A case: one buffer per matrix unless `shared` (then A, B, C live in one
 * buffer, one after the other). */
typedef struct gcase {
    sv_trans ta, tb;
    size_t M, N, K;
    float alpha, beta;
    size_t offA, offB, offC;    /* element offsets */
    size_t padA, padB, padC;    /* ld = row width + pad */
    size_t batch;
    long sA, sB, sC;            /* strides; -1: extent + 3, -2: extent */
    size_t ldA, ldB, ldC;       /* explicit ld when nonzero (overrides pad) */
    int shared;
    int nan_c;                  /* fill C with NaN (with beta = 0) */
} gcase;

static cl_mem mkbuf(sv_ctx *ctx, size_t n)
{
    cl_int err;
    cl_mem m = clCreateBuffer(sv_ctx_cl(ctx), CL_MEM_READ_WRITE | (sv_ctx_is_cpu(ctx) ? CL_MEM_ALLOC_HOST_PTR : 0),
                              (n ? n : 1) * sizeof(float), NULL, &err);
    ck_assert_msg(m && err == CL_SUCCESS, "clCreateBuffer(%zu floats): %d", n, (int)err);
    return m;
}

static void put(sv_ctx *ctx, cl_mem m, const float *x, size_t n)
{
    ck_assert_int_eq(clEnqueueWriteBuffer(sv_ctx_queue(ctx), m, CL_TRUE, 0, n * sizeof(float), x, 0, NULL, NULL),
                     CL_SUCCESS);
}

static void get(sv_ctx *ctx, cl_mem m, float *x, size_t n)
{
    ck_assert_int_eq(clEnqueueReadBuffer(sv_ctx_queue(ctx), m, CL_TRUE, 0, n * sizeof(float), x, 0, NULL, NULL),
                     CL_SUCCESS);
}

/* float64 reference of one product; beta == 0 does not read C. */
static void ref_gemm(sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, double alpha, const float *A,
                     size_t lda, const float *B, size_t ldb, double beta, const float *Cin, double *Cout, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double s = 0;
            for (size_t k = 0; k < K; k++) {
                double a = ta == SV_N ? A[i * lda + k] : A[k * lda + i];
                double b = tb == SV_N ? B[k * ldb + j] : B[j * ldb + k];
                s += a * b;
            }
            Cout[i * ldc + j] = alpha * s + (beta == 0 ? 0.0 : beta * (double)Cin[i * ldc + j]);
        }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Runs the case on backend b; returns the rel-L2 error over the C entries,
 * and checks that every element outside the C matrices is unchanged. */
static double run_case(sv_ctx *ctx, sv_gemm_backend b, const gcase *g, uint64_t seed)
{
    size_t ar = g->ta == SV_N ? g->M : g->K, ac = g->ta == SV_N ? g->K : g->M;
    size_t br = g->tb == SV_N ? g->K : g->N, bc = g->tb == SV_N ? g->N : g->K;
    size_t lda = g->ldA ? g->ldA : ac + g->padA, ldb = g->ldB ? g->ldB : bc + g->padB;
    size_t ldc = g->ldC ? g->ldC : g->N + g->padC;
    size_t exA = ar * lda, exB = br * ldb, exC = g->M * ldc;
    /* stride -1: extent + gap; -2: tightly packed */
#define STRIDE(s, ex) ((s) == -1 ? (ex) + 3 : (s) == -2 ? (ex) : (size_t)(s))
    size_t sA = STRIDE(g->sA, exA), sB = STRIDE(g->sB, exB), sC = STRIDE(g->sC, exC);
#undef STRIDE
    size_t nA = g->offA + (g->batch - 1) * sA + exA + 2;
    size_t nB = g->offB + (g->batch - 1) * sB + exB + 2;
    size_t nC = g->offC + (g->batch - 1) * sC + exC + 2;
    size_t baseA = 0, baseB = 0, baseC = 0, ntot;
    if (g->shared) {
        baseB = nA;
        baseC = nA + nB;
        ntot = nA + nB + nC;
    } else {
        ntot = nA > nB ? nA : nB;
        ntot = ntot > nC ? ntot : nC;
    }
    tu_rng r;
    tu_seed(&r, seed);
    float *hA = calloc(ntot, sizeof *hA), *hB = calloc(ntot, sizeof *hB), *hC = calloc(ntot, sizeof *hC);
    float *out = calloc(ntot, sizeof *out);
    double *want = calloc(ntot, sizeof *want);
    ck_assert(hA && hB && hC && out && want);
    for (size_t i = 0; i < ntot; i++) {
        hA[i] = (float)tu_normal(&r);
        hB[i] = (float)tu_normal(&r);
        hC[i] = g->nan_c ? NAN : (float)tu_normal(&r);
    }
    if (g->shared) { /* one buffer: A region, B region, C region */
        memcpy(hA + baseB, hB + baseB, (nB + nC) * sizeof *hA);
        for (size_t i = baseC; i < ntot; i++)
            hA[i] = hC[i];
        memcpy(hB, hA, ntot * sizeof *hA);
        memcpy(hC, hA, ntot * sizeof *hA);
    }
    cl_mem mA = mkbuf(ctx, ntot), mB = g->shared ? mA : mkbuf(ctx, ntot), mC = g->shared ? mA : mkbuf(ctx, ntot);
    put(ctx, mA, hA, ntot);
    if (!g->shared) {
        put(ctx, mB, hB, ntot);
        put(ctx, mC, hC, ntot);
    }
    sv_mat A = {mA, baseA + g->offA, lda}, B = {mB, baseB + g->offB, ldb}, C = {mC, baseC + g->offC, ldc};
    TU_OK(ctx, sv_gemm_set_backend(ctx, b));
    ck_assert_int_eq(sv_gemm_get_backend(ctx), b);
    if (g->batch == 1 && g->sA == 0 && g->sB == 0 && g->sC == 0)
        TU_OK(ctx, sv_gemm(ctx, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, B, g->beta, C));
    else
        TU_OK(ctx, sv_gemm_strided_batched(ctx, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, sA, B, sB, g->beta, C,
                                           sC, g->batch));
    get(ctx, mC, out, ntot);

    /* expected: untouched everywhere but the C matrices */
    char *isc = calloc(ntot, 1);
    ck_assert_ptr_nonnull(isc);
    for (size_t bi = 0; bi < g->batch; bi++) {
        size_t c0 = C.off + bi * sC;
        ref_gemm(g->ta, g->tb, g->M, g->N, g->K, g->alpha, hA + A.off + bi * sA, lda, hB + B.off + bi * sB, ldb,
                 g->beta, hC + c0, want + c0, ldc);
        for (size_t i = 0; i < g->M; i++)
            for (size_t j = 0; j < g->N; j++)
                isc[c0 + i * ldc + j] = 1;
    }
    size_t nc = 0;
    double *gc = malloc((g->batch * g->M * g->N + 1) * sizeof *gc), *wc = malloc((g->batch * g->M * g->N + 1) * sizeof *wc);
    for (size_t i = 0; i < ntot; i++) {
        if (isc[i]) {
            gc[nc] = out[i];
            wc[nc] = want[i];
            nc++;
        } else {
            ck_assert_msg(same_bits(out[i], hC[i]), "%s: element %zu outside C changed (%g -> %g)",
                          sv_gemm_backend_name(b), i, (double)hC[i], (double)out[i]);
        }
    }
    double err = nc ? tu_rel_l2(gc, wc, nc) : 0.0;
    if (g->K == 0 && g->beta == 0) /* exact zeros: rel L2 undefined, use max abs */
        err = nc ? tu_max_abs(gc, wc, nc) : 0.0;
    ck_assert_msg(err <= TOL, "%s %c%c M=%zu N=%zu K=%zu batch=%zu: rel L2 %.3g > %g", sv_gemm_backend_name(b),
                  g->ta == SV_N ? 'N' : 'T', g->tb == SV_N ? 'N' : 'T', g->M, g->N, g->K, g->batch, err, TOL);
    free(isc);
    free(gc);
    free(wc);
    clReleaseMemObject(mA);
    if (!g->shared) {
        clReleaseMemObject(mB);
        clReleaseMemObject(mC);
    }
    free(hA);
    free(hB);
    free(hC);
    free(out);
    free(want);
    return err;
}

static void run_both(sv_ctx *ctx, const gcase *g, uint64_t seed)
{
    for (int i = 0; i < 2; i++)
        run_case(ctx, backends[i], g, seed);
}

START_TEST(t_transposes_odd)
{
    sv_ctx *ctx = tu_ctx();
    double worst = 0;
    for (int t = 0; t < 4; t++) {
        gcase g = {0};
        g.ta = (t & 1) ? SV_T : SV_N;
        g.tb = (t & 2) ? SV_T : SV_N;
        g.M = 37;
        g.N = 53;
        g.K = 29;
        g.alpha = 1.25f;
        g.beta = 0.75f;
        g.offA = 5;
        g.offB = 11;
        g.offC = 3;
        g.padA = 2;
        g.padB = 0;
        g.padC = 7;
        g.batch = 1;
        for (int i = 0; i < 2; i++) {
            double e = run_case(ctx, backends[i], &g, 100 + t);
            worst = e > worst ? e : worst;
        }
        /* alpha = 1, beta = 0 over a NaN-filled C: C is not read */
        g.alpha = 1.0f;
        g.beta = 0.0f;
        g.nan_c = 1;
        g.padC = 1;
        run_both(ctx, &g, 200 + t);
    }
    fprintf(stderr, "transposes 37x53x29: worst rel L2 %.3g\n", worst);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_larger)
{
    /* past CLBlast's direct-kernel threshold (indirect kernels + padding) and
     * past any work-group size */
    sv_ctx *ctx = tu_ctx();
    gcase g = {0};
    g.M = 389;
    g.N = 401;
    g.K = 397;
    g.alpha = 0.5f;
    g.beta = -1.0f;
    g.offA = 1;
    g.offB = 2;
    g.offC = 7;
    g.padA = 3;
    g.padB = 1;
    g.padC = 5;
    g.batch = 1;
    g.ta = SV_N;
    g.tb = SV_N;
    run_both(ctx, &g, 300);
    g.ta = SV_T;
    g.tb = SV_T;
    run_both(ctx, &g, 301);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_batched)
{
    sv_ctx *ctx = tu_ctx();
    for (int t = 0; t < 4; t++) {
        sv_trans ta = (t & 1) ? SV_T : SV_N, tb = (t & 2) ? SV_T : SV_N;
        gcase g = {0};
        g.ta = ta;
        g.tb = tb;
        g.M = 13;
        g.N = 19;
        g.K = 11;
        g.alpha = 0.9f;
        g.beta = 0.3f;
        g.offA = 4;
        g.offB = 1;
        g.offC = 6;
        g.padA = 1;
        g.padB = 2;
        g.padC = 3;
        g.batch = 5;
        /* separate matrices, packed with gaps */
        g.sA = g.sB = g.sC = -1;
        run_both(ctx, &g, 400 + t);
        /* shared A (stride 0), B and C not foldable */
        g.sA = 0;
        run_both(ctx, &g, 410 + t);
        /* shared B (stride 0) */
        g.sA = -1;
        g.sB = 0;
        run_both(ctx, &g, 420 + t);
        /* tightly packed [batch, rows, ld] (rows stacked but B not shared) */
        g.sA = g.sB = g.sC = -2;
        run_both(ctx, &g, 430 + t);
        /* B and C interleaved [rows, batch, N] (columns side by side) but A
         * not shared */
        g.sA = -2;
        if (tb == SV_N) {
            g.ldB = g.N * g.batch + 1;
            g.sB = (long)g.N;
        } else {
            g.sB = -2;
        }
        g.ldC = g.N * g.batch;
        g.sC = (long)g.N;
        run_both(ctx, &g, 440 + t);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_batched_fold)
{
    /* layouts that make the batch one product: shared B with stacked A/C rows,
     * shared A with B/C columns side by side (C = [M, batch, N]) */
    sv_ctx *ctx = tu_ctx();
    const size_t M = 7, N = 9, K = 10, nb = 4;
    for (int t = 0; t < 4; t++) {
        sv_trans ta = (t & 1) ? SV_T : SV_N, tb = (t & 2) ? SV_T : SV_N;
        gcase g = {0};
        g.ta = ta;
        g.tb = tb;
        g.M = M;
        g.N = N;
        g.K = K;
        g.alpha = 1.1f;
        g.beta = 0.4f;
        g.offA = 2;
        g.offB = 3;
        g.offC = 1;
        g.batch = nb;
        /* shared B, rows stacked */
        g.sB = 0;
        g.ldA = ta == SV_N ? K + 1 : M * nb + 2;
        g.sA = ta == SV_N ? (long)(M * g.ldA) : (long)M;
        g.ldB = tb == SV_N ? N + 2 : K + 2;
        g.ldC = N + 1;
        g.sC = (long)(M * g.ldC);
        run_both(ctx, &g, 500 + t);
        /* shared A, columns side by side */
        g.sA = 0;
        g.ldA = ta == SV_N ? K + 1 : M + 1;
        g.ldB = tb == SV_N ? N * nb + 1 : K + 3;
        g.sB = tb == SV_N ? (long)N : (long)(N * g.ldB);
        g.ldC = N * nb + 2;
        g.sC = (long)N;
        run_both(ctx, &g, 510 + t);
    }
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_shared_buffer_and_k0)
{
    sv_ctx *ctx = tu_ctx();
    gcase g = {0};
    g.ta = SV_T;
    g.tb = SV_N;
    g.M = 21;
    g.N = 17;
    g.K = 33;
    g.alpha = -0.7f;
    g.beta = 1.0f;
    g.offA = 3;
    g.offB = 5;
    g.offC = 2;
    g.padA = 1;
    g.padC = 2;
    g.batch = 1;
    g.shared = 1;
    run_both(ctx, &g, 600);
    g.batch = 3;
    g.sA = g.sB = g.sC = -1;
    run_both(ctx, &g, 601);
    /* K = 0: C = beta * C, A and B unread */
    gcase k = {0};
    k.ta = SV_N;
    k.tb = SV_T;
    k.M = 6;
    k.N = 5;
    k.K = 0;
    k.alpha = 2.0f;
    k.beta = 0.5f;
    k.offC = 4;
    k.padC = 2;
    k.ldA = k.ldB = 1; /* rows of width 0: ld >= 1 */
    k.batch = 1;
    run_both(ctx, &k, 602);
    k.beta = 0.0f;
    k.nan_c = 1;
    run_both(ctx, &k, 603);
    /* M = 0 / N = 0: no-op */
    cl_mem m = mkbuf(ctx, 16);
    sv_mat X = {m, 0, 4};
    for (int i = 0; i < 2; i++) {
        TU_OK(ctx, sv_gemm_set_backend(ctx, backends[i]));
        TU_OK(ctx, sv_gemm(ctx, SV_N, SV_N, 0, 4, 4, 1.0f, X, X, 0.0f, X));
        TU_OK(ctx, sv_gemm(ctx, SV_N, SV_N, 4, 0, 4, 1.0f, X, X, 0.0f, X));
        TU_OK(ctx, sv_gemm_strided_batched(ctx, SV_N, SV_N, 2, 2, 2, 1.0f, X, 0, X, 0, 0.0f, X, 4, 0));
    }
    clReleaseMemObject(m);
    sv_ctx_destroy(ctx);
}
END_TEST

static void expect_err(sv_ctx *ctx, int rc, int code, const char *needle)
{
    ck_assert_msg(rc == code, "expected error %d, got %d (%s)", code, rc, sv_ctx_errmsg(ctx));
    ck_assert_msg(strstr(sv_ctx_errmsg(ctx), needle) != NULL, "message '%s' lacks '%s'", sv_ctx_errmsg(ctx), needle);
}

START_TEST(t_bad_args)
{
    sv_ctx *ctx = tu_ctx();
    cl_mem m = mkbuf(ctx, 100); /* exactly 100 floats */
    for (int i = 0; i < 2; i++) {
        TU_OK(ctx, sv_gemm_set_backend(ctx, backends[i]));
        sv_mat A = {m, 0, 10}, B = {m, 0, 10}, C = {m, 0, 10};
        /* fits exactly: 10x10 at offset 0 */
        TU_OK(ctx, sv_gemm(ctx, SV_N, SV_N, 10, 10, 0, 1.0f, A, B, 1.0f, C));
        sv_mat bad = {m, 0, 9};
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_N, 10, 10, 10, 1.0f, bad, B, 0.0f, C), SV_ERR_INVALID, "ldA");
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_T, 10, 10, 10, 1.0f, A, bad, 0.0f, C), SV_ERR_INVALID, "ldB");
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_N, 10, 10, 10, 1.0f, A, B, 0.0f, bad), SV_ERR_INVALID, "ldC");
        /* A^T with M = 12: ld must be >= 12 */
        expect_err(ctx, sv_gemm(ctx, SV_T, SV_N, 12, 10, 5, 1.0f, A, B, 0.0f, C), SV_ERR_INVALID, "ldA");
        /* one element past the end */
        sv_mat off1 = {m, 1, 10};
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_N, 10, 10, 10, 1.0f, A, B, 0.0f, off1), SV_ERR_INVALID, "buffer");
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_N, 11, 10, 10, 1.0f, A, B, 0.0f, C), SV_ERR_INVALID, "matrix A");
        /* batched extent */
        expect_err(ctx, sv_gemm_strided_batched(ctx, SV_N, SV_N, 5, 5, 5, 1.0f, A, 0, B, 0, 0.0f, C, 50, 3),
                   SV_ERR_INVALID, "matrix C");
        expect_err(ctx, sv_gemm_strided_batched(ctx, SV_N, SV_N, 5, 5, 5, 1.0f, A, 0, B, 0, 0.0f, C, 0, 2),
                   SV_ERR_INVALID, "strideC");
        sv_mat nul = {NULL, 0, 10};
        expect_err(ctx, sv_gemm(ctx, SV_N, SV_N, 5, 5, 5, 1.0f, nul, B, 0.0f, C), SV_ERR_INVALID, "no buffer");
        expect_err(ctx, sv_gemm(ctx, (sv_trans)7, SV_N, 5, 5, 5, 1.0f, A, B, 0.0f, C), SV_ERR_INVALID, "transpose");
    }
    ck_assert_int_ne(sv_gemm_set_backend(ctx, (sv_gemm_backend)9), 0);
    setenv("SVGAN_GEMM", "bogus", 1);
    expect_err(ctx, sv_gemm_set_backend(ctx, SV_GEMM_AUTO), SV_ERR_INVALID, "SVGAN_GEMM");
    setenv("SVGAN_GEMM", "clblast", 1);
    TU_OK(ctx, sv_gemm_set_backend(ctx, SV_GEMM_AUTO));
    ck_assert_int_eq(sv_gemm_get_backend(ctx), SV_GEMM_CLBLAST);
    setenv("SVGAN_GEMM", "cblas", 1);
    TU_OK(ctx, sv_gemm_set_backend(ctx, SV_GEMM_AUTO));
    ck_assert_int_eq(sv_gemm_get_backend(ctx), SV_GEMM_CBLAS);
    unsetenv("SVGAN_GEMM");
    TU_OK(ctx, sv_gemm_set_backend(ctx, SV_GEMM_AUTO));
    ck_assert_int_eq(sv_gemm_get_backend(ctx), sv_ctx_is_cpu(ctx) ? SV_GEMM_CBLAS : SV_GEMM_CLBLAST);
    clReleaseMemObject(m);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(t_blas_load)
{
    /* the core type is chosen from CPUID when OPENBLAS_CORETYPE is unset */
    const char *pre = getenv("OPENBLAS_CORETYPE");
    int was_set = pre && *pre;
    sv_err e = {0};
    ck_assert_msg(sv_blas_load(&e) == 0, "%s", e.msg);
    const char *core = sv_blas_corename();
    ck_assert_ptr_nonnull(core);
    ck_assert_str_ne(core, "unavailable");
    const char *now = getenv("OPENBLAS_CORETYPE");
    fprintf(stderr, "OpenBLAS core %s (OPENBLAS_CORETYPE %s%s), %d threads\n", core, now ? now : "(unset)",
            was_set ? ", preset" : "", sv_blas_threads());
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!was_set && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        ck_assert_msg(now && (strcmp(now, "Haswell") == 0 || strcmp(now, "SkylakeX") == 0),
                      "OPENBLAS_CORETYPE not chosen: %s", now ? now : "(unset)");
#endif
    ck_assert_int_gt(sv_blas_threads(), 0);
    /* direct host call */
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 1, 0}, C[4] = {9, 9, 9, 9};
    ck_assert_int_eq(sv_blas_sgemm(SV_N, SV_N, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2), 0);
    /* [1 2 3;4 5 6] * [1 0;-1 2;1 0] = [2 4; 5 10] */
    ck_assert(C[0] == 2 && C[1] == 4 && C[2] == 5 && C[3] == 10);
    ck_assert_int_eq(sv_blas_sgemm(SV_N, SV_N, 2, 2, 3, 1.0f, A, 2, B, 2, 0.0f, C, 2), SV_ERR_INVALID);
}
END_TEST

/* Pointer-array batches: items at arbitrary, unordered offsets (A items may
 * overlap each other; C items must not), all transposes, both backends;
 * untouched elements stay bit-identical; overlapping outputs are refused. */
START_TEST(t_pointer_batched)
{
    sv_ctx *ctx = tu_ctx();
    const size_t M = 7, N = 5, K = 6, batch = 4, n = 400;
    const size_t offA[4] = {3, 90, 41, 41}, offB[4] = {200, 0, 120, 57}, offC[4] = {300, 10, 150, 240};
    for (int bi = 0; bi < 2; bi++)
        for (int t = 0; t < 4; t++) {
            sv_trans ta = (t & 1) ? SV_T : SV_N, tb = (t & 2) ? SV_T : SV_N;
            size_t lda = (ta == SV_N ? K : M) + 1, ldb = (tb == SV_N ? N : K) + 2, ldc = N + 1;
            tu_rng r;
            tu_seed(&r, 900 + (uint64_t)t);
            float hA[400], hB[400], hC[400], out[400];
            double want[400];
            for (size_t i = 0; i < n; i++) {
                hA[i] = (float)tu_normal(&r);
                hB[i] = (float)tu_normal(&r);
                hC[i] = (float)tu_normal(&r);
                want[i] = hC[i];
            }
            for (size_t i = 0; i < batch; i++)
                ref_gemm(ta, tb, M, N, K, 0.5, hA + offA[i], lda, hB + offB[i], ldb, 2.0, hC + offC[i],
                         want + offC[i], ldc);
            cl_mem mA = mkbuf(ctx, n), mB = mkbuf(ctx, n), mC = mkbuf(ctx, n);
            put(ctx, mA, hA, n);
            put(ctx, mB, hB, n);
            put(ctx, mC, hC, n);
            TU_OK(ctx, sv_gemm_set_backend(ctx, backends[bi]));
            TU_OK(ctx, sv_gemm_batched(ctx, ta, tb, M, N, K, 0.5f, mA, offA, lda, mB, offB, ldb, 2.0f, mC, offC, ldc,
                                       batch));
            get(ctx, mC, out, n);
            double num = 0, den = 0;
            for (size_t i = 0; i < n; i++) {
                num += (out[i] - want[i]) * (out[i] - want[i]);
                den += want[i] * want[i];
            }
            ck_assert_msg(sqrt(num / den) < TOL, "pointer batch %s ta=%d tb=%d: rel %g",
                          sv_gemm_backend_name(backends[bi]), (int)ta, (int)tb, sqrt(num / den));
            /* overlapping outputs */
            const size_t bad[4] = {300, 10, 150, 152};
            ck_assert_int_eq(sv_gemm_batched(ctx, ta, tb, M, N, K, 1.0f, mA, offA, lda, mB, offB, ldb, 0.0f, mC, bad,
                                             ldc, batch),
                             SV_ERR_INVALID);
            ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "overlap"));
            clReleaseMemObject(mA);
            clReleaseMemObject(mB);
            clReleaseMemObject(mC);
        }
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, t_blas_load);
    tcase_add_test(tc, t_transposes_odd);
    tcase_add_test(tc, t_batched);
    tcase_add_test(tc, t_batched_fold);
    tcase_add_test(tc, t_shared_buffer_and_k0);
    tcase_add_test(tc, t_bad_args);
    tcase_add_test(tc, t_larger);
    tcase_add_test(tc, t_pointer_batched);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
