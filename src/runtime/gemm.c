/* The GEMM module: one entry point for every matrix product in svgan.
 *
 * Backends
 *   CLBlast — device-resident, enqueued on the context's in-order queue
 *             (default on non-CPU devices).
 *   CBLAS   — CPU OpenCL devices: buffers live in host memory
 *             (CL_MEM_ALLOC_HOST_PTR), so we map them (blocking map on the
 *             in-order queue = waits for every earlier command), run OpenBLAS
 *             on the host pointers, and unmap.  Each distinct cl_mem is mapped
 *             once, over the union of the byte ranges its matrices touch.
 *
 * Strided batches whose layout makes them one larger product (a shared A with
 * stacked B/C columns, or a shared B with stacked A/C rows) are folded into a
 * single GEMM on both backends; otherwise CLBlast gets one batched call and
 * the CBLAS backend loops over the batch on the host.
 *
 * BLAS conventions hold on both backends: beta == 0 means C is not read
 * (garbage or NaN there does not propagate); K == 0 means C = beta * C. */
#include "config.h"

#include <clblast_c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "svgan/gemm.h"

struct sv_gemm_state {
    sv_gemm_backend backend; /* resolved: CLBLAST or CBLAS */
};

sv_mat sv_tmat(const sv_tensor *t, size_t first, size_t ld)
{
    sv_mat m;
    m.mem = t->mem;
    m.off = t->off + first;
    m.ld = ld;
    return m;
}

const char *sv_gemm_backend_name(sv_gemm_backend b)
{
    switch (b) {
    case SV_GEMM_AUTO: return "auto";
    case SV_GEMM_CLBLAST: return "clblast";
    case SV_GEMM_CBLAS: return "cblas";
    }
    return "unknown";
}

void sv_gemm_state_free(sv_ctx *ctx)
{
    if (ctx && ctx->gemm) {
        free(ctx->gemm);
        ctx->gemm = NULL;
    }
}

/* AUTO -> $SVGAN_GEMM -> device type. */
static int resolve_backend(sv_ctx *ctx, sv_gemm_backend b, sv_gemm_backend *out)
{
    if (b == SV_GEMM_AUTO) {
        const char *env = getenv("SVGAN_GEMM");
        if (!env || !*env || !strcasecmp(env, "auto"))
            b = ctx->is_cpu ? SV_GEMM_CBLAS : SV_GEMM_CLBLAST;
        else if (!strcasecmp(env, "clblast"))
            b = SV_GEMM_CLBLAST;
        else if (!strcasecmp(env, "cblas"))
            b = SV_GEMM_CBLAS;
        else
            return sv_seterr(&ctx->err, SV_ERR_INVALID, "SVGAN_GEMM='%s': expected auto, clblast or cblas", env);
    }
    if (b != SV_GEMM_CLBLAST && b != SV_GEMM_CBLAS)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "sv_gemm_set_backend: unknown backend %d", (int)b);
    if (b == SV_GEMM_CBLAS) {
        int rc = sv_blas_load(&ctx->err);
        if (rc)
            return sv_preferr(&ctx->err, "GEMM backend cblas");
    }
    *out = b;
    return SV_OK;
}

static int gemm_state(sv_ctx *ctx, struct sv_gemm_state **out)
{
    if (!ctx->gemm) {
        sv_gemm_backend b;
        int rc = resolve_backend(ctx, SV_GEMM_AUTO, &b);
        if (rc)
            return rc;
        struct sv_gemm_state *st = calloc(1, sizeof *st);
        if (!st)
            return sv_seterr(&ctx->err, SV_ERR_NOMEM, "out of memory");
        st->backend = b;
        ctx->gemm = st;
    }
    *out = ctx->gemm;
    return SV_OK;
}

int sv_gemm_set_backend(sv_ctx *ctx, sv_gemm_backend b)
{
    if (!ctx)
        return SV_ERR_INVALID;
    sv_gemm_backend r;
    int rc = resolve_backend(ctx, b, &r);
    if (rc)
        return rc;
    if (!ctx->gemm) {
        ctx->gemm = calloc(1, sizeof *ctx->gemm);
        if (!ctx->gemm)
            return sv_seterr(&ctx->err, SV_ERR_NOMEM, "out of memory");
    }
    ctx->gemm->backend = r;
    return SV_OK;
}

sv_gemm_backend sv_gemm_get_backend(sv_ctx *ctx)
{
    struct sv_gemm_state *st = NULL;
    if (!ctx || gemm_state(ctx, &st))
        return SV_GEMM_AUTO;
    return st->backend;
}

/* ---- argument validation ------------------------------------------------- */

typedef struct span {
    size_t lo, hi; /* element range [lo, hi) touched; lo == hi: empty */
} span;

/* rows x cols stored matrix, `batch` copies at `stride`. */
static int check_mat(sv_ctx *ctx, const char *fn, const char *name, sv_mat m, size_t rows, size_t cols,
                     size_t stride, size_t batch, const char *why, span *sp)
{
    sp->lo = sp->hi = m.off;
    size_t need = cols > 1 ? cols : 1;
    if (m.ld < need)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: ld%s = %zu is less than %zu (%s)", fn, name, m.ld, need,
                         why);
    if (rows == 0 || cols == 0 || batch == 0)
        return SV_OK;
    if (!m.mem)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: matrix %s has no buffer", fn, name);
    size_t a, b, last;
    if (__builtin_mul_overflow(rows - 1, m.ld, &a) || __builtin_mul_overflow(batch - 1, stride, &b) ||
        __builtin_add_overflow(a, b, &last) || __builtin_add_overflow(last, cols, &last) ||
        __builtin_add_overflow(last, m.off, &last) || last > SIZE_MAX / sizeof(float))
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: matrix %s extent overflows", fn, name);
    size_t bytes = 0;
    cl_int err = clGetMemObjectInfo(m.mem, CL_MEM_SIZE, sizeof bytes, &bytes, NULL);
    if (err != CL_SUCCESS)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: matrix %s: invalid buffer (%s)", fn, name,
                         sv_cl_errname(err));
    if (last * sizeof(float) > bytes)
        return sv_seterr(&ctx->err, SV_ERR_INVALID,
                         "%s: matrix %s needs elements up to %zu (offset %zu, %zu x %zu, ld %zu%s) but its buffer "
                         "holds %zu",
                         fn, name, last, m.off, rows, cols, m.ld, batch > 1 ? ", batched" : "",
                         bytes / sizeof(float));
    sp->hi = last;
    return SV_OK;
}

/* ---- CLBlast --------------------------------------------------------------- */

static const char *clblast_name(CLBlastStatusCode s)
{
    switch ((int)s) {
    case CLBlastNotImplemented: return "not implemented";
    case CLBlastInvalidMatrixA: return "invalid matrix A";
    case CLBlastInvalidMatrixB: return "invalid matrix B";
    case CLBlastInvalidMatrixC: return "invalid matrix C";
    case CLBlastInvalidDimension: return "invalid dimension";
    case CLBlastInvalidLeadDimA: return "invalid ld of A";
    case CLBlastInvalidLeadDimB: return "invalid ld of B";
    case CLBlastInvalidLeadDimC: return "invalid ld of C";
    case CLBlastInsufficientMemoryA: return "buffer A too small";
    case CLBlastInsufficientMemoryB: return "buffer B too small";
    case CLBlastInsufficientMemoryC: return "buffer C too small";
    case CLBlastInvalidBatchCount: return "invalid batch count";
    case CLBlastInvalidLocalMemUsage: return "not enough local memory";
    case CLBlastDatabaseError: return "no tuning database entry for the device";
    case CLBlastUnknownError: return "unknown error";
    case CLBlastUnexpectedError: return "unexpected error";
    default: return (int)s > -1000 ? sv_cl_errname((int)s) : "error";
    }
}

static CLBlastTranspose cbt(sv_trans t) { return t == SV_N ? CLBlastTransposeNo : CLBlastTransposeYes; }

static int run_clblast(sv_ctx *ctx, const char *fn, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K,
                       float alpha, sv_mat A, size_t sA, sv_mat B, size_t sB, float beta, sv_mat C, size_t sC,
                       size_t batch)
{
    cl_command_queue q = ctx->q;
    CLBlastStatusCode s;
    if (batch == 1)
        s = CLBlastSgemm(CLBlastLayoutRowMajor, cbt(ta), cbt(tb), M, N, K, alpha, A.mem, A.off, A.ld, B.mem, B.off,
                         B.ld, beta, C.mem, C.off, C.ld, &q, NULL);
    else
        s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, cbt(ta), cbt(tb), M, N, K, alpha, A.mem, A.off, A.ld,
                                       sA, B.mem, B.off, B.ld, sB, beta, C.mem, C.off, C.ld, sC, batch, &q, NULL);
    if (s != CLBlastSuccess)
        return sv_seterr(&ctx->err, SV_ERR_BLAS, "%s (CLBlast, M=%zu N=%zu K=%zu batch=%zu): %s (%d)", fn, M, N, K,
                         batch, clblast_name(s), (int)s);
    return SV_OK;
}

/* ---- mapped host path (CBLAS, and K == 0 on every backend) ----------------- */

typedef struct map_ent {
    cl_mem mem;
    span sp;
    cl_map_flags fl;
    float *ptr; /* host address of element sp.lo */
} map_ent;

static void unmap_all(sv_ctx *ctx, map_ent *e, int n)
{
    for (int i = 0; i < n; i++)
        if (e[i].ptr) {
            clEnqueueUnmapMemObject(ctx->q, e[i].mem, e[i].ptr, 0, NULL, NULL);
            e[i].ptr = NULL;
        }
}

/* Item bi of a batch uses offsets X.off + bi*sX, or oX[bi] when the offset
 * arrays are given (pointer-array batches); spX covers every item. */
static int run_host(sv_ctx *ctx, const char *fn, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K,
                    float alpha, sv_mat A, size_t sA, span spA, sv_mat B, size_t sB, span spB, float beta, sv_mat C,
                    size_t sC, span spC, size_t batch, const size_t *oA, const size_t *oB, const size_t *oC)
{
    int use_blas = K > 0;
    if (use_blas) {
        int rc = sv_blas_load(&ctx->err);
        if (rc)
            return sv_preferr(&ctx->err, "%s", fn);
        if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || A.ld > INT32_MAX || B.ld > INT32_MAX ||
            C.ld > INT32_MAX)
            return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: sizes exceed the CBLAS int range", fn);
    }
    /* distinct buffers, each mapped once over the union of its ranges */
    map_ent ents[3];
    int ne = 0;
    const sv_mat *mats[3] = {&C, &A, &B};
    span sps[3] = {spC, spA, spB};
    int nmat = use_blas ? 3 : 1;
    int which[3];
    for (int i = 0; i < nmat; i++) {
        cl_map_flags fl = i == 0 ? (CL_MAP_READ | CL_MAP_WRITE) : CL_MAP_READ;
        int j = 0;
        while (j < ne && ents[j].mem != mats[i]->mem)
            j++;
        if (j == ne) {
            ents[ne].mem = mats[i]->mem;
            ents[ne].sp = sps[i];
            ents[ne].fl = fl;
            ents[ne].ptr = NULL;
            ne++;
        } else {
            if (sps[i].lo < ents[j].sp.lo)
                ents[j].sp.lo = sps[i].lo;
            if (sps[i].hi > ents[j].sp.hi)
                ents[j].sp.hi = sps[i].hi;
            ents[j].fl |= fl;
        }
        which[i] = j;
    }
    for (int j = 0; j < ne; j++) {
        cl_int err = CL_SUCCESS;
        void *p = clEnqueueMapBuffer(ctx->q, ents[j].mem, CL_TRUE, ents[j].fl, ents[j].sp.lo * sizeof(float),
                                     (ents[j].sp.hi - ents[j].sp.lo) * sizeof(float), 0, NULL, NULL, &err);
        if (!p || err != CL_SUCCESS) {
            unmap_all(ctx, ents, j);
            return sv_seterr(&ctx->err, SV_ERR_CL, "%s: clEnqueueMapBuffer: %s (%d)", fn, sv_cl_errname(err),
                             (int)err);
        }
        ents[j].ptr = p;
    }
#define ITEM(k, X, sX, oX) (ents[which[k]].ptr + ((oX ? oX[bi] : X.off + bi * sX) - ents[which[k]].sp.lo))
    for (size_t bi = 0; bi < batch; bi++) {
        float *pc = ITEM(0, C, sC, oC);
        if (!use_blas) {
            /* K == 0: C = beta * C (beta == 0 writes zeros without reading C) */
            for (size_t i = 0; i < M; i++) {
                float *row = pc + i * C.ld;
                for (size_t j = 0; j < N; j++)
                    row[j] = beta == 0.0f ? 0.0f : beta * row[j];
            }
        } else {
            sv_blas_sgemm(ta, tb, (int)M, (int)N, (int)K, alpha, ITEM(1, A, sA, oA), (int)A.ld, ITEM(2, B, sB, oB),
                          (int)B.ld, beta, pc, (int)C.ld);
        }
    }
#undef ITEM
    unmap_all(ctx, ents, ne);
    return SV_OK;
}

/* ---- entry points ------------------------------------------------------ */

/* SVGAN_PROFILE: GEMMs are grouped by function, transposes and size class
 * (powers of two of M, N, K) so the report stays readable. */
static void prof_gemm(sv_ctx *ctx, double t0, const char *fn, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K,
                      size_t batch)
{
    char name[128];
    int lm = 0, ln = 0, lk = 0;
    while (((size_t)2 << lm) <= M)
        lm++;
    while (((size_t)2 << ln) <= N)
        ln++;
    while (((size_t)2 << lk) <= K)
        lk++;
    snprintf(name, sizeof name, "%s %c%c M~%zu N~%zu K~%zu%s", fn, ta == SV_N ? 'N' : 'T', tb == SV_N ? 'N' : 'T',
             (size_t)1 << lm, (size_t)1 << ln, (size_t)1 << lk, batch > 1 ? " batched" : "");
    sv_prof_end(ctx, t0, name, 2.0 * (double)M * (double)N * (double)K * (double)batch);
}

static int gemm_impl(sv_ctx *ctx, const char *fn, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K,
                     float alpha, sv_mat A, size_t sA, sv_mat B, size_t sB, float beta, sv_mat C, size_t sC,
                     size_t batch)
{
    if (!ctx)
        return SV_ERR_INVALID;
    if ((ta != SV_N && ta != SV_T) || (tb != SV_N && tb != SV_T))
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: transpose flags must be SV_N or SV_T", fn);
    struct sv_gemm_state *st = NULL;
    int rc = gemm_state(ctx, &st);
    if (rc)
        return rc;
    span spA, spB, spC;
    /* stored shapes: op(A) is M x K, op(B) is K x N */
    size_t ar = ta == SV_N ? M : K, ac = ta == SV_N ? K : M;
    size_t br = tb == SV_N ? K : N, bc = tb == SV_N ? N : K;
    if ((rc = check_mat(ctx, fn, "A", A, ar, ac, sA, batch, ta == SV_N ? "A is M x K" : "A^T: A is K x M", &spA)) ||
        (rc = check_mat(ctx, fn, "B", B, br, bc, sB, batch, tb == SV_N ? "B is K x N" : "B^T: B is N x K", &spB)) ||
        (rc = check_mat(ctx, fn, "C", C, M, N, sC, batch, "C is M x N", &spC)))
        return rc;
    if (batch > 1 && sC == 0 && M > 0 && N > 0)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: strideC = 0 with batch %zu (outputs would overlap)", fn,
                         batch);
    if (M == 0 || N == 0 || batch == 0)
        return SV_OK;
    if (K == 0) {
        /* nothing to multiply: C = beta*C; A and B are not read */
        spA.hi = spA.lo;
        spB.hi = spB.lo;
        return run_host(ctx, fn, ta, tb, M, N, K, alpha, A, sA, spA, B, sB, spB, beta, C, sC, spC, batch, NULL, NULL,
                        NULL);
    }
    /* fold a batch into one product when the layout allows */
    if (batch > 1) {
        size_t amstep = ta == SV_N ? A.ld : 1; /* elements between rows of op(A) */
        size_t bnstep = tb == SV_N ? 1 : B.ld; /* elements between columns of op(B) */
        if (sB == 0 && sA == M * amstep && sC == M * C.ld && (ta == SV_N || A.ld >= M * batch)) {
            M *= batch; /* shared B: stack the rows of A and C */
            batch = 1;
        } else if (sA == 0 && sB == N * bnstep && sC == N && C.ld >= N * batch && (tb == SV_T || B.ld >= N * batch)) {
            N *= batch; /* shared A: stack the columns of B and C */
            batch = 1;
        }
    }
    double t0 = sv_prof_begin(ctx);
    if (st->backend == SV_GEMM_CBLAS)
        rc = run_host(ctx, fn, ta, tb, M, N, K, alpha, A, sA, spA, B, sB, spB, beta, C, sC, spC, batch, NULL, NULL,
                      NULL);
    else
        rc = run_clblast(ctx, fn, ta, tb, M, N, K, alpha, A, sA, B, sB, beta, C, sC, batch);
    if (!rc && t0 != 0.0)
        prof_gemm(ctx, t0, fn, ta, tb, M, N, K, batch);
    return rc;
}

int sv_gemm(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha, sv_mat A,
            sv_mat B, float beta, sv_mat C)
{
    return gemm_impl(ctx, "sv_gemm", ta, tb, M, N, K, alpha, A, 0, B, 0, beta, C, 0, 1);
}

int sv_gemm_strided_batched(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha,
                            sv_mat A, size_t strideA, sv_mat B, size_t strideB, float beta, sv_mat C,
                            size_t strideC, size_t batch)
{
    return gemm_impl(ctx, "sv_gemm_strided_batched", ta, tb, M, N, K, alpha, A, strideA, B, strideB, beta, C,
                     strideC, batch);
}

/* Pointer-array batch: matrix i of A, B, C starts at offA[i], offB[i], offC[i]
 * (elements) in one buffer each.  One CLBlast SgemmBatched call; on CBLAS each
 * buffer is mapped once over the union of its matrices. */
int sv_gemm_batched(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha, cl_mem A,
                    const size_t *offA, size_t lda, cl_mem B, const size_t *offB, size_t ldb, float beta, cl_mem C,
                    const size_t *offC, size_t ldc, size_t batch)
{
    static const char fn[] = "sv_gemm_batched";
    if (!ctx)
        return SV_ERR_INVALID;
    if ((ta != SV_N && ta != SV_T) || (tb != SV_N && tb != SV_T))
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: transpose flags must be SV_N or SV_T", fn);
    if (batch == 0 || M == 0 || N == 0)
        return SV_OK;
    if (!offA || !offB || !offC)
        return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: offset arrays are required", fn);
    struct sv_gemm_state *st = NULL;
    int rc = gemm_state(ctx, &st);
    if (rc)
        return rc;
    size_t ar = ta == SV_N ? M : K, ac = ta == SV_N ? K : M;
    size_t br = tb == SV_N ? K : N, bc = tb == SV_N ? N : K;
    span uA = {SIZE_MAX, 0}, uB = {SIZE_MAX, 0}, uC = {SIZE_MAX, 0};
    for (size_t i = 0; i < batch; i++) {
        sv_mat a = {A, offA[i], lda}, b = {B, offB[i], ldb}, c = {C, offC[i], ldc};
        span sa, sb, sc;
        if ((rc = check_mat(ctx, fn, "A", a, ar, ac, 0, 1, ta == SV_N ? "A is M x K" : "A^T: A is K x M", &sa)) ||
            (rc = check_mat(ctx, fn, "B", b, br, bc, 0, 1, tb == SV_N ? "B is K x N" : "B^T: B is N x K", &sb)) ||
            (rc = check_mat(ctx, fn, "C", c, M, N, 0, 1, "C is M x N", &sc)))
            return rc;
        span *u[3] = {&uA, &uB, &uC}, *v[3] = {&sa, &sb, &sc};
        for (int j = 0; j < 3; j++) {
            if (v[j]->lo < u[j]->lo)
                u[j]->lo = v[j]->lo;
            if (v[j]->hi > u[j]->hi)
                u[j]->hi = v[j]->hi;
        }
    }
    /* outputs must not overlap (C rows of different items) */
    for (size_t i = 0; i < batch; i++)
        for (size_t j = i + 1; j < batch; j++) {
            size_t lo = offC[i] < offC[j] ? offC[j] : offC[i];
            size_t a = offC[i] < offC[j] ? offC[i] : offC[j];
            if (lo < a + (M - 1) * ldc + N)
                return sv_seterr(&ctx->err, SV_ERR_INVALID, "%s: output matrices %zu and %zu overlap", fn, i, j);
        }
    if (st->backend == SV_GEMM_CLBLAST && K > 0) {
        float *alphas = malloc(batch * sizeof *alphas), *betas = malloc(batch * sizeof *betas);
        if (!alphas || !betas) {
            free(alphas);
            free(betas);
            return sv_seterr(&ctx->err, SV_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < batch; i++) {
            alphas[i] = alpha;
            betas[i] = beta;
        }
        cl_command_queue q = ctx->q;
        double t0 = sv_prof_begin(ctx);
        CLBlastStatusCode s = CLBlastSgemmBatched(CLBlastLayoutRowMajor, cbt(ta), cbt(tb), M, N, K, alphas, A, offA,
                                                  lda, B, offB, ldb, betas, C, offC, ldc, batch, &q, NULL);
        free(alphas);
        free(betas);
        if (s != CLBlastSuccess)
            return sv_seterr(&ctx->err, SV_ERR_BLAS, "%s (CLBlast, M=%zu N=%zu K=%zu batch=%zu): %s (%d)", fn, M, N,
                             K, batch, clblast_name(s), (int)s);
        if (t0 != 0.0)
            prof_gemm(ctx, t0, fn, ta, tb, M, N, K, batch);
        return SV_OK;
    }
    /* host path: each distinct buffer mapped once over the union of its
     * items, then one sgemm per item */
    if (K == 0)
        uA.hi = uA.lo, uB.hi = uB.lo;
    sv_mat a = {A, uA.lo, lda}, b = {B, uB.lo, ldb}, c = {C, uC.lo, ldc};
    double t0 = sv_prof_begin(ctx);
    rc = run_host(ctx, fn, ta, tb, M, N, K, alpha, a, 0, uA, b, 0, uB, beta, c, 0, uC, batch, offA, offB, offC);
    if (!rc && t0 != 0.0)
        prof_gemm(ctx, t0, fn, ta, tb, M, N, K, batch);
    return rc;
}
