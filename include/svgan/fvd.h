/* svgan — Fréchet Video Distance (spec fvd.md, stylegan-v.md §7.1): float64 feature statistics, the
 * Fréchet distance, the StyleGAN-V protocols, the real-statistics cache and the clip sources.
 *
 * Statistics.  Per-clip feature vectors (the 400 time-averaged I3D logits) are accumulated on the host
 * in float64 as shifted sums Σ(x−K) and Σ(x−K)(x−K)ᵀ with K the first vector added (the same numbers
 * as StyleGAN-V's Σx, Σxxᵀ in exact arithmetic, without the cancellation of E[xxᵀ] − μμᵀ):
 *     μ = K + Σ(x−K)/N,   Σ = (Σ(x−K)(x−K)ᵀ − Σ(x−K)Σ(x−K)ᵀ/N) / d,
 * d = N (biased, StyleGAN-V's default) or N − 1 (unbiased, TF-GAN's).  Features are taken as float32
 * (as StyleGAN-V casts them) and non-finite features are an error.
 *
 * Distance.  FD = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2·tr √(Σ1 Σ2), with tr √(Σ1Σ2) computed one of two
 * ways, both exact in exact arithmetic and both real and finite for singular covariances:
 *   eigen: tr √(Σ1^½ Σ2 Σ1^½) = Σ_i √λ_i, Σ1^½ = V diag(√λ) Vᵀ from the symmetric eigendecomposition
 *          of Σ1 (LAPACK dsyevd), the middle matrix formed as diag(√λ) (Vᵀ Σ2 V) diag(√λ) and
 *          symmetrised; in both eigendecompositions eigenvalues ≤ D·ε·max|λ| (negative ones included)
 *          are round-off and count as 0 (without this, the ~D·√(ε·λmax) noise of a rank-deficient
 *          covariance breaks FD(X,Y) = FD(Y,X) at 3e-9 relative, tested);
 *   gram:  with A = (X1 − μ1)ᵀ/√d1 and B = (X2 − μ2)ᵀ/√d2 (D × N), Σ1 = AAᵀ, Σ2 = BBᵀ, and
 *          tr √(Σ1Σ2) = ‖AᵀB‖_* (sum of singular values of the N1 × N2 matrix, LAPACK dgesdd);
 *          needs the features themselves; exact and cheap when N < D.
 * SV_FD_AUTO picks gram when both statistics kept their features and min(N1, N2) < D, else eigen.
 * A result in [−1e-9·scale, 0) (scale = tr Σ1 + tr Σ2 + ‖μ1 − μ2‖²) is round-off and becomes 0 (the
 * raw value is reported); a more negative one is SV_ERR_NUMERIC.
 *
 * LAPACK is loaded at run time (dlopen of liblapacke.so.3) after OpenBLAS has been loaded by
 * sv_blas_load: liblapacke pulls in OpenBLAS through liblapack.so.3, and linking it would start OpenBLAS
 * before svgan chooses its core type (see src/runtime/blas.c).
 *
 * Protocols (StyleGAN-V metric_main.py): fvd2048_16f (2048 clips × 16 frames, stride 1),
 * fvd2048_128f (× 128 frames), fvd2048_128f_subsample8f (16 frames at stride 8).  Real clips: one per
 * video from the first N videos in sorted order that have at least n·s frames (shorter ones are
 * skipped and counted), frames o + s·[0..n), offset o uniform in {0 … L − n·s + s − 1}: o =
 * floor(u·(L − n·s + s)) with u value v (the video's index) of the uniform stream
 * (seed, SV_STREAM_FVD), so a video's offset does not depend on the others.  Fake clips from a
 * generator: clip i has content and motion seed (seed + i), exactly the video `svgan sample --seed
 * seed+i` renders, at times 0, s, …, (n−1)·s, quantised as uint8(clamp(x·127.5 + 128, 0, 255))
 * (float32 multiply then add, truncating cast). */
#ifndef SVGAN_FVD_H
#define SVGAN_FVD_H

#include <stddef.h>
#include <stdint.h>

#include "svgan/dataset.h"
#include "svgan/generator.h"
#include "svgan/i3d.h"
#include "svgan/rng.h"
#include "svgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Width of the FVD feature (Kinetics-400 logits averaged over time). */
#define SV_FVD_DIM 400
/* Value of the "format" metadata of a real-statistics cache file. */
#define SV_FVD_STATS_FORMAT "svgan-fvd-stats-1"
/* RNG stream of the real clips' offsets (distinct from every stream in rng.h). */
#define SV_STREAM_FVD (SV_STREAM_USER + 0xF0D)

/* ---- protocols --------------------------------------------------------------------------------- */

typedef struct sv_fvd_protocol {
    char name[48];   /* "fvd2048_16f", ... or "custom" */
    int num_videos;  /* N: real clips (at most) and fake clips */
    int frames;      /* n: frames per clip */
    int stride;      /* s: temporal stride */
} sv_fvd_protocol;

/* Fill p from a protocol name; SV_ERR_INVALID listing the names for an unknown one. */
int sv_fvd_protocol_get(const char *name, sv_fvd_protocol *p, sv_err *e);
const char *const *sv_fvd_protocol_names(void); /* NULL-terminated */
/* Frames a real video needs for a clip: n·s, StyleGAN-V's discard_short_videos rule ((n − 1)·s + 1
 * would suffice, but the official loader drops videos shorter than n·s). */
int64_t sv_fvd_min_video_frames(const sv_fvd_protocol *p);

/* Quantise generator output like StyleGAN-V's compute_feature_stats_for_generator:
 * out = (uint8) clamp(x·127.5f + 128.0f, 0, 255) in float32 (multiply, then add, truncating cast).
 * SV_ERR_NUMERIC naming the first non-finite value (nothing sensible to quantise it to). */
int sv_fvd_quantize(const float *x, size_t n, uint8_t *out, sv_err *e);

/* ---- statistics -------------------------------------------------------------------------------- */

typedef struct sv_fvd_stats sv_fvd_stats;

/* dim ≥ 1.  keep_features: also keep every feature vector (float32) and its clip provenance (needed
 * for the gram route, --features-out and the cache). */
int sv_fvd_stats_new(int dim, int keep_features, sv_fvd_stats **out, sv_err *e);
void sv_fvd_stats_free(sv_fvd_stats *s); /* NULL is fine */
/* Add n feature vectors x[n·dim]; video/offset (may be NULL) record where each clip came from.  A
 * non-finite value is SV_ERR_NUMERIC and nothing of this call is added. */
int sv_fvd_stats_add(sv_fvd_stats *s, const float *x, int64_t n, const int64_t *video, const int64_t *offset,
                     sv_err *e);
int sv_fvd_stats_dim(const sv_fvd_stats *s);
int64_t sv_fvd_stats_count(const sv_fvd_stats *s);
/* Kept features [count·dim] and provenance [count] (-1 = unknown), or NULL when not kept. */
const float *sv_fvd_stats_features(const sv_fvd_stats *s);
const int64_t *sv_fvd_stats_videos(const sv_fvd_stats *s);
const int64_t *sv_fvd_stats_offsets(const sv_fvd_stats *s);
/* μ [dim] and Σ [dim·dim] (row-major, exactly symmetric); either may be NULL.  SV_ERR_INVALID when
 * empty, or unbiased with fewer than 2 vectors. */
int sv_fvd_stats_moments(const sv_fvd_stats *s, int unbiased, double *mu, double *cov, sv_err *e);

/* ---- Fréchet distance ---------------------------------------------------------------------------- */

typedef enum sv_fd_route { SV_FD_AUTO = 0, SV_FD_EIGEN = 1, SV_FD_GRAM = 2 } sv_fd_route;

typedef struct sv_fd_result {
    double fd;          /* the distance (≥ 0) */
    double raw;         /* before the clamp of a round-off negative */
    double mean_term;   /* ‖μ1 − μ2‖² */
    double trace1, trace2, trace_sqrt; /* tr Σ1, tr Σ2, tr √(Σ1Σ2) */
    sv_fd_route route;  /* the route used (EIGEN or GRAM) */
} sv_fd_result;

/* From moments: eigen route.  cov1, cov2 symmetric PSD D×D (row-major; symmetrised internally). */
int sv_frechet_moments(int D, const double *mu1, const double *cov1, const double *mu2, const double *cov2,
                       sv_fd_result *r, sv_err *e);
/* From feature matrices X1 [n1·D], X2 [n2·D] (float64): gram route with d = n or n − 1. */
int sv_frechet_gram(int D, const double *X1, int64_t n1, const double *X2, int64_t n2, int unbiased,
                    sv_fd_result *r, sv_err *e);
/* Between two accumulators (same dim); SV_FD_GRAM needs both to have kept their features. */
int sv_fvd_distance(const sv_fvd_stats *a, const sv_fvd_stats *b, int unbiased, sv_fd_route route,
                    sv_fd_result *r, sv_err *e);
const char *sv_fd_route_name(sv_fd_route r); /* "auto", "eigen", "gram" */

/* ---- real-statistics cache ------------------------------------------------------------------------- */

/* A cache file is a safetensors file (safetensors.h) holding
 *   features F32 [N, D], clip_video I64 [N], clip_offset I64 [N], mu F64 [D], sigma F64 [D, D]
 * (biased), and metadata: format = SV_FVD_STATS_FORMAT, every key/value of `key` (the protocol, the
 * dataset and its fingerprint, the weights' SHA-1, the preprocessing, the svgan version — whatever
 * the caller decides identifies the statistics) and the informational pairs of `info`.
 * key, info: NULL-terminated arrays of key, value, key, value, ..., NULL (info may be NULL).
 * The statistics must have kept their features.  Written atomically (temp file + rename). */
int sv_fvd_cache_save(const char *path, const sv_fvd_stats *s, const char *const *key, const char *const *info,
                      sv_err *e);
/* Loads path if it exists and its format and every pair of key match: *out gets the statistics
 * (features kept) and 0 is returned.  Otherwise *out is NULL, `why` (may be NULL) gets a one-line
 * reason ("no cache file", "frames is 128 in the cache, 16 requested", "unreadable: ...") and 0 is
 * returned too: a cache that cannot be used is never an error, it is recomputed.  Errors are only
 * allocation failures. */
int sv_fvd_cache_load(const char *path, const char *const *key, sv_fvd_stats **out, char *why, size_t whylen,
                      sv_err *e);
/* Default cache file named by `name` (key/value pairs as above; svgan fvd passes the dataset path, the
 * protocol, the seed and the weights' SHA-1, not the dataset fingerprint or the svgan version, so that a
 * changed dataset finds — and, after saying why, replaces — its old file):
 * <cache dir>/fvd/real-<16 hex digits of a hash of name>.safetensors,
 * cache dir = $SVGAN_CACHE_DIR, else $XDG_CACHE_HOME/svgan, else ~/.cache/svgan (directories are
 * created).  Returns 0, or SV_ERR_UNSUPPORTED when caching is off (SVGAN_CACHE_DIR=off) or no
 * directory can be made. */
int sv_fvd_cache_path(const char *const *name, char *buf, size_t n, sv_err *e);

/* ---- clip sources (src/fvd/fvd_clips.c) ------------------------------------------------------------- */

/* Which clips of a dataset: one per video, the first `num_videos` videos (sorted order) with at least
 * sv_fvd_min_video_frames frames.  random_offsets: offsets as in the top comment (real data);
 * 0: every clip starts at frame 0 (fakes read from a dataset, StyleGAN-V's
 * calc_metrics_for_dataset.py).  Fewer usable videos than num_videos is SV_ERR_INVALID ("... has
 * only K videos with ≥ n·s frames ...") unless allow_fewer, which takes all of them (StyleGAN-V's
 * behaviour); none at all is always an error. */
typedef struct sv_fvd_plan {
    int64_t n;        /* clips */
    int64_t *video;   /* [n] dataset video index */
    int64_t *offset;  /* [n] first frame */
    int64_t skipped;  /* videos passed over for being too short */
    int64_t visited;  /* videos looked at (the clips' videos and the skipped ones) */
} sv_fvd_plan;
int sv_fvd_plan_dataset(const sv_dataset *ds, const sv_fvd_protocol *p, uint64_t seed, int random_offsets,
                        int allow_fewer, sv_fvd_plan *plan, sv_err *e);
void sv_fvd_plan_free(sv_fvd_plan *plan);

/* Called after every batch with the clips done so far. */
typedef void (*sv_fvd_progress_fn)(void *user, int64_t done, int64_t total);

/* Reads the planned clips (frames offset + s·[0..n)), batch clips at a time, computes their I3D
 * features on net's device (ctx: net's context, for its error messages) and adds them (with their
 * video index and offset) to st (dim 400). */
int sv_fvd_features_dataset(sv_ctx *ctx, sv_i3d *net, sv_dataset *ds, const sv_fvd_plan *plan,
                            const sv_fvd_protocol *p, int batch, sv_fvd_stats *st, sv_fvd_progress_fn progress,
                            void *user, sv_err *e);
/* Renders generated clips first … first+k−1 into clips [k, n, 3, R, R] (uint8, the layout I3D takes):
 * clip i from content and motion seed (seed + i), at times 0, s, …, (n−1)·s, ψ = 1, quantised with
 * sv_fvd_quantize.  Errors from the device are copied from g's context. */
int sv_fvd_generator_clips(sv_generator *g, const sv_fvd_protocol *p, int64_t first, int k, uint64_t seed,
                           uint8_t *clips, sv_err *e);
/* Generates n clips with g (same context as net), clip i from seed + i (video index recorded as i,
 * offset 0), times 0, s, …, (n−1)·s, ψ = 1, quantised with sv_fvd_quantize, and adds their features
 * to st. */
int sv_fvd_features_generator(sv_i3d *net, sv_generator *g, const sv_fvd_protocol *p, int64_t n, uint64_t seed,
                              int batch, sv_fvd_stats *st, sv_fvd_progress_fn progress, void *user, sv_err *e);

#ifdef __cplusplus
}
#endif
#endif
