/* Clip sampling for training (spec §4.5): spans, real-clip and fake-clip
 * times, and the counter-based real-clip sampler.  See svgan/trainer.h. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "svgan/rng.h"
#include "svgan/trainer.h"

int sv_clip_spans(int k, int64_t L, int max_dist, int *dists)
{
    int n = 0;
    const int64_t hi = (L - 1 < max_dist) ? L - 1 : max_dist;
    for (int d = 1; d <= 2048; d *= 2)
        if (d >= k - 1 && d <= hi)
            dists[n++] = d;
    return n;
}

int sv_clip_times(int k, int64_t L, int max_dist, int fractional, const double *u, double *t, int *pool)
{
    int dists[12];
    const int nd = sv_clip_spans(k, L, max_dist, dists);
    if (!nd || k < 1)
        return -1;
    const int T = dists[(int)(u[0] * nd)];
    const double s = fractional ? u[1] * (double)(L - T - 1) : (double)(int64_t)(u[1] * (double)(L - T));
    t[0] = s;
    if (k >= 2)
        t[1] = s + T;
    /* k − 2 distinct offsets from {1 … T−1}: partial Fisher–Yates */
    const int n = T - 1;
    for (int i = 0; i < n; i++)
        pool[i] = i + 1;
    for (int j = 0; j + 2 < k; j++) {
        int idx = j + (int)(u[2 + j] * (double)(n - j));
        int tmp = pool[j];
        pool[j] = pool[idx];
        pool[idx] = tmp;
        t[2 + j] = s + pool[j];
    }
    for (int i = 1; i < k; i++) { /* insertion sort; k is small */
        double x = t[i];
        int j = i;
        while (j > 0 && t[j - 1] > x) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = x;
    }
    return 0;
}

struct sv_clip_sampler {
    int64_t *len, n, items; /* items = n or 2n with x-flip */
    int xflip, k, M, max_dist;
    uint64_t seed;
    int64_t epoch;          /* epoch of perm, −1: none */
    int64_t *perm;
    int pool[2048];
};

int sv_clip_sampler_new(const int64_t *lengths, int64_t n, int xflip, int k, int max_num_frames, int max_dist,
                        uint64_t seed, sv_clip_sampler **out, sv_err *e)
{
    *out = NULL;
    if (!lengths || n < 1)
        return sv_seterr(e, SV_ERR_INVALID, "clip sampler: no videos");
    if (k < 1 || k > 64)
        return sv_seterr(e, SV_ERR_INVALID, "clip sampler: frames per clip %d: expected 1..64", k);
    if (max_num_frames < 1 || max_dist < 1)
        return sv_seterr(e, SV_ERR_INVALID, "clip sampler: max_num_frames and max_dist must be >= 1");
    int dists[12];
    for (int64_t v = 0; v < n; v++) {
        const int64_t L = lengths[v] < max_num_frames ? lengths[v] : max_num_frames;
        if (lengths[v] < 1 || !sv_clip_spans(k, L, max_dist, dists))
            return sv_seterr(e, SV_ERR_INVALID,
                             "clip sampler: video %lld has %lld frames: too short for clips of k = %d frames "
                             "(needs a span d in {1, 2, 4, ...} with k-1 <= d <= min(L-1, %d))",
                             (long long)v, (long long)lengths[v], k, max_dist);
    }
    sv_clip_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return sv_seterr(e, SV_ERR_NOMEM, "clip sampler: out of memory");
    s->items = xflip ? 2 * n : n;
    s->len = malloc((size_t)n * sizeof *s->len);
    s->perm = malloc((size_t)s->items * sizeof *s->perm);
    if (!s->len || !s->perm) {
        sv_clip_sampler_free(s);
        return sv_seterr(e, SV_ERR_NOMEM, "clip sampler: out of memory");
    }
    memcpy(s->len, lengths, (size_t)n * sizeof *s->len);
    s->n = n;
    s->xflip = xflip ? 1 : 0;
    s->k = k;
    s->M = max_num_frames;
    s->max_dist = max_dist;
    s->seed = seed;
    s->epoch = -1;
    *out = s;
    return 0;
}

void sv_clip_sampler_free(sv_clip_sampler *s)
{
    if (!s)
        return;
    free(s->len);
    free(s->perm);
    free(s);
}

static void make_perm(sv_clip_sampler *s, int64_t epoch)
{
    for (int64_t i = 0; i < s->items; i++)
        s->perm[i] = i;
    double u[64];
    for (int64_t i = s->items - 1; i > 0; i--) {
        const int64_t c = (s->items - 1 - i) % 64; /* uniforms in chunks of 64 */
        if (c == 0)
            sv_rng_uniform_f64(s->seed, SV_CLIP_PERM_STREAM + (uint64_t)epoch, (uint64_t)(s->items - 1 - i), 64, u);
        const int64_t j = (int64_t)(u[c] * (double)(i + 1));
        const int64_t tmp = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = tmp;
    }
    s->epoch = epoch;
}

int sv_clip_sampler_get(sv_clip_sampler *s, int64_t g, int64_t *video, int *xflip, int64_t *frames, double *t)
{
    if (!s || g < 0)
        return SV_ERR_INVALID;
    const int64_t epoch = g / s->items;
    if (epoch != s->epoch)
        make_perm(s, epoch);
    const int64_t item = s->perm[g % s->items];
    const int64_t v = item % s->n;
    const int64_t len = s->len[v];
    const int k = s->k;
    double u[66], tt[64];
    sv_rng_uniform_f64(s->seed, SV_CLIP_STREAM + (uint64_t)g, 0, (size_t)(1 + (k > 2 ? k : 2)), u);
    const int64_t o = len > s->M ? (int64_t)(u[0] * (double)(len - s->M + 1)) : 0;
    const int64_t L = len < s->M ? len : s->M;
    if (sv_clip_times(k, L, s->max_dist, 0, u + 1, tt, s->pool))
        return SV_ERR_INVALID;
    if (video)
        *video = v;
    if (xflip)
        *xflip = item >= s->n;
    for (int f = 0; f < k; f++) {
        if (frames)
            frames[f] = o + (int64_t)tt[f];
        if (t)
            t[f] = tt[f];
    }
    return 0;
}
