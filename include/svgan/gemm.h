/* svgan — the one GEMM module.  Every matrix product in svgan goes through
 * here.  GPUs (and any non-CPU device) use CLBlast; CPU OpenCL devices hand
 * zero-copy mapped buffers to OpenBLAS (CLBlast on PoCL is 10x slower than
 * OpenBLAS on the same CPU).  Override with SVGAN_GEMM=clblast|cblas.
 *
 * Row-major: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, where each
 * matrix is a (buffer, element offset, leading dimension) triple. */
#ifndef SVGAN_GEMM_H
#define SVGAN_GEMM_H

#include <stddef.h>

#include "svgan/runtime.h"
#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sv_trans { SV_N = 0, SV_T = 1 } sv_trans;

typedef struct sv_mat {
    cl_mem mem;
    size_t off; /* elements */
    size_t ld;  /* leading dimension (row stride, elements) */
} sv_mat;

/* Matrix view of a raw buffer: element offset off, leading dimension ld. */
static inline sv_mat sv_mat_of(cl_mem m, size_t off, size_t ld)
{
    sv_mat r = {m, off, ld};
    return r;
}

/* Matrix view of a tensor's storage with leading dimension ld, starting at
 * element `first` of the tensor. */
sv_mat sv_tmat(const sv_tensor *t, size_t first, size_t ld);

typedef enum sv_gemm_backend { SV_GEMM_AUTO = 0, SV_GEMM_CLBLAST = 1, SV_GEMM_CBLAS = 2 } sv_gemm_backend;
/* Choose a backend for this context (AUTO: CBLAS on CPU devices, else CLBlast;
 * $SVGAN_GEMM overrides AUTO). */
int sv_gemm_set_backend(sv_ctx *ctx, sv_gemm_backend b);
sv_gemm_backend sv_gemm_get_backend(sv_ctx *ctx);
const char *sv_gemm_backend_name(sv_gemm_backend b);

/* Enqueued on the context's in-order queue (CLBlast) or done synchronously on
 * mapped buffers (CBLAS).  BLAS conventions: beta == 0 does not read C (NaN
 * there does not propagate); K == 0 gives C = beta*C.  C must not overlap A or
 * B.  Errors (SV_ERR_INVALID for ld < row width, a matrix past the end of its
 * buffer, NULL buffer, strideC == 0 with batch > 1; SV_ERR_BLAS for a backend
 * failure) carry a message in the ctx. */
int sv_gemm(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha, sv_mat A,
            sv_mat B, float beta, sv_mat C);

/* batch products; matrix i uses offsets off + i*stride (stride 0 = shared).
 * A batch whose layout is one larger product (shared B with A/C rows stacked,
 * e.g. A [batch,M,K] packed; or shared A with B/C columns side by side, e.g.
 * C [M,batch,N]) runs as a single GEMM. */
int sv_gemm_strided_batched(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha,
                            sv_mat A, size_t strideA, sv_mat B, size_t strideB, float beta, sv_mat C,
                            size_t strideC, size_t batch);

/* Pointer-array batch: matrix i uses element offsets offA[i], offB[i], offC[i]
 * into one buffer per operand (arbitrary placement; outputs must not
 * overlap).  CLBlast: one SgemmBatched call. */
int sv_gemm_batched(sv_ctx *ctx, sv_trans ta, sv_trans tb, size_t M, size_t N, size_t K, float alpha, cl_mem A,
                    const size_t *offA, size_t lda, cl_mem B, const size_t *offB, size_t ldb, float beta, cl_mem C,
                    const size_t *offC, size_t ldc, size_t batch);

/* Host OpenBLAS (loaded at run time after choosing a core type from CPUID when
 * OPENBLAS_CORETYPE is unset; see blas.c).  Row-major cblas_sgemm. */
int sv_blas_load(sv_err *e);
/* Puts the OpenBLAS core choice into the environment (once per process).  It
 * calls setenv, so it runs before the first OpenCL call (sv_devices does it):
 * later, driver threads may be reading the environment. */
void sv_blas_prepare_env(void);
const char *sv_blas_corename(void);
/* Returns SV_OK, SV_ERR_BLAS (library not loaded) or SV_ERR_INVALID (sizes). */
int sv_blas_sgemm(sv_trans ta, sv_trans tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
/* OpenBLAS thread count (0 if not loaded) / set it (SV_ERR_BLAS if not loaded). */
int sv_blas_threads(void);
int sv_blas_set_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
