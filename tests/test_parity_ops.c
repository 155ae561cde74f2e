/* Per-module parity of the op library with the official StyleGAN-V networks.
 *
 * Each case composes the device ops exactly as one official module does
 * (spec §1–§3), feeds it the bundle's recorded inputs (in.*, act.*) and
 * weights (G.*, D.*, stored before the EqLR gain), and compares with the
 * recorded output activation: relative L2 ≤ 1e-4, no NaN/Inf.
 *
 * Bundle: $SVGAN_SHARED_DIR/reference/tiny32-k3/bundle.safetensors (the
 * official modules built on CPU in float32).  Every size comes from the
 * bundle's config metadata and tensor shapes; nothing is specific to this
 * bundle.  When the bundle is absent each case prints "bundle absent:
 * skipped" and passes without checking.
 *
 * Cases
 *   g_mapping    normalize(z) → fc0 … fc{n−1} (λ 0.01, lrelu √2); w broadcast
 *   g_motion     conv1d (valid, λ 0.01) + lrelu (gain 1, bias gain 0.01), ×n
 *   g_timeenc    motion gather → periods/phase/aligners FCs → v(t); buffers
 *   g_synthesis  b4 input (const ⊕ v), every block's affines, modconvs, ToRGB,
 *                RGB skip sum
 *   d_blocks     fromrgb, every ResNet block (frame concat before the
 *                concat-res block), epilogue (mbstd, conv, fc, out)
 *   d_timecond   time-difference features, D mapping (embed, normalize,
 *                fc0…), projection logit = Σ out·cmap/√cmap_dim */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "testutil.h"

#define TOL 1e-4

/* ---- bundle access --------------------------------------------------- */

typedef struct {
    sv_st_file *f;
    cJSON *cfg;
    sv_ctx *ctx;
} bundle;

/* Opens the bundle and the device; returns 0 (after printing the skip line)
 * when the bundle is absent. */
static int bundle_open(bundle *b, const char *casename)
{
    memset(b, 0, sizeof *b);
    const char *dir = getenv("SVGAN_SHARED_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", dir && *dir ? dir : "../shared");
    sv_err e;
    memset(&e, 0, sizeof e);
    if (sv_st_open(path, &b->f, &e)) {
        fprintf(stderr, "%s: bundle absent: skipped (%s)\n", casename, path);
        return 0;
    }
    const char *cs = sv_st_metadata(b->f, "config");
    ck_assert_msg(cs != NULL, "%s: no config metadata", path);
    b->cfg = cJSON_Parse(cs);
    ck_assert_msg(b->cfg != NULL, "%s: config metadata is not JSON", path);
    b->ctx = tu_ctx();
    fprintf(stderr, "%s: bundle %s\n", casename, path);
    return 1;
}

static void bundle_close(bundle *b)
{
    if (b->ctx)
        sv_ctx_destroy(b->ctx);
    cJSON_Delete(b->cfg);
    sv_st_close(b->f);
    memset(b, 0, sizeof *b);
}

static double cfg_num(const bundle *b, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->cfg, key);
    ck_assert_msg(cJSON_IsNumber(v), "config: '%s' missing or not a number", key);
    return v->valuedouble;
}

static int cfg_int(const bundle *b, const char *key) { return (int)cfg_num(b, key); }

/* conv_clamp: null → no clamp (−1) */
static float cfg_clamp(const bundle *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(b->cfg, "conv_clamp");
    return cJSON_IsNumber(v) ? (float)v->valuedouble : -1.0f;
}

static const char *fmt(char *buf, size_t n, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, n, f, ap);
    va_end(ap);
    return buf;
}

static const sv_st_tensor *need(const bundle *b, const char *name)
{
    const sv_st_tensor *t = sv_st_find(b->f, name);
    ck_assert_msg(t != NULL, "bundle has no tensor '%s'", name);
    return t;
}

static int has(const bundle *b, const char *name) { return sv_st_find(b->f, name) != NULL; }

/* dimension d of a bundle tensor */
static int64_t dim(const bundle *b, const char *name, int d)
{
    const sv_st_tensor *t = need(b, name);
    ck_assert_msg(d < t->ndim, "'%s' has %d dims", name, t->ndim);
    return t->shape[d];
}

/* Upload a bundle tensor with its own shape. */
static sv_tensor up(const bundle *b, const char *name)
{
    sv_tensor t;
    memset(&t, 0, sizeof t);
    need(b, name);
    TU_OK(b->ctx, sv_st_upload(b->ctx, b->f, name, &t));
    fprintf(stderr, "    use %s\n", name);
    return t;
}

/* Bundle tensor as doubles (caller frees). */
static double *host(const bundle *b, const char *name, size_t *n)
{
    const sv_st_tensor *t = need(b, name);
    float *fl = malloc((size_t)t->numel * sizeof *fl);
    double *d = malloc((size_t)t->numel * sizeof *d);
    ck_assert(fl && d);
    sv_err e;
    memset(&e, 0, sizeof e);
    int rc = sv_st_read_f32(b->f, name, fl, (size_t)t->numel, &e);
    ck_assert_msg(rc == 0, "%s: %s", name, e.msg);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = fl[i];
    free(fl);
    if (n)
        *n = (size_t)t->numel;
    return d;
}

static sv_tensor mk(const bundle *b, int ndim, const int64_t *shape)
{
    sv_tensor t;
    memset(&t, 0, sizeof t);
    TU_OK(b->ctx, sv_tensor_new(b->ctx, &t, ndim, shape));
    return t;
}

static sv_tensor mk2(const bundle *b, int64_t a, int64_t c)
{
    int64_t s[2] = {a, c};
    return mk(b, 2, s);
}

static sv_tensor mk4(const bundle *b, int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t s[4] = {n, c, h, w};
    return mk(b, 4, s);
}

/* rel-L2 of got vs want (n each), printed; asserts ≤ TOL and finiteness. */
static double check_host(const char *what, const char *ref, const double *got, const double *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(isfinite(got[i]), "%s: non-finite value at %zu", what, i);
    double e = tu_rel_l2(got, want, n);
    fprintf(stderr, "  parity %-52s vs %-24s rel-L2 %.3g\n", ref, what, e);
    ck_assert_msg(e <= TOL, "%s vs %s: rel-L2 %g > %g", what, ref, e, TOL);
    return e;
}

/* Device tensor vs the whole bundle tensor `ref` (same element count). */
static double check(const bundle *b, const char *what, const sv_tensor *t, const char *ref)
{
    size_t n;
    double *want = host(b, ref, &n);
    ck_assert_msg((size_t)sv_numel(t) == n, "%s: %lld elements, %s has %zu", what, (long long)sv_numel(t), ref, n);
    double *got = tu_download(t);
    double e = check_host(what, ref, got, want, n);
    free(got);
    free(want);
    return e;
}

/* Per-video [B, C] tensor vs a per-frame [B·F, C] bundle tensor. */
static double check_per_frame(const bundle *b, const char *what, const sv_tensor *t, const char *ref, int64_t F)
{
    size_t n;
    double *want = host(b, ref, &n);
    int64_t B = t->shape[0], C = t->shape[1];
    ck_assert_msg((int64_t)n == B * F * C, "%s: %s has %zu elements, expected %lld", what, ref, n,
                  (long long)(B * F * C));
    double *got = tu_download(t), *rep = malloc(n * sizeof *rep);
    for (int64_t i = 0; i < B * F; i++)
        memcpy(rep + i * C, got + (i / F) * C, (size_t)C * sizeof *rep);
    double e = check_host(what, ref, rep, want, n);
    free(got);
    free(rep);
    free(want);
    return e;
}

static sv_bias_act_params ba(sv_act act, float gain, float clampv, float bias_gain)
{
    sv_bias_act_params p = sv_bias_act_default(act);
    p.gain = gain;
    p.clamp = clampv;
    p.bias_gain = bias_gain;
    return p;
}

static void freev(int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        sv_tensor_free(va_arg(ap, sv_tensor *));
    va_end(ap);
}

/* Number of consecutive layers fmt(i) (i = 0, 1, …) present in the bundle. */
static int count_layers(const bundle *b, const char *pattern)
{
    char nm[256];
    int n = 0;
    while (has(b, fmt(nm, sizeof nm, pattern, n)))
        n++;
    return n;
}

/* ---- 1. G mapping (§2.2) --------------------------------------------- */

START_TEST(t_g_mapping)
{
    bundle b;
    if (!bundle_open(&b, "G mapping"))
        return;
    sv_ctx *ctx = b.ctx;
    const int64_t B = dim(&b, "in.z", 0), zd = dim(&b, "in.z", 1);
    const int nl = count_layers(&b, "G.mapping.fc%d.weight");
    ck_assert_int_ge(nl, 1);
    char nm[256], nb[256], na[256];
    sv_tensor z = up(&b, "in.z"), x = mk2(&b, B, zd);
    TU_OK(ctx, sv_normalize_2nd_moment_fwd(ctx, &z, &x));
    sv_bias_act_params p = ba(SV_ACT_LRELU, (float)sqrt(2.0), -1.0f, 0.01f);
    for (int i = 0; i < nl; i++) {
        sv_tensor W = up(&b, fmt(nm, sizeof nm, "G.mapping.fc%d.weight", i));
        sv_tensor bias = up(&b, fmt(nb, sizeof nb, "G.mapping.fc%d.bias", i));
        sv_tensor y = mk2(&b, B, W.shape[0]);
        TU_OK(ctx, sv_fc_fwd(ctx, &x, &W, &bias, sv_fc_wgain(W.shape[1], 0.01f), &p, &y));
        check(&b, "fc(λ=0.01, lrelu √2)", &y, fmt(na, sizeof na, "act.G.mapping.fc%d", i));
        freev(3, &x, &W, &bias);
        x = y;
    }
    /* act.G.mapping [B, num_ws, w_dim]: w broadcast (ψ = 1: no truncation) */
    size_t n;
    double *want = host(&b, "act.G.mapping", &n), *w = tu_download(&x);
    const int64_t nws = dim(&b, "act.G.mapping", 1), wd = dim(&b, "act.G.mapping", 2);
    ck_assert_int_eq(wd, x.shape[1]);
    ck_assert_int_eq(nws, 2 * (int64_t)lround(log2(cfg_num(&b, "resolution"))) - 2);
    double *rep = malloc(n * sizeof *rep);
    for (int64_t i = 0; i < B * nws; i++)
        memcpy(rep + i * wd, w + (i / nws) * wd, (size_t)wd * sizeof *rep);
    check_host("w broadcast to num_ws", "act.G.mapping", rep, want, n);
    free(rep);
    free(w);
    free(want);
    freev(2, &z, &x);
    bundle_close(&b);
}
END_TEST

/* ---- 2. motion encoder conv1d stack (§2.3) ---------------------------- */

START_TEST(t_g_motion)
{
    bundle b;
    if (!bundle_open(&b, "G motion encoder"))
        return;
    sv_ctx *ctx = b.ctx;
    char nm[256], nb[256], na[256];
    const int nl = count_layers(&b, "G.synthesis.motion_encoder.conv.%d.weight");
    ck_assert_int_ge(nl, 1);
    /* tokens [B, L, C] → [B, C, L] */
    sv_tensor mz = up(&b, "in.motion_z");
    const int64_t B = mz.shape[0], L = mz.shape[1], C = mz.shape[2];
    if (has(&b, "act.G.synthesis.motion_encoder.motion_z"))
        check(&b, "in.motion_z (as recorded)", &mz, "act.G.synthesis.motion_encoder.motion_z");
    int64_t s3[3] = {B, C, L};
    sv_tensor x = mk(&b, 3, s3);
    TU_OK(ctx, sv_transpose12(ctx, &mz, &x));
    /* each layer: conv1d (valid, λ = 0.01) + lrelu 0.2, gain 1, bias gain 0.01 */
    sv_bias_act_params p = ba(SV_ACT_LRELU, 1.0f, -1.0f, 0.01f);
    for (int i = 0; i < nl; i++) {
        sv_tensor W = up(&b, fmt(nm, sizeof nm, "G.synthesis.motion_encoder.conv.%d.weight", i));
        sv_tensor bias = up(&b, fmt(nb, sizeof nb, "G.synthesis.motion_encoder.conv.%d.bias", i));
        const int64_t Co = W.shape[0], Ci = W.shape[1], K = W.shape[2];
        int64_t ys[3] = {B, Co, x.shape[2] - K + 1};
        sv_tensor y = mk(&b, 3, ys);
        TU_OK(ctx, sv_conv1d_fwd(ctx, &x, &W, sv_conv1d_wgain(Ci, K, 0.01f), &y));
        TU_OK(ctx, sv_bias_act_fwd(ctx, &y, &bias, &p, &y));
        /* input of this layer as recorded → isolates the layer */
        check(&b, "conv1d(λ=0.01)+lrelu(gain 1)", &y,
              fmt(na, sizeof na, "act.G.synthesis.motion_encoder.conv.%d", i));
        freev(3, &x, &W, &bias);
        x = y;
    }
    check(&b, "motion conv stack", &x, "act.G.synthesis.motion_encoder.conv");
    freev(2, &mz, &x);
    bundle_close(&b);
}
END_TEST

/* ---- 3. time encoder (§2.4) -------------------------------------------- */

static double *times(const bundle *b, int64_t *B, int64_t *F)
{
    size_t n;
    double *t = host(b, "in.t", &n);
    *B = dim(b, "in.t", 0);
    *F = dim(b, "in.t", 1);
    ck_assert_int_eq(*F, cfg_int(b, "frames_per_clip"));
    return t;
}

START_TEST(t_g_timeenc)
{
    bundle b;
    if (!bundle_open(&b, "G time encoder"))
        return;
    sv_ctx *ctx = b.ctx;
    const char *te = "G.synthesis.motion_encoder.time_encoder";
    const char *ate = "act.G.synthesis.motion_encoder.time_encoder";
    char nm[256], na[256];
    int64_t B, F;
    double *t = times(&b, &B, &F);
    const double d = cfg_num(&b, "motion_z_distance");
    /* the motion codes as recorded [B, C, Lu] */
    sv_tensor u = up(&b, "act.G.synthesis.motion_encoder.conv");
    const int64_t C = u.shape[1], NF = B * F;
    ck_assert_int_eq(u.shape[0], B);
    sv_tensor uL = mk2(&b, NF, C), uR = mk2(&b, NF, C);
    TU_OK(ctx, sv_motion_gather(ctx, &u, t, F, d, &uL, &uR));
    /* bias-free EqLR FCs, λ = 1 */
    sv_bias_act_params lin = ba(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
    sv_tensor Wper = up(&b, fmt(nm, sizeof nm, "%s.periods_predictor.weight", te));
    sv_tensor Wph = up(&b, fmt(nm, sizeof nm, "%s.phase_predictor.weight", te));
    sv_tensor Wal = up(&b, fmt(nm, sizeof nm, "%s.aligners_predictor.weight", te));
    const int64_t D = Wper.shape[0];
    ck_assert_int_eq(D, cfg_int(&b, "time_enc_dim"));
    const float wg = sv_fc_wgain(C, 1.0f);
    sv_tensor pr = mk2(&b, NF, D), ph = mk2(&b, NF, D), AL = mk2(&b, NF, 2 * D), AR = mk2(&b, NF, 2 * D);
    TU_OK(ctx, sv_fc_fwd(ctx, &uL, &Wper, NULL, wg, &lin, &pr));
    TU_OK(ctx, sv_fc_fwd(ctx, &uL, &Wph, NULL, wg, &lin, &ph));
    TU_OK(ctx, sv_fc_fwd(ctx, &uL, &Wal, NULL, wg, &lin, &AL));
    TU_OK(ctx, sv_fc_fwd(ctx, &uR, &Wal, NULL, wg, &lin, &AR));
    check(&b, "fc(gather u_L) pre-tanh", &pr, fmt(na, sizeof na, "%s.periods_predictor", ate));
    check(&b, "fc(gather u_L)", &ph, fmt(na, sizeof na, "%s.phase_predictor", ate));
    {
        /* the module is called on u_L then u_R; the recording keeps one */
        size_t n;
        double *want = host(&b, fmt(na, sizeof na, "%s.aligners_predictor", ate), &n);
        double *gl = tu_download(&AL), *gr = tu_download(&AR);
        double eL = tu_rel_l2(gl, want, n), eR = tu_rel_l2(gr, want, n);
        fprintf(stderr, "    aligners act: rel-L2 vs A(u_L) %.3g, vs A(u_R) %.3g\n", eL, eR);
        check_host(eR <= eL ? "fc(gather u_R)" : "fc(gather u_L)", na, eR <= eL ? gr : gl, want, n);
        free(gl);
        free(gr);
        free(want);
    }
    /* buffers: the bundle's, and sv_timeenc_freqs bit-exact against them */
    sv_tensor fr = up(&b, fmt(nm, sizeof nm, "%s.freqs", te)), ps = up(&b, fmt(na, sizeof na, "%s.phase_scales", te));
    {
        float *f1 = malloc((size_t)D * sizeof *f1), *f2 = malloc((size_t)D * sizeof *f2);
        float *b1 = malloc((size_t)D * sizeof *b1), *b2 = malloc((size_t)D * sizeof *b2);
        ck_assert_int_eq(sv_timeenc_freqs((int)D, cfg_num(&b, "min_period_len"), cfg_num(&b, "max_period_len"), f1, f2),
                         0);
        TU_OK(ctx, sv_tensor_read(&fr, b1, (size_t)D));
        TU_OK(ctx, sv_tensor_read(&ps, b2, (size_t)D));
        int nbad = 0;
        for (int64_t k = 0; k < D; k++)
            nbad += (f1[k] != b1[k]) + (f2[k] != b2[k]);
        fprintf(stderr, "  parity %-52s vs %-24s %d of %lld values differ\n", "time_encoder.freqs/phase_scales",
                "sv_timeenc_freqs", nbad, (long long)(2 * D));
        ck_assert_msg(nbad == 0, "sv_timeenc_freqs differs from the bundle buffers in %d values", nbad);
        free(f1);
        free(f2);
        free(b1);
        free(b2);
    }
    sv_tensor tt = up(&b, "in.t"), v = mk2(&b, NF, 2 * D);
    TU_OK(ctx, sv_timeenc_fwd(ctx, &tt, &pr, &ph, &AL, &AR, &fr, &ps, (float)d, &v));
    check(&b, "v(t) (timeenc_fwd)", &v, ate);
    check(&b, "v(t) (timeenc_fwd)", &v, "act.G.synthesis.motion_encoder.motion_v");
    freev(13, &u, &uL, &uR, &Wper, &Wph, &Wal, &pr, &ph, &AL, &AR, &fr, &ps, &tt);
    sv_tensor_free(&v);
    free(t);
    bundle_close(&b);
}
END_TEST

/* ---- 4. synthesis (§1.5, §2.4 input, §2.5) --------------------------- */

typedef struct {
    bundle *b;
    double *ws; /* act.G.mapping [B, num_ws, w_dim] */
    int64_t B, F, nws, wd;
    float clampv;
} synth;

/* w for ws index idx as a device [B, w_dim] tensor */
static sv_tensor synth_w(const synth *S, int idx)
{
    ck_assert_int_lt(idx, S->nws);
    double *w = malloc((size_t)(S->B * S->wd) * sizeof *w);
    for (int64_t n = 0; n < S->B; n++)
        memcpy(w + n * S->wd, S->ws + (n * S->nws + idx) * S->wd, (size_t)S->wd * sizeof *w);
    int64_t sh[2] = {S->B, S->wd};
    sv_tensor t = tu_upload(S->b->ctx, w, 2, sh);
    free(w);
    return t;
}

/* One SynthesisLayer (torgb = 0) or ToRGBLayer (torgb = 1) of block blk:
 * s = affine(w) (λ 1, bias gain 1, linear), ToRGB s/√Cin; modconv; bias_act. */
static sv_tensor synth_layer(const synth *S, int r, const char *layer, const sv_tensor *x, int widx, int upf,
                             int torgb)
{
    const bundle *b = S->b;
    sv_ctx *ctx = b->ctx;
    char nm[256], na[256];
    sv_tensor w = synth_w(S, widx);
    sv_tensor A = up(b, fmt(nm, sizeof nm, "G.synthesis.b%d.%s.affine.weight", r, layer));
    sv_tensor Ab = up(b, fmt(nm, sizeof nm, "G.synthesis.b%d.%s.affine.bias", r, layer));
    const int64_t Cin = A.shape[0];
    sv_tensor s = mk2(b, S->B, Cin);
    sv_bias_act_params lin = ba(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
    TU_OK(ctx, sv_fc_fwd(ctx, &w, &A, &Ab, sv_fc_wgain(S->wd, 1.0f), &lin, &s));
    check_per_frame(b, "affine fc (per video)", &s, fmt(na, sizeof na, "act.G.synthesis.b%d.%s.affine", r, layer),
                    S->F);
    if (torgb)
        TU_OK(ctx, sv_scale(ctx, &s, (float)(1.0 / sqrt((double)Cin))));
    sv_tensor W = up(b, fmt(nm, sizeof nm, "G.synthesis.b%d.%s.weight", r, layer));
    sv_tensor bias = up(b, fmt(nm, sizeof nm, "G.synthesis.b%d.%s.bias", r, layer));
    sv_modconv_params mp = {(int)W.shape[2], upf, !torgb, (int)S->F};
    int Ho, Wo;
    ck_assert_int_eq(sv_modconv_out_size(&mp, (int)x->shape[2], (int)x->shape[3], &Ho, &Wo), 0);
    sv_tensor y = mk4(b, x->shape[0], W.shape[0], Ho, Wo);
    TU_OK(ctx, sv_modconv_fwd(ctx, x, &W, &s, &mp, &y, NULL));
    sv_bias_act_params p = torgb ? ba(SV_ACT_LINEAR, 1.0f, S->clampv, 1.0f)
                                 : ba(SV_ACT_LRELU, (float)sqrt(2.0), S->clampv, 1.0f);
    TU_OK(ctx, sv_bias_act_fwd(ctx, &y, &bias, &p, &y));
    check(b, torgb ? "modconv(no demod)+bias" : (upf == 2 ? "modconv up2+lrelu √2" : "modconv+lrelu √2"), &y,
          fmt(na, sizeof na, "act.G.synthesis.b%d.%s", r, layer));
    freev(6, &w, &A, &Ab, &s, &W, &bias);
    return y;
}

START_TEST(t_g_synthesis)
{
    bundle b;
    if (!bundle_open(&b, "G synthesis"))
        return;
    sv_ctx *ctx = b.ctx;
    char na[256], nb[256];
    synth S;
    memset(&S, 0, sizeof S);
    S.b = &b;
    S.ws = host(&b, "act.G.mapping", NULL);
    S.B = dim(&b, "act.G.mapping", 0);
    S.nws = dim(&b, "act.G.mapping", 1);
    S.wd = dim(&b, "act.G.mapping", 2);
    S.F = cfg_int(&b, "frames_per_clip");
    S.clampv = cfg_clamp(&b);
    const int R = cfg_int(&b, "resolution");
    const int64_t NF = S.B * S.F;

    /* b4 input: concat(const broadcast over frames, v broadcast over 4×4) */
    sv_tensor cst = up(&b, "G.synthesis.b4.input.input.const");
    sv_tensor v = up(&b, "act.G.synthesis.motion_encoder.motion_v");
    const int64_t Cc = cst.shape[1], Hc = cst.shape[2], Dv = v.shape[1];
    ck_assert_int_eq(v.shape[0], NF);
    sv_tensor cb = mk4(&b, NF, Cc, Hc, Hc), vb = mk4(&b, NF, Dv, Hc, Hc), in4 = mk4(&b, NF, Cc + Dv, Hc, Hc);
    TU_OK(ctx, sv_repeat_rows(ctx, &cst, NF, &cb));
    TU_OK(ctx, sv_broadcast_spatial(ctx, &v, &vb));
    const sv_tensor *parts[2] = {&cb, &vb};
    TU_OK(ctx, sv_concat1(ctx, 2, parts, &in4));
    check(&b, "concat1(const, broadcast(v))", &in4, "act.G.synthesis.b4.input");

    sv_upfirdn2d_params up2 = sv_upfirdn2d_upsample2();
    sv_tensor img;
    memset(&img, 0, sizeof img);
    for (int r = 4; r <= R; r *= 2) {
        const int l2 = (int)lround(log2(r)), wi = r == 4 ? 0 : 2 * l2 - 5;
        sv_tensor x1, x, y;
        if (r == 4) {
            x1 = synth_layer(&S, r, "conv1", &in4, wi, 1, 0);
        } else {
            /* conv0 from the previous block's recorded features, conv1 from
             * the recorded conv0 (each layer isolated) */
            x = up(&b, fmt(na, sizeof na, "act.G.synthesis.b%d.0", r / 2));
            y = synth_layer(&S, r, "conv0", &x, wi, 2, 0);
            sv_tensor_free(&y);
            sv_tensor_free(&x);
            x = up(&b, fmt(na, sizeof na, "act.G.synthesis.b%d.conv0", r));
            x1 = synth_layer(&S, r, "conv1", &x, wi + 1, 1, 0);
            sv_tensor_free(&x);
        }
        check(&b, "block features", &x1, fmt(na, sizeof na, "act.G.synthesis.b%d.0", r));
        sv_tensor_free(&x1);
        x = up(&b, fmt(na, sizeof na, "act.G.synthesis.b%d.conv1", r));
        sv_tensor rgb = synth_layer(&S, r, "torgb", &x, r == 4 ? 1 : wi + 2, 1, 1);
        sv_tensor_free(&x);
        sv_tensor_free(&img);
        if (r == 4) {
            img = rgb;
        } else {
            /* img = upsample2(previous img) + torgb */
            sv_tensor prev = up(&b, fmt(na, sizeof na, "act.G.synthesis.b%d.1", r / 2));
            img = mk4(&b, NF, prev.shape[1], rgb.shape[2], rgb.shape[3]);
            ck_assert_int_eq(sv_upfirdn2d_out_size((int)prev.shape[2], &up2), (int)rgb.shape[2]);
            TU_OK(ctx, sv_upfirdn2d_fwd(ctx, &prev, &up2, &img));
            TU_OK(ctx, sv_add(ctx, &img, &rgb, &img));
            freev(2, &prev, &rgb);
        }
        check(&b, r == 4 ? "torgb" : "upsample2(img)+torgb", &img, fmt(nb, sizeof nb, "act.G.synthesis.b%d.1", r));
    }
    check(&b, "last block img", &img, "act.G.synthesis");
    check(&b, "last block img", &img, "out.frames");
    freev(6, &cst, &v, &cb, &vb, &in4, &img);
    free(S.ws);
    bundle_close(&b);
}
END_TEST

/* ---- 5. D blocks and epilogue (§3.1, §3.2, §3.4) ------------------------ */

static void conv_bias_act(const bundle *b, const sv_tensor *x, const char *wname, const char *bname, int k, int down,
                          const sv_bias_act_params *p, const char *ref, const char *what, sv_tensor *out)
{
    sv_ctx *ctx = b->ctx;
    sv_tensor W = up(b, wname), bias;
    memset(&bias, 0, sizeof bias);
    if (bname)
        bias = up(b, bname);
    const int64_t Cin = W.shape[1];
    ck_assert_int_eq(W.shape[2], k);
    sv_conv2d_params cp = {k, 1, down, sv_conv2d_wgain(Cin, k)};
    int Ho, Wo;
    ck_assert_int_eq(sv_conv2d_out_size(&cp, (int)x->shape[2], (int)x->shape[3], &Ho, &Wo), 0);
    sv_tensor y = mk4(b, x->shape[0], W.shape[0], Ho, Wo);
    TU_OK(ctx, sv_conv2d_fwd(ctx, x, &W, &cp, &y));
    TU_OK(ctx, sv_bias_act_fwd(ctx, &y, bname ? &bias : NULL, p, &y));
    check(b, what, &y, ref);
    freev(2, &W, &bias);
    if (out)
        *out = y;
    else
        sv_tensor_free(&y);
}

START_TEST(t_d_blocks)
{
    bundle b;
    if (!bundle_open(&b, "D blocks"))
        return;
    sv_ctx *ctx = b.ctx;
    char nw[256], nb[256], na[256], nx[256];
    const int R = cfg_int(&b, "resolution"), F = cfg_int(&b, "frames_per_clip");
    const int cres = cfg_int(&b, "d_concat_res");
    const float cl = cfg_clamp(&b), sq2 = (float)sqrt(2.0), sqh = (float)sqrt(0.5);
    const sv_bias_act_params lr2 = ba(SV_ACT_LRELU, sq2, cl, 1.0f);
    const sv_bias_act_params lr1 = ba(SV_ACT_LRELU, sq2 * sqh, cl < 0 ? -1.0f : cl * sqh, 1.0f);
    const sv_bias_act_params skp = ba(SV_ACT_LINEAR, sqh, -1.0f, 1.0f);

    /* fromrgb of the first block, on the fake frames */
    sv_tensor frames = up(&b, "out.frames");
    conv_bias_act(&b, &frames, fmt(nw, sizeof nw, "D.b%d.fromrgb.weight", R), fmt(nb, sizeof nb, "D.b%d.fromrgb.bias", R),
                  1, 1, &lr2, fmt(na, sizeof na, "act.D.b%d.fromrgb", R), "conv1x1+lrelu √2", NULL);
    sv_tensor_free(&frames);

    for (int r = R; r >= 8; r /= 2) {
        /* block input as recorded */
        sv_tensor x0 = r == R ? up(&b, fmt(nx, sizeof nx, "act.D.b%d.fromrgb", r))
                              : up(&b, fmt(nx, sizeof nx, "act.D.b%d.0", 2 * r)), x;
        if (r == cres) {
            /* [B·F, C, H, W] → [B, F·C, H, W], channel f·C + c: a view */
            ck_assert_int_eq(x0.shape[0] % F, 0);
            int64_t sh[4] = {x0.shape[0] / F, F * x0.shape[1], x0.shape[2], x0.shape[3]};
            TU_OK(ctx, sv_tensor_reshape(&x0, &x, 4, sh));
            sv_tensor_free(&x0);
            fprintf(stderr, "    frame concat before b%d: [%lld, %lld, %lld, %lld]\n", r, (long long)sh[0],
                    (long long)sh[1], (long long)sh[2], (long long)sh[3]);
        } else {
            x = x0;
        }
        sv_tensor sk, c1, c0in;
        conv_bias_act(&b, &x, fmt(nw, sizeof nw, "D.b%d.skip.weight", r), NULL, 1, 2, &skp,
                      fmt(na, sizeof na, "act.D.b%d.skip", r), "skip 1x1 down2 ·√0.5", &sk);
        conv_bias_act(&b, &x, fmt(nw, sizeof nw, "D.b%d.conv0.weight", r), fmt(nb, sizeof nb, "D.b%d.conv0.bias", r),
                      3, 1, &lr2, fmt(na, sizeof na, "act.D.b%d.conv0", r), "conv3x3+lrelu √2", NULL);
        c0in = up(&b, fmt(nx, sizeof nx, "act.D.b%d.conv0", r));
        conv_bias_act(&b, &c0in, fmt(nw, sizeof nw, "D.b%d.conv1.weight", r),
                      fmt(nb, sizeof nb, "D.b%d.conv1.bias", r), 3, 2, &lr1, fmt(na, sizeof na, "act.D.b%d.conv1", r),
                      "conv3x3 down2+lrelu gain 1", &c1);
        TU_OK(ctx, sv_add(ctx, &c1, &sk, &c1));
        check(&b, "skip + conv1", &c1, fmt(na, sizeof na, "act.D.b%d.0", r));
        freev(4, &x, &sk, &c1, &c0in);
    }

    /* epilogue */
    sv_tensor x = up(&b, "act.D.b8.0");
    const int64_t B = x.shape[0], C = x.shape[1];
    sv_tensor y = mk4(&b, B, C + 1, x.shape[2], x.shape[3]);
    TU_OK(ctx, sv_mbstd_fwd(ctx, &x, cfg_int(&b, "mbstd_group_size"), &y));
    check(&b, "mbstd", &y, "act.D.b4.mbstd");
    freev(2, &x, &y);
    x = up(&b, "act.D.b4.mbstd");
    conv_bias_act(&b, &x, "D.b4.conv.weight", "D.b4.conv.bias", 3, 1, &lr2, "act.D.b4.conv", "conv3x3+lrelu √2", NULL);
    sv_tensor_free(&x);
    {
        sv_tensor c = up(&b, "act.D.b4.conv"), flat;
        int64_t sh[2] = {c.shape[0], c.shape[1] * c.shape[2] * c.shape[3]};
        TU_OK(ctx, sv_tensor_reshape(&c, &flat, 2, sh));
        sv_tensor W = up(&b, "D.b4.fc.weight"), bi = up(&b, "D.b4.fc.bias"), o = mk2(&b, sh[0], W.shape[0]);
        sv_bias_act_params p = ba(SV_ACT_LRELU, sq2, -1.0f, 1.0f);
        TU_OK(ctx, sv_fc_fwd(ctx, &flat, &W, &bi, sv_fc_wgain(sh[1], 1.0f), &p, &o));
        check(&b, "flatten+fc+lrelu √2", &o, "act.D.b4.fc");
        freev(5, &c, &flat, &W, &bi, &o);
        sv_tensor h = up(&b, "act.D.b4.fc");
        W = up(&b, "D.b4.out.weight");
        bi = up(&b, "D.b4.out.bias");
        o = mk2(&b, sh[0], W.shape[0]);
        p = ba(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
        TU_OK(ctx, sv_fc_fwd(ctx, &h, &W, &bi, sv_fc_wgain(h.shape[1], 1.0f), &p, &o));
        check(&b, "fc linear", &o, "act.D.b4.out");
        freev(4, &h, &W, &bi, &o);
    }
    bundle_close(&b);
}
END_TEST

/* ---- 6. D time conditioning and projection (§3.3, §3.4) ---------------- */

START_TEST(t_d_timecond)
{
    bundle b;
    if (!bundle_open(&b, "D time conditioning"))
        return;
    sv_ctx *ctx = b.ctx;
    char nm[256], nb[256], na[256];
    int64_t B, F;
    double *t = times(&b, &B, &F);
    sv_tensor E = up(&b, "D.time_encoder.const_embed.weight");
    sv_tensor kap = up(&b, "D.time_encoder.time_encoder.fourier_coefs");
    const int64_t De = E.shape[1], nf = sv_numel(&kap), W = De + 2 * nf;
    ck_assert_int_eq(E.shape[0], cfg_int(&b, "max_num_frames"));
    {
        float k1[32], k2[32];
        int n1 = 0;
        ck_assert_int_eq(sv_tdiff_kappa(cfg_int(&b, "max_num_frames"), k1, &n1), 0);
        ck_assert_int_eq(n1, nf);
        TU_OK(ctx, sv_tensor_read(&kap, k2, (size_t)nf));
        int nbad = 0;
        for (int i = 0; i < n1; i++)
            nbad += k1[i] != k2[i];
        fprintf(stderr, "  parity %-52s vs %-24s %d of %d values differ\n", "D.time_encoder...fourier_coefs",
                "sv_tdiff_kappa", nbad, n1);
        ck_assert_int_eq(nbad, 0);
    }
    sv_tensor feat = mk2(&b, B, (F - 1) * W);
    TU_OK(ctx, sv_tdiff_fwd(ctx, t, B, F, &E, &kap, &feat));
    check(&b, "tdiff_fwd", &feat, "act.D.time_encoder");
    {
        /* per-difference sub-modules: rows b·(F−1) + i */
        double *g = tu_download(&feat);
        const int64_t nd = B * (F - 1);
        double *ge = malloc((size_t)(nd * De) * sizeof *ge), *gf = malloc((size_t)(nd * 2 * nf) * sizeof *gf);
        for (int64_t j = 0; j < nd; j++) {
            memcpy(ge + j * De, g + j * W, (size_t)De * sizeof *ge);
            memcpy(gf + j * 2 * nf, g + j * W + De, (size_t)(2 * nf) * sizeof *gf);
        }
        size_t n;
        double *we = host(&b, "act.D.time_encoder.const_embed", &n);
        ck_assert_int_eq((int64_t)n, nd * De);
        check_host("tdiff_fwd E[round δ] part", "act.D.time_encoder.const_embed", ge, we, n);
        double *wf = host(&b, "act.D.time_encoder.time_encoder", &n);
        ck_assert_int_eq((int64_t)n, nd * 2 * nf);
        check_host("tdiff_fwd sin/cos part", "act.D.time_encoder.time_encoder", gf, wf, n);
        free(g);
        free(ge);
        free(gf);
        free(we);
        free(wf);
    }
    /* mapping: embed (λ 1, linear) → normalize → fc0… (λ 0.01, lrelu √2) */
    sv_tensor c = up(&b, "act.D.time_encoder");
    sv_tensor Wm = up(&b, "D.mapping.embed.weight"), bm = up(&b, "D.mapping.embed.bias");
    sv_tensor e = mk2(&b, B, Wm.shape[0]);
    sv_bias_act_params lin = ba(SV_ACT_LINEAR, 1.0f, -1.0f, 1.0f);
    TU_OK(ctx, sv_fc_fwd(ctx, &c, &Wm, &bm, sv_fc_wgain(c.shape[1], 1.0f), &lin, &e));
    check(&b, "fc linear", &e, "act.D.mapping.embed");
    freev(4, &c, &Wm, &bm, &e);
    sv_tensor x = up(&b, "act.D.mapping.embed");
    TU_OK(ctx, sv_normalize_2nd_moment_fwd(ctx, &x, &x));
    const int nl = count_layers(&b, "D.mapping.fc%d.weight");
    ck_assert_int_ge(nl, 1);
    sv_bias_act_params p = ba(SV_ACT_LRELU, (float)sqrt(2.0), -1.0f, 0.01f);
    for (int i = 0; i < nl; i++) {
        sv_tensor Wf = up(&b, fmt(nm, sizeof nm, "D.mapping.fc%d.weight", i));
        sv_tensor bf = up(&b, fmt(nb, sizeof nb, "D.mapping.fc%d.bias", i));
        sv_tensor y = mk2(&b, B, Wf.shape[0]);
        TU_OK(ctx, sv_fc_fwd(ctx, &x, &Wf, &bf, sv_fc_wgain(Wf.shape[1], 0.01f), &p, &y));
        check(&b, i ? "fc(λ=0.01, lrelu √2)" : "normalize+fc(λ=0.01, lrelu √2)", &y,
              fmt(na, sizeof na, "act.D.mapping.fc%d", i));
        freev(3, &x, &Wf, &bf);
        x = y;
    }
    check(&b, "cmap", &x, "act.D.mapping");
    sv_tensor_free(&x);

    /* projection: logit = Σ_k out_k·cmap_k / √cmap_dim */
    sv_tensor out = up(&b, "act.D.b4.out"), cmap = up(&b, "act.D.mapping");
    const int64_t Cm = cmap.shape[1];
    ck_assert_int_eq(out.shape[1], Cm);
    sv_tensor lg = mk2(&b, B, 1);
    TU_OK(ctx, sv_rowdot(ctx, &out, &cmap, (float)(1.0 / sqrt((double)Cm)), &lg, 0));
    check(&b, "Σ out·cmap/√cmap_dim", &lg, "act.D.b4");
    check(&b, "Σ out·cmap/√cmap_dim", &lg, "out.logits_fake");
    freev(5, &out, &cmap, &lg, &E, &kap);
    sv_tensor_free(&feat);
    free(t);
    bundle_close(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_g_mapping);
    tcase_add_test(tc, t_g_motion);
    tcase_add_test(tc, t_g_timeenc);
    tcase_add_test(tc, t_g_synthesis);
    tcase_add_test(tc, t_d_blocks);
    tcase_add_test(tc, t_d_timecond);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
