/* The StyleGAN-V discriminator (spec §3): parameters (official names, §8.3
 * generalised to any configuration), initialisation (§2.10), forward,
 * backward, the losses of §4.2 and the exact R1 parameter gradient.
 *
 * Structure
 *   blocks      bR … b8 (dblk): fromrgb (first block), skip (1×1 ↓2, gain
 *               √0.5 folded into the weight gain), conv0, conv1 (↓2, gain 1,
 *               clamp·√0.5), out = conv1 + skip.  The input of the
 *               d_concat_res block is a reshape view of the previous output
 *               ([B·F, C, r, r] → [B, F·C, r, r]: channel f·C + c).
 *   epilogue    mbstd → conv → fc → out; projection with cmap (F > 1).
 *   time cond.  tdiff features → embed → normalize → fc0 … → cmap.
 *
 * Every activation of the last forward is kept in a slot (reallocated only
 * when a shape changes), so the backward, the R1 tangent pass and the dual
 * reverse pass reuse them and repeated steps of one shape allocate nothing.
 *
 * Exact R1 (svgan/ops.h): after g = ∂ΣD/∂x, a tangent pass carries
 * ẋ = γ·g/(B·F) through every layer (linear ops on the tangent without bias,
 * bias_act = its derivative mask, mbstd = sv_mbstd_jvp; cmap has no tangent),
 * giving J = Σ_b ḋ_b.  The dual reverse pass is seeded with ∂J/∂ḋ = 1,
 * ∂J/∂d = 0 and runs the ordinary backward on both streams (conv/fc weight
 * gradients accumulate gy·xᵀ + gẏ·ẋᵀ, mbstd through sv_mbstd_jvp_bwd); the
 * projection sends α·ȯut into the mapping network's ordinary backward.
 * ∇θJ = ∂L_R1/∂θ exactly. */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgan/svgan.h"

#ifndef SV_TRY
#define SV_TRY(expr)        \
    do {                    \
        int sv__r = (expr); \
        if (sv__r)          \
            return sv__r;   \
    } while (0)
#endif

#define MAX_DBLK 10 /* b1024 … b8 */
#define MAX_DMAP 64
#define TDIFF_DE 256 /* official TemporalDifferenceEncoder.d */

typedef enum { K_BUF = 0, K_W, K_W_SLOW, K_BIAS } pkind;

typedef struct dblk {
    int res, first;
    int64_t cin, tmp, cout; /* cin: input channels (after the frame concat); tmp if first */
    int pfw, pfb, p0w, p0b, p1w, p1b, psk; /* parameter indices (pfw/pfb −1 unless first) */
    sv_conv2d_params cfr, c0, c1, csk;
    /* forward */
    sv_tensor xin; /* view: the block input (the frames for the first block) */
    sv_tensor frgb, a0, a1, sk, out;
    /* tangents (R1) */
    sv_tensor txin, tfrgb, ta0, ta1, tsk, tout;
    /* gradients: gfrgb = ∂/∂(fromrgb output); g1 = pre-activation conv1;
     * g0 = conv0 output (then pre-activation); gout = block output */
    sv_tensor gfrgb, g1, g0, gout;
    sv_tensor tgfrgb, tg1, tg0, tgout;
} dblk;

struct sv_discriminator {
    sv_ctx *ctx;
    sv_mconfig cfg;
    sv_params *params;
    unsigned char *kind; /* pkind per parameter */
    int F, nblk, nmap, gsize;
    int64_t c4, cmap, nout, De, nf, tdw; /* tdw = De + 2·nf */
    float clampv;
    dblk blk[MAX_DBLK];
    int pE, pK, pembw, pembb, pmw[MAX_DMAP], pmb[MAX_DMAP], pecw, pecb, pfcw, pfcb, poutw, poutb;
    sv_conv2d_params cec;
    /* last forward */
    int have_fwd;
    int64_t B;
    double *t;
    size_t tcap;
    sv_tensor mb, ec, efc, eout;
    sv_tensor feat, memb, mnorm, mfc[MAX_DMAP];
    /* tangents */
    sv_tensor tx, tmb, tec, tefc, teout;
    /* gradients */
    sv_tensor gmb, gec, gefc, geout, tgmb, tgec, tgefc, tgeout;
    sv_tensor gcmap, gma, gmb2, gmemb, gfeat;
};

static sv_err *E(const sv_discriminator *d) { return sv_ctx_err(d->ctx); }

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static pkind kind_of(const char *name)
{
    if (ends_with(name, "resample_filter") || ends_with(name, "fourier_coefs"))
        return K_BUF;
    if (ends_with(name, ".bias"))
        return K_BIAS;
    if (!strncmp(name, "mapping.fc", 10))
        return K_W_SLOW;
    return K_W;
}

/* ---- declaration ------------------------------------------------------------ */

static int addp(sv_discriminator *d, int *idx, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 8, 9)))
#endif
    ;
static int addp(sv_discriminator *d, int *idx, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                const char *fmt, ...)
{
    char n[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n, sizeof n, fmt, ap);
    va_end(ap);
    const int64_t shape[4] = {d0, d1, d2, d3};
    if (idx)
        *idx = (int)sv_params_count(d->params);
    return sv_params_add(d->params, n, ndim, shape);
}

static int declare(sv_discriminator *d)
{
    const sv_mconfig *c = &d->cfg;
    if (d->F > 1) {
        SV_TRY(addp(d, &d->pE, 2, c->max_num_frames, d->De, 0, 0, "time_encoder.const_embed.weight"));
        SV_TRY(addp(d, &d->pK, 2, 1, d->nf, 0, 0, "time_encoder.time_encoder.fourier_coefs"));
    }
    for (int k = 0; k < d->nblk; k++) {
        dblk *b = &d->blk[k];
        const int r = b->res;
        SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b%d.resample_filter", r));
        if (b->first) {
            SV_TRY(addp(d, &b->pfw, 4, b->tmp, 3, 1, 1, "b%d.fromrgb.weight", r));
            SV_TRY(addp(d, &b->pfb, 1, b->tmp, 0, 0, 0, "b%d.fromrgb.bias", r));
            SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b%d.fromrgb.resample_filter", r));
        }
        SV_TRY(addp(d, &b->p0w, 4, b->tmp, b->cin, 3, 3, "b%d.conv0.weight", r));
        SV_TRY(addp(d, &b->p0b, 1, b->tmp, 0, 0, 0, "b%d.conv0.bias", r));
        SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b%d.conv0.resample_filter", r));
        SV_TRY(addp(d, &b->p1w, 4, b->cout, b->tmp, 3, 3, "b%d.conv1.weight", r));
        SV_TRY(addp(d, &b->p1b, 1, b->cout, 0, 0, 0, "b%d.conv1.bias", r));
        SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b%d.conv1.resample_filter", r));
        SV_TRY(addp(d, &b->psk, 4, b->cout, b->cin, 1, 1, "b%d.skip.weight", r));
        SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b%d.skip.resample_filter", r));
    }
    if (d->F > 1) {
        SV_TRY(addp(d, &d->pembw, 2, d->cmap, (d->F - 1) * d->tdw, 0, 0, "mapping.embed.weight"));
        SV_TRY(addp(d, &d->pembb, 1, d->cmap, 0, 0, 0, "mapping.embed.bias"));
        for (int i = 0; i < d->nmap; i++) {
            SV_TRY(addp(d, &d->pmw[i], 2, d->cmap, d->cmap, 0, 0, "mapping.fc%d.weight", i));
            SV_TRY(addp(d, &d->pmb[i], 1, d->cmap, 0, 0, 0, "mapping.fc%d.bias", i));
        }
    }
    SV_TRY(addp(d, &d->pecw, 4, d->c4, d->c4 + 1, 3, 3, "b4.conv.weight"));
    SV_TRY(addp(d, &d->pecb, 1, d->c4, 0, 0, 0, "b4.conv.bias"));
    SV_TRY(addp(d, NULL, 2, 4, 4, 0, 0, "b4.conv.resample_filter"));
    SV_TRY(addp(d, &d->pfcw, 2, d->c4, d->c4 * 16, 0, 0, "b4.fc.weight"));
    SV_TRY(addp(d, &d->pfcb, 1, d->c4, 0, 0, 0, "b4.fc.bias"));
    SV_TRY(addp(d, &d->poutw, 2, d->nout, d->c4, 0, 0, "b4.out.weight"));
    SV_TRY(addp(d, &d->poutb, 1, d->nout, 0, 0, 0, "b4.out.bias"));
    return SV_OK;
}

static int fill_buffers(sv_discriminator *d)
{
    float filt[16], kap[32];
    const float f1[4] = {1, 3, 3, 1};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            filt[i * 4 + j] = f1[i] * f1[j] / 64.0f;
    if (d->F > 1) {
        int nf = 0;
        if (sv_tdiff_kappa(d->cfg.max_num_frames, kap, &nf) || nf != d->nf)
            return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: invalid max_num_frames %d", d->cfg.max_num_frames);
    }
    for (size_t i = 0; i < sv_params_count(d->params); i++) {
        if (d->kind[i] != K_BUF)
            continue;
        sv_tensor *t = sv_params_at(d->params, i);
        if (ends_with(sv_params_name(d->params, i), "fourier_coefs"))
            SV_TRY(sv_tensor_write(t, kap, (size_t)d->nf));
        else
            SV_TRY(sv_tensor_write(t, filt, 16));
    }
    return SV_OK;
}

static void set_conv(sv_conv2d_params *p, int k, int down, int64_t cin, double extra_gain)
{
    p->k = k;
    p->up = 1;
    p->down = down;
    p->wgain = (float)(extra_gain / sqrt((double)cin * k * k));
}

int sv_discriminator_new(sv_ctx *ctx, const sv_mconfig *cfg, sv_discriminator **out)
{
    *out = NULL;
    sv_err *e = sv_ctx_err(ctx);
    SV_TRY(sv_mconfig_validate(cfg, e));
    const int R = cfg->resolution, cres = cfg->d_concat_res, div = cfg->d_num_frames_div_factor;
    if (cres < 8 || cres >= R)
        return sv_seterr(e, SV_ERR_INVALID,
                         "discriminator: d_concat_res = %d must be a block resolution in 8..%d (resolution/2)", cres,
                         R / 2);
    if (sv_mconfig_channels(cfg, cres) / div < 1)
        return sv_seterr(e, SV_ERR_INVALID,
                         "discriminator: %d channels at %d² divided by d_num_frames_div_factor %d leaves none",
                         sv_mconfig_channels(cfg, cres), cres, div);
    sv_discriminator *d = calloc(1, sizeof *d);
    if (!d)
        return sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
    d->ctx = ctx;
    d->cfg = *cfg;
    d->F = cfg->frames_per_clip;
    d->c4 = sv_mconfig_channels(cfg, 4);
    d->cmap = d->F > 1 ? d->c4 : 0;
    d->nout = d->F > 1 ? d->cmap : 1;
    d->nmap = d->F > 1 ? cfg->d_mapping_layers : 0;
    d->gsize = cfg->mbstd_group_size;
    d->clampv = cfg->conv_clamp < 0 ? -1.0f : (float)cfg->conv_clamp;
    d->pE = d->pK = d->pembw = d->pembb = -1;
    if (d->F > 1) {
        float kap[32];
        int nf = 0;
        if (sv_tdiff_kappa(cfg->max_num_frames, kap, &nf)) {
            free(d);
            return sv_seterr(e, SV_ERR_INVALID, "discriminator: invalid max_num_frames %d", cfg->max_num_frames);
        }
        d->nf = nf;
        d->De = TDIFF_DE;
        d->tdw = d->De + 2 * d->nf;
    }
    int k = 0;
    for (int r = R; r >= 8; r /= 2, k++) {
        dblk *b = &d->blk[k];
        b->res = r;
        b->first = r == R;
        b->pfw = b->pfb = -1;
        b->tmp = sv_mconfig_channels(cfg, r);
        b->cout = sv_mconfig_channels(cfg, r / 2);
        if (r / 2 == cres)
            b->cout /= div;
        b->cin = b->first ? b->tmp : sv_mconfig_channels(cfg, r);
        if (r == cres)
            b->cin = (b->cin / div) * d->F;
        set_conv(&b->cfr, 1, 1, 3, 1.0);
        set_conv(&b->c0, 3, 1, b->cin, 1.0);
        set_conv(&b->c1, 3, 2, b->tmp, 1.0);
        set_conv(&b->csk, 1, 2, b->cin, sqrt(0.5));
    }
    d->nblk = k;
    set_conv(&d->cec, 3, 1, d->c4 + 1, 1.0);
    int rc = sv_params_new(ctx, &d->params);
    if (!rc)
        rc = declare(d);
    if (!rc)
        rc = sv_params_finalize(d->params);
    if (!rc) {
        size_t n = sv_params_count(d->params);
        d->kind = malloc(n ? n : 1);
        if (!d->kind)
            rc = sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        for (size_t i = 0; !rc && i < n; i++)
            d->kind[i] = (unsigned char)kind_of(sv_params_name(d->params, i));
    }
    if (!rc)
        rc = fill_buffers(d);
    if (rc) {
        sv_discriminator_free(d);
        return rc;
    }
    *out = d;
    return SV_OK;
}

static void free_blk(dblk *b)
{
    sv_tensor *ts[] = {&b->xin, &b->frgb, &b->a0, &b->a1, &b->sk, &b->out, &b->txin, &b->tfrgb, &b->ta0,
                       &b->ta1, &b->tsk, &b->tout, &b->gfrgb, &b->g1, &b->g0, &b->gout, &b->tgfrgb, &b->tg1,
                       &b->tg0, &b->tgout};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        sv_tensor_free(ts[i]);
}

void sv_discriminator_free(sv_discriminator *d)
{
    if (!d)
        return;
    for (int k = 0; k < d->nblk; k++)
        free_blk(&d->blk[k]);
    sv_tensor *ts[] = {&d->mb,   &d->ec,   &d->efc,  &d->eout,  &d->feat,  &d->memb, &d->mnorm,
                       &d->tx,   &d->tmb,  &d->tec,  &d->tefc,  &d->teout, &d->gmb,  &d->gec,
                       &d->gefc, &d->geout, &d->tgmb, &d->tgec, &d->tgefc, &d->tgeout, &d->gcmap,
                       &d->gma,  &d->gmb2, &d->gmemb, &d->gfeat};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++)
        sv_tensor_free(ts[i]);
    for (int i = 0; i < MAX_DMAP; i++)
        sv_tensor_free(&d->mfc[i]);
    sv_params_free(d->params);
    free(d->kind);
    free(d->t);
    free(d);
}

const sv_mconfig *sv_discriminator_config(const sv_discriminator *d) { return &d->cfg; }
sv_ctx *sv_discriminator_ctx(const sv_discriminator *d) { return d->ctx; }
sv_params *sv_discriminator_params(sv_discriminator *d) { return d->params; }
int sv_discriminator_cmap_dim(const sv_discriminator *d) { return (int)d->cmap; }

int sv_discriminator_is_buffer(const sv_discriminator *d, size_t i)
{
    return i < sv_params_count(d->params) && d->kind[i] == K_BUF;
}

int64_t sv_discriminator_num_trainable(const sv_discriminator *d)
{
    int64_t n = 0;
    for (size_t i = 0; i < sv_params_count(d->params); i++)
        if (d->kind[i] != K_BUF)
            n += sv_numel(sv_params_at(d->params, i));
    return n;
}

int sv_discriminator_init(sv_discriminator *d, uint64_t seed)
{
    sv_params *p = d->params;
    size_t cap = 0;
    float *h = NULL;
    int rc = 0;
    for (size_t i = 0; i < sv_params_count(p) && !rc; i++) {
        const pkind k = (pkind)d->kind[i];
        if (k == K_BUF)
            continue;
        sv_tensor *t = sv_params_at(p, i);
        size_t n = (size_t)sv_numel(t);
        if (n > cap) {
            float *nh = realloc(h, n * sizeof *h);
            if (!nh) {
                rc = sv_seterr(E(d), SV_ERR_NOMEM, "out of host memory");
                break;
            }
            h = nh;
            cap = n;
        }
        if (k == K_BIAS) {
            memset(h, 0, n * sizeof *h);
        } else {
            sv_rng_normal(seed, SV_DISC_STREAM_INIT + (uint64_t)i, 0, n, h);
            if (k == K_W_SLOW)
                for (size_t j = 0; j < n; j++)
                    h[j] *= 100.0f; /* N(0,1) / lr multiplier 0.01 */
        }
        rc = sv_tensor_write(t, h, n);
    }
    free(h);
    return rc;
}

/* ---- checkpoints ---------------------------------------------------------------- */

static int make_prefix(const char *which, char *prefix, size_t n, sv_err *e)
{
    if (!which)
        which = "D.";
    size_t wl = strlen(which);
    if (wl == 0 || wl + 2 > n)
        return sv_seterr(e, SV_ERR_INVALID, "checkpoint: bad network prefix '%.64s'", which);
    snprintf(prefix, n, "%s%s", which, which[wl - 1] == '.' ? "" : ".");
    return SV_OK;
}

int sv_checkpoint_load_discriminator(const sv_st_file *f, const char *which, sv_discriminator *d, sv_err *e)
{
    char prefix[64];
    SV_TRY(make_prefix(which, prefix, sizeof prefix, e));
    sv_params *p = d->params;
    char name[1024];
    /* everything is checked before anything is changed */
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const sv_tensor *v = sv_params_at(p, i);
        snprintf(name, sizeof name, "%s%s", prefix, sv_params_name(p, i));
        const sv_st_tensor *t = sv_st_find(f, name);
        if (!t) {
            char want[128];
            sv_shape_str(v, want, sizeof want);
            return sv_seterr(e, SV_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", sv_st_path(f), name,
                             want);
        }
        SV_TRY(sv_st_check_shape(f, t, v->ndim, v->shape, e));
    }
    return sv_params_load(p, f, prefix, 1, e);
}

int sv_discriminator_save(sv_discriminator *d, sv_st_writer *w, const char *prefix, sv_err *e)
{
    char pre[64];
    SV_TRY(make_prefix(prefix, pre, sizeof pre, e));
    return sv_params_save(d->params, w, pre, e);
}

/* ---- helpers -------------------------------------------------------------------- */

/* (Re)allocate slot t with this shape unless it already has it. */
static int ensure(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape)
{
    if (t->buf && t->ndim == ndim) {
        int same = 1;
        for (int i = 0; i < ndim; i++)
            same &= t->shape[i] == shape[i];
        if (same)
            return SV_OK;
    }
    sv_tensor_free(t);
    return sv_tensor_new(ctx, t, ndim, shape);
}

static int ensure4(sv_ctx *ctx, sv_tensor *t, int64_t n, int64_t c, int64_t h, int64_t w)
{
    const int64_t s[4] = {n, c, h, w};
    return ensure(ctx, t, 4, s);
}

static int ensure2(sv_ctx *ctx, sv_tensor *t, int64_t n, int64_t c)
{
    const int64_t s[2] = {n, c};
    return ensure(ctx, t, 2, s);
}

/* A fresh reshape view in *v (the previous view released). */
static int review(const sv_tensor *src, sv_tensor *v, int ndim, const int64_t *shape)
{
    sv_tensor_free(v);
    return sv_tensor_reshape(src, v, ndim, shape);
}

static sv_tensor *P(sv_discriminator *d, int idx) { return sv_params_at(d->params, (size_t)idx); }
static sv_tensor *GR(sv_params *grads, int idx) { return grads && idx >= 0 ? sv_params_at(grads, (size_t)idx) : NULL; }

static sv_bias_act_params bap(sv_act act, double gain, double clampv, float bias_gain)
{
    sv_bias_act_params p = sv_bias_act_default(act);
    p.gain = (float)gain;
    p.clamp = clampv < 0 ? -1.0f : (float)clampv;
    p.bias_gain = bias_gain;
    return p;
}

static sv_bias_act_params ba_lr2(const sv_discriminator *d) { return bap(SV_ACT_LRELU, sqrt(2.0), d->clampv, 1.0f); }
static sv_bias_act_params ba_lr1(const sv_discriminator *d)
{
    return bap(SV_ACT_LRELU, sqrt(2.0) * sqrt(0.5), d->clampv < 0 ? -1.0 : (double)d->clampv * sqrt(0.5), 1.0f);
}
static sv_bias_act_params ba_fc(void) { return bap(SV_ACT_LRELU, sqrt(2.0), -1.0, 1.0f); }
static sv_bias_act_params ba_lin(void) { return bap(SV_ACT_LINEAR, 1.0, -1.0, 1.0f); }
static sv_bias_act_params ba_map(void) { return bap(SV_ACT_LRELU, sqrt(2.0), -1.0, 0.01f); }

static void trace_call(sv_gen_trace_fn trace, void *user, const sv_tensor *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void trace_call(sv_gen_trace_fn trace, void *user, const sv_tensor *t, const char *fmt, ...)
{
    if (!trace)
        return;
    char n[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(n, sizeof n, fmt, ap);
    va_end(ap);
    trace(user, n, t);
}

/* Input shape of block k for B clips. */
static void blk_in_shape(const sv_discriminator *d, int k, int64_t B, int64_t s[4])
{
    const dblk *b = &d->blk[k];
    const int concat = b->res <= d->cfg.d_concat_res;
    s[0] = concat ? B : B * d->F;
    s[1] = b->first ? 3 : b->cin;
    s[2] = s[3] = b->res;
}

/* Batch (frames or clips) of block k's activations. */
static int64_t blk_n(const sv_discriminator *d, int k, int64_t B)
{
    return d->blk[k].res <= d->cfg.d_concat_res ? B : B * d->F;
}

/* ---- forward ------------------------------------------------------------------- */

static int check_times(sv_discriminator *d, const double *t, int64_t B, int64_t F)
{
    if (F < 2)
        return SV_OK;
    if (!t)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: no frame times");
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++) {
            const double v = t[b * F + f];
            if (!isfinite(v))
                return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: frame time %lld of clip %lld is not finite",
                                 (long long)f, (long long)b);
            if (f && v < t[b * F + f - 1])
                return sv_seterr(E(d), SV_ERR_INVALID,
                                 "discriminator: frame times of clip %lld are not sorted (t[%lld] = %g < t[%lld] = %g)",
                                 (long long)b, (long long)f, v, (long long)(f - 1), t[b * F + f - 1]);
        }
    return SV_OK;
}

static int conv_act(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *bias,
                    const sv_conv2d_params *cp, const sv_bias_act_params *p, sv_tensor *y)
{
    SV_TRY(sv_conv2d_fwd(ctx, x, w, cp, y));
    if (p)
        SV_TRY(sv_bias_act_fwd(ctx, y, bias, p, y));
    return SV_OK;
}

/* Time conditioning: tdiff → mapping → cmap (= d->mfc[nmap − 1]). */
static int fwd_cmap(sv_discriminator *d, int64_t B, sv_gen_trace_fn trace, void *user)
{
    sv_ctx *ctx = d->ctx;
    SV_TRY(ensure2(ctx, &d->feat, B, (d->F - 1) * d->tdw));
    SV_TRY(sv_tdiff_fwd(ctx, d->t, B, d->F, P(d, d->pE), P(d, d->pK), &d->feat));
    trace_call(trace, user, &d->feat, "time_encoder");
    if (trace) {
        /* the per-difference sub-modules: rows b·(F−1) + i */
        const int64_t nd = B * (d->F - 1);
        sv_tensor rows = {0}, pe = {0}, pf = {0};
        const int64_t rs[2] = {nd, d->tdw};
        int rc = sv_tensor_reshape(&d->feat, &rows, 2, rs);
        if (!rc)
            rc = sv_tensor_newv(ctx, &pe, 2, nd, d->De);
        if (!rc)
            rc = sv_tensor_newv(ctx, &pf, 2, nd, 2 * d->nf);
        if (!rc)
            rc = sv_slice1(ctx, &rows, 0, d->De, &pe, 0);
        if (!rc)
            rc = sv_slice1(ctx, &rows, d->De, d->tdw, &pf, 0);
        if (!rc) {
            trace_call(trace, user, &pe, "time_encoder.const_embed");
            trace_call(trace, user, &pf, "time_encoder.time_encoder");
        }
        sv_tensor_free(&rows);
        sv_tensor_free(&pe);
        sv_tensor_free(&pf);
        SV_TRY(rc);
    }
    const sv_bias_act_params lin = ba_lin(), pm = ba_map();
    SV_TRY(ensure2(ctx, &d->memb, B, d->cmap));
    SV_TRY(sv_fc_fwd(ctx, &d->feat, P(d, d->pembw), P(d, d->pembb), sv_fc_wgain((d->F - 1) * d->tdw, 1.0f), &lin,
                     &d->memb));
    trace_call(trace, user, &d->memb, "mapping.embed");
    SV_TRY(ensure2(ctx, &d->mnorm, B, d->cmap));
    SV_TRY(sv_normalize_2nd_moment_fwd(ctx, &d->memb, &d->mnorm));
    for (int i = 0; i < d->nmap; i++) {
        SV_TRY(ensure2(ctx, &d->mfc[i], B, d->cmap));
        SV_TRY(sv_fc_fwd(ctx, i ? &d->mfc[i - 1] : &d->mnorm, P(d, d->pmw[i]), P(d, d->pmb[i]),
                         sv_fc_wgain(d->cmap, 0.01f), &pm, &d->mfc[i]));
        trace_call(trace, user, &d->mfc[i], "mapping.fc%d", i);
    }
    trace_call(trace, user, &d->mfc[d->nmap - 1], "mapping");
    return SV_OK;
}

int sv_discriminator_forward(sv_discriminator *d, const sv_tensor *x, const double *t, int64_t F, sv_tensor *logits,
                             sv_gen_trace_fn trace, void *trace_user)
{
    sv_ctx *ctx = d->ctx;
    const int R = d->cfg.resolution;
    d->have_fwd = 0;
    if (!x || !logits)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: forward needs frames and a logits tensor");
    if (F != d->F)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: built for %d frames per clip, got F = %lld", d->F,
                         (long long)F);
    if (x->ndim != 4 || x->shape[0] < 1 || x->shape[0] % F || x->shape[1] != 3 || x->shape[2] != R ||
        x->shape[3] != R) {
        char s[96];
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: frames must be [B·%lld, 3, %d, %d], got %s",
                         (long long)F, R, R, sv_shape_str(x, s, sizeof s));
    }
    const int64_t B = x->shape[0] / F;
    if (sv_numel(logits) != B) {
        char s[96];
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: logits must have B = %lld elements, got %s",
                         (long long)B, sv_shape_str(logits, s, sizeof s));
    }
    if (!sv_mbstd_group(ctx, B, d->gsize))
        return SV_ERR_INVALID;
    SV_TRY(check_times(d, t, B, F));
    if (F > 1) {
        if ((size_t)(B * F) > d->tcap) {
            double *nt = realloc(d->t, (size_t)(B * F) * sizeof *nt);
            if (!nt)
                return sv_seterr(E(d), SV_ERR_NOMEM, "out of host memory");
            d->t = nt;
            d->tcap = (size_t)(B * F);
        }
        memcpy(d->t, t, (size_t)(B * F) * sizeof *t);
    }
    const sv_bias_act_params lr2 = ba_lr2(d), lr1 = ba_lr1(d);
    for (int k = 0; k < d->nblk; k++) {
        dblk *b = &d->blk[k];
        const int r = b->res;
        int64_t is[4];
        blk_in_shape(d, k, B, is);
        SV_TRY(review(k ? &d->blk[k - 1].out : x, &b->xin, 4, is));
        const int64_t n = is[0];
        const sv_tensor *xc = &b->xin;
        if (b->first) {
            SV_TRY(ensure4(ctx, &b->frgb, n, b->tmp, r, r));
            SV_TRY(conv_act(ctx, &b->xin, P(d, b->pfw), P(d, b->pfb), &b->cfr, &lr2, &b->frgb));
            trace_call(trace, trace_user, &b->frgb, "b%d.fromrgb", r);
            xc = &b->frgb;
        }
        SV_TRY(ensure4(ctx, &b->sk, n, b->cout, r / 2, r / 2));
        SV_TRY(conv_act(ctx, xc, P(d, b->psk), NULL, &b->csk, NULL, &b->sk));
        trace_call(trace, trace_user, &b->sk, "b%d.skip", r);
        SV_TRY(ensure4(ctx, &b->a0, n, b->tmp, r, r));
        SV_TRY(conv_act(ctx, xc, P(d, b->p0w), P(d, b->p0b), &b->c0, &lr2, &b->a0));
        trace_call(trace, trace_user, &b->a0, "b%d.conv0", r);
        SV_TRY(ensure4(ctx, &b->a1, n, b->cout, r / 2, r / 2));
        SV_TRY(conv_act(ctx, &b->a0, P(d, b->p1w), P(d, b->p1b), &b->c1, &lr1, &b->a1));
        trace_call(trace, trace_user, &b->a1, "b%d.conv1", r);
        SV_TRY(ensure4(ctx, &b->out, n, b->cout, r / 2, r / 2));
        SV_TRY(sv_add(ctx, &b->a1, &b->sk, &b->out));
        trace_call(trace, trace_user, &b->out, "b%d.0", r);
    }
    /* epilogue */
    const sv_tensor *x8 = &d->blk[d->nblk - 1].out;
    SV_TRY(ensure4(ctx, &d->mb, B, d->c4 + 1, 4, 4));
    SV_TRY(sv_mbstd_fwd(ctx, x8, d->gsize, &d->mb));
    trace_call(trace, trace_user, &d->mb, "b4.mbstd");
    SV_TRY(ensure4(ctx, &d->ec, B, d->c4, 4, 4));
    SV_TRY(conv_act(ctx, &d->mb, P(d, d->pecw), P(d, d->pecb), &d->cec, &lr2, &d->ec));
    trace_call(trace, trace_user, &d->ec, "b4.conv");
    const sv_bias_act_params pfc = ba_fc(), lin = ba_lin();
    sv_tensor flat = {0};
    const int64_t fs[2] = {B, d->c4 * 16};
    SV_TRY(sv_tensor_reshape(&d->ec, &flat, 2, fs));
    int rc = ensure2(ctx, &d->efc, B, d->c4);
    if (!rc)
        rc = sv_fc_fwd(ctx, &flat, P(d, d->pfcw), P(d, d->pfcb), sv_fc_wgain(d->c4 * 16, 1.0f), &pfc, &d->efc);
    sv_tensor_free(&flat);
    SV_TRY(rc);
    trace_call(trace, trace_user, &d->efc, "b4.fc");
    SV_TRY(ensure2(ctx, &d->eout, B, d->nout));
    SV_TRY(sv_fc_fwd(ctx, &d->efc, P(d, d->poutw), P(d, d->poutb), sv_fc_wgain(d->c4, 1.0f), &lin, &d->eout));
    trace_call(trace, trace_user, &d->eout, "b4.out");
    if (F > 1) {
        SV_TRY(fwd_cmap(d, B, trace, trace_user));
        SV_TRY(sv_rowdot(ctx, &d->eout, &d->mfc[d->nmap - 1], (float)(1.0 / sqrt((double)d->cmap)), logits, 0));
    } else {
        SV_TRY(sv_tensor_copy(logits, &d->eout));
    }
    if (trace) {
        sv_tensor lv = {0};
        const int64_t ls[2] = {B, 1};
        SV_TRY(sv_tensor_reshape(logits, &lv, 2, ls));
        trace_call(trace, trace_user, &lv, "b4");
        sv_tensor_free(&lv);
    }
    d->B = B;
    d->have_fwd = 1;
    return SV_OK;
}

/* ---- backward --------------------------------------------------------------------- */

/* Both streams through one conv (+ bias_act) layer.  gy / tgy: gradient at
 * the layer output; g / tg receive the pre-activation gradient (may alias gy
 * / tgy; with no activation (p NULL, the skip) g must be gy).  gx / tgx
 * (nullable) get the input gradients (overwrite, or add with gx_acc);
 * weight and bias gradients accumulate.  y: the forward output (derivative
 * mask); x / tx: the forward input and its tangent. */
typedef struct lay {
    const sv_tensor *w;
    sv_tensor *gw, *gb;
    const sv_conv2d_params *cp;
    const sv_bias_act_params *p;
} lay;

static int layer_bwd(sv_ctx *ctx, const lay *L, const sv_tensor *y, const sv_tensor *x, const sv_tensor *tx,
                     const sv_tensor *gy, const sv_tensor *tgy, sv_tensor *g, sv_tensor *tg, sv_tensor *gx,
                     sv_tensor *tgx, int gx_acc)
{
    if (L->p) {
        SV_TRY(sv_bias_act_bwd(ctx, y, gy, L->p, g, L->gb, 1));
        if (tg)
            SV_TRY(sv_bias_act_bwd(ctx, y, tgy, L->p, tg, NULL, 0));
    }
    if (gx)
        SV_TRY(sv_conv2d_bwd_data(ctx, g, L->w, L->cp, gx, gx_acc));
    if (tg && tgx)
        SV_TRY(sv_conv2d_bwd_data(ctx, tg, L->w, L->cp, tgx, gx_acc));
    if (L->gw) {
        SV_TRY(sv_conv2d_bwd_weight(ctx, x, g, L->cp, L->gw, 1));
        if (tg)
            SV_TRY(sv_conv2d_bwd_weight(ctx, tx, tg, L->cp, L->gw, 1));
    }
    return SV_OK;
}

/* Reverse through the epilogue and blocks from d->geout (and d->tgeout when
 * dual).  Parameter gradients accumulate into grads (nullable); gx
 * (nullable, primal only) gets ∂/∂frames. */
static int bwd_core(sv_discriminator *d, int dual, sv_params *grads, sv_tensor *gx)
{
    sv_ctx *ctx = d->ctx;
    const int64_t B = d->B;
    const sv_bias_act_params lr2 = ba_lr2(d), lr1 = ba_lr1(d), pfc = ba_fc(), lin = ba_lin();
    /* out FC (linear), fc (lrelu √2) */
    SV_TRY(ensure2(ctx, &d->gefc, B, d->c4));
    SV_TRY(sv_fc_bwd(ctx, &d->efc, P(d, d->poutw), &d->eout, &d->geout, sv_fc_wgain(d->c4, 1.0f), &lin, &d->gefc,
                     GR(grads, d->poutw), GR(grads, d->poutb), 1));
    if (dual) {
        SV_TRY(ensure2(ctx, &d->tgefc, B, d->c4));
        SV_TRY(sv_fc_bwd(ctx, &d->tefc, P(d, d->poutw), &d->eout, &d->tgeout, sv_fc_wgain(d->c4, 1.0f), &lin,
                         &d->tgefc, GR(grads, d->poutw), NULL, 1));
    }
    SV_TRY(ensure4(ctx, &d->gec, B, d->c4, 4, 4));
    if (dual)
        SV_TRY(ensure4(ctx, &d->tgec, B, d->c4, 4, 4));
    {
        const int64_t fs[2] = {B, d->c4 * 16};
        sv_tensor xf = {0}, gf = {0}, txf = {0}, tgf = {0};
        int rc = sv_tensor_reshape(&d->ec, &xf, 2, fs);
        if (!rc)
            rc = sv_tensor_reshape(&d->gec, &gf, 2, fs);
        if (!rc)
            rc = sv_fc_bwd(ctx, &xf, P(d, d->pfcw), &d->efc, &d->gefc, sv_fc_wgain(d->c4 * 16, 1.0f), &pfc, &gf,
                           GR(grads, d->pfcw), GR(grads, d->pfcb), 1);
        if (!rc && dual)
            rc = sv_tensor_reshape(&d->tec, &txf, 2, fs);
        if (!rc && dual)
            rc = sv_tensor_reshape(&d->tgec, &tgf, 2, fs);
        if (!rc && dual)
            rc = sv_fc_bwd(ctx, &txf, P(d, d->pfcw), &d->efc, &d->tgefc, sv_fc_wgain(d->c4 * 16, 1.0f), &pfc, &tgf,
                           GR(grads, d->pfcw), NULL, 1);
        sv_tensor_free(&xf);
        sv_tensor_free(&gf);
        sv_tensor_free(&txf);
        sv_tensor_free(&tgf);
        SV_TRY(rc);
    }
    /* b4 conv, mbstd */
    SV_TRY(ensure4(ctx, &d->gmb, B, d->c4 + 1, 4, 4));
    if (dual)
        SV_TRY(ensure4(ctx, &d->tgmb, B, d->c4 + 1, 4, 4));
    {
        const lay L = {P(d, d->pecw), GR(grads, d->pecw), GR(grads, d->pecb), &d->cec, &lr2};
        SV_TRY(layer_bwd(ctx, &L, &d->ec, &d->mb, dual ? &d->tmb : NULL, &d->gec, &d->tgec, &d->gec,
                         dual ? &d->tgec : NULL, &d->gmb, dual ? &d->tgmb : NULL, 0));
    }
    dblk *last = &d->blk[d->nblk - 1];
    SV_TRY(ensure4(ctx, &last->gout, B, last->cout, 4, 4));
    if (dual) {
        SV_TRY(ensure4(ctx, &last->tgout, B, last->cout, 4, 4));
        SV_TRY(sv_mbstd_jvp_bwd(ctx, &last->out, &last->tout, &d->gmb, &d->tgmb, d->gsize, &last->gout,
                                &last->tgout));
    } else {
        SV_TRY(sv_mbstd_bwd(ctx, &last->out, &d->gmb, d->gsize, &last->gout));
    }
    /* blocks, last to first */
    for (int k = d->nblk - 1; k >= 0; k--) {
        dblk *b = &d->blk[k];
        const int r = b->res;
        const int64_t n = blk_n(d, k, B);
        /* the gradient w.r.t. the block input: the previous block's gout
         * (a view), or gfrgb for the first block */
        sv_tensor gxin = {0}, tgxin = {0};
        int rc = 0;
        if (k) {
            dblk *pb = &d->blk[k - 1];
            const int64_t pn = blk_n(d, k - 1, B);
            int64_t is[4];
            blk_in_shape(d, k, B, is);
            rc = ensure4(ctx, &pb->gout, pn, pb->cout, r, r);
            if (!rc)
                rc = sv_tensor_reshape(&pb->gout, &gxin, 4, is);
            if (!rc && dual)
                rc = ensure4(ctx, &pb->tgout, pn, pb->cout, r, r);
            if (!rc && dual)
                rc = sv_tensor_reshape(&pb->tgout, &tgxin, 4, is);
        } else {
            rc = ensure4(ctx, &b->gfrgb, n, b->tmp, r, r);
            if (!rc)
                rc = sv_tensor_reshape(&b->gfrgb, &gxin, 4, b->gfrgb.shape);
            if (!rc && dual)
                rc = ensure4(ctx, &b->tgfrgb, n, b->tmp, r, r);
            if (!rc && dual)
                rc = sv_tensor_reshape(&b->tgfrgb, &tgxin, 4, b->tgfrgb.shape);
        }
        if (!rc)
            rc = ensure4(ctx, &b->g1, n, b->cout, r / 2, r / 2);
        if (!rc)
            rc = ensure4(ctx, &b->g0, n, b->tmp, r, r);
        if (!rc && dual)
            rc = ensure4(ctx, &b->tg1, n, b->cout, r / 2, r / 2);
        if (!rc && dual)
            rc = ensure4(ctx, &b->tg0, n, b->tmp, r, r);
        const sv_tensor *xc = b->first ? &b->frgb : &b->xin;
        const sv_tensor *txc = b->first ? &b->tfrgb : &b->txin;
        /* conv1 */
        const lay L1 = {P(d, b->p1w), GR(grads, b->p1w), GR(grads, b->p1b), &b->c1, &lr1};
        if (!rc)
            rc = layer_bwd(ctx, &L1, &b->a1, &b->a0, dual ? &b->ta0 : NULL, &b->gout, &b->tgout, &b->g1,
                           dual ? &b->tg1 : NULL, &b->g0, dual ? &b->tg0 : NULL, 0);
        /* conv0 → input gradient (overwrite) */
        const lay L0 = {P(d, b->p0w), GR(grads, b->p0w), GR(grads, b->p0b), &b->c0, &lr2};
        if (!rc)
            rc = layer_bwd(ctx, &L0, &b->a0, xc, dual ? txc : NULL, &b->g0, &b->tg0, &b->g0, dual ? &b->tg0 : NULL,
                           &gxin, dual ? &tgxin : NULL, 0);
        /* skip (linear, gain folded): reads gout, accumulates into the input gradient */
        const lay LS = {P(d, b->psk), GR(grads, b->psk), NULL, &b->csk, NULL};
        if (!rc)
            rc = layer_bwd(ctx, &LS, NULL, xc, dual ? txc : NULL, &b->gout, &b->tgout, &b->gout,
                           dual ? &b->tgout : NULL, &gxin, dual ? &tgxin : NULL, 1);
        sv_tensor_free(&gxin);
        sv_tensor_free(&tgxin);
        SV_TRY(rc);
        if (b->first) {
            const lay LF = {P(d, b->pfw), GR(grads, b->pfw), GR(grads, b->pfb), &b->cfr, &lr2};
            SV_TRY(layer_bwd(ctx, &LF, &b->frgb, &b->xin, dual ? &d->tx : NULL, &b->gfrgb, &b->tgfrgb, &b->gfrgb,
                             dual ? &b->tgfrgb : NULL, dual ? NULL : gx, NULL, 0));
        }
    }
    return SV_OK;
}

/* Ordinary backward through the mapping network from d->gcmap into grads. */
static int bwd_cmap(sv_discriminator *d, sv_params *grads)
{
    sv_ctx *ctx = d->ctx;
    const int64_t B = d->B;
    const sv_bias_act_params lin = ba_lin(), pm = ba_map();
    SV_TRY(ensure2(ctx, &d->gma, B, d->cmap));
    SV_TRY(ensure2(ctx, &d->gmb2, B, d->cmap));
    SV_TRY(ensure2(ctx, &d->gmemb, B, d->cmap));
    SV_TRY(ensure2(ctx, &d->gfeat, B, (d->F - 1) * d->tdw));
    sv_tensor *gy = &d->gcmap, *gxx = &d->gma;
    for (int i = d->nmap - 1; i >= 0; i--) {
        SV_TRY(sv_fc_bwd(ctx, i ? &d->mfc[i - 1] : &d->mnorm, P(d, d->pmw[i]), &d->mfc[i], gy,
                         sv_fc_wgain(d->cmap, 0.01f), &pm, gxx, GR(grads, d->pmw[i]), GR(grads, d->pmb[i]), 1));
        gy = gxx;
        gxx = gxx == &d->gma ? &d->gmb2 : &d->gma;
    }
    SV_TRY(sv_normalize_2nd_moment_bwd(ctx, &d->memb, gy, &d->gmemb));
    SV_TRY(sv_fc_bwd(ctx, &d->feat, P(d, d->pembw), &d->memb, &d->gmemb, sv_fc_wgain((d->F - 1) * d->tdw, 1.0f),
                     &lin, &d->gfeat, GR(grads, d->pembw), GR(grads, d->pembb), 1));
    return sv_tdiff_bwd(ctx, d->t, B, d->F, &d->gfeat, GR(grads, d->pE), 1);
}

static int check_grads(sv_discriminator *d, sv_params *grads)
{
    if (!grads)
        return SV_OK;
    if (sv_params_count(grads) != sv_params_count(d->params) || sv_params_numel(grads) != sv_params_numel(d->params))
        return sv_seterr(E(d), SV_ERR_INVALID,
                         "discriminator: gradient set does not have the parameters' layout (%zu tensors, %lld "
                         "values; expected %zu, %lld)",
                         sv_params_count(grads), (long long)sv_params_numel(grads), sv_params_count(d->params),
                         (long long)sv_params_numel(d->params));
    return SV_OK;
}

int sv_discriminator_backward(sv_discriminator *d, const sv_tensor *glogits, sv_params *grads, int accumulate,
                              sv_tensor *gx)
{
    sv_ctx *ctx = d->ctx;
    if (!d->have_fwd)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: backward without a forward");
    const int64_t B = d->B;
    if (!glogits || sv_numel(glogits) != B)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: logit gradient must have B = %lld elements",
                         (long long)B);
    SV_TRY(check_grads(d, grads));
    if (gx)
        SV_TRY(sv_check_shape(gx, "discriminator input gradient", 4, d->blk[0].xin.shape));
    if (!grads && !gx)
        return SV_OK;
    if (grads && !accumulate)
        SV_TRY(sv_tensor_fill(sv_params_flat(grads), 0.0f));
    SV_TRY(ensure2(ctx, &d->geout, B, d->nout));
    if (d->F > 1) {
        const float a = (float)(1.0 / sqrt((double)d->cmap));
        SV_TRY(sv_rowscale(ctx, &d->mfc[d->nmap - 1], glogits, a, &d->geout));
        if (grads) {
            SV_TRY(ensure2(ctx, &d->gcmap, B, d->cmap));
            SV_TRY(sv_rowscale(ctx, &d->eout, glogits, a, &d->gcmap));
        }
    } else {
        SV_TRY(sv_tensor_copy(&d->geout, glogits));
    }
    SV_TRY(bwd_core(d, 0, grads, gx));
    if (grads && d->F > 1)
        SV_TRY(bwd_cmap(d, grads));
    return SV_OK;
}

/* ---- R1 tangent pass ----------------------------------------------------------- */

/* Tangents of every activation of the last forward for input tangent d->tx. */
static int tan_fwd(sv_discriminator *d)
{
    sv_ctx *ctx = d->ctx;
    const int64_t B = d->B;
    const sv_bias_act_params lr2 = ba_lr2(d), lr1 = ba_lr1(d), pfc = ba_fc(), lin = ba_lin();
    for (int k = 0; k < d->nblk; k++) {
        dblk *b = &d->blk[k];
        const int r = b->res;
        int64_t is[4];
        blk_in_shape(d, k, B, is);
        const int64_t n = is[0];
        SV_TRY(review(k ? &d->blk[k - 1].tout : &d->tx, &b->txin, 4, is));
        const sv_tensor *txc = &b->txin;
        if (b->first) {
            SV_TRY(ensure4(ctx, &b->tfrgb, n, b->tmp, r, r));
            SV_TRY(sv_conv2d_fwd(ctx, &b->txin, P(d, b->pfw), &b->cfr, &b->tfrgb));
            SV_TRY(sv_bias_act_bwd(ctx, &b->frgb, &b->tfrgb, &lr2, &b->tfrgb, NULL, 0));
            txc = &b->tfrgb;
        }
        SV_TRY(ensure4(ctx, &b->tsk, n, b->cout, r / 2, r / 2));
        SV_TRY(sv_conv2d_fwd(ctx, txc, P(d, b->psk), &b->csk, &b->tsk));
        SV_TRY(ensure4(ctx, &b->ta0, n, b->tmp, r, r));
        SV_TRY(sv_conv2d_fwd(ctx, txc, P(d, b->p0w), &b->c0, &b->ta0));
        SV_TRY(sv_bias_act_bwd(ctx, &b->a0, &b->ta0, &lr2, &b->ta0, NULL, 0));
        SV_TRY(ensure4(ctx, &b->ta1, n, b->cout, r / 2, r / 2));
        SV_TRY(sv_conv2d_fwd(ctx, &b->ta0, P(d, b->p1w), &b->c1, &b->ta1));
        SV_TRY(sv_bias_act_bwd(ctx, &b->a1, &b->ta1, &lr1, &b->ta1, NULL, 0));
        SV_TRY(ensure4(ctx, &b->tout, n, b->cout, r / 2, r / 2));
        SV_TRY(sv_add(ctx, &b->ta1, &b->tsk, &b->tout));
    }
    const dblk *last = &d->blk[d->nblk - 1];
    SV_TRY(ensure4(ctx, &d->tmb, B, d->c4 + 1, 4, 4));
    SV_TRY(sv_mbstd_jvp(ctx, &last->out, &last->tout, d->gsize, &d->tmb));
    SV_TRY(ensure4(ctx, &d->tec, B, d->c4, 4, 4));
    SV_TRY(sv_conv2d_fwd(ctx, &d->tmb, P(d, d->pecw), &d->cec, &d->tec));
    SV_TRY(sv_bias_act_bwd(ctx, &d->ec, &d->tec, &lr2, &d->tec, NULL, 0));
    sv_tensor flat = {0};
    const int64_t fs[2] = {B, d->c4 * 16};
    SV_TRY(sv_tensor_reshape(&d->tec, &flat, 2, fs));
    int rc = ensure2(ctx, &d->tefc, B, d->c4);
    if (!rc)
        rc = sv_fc_jvp(ctx, &flat, P(d, d->pfcw), &d->efc, sv_fc_wgain(d->c4 * 16, 1.0f), &pfc, &d->tefc);
    sv_tensor_free(&flat);
    SV_TRY(rc);
    SV_TRY(ensure2(ctx, &d->teout, B, d->nout));
    return sv_fc_jvp(ctx, &d->tefc, P(d, d->poutw), &d->eout, sv_fc_wgain(d->c4, 1.0f), &lin, &d->teout);
}

/* ---- losses --------------------------------------------------------------------- */

static int tnew1(sv_ctx *ctx, sv_tensor *t, int64_t n) { return sv_tensor_newv(ctx, t, 1, n); }

/* loss (+)= sign-adjusted mean softplus(s·l) over the B logits; glog =
 * ∂/∂l of that mean (s = ±1). */
static int softplus_mean(sv_ctx *ctx, const sv_tensor *l, float s, int64_t B, sv_tensor *loss, int acc,
                         sv_tensor *glog)
{
    sv_tensor n = {0}, sp = {0}, gy = {0};
    int rc = tnew1(ctx, &n, B);
    if (!rc)
        rc = tnew1(ctx, &sp, B);
    if (!rc)
        rc = tnew1(ctx, &gy, B);
    if (!rc)
        rc = sv_axpby(ctx, s, l, 0.0f, &n);
    if (!rc && loss)
        rc = sv_softplus_fwd(ctx, &n, &sp);
    if (!rc && loss)
        rc = sv_sum(ctx, &sp, (float)(1.0 / (double)B), loss, acc);
    /* ∂/∂l mean softplus(s·l) = s·sigmoid(s·l)/B */
    if (!rc)
        rc = sv_tensor_fill(&gy, (float)(s / (double)B));
    if (!rc)
        rc = sv_softplus_bwd(ctx, &n, &gy, glog);
    sv_tensor_free(&n);
    sv_tensor_free(&sp);
    sv_tensor_free(&gy);
    return rc;
}

static int check_loss_out(sv_discriminator *d, const sv_tensor *loss)
{
    if (loss && sv_numel(loss) != 1)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: the loss tensor must have one element");
    return SV_OK;
}

static int64_t clips_of(const sv_discriminator *d, const sv_tensor *x, int64_t F)
{
    (void)d;
    return x && x->ndim == 4 && F > 0 ? x->shape[0] / F : 0;
}

int sv_discriminator_loss_gen(sv_discriminator *d, const sv_tensor *fake, const double *t, int64_t F,
                              sv_tensor *gfake, sv_tensor *loss, sv_tensor *logits)
{
    sv_ctx *ctx = d->ctx;
    SV_TRY(check_loss_out(d, loss));
    const int64_t B = clips_of(d, fake, F);
    if (B < 1)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: fake frames must be [B·F, 3, R, R]");
    sv_tensor lg = {0}, gl = {0};
    int rc = tnew1(ctx, &lg, B);
    if (!rc)
        rc = tnew1(ctx, &gl, B);
    if (!rc)
        rc = sv_discriminator_forward(d, fake, t, F, &lg, NULL, NULL);
    if (!rc)
        rc = softplus_mean(ctx, &lg, -1.0f, B, loss, 0, &gl);
    if (!rc && gfake)
        rc = sv_discriminator_backward(d, &gl, NULL, 0, gfake);
    if (!rc && logits)
        rc = sv_tensor_copy(logits, &lg);
    sv_tensor_free(&lg);
    sv_tensor_free(&gl);
    return rc;
}

int sv_discriminator_loss_main(sv_discriminator *d, const sv_tensor *fake, const double *t_fake,
                               const sv_tensor *real, const double *t_real, int64_t F, sv_params *grads,
                               int accumulate, sv_tensor *loss, sv_tensor *logits_fake, sv_tensor *logits_real)
{
    sv_ctx *ctx = d->ctx;
    SV_TRY(check_loss_out(d, loss));
    SV_TRY(check_grads(d, grads));
    const int64_t B = clips_of(d, fake, F);
    if (B < 1 || clips_of(d, real, F) != B)
        return sv_seterr(E(d), SV_ERR_INVALID,
                         "discriminator: fake and real frames must both be [B·F, 3, R, R] with the same B");
    sv_tensor lg = {0}, gl = {0};
    int rc = tnew1(ctx, &lg, B);
    if (!rc)
        rc = tnew1(ctx, &gl, B);
    /* fakes: mean softplus(D(fake)) */
    if (!rc)
        rc = sv_discriminator_forward(d, fake, t_fake, F, &lg, NULL, NULL);
    if (!rc)
        rc = softplus_mean(ctx, &lg, 1.0f, B, loss, 0, &gl);
    if (!rc && grads)
        rc = sv_discriminator_backward(d, &gl, grads, accumulate, NULL);
    if (!rc && logits_fake)
        rc = sv_tensor_copy(logits_fake, &lg);
    /* reals: mean softplus(−D(real)) */
    if (!rc)
        rc = sv_discriminator_forward(d, real, t_real, F, &lg, NULL, NULL);
    if (!rc)
        rc = softplus_mean(ctx, &lg, -1.0f, B, loss, 1, &gl);
    if (!rc && grads)
        rc = sv_discriminator_backward(d, &gl, grads, 1, NULL);
    if (!rc && logits_real)
        rc = sv_tensor_copy(logits_real, &lg);
    sv_tensor_free(&lg);
    sv_tensor_free(&gl);
    return rc;
}

/* R1 of D(aug(x)) w.r.t. x (aug NULL: the identity).  With y = A·x + c:
 * g_y = ∂ΣD/∂y at y, g = Aᵀ·g_y, and the tangent for the exact parameter
 * gradient is ẏ = γ/(B·F) · A·g (see sv_discriminator_r1_aug). */
static int r1_impl(sv_discriminator *d, const sv_tensor *real, const double *t, int64_t F, float gamma,
                   const sv_augment_plan *aug, sv_tensor *g, sv_tensor *penalty, sv_tensor *loss, sv_tensor *logits,
                   sv_params *grads, int accumulate)
{
    sv_ctx *ctx = d->ctx;
    SV_TRY(check_loss_out(d, loss));
    SV_TRY(check_grads(d, grads));
    if (!isfinite(gamma))
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: R1 gamma must be finite");
    const int64_t B = clips_of(d, real, F);
    if (B < 1)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: real frames must be [B·F, 3, R, R]");
    const int64_t N = B * F;
    if (penalty && sv_numel(penalty) != N)
        return sv_seterr(E(d), SV_ERR_INVALID, "discriminator: the R1 penalty tensor must have B·F = %lld elements",
                         (long long)N);
    if (aug && (sv_augment_plan_clips(aug) != B || sv_augment_plan_frames(aug) != F))
        return sv_seterr(E(d), SV_ERR_INVALID,
                         "discriminator: the augmentation plan is for %lld clips of %lld frames, not %lld of %lld",
                         (long long)sv_augment_plan_clips(aug), (long long)sv_augment_plan_frames(aug),
                         (long long)B, (long long)F);
    if (g && real->ndim == 4)
        SV_TRY(sv_check_shape(g, "R1 input gradient", 4, real->shape));
    sv_tensor lg = {0}, ones = {0}, gb = {0}, pen = {0}, ya = {0}, gya = {0};
    int rc = tnew1(ctx, &lg, B);
    if (!rc)
        rc = tnew1(ctx, &ones, B);
    if (!rc)
        rc = sv_tensor_fill(&ones, 1.0f);
    /* D sees y = aug(x); the forward references y, so it lives to the end */
    const sv_tensor *din = real;
    if (!rc && aug) {
        rc = sv_tensor_new(ctx, &ya, 4, real->shape);
        if (!rc)
            rc = sv_augment_fwd(ctx, aug, real, &ya);
        din = &ya;
    }
    if (!rc)
        rc = sv_discriminator_forward(d, din, t, F, &lg, NULL, NULL);
    /* g = ∂ΣD/∂x (= Aᵀ·∂ΣD/∂y with the augmentation) */
    sv_tensor *gg = g;
    if (!rc && !gg) {
        rc = sv_tensor_new(ctx, &gb, 4, real->shape);
        gg = &gb;
    }
    if (!rc && aug) {
        rc = sv_tensor_new(ctx, &gya, 4, real->shape);
        if (!rc)
            rc = sv_discriminator_backward(d, &ones, NULL, 0, &gya);
        if (!rc)
            rc = sv_augment_bwd(ctx, aug, &gya, gg);
    } else if (!rc) {
        rc = sv_discriminator_backward(d, &ones, NULL, 0, gg);
    }
    sv_tensor *pp = penalty;
    if (!rc && !pp) {
        rc = tnew1(ctx, &pen, N);
        pp = &pen;
    }
    if (!rc)
        rc = sv_rowsumsq(ctx, gg, 1.0f, pp, 0);
    if (!rc && loss)
        rc = sv_sum(ctx, pp, (float)((double)gamma / (2.0 * (double)N)), loss, 0);
    if (!rc && logits)
        rc = sv_tensor_copy(logits, &lg);
    if (!rc && grads) {
        /* exact ∂L_R1/∂θ: tangent ẋ = γ·g/(B·F) at D's input (through the
           augmentation: ẏ = γ/(B·F)·A·g), dual reverse pass */
        rc = ensure(ctx, &d->tx, 4, real->shape);
        if (!rc && aug) {
            rc = sv_augment_jvp(ctx, aug, gg, &gya);
            if (!rc)
                rc = sv_axpby(ctx, (float)((double)gamma / (double)N), &gya, 0.0f, &d->tx);
        } else if (!rc) {
            rc = sv_axpby(ctx, (float)((double)gamma / (double)N), gg, 0.0f, &d->tx);
        }
        if (!rc)
            rc = tan_fwd(d);
        if (!rc && !accumulate)
            rc = sv_tensor_fill(sv_params_flat(grads), 0.0f);
        if (!rc)
            rc = ensure2(ctx, &d->geout, B, d->nout);
        if (!rc)
            rc = ensure2(ctx, &d->tgeout, B, d->nout);
        if (!rc)
            rc = sv_tensor_fill(&d->geout, 0.0f);
        if (!rc && d->F > 1) {
            const float a = (float)(1.0 / sqrt((double)d->cmap));
            rc = sv_rowscale(ctx, &d->mfc[d->nmap - 1], &ones, a, &d->tgeout);
            if (!rc)
                rc = ensure2(ctx, &d->gcmap, B, d->cmap);
            if (!rc)
                rc = sv_rowscale(ctx, &d->teout, &ones, a, &d->gcmap);
        } else if (!rc) {
            rc = sv_tensor_copy(&d->tgeout, &ones);
        }
        if (!rc)
            rc = bwd_core(d, 1, grads, NULL);
        if (!rc && d->F > 1)
            rc = bwd_cmap(d, grads);
    }
    sv_tensor_free(&lg);
    sv_tensor_free(&ones);
    sv_tensor_free(&gb);
    sv_tensor_free(&pen);
    sv_tensor_free(&gya);
    sv_tensor_free(&ya);
    return rc;
}

int sv_discriminator_r1(sv_discriminator *d, const sv_tensor *real, const double *t, int64_t F, float gamma,
                        sv_tensor *g, sv_tensor *penalty, sv_tensor *loss, sv_tensor *logits, sv_params *grads,
                        int accumulate)
{
    return r1_impl(d, real, t, F, gamma, NULL, g, penalty, loss, logits, grads, accumulate);
}

int sv_discriminator_r1_aug(sv_discriminator *d, const sv_tensor *real, const double *t, int64_t F, float gamma,
                            const sv_augment_plan *aug, sv_tensor *g, sv_tensor *penalty, sv_tensor *loss,
                            sv_tensor *logits, sv_params *grads, int accumulate)
{
    return r1_impl(d, real, t, F, gamma, aug, g, penalty, loss, logits, grads, accumulate);
}
