/* FVD: protocols, float64 statistics, the Fréchet distance (eigen and gram routes), the
 * real-statistics cache.  See include/svgan/fvd.h. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "svgan/fvd.h"
#include "svgan/gemm.h"
#include "svgan/safetensors.h"

/* ---- protocols ----------------------------------------------------------------------------------- */

static const sv_fvd_protocol protocols[] = {
    {"fvd2048_16f", 2048, 16, 1},
    {"fvd2048_128f", 2048, 128, 1},
    {"fvd2048_128f_subsample8f", 2048, 16, 8},
};
static const char *const protocol_names[] = {"fvd2048_16f", "fvd2048_128f", "fvd2048_128f_subsample8f", NULL};

const char *const *sv_fvd_protocol_names(void)
{
    return protocol_names;
}

int sv_fvd_protocol_get(const char *name, sv_fvd_protocol *p, sv_err *e)
{
    for (size_t i = 0; i < sizeof protocols / sizeof protocols[0]; i++)
        if (name && !strcmp(name, protocols[i].name)) {
            *p = protocols[i];
            return SV_OK;
        }
    return sv_seterr(e, SV_ERR_INVALID, "unknown FVD protocol '%.64s' (known: %s, %s, %s)", name ? name : "(null)",
                     protocol_names[0], protocol_names[1], protocol_names[2]);
}

int64_t sv_fvd_min_video_frames(const sv_fvd_protocol *p)
{
    return (int64_t)p->frames * p->stride;
}

int sv_fvd_quantize(const float *x, size_t n, uint8_t *out, sv_err *e)
{
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v))
            return sv_seterr(e, SV_ERR_NUMERIC, "generated frame value %zu is %s: cannot quantise it for FVD", i,
                             isnan(v) ? "NaN" : "infinite");
        float m = v * 127.5f; /* two roundings, as torch's img * 127.5 + 128 in float32 */
        float a = m + 128.0f;
        a = a < 0.0f ? 0.0f : a > 255.0f ? 255.0f : a;
        out[i] = (uint8_t)a; /* truncates */
    }
    return SV_OK;
}

/* ---- statistics ---------------------------------------------------------------------------------- */

struct sv_fvd_stats {
    int dim, keep;
    int64_t n, cap;
    double *shift; /* K: the first vector */
    double *s1;    /* Σ(x−K) */
    double *s2;    /* Σ(x−K)(x−K)ᵀ, upper triangle (row i, columns j ≥ i) */
    float *feat;
    int64_t *video, *offset;
};

int sv_fvd_stats_new(int dim, int keep_features, sv_fvd_stats **out, sv_err *e)
{
    *out = NULL;
    if (dim < 1 || dim > 16384)
        return sv_seterr(e, SV_ERR_INVALID, "FVD statistics: dimension %d outside [1, 16384]", dim);
    sv_fvd_stats *s = calloc(1, sizeof *s);
    if (!s)
        return sv_seterr(e, SV_ERR_NOMEM, "FVD statistics: out of memory");
    s->dim = dim;
    s->keep = keep_features != 0;
    s->shift = calloc((size_t)dim, sizeof *s->shift);
    s->s1 = calloc((size_t)dim, sizeof *s->s1);
    s->s2 = calloc((size_t)dim * dim, sizeof *s->s2);
    if (!s->shift || !s->s1 || !s->s2) {
        sv_fvd_stats_free(s);
        return sv_seterr(e, SV_ERR_NOMEM, "FVD statistics: out of memory");
    }
    *out = s;
    return SV_OK;
}

void sv_fvd_stats_free(sv_fvd_stats *s)
{
    if (!s)
        return;
    free(s->shift);
    free(s->s1);
    free(s->s2);
    free(s->feat);
    free(s->video);
    free(s->offset);
    free(s);
}

int sv_fvd_stats_add(sv_fvd_stats *s, const float *x, int64_t n, const int64_t *video, const int64_t *offset,
                     sv_err *e)
{
    if (n < 0 || (n > 0 && !x))
        return sv_seterr(e, SV_ERR_INVALID, "FVD statistics: bad feature batch (n = %lld)", (long long)n);
    const int D = s->dim;
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < D; j++)
            if (!isfinite(x[r * D + j]))
                return sv_seterr(e, SV_ERR_NUMERIC, "FVD statistics: feature %d of clip %lld is %s", j,
                                 (long long)(s->n + r), isnan(x[r * D + j]) ? "NaN" : "infinite");
    if (s->keep && s->n + n > s->cap) {
        int64_t cap = s->cap ? s->cap : 64;
        while (cap < s->n + n)
            cap *= 2;
        float *f = realloc(s->feat, (size_t)cap * D * sizeof *f);
        if (f)
            s->feat = f;
        int64_t *v = realloc(s->video, (size_t)cap * sizeof *v);
        if (v)
            s->video = v;
        int64_t *o = realloc(s->offset, (size_t)cap * sizeof *o);
        if (o)
            s->offset = o;
        if (!f || !v || !o)
            return sv_seterr(e, SV_ERR_NOMEM, "FVD statistics: out of memory for %lld features",
                             (long long)(s->n + n));
        s->cap = cap;
    }
    double *d = malloc((size_t)D * sizeof *d);
    if (!d)
        return sv_seterr(e, SV_ERR_NOMEM, "FVD statistics: out of memory");
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * D;
        if (s->n == 0)
            for (int j = 0; j < D; j++)
                s->shift[j] = (double)xr[j];
        for (int j = 0; j < D; j++) {
            d[j] = (double)xr[j] - s->shift[j];
            s->s1[j] += d[j];
        }
        for (int i = 0; i < D; i++) {
            const double di = d[i];
            if (di == 0.0)
                continue;
            double *row = s->s2 + (size_t)i * D;
            for (int j = i; j < D; j++)
                row[j] += di * d[j];
        }
        if (s->keep) {
            memcpy(s->feat + s->n * D, xr, (size_t)D * sizeof *xr);
            s->video[s->n] = video ? video[r] : -1;
            s->offset[s->n] = offset ? offset[r] : -1;
        }
        s->n++;
    }
    free(d);
    return SV_OK;
}

int sv_fvd_stats_dim(const sv_fvd_stats *s)
{
    return s->dim;
}
int64_t sv_fvd_stats_count(const sv_fvd_stats *s)
{
    return s->n;
}
const float *sv_fvd_stats_features(const sv_fvd_stats *s)
{
    return s->keep ? s->feat : NULL;
}
const int64_t *sv_fvd_stats_videos(const sv_fvd_stats *s)
{
    return s->keep ? s->video : NULL;
}
const int64_t *sv_fvd_stats_offsets(const sv_fvd_stats *s)
{
    return s->keep ? s->offset : NULL;
}

int sv_fvd_stats_moments(const sv_fvd_stats *s, int unbiased, double *mu, double *cov, sv_err *e)
{
    const int D = s->dim;
    const int64_t n = s->n;
    if (n < 1)
        return sv_seterr(e, SV_ERR_INVALID, "FVD statistics: no clips");
    if (unbiased && n < 2)
        return sv_seterr(e, SV_ERR_INVALID, "FVD statistics: the unbiased covariance needs at least 2 clips (have 1)");
    if (mu)
        for (int j = 0; j < D; j++)
            mu[j] = s->shift[j] + s->s1[j] / (double)n;
    if (cov) {
        const double dn = unbiased ? (double)(n - 1) : (double)n;
        for (int i = 0; i < D; i++)
            for (int j = i; j < D; j++) {
                double c = (s->s2[(size_t)i * D + j] - s->s1[i] * s->s1[j] / (double)n) / dn;
                cov[(size_t)i * D + j] = c;
                cov[(size_t)j * D + i] = c;
            }
    }
    return SV_OK;
}

/* ---- LAPACK (loaded at run time) ---------------------------------------------------------------------- */

typedef lapack_int (*dsyevd_fn)(int layout, char jobz, char uplo, lapack_int n, double *a, lapack_int lda,
                                double *w);
typedef lapack_int (*dgesdd_fn)(int layout, char jobz, lapack_int m, lapack_int n, double *a, lapack_int lda,
                                double *s, double *u, lapack_int ldu, double *vt, lapack_int ldvt);

static pthread_once_t lapack_once = PTHREAD_ONCE_INIT;
static dsyevd_fn p_dsyevd;
static dgesdd_fn p_dgesdd;
static char lapack_msg[SV_ERRMSG_LEN];

static void lapack_load_once(void)
{
    /* OpenBLAS first, with svgan's core choice (liblapacke -> liblapack.so.3 -> OpenBLAS on Debian). */
    sv_blas_load(NULL);
    void *h = dlopen("liblapacke.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        h = dlopen("liblapacke.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *d = dlerror();
        snprintf(lapack_msg, sizeof lapack_msg, "cannot load LAPACKE (install liblapacke): %.300s",
                 d ? d : "dlopen failed");
        return;
    }
    p_dsyevd = (dsyevd_fn)dlsym(h, "LAPACKE_dsyevd");
    p_dgesdd = (dgesdd_fn)dlsym(h, "LAPACKE_dgesdd");
    if (!p_dsyevd || !p_dgesdd) {
        p_dsyevd = NULL;
        p_dgesdd = NULL;
        snprintf(lapack_msg, sizeof lapack_msg, "liblapacke has no LAPACKE_dsyevd/LAPACKE_dgesdd");
    }
}

static int lapack_load(sv_err *e)
{
    pthread_once(&lapack_once, lapack_load_once);
    if (!p_dsyevd)
        return sv_seterr(e, SV_ERR_UNSUPPORTED, "%s", lapack_msg);
    return SV_OK;
}

/* ---- Fréchet distance ------------------------------------------------------------------------------- */

const char *sv_fd_route_name(sv_fd_route r)
{
    return r == SV_FD_EIGEN ? "eigen" : r == SV_FD_GRAM ? "gram" : "auto";
}

static int finish(sv_fd_result *r, sv_err *e)
{
    r->raw = r->mean_term + r->trace1 + r->trace2 - 2.0 * r->trace_sqrt;
    double scale = r->mean_term + r->trace1 + r->trace2;
    if (!isfinite(r->raw))
        return sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance is not finite (%g)", r->raw);
    if (r->raw < -1e-9 * scale)
        return sv_seterr(e, SV_ERR_NUMERIC,
                         "Fréchet distance came out negative beyond round-off (%.17g; traces %.17g, %.17g, "
                         "tr sqrt %.17g)",
                         r->raw, r->trace1, r->trace2, r->trace_sqrt);
    r->fd = r->raw < 0 ? 0.0 : r->raw;
    return SV_OK;
}

/* Eigenvalues of a symmetric PSD matrix at or below D·ε·max|λ| are round-off (what a rank-deficient
 * covariance's zero eigenvalues come out as); they count as 0.  Dropping a genuine eigenvalue that small
 * changes Σ√λ by at most D·√(D·ε·max λ), the size of the round-off it removes. */
static double noise_floor(int D, const double *w)
{
    double m = 0;
    for (int i = 0; i < D; i++)
        m = fabs(w[i]) > m ? fabs(w[i]) : m;
    return (double)D * 2.220446049250313e-16 * m;
}

int sv_frechet_moments(int D, const double *mu1, const double *cov1, const double *mu2, const double *cov2,
                       sv_fd_result *r, sv_err *e)
{
    memset(r, 0, sizeof *r);
    r->route = SV_FD_EIGEN;
    if (D < 1 || !mu1 || !mu2 || !cov1 || !cov2)
        return sv_seterr(e, SV_ERR_INVALID, "Fréchet distance: bad arguments (D = %d)", D);
    for (size_t i = 0; i < (size_t)D * D; i++)
        if (!isfinite(cov1[i]) || !isfinite(cov2[i]))
            return sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance: covariance %d has a NaN/Inf entry",
                             isfinite(cov1[i]) ? 2 : 1);
    for (int i = 0; i < D; i++)
        if (!isfinite(mu1[i]) || !isfinite(mu2[i]))
            return sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance: mean %d has a NaN/Inf entry",
                             isfinite(mu1[i]) ? 2 : 1);
    int rc = lapack_load(e);
    if (rc)
        return rc;
    const size_t DD = (size_t)D * D;
    double *V = malloc(DD * sizeof *V), *T = malloc(DD * sizeof *T), *M = calloc(DD, sizeof *M);
    double *w = malloc((size_t)D * sizeof *w), *sq = malloc((size_t)D * sizeof *sq);
    if (!V || !T || !M || !w || !sq) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "Fréchet distance: out of memory (D = %d)", D);
        goto out;
    }
    for (int i = 0; i < D; i++) {
        double dm = mu1[i] - mu2[i];
        r->mean_term += dm * dm;
        r->trace1 += cov1[(size_t)i * D + i];
        r->trace2 += cov2[(size_t)i * D + i];
        for (int j = 0; j < D; j++)
            V[(size_t)i * D + j] = 0.5 * (cov1[(size_t)i * D + j] + cov1[(size_t)j * D + i]);
    }
    /* Σ1 = V diag(w) Vᵀ (eigenvectors in the columns of V) */
    lapack_int info = p_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', D, V, D, w);
    if (info != 0) {
        rc = sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance: eigendecomposition of Σ1 failed (LAPACK info %d)",
                       (int)info);
        goto out;
    }
    double tol = noise_floor(D, w);
    for (int i = 0; i < D; i++)
        sq[i] = w[i] > tol ? sqrt(w[i]) : 0.0;
    /* T = Σ2 V */
    for (int i = 0; i < D; i++) {
        double *ti = T + (size_t)i * D;
        memset(ti, 0, (size_t)D * sizeof *ti);
        for (int k = 0; k < D; k++) {
            const double a = 0.5 * (cov2[(size_t)i * D + k] + cov2[(size_t)k * D + i]);
            const double *vk = V + (size_t)k * D;
            for (int j = 0; j < D; j++)
                ti[j] += a * vk[j];
        }
    }
    /* M = Vᵀ T, i.e. M[i][j] = Σ_k V[k][i] T[k][j] */
    for (int k = 0; k < D; k++) {
        const double *vk = V + (size_t)k * D, *tk = T + (size_t)k * D;
        for (int i = 0; i < D; i++) {
            const double a = vk[i];
            if (a == 0.0)
                continue;
            double *mi = M + (size_t)i * D;
            for (int j = 0; j < D; j++)
                mi[j] += a * tk[j];
        }
    }
    /* diag(√w) M diag(√w), symmetrised */
    for (int i = 0; i < D; i++)
        for (int j = i; j < D; j++) {
            double v = 0.5 * (M[(size_t)i * D + j] + M[(size_t)j * D + i]) * sq[i] * sq[j];
            M[(size_t)i * D + j] = v;
            M[(size_t)j * D + i] = v;
        }
    info = p_dsyevd(LAPACK_ROW_MAJOR, 'N', 'U', D, M, D, w);
    if (info != 0) {
        rc = sv_seterr(e, SV_ERR_NUMERIC,
                       "Fréchet distance: eigendecomposition of Σ1^½Σ2Σ1^½ failed (LAPACK info %d)", (int)info);
        goto out;
    }
    tol = noise_floor(D, w);
    for (int i = 0; i < D; i++)
        r->trace_sqrt += w[i] > tol ? sqrt(w[i]) : 0.0;
    rc = finish(r, e);
out:
    free(V);
    free(T);
    free(M);
    free(w);
    free(sq);
    return rc;
}

int sv_frechet_gram(int D, const double *X1, int64_t n1, const double *X2, int64_t n2, int unbiased,
                    sv_fd_result *r, sv_err *e)
{
    memset(r, 0, sizeof *r);
    r->route = SV_FD_GRAM;
    if (D < 1 || !X1 || !X2 || n1 < 1 || n2 < 1)
        return sv_seterr(e, SV_ERR_INVALID, "Fréchet distance (gram): bad arguments (D = %d, n = %lld, %lld)", D,
                         (long long)n1, (long long)n2);
    if (unbiased && (n1 < 2 || n2 < 2))
        return sv_seterr(e, SV_ERR_INVALID, "Fréchet distance: the unbiased covariance needs at least 2 clips");
    if (n1 > 65536 || n2 > 65536 || n1 * n2 > ((int64_t)1 << 28))
        return sv_seterr(e, SV_ERR_INVALID, "Fréchet distance (gram): %lld x %lld clips is too large for this route",
                         (long long)n1, (long long)n2);
    for (int64_t i = 0; i < n1 * D; i++)
        if (!isfinite(X1[i]))
            return sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance: features 1 have a NaN/Inf entry");
    for (int64_t i = 0; i < n2 * D; i++)
        if (!isfinite(X2[i]))
            return sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance: features 2 have a NaN/Inf entry");
    int rc = lapack_load(e);
    if (rc)
        return rc;
    double *m1 = calloc((size_t)D, sizeof *m1), *m2 = calloc((size_t)D, sizeof *m2);
    double *A = malloc((size_t)n1 * D * sizeof *A), *B = malloc((size_t)n2 * D * sizeof *B);
    double *G = malloc((size_t)n1 * n2 * sizeof *G);
    int64_t ns = n1 < n2 ? n1 : n2;
    double *sv = malloc((size_t)ns * sizeof *sv);
    if (!m1 || !m2 || !A || !B || !G || !sv) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "Fréchet distance (gram): out of memory");
        goto out;
    }
    for (int64_t i = 0; i < n1; i++)
        for (int j = 0; j < D; j++)
            m1[j] += X1[i * D + j];
    for (int64_t i = 0; i < n2; i++)
        for (int j = 0; j < D; j++)
            m2[j] += X2[i * D + j];
    for (int j = 0; j < D; j++) {
        m1[j] /= (double)n1;
        m2[j] /= (double)n2;
        double dm = m1[j] - m2[j];
        r->mean_term += dm * dm;
    }
    /* rows of A, B: centred clips scaled by 1/√d (A here is the transpose of the header's A) */
    const double c1 = 1.0 / sqrt(unbiased ? (double)(n1 - 1) : (double)n1);
    const double c2 = 1.0 / sqrt(unbiased ? (double)(n2 - 1) : (double)n2);
    for (int64_t i = 0; i < n1; i++)
        for (int j = 0; j < D; j++) {
            double a = (X1[i * D + j] - m1[j]) * c1;
            A[i * D + j] = a;
            r->trace1 += a * a;
        }
    for (int64_t i = 0; i < n2; i++)
        for (int j = 0; j < D; j++) {
            double b = (X2[i * D + j] - m2[j]) * c2;
            B[i * D + j] = b;
            r->trace2 += b * b;
        }
    /* G = A Bᵀ (n1 × n2): the header's AᵀB */
    for (int64_t i = 0; i < n1; i++)
        for (int64_t k = 0; k < n2; k++) {
            const double *a = A + i * D, *b = B + k * D;
            double acc = 0;
            for (int j = 0; j < D; j++)
                acc += a[j] * b[j];
            G[i * n2 + k] = acc;
        }
    lapack_int info = p_dgesdd(LAPACK_ROW_MAJOR, 'N', (lapack_int)n1, (lapack_int)n2, G, (lapack_int)n2, sv, NULL, 1,
                               NULL, (lapack_int)n2); /* LAPACKE checks ldvt ≥ n even for jobz 'N' */
    if (info != 0) {
        rc = sv_seterr(e, SV_ERR_NUMERIC, "Fréchet distance (gram): SVD failed (LAPACK info %d)", (int)info);
        goto out;
    }
    for (int64_t i = 0; i < ns; i++)
        r->trace_sqrt += sv[i] > 0 ? sv[i] : 0.0;
    rc = finish(r, e);
out:
    free(m1);
    free(m2);
    free(A);
    free(B);
    free(G);
    free(sv);
    return rc;
}

static double *features_f64(const sv_fvd_stats *s)
{
    size_t n = (size_t)s->n * s->dim;
    double *x = malloc((n ? n : 1) * sizeof *x);
    if (x)
        for (size_t i = 0; i < n; i++)
            x[i] = (double)s->feat[i];
    return x;
}

int sv_fvd_distance(const sv_fvd_stats *a, const sv_fvd_stats *b, int unbiased, sv_fd_route route,
                    sv_fd_result *r, sv_err *e)
{
    memset(r, 0, sizeof *r);
    if (a->dim != b->dim)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: feature dimensions differ (%d vs %d)", a->dim, b->dim);
    if (a->n < 1 || b->n < 1)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: no clips in the %s set", a->n < 1 ? "first" : "second");
    const int D = a->dim;
    const int have = a->keep && b->keep;
    if (route == SV_FD_GRAM && !have)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: the gram route needs the features of both sets");
    if (route == SV_FD_AUTO)
        route = (have && (a->n < D || b->n < D)) ? SV_FD_GRAM : SV_FD_EIGEN;
    int rc;
    if (route == SV_FD_GRAM) {
        double *x1 = features_f64(a), *x2 = features_f64(b);
        if (!x1 || !x2)
            rc = sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory");
        else
            rc = sv_frechet_gram(D, x1, a->n, x2, b->n, unbiased, r, e);
        free(x1);
        free(x2);
        return rc;
    }
    const size_t DD = (size_t)D * D;
    double *mu1 = malloc((size_t)D * sizeof *mu1), *mu2 = malloc((size_t)D * sizeof *mu2);
    double *c1 = malloc(DD * sizeof *c1), *c2 = malloc(DD * sizeof *c2);
    if (!mu1 || !mu2 || !c1 || !c2)
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory");
    else if (!(rc = sv_fvd_stats_moments(a, unbiased, mu1, c1, e)) &&
             !(rc = sv_fvd_stats_moments(b, unbiased, mu2, c2, e)))
        rc = sv_frechet_moments(D, mu1, c1, mu2, c2, r, e);
    free(mu1);
    free(mu2);
    free(c1);
    free(c2);
    return rc;
}

/* ---- cache ---------------------------------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return (h ^ 0xffu) * 0x100000001b3ULL; /* field separator */
}

static int make_dirs(const char *path)
{
    char tmp[1024];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -1;
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(tmp, 0755);
            *s = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

int sv_fvd_cache_path(const char *const *name, char *buf, size_t n, sv_err *e)
{
    char dir[1024];
    const char *d = getenv("SVGAN_CACHE_DIR");
    if (d && !strcmp(d, "off"))
        return sv_seterr(e, SV_ERR_UNSUPPORTED, "the cache is off (SVGAN_CACHE_DIR=off)");
    if (d && *d)
        snprintf(dir, sizeof dir, "%s/fvd", d);
    else if ((d = getenv("XDG_CACHE_HOME")) && *d)
        snprintf(dir, sizeof dir, "%s/svgan/fvd", d);
    else if ((d = getenv("HOME")) && *d)
        snprintf(dir, sizeof dir, "%s/.cache/svgan/fvd", d);
    else
        return sv_seterr(e, SV_ERR_UNSUPPORTED, "no cache directory (set SVGAN_CACHE_DIR or HOME)");
    if (make_dirs(dir))
        return sv_seterr(e, SV_ERR_UNSUPPORTED, "cannot create the cache directory %s", dir);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; name && name[i] && name[i + 1]; i += 2) {
        h = fnv1a(h, name[i]);
        h = fnv1a(h, name[i + 1]);
    }
    if ((size_t)snprintf(buf, n, "%s/real-%016llx.safetensors", dir, (unsigned long long)h) >= n)
        return sv_seterr(e, SV_ERR_INVALID, "cache path too long");
    return SV_OK;
}

int sv_fvd_cache_save(const char *path, const sv_fvd_stats *s, const char *const *key, const char *const *info,
                      sv_err *e)
{
    if (!s->keep)
        return sv_seterr(e, SV_ERR_INVALID, "FVD cache: the statistics did not keep their features");
    if (s->n < 1)
        return sv_seterr(e, SV_ERR_INVALID, "FVD cache: no clips to save");
    const int D = s->dim;
    double *mu = malloc((size_t)D * sizeof *mu), *cov = malloc((size_t)D * D * sizeof *cov);
    sv_st_writer *w = sv_st_writer_new();
    int rc;
    if (!mu || !cov || !w) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD cache: out of memory");
        goto out;
    }
    if ((rc = sv_fvd_stats_moments(s, 0, mu, cov, e)))
        goto out;
    int64_t fs[2] = {s->n, D}, ns[1] = {s->n}, ds[1] = {D}, cs[2] = {D, D};
    if ((rc = sv_st_writer_add_ref(w, "features", SV_ST_F32, 2, fs, s->feat, e)) ||
        (rc = sv_st_writer_add_ref(w, "clip_video", SV_ST_I64, 1, ns, s->video, e)) ||
        (rc = sv_st_writer_add_ref(w, "clip_offset", SV_ST_I64, 1, ns, s->offset, e)) ||
        (rc = sv_st_writer_add_ref(w, "mu", SV_ST_F64, 1, ds, mu, e)) ||
        (rc = sv_st_writer_add_ref(w, "sigma", SV_ST_F64, 2, cs, cov, e)) ||
        (rc = sv_st_writer_meta(w, "format", SV_FVD_STATS_FORMAT, e)))
        goto out;
    for (size_t i = 0; key && key[i] && key[i + 1]; i += 2)
        if ((rc = sv_st_writer_meta(w, key[i], key[i + 1], e)))
            goto out;
    for (size_t i = 0; info && info[i] && info[i + 1]; i += 2)
        if ((rc = sv_st_writer_meta(w, info[i], info[i + 1], e)))
            goto out;
    rc = sv_st_writer_save(w, path, e);
out:
    sv_st_writer_free(w);
    free(mu);
    free(cov);
    return rc;
}

int sv_fvd_cache_load(const char *path, const char *const *key, sv_fvd_stats **out, char *why, size_t whylen,
                      sv_err *e)
{
    *out = NULL;
    char dummy[8];
    if (!why) {
        why = dummy;
        whylen = sizeof dummy;
    }
    why[0] = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, whylen, "no cache file %s", path);
        return SV_OK;
    }
    sv_st_file *f = NULL;
    sv_err le = {0};
    if (sv_st_open(path, &f, &le)) {
        snprintf(why, whylen, "unreadable cache file (%s)", le.msg);
        return SV_OK;
    }
    int rc = SV_OK;
    const char *fmt = sv_st_metadata(f, "format");
    if (!fmt || strcmp(fmt, SV_FVD_STATS_FORMAT)) {
        snprintf(why, whylen, "%s is not an svgan FVD statistics file (format '%.40s')", path, fmt ? fmt : "none");
        goto out;
    }
    for (size_t i = 0; key && key[i] && key[i + 1]; i += 2) {
        const char *v = sv_st_metadata(f, key[i]);
        if (!v || strcmp(v, key[i + 1])) {
            if (v)
                snprintf(why, whylen, "%s is '%.120s' in the cache, '%.120s' now", key[i], v, key[i + 1]);
            else
                snprintf(why, whylen, "the cache does not record %s", key[i]);
            goto out;
        }
    }
    const sv_st_tensor *t = sv_st_find(f, "features");
    if (!t || t->dtype != SV_ST_F32 || t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > 16384) {
        snprintf(why, whylen, "the cache has no usable 'features' tensor");
        goto out;
    }
    const int64_t n = t->shape[0];
    const int D = (int)t->shape[1];
    float *x = malloc((size_t)t->nbytes);
    int64_t *vid = malloc((size_t)n * sizeof *vid), *off = malloc((size_t)n * sizeof *off);
    sv_fvd_stats *s = NULL;
    if (!x || !vid || !off) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD cache: out of memory");
        goto out2;
    }
    memcpy(x, t->data, t->nbytes);
    if (sv_st_read_i64(f, "clip_video", vid, (size_t)n, &le) || sv_st_read_i64(f, "clip_offset", off, (size_t)n, &le)) {
        snprintf(why, whylen, "bad clip provenance in the cache (%s)", le.msg);
        goto out2;
    }
    if ((rc = sv_fvd_stats_new(D, 1, &s, e)))
        goto out2;
    if (sv_fvd_stats_add(s, x, n, vid, off, &le)) {
        if (le.code == SV_ERR_NOMEM)
            rc = sv_seterr(e, SV_ERR_NOMEM, "%s", le.msg);
        else
            snprintf(why, whylen, "bad features in the cache (%s)", le.msg);
        sv_fvd_stats_free(s);
        s = NULL;
        goto out2;
    }
    *out = s;
out2:
    free(x);
    free(vid);
    free(off);
out:
    sv_st_close(f);
    return rc;
}
