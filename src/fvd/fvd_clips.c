/* FVD clip sources: the real-clip plan of a dataset, dataset clips and generator clips through I3D
 * into float64 statistics.  See include/svgan/fvd.h. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgan/fvd.h"
#include "svgan/tensor.h"

void sv_fvd_plan_free(sv_fvd_plan *plan)
{
    if (!plan)
        return;
    free(plan->video);
    free(plan->offset);
    memset(plan, 0, sizeof *plan);
}

int sv_fvd_plan_dataset(const sv_dataset *ds, const sv_fvd_protocol *p, uint64_t seed, int random_offsets,
                        int allow_fewer, sv_fvd_plan *plan, sv_err *e)
{
    memset(plan, 0, sizeof *plan);
    if (p->num_videos < 1 || p->frames < 1 || p->stride < 1)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: bad protocol (%d videos, %d frames, stride %d)", p->num_videos,
                         p->frames, p->stride);
    const int64_t need = sv_fvd_min_video_frames(p), nv = sv_dataset_num_videos(ds);
    plan->video = malloc((size_t)p->num_videos * sizeof *plan->video);
    plan->offset = malloc((size_t)p->num_videos * sizeof *plan->offset);
    if (!plan->video || !plan->offset) {
        sv_fvd_plan_free(plan);
        return sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory");
    }
    for (int64_t v = 0; v < nv && plan->n < p->num_videos; v++) {
        plan->visited++;
        const int64_t L = sv_dataset_video_frames(ds, v);
        if (L < need) {
            plan->skipped++;
            continue;
        }
        int64_t o = 0;
        if (random_offsets) {
            double u;
            sv_rng_uniform_f64(seed, SV_STREAM_FVD, (uint64_t)v, 1, &u);
            const int64_t range = L - need + p->stride; /* offsets 0 … L − n·s + s − 1 */
            o = (int64_t)floor(u * (double)range);
            if (o >= range)
                o = range - 1;
        }
        plan->video[plan->n] = v;
        plan->offset[plan->n] = o;
        plan->n++;
    }
    if (plan->n == 0 || (plan->n < p->num_videos && !allow_fewer)) {
        int64_t n = plan->n;
        sv_fvd_plan_free(plan);
        return sv_seterr(e, SV_ERR_INVALID,
                         "%s: %lld of its %lld videos have at least %lld frames (%d x stride %d), %d requested%s",
                         sv_dataset_path(ds), (long long)n, (long long)nv, (long long)need, p->frames, p->stride,
                         p->num_videos, n ? " (--allow-fewer-real uses them all, as StyleGAN-V does)" : "");
    }
    return SV_OK;
}

static int ctx_fail(sv_ctx *ctx, int rc, sv_err *e, const char *what)
{
    const char *m = sv_ctx_errmsg(ctx);
    return sv_seterr(e, rc ? rc : SV_ERR_CL, "%s: %s", what, m && *m ? m : sv_code_name(rc));
}

int sv_fvd_features_dataset(sv_ctx *ctx, sv_i3d *net, sv_dataset *ds, const sv_fvd_plan *plan,
                            const sv_fvd_protocol *p, int batch, sv_fvd_stats *st, sv_fvd_progress_fn progress,
                            void *user, sv_err *e)
{
    if (!ctx || !net || !ds || !plan || !st || batch < 1 || sv_fvd_stats_dim(st) != SV_I3D_FEATURES)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: bad arguments to sv_fvd_features_dataset");
    const int R = sv_dataset_resolution(ds), n = p->frames;
    const size_t clip = (size_t)n * 3 * R * R;
    if (batch > plan->n)
        batch = (int)plan->n;
    uint8_t *clips = malloc((size_t)batch * clip);
    float *feats = malloc((size_t)batch * SV_I3D_FEATURES * sizeof *feats);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    int rc = SV_OK;
    if (!clips || !feats || !idx) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory for %d clips of %d frames at %dx%d", batch, n, R, R);
        goto out;
    }
    for (int64_t c0 = 0; c0 < plan->n; c0 += batch) {
        int k = plan->n - c0 < batch ? (int)(plan->n - c0) : batch;
        for (int b = 0; b < k; b++) {
            for (int f = 0; f < n; f++)
                idx[f] = plan->offset[c0 + b] + (int64_t)f * p->stride;
            if ((rc = sv_dataset_read(ds, plan->video[c0 + b], idx, n, 0, clips + (size_t)b * clip, e)))
                goto out;
        }
        if ((rc = sv_i3d_features(net, clips, k, n, R, R, feats))) {
            rc = ctx_fail(ctx, rc, e, "I3D");
            goto out;
        }
        if ((rc = sv_fvd_stats_add(st, feats, k, plan->video + c0, plan->offset + c0, e)))
            goto out;
        if (progress)
            progress(user, c0 + k, plan->n);
    }
out:
    free(clips);
    free(feats);
    free(idx);
    return rc;
}

int sv_fvd_generator_clips(sv_generator *g, const sv_fvd_protocol *p, int64_t first, int k, uint64_t seed,
                           uint8_t *clips, sv_err *e)
{
    if (!g || !p || !clips || k < 1 || first < 0 || p->frames < 1 || p->stride < 1)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: bad arguments to sv_fvd_generator_clips");
    sv_ctx *ctx = sv_generator_ctx(g);
    const sv_mconfig *cfg = sv_generator_config(g);
    const int R = cfg->resolution, zd = cfg->z_dim, n = p->frames;
    const size_t fsz = (size_t)3 * R * R, clip = (size_t)n * fsz;
    /* frames per generator call: about 32 frames of the k videos at once */
    int64_t Fc = 32 / k;
    if (Fc < 1)
        Fc = 1;
    if (Fc > n)
        Fc = n;
    float *z = malloc((size_t)k * zd * sizeof *z), *host = malloc((size_t)k * Fc * fsz * sizeof *host);
    uint8_t *q = malloc((size_t)k * Fc * fsz);
    uint64_t *ms = malloc((size_t)k * sizeof *ms), *mst = calloc((size_t)k, sizeof *mst);
    double *t = malloc((size_t)k * Fc * sizeof *t);
    sv_tensor frames = {0};
    sv_gen_video *gv = NULL;
    int rc = SV_OK;
    int64_t fs[4] = {(int64_t)k * Fc, 3, R, R};
    if (!z || !host || !q || !ms || !mst || !t) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory for %d generated clips of %d frames at %dx%d", k, n, R, R);
        goto out;
    }
    if ((rc = sv_tensor_new(ctx, &frames, 4, fs))) {
        rc = ctx_fail(ctx, rc, e, "FVD");
        goto out;
    }
    for (int b = 0; b < k; b++) {
        const uint64_t sd = seed + (uint64_t)(first + b); /* = svgan sample --seed seed+i */
        sv_rng_normal(sd, SV_STREAM_Z, 0, (size_t)zd, z + (size_t)b * zd);
        ms[b] = sd;
        mst[b] = 0;
    }
    if ((rc = sv_generator_begin(g, k, z, ms, mst, 1.0f, &gv))) {
        rc = ctx_fail(ctx, rc, e, "generator");
        goto out;
    }
    for (int64_t f0 = 0; f0 < n; f0 += Fc) {
        const int64_t nf = n - f0 < Fc ? n - f0 : Fc;
        sv_tensor view;
        int64_t vs[4] = {(int64_t)k * nf, 3, R, R};
        if ((rc = sv_tensor_view(&frames, &view, 0, 4, vs))) {
            rc = ctx_fail(ctx, rc, e, "FVD");
            goto out;
        }
        for (int b = 0; b < k; b++)
            for (int64_t j = 0; j < nf; j++)
                t[b * nf + j] = (double)((f0 + j) * p->stride);
        rc = sv_generator_frames(gv, t, nf, &view);
        if (!rc)
            rc = sv_tensor_read(&view, host, (size_t)k * nf * fsz);
        sv_tensor_free(&view);
        if (rc) {
            rc = ctx_fail(ctx, rc, e, "generator");
            goto out;
        }
        if ((rc = sv_fvd_quantize(host, (size_t)k * nf * fsz, q, e)))
            goto out;
        for (int b = 0; b < k; b++) /* [b, f, 3, R, R] into clip b at frame f0 */
            memcpy(clips + (size_t)b * clip + (size_t)f0 * fsz, q + (size_t)b * nf * fsz, (size_t)nf * fsz);
    }
out:
    sv_gen_video_free(gv);
    sv_tensor_free(&frames);
    free(z);
    free(host);
    free(q);
    free(ms);
    free(mst);
    free(t);
    return rc;
}

int sv_fvd_features_generator(sv_i3d *net, sv_generator *g, const sv_fvd_protocol *p, int64_t nclips, uint64_t seed,
                              int batch, sv_fvd_stats *st, sv_fvd_progress_fn progress, void *user, sv_err *e)
{
    if (!net || !g || !st || batch < 1 || nclips < 1 || sv_fvd_stats_dim(st) != SV_I3D_FEATURES)
        return sv_seterr(e, SV_ERR_INVALID, "FVD: bad arguments to sv_fvd_features_generator");
    sv_ctx *ctx = sv_generator_ctx(g);
    const int R = sv_generator_config(g)->resolution, n = p->frames;
    const size_t clip = (size_t)n * 3 * R * R;
    if (batch > nclips)
        batch = (int)nclips;
    float *feats = malloc((size_t)batch * SV_I3D_FEATURES * sizeof *feats);
    uint8_t *clips = malloc((size_t)batch * clip);
    int64_t *vid = malloc((size_t)batch * sizeof *vid), *off = calloc((size_t)batch, sizeof *off);
    int rc = SV_OK;
    if (!feats || !clips || !vid || !off) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "FVD: out of memory for %d generated clips of %d frames at %dx%d", batch, n,
                       R, R);
        goto out;
    }
    for (int64_t c0 = 0; c0 < nclips; c0 += batch) {
        const int k = nclips - c0 < batch ? (int)(nclips - c0) : batch;
        for (int b = 0; b < k; b++)
            vid[b] = c0 + b;
        if ((rc = sv_fvd_generator_clips(g, p, c0, k, seed, clips, e)))
            goto out;
        if ((rc = sv_i3d_features(net, clips, k, n, R, R, feats))) {
            rc = ctx_fail(ctx, rc, e, "I3D");
            goto out;
        }
        if ((rc = sv_fvd_stats_add(st, feats, k, vid, off, e)))
            goto out;
        if (progress)
            progress(user, c0 + k, nclips);
    }
out:
    free(feats);
    free(clips);
    free(vid);
    free(off);
    return rc;
}
