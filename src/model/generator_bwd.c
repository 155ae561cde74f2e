/* The generator backward pass: gradients of every trainable parameter from
 * dL/dframes of the last training forward (sv_generator_forward_train).
 *
 * Order (the reverse of generator_fwd.c):
 *   synthesis   per layer, last first.  ToRGB: bias_act bwd (mask from its
 *               output) → modconv bwd; its gx is ADDED into the gradient of
 *               the block's features, which the next block's conv0 has already
 *               written (a block's output feeds both ToRGB and the next
 *               block); the RGB skip image's gradient goes through the
 *               adjoint of the 2× upsample (upfirdn2d bwd).  conv0/conv1:
 *               bias_act bwd in place → modconv bwd (gx overwritten).  Every
 *               layer's style gradient gs [B, Cin] is per video already
 *               (modconv sums over a video's frames); ToRGB's is scaled by
 *               1/√Cin (the forward's pre-scale), then the affine FC bwd adds
 *               its weight/bias gradients and its w gradient into gw [B, w_dim].
 *   4×4 input   const: Σ over frames (repeat_rows bwd); v: spatial sum
 *               (broadcast_spatial bwd).
 *   time enc.   timeenc bwd → (gpr, gph, gAL, gAR); each predictor: gather
 *               bwd into the row sequence [1, Do, 2·rows] → swap back to
 *               [rows, Do, 2] → K = 1 conv1d weight/data bwd (the code
 *               gradients of the three predictors are summed).
 *   motion net  bias_act + conv1d bwd per layer, last first (tokens get no
 *               gradient).  A code shared by two window rows was computed
 *               twice in the forward, so its parameters' gradient is the sum
 *               over both copies: exactly the chain rule.
 *   mapping     fc bwd per layer from gw (ψ = 1: no truncation).
 * Temporaries come from the pool and are released as soon as possible. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "generator_layout.h"

#define TRY(expr)                 \
    do {                          \
        if ((rc = (expr)) != 0)   \
            goto out;             \
    } while (0)

static sv_err *E(sv_generator *g) { return sv_ctx_err(g->ctx); }

static sv_bias_act_params bap(sv_act act, float gain, float clampv, float bias_gain)
{
    sv_bias_act_params p = sv_bias_act_default(act);
    p.gain = gain;
    p.clamp = clampv;
    p.bias_gain = bias_gain;
    return p;
}

typedef struct bctx {
    sv_generator *g;
    sv_params *grads;
} bctx;

/* The gradient tensor of parameter tensor p (same index in the layout). */
static sv_tensor *gradof(const bctx *b, const sv_tensor *p)
{
    const size_t n = sv_params_count(b->g->params);
    for (size_t i = 0; i < n; i++)
        if (sv_params_at(b->g->params, i) == p)
            return sv_params_at(b->grads, i);
    return NULL;
}

static int check_layout(sv_generator *g, sv_params *grads)
{
    const size_t n = sv_params_count(g->params);
    if (sv_params_count(grads) != n)
        return sv_seterr(E(g), SV_ERR_INVALID,
                         "generator backward: the gradient set has %zu tensors, the generator %zu", sv_params_count(grads),
                         n);
    for (size_t i = 0; i < n; i++) {
        const sv_tensor *p = sv_params_at(g->params, i), *q = sv_params_at(grads, i);
        int same = p && q && !strcmp(sv_params_name(g->params, i), sv_params_name(grads, i)) && p->ndim == q->ndim;
        for (int k = 0; same && k < p->ndim; k++)
            same = p->shape[k] == q->shape[k];
        if (!same)
            return sv_seterr(E(g), SV_ERR_INVALID,
                             "generator backward: gradient tensor %zu ('%s') does not match the parameter layout", i,
                             sv_params_name(grads, i) ? sv_params_name(grads, i) : "?");
    }
    return SV_OK;
}

static int tnew(sv_generator *g, sv_tensor *t, int ndim, const int64_t *shape)
{
    return sv_tensor_new(g->ctx, t, ndim, shape);
}

/* Affine FC bwd of layer i: gs [B, Cin] → grads of affine weight/bias, and
 * gw [B, w_dim] += the w gradient. */
static int affine_bwd(const bctx *b, const gl_layer *l, const sv_tensor *s, const sv_tensor *gs, sv_tensor *gw)
{
    sv_generator *g = b->g;
    const sv_tensor *w = g->fwd->tr.w;
    const sv_bias_act_params lin = bap(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
    sv_tensor tmp = {0};
    int rc;
    TRY(tnew(g, &tmp, 2, w->shape));
    TRY(sv_fc_bwd(g->ctx, w, l->aw, s, gs, sv_fc_wgain(w->shape[1], 1.0f), &lin, &tmp, gradof(b, l->aw),
                  gradof(b, l->ab), 1));
    TRY(sv_add(g->ctx, gw, &tmp, gw));
out:
    sv_tensor_free(&tmp);
    return rc;
}

/* Synthesis: gframes → parameter gradients, gw [B, w_dim] (+)= style path,
 * gv [NF, Dv] (overwritten) = gradient of the time embedding. */
static int synth_bwd(const bctx *b, const sv_tensor *gframes, sv_tensor *gw, sv_tensor *gv)
{
    sv_generator *g = b->g;
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t NF = f->tr.NF, B = f->tr.B;
    const float cl = g->cfg.conv_clamp < 0 ? -1.0f : (float)g->cfg.conv_clamp;
    const sv_bias_act_params pconv = bap(SV_ACT_LRELU, (float)sqrt(2.0), cl, 1.0f);
    const sv_bias_act_params prgb = bap(SV_ACT_LINEAR, 1.0f, cl, 1.0f);
    const sv_upfirdn2d_params up2 = sv_upfirdn2d_upsample2();
    sv_tensor gimg_own = {0}, gfeat = {0}, gpre = {0}, gs = {0}, gxin = {0}, gcb = {0}, gvb = {0};
    const sv_tensor *gimg = gframes;
    int rc = SV_OK;
    for (int i = f->nlayers - 1; i >= 0; i--) {
        const gl_layer *l = &f->L[i];
        const sv_tensor *post = &f->slot[S_LAYER0 + i], *pre = &f->slot[f->t_pre0 + i];
        const sv_tensor *s = &f->tr.vs.s[i];
        int in = i - 1; /* the layer whose output feeds layer i (-1: the 4×4 input) */
        while (in >= 0 && f->L[in].kind == 2)
            in--;
        const sv_tensor *x = in >= 0 ? &f->slot[S_LAYER0 + in] : &f->slot[S_IN4];
        sv_modconv_params mp = l->mp;
        mp.frames_per_video = (int)f->tr.F;
        sv_tensor *gb = gradof(b, l->b), *gwt = gradof(b, l->w);
        int64_t ss[2] = {B, l->cin};
        TRY(sv_tensor_zeros(ctx, &gs, 2, ss));
        if (l->kind == 2) {
            /* img = up(img_prev) + rgb: the rgb gradient is gimg */
            TRY(tnew(g, &gpre, post->ndim, post->shape));
            TRY(sv_bias_act_bwd(ctx, post, gimg, &prgb, &gpre, gb, 1));
            const int first = !gfeat.buf; /* the last block: nothing wrote the feature gradient yet */
            if (first)
                TRY(tnew(g, &gfeat, x->ndim, x->shape));
            TRY(sv_modconv_bwd(ctx, x, l->w, s, pre, &gpre, &mp, &f->mc[i], &gfeat, !first, gwt, &gs, 1));
            sv_tensor_free(&gpre);
            TRY(sv_scale(ctx, &gs, (float)(1.0 / sqrt((double)l->cin))));
            if (l->blk > 0) {
                sv_tensor nimg = {0};
                int64_t is[4] = {NF, gimg->shape[1], gimg->shape[2] / 2, gimg->shape[3] / 2};
                TRY(sv_tensor_new(ctx, &nimg, 4, is));
                rc = sv_upfirdn2d_bwd(ctx, gimg, &up2, &nimg, 0);
                sv_tensor_free(&gimg_own);
                gimg_own = nimg;
                gimg = &gimg_own;
                if (rc)
                    goto out;
            }
        } else {
            TRY(sv_bias_act_bwd(ctx, post, &gfeat, &pconv, &gfeat, gb, 1));
            TRY(tnew(g, &gxin, x->ndim, x->shape));
            TRY(sv_modconv_bwd(ctx, x, l->w, s, pre, &gfeat, &mp, &f->mc[i], &gxin, 0, gwt, &gs, 1));
            sv_tensor_free(&gfeat);
            gfeat = gxin;
            memset(&gxin, 0, sizeof gxin);
        }
        TRY(affine_bwd(b, l, s, &gs, gw));
        sv_tensor_free(&gs);
    }
    sv_tensor_free(&gimg_own);
    /* 4×4 input = concat(const repeated per frame, v broadcast over 4×4) */
    {
        const sv_tensor *cst = f->cst;
        const int64_t Cc = cst->shape[1], Dv = gv->shape[1];
        int64_t cs[4] = {NF, Cc, cst->shape[2], cst->shape[3]}, vs[4] = {NF, Dv, cst->shape[2], cst->shape[3]};
        TRY(tnew(g, &gcb, 4, cs));
        TRY(sv_slice1(ctx, &gfeat, 0, Cc, &gcb, 0));
        TRY(sv_repeat_rows_bwd(ctx, &gcb, NF, gradof(b, cst), 1));
        sv_tensor_free(&gcb);
        TRY(tnew(g, &gvb, 4, vs));
        TRY(sv_slice1(ctx, &gfeat, Cc, Cc + Dv, &gvb, 0));
        TRY(sv_broadcast_spatial_bwd(ctx, &gvb, gv, 0));
    }
out:
    sv_tensor_free(&gimg_own);
    sv_tensor_free(&gfeat);
    sv_tensor_free(&gpre);
    sv_tensor_free(&gs);
    sv_tensor_free(&gxin);
    sv_tensor_free(&gcb);
    sv_tensor_free(&gvb);
    return rc;
}

/* One time-encoder predictor (bias-free FC on the row codes, gathered per
 * frame): gyL [NF, Do] (and gyR for the aligner, else NULL) → grad of W,
 * gu [rows, Cv, 2] += code gradient. */
static int predict_bwd(const bctx *b, const sv_tensor *W, const sv_tensor *gyL, const sv_tensor *gyR, sv_tensor *gu)
{
    sv_generator *g = b->g;
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const sv_tensor *u = &f->slot[S_MOT0 + f->nmot - 1];
    const int64_t nr = f->tr.nr, Cv = u->shape[1], Do = W->shape[0];
    const float wg = sv_fc_wgain(Cv, 1.0f);
    sv_tensor gseq = {0}, go = {0}, w3 = {0}, gw3 = {0}, gui = {0};
    int64_t ss[3] = {1, Do, 2 * nr}, os[3] = {nr, Do, 2}, ws[3] = {Do, Cv, 1};
    int rc;
    TRY(tnew(g, &gseq, 3, ss));
    TRY(sv_motion_gather_bwd(ctx, gyL, gyR, f->tr.tg, f->tr.NF, g->cfg.motion_z_distance, &gseq));
    TRY(tnew(g, &go, 3, os));
    TRY(sv_swap_mid(ctx, &gseq, 1, Do, nr, 2, &go));
    sv_tensor_free(&gseq);
    TRY(sv_tensor_reshape(W, &w3, 3, ws));
    TRY(sv_tensor_reshape(gradof(b, W), &gw3, 3, ws));
    TRY(sv_conv1d_bwd_weight(ctx, u, &go, wg, &gw3, 1));
    TRY(tnew(g, &gui, 3, u->shape));
    TRY(sv_conv1d_bwd_data(ctx, &go, &w3, wg, &gui));
    TRY(sv_add(ctx, gu, &gui, gu));
out:
    sv_tensor_free(&gseq);
    sv_tensor_free(&go);
    sv_tensor_free(&w3);
    sv_tensor_free(&gw3);
    sv_tensor_free(&gui);
    return rc;
}

/* gv [NF, 2D] → time encoder predictors → motion network. */
static int motion_bwd(const bctx *b, const sv_tensor *gv)
{
    sv_generator *g = b->g;
    struct sv_gen_fwd *f = g->fwd;
    sv_ctx *ctx = g->ctx;
    const int64_t NF = f->tr.NF, D = f->Wper->shape[0];
    const sv_bias_act_params pmot = bap(SV_ACT_LRELU, 1.0f, -1.0f, 0.01f);
    sv_tensor gpr = {0}, gph = {0}, gAL = {0}, gAR = {0}, gu = {0}, gx = {0};
    int rc;
    int64_t s1[2] = {NF, D}, s2[2] = {NF, 2 * D};
    TRY(tnew(g, &gpr, 2, s1));
    TRY(tnew(g, &gph, 2, s1));
    TRY(tnew(g, &gAL, 2, s2));
    TRY(tnew(g, &gAR, 2, s2));
    TRY(sv_timeenc_bwd(ctx, &f->slot[S_T], &f->slot[S_PR], &f->slot[S_PH], f->freqs, f->pscales,
                       (float)g->cfg.motion_z_distance, gv, &gpr, &gph, &gAL, &gAR));
    TRY(sv_tensor_zeros(ctx, &gu, 3, f->slot[S_MOT0 + f->nmot - 1].shape));
    TRY(predict_bwd(b, f->Wper, &gpr, NULL, &gu));
    TRY(predict_bwd(b, f->Wph, &gph, NULL, &gu));
    TRY(predict_bwd(b, f->Wal, &gAL, &gAR, &gu));
    sv_tensor_free(&gpr);
    sv_tensor_free(&gph);
    sv_tensor_free(&gAL);
    sv_tensor_free(&gAR);
    for (int i = f->nmot - 1; i >= 0; i--) {
        const sv_tensor *W = f->mot_w[i], *y = &f->slot[S_MOT0 + i];
        const sv_tensor *x = i > 0 ? &f->slot[S_MOT0 + i - 1] : &f->slot[S_TOKT];
        const float wg = sv_conv1d_wgain(W->shape[1], W->shape[2], 0.01f);
        TRY(sv_bias_act_bwd(ctx, y, &gu, &pmot, &gu, gradof(b, f->mot_b[i]), 1));
        TRY(sv_conv1d_bwd_weight(ctx, x, &gu, wg, gradof(b, W), 1));
        if (i == 0)
            break; /* the tokens get no gradient */
        TRY(tnew(g, &gx, x->ndim, x->shape));
        TRY(sv_conv1d_bwd_data(ctx, &gu, W, wg, &gx));
        sv_tensor_free(&gu);
        gu = gx;
        memset(&gx, 0, sizeof gx);
    }
out:
    sv_tensor_free(&gpr);
    sv_tensor_free(&gph);
    sv_tensor_free(&gAL);
    sv_tensor_free(&gAR);
    sv_tensor_free(&gu);
    sv_tensor_free(&gx);
    return rc;
}

/* gw [B, w_dim] → mapping FCs (z gets no gradient). */
static int mapping_bwd(const bctx *b, const sv_tensor *gw)
{
    sv_generator *g = b->g;
    struct sv_gen_fwd *f = g->fwd;
    const sv_bias_act_params pm = bap(SV_ACT_LRELU, (float)sqrt(2.0), -1.0f, 0.01f);
    sv_tensor gy = {0}, gx = {0};
    const sv_tensor *cur = gw;
    int rc = SV_OK;
    for (int i = f->nmap - 1; i >= 0; i--) {
        const sv_tensor *W = f->map_w[i], *y = &f->slot[f->t_map0 + i];
        const sv_tensor *x = i > 0 ? &f->slot[f->t_map0 + i - 1] : &f->slot[S_MAPX];
        if (i > 0)
            TRY(tnew(g, &gx, x->ndim, x->shape));
        TRY(sv_fc_bwd(g->ctx, x, W, y, cur, sv_fc_wgain(W->shape[1], 0.01f), &pm, i > 0 ? &gx : NULL,
                      gradof(b, W), gradof(b, f->map_b[i]), 1));
        sv_tensor_free(&gy);
        gy = gx;
        memset(&gx, 0, sizeof gx);
        cur = &gy;
    }
out:
    sv_tensor_free(&gy);
    sv_tensor_free(&gx);
    return rc;
}

static int need_state(sv_generator *g, const char *what)
{
    if (!g->fwd || !g->fwd->tr.valid || !g->fwd->tr.w)
        return sv_seterr(E(g), SV_ERR_INVALID,
                         "%s: no training forward to use (call sv_generator_forward_train first; any other forward or "
                         "sampling call on the generator discards its state)",
                         what);
    return SV_OK;
}

int sv_generator_backward(sv_generator *g, const sv_tensor *gframes, sv_params *grads, int accumulate)
{
    if (!g)
        return SV_ERR_INVALID;
    if (!gframes || !grads)
        return sv_seterr(E(g), SV_ERR_INVALID, "generator backward: missing frame gradient or gradient set");
    int rc = need_state(g, "generator backward");
    if (rc)
        return rc;
    struct sv_gen_fwd *f = g->fwd;
    const int R = g->cfg.resolution;
    int64_t fs[4] = {f->tr.NF, 3, R, R};
    if ((rc = sv_check_shape(gframes, "generator backward: frame gradient", 4, fs)) != 0)
        return rc;
    if ((rc = check_layout(g, grads)) != 0)
        return rc;
    if (!accumulate && (rc = sv_tensor_fill(sv_params_flat(grads), 0.0f)) != 0)
        return rc;
    const bctx b = {g, grads};
    sv_tensor gw = {0}, gv = {0};
    const sv_tensor *w = f->tr.w;
    int64_t vs[2] = {f->tr.NF, f->slot[S_V].shape[1]};
    TRY(sv_tensor_zeros(g->ctx, &gw, 2, w->shape));
    TRY(sv_tensor_new(g->ctx, &gv, 2, vs));
    TRY(synth_bwd(&b, gframes, &gw, &gv));
    TRY(motion_bwd(&b, &gv));
    sv_tensor_free(&gv);
    TRY(mapping_bwd(&b, &gw));
out:
    sv_tensor_free(&gw);
    sv_tensor_free(&gv);
    return rc;
}

int sv_generator_update_w_avg(sv_generator *g, float beta)
{
    if (!g)
        return SV_ERR_INVALID;
    int rc = need_state(g, "generator w_avg update");
    if (rc)
        return rc;
    if (!isfinite(beta))
        return sv_seterr(E(g), SV_ERR_INVALID, "generator w_avg update: beta is not finite");
    struct sv_gen_fwd *f = g->fwd;
    const sv_tensor *w = f->tr.w;
    sv_tensor m = {0};
    int64_t ms[2] = {1, w->shape[1]};
    TRY(sv_tensor_new(g->ctx, &m, 2, ms));
    TRY(sv_repeat_rows_bwd(g->ctx, w, w->shape[0], &m, 0));
    TRY(sv_scale(g->ctx, &m, (float)(1.0 / (double)w->shape[0])));
    /* torch: w_avg.copy_(mean.lerp(w_avg, beta)) */
    TRY(sv_lerp(g->ctx, &m, f->w_avg, beta, f->w_avg));
out:
    sv_tensor_free(&m);
    return rc;
}
