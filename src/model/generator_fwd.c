/* The StyleGAN-V generator forward pass (spec §2.7) and the streaming
 * sampler (spec §2.6, §6.1).
 *
 * Structure
 *   video_prepare  per video: normalize(z) → mapping FCs → truncation toward
 *                  w_avg → the styles of every modulated layer (affine FCs;
 *                  ToRGB styles pre-scaled by 1/√Cin).  Done once per video
 *                  (once per forward, once per sv_generator_begin).
 *   motion_codes   tokens [Bm, L, C] → transpose → conv1d (valid, λ 0.01)
 *                  + lrelu (gain 1) per layer → codes u [Bm, C, Lu].
 *   time_embed     periods/phase/aligners FCs per motion code, gathered
 *                  per frame (u_L, u_R) → the aligned time encoder →
 *                  v(t) [NF, 2·time_enc_dim].
 *   synthesize     4×4 input = concat(const, v broadcast) → blocks b4 … bR
 *                  (modconv over all NF frames with per-video styles,
 *                  bias + lrelu √2 + clamp; ToRGB bias + clamp; RGB skip
 *                  upsample + add) → frames.
 *
 * Motion windows: for each distinct (video, jL = floor(t/d)) among the
 * requested frames, one row of 2 + Σ(K−1) tokens [jL, jL + 2 + Σ(K−1)) (the
 * receptive field of the two codes u[jL], u[jL+1]) is taken from the given
 * tokens (forward) or generated from the counter RNG (streaming: the tokens
 * are never stored, so memory and cost do not grow with t); all rows go through
 * the motion network as one batch of identical small convolutions, so a code
 * never depends on which other frames share the chunk, and the cost of a
 * frame does not depend on t.  The three time-encoder predictors run on the
 * codes of each row (K = 1 convolutions, again one same-shape GEMM per row),
 * their outputs are laid out as one sequence [1, Dout, 2·rows]
 * (sv_swap_mid) and gathered per frame with index 2·row (u_L) / 2·row + 1
 * (u_R) (the gather takes times; index k is passed as the exact time k·d).
 * Everything before the per-frame time encoder is thus per row, so a frame's
 * embedding does not depend on the other frames of the call; this matters
 * because at large t (10^5) the sin/cos arguments amplify any rounding
 * difference in μ, φ by ~10^5.
 *
 * Training mode (sv_generator_forward_train, f->training set during the
 * call): the same computation into more slots — every mapping layer's output
 * gets its own slot, each modconv writes its output to a separate "pre" slot
 * (with its demodulation cache) and bias_act goes out of place into the usual
 * layer slot — and the styles, the gather plan and w are kept in f->tr for
 * generator_bwd.c; the frames are bit-identical.  Every other entry point
 * clears f->tr.valid, since it reuses the slots.  The sampling path is
 * unchanged (in-place bias_act, no cache).
 *
 * Scratch tensors live in struct sv_gen_fwd (one slot per intermediate,
 * reallocated only when a shape changes), so repeated calls with the same
 * batch shape allocate nothing. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generator_layout.h"

#ifndef SV_TRY
#define SV_TRY(expr)        \
    do {                    \
        int sv__r = (expr); \
        if (sv__r)          \
            return sv__r;   \
    } while (0)
#endif

struct sv_gen_video {
    sv_generator *g;
    int64_t B;
    uint64_t *seed, *stream;
    vstate vs;
};

static sv_err *E(sv_generator *g) { return sv_ctx_err(g->ctx); }

static void train_release(struct sv_gen_fwd *f)
{
    sv_gen_vstate_free(&f->tr.vs);
    free(f->tr.tg);
    memset(&f->tr, 0, sizeof f->tr);
}

void sv_gen_fwd_free(struct sv_gen_fwd *f)
{
    if (!f)
        return;
    train_release(f);
    for (int i = 0; i < f->nslots; i++)
        sv_tensor_free(&f->slot[i]);
    if (f->mc)
        for (int i = 0; i < f->nlayers; i++)
            sv_modconv_cache_free(&f->mc[i]);
    free(f->mc);
    free(f->slot);
    free(f->L);
    free(f);
}

static int need_param(sv_generator *g, const char *name, sv_tensor **out)
{
    *out = sv_params_get(g->params, name);
    if (!*out)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: parameter '%s' is missing", name);
    return SV_OK;
}

static int need_paramf(sv_generator *g, sv_tensor **out, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static int need_paramf(sv_generator *g, sv_tensor **out, const char *fmt, ...)
{
    char nm[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(nm, sizeof nm, fmt, ap);
    va_end(ap);
    return need_param(g, nm, out);
}

static int log2i(int r)
{
    int l = 0;
    while ((1 << l) < r)
        l++;
    return (1 << l) == r ? l : -1;
}

/* Builds the layer table from the parameter set (lazily, first use). */
static int fwd_setup(sv_generator *g)
{
    if (g->fwd)
        return SV_OK;
    const sv_mconfig *c = &g->cfg;
    if (!g->params)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: no parameters");
    const int lr = log2i(c->resolution);
    if (lr < 2 || lr - 1 > MAX_BLOCKS)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: resolution %d is not a power of two in 4..%d",
                         c->resolution, 1 << (MAX_BLOCKS + 1));
    if (c->mapping_layers < 1 || c->mapping_layers > MAX_MAP)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: mapping_layers %d out of range 1..%d", c->mapping_layers,
                         MAX_MAP);
    struct sv_gen_fwd *f = calloc(1, sizeof *f);
    if (!f)
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
    int rc = SV_OK;
    f->nmap = c->mapping_layers;
    for (int i = 0; i < f->nmap && !rc; i++) {
        rc = need_paramf(g, &f->map_w[i], "mapping.fc%d.weight", i);
        if (!rc)
            rc = need_paramf(g, &f->map_b[i], "mapping.fc%d.bias", i);
    }
    /* motion conv layers: as many as declared (2 in StyleGAN-V) */
    char nm[128];
    for (f->nmot = 0; !rc && f->nmot < MAX_MOT; f->nmot++) {
        snprintf(nm, sizeof nm, "synthesis.motion_encoder.conv.%d.weight", f->nmot);
        sv_tensor *w = sv_params_get(g->params, nm);
        if (!w)
            break;
        f->mot_w[f->nmot] = w;
        rc = need_paramf(g, &f->mot_b[f->nmot], "synthesis.motion_encoder.conv.%d.bias", f->nmot);
        if (!rc && w->ndim != 3)
            rc = sv_seterr(E(g), SV_ERR_INVALID, "generator: '%s' must be [Cout, Cin, K]", nm);
        if (!rc)
            f->mot_shrink += w->shape[2] - 1;
    }
    if (!rc && f->nmot == 0)
        rc = sv_seterr(E(g), SV_ERR_INVALID, "generator: no motion encoder conv layers");
    const char *te = "synthesis.motion_encoder.time_encoder";
    if (!rc)
        rc = need_paramf(g, &f->Wper, "%s.periods_predictor.weight", te);
    if (!rc)
        rc = need_paramf(g, &f->Wph, "%s.phase_predictor.weight", te);
    if (!rc)
        rc = need_paramf(g, &f->Wal, "%s.aligners_predictor.weight", te);
    if (!rc)
        rc = need_paramf(g, &f->freqs, "%s.freqs", te);
    if (!rc)
        rc = need_paramf(g, &f->pscales, "%s.phase_scales", te);
    if (!rc)
        rc = need_param(g, "mapping.w_avg", &f->w_avg);
    if (!rc)
        rc = need_param(g, "synthesis.b4.input.input.const", &f->cst);
    f->nblocks = lr - 1;
    f->nlayers = 3 * f->nblocks - 1;
    if (!rc) {
        f->L = calloc((size_t)f->nlayers, sizeof *f->L);
        f->t_map0 = S_LAYER0 + f->nlayers + 2 * f->nblocks;
        f->t_pre0 = f->t_map0 + f->nmap;
        f->nslots = f->t_pre0 + f->nlayers;
        f->slot = calloc((size_t)f->nslots, sizeof *f->slot);
        if (!f->L || !f->slot)
            rc = sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
    }
    static const char *const kinds[3] = {"conv0", "conv1", "torgb"};
    int li = 0;
    for (int bi = 0; bi < f->nblocks && !rc; bi++) {
        const int r = 4 << bi;
        for (int k = bi == 0 ? 1 : 0; k < 3 && !rc; k++) {
            gl_layer *l = &f->L[li++];
            snprintf(l->name, sizeof l->name, "synthesis.b%d.%s", r, kinds[k]);
            l->blk = bi;
            l->kind = k;
            rc = need_paramf(g, &l->aw, "%s.affine.weight", l->name);
            if (!rc)
                rc = need_paramf(g, &l->ab, "%s.affine.bias", l->name);
            if (!rc)
                rc = need_paramf(g, &l->w, "%s.weight", l->name);
            if (!rc)
                rc = need_paramf(g, &l->b, "%s.bias", l->name);
            if (!rc && (l->w->ndim != 4 || l->aw->ndim != 2 || l->aw->shape[0] != l->w->shape[1]))
                rc = sv_seterr(E(g), SV_ERR_INVALID, "generator: '%s' weight/affine shapes are inconsistent",
                               l->name);
            if (!rc) {
                l->cin = l->w->shape[1];
                l->cout = l->w->shape[0];
                l->mp.k = (int)l->w->shape[2];
                l->mp.up = k == 0 ? 2 : 1;
                l->mp.demodulate = k != 2;
                l->mp.frames_per_video = 1;
            }
        }
    }
    if (rc) {
        sv_gen_fwd_free(f);
        return rc;
    }
    g->fwd = f;
    return SV_OK;
}

/* Scratch slot i with this shape (reused when the shape matches). */
static int scratch(sv_generator *g, int i, int ndim, const int64_t *shape, sv_tensor **out)
{
    sv_tensor *t = &g->fwd->slot[i];
    int same = t->buf && t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++)
        same = t->shape[k] == shape[k];
    if (!same) {
        sv_tensor_free(t);
        SV_TRY(sv_tensor_new(g->ctx, t, ndim, shape));
    }
    *out = t;
    return SV_OK;
}

static int scratch2(sv_generator *g, int i, int64_t a, int64_t b, sv_tensor **out)
{
    int64_t s[2] = {a, b};
    return scratch(g, i, 2, s, out);
}

static int scratch4(sv_generator *g, int i, int64_t n, int64_t c, int64_t h, int64_t w, sv_tensor **out)
{
    int64_t s[4] = {n, c, h, w};
    return scratch(g, i, 4, s, out);
}

static sv_bias_act_params bap(sv_act act, float gain, float clampv, float bias_gain)
{
    sv_bias_act_params p = sv_bias_act_default(act);
    p.gain = gain;
    p.clamp = clampv;
    p.bias_gain = bias_gain;
    return p;
}

static float conv_clamp(const sv_generator *g) { return g->cfg.conv_clamp < 0 ? -1.0f : (float)g->cfg.conv_clamp; }

#define TRACE(name, t)                                                                                          \
    do {                                                                                                        \
        if (trace)                                                                                              \
            trace(tu, (name), (t));                                                                             \
    } while (0)

/* Trace a per-video [B, C] tensor as per-frame [B·F, C] (the official code
 * runs the affine FCs on w repeated per frame). */
static int trace_per_frame(sv_generator *g, const sv_tensor *s, int64_t F, const char *name, sv_gen_trace_fn trace,
                           void *tu)
{
    sv_tensor rep;
    SV_TRY(sv_tensor_newv(g->ctx, &rep, 2, s->shape[0] * F, s->shape[1]));
    int rc = sv_repeat_rows(g->ctx, s, F, &rep);
    if (!rc)
        trace(tu, name, &rep);
    sv_tensor_free(&rep);
    return rc;
}

/* ---- per-video work ------------------------------------------------------- */

void sv_gen_vstate_free(vstate *vs)
{
    if (vs->s)
        for (int64_t i = 0; vs->s && i < 3 * MAX_BLOCKS; i++)
            sv_tensor_free(&vs->s[i]);
    free(vs->s);
    memset(vs, 0, sizeof *vs);
}

/* z [B, z_dim] → w (truncated) → styles.  F only for tracing. */
static int video_prepare(sv_generator *g, const sv_tensor *z, float psi, int64_t F, sv_gen_trace_fn trace, void *tu,
                         vstate *vs)
{
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t B = z->shape[0];
    memset(vs, 0, sizeof *vs);
    vs->B = B;
    vs->s = calloc(3 * MAX_BLOCKS, sizeof *vs->s);
    if (!vs->s)
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
    int rc = SV_OK;
    /* mapping: normalize(z) → FC (λ 0.01, lrelu √2, bias gain 0.01) × n */
    sv_tensor *x, *y = NULL;
    SV_TRY(scratch2(g, S_MAPX, B, z->shape[1], &x));
    SV_TRY(sv_normalize_2nd_moment_fwd(ctx, z, x));
    const sv_bias_act_params pm = bap(SV_ACT_LRELU, (float)sqrt(2.0), -1.0f, 0.01f);
    char nm[64];
    for (int i = 0; i < f->nmap; i++) {
        const sv_tensor *W = f->map_w[i];
        if (W->ndim != 2 || W->shape[1] != x->shape[1])
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: mapping.fc%d.weight does not take %lld inputs", i,
                             (long long)x->shape[1]);
        /* training keeps every layer's output (backward inputs and masks) */
        SV_TRY(scratch2(g, f->training ? f->t_map0 + i : (i & 1) ? S_MAPX : S_MAPY, B, W->shape[0], &y));
        SV_TRY(sv_fc_fwd(ctx, x, W, f->map_b[i], sv_fc_wgain(W->shape[1], 0.01f), &pm, y));
        snprintf(nm, sizeof nm, "mapping.fc%d", i);
        TRACE(nm, y);
        x = y;
    }
    const int64_t wd = x->shape[1];
    if (sv_numel(f->w_avg) != wd)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: mapping.w_avg has %lld elements, w has %lld",
                         (long long)sv_numel(f->w_avg), (long long)wd);
    if (f->training)
        f->tr.w = x; /* ψ = 1 */
    /* truncation: w = w_avg.lerp(w, ψ) (all num_ws copies alike) */
    if (psi != 1.0f) {
        sv_tensor *wa, wav;
        int64_t s1[2] = {1, wd};
        SV_TRY(scratch2(g, S_WAVG, B, wd, &wa));
        SV_TRY(sv_tensor_reshape(f->w_avg, &wav, 2, s1));
        rc = sv_repeat_rows(ctx, &wav, B, wa);
        sv_tensor_free(&wav);
        SV_TRY(rc);
        SV_TRY(sv_lerp(ctx, wa, x, psi, x));
    }
    if (trace) {
        /* "mapping": w broadcast to [B, num_ws, w_dim] */
        const int64_t nws = 2 * (int64_t)log2i(g->cfg.resolution) - 2;
        sv_tensor rep, rep3;
        SV_TRY(sv_tensor_newv(ctx, &rep, 2, B * nws, wd));
        int64_t s3[3] = {B, nws, wd};
        rc = sv_repeat_rows(ctx, x, nws, &rep);
        if (!rc)
            rc = sv_tensor_reshape(&rep, &rep3, 3, s3);
        if (!rc) {
            trace(tu, "mapping", &rep3);
            sv_tensor_free(&rep3);
        }
        sv_tensor_free(&rep);
        SV_TRY(rc);
    }
    /* styles: s = affine(w) (λ 1, bias gain 1, linear); ToRGB s/√Cin */
    const sv_bias_act_params lin = bap(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
    for (int i = 0; i < f->nlayers; i++) {
        const gl_layer *l = &f->L[i];
        if (l->aw->shape[1] != wd)
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: %s.affine.weight does not take w_dim = %lld inputs",
                             l->name, (long long)wd);
        SV_TRY(sv_tensor_newv(ctx, &vs->s[i], 2, B, l->cin));
        SV_TRY(sv_fc_fwd(ctx, x, l->aw, l->ab, sv_fc_wgain(wd, 1.0f), &lin, &vs->s[i]));
        if (trace) {
            snprintf(nm, sizeof nm, "%s.affine", l->name);
            SV_TRY(trace_per_frame(g, &vs->s[i], F, nm, trace, tu));
        }
        if (l->kind == 2)
            SV_TRY(sv_scale(ctx, &vs->s[i], (float)(1.0 / sqrt((double)l->cin))));
    }
    return SV_OK;
}

/* ---- motion network ------------------------------------------------------- */

/* tokens [Bm, L, C] → codes [Bm, Cv, L − shrink] (a scratch slot). */
static int motion_codes(sv_generator *g, const sv_tensor *tok, sv_gen_trace_fn trace, void *tu, sv_tensor **codes)
{
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t Bm = tok->shape[0], L = tok->shape[1], C = tok->shape[2];
    TRACE("synthesis.motion_encoder.motion_z", tok);
    if (L - f->mot_shrink < 2)
        return sv_seterr(E(g), SV_ERR_INVALID,
                         "generator: %lld motion tokens give no motion codes (the motion network needs at least %lld)",
                         (long long)L, (long long)(f->mot_shrink + 2));
    sv_tensor *x, *y = NULL;
    int64_t s3[3] = {Bm, C, L};
    SV_TRY(scratch(g, S_TOKT, 3, s3, &x));
    SV_TRY(sv_transpose12(ctx, tok, x));
    const sv_bias_act_params p = bap(SV_ACT_LRELU, 1.0f, -1.0f, 0.01f);
    char nm[64];
    for (int i = 0; i < f->nmot; i++) {
        const sv_tensor *W = f->mot_w[i];
        if (W->shape[1] != x->shape[1])
            return sv_seterr(E(g), SV_ERR_INVALID,
                             "generator: motion encoder layer %d takes %lld channels, got %lld", i,
                             (long long)W->shape[1], (long long)x->shape[1]);
        int64_t ys[3] = {Bm, W->shape[0], x->shape[2] - W->shape[2] + 1};
        SV_TRY(scratch(g, S_MOT0 + i, 3, ys, &y));
        SV_TRY(sv_conv1d_fwd(ctx, x, W, sv_conv1d_wgain(W->shape[1], W->shape[2], 0.01f), y));
        SV_TRY(sv_bias_act_fwd(ctx, y, f->mot_b[i], &p, y));
        snprintf(nm, sizeof nm, "synthesis.motion_encoder.conv.%d", i);
        TRACE(nm, y);
        x = y;
    }
    TRACE("synthesis.motion_encoder.conv", x);
    *codes = x;
    return SV_OK;
}

/* ---- time encoder --------------------------------------------------------- */

/* One bias-free predictor (λ 1, linear) on every code of every window row,
 * gathered per frame: u [nr, Cv, 2] → W·u/√Cv [nr, Dout, 2] (a K = 1 conv1d:
 * one GEMM of the same shape per row, so a row's result never depends on the
 * other rows of the call) → [1, Dout, 2·nr] → left/right codes per frame.
 * yR may be NULL (a scratch slot takes it). */
static int predict(sv_generator *g, const sv_tensor *u, const sv_tensor *W, int slot, const double *tg, int64_t NF,
                   sv_tensor *yL, sv_tensor *yR)
{
    sv_ctx *ctx = g->ctx;
    const int64_t nr = u->shape[0], Cv = u->shape[1], Do = W->shape[0];
    sv_tensor w3, *o, *seq, *dummy = NULL;
    int64_t ws[3] = {Do, Cv, 1}, os[3] = {nr, Do, 2}, ss[3] = {1, Do, 2 * nr};
    SV_TRY(scratch(g, slot, 3, os, &o));
    SV_TRY(scratch(g, slot + 1, 3, ss, &seq));
    if (!yR) {
        SV_TRY(scratch2(g, slot + 2, NF, Do, &dummy));
        yR = dummy;
    }
    SV_TRY(sv_tensor_reshape(W, &w3, 3, ws));
    int rc = sv_conv1d_fwd(ctx, u, &w3, sv_fc_wgain(Cv, 1.0f), o);
    sv_tensor_free(&w3);
    SV_TRY(rc);
    SV_TRY(sv_swap_mid(ctx, o, 1, nr, Do, 2, seq));
    return sv_motion_gather(ctx, seq, tg, NF, g->cfg.motion_z_distance, yL, yR);
}

/* Codes u [nr, Cv, 2] of the window rows, gather times tg[NF] (2·row·d), real
 * times t[NF] → v [NF, 2D] (scratch). */
static int time_embed(sv_generator *g, const sv_tensor *u, const double *tg, const double *t, int64_t NF,
                      sv_gen_trace_fn trace, void *tu, sv_tensor **vout)
{
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t Cv = u->shape[1], D = f->Wper->shape[0];
    const double d = g->cfg.motion_z_distance;
    if (f->Wper->ndim != 2 || f->Wph->ndim != 2 || f->Wal->ndim != 2 || f->Wper->shape[1] != Cv ||
        f->Wph->shape[1] != Cv || f->Wal->shape[1] != Cv || f->Wph->shape[0] != D || f->Wal->shape[0] != 2 * D ||
        sv_numel(f->freqs) != D || sv_numel(f->pscales) != D)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: time encoder parameter shapes are inconsistent");
    sv_tensor *pr, *ph, *AL, *AR, *tt, *v;
    SV_TRY(scratch2(g, S_PR, NF, D, &pr));
    SV_TRY(scratch2(g, S_PH, NF, D, &ph));
    SV_TRY(scratch2(g, S_AL, NF, 2 * D, &AL));
    SV_TRY(scratch2(g, S_AR, NF, 2 * D, &AR));
    /* μ and φ from u_L only; the aligner from u_L and u_R */
    SV_TRY(predict(g, u, f->Wper, S_PRED, tg, NF, pr, NULL));
    SV_TRY(predict(g, u, f->Wph, S_PRED + 3, tg, NF, ph, NULL));
    SV_TRY(predict(g, u, f->Wal, S_PRED + 6, tg, NF, AL, AR));
    TRACE("synthesis.motion_encoder.time_encoder.periods_predictor", pr);
    TRACE("synthesis.motion_encoder.time_encoder.phase_predictor", ph);
    /* the official module is called on u_L, then u_R: the recording keeps the last */
    TRACE("synthesis.motion_encoder.time_encoder.aligners_predictor", AR);
    /* t as float32, as the official time encoder casts it */
    float *th = malloc((size_t)NF * sizeof *th);
    if (!th)
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
    for (int64_t n = 0; n < NF; n++)
        th[n] = (float)t[n];
    int rc = scratch(g, S_T, 1, &NF, &tt);
    if (!rc)
        rc = sv_tensor_write(tt, th, (size_t)NF);
    free(th);
    SV_TRY(rc);
    SV_TRY(scratch2(g, S_V, NF, 2 * D, &v));
    SV_TRY(sv_timeenc_fwd(ctx, tt, pr, ph, AL, AR, f->freqs, f->pscales, (float)d, v));
    TRACE("synthesis.motion_encoder.time_encoder", v);
    TRACE("synthesis.motion_encoder.motion_v", v);
    *vout = v;
    return SV_OK;
}

/* ---- synthesis -------------------------------------------------------------- */

static int synthesize(sv_generator *g, const vstate *vs, const sv_tensor *v, int64_t F, sv_tensor *frames,
                      sv_gen_trace_fn trace, void *tu)
{
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t NF = vs->B * F;
    const sv_tensor *cst = f->cst;
    if (cst->ndim != 4 || cst->shape[0] != 1)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: the input const must be [1, C, H, W]");
    const int64_t Cc = cst->shape[1], H0 = cst->shape[2], W0 = cst->shape[3], Dv = v->shape[1];
    sv_tensor *cb, *vb, *in4;
    SV_TRY(scratch4(g, S_CB, NF, Cc, H0, W0, &cb));
    SV_TRY(scratch4(g, S_VB, NF, Dv, H0, W0, &vb));
    SV_TRY(scratch4(g, S_IN4, NF, Cc + Dv, H0, W0, &in4));
    SV_TRY(sv_repeat_rows(ctx, cst, NF, cb));
    SV_TRY(sv_broadcast_spatial(ctx, v, vb));
    const sv_tensor *parts[2] = {cb, vb};
    SV_TRY(sv_concat1(ctx, 2, parts, in4));
    TRACE("synthesis.b4.input.input", in4);
    TRACE("synthesis.b4.input", in4);

    const float cl = conv_clamp(g);
    const sv_bias_act_params pconv = bap(SV_ACT_LRELU, (float)sqrt(2.0), cl, 1.0f);
    const sv_bias_act_params prgb = bap(SV_ACT_LINEAR, 1.0f, cl, 1.0f);
    const sv_upfirdn2d_params up2 = sv_upfirdn2d_upsample2();
    const sv_tensor *x = in4;
    const sv_tensor *img = NULL;
    char nm[64];
    const int imgslot = S_LAYER0 + f->nlayers;
    for (int i = 0; i < f->nlayers; i++) {
        const gl_layer *l = &f->L[i];
        const int last = l->blk == f->nblocks - 1;
        if (x->shape[1] != l->cin)
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: %s takes %lld channels, got %lld", l->name,
                             (long long)l->cin, (long long)x->shape[1]);
        sv_modconv_params mp = l->mp;
        mp.frames_per_video = (int)F;
        int Ho, Wo;
        if (sv_modconv_out_size(&mp, (int)x->shape[2], (int)x->shape[3], &Ho, &Wo))
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: %s: unsupported kernel/size", l->name);
        sv_tensor *y;
        SV_TRY(scratch4(g, S_LAYER0 + i, NF, l->cout, Ho, Wo, &y));
        if (f->training) {
            /* keep the modconv output (its backward needs it) apart from the
             * bias_act output (the derivative mask, the next layer's input) */
            sv_tensor *pre;
            SV_TRY(scratch4(g, f->t_pre0 + i, NF, l->cout, Ho, Wo, &pre));
            SV_TRY(sv_modconv_fwd(ctx, x, l->w, &vs->s[i], &mp, pre, &f->mc[i]));
            SV_TRY(sv_bias_act_fwd(ctx, pre, l->b, l->kind == 2 ? &prgb : &pconv, y));
        } else {
            SV_TRY(sv_modconv_fwd(ctx, x, l->w, &vs->s[i], &mp, y, NULL));
            SV_TRY(sv_bias_act_fwd(ctx, y, l->b, l->kind == 2 ? &prgb : &pconv, y));
        }
        TRACE(l->name, y);
        if (l->kind != 2) {
            x = y;
            continue;
        }
        /* ToRGB: img = up(img) + rgb (b4: img = rgb) */
        const int r = 4 << l->blk;
        snprintf(nm, sizeof nm, "synthesis.b%d.0", r);
        TRACE(nm, x);
        sv_tensor *nimg;
        if (last) {
            int64_t fs[4] = {NF, l->cout, Ho, Wo};
            SV_TRY(sv_check_shape(frames, "generator output frames", 4, fs));
            nimg = frames;
        } else {
            SV_TRY(scratch4(g, imgslot + 2 * l->blk + 1, NF, l->cout, Ho, Wo, &nimg));
        }
        if (!img) {
            SV_TRY(sv_tensor_copy(nimg, y));
        } else {
            if (sv_upfirdn2d_out_size((int)img->shape[2], &up2) != Ho || img->shape[1] != l->cout)
                return sv_seterr(E(g), SV_ERR_INVALID, "generator: %s: RGB skip sizes do not match", l->name);
            sv_tensor *ui;
            SV_TRY(scratch4(g, imgslot + 2 * l->blk, NF, l->cout, Ho, Wo, &ui));
            SV_TRY(sv_upfirdn2d_fwd(ctx, img, &up2, ui));
            SV_TRY(sv_add(ctx, ui, y, nimg));
        }
        img = nimg;
        snprintf(nm, sizeof nm, "synthesis.b%d.1", r);
        TRACE(nm, img);
    }
    TRACE("synthesis", img);
    return SV_OK;
}

/* ---- motion windows ---------------------------------------------------------- */

/* One motion-network row: video b, left code index j; tokens [j, j + Lt). */
typedef struct mrow {
    int64_t b, j;
} mrow;

static int mrow_cmp(const void *a, const void *b)
{
    const mrow *x = a, *y = b;
    if (x->b != y->b)
        return x->b < y->b ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

static int64_t mrow_find(const mrow *rows, int64_t n, int64_t b, int64_t j)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t m = (lo + hi) / 2;
        if (rows[m].b < b || (rows[m].b == b && rows[m].j < j))
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

typedef struct mplan {
    mrow *rows;
    int64_t nr; /* distinct (video, jL) */
    double *tg; /* [NF] gather "times": 2·row·d (code 2·row = u_L, 2·row + 1 = u_R) */
} mplan;

static void mplan_free(mplan *p)
{
    free(p->rows);
    free(p->tg);
    memset(p, 0, sizeof *p);
}

/* Distinct (video, floor(t/d)) over the NF = B·F frames (t already checked). */
static int mplan_make(sv_generator *g, int64_t B, int64_t F, const double *t, mplan *p)
{
    const double d = g->cfg.motion_z_distance;
    const int64_t NF = B * F;
    memset(p, 0, sizeof *p);
    p->rows = malloc((size_t)NF * sizeof *p->rows);
    p->tg = malloc((size_t)NF * sizeof *p->tg);
    if (!p->rows || !p->tg) {
        mplan_free(p);
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
    }
    for (int64_t n = 0; n < NF; n++) {
        p->rows[n].b = n / F;
        p->rows[n].j = sv_motion_left_index(t[n], d);
        if (p->rows[n].j < 0 || p->rows[n].j > ((int64_t)1 << 53) / (g->cfg.motion_z_dim + 1)) {
            mplan_free(p);
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: frame time %g is out of range", t[n]);
        }
    }
    qsort(p->rows, (size_t)NF, sizeof *p->rows, mrow_cmp);
    for (int64_t n = 0; n < NF; n++)
        if (p->nr == 0 || mrow_cmp(&p->rows[p->nr - 1], &p->rows[n]))
            p->rows[p->nr++] = p->rows[n];
    /* the gather reads the index from float32(time)/d: keep it exact */
    if ((double)(2 * p->nr) * d >= 16777216.0) {
        mplan_free(p);
        return sv_seterr(E(g), SV_ERR_INVALID,
                         "generator: too many distinct motion segments (%lld) in one call; render fewer frames at once",
                         (long long)NF);
    }
    for (int64_t n = 0; n < NF; n++)
        p->tg[n] = (double)(2 * mrow_find(p->rows, p->nr, n / F, sv_motion_left_index(t[n], d))) * d;
    return SV_OK;
}

/* Rendering from the planned token rows tk [nr, 2 + shrink, C]: motion codes
 * per row, laid out as one sequence, time embedding, synthesis. */
static int render(sv_generator *g, const vstate *vs, const mplan *p, const sv_tensor *tk, const double *t, int64_t F,
                  sv_tensor *frames, sv_gen_trace_fn trace, void *tu)
{
    sv_tensor *u = NULL, *v = NULL;
    SV_TRY(motion_codes(g, tk, NULL, NULL, &u));
    if (u->shape[0] != p->nr || u->shape[2] != 2)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: motion window gave %lld codes, expected 2",
                         (long long)u->shape[2]);
    SV_TRY(time_embed(g, u, p->tg, t, vs->B * F, trace, tu, &v));
    return synthesize(g, vs, v, F, frames, trace, tu);
}

/* ---- public entry points -------------------------------------------------- */

static int check_frames_arg(sv_generator *g, const sv_tensor *frames, int64_t NF)
{
    const int R = g->cfg.resolution;
    int64_t fs[4] = {NF, 3, R, R};
    return sv_check_shape(frames, "generator output frames", 4, fs);
}

static int check_times(sv_generator *g, const double *t, int64_t NF)
{
    if (!t)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator: no frame times");
    for (int64_t n = 0; n < NF; n++)
        if (!isfinite(t[n]) || t[n] < 0)
            return sv_seterr(E(g), SV_ERR_INVALID, "generator: frame %lld has time %g (must be finite and >= 0)",
                             (long long)n, t[n]);
    return SV_OK;
}

/* The forward computes the motion codes of each frame from the token window
 * of its two codes, exactly as the streaming sampler does (so both give
 * bit-identical frames for the same tokens and batch shape); the codes of the
 * whole token sequence are computed too when tracing (the official module
 * outputs).  The two agree to float rounding (the conv is padding-less, so a
 * code depends only on its 2·(K−1)+1 tokens). */
static int forward_impl(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t, int64_t F,
                        float psi, sv_tensor *frames, sv_gen_trace_fn trace, void *trace_user, int train)
{
    if (!g)
        return SV_ERR_INVALID;
    SV_TRY(fwd_setup(g));
    struct sv_gen_fwd *f = g->fwd;
    f->tr.valid = 0; /* the slots are about to be overwritten */
    const sv_mconfig *c = &g->cfg;
    if (!z || !motion_z || !frames)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator forward: missing tensor argument");
    if (z->ndim != 2 || z->shape[1] != c->z_dim || z->shape[0] < 1)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator forward: z must be [B, %d]", c->z_dim);
    const int64_t B = z->shape[0];
    if (motion_z->ndim != 3 || motion_z->shape[0] != B || motion_z->shape[2] != c->motion_z_dim)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator forward: motion_z must be [%lld, L, %d]", (long long)B,
                         c->motion_z_dim);
    if (F < 1)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator forward: frames per video %lld must be >= 1",
                         (long long)F);
    if (!isfinite(psi))
        return sv_seterr(E(g), SV_ERR_INVALID, "generator forward: truncation psi is not finite");
    SV_TRY(check_frames_arg(g, frames, B * F));
    SV_TRY(check_times(g, t, B * F));
    const int64_t L = motion_z->shape[1], C = c->motion_z_dim, Lt = 2 + g->fwd->mot_shrink;
    mplan p;
    SV_TRY(mplan_make(g, B, F, t, &p));
    for (int64_t r = 0; r < p.nr; r++)
        if (p.rows[r].j + Lt > L) {
            const int64_t j = p.rows[r].j, b = p.rows[r].b;
            mplan_free(&p);
            return sv_seterr(E(g), SV_ERR_INVALID,
                             "generator forward: a frame of video %lld at t >= %g needs motion tokens up to %lld, but "
                             "motion_z has %lld tokens",
                             (long long)b, (double)j * c->motion_z_distance, (long long)(j + Lt),
                             (long long)L);
        }
    vstate vs;
    if (train) {
        train_release(f);
        if (!f->mc && !(f->mc = calloc((size_t)f->nlayers, sizeof *f->mc))) {
            mplan_free(&p);
            return sv_seterr(E(g), SV_ERR_NOMEM, "generator: out of host memory");
        }
        f->training = 1;
    }
    int rc = video_prepare(g, z, psi, F, trace, trace_user, &vs);
    if (!rc && trace) {
        sv_tensor *u;
        rc = motion_codes(g, motion_z, trace, trace_user, &u);
    }
    /* token windows [j, j + Lt) of each row, copied from motion_z */
    sv_tensor *tk = NULL;
    if (!rc) {
        int64_t s3[3] = {p.nr, Lt, C};
        rc = scratch(g, S_TOK, 3, s3, &tk);
    }
    for (int64_t r = 0; !rc && r < p.nr; r++) {
        sv_tensor src, dst;
        int64_t n1 = Lt * C;
        rc = sv_tensor_view(motion_z, &src, (size_t)((p.rows[r].b * L + p.rows[r].j) * C), 1, &n1);
        if (rc)
            break;
        rc = sv_tensor_view(tk, &dst, (size_t)(r * Lt * C), 1, &n1);
        if (!rc) {
            rc = sv_tensor_copy(&dst, &src);
            sv_tensor_free(&dst);
        }
        sv_tensor_free(&src);
    }
    if (!rc)
        rc = render(g, &vs, &p, tk, t, F, frames, trace, trace_user);
    f->training = 0;
    if (train && !rc) {
        /* keep the styles and the gather plan for sv_generator_backward */
        f->tr.vs = vs;
        f->tr.tg = p.tg;
        p.tg = NULL;
        f->tr.B = B;
        f->tr.F = F;
        f->tr.NF = B * F;
        f->tr.nr = p.nr;
        f->tr.valid = 1;
    } else {
        sv_gen_vstate_free(&vs);
    }
    mplan_free(&p);
    return rc;
}

int sv_generator_forward(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t, int64_t F,
                         float psi, sv_tensor *frames, sv_gen_trace_fn trace, void *trace_user)
{
    return forward_impl(g, z, motion_z, t, F, psi, frames, trace, trace_user, 0);
}

int sv_generator_forward_train(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t,
                               int64_t F, sv_tensor *frames)
{
    return forward_impl(g, z, motion_z, t, F, 1.0f, frames, NULL, NULL, 1);
}

int sv_generator_begin(sv_generator *g, int64_t B, const float *z_host, const uint64_t *motion_seed,
                       const uint64_t *motion_stream, float psi, sv_gen_video **out)
{
    if (!out)
        return g ? sv_seterr(E(g), SV_ERR_INVALID, "generator begin: no output") : SV_ERR_INVALID;
    *out = NULL;
    if (!g)
        return SV_ERR_INVALID;
    SV_TRY(fwd_setup(g));
    if (B < 1 || !z_host || !motion_seed || !motion_stream)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator begin: need B >= 1, z, motion seeds and streams");
    if (!isfinite(psi))
        return sv_seterr(E(g), SV_ERR_INVALID, "generator begin: truncation psi is not finite");
    g->fwd->tr.valid = 0; /* overwrites the mapping slots */
    sv_gen_video *v = calloc(1, sizeof *v);
    if (!v)
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator begin: out of host memory");
    v->g = g;
    v->B = B;
    v->seed = malloc((size_t)B * sizeof *v->seed);
    v->stream = malloc((size_t)B * sizeof *v->stream);
    if (!v->seed || !v->stream) {
        sv_gen_video_free(v);
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator begin: out of host memory");
    }
    memcpy(v->seed, motion_seed, (size_t)B * sizeof *v->seed);
    memcpy(v->stream, motion_stream, (size_t)B * sizeof *v->stream);
    sv_tensor z;
    int rc = sv_tensor_newv(g->ctx, &z, 2, B, (int64_t)g->cfg.z_dim);
    if (!rc) {
        rc = sv_tensor_write(&z, z_host, (size_t)(B * g->cfg.z_dim));
        if (!rc)
            rc = video_prepare(g, &z, psi, 1, NULL, NULL, &v->vs);
        sv_tensor_free(&z);
    }
    if (rc) {
        sv_gen_video_free(v);
        return rc;
    }
    *out = v;
    return SV_OK;
}

int sv_generator_frames(sv_gen_video *v, const double *t, int64_t F, sv_tensor *frames)
{
    if (!v)
        return SV_ERR_INVALID;
    sv_generator *g = v->g;
    const int64_t B = v->B, NF = B * F;
    if (F < 1 || !frames)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator frames: need F >= 1 and an output tensor");
    SV_TRY(check_frames_arg(g, frames, NF));
    SV_TRY(check_times(g, t, NF));
    g->fwd->tr.valid = 0; /* overwrites the scratch slots */
    const int64_t C = g->cfg.motion_z_dim, Lt = 2 + g->fwd->mot_shrink;
    mplan p;
    SV_TRY(mplan_make(g, B, F, t, &p));
    /* tokens [nr, Lt, C]: row r = values [j·C, (j + Lt)·C) of its video's stream */
    float *tok = malloc((size_t)(p.nr * Lt * C) * sizeof *tok);
    if (!tok) {
        mplan_free(&p);
        return sv_seterr(E(g), SV_ERR_NOMEM, "generator frames: out of host memory");
    }
    for (int64_t r = 0; r < p.nr; r++)
        sv_rng_normal(v->seed[p.rows[r].b], SV_STREAM_MOTION + v->stream[p.rows[r].b], (uint64_t)(p.rows[r].j * C),
                      (size_t)(Lt * C), tok + r * Lt * C);
    sv_tensor *tk = NULL;
    int64_t s3[3] = {p.nr, Lt, C};
    int rc = scratch(g, S_TOK, 3, s3, &tk);
    if (!rc)
        rc = sv_tensor_write(tk, tok, (size_t)(p.nr * Lt * C));
    free(tok);
    if (!rc)
        rc = render(g, &v->vs, &p, tk, t, F, frames, NULL, NULL);
    mplan_free(&p);
    return rc;
}

void sv_gen_video_free(sv_gen_video *v)
{
    if (!v)
        return;
    sv_gen_vstate_free(&v->vs);
    free(v->seed);
    free(v->stream);
    free(v);
}
