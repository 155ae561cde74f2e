/* Host OpenBLAS, loaded at run time.
 *
 * libsvgan does not link OpenBLAS: OpenBLAS (built with DYNAMIC_ARCH) reads
 * $OPENBLAS_CORETYPE once, in its library constructor, and its own CPU
 * detection is unreliable on some machines (it has been seen to pick Prescott,
 * several times slower than the right kernel).  So, when the variable is not
 * set, we choose the core type from CPUID ourselves, set it, and only then
 * dlopen the library.  Loading happens once per process (pthread_once); its
 * outcome (success or the error message) is remembered. */
#include "config.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgan/gemm.h"

#ifndef SV_OPENBLAS_LIBDIR
#define SV_OPENBLAS_LIBDIR ""
#endif

/* CBLAS constants (fixed by the CBLAS standard). */
enum { SV_CBLAS_ROW_MAJOR = 101, SV_CBLAS_NO_TRANS = 111, SV_CBLAS_TRANS = 112 };

/* cblas_sgemm of an LP64 (32-bit int) OpenBLAS; the enums are int-sized. */
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
typedef char *(*corename_fn)(void);
typedef void (*set_threads_fn)(int);
typedef int (*get_threads_fn)(void);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static int blas_rc = SV_ERR_BLAS;
static char blas_msg[SV_ERRMSG_LEN];
static void *blas_handle;
static sgemm_fn p_sgemm;
static corename_fn p_corename;
static set_threads_fn p_set_threads;
static get_threads_fn p_get_threads;
static char blas_core[64] = "unavailable";

/* Core type for OpenBLAS from CPUID, or NULL to let OpenBLAS decide. */
static const char *pick_coretype(void)
{
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

/* OpenBLAS reads OPENBLAS_CORETYPE when it is loaded, so the choice has to go
 * into the environment.  setenv must not run while another thread may call
 * getenv (PoCL's worker threads do, on every kernel launch: a setenv at the
 * first GEMM crashed them intermittently), so this runs once, before the
 * first OpenCL call of the process (sv_devices) or at the latest before the
 * load. */
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void blas_env_once(void)
{
    const char *ct = getenv("OPENBLAS_CORETYPE");
    if (!ct || !*ct) {
        const char *pick = pick_coretype();
        if (pick)
            setenv("OPENBLAS_CORETYPE", pick, 1);
    }
}

void sv_blas_prepare_env(void)
{
    pthread_once(&env_once, blas_env_once);
}

static void blas_load_once(void)
{
    sv_blas_prepare_env();
    char path[PATH_MAX];
    const char *tried1 = NULL;
    char err1[256] = "";
    if (SV_OPENBLAS_LIBDIR[0]) {
        snprintf(path, sizeof path, "%s/libopenblas.so.0", SV_OPENBLAS_LIBDIR);
        tried1 = path;
        blas_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!blas_handle) {
            const char *d = dlerror();
            snprintf(err1, sizeof err1, "%s", d ? d : "unknown error");
        }
    }
    if (!blas_handle)
        blas_handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!blas_handle) {
        const char *d = dlerror();
        snprintf(blas_msg, sizeof blas_msg, "cannot load OpenBLAS (install libopenblas0): %.140s%s%.140s%s%.140s",
                 tried1 ? tried1 : "", tried1 ? ": " : "", tried1 ? err1 : "", tried1 ? "; " : "",
                 d ? d : "dlopen failed");
        blas_rc = SV_ERR_BLAS;
        return;
    }
    p_sgemm = (sgemm_fn)dlsym(blas_handle, "cblas_sgemm");
    p_corename = (corename_fn)dlsym(blas_handle, "openblas_get_corename");
    p_set_threads = (set_threads_fn)dlsym(blas_handle, "openblas_set_num_threads");
    p_get_threads = (get_threads_fn)dlsym(blas_handle, "openblas_get_num_threads");
    if (!p_sgemm) {
        snprintf(blas_msg, sizeof blas_msg, "OpenBLAS library has no cblas_sgemm symbol");
        blas_rc = SV_ERR_BLAS;
        return;
    }
    if (p_corename) {
        const char *c = p_corename();
        snprintf(blas_core, sizeof blas_core, "%s", c ? c : "unknown");
    } else {
        snprintf(blas_core, sizeof blas_core, "unknown");
    }
    blas_rc = SV_OK;
}

int sv_blas_load(sv_err *e)
{
    pthread_once(&blas_once, blas_load_once);
    if (blas_rc != SV_OK)
        return sv_seterr(e, blas_rc, "%s", blas_msg);
    return SV_OK;
}

const char *sv_blas_corename(void)
{
    pthread_once(&blas_once, blas_load_once);
    return blas_core;
}

int sv_blas_threads(void)
{
    pthread_once(&blas_once, blas_load_once);
    return (blas_rc == SV_OK && p_get_threads) ? p_get_threads() : 0;
}

int sv_blas_set_threads(int n)
{
    pthread_once(&blas_once, blas_load_once);
    if (blas_rc != SV_OK || !p_set_threads || n < 1)
        return SV_ERR_BLAS;
    p_set_threads(n);
    return SV_OK;
}

int sv_blas_sgemm(sv_trans ta, sv_trans tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    pthread_once(&blas_once, blas_load_once);
    if (blas_rc != SV_OK)
        return blas_rc;
    if (M < 0 || N < 0 || K < 0)
        return SV_ERR_INVALID;
    if (M == 0 || N == 0)
        return SV_OK;
    int ar = ta == SV_N ? K : M, br = tb == SV_N ? N : K;
    if (lda < (ar > 1 ? ar : 1) || ldb < (br > 1 ? br : 1) || ldc < (N > 1 ? N : 1))
        return SV_ERR_INVALID;
    p_sgemm(SV_CBLAS_ROW_MAJOR, ta == SV_N ? SV_CBLAS_NO_TRANS : SV_CBLAS_TRANS,
            tb == SV_N ? SV_CBLAS_NO_TRANS : SV_CBLAS_TRANS, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return SV_OK;
}
