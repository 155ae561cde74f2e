/* Exact R1 on a float64 host-reference discriminator.
 *
 * A tiny but structurally complete StyleGAN-V discriminator (spec §3) built
 * only from the sv_ref_* host references:
 *
 *   x [B·F, 3, 16, 16] per frame
 *   fromrgb 1×1 3→4, lrelu √2, clamp c
 *   b16 (per frame): skip 1×1↓2 4→2 ·√0.5 | conv0 3×3 4→4 lrelu √2 clamp c |
 *                    conv1 3×3↓2 4→2 lrelu gain 1 clamp c·√0.5 | sum
 *        (output channels halved, as num_frames_div_factor does)
 *   frame concat: [B·F, 2, 8, 8] → [B, F·2 = 6, 8, 8] (a view, channel f·2 + c)
 *   b8 (per clip):   skip 6→5, conv0 6→5, conv1 5→5, sum → [B, 5, 4, 4]
 *   epilogue: mbstd (group 2 of B = 4 clips: strided groups {0,2}, {1,3})
 *             → conv 3×3 6→5 lrelu √2 clamp c → fc 80→6 lrelu √2 → out 6→4
 *   time conditioning: tdiff (table E [8, 3] + 3 sin + 3 cos per difference,
 *             F−1 = 2 differences) → embed fc 18→4 linear → normalize
 *             → fc0 4→4 lrelu √2 λ = 0.01 = cmap
 *   logit_b = Σ_k out_bk·cmap_bk / √4
 *
 * R(θ) = γ/2 · mean_clips mean_frames ‖g_{b,f}‖²,  g = ∂(Σ_b logit_b)/∂x,
 * and ∂R/∂θ by the reverse-over-forward method of include/svgan/ops.h:
 * tangent ẋ = s·g through every layer (parameters have no tangent; cmap does
 * not depend on x, so it has none either), dual backward seeded with
 * ∂J/∂logiṫ = σ, ∂J/∂logit = 0, where s·σ = γ/(B·F).
 *
 * Checks, all in float64:
 *  - ∂(Σ logit)/∂x and ∂(Σ logit)/∂θ against central differences (the
 *    ordinary backward the R1 pass is built on);
 *  - ∂R/∂θ against central differences of R(θ) (R = forward + backward to
 *    the input) for every parameter tensor: random directions (tu_gradcheck
 *    and a fourth-order rule) and single coordinates, relative 1e-6, without
 *    clamping and with clamps active in every clamped layer;
 *  - the three biases after mbstd (b4.conv, b4.fc, b4.out) get exactly zero
 *    R1 gradient (as in the official bundles);
 *  - the result depends only on s·σ (ops.h's ẋ = c⊙g with seed γ equals
 *    ẋ = (γ/(B·F))·g with seed 1);
 *  - so that the checks are known to be able to fail: plausible mistakes
 *    (mbstd without its second-order term, or its gx passed on as gẋ; no gẏ·ẋᵀ
 *    weight term; no projection cmap term; a bias gradient from the tangent
 *    stream; the tangent scaled per clip instead of per frame) must each be
 *    caught by the same central differences.
 *
 * Central differences through a piecewise-linear network: R is piecewise
 * smooth (its g jumps where a pre-activation crosses a lrelu or clamp kink),
 * and with ~30 000 activations the nearest kink is ~1e-4 away, closer than any
 * step that beats round-off.  So the differences are taken of the *frozen-
 * piece* network (fwd_act): every bias_act keeps the linear piece that is
 * active at θ.  It coincides with the reference network on a neighbourhood of
 * θ (asserted: same activations, Σ logit and R at θ to 1e-14), so it has the
 * same derivatives at θ, and any step can be used.  The remaining smooth
 * nonlinearities (mbstd with groups of two, normalize, the products) have
 * large curvature where two clips nearly agree, hence the fourth-order rule. */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- sizes ------------------------------------------------------------- */
enum {
    NB = 4,         /* clips */
    NF = 3,         /* frames per clip */
    NBF = NB * NF,  /* frames */
    RES = 16,       /* input resolution */
    C1 = 4,         /* fromrgb / b16 channels */
    C1O = 2,        /* b16 output channels (halved) */
    C2I = NF * C1O, /* concat channels */
    C2 = 5,         /* b8 / epilogue channels */
    CMB = C2 + 1,   /* after mbstd */
    NFC = 6,        /* epilogue fc width */
    CM = 4,         /* cmap dim */
    MT = 8,         /* max_num_frames (table rows) */
    DE = 3,         /* table width */
    MBG = 2         /* mbstd group size */
};

/* central differences (parameter units, unit directions): fourth-order rule
 * (fd5) with step FD_H and tolerance FD_TOL; tu_gradcheck's two-point rule
 * with FD_H2 / FD_TOL2 (its O(h²) error is ~1e-6 here, see fd5) */
#ifndef FD_H
#define FD_H 5e-5
#endif
#define FD_TOL 1e-6
#define FD_ULPS 32 /* bound on the round-off of one R evaluation, in units of ε·|R| (measured: 2…10) */
#define FD_H2 1e-5
#define FD_TOL2 2e-5
#define MUT_MIN 100 /* a deliberate mistake must err by ≥ this many times the allowed error */

/* ---- parameters -------------------------------------------------------- */
enum {
    P_RGB_W, P_RGB_B,
    P_16_SK_W, P_16_C0_W, P_16_C0_B, P_16_C1_W, P_16_C1_B,
    P_8_SK_W, P_8_C0_W, P_8_C0_B, P_8_C1_W, P_8_C1_B,
    P_EP_W, P_EP_B, P_FC_W, P_FC_B, P_OUT_W, P_OUT_B,
    P_E, P_EMB_W, P_EMB_B, P_MAP_W, P_MAP_B,
    NPT
};

static int g_nf;           /* Fourier features per difference */
static double g_kappa[32];
#define WT (DE + 2 * g_nf)           /* tdiff width per difference */
#define NTF ((NF - 1) * WT)          /* tdiff output width */

typedef struct ptab {
    const char *name;
    int64_t n;
    double scale; /* init N(0, scale²) */
    int64_t off;
} ptab;

static ptab P[NPT];
static int64_t NPAR;

static void ptab_init(void)
{
    float k[32];
    ck_assert_int_eq(sv_tdiff_kappa(MT, k, &g_nf), 0);
    ck_assert_int_eq(g_nf, 3);
    for (int i = 0; i < g_nf; i++)
        g_kappa[i] = k[i];
    const ptab t[NPT] = {
        [P_RGB_W] = {"fromrgb.weight", C1 * 3, 1, 0},
        [P_RGB_B] = {"fromrgb.bias", C1, 0.5, 0},
        [P_16_SK_W] = {"b16.skip.weight", C1O * C1, 1, 0},
        [P_16_C0_W] = {"b16.conv0.weight", C1 * C1 * 9, 1, 0},
        [P_16_C0_B] = {"b16.conv0.bias", C1, 0.5, 0},
        [P_16_C1_W] = {"b16.conv1.weight", C1O * C1 * 9, 1, 0},
        [P_16_C1_B] = {"b16.conv1.bias", C1O, 0.5, 0},
        [P_8_SK_W] = {"b8.skip.weight", C2 * C2I, 1, 0},
        [P_8_C0_W] = {"b8.conv0.weight", C2 * C2I * 9, 1, 0},
        [P_8_C0_B] = {"b8.conv0.bias", C2, 0.5, 0},
        [P_8_C1_W] = {"b8.conv1.weight", C2 * C2 * 9, 1, 0},
        [P_8_C1_B] = {"b8.conv1.bias", C2, 0.5, 0},
        [P_EP_W] = {"b4.conv.weight", C2 * CMB * 9, 1, 0},
        [P_EP_B] = {"b4.conv.bias", C2, 0.5, 0},
        [P_FC_W] = {"b4.fc.weight", NFC * C2 * 16, 1, 0},
        [P_FC_B] = {"b4.fc.bias", NFC, 0.5, 0},
        [P_OUT_W] = {"b4.out.weight", CM * NFC, 1, 0},
        [P_OUT_B] = {"b4.out.bias", CM, 0.5, 0},
        [P_E] = {"time_encoder.const_embed", MT * DE, 1, 0},
        [P_EMB_W] = {"mapping.embed.weight", CM * (NF - 1) * (DE + 2 * 3), 1, 0},
        [P_EMB_B] = {"mapping.embed.bias", CM, 0.5, 0},
        [P_MAP_W] = {"mapping.fc0.weight", CM * CM, 100, 0},  /* N(0,1)/λ, λ = 0.01 */
        [P_MAP_B] = {"mapping.fc0.bias", CM, 30, 0},
    };
    NPAR = 0;
    for (int i = 0; i < NPT; i++) {
        P[i] = t[i];
        P[i].off = NPAR;
        NPAR += P[i].n;
    }
}

/* ---- conv layers (conv2d + bias_act) ----------------------------------- */
enum { L_RGB, L_16_SK, L_16_C0, L_16_C1, L_8_SK, L_8_C0, L_8_C1, L_EP, NL };

/* activations (and their tangents / gradients), one buffer each */
enum { A_X, A_RGB, A_16_SK, A_16_C0, A_16_C1, A_2, A_8_SK, A_8_C0, A_8_C1, A_3, A_MB, A_EP, A_FC, A_OUT,
       A_TF, A_EMB, A_NRM, A_CM, NA };

typedef struct convl {
    int in, out;           /* activation ids */
    int wi, bi;            /* parameter ids (bi < 0: no bias) */
    int64_t N;
    int cin, cout, H, k, down;
    sv_act act;
    double gain, clamp_mul; /* clamp = clamp_mul·c (c < 0: none); clamp_mul < 0: never clamped */
} convl;

#define SQRT2 1.41421356237309504880
#define SQRTH 0.70710678118654752440 /* √0.5: ResNet branch gain (spec §3.2) */

static const convl LAYERS[NL] = {
    [L_RGB] = {A_X, A_RGB, P_RGB_W, P_RGB_B, NBF, 3, C1, RES, 1, 1, SV_ACT_LRELU, SQRT2, 1},
    [L_16_SK] = {A_RGB, A_16_SK, P_16_SK_W, -1, NBF, C1, C1O, RES, 1, 2, SV_ACT_LINEAR, SQRTH, -1},
    [L_16_C0] = {A_RGB, A_16_C0, P_16_C0_W, P_16_C0_B, NBF, C1, C1, RES, 3, 1, SV_ACT_LRELU, SQRT2, 1},
    [L_16_C1] = {A_16_C0, A_16_C1, P_16_C1_W, P_16_C1_B, NBF, C1, C1O, RES, 3, 2, SV_ACT_LRELU, 1.0, SQRTH},
    [L_8_SK] = {A_2, A_8_SK, P_8_SK_W, -1, NB, C2I, C2, RES / 2, 1, 2, SV_ACT_LINEAR, SQRTH, -1},
    [L_8_C0] = {A_2, A_8_C0, P_8_C0_W, P_8_C0_B, NB, C2I, C2, RES / 2, 3, 1, SV_ACT_LRELU, SQRT2, 1},
    [L_8_C1] = {A_8_C0, A_8_C1, P_8_C1_W, P_8_C1_B, NB, C2, C2, RES / 2, 3, 2, SV_ACT_LRELU, 1.0, SQRTH},
    [L_EP] = {A_MB, A_EP, P_EP_W, P_EP_B, NB, CMB, C2, 4, 3, 1, SV_ACT_LRELU, SQRT2, 1},
};

/* deliberate mistakes (each must be caught) */
enum {
    MUT_NONE,
    MUT_MBSTD_FIRST_ORDER, /* gx of mbstd without the (∂ẏ/∂x)ᵀgẏ term */
    MUT_NO_TANGENT_WGRAD,  /* conv weights: gW = gy·xᵀ only, no gẏ·ẋᵀ */
    MUT_NO_CMAP_TERM,      /* projection: no ∂J/∂cmap = σ·ȯut/√C into the time conditioning */
    MUT_BIAS_FROM_TANGENT, /* bias gradient summed from both streams */
    MUT_SCALE_PER_CLIP,    /* tangent scaled by γ/B instead of γ/(B·F) */
    MUT_MBSTD_GX_AS_GXDOT, /* mbstd: the primal-stream gx passed on as gẋ */
    NMUT
};
static const char *MUT_NAME[NMUT] = {"none", "mbstd without second-order term", "no gẏ·ẋᵀ weight term",
                                     "no projection cmap term", "bias grad from tangent stream",
                                     "tangent scaled γ/B", "mbstd gx used as gẋ"};

typedef struct net {
    double gamma;
    double clamp; /* < 0: none */
    double t[NBF];
    double x[NBF * 3 * RES * RES];
    int mut;
    int frozen; /* 1: piecewise-linear activations on the masks of y0 (see fwd_act) */
    /* work buffers */
    double *a[NA], *ad[NA], *ga[NA], *gad[NA], *y0[NA];
    double *pre[NL]; /* conv outputs before bias_act (kink margins) */
    int64_t asz[NA];
} net;

static int64_t conv_out_hw(const convl *L)
{
    int Ho = L->H / L->down;
    return (int64_t)Ho * Ho;
}

static sv_conv2d_params conv_params(const convl *L)
{
    sv_conv2d_params p = {L->k, 1, L->down, sv_conv2d_wgain(L->cin, L->k)};
    return p;
}

static sv_bias_act_params ba_params(const net *n, const convl *L)
{
    sv_bias_act_params p = sv_bias_act_default(L->act);
    p.gain = (float)L->gain;
    p.clamp = (L->clamp_mul < 0 || n->clamp < 0) ? -1.0f : (float)(n->clamp * L->clamp_mul);
    p.bias_gain = 1.0f;
    return p;
}

static sv_bias_act_params fc_params(sv_act act, float lr)
{
    sv_bias_act_params p = sv_bias_act_default(act);
    p.bias_gain = lr;
    return p;
}

static void net_alloc(net *n)
{
    const int64_t sz[NA] = {
        [A_X] = NBF * 3 * RES * RES,
        [A_RGB] = NBF * C1 * RES * RES,
        [A_16_SK] = NBF * C1O * 64,
        [A_16_C0] = NBF * C1 * RES * RES,
        [A_16_C1] = NBF * C1O * 64,
        [A_2] = NBF * C1O * 64,
        [A_8_SK] = NB * C2 * 16,
        [A_8_C0] = NB * C2 * 64,
        [A_8_C1] = NB * C2 * 16,
        [A_3] = NB * C2 * 16,
        [A_MB] = NB * CMB * 16,
        [A_EP] = NB * C2 * 16,
        [A_FC] = NB * NFC,
        [A_OUT] = NB * CM,
        [A_TF] = NB * NTF,
        [A_EMB] = NB * CM,
        [A_NRM] = NB * CM,
        [A_CM] = NB * CM,
    };
    for (int i = 0; i < NA; i++) {
        n->asz[i] = sz[i];
        n->a[i] = calloc((size_t)sz[i], sizeof(double));
        n->ad[i] = calloc((size_t)sz[i], sizeof(double));
        n->ga[i] = calloc((size_t)sz[i], sizeof(double));
        n->gad[i] = calloc((size_t)sz[i], sizeof(double));
        n->y0[i] = calloc((size_t)sz[i], sizeof(double));
        ck_assert(n->a[i] && n->ad[i] && n->ga[i] && n->gad[i] && n->y0[i]);
    }
    for (int l = 0; l < NL; l++) {
        n->pre[l] = calloc((size_t)sz[LAYERS[l].out], sizeof(double));
        ck_assert(n->pre[l]);
    }
}

static void net_free(net *n)
{
    for (int i = 0; i < NA; i++) {
        free(n->a[i]);
        free(n->ad[i]);
        free(n->ga[i]);
        free(n->gad[i]);
        free(n->y0[i]);
    }
    for (int l = 0; l < NL; l++)
        free(n->pre[l]);
}

/* Random model: parameters θ (returned, caller frees), input, times. */
static double *net_init(net *n, uint64_t seed, double clamp, double gamma)
{
    memset(n, 0, sizeof *n);
    ptab_init();
    net_alloc(n);
    n->clamp = clamp;
    n->gamma = gamma;
    tu_rng r;
    tu_seed(&r, seed);
    double *th = malloc((size_t)NPAR * sizeof *th);
    ck_assert(th);
    for (int i = 0; i < NPT; i++)
        tu_fill_normal(&r, th + P[i].off, (size_t)P[i].n, P[i].scale);
    tu_fill_normal(&r, n->x, (size_t)(NBF * 3 * RES * RES), 1.0);
    /* sorted integer times, differences 1…4 < MT */
    for (int b = 0; b < NB; b++) {
        double t0 = (double)(3 * b + (int)(tu_uniform(&r) * 5));
        n->t[b * NF] = t0;
        for (int f = 1; f < NF; f++)
            n->t[b * NF + f] = n->t[b * NF + f - 1] + 1 + (int)(tu_uniform(&r) * 4);
    }
    return th;
}

static void add_into(double *dst, const double *src, int64_t k)
{
    for (int64_t i = 0; i < k; i++)
        dst[i] += src[i];
}

/* ---- forward / tangent ------------------------------------------------- */

static double fc_wg(int64_t in, double lr) { return (double)sv_fc_wgain(in, (float)lr); }

/* Mask source of a bias_act output: the live activation, or the frozen one. */
static const double *ymask(const net *n, int id) { return n->frozen ? n->y0[id] : n->a[id]; }

/* a[out] = bias_act(v, b) for v [N, C, S] (v = conv/matmul output, no bias).
 * Frozen mode evaluates the piece of the piecewise-linear function that is
 * active at the frozen point y0 instead: y = f'(y0)·(v + bias_gain·b), or
 * y0 where y0 was clamped.  It coincides with bias_act on a neighbourhood of
 * the frozen point (no pre-activation sits on a kink there), so it has the
 * same derivatives there, and central differences of it can use steps far
 * larger than the distance to the nearest kink. */
static void fwd_act(net *n, int out, const double *v, const double *b, int64_t N, int64_t C, int64_t S,
                    const sv_bias_act_params *p)
{
    double *y = n->a[out];
    if (!n->frozen) {
        sv_ref_bias_act_fwd(v, b, N, C, S, p, y);
        return;
    }
    sv_bias_act_params lin = sv_bias_act_default(SV_ACT_LINEAR);
    lin.gain = 1.0f;
    lin.clamp = -1.0f;
    lin.bias_gain = p->bias_gain;
    sv_ref_bias_act_fwd(v, b, N, C, S, &lin, y);
    sv_ref_bias_act_bwd(n->y0[out], y, N, C, S, p, y, NULL);
    if (p->clamp >= 0)
        for (int64_t i = 0; i < N * C * S; i++)
            if (!(fabs(n->y0[out][i]) < (double)p->clamp))
                y[i] = n->y0[out][i];
}

/* FC forward into a[ay]: the fused reference, or matmul + fwd_act when frozen. */
static void fc_fwd(net *n, const double *th, int ax, int ay, int64_t in, int64_t out, double lr, sv_act act, int wi,
                   int bi)
{
    sv_bias_act_params p = fc_params(act, (float)lr);
    const double wg = fc_wg(in, lr);
    if (!n->frozen) {
        sv_ref_fc_fwd(n->a[ax], th + P[wi].off, th + P[bi].off, NB, in, out, wg, &p, n->a[ay]);
        return;
    }
    double *v = malloc((size_t)(NB * out) * sizeof *v);
    ck_assert(v);
    sv_bias_act_params lin = sv_bias_act_default(SV_ACT_LINEAR);
    lin.gain = 1.0f;
    sv_ref_fc_fwd(n->a[ax], th + P[wi].off, NULL, NB, in, out, wg, &lin, v);
    fwd_act(n, ay, v, th + P[bi].off, NB, out, 1, &p);
    free(v);
}

static void conv_fwd(net *n, const double *th, int l)
{
    const convl *L = &LAYERS[l];
    sv_conv2d_params cp = conv_params(L);
    sv_bias_act_params bp = ba_params(n, L);
    sv_ref_conv2d_fwd(n->a[L->in], th + P[L->wi].off, L->N, L->cin, L->cout, L->H, L->H, &cp, n->pre[l]);
    fwd_act(n, L->out, n->pre[l], L->bi >= 0 ? th + P[L->bi].off : NULL, L->N, L->cout, conv_out_hw(L), &bp);
}

/* ẏ = f'(y)·conv(ẋ) */
static void conv_jvp(net *n, const double *th, int l)
{
    const convl *L = &LAYERS[l];
    sv_conv2d_params cp = conv_params(L);
    sv_bias_act_params bp = ba_params(n, L);
    double *yd = n->ad[L->out];
    sv_ref_conv2d_fwd(n->ad[L->in], th + P[L->wi].off, L->N, L->cin, L->cout, L->H, L->H, &cp, yd);
    sv_ref_bias_act_bwd(n->a[L->out], yd, L->N, L->cout, conv_out_hw(L), &bp, yd, NULL);
}

/* Time conditioning: cmap [B, CM] (no dependence on x). */
static void cmap_fwd(net *n, const double *th)
{
    sv_ref_tdiff_fwd(n->t, NB, NF, th + P[P_E].off, MT, DE, g_kappa, g_nf, n->a[A_TF]);
    fc_fwd(n, th, A_TF, A_EMB, NTF, CM, 1.0, SV_ACT_LINEAR, P_EMB_W, P_EMB_B);
    sv_ref_normalize_2nd_moment_fwd(n->a[A_EMB], NB, CM, n->a[A_NRM]);
    fc_fwd(n, th, A_NRM, A_CM, CM, CM, 0.01, SV_ACT_LRELU, P_MAP_W, P_MAP_B);
}

/* Forward; returns Σ_b logit_b. */
static double forward(net *n, const double *th)
{
    memcpy(n->a[A_X], n->x, sizeof n->x);
    conv_fwd(n, th, L_RGB);
    conv_fwd(n, th, L_16_SK);
    conv_fwd(n, th, L_16_C0);
    conv_fwd(n, th, L_16_C1);
    for (int64_t i = 0; i < n->asz[A_2]; i++)
        n->a[A_2][i] = n->a[A_16_C1][i] + n->a[A_16_SK][i];
    /* A_2 [B·F, 2, 8, 8] is read as [B, F·2, 8, 8] from here on: the concat is a view */
    conv_fwd(n, th, L_8_SK);
    conv_fwd(n, th, L_8_C0);
    conv_fwd(n, th, L_8_C1);
    for (int64_t i = 0; i < n->asz[A_3]; i++)
        n->a[A_3][i] = n->a[A_8_C1][i] + n->a[A_8_SK][i];
    sv_ref_mbstd_fwd(n->a[A_3], NB, C2, 16, MBG, n->a[A_MB]);
    conv_fwd(n, th, L_EP);
    fc_fwd(n, th, A_EP, A_FC, C2 * 16, NFC, 1.0, SV_ACT_LRELU, P_FC_W, P_FC_B);
    fc_fwd(n, th, A_FC, A_OUT, NFC, CM, 1.0, SV_ACT_LINEAR, P_OUT_W, P_OUT_B);
    cmap_fwd(n, th);
    double s = 0;
    for (int64_t i = 0; i < NB * CM; i++)
        s += n->a[A_OUT][i] * n->a[A_CM][i];
    return s / sqrt((double)CM);
}

/* Tangent pass: ẋ already in ad[A_X]; parameters have no tangent. */
static void tangent(net *n, const double *th)
{
    conv_jvp(n, th, L_RGB);
    conv_jvp(n, th, L_16_SK);
    conv_jvp(n, th, L_16_C0);
    conv_jvp(n, th, L_16_C1);
    for (int64_t i = 0; i < n->asz[A_2]; i++)
        n->ad[A_2][i] = n->ad[A_16_C1][i] + n->ad[A_16_SK][i];
    conv_jvp(n, th, L_8_SK);
    conv_jvp(n, th, L_8_C0);
    conv_jvp(n, th, L_8_C1);
    for (int64_t i = 0; i < n->asz[A_3]; i++)
        n->ad[A_3][i] = n->ad[A_8_C1][i] + n->ad[A_8_SK][i];
    sv_ref_mbstd_jvp(n->a[A_3], n->ad[A_3], NB, C2, 16, MBG, n->ad[A_MB]);
    conv_jvp(n, th, L_EP);
    sv_bias_act_params lr = fc_params(SV_ACT_LRELU, 1.0f), lin = fc_params(SV_ACT_LINEAR, 1.0f);
    sv_ref_fc_jvp(n->ad[A_EP], th + P[P_FC_W].off, n->a[A_FC], NB, C2 * 16, NFC, fc_wg(C2 * 16, 1), &lr,
                  n->ad[A_FC]);
    sv_ref_fc_jvp(n->ad[A_FC], th + P[P_OUT_W].off, n->a[A_OUT], NB, NFC, CM, fc_wg(NFC, 1), &lin, n->ad[A_OUT]);
}

/* ---- backward / dual backward ------------------------------------------ */

/* Reverse through one conv layer.  Adds into ga[in] (and gad[in] when dual)
 * and into the parameter gradients gth. */
static void conv_back(net *n, const double *th, int l, int dual, double *gth)
{
    const convl *L = &LAYERS[l];
    sv_conv2d_params cp = conv_params(L);
    sv_bias_act_params bp = ba_params(n, L);
    const int64_t hw = conv_out_hw(L), ny = L->N * L->cout * hw, nx = L->N * L->cin * (int64_t)L->H * L->H;
    const int64_t nw = P[L->wi].n;
    double *gp = malloc((size_t)ny * sizeof *gp), *gb = malloc((size_t)L->cout * sizeof *gb);
    double *gx = malloc((size_t)nx * sizeof *gx), *gw = malloc((size_t)nw * sizeof *gw);
    ck_assert(gp && gb && gx && gw);
    const double *w = th + P[L->wi].off;
    /* primal stream: gp = f'·gy, gb = Σ gp, gx = convᵀ gp, gW = gp·xᵀ */
    sv_ref_bias_act_bwd(ymask(n, L->out), n->ga[L->out], L->N, L->cout, hw, &bp, gp, gb);
    if (L->bi >= 0)
        add_into(gth + P[L->bi].off, gb, L->cout);
    sv_ref_conv2d_bwd(n->a[L->in], w, gp, L->N, L->cin, L->cout, L->H, L->H, &cp, gx, gw);
    add_into(n->ga[L->in], gx, nx);
    add_into(gth + P[L->wi].off, gw, nw);
    if (dual) {
        /* tangent stream: gṗ = f'·gẏ (f'' = 0), gẋ = convᵀ gṗ, gW += gṗ·ẋᵀ */
        sv_ref_bias_act_bwd(ymask(n, L->out), n->gad[L->out], L->N, L->cout, hw, &bp, gp,
                            n->mut == MUT_BIAS_FROM_TANGENT ? gb : NULL);
        if (n->mut == MUT_BIAS_FROM_TANGENT && L->bi >= 0)
            add_into(gth + P[L->bi].off, gb, L->cout);
        sv_ref_conv2d_bwd(n->ad[L->in], w, gp, L->N, L->cin, L->cout, L->H, L->H, &cp, gx, gw);
        add_into(n->gad[L->in], gx, nx);
        if (n->mut != MUT_NO_TANGENT_WGRAD)
            add_into(gth + P[L->wi].off, gw, nw);
    }
    free(gp);
    free(gb);
    free(gx);
    free(gw);
}

/* Reverse through an FC layer x → y (weights wi, bias bi). */
static void fc_back(net *n, const double *th, int ax, int ay, int64_t in, int64_t out, double lr, sv_act act,
                    int wi, int bi, int dual, double *gth)
{
    sv_bias_act_params p = fc_params(act, (float)lr);
    double *gx = malloc((size_t)(NB * in) * sizeof *gx), *gw = malloc((size_t)(in * out) * sizeof *gw);
    double *gb = malloc((size_t)out * sizeof *gb);
    ck_assert(gx && gw && gb);
    const double wg = fc_wg(in, lr);
    sv_ref_fc_bwd(n->a[ax], th + P[wi].off, ymask(n, ay), n->ga[ay], NB, in, out, wg, &p, gx, gw, gb);
    add_into(n->ga[ax], gx, NB * in);
    add_into(gth + P[wi].off, gw, in * out);
    add_into(gth + P[bi].off, gb, out);
    if (dual) {
        sv_ref_fc_bwd(n->ad[ax], th + P[wi].off, ymask(n, ay), n->gad[ay], NB, in, out, wg, &p, gx, gw,
                      n->mut == MUT_BIAS_FROM_TANGENT ? gb : NULL);
        add_into(n->gad[ax], gx, NB * in);
        add_into(gth + P[wi].off, gw, in * out);
        if (n->mut == MUT_BIAS_FROM_TANGENT)
            add_into(gth + P[bi].off, gb, out);
    }
    free(gx);
    free(gw);
    free(gb);
}

/* Ordinary backward of the time conditioning from ga[A_CM]. */
static void cmap_back(net *n, const double *th, double *gth)
{
    fc_back(n, th, A_NRM, A_CM, CM, CM, 0.01, SV_ACT_LRELU, P_MAP_W, P_MAP_B, 0, gth);
    double *g = malloc((size_t)(NB * CM) * sizeof *g), *gE = malloc((size_t)P[P_E].n * sizeof *gE);
    ck_assert(g && gE);
    sv_ref_normalize_2nd_moment_bwd(n->a[A_EMB], n->ga[A_NRM], NB, CM, g);
    add_into(n->ga[A_EMB], g, NB * CM);
    fc_back(n, th, A_TF, A_EMB, NTF, CM, 1.0, SV_ACT_LINEAR, P_EMB_W, P_EMB_B, 0, gth);
    sv_ref_tdiff_bwd(n->t, NB, NF, n->ga[A_TF], MT, DE, g_nf, gE);
    add_into(gth + P[P_E].off, gE, P[P_E].n);
    free(g);
    free(gE);
}

/* dual = 0: ordinary backward of Σ_b logit_b (seed 1 per clip) into gth
 * (nullable: a scratch is used) and ga[A_X].
 * dual = 1: reverse through the dual pass of J = σ·Σ_b logiṫ_b (seed
 * ∂J/∂logiṫ = σ, ∂J/∂logit = 0) into gth. */
static void backward(net *n, const double *th, int dual, double sigma, double *gth)
{
    double *scratch = NULL;
    if (!gth) {
        scratch = calloc((size_t)NPAR, sizeof *scratch);
        ck_assert(scratch);
        gth = scratch;
    }
    for (int i = 0; i < NA; i++) {
        memset(n->ga[i], 0, (size_t)n->asz[i] * sizeof(double));
        memset(n->gad[i], 0, (size_t)n->asz[i] * sizeof(double));
    }
    const double rs = 1.0 / sqrt((double)CM);
    /* projection logit_b = Σ_k out·cmap/√C: bilinear.  Primal seed 1:
     * gout = cmap/√C, gcmap = out/√C.  Dual seed: logiṫ = Σ ȯut·cmap/√C
     * (ċmap = 0), so gȯut = σ·cmap/√C, gcmap = σ·ȯut/√C, gout = 0. */
    for (int64_t i = 0; i < NB * CM; i++) {
        if (!dual) {
            n->ga[A_OUT][i] = n->a[A_CM][i] * rs;
            n->ga[A_CM][i] = n->a[A_OUT][i] * rs;
        } else {
            n->gad[A_OUT][i] = sigma * n->a[A_CM][i] * rs;
            n->ga[A_CM][i] = n->mut == MUT_NO_CMAP_TERM ? 0.0 : sigma * n->ad[A_OUT][i] * rs;
        }
    }
    fc_back(n, th, A_FC, A_OUT, NFC, CM, 1.0, SV_ACT_LINEAR, P_OUT_W, P_OUT_B, dual, gth);
    fc_back(n, th, A_EP, A_FC, C2 * 16, NFC, 1.0, SV_ACT_LRELU, P_FC_W, P_FC_B, dual, gth);
    conv_back(n, th, L_EP, dual, gth);
    {
        const int64_t k = n->asz[A_3];
        double *gx = malloc((size_t)k * sizeof *gx), *gxd = malloc((size_t)k * sizeof *gxd);
        ck_assert(gx && gxd);
        if (!dual) {
            sv_ref_mbstd_bwd(n->a[A_3], n->ga[A_MB], NB, C2, 16, MBG, gx);
        } else {
            sv_ref_mbstd_jvp_bwd(n->a[A_3], n->ad[A_3], n->ga[A_MB], n->gad[A_MB], NB, C2, 16, MBG, gx, gxd);
            if (n->mut == MUT_MBSTD_FIRST_ORDER)
                sv_ref_mbstd_bwd(n->a[A_3], n->ga[A_MB], NB, C2, 16, MBG, gx);
            add_into(n->gad[A_3], n->mut == MUT_MBSTD_GX_AS_GXDOT ? gx : gxd, k);
        }
        add_into(n->ga[A_3], gx, k);
        free(gx);
        free(gxd);
    }
    /* sum: both branches get the gradient (both streams) */
    add_into(n->ga[A_8_C1], n->ga[A_3], n->asz[A_3]);
    add_into(n->ga[A_8_SK], n->ga[A_3], n->asz[A_3]);
    add_into(n->gad[A_8_C1], n->gad[A_3], n->asz[A_3]);
    add_into(n->gad[A_8_SK], n->gad[A_3], n->asz[A_3]);
    conv_back(n, th, L_8_C1, dual, gth);
    conv_back(n, th, L_8_C0, dual, gth);
    conv_back(n, th, L_8_SK, dual, gth);
    /* concat view: ga[A_2] as [B, F·C, 8, 8] is ga[A_2] as [B·F, C, 8, 8] */
    add_into(n->ga[A_16_C1], n->ga[A_2], n->asz[A_2]);
    add_into(n->ga[A_16_SK], n->ga[A_2], n->asz[A_2]);
    add_into(n->gad[A_16_C1], n->gad[A_2], n->asz[A_2]);
    add_into(n->gad[A_16_SK], n->gad[A_2], n->asz[A_2]);
    conv_back(n, th, L_16_C1, dual, gth);
    conv_back(n, th, L_16_C0, dual, gth);
    conv_back(n, th, L_16_SK, dual, gth);
    conv_back(n, th, L_RGB, dual, gth);
    cmap_back(n, th, gth);
    free(scratch);
}

/* ---- R1 ---------------------------------------------------------------- */

/* R(θ) = γ/2 · (1/(B·F)) Σ_{b,f} ‖g_{b,f}‖², g = ∂(Σ logit)/∂x. */
static double r1_value(net *n, const double *th)
{
    forward(n, th);
    backward(n, th, 0, 0.0, NULL);
    double s = 0;
    for (int64_t i = 0; i < n->asz[A_X]; i++)
        s += n->ga[A_X][i] * n->ga[A_X][i];
    return 0.5 * n->gamma * s / (double)NBF;
}

/* ∂R/∂θ by reverse-over-forward: tangent ẋ = s·g, seed σ, with
 * s·σ = γ/(B·F) for the exact gradient.  Returns R. */
static double r1_grad(net *n, const double *th, double s, double sigma, double *gth)
{
    double R = r1_value(n, th); /* leaves g in ga[A_X] */
    if (n->mut == MUT_SCALE_PER_CLIP)
        s *= NF;
    for (int64_t i = 0; i < n->asz[A_X]; i++)
        n->ad[A_X][i] = s * n->ga[A_X][i];
    tangent(n, th);
    memset(gth, 0, (size_t)NPAR * sizeof *gth);
    backward(n, th, 1, sigma, gth);
    return R;
}

/* ---- checks ------------------------------------------------------------ */

typedef struct fdu {
    net *n;
    double *th;  /* full parameter vector (modified in place and restored) */
    int pt;      /* tensor id, or -1: f is a function of x */
    int r1;      /* 1: f = R, 0: f = Σ logit */
} fdu;

static double fd_eval(const double *p, void *u)
{
    fdu *f = u;
    double v;
    f->n->frozen = 1;
    if (f->pt < 0) {
        double save[NBF * 3 * RES * RES];
        memcpy(save, f->n->x, sizeof save);
        memcpy(f->n->x, p, sizeof save);
        v = f->r1 ? r1_value(f->n, f->th) : forward(f->n, f->th);
        memcpy(f->n->x, save, sizeof save);
        f->n->frozen = 0;
        return v;
    }
    const ptab *t = &P[f->pt];
    double *save = malloc((size_t)t->n * sizeof *save);
    ck_assert(save);
    memcpy(save, f->th + t->off, (size_t)t->n * sizeof *save);
    memcpy(f->th + t->off, p, (size_t)t->n * sizeof *save);
    v = f->r1 ? r1_value(f->n, f->th) : forward(f->n, f->th);
    memcpy(f->th + t->off, save, (size_t)t->n * sizeof *save);
    free(save);
    f->n->frozen = 0;
    return v;
}

/* Fourth-order central difference of f at p along v (length k):
 * [8(f(p+hv) − f(p−hv)) − (f(p+2hv) − f(p−2hv))] / 12h.  Truncation O(h⁴):
 * the plain two-point rule's O(h²) term is large here because the mbstd
 * std of a group of two has curvature ~1/s_e² where two clips nearly agree.
 * *fs gets max |f| over the four points (for the round-off bound). */
static double fd5(fdu *u, const double *p, const double *v, int64_t k, double h, double *fs)
{
    double *q = malloc((size_t)k * sizeof *q), f[4];
    ck_assert(q);
    const double st[4] = {h, -h, 2 * h, -2 * h};
    *fs = 0;
    for (int j = 0; j < 4; j++) {
        for (int64_t i = 0; i < k; i++)
            q[i] = p[i] + st[j] * v[i];
        f[j] = fd_eval(q, u);
        *fs = fmax(*fs, fabs(f[j]));
    }
    free(q);
    return (8 * (f[0] - f[1]) - (f[2] - f[3])) / (12 * h);
}

/* Normalised error of an analytic directional derivative `an` against the
 * fd5 value `num`: ≤ 1 passes.  Allowed: FD_TOL relative, plus the round-off
 * bound of the stencil, 1.5·FD_ULPS·ε·max|f| / h.  The floor matters only for
 * directions whose derivative is ~1e-6·|f| or smaller: the biases, which
 * reach R only through the mbstd nonlinearity (the rest of D is piecewise
 * linear in x, so g does not depend on them otherwise). */
static double fd_nerr(double num, double an, double fs, double h, double *rel)
{
    const double sc = fmax(fabs(num), fabs(an)), noise = 1.5 * FD_ULPS * DBL_EPSILON * fs / h;
    /* plain relative error, reported where round-off does not dominate */
    if (rel && FD_TOL * sc >= noise)
        *rel = fmax(*rel, fabs(num - an) / sc);
    return fabs(num - an) / fmax(FD_TOL * sc + noise, 1e-300);
}

/* Worst normalised error of `grad` over `dirs` random unit directions
 * (fd5), without asserting; *rel gets the worst plain relative error of the
 * directions where round-off does not dominate. */
static double fd_dir_err(fdu *u, const double *p, const double *grad, int64_t k, int dirs, uint64_t seed, double *rel)
{
    tu_rng r;
    tu_seed(&r, seed);
    double *v = malloc((size_t)k * sizeof *v), worst = 0;
    ck_assert(v);
    *rel = 0;
    for (int d = 0; d < dirs; d++) {
        double vn = 0, an = 0, fs;
        for (int64_t i = 0; i < k; i++) {
            v[i] = tu_normal(&r);
            vn += v[i] * v[i];
        }
        vn = sqrt(vn);
        for (int64_t i = 0; i < k; i++) {
            v[i] /= vn;
            an += grad[i] * v[i];
        }
        const double num = fd5(u, p, v, k, FD_H, &fs);
        worst = fmax(worst, fd_nerr(num, an, fs, FD_H, rel));
    }
    free(v);
    return worst;
}

typedef struct fdres {
    double nerr, rel; /* worst normalised error (≤ 1 passes); worst plain relative error where round-off does
                         not dominate (random directions and the largest coordinate) */
} fdres;

/* Check a gradient g of the scalar in u at p (length k) by central
 * differences:
 *  - tu_gradcheck (two-point rule, h = FD_H2, tolerance FD_TOL2), 2 directions;
 *  - fd5 along 2 random unit directions;
 *  - fd5 along 3 coordinates: the largest |g_i|, the first and the middle one
 *    (the latter two with an extra floor of 1e-3·max|g|);
 * fd5 checks to FD_TOL relative (fd_nerr). */
static fdres check_grad(fdu *u, const double *p, const double *g, int64_t k, const char *what, uint64_t seed)
{
    tu_gradcheck(what, fd_eval, u, p, g, (size_t)k, 2, FD_H2, FD_TOL2, seed);
    fdres r;
    r.nerr = fd_dir_err(u, p, g, k, 2, seed + 1, &r.rel);
    ck_assert_msg(r.nerr <= 1, "%s: fourth-order central difference along a random direction: rel err %.3g (tol %.0e)",
                  what, r.rel, FD_TOL);
    int64_t im = 0;
    for (int64_t i = 1; i < k; i++)
        if (fabs(g[i]) > fabs(g[im]))
            im = i;
    ck_assert_msg(fabs(g[im]) > 0, "%s: gradient is identically zero", what);
    double *e = calloc((size_t)k, sizeof *e);
    ck_assert(e);
    const int64_t idx[3] = {im, 0, k / 2};
    for (int j = 0; j < 3; j++) {
        double fs;
        e[idx[j]] = 1;
        const double num = fd5(u, p, e, k, FD_H, &fs), an = g[idx[j]];
        e[idx[j]] = 0;
        const double ne =
            fmin(fd_nerr(num, an, fs, FD_H, j == 0 ? &r.rel : NULL), fabs(num - an) / (FD_TOL * 1e-3 * fabs(g[im])));
        ck_assert_msg(ne <= 1, "%s[%lld]: analytic %.12g vs central difference %.12g (rel %.3g, tol %.0e)", what,
                      (long long)idx[j], an, num, fabs(num - an) / fmax(fabs(num), fabs(an)), FD_TOL);
        r.nerr = fmax(r.nerr, ne);
    }
    free(e);
    return r;
}

static double norm2(const double *a, int64_t k)
{
    double s = 0;
    for (int64_t i = 0; i < k; i++)
        s += a[i] * a[i];
    return sqrt(s);
}

/* Smallest distance (in pre-activation units) of any bias_act input to a
 * kink of its piecewise-linear function (lrelu at 0, clamp at ±c), and the
 * number of clamped outputs per conv layer. */
static double kink_margin(net *n, const double *th, int64_t nclamped[NL])
{
    double m = INFINITY;
    for (int l = 0; l < NL; l++) {
        nclamped[l] = 0;
        const convl *L = &LAYERS[l];
        sv_bias_act_params bp = ba_params(n, L);
        const int64_t hw = conv_out_hw(L);
        for (int64_t i = 0; i < L->N * L->cout * hw; i++) {
            const int64_t c = (i / hw) % L->cout;
            const double v = n->pre[l][i] + (L->bi >= 0 ? th[P[L->bi].off + c] : 0.0);
            const double slope = (L->act == SV_ACT_LRELU && !(v > 0)) ? (double)bp.alpha : 1.0;
            if (L->act == SV_ACT_LRELU)
                m = fmin(m, fabs(v));
            if (bp.clamp >= 0) {
                const double u = v * slope * (double)bp.gain;
                m = fmin(m, fabs(fabs(u) - (double)bp.clamp) / (slope * (double)bp.gain));
                nclamped[l] += fabs(u) >= (double)bp.clamp;
            }
        }
    }
    /* FC lrelu layers (no clamp): |v| = |y| / (gain·slope) */
    const int64_t nfc = NB * NFC, ncm = NB * CM;
    for (int64_t i = 0; i < nfc; i++)
        m = fmin(m, fabs(n->a[A_FC][i]) / (SQRT2 * (n->a[A_FC][i] > 0 ? 1.0 : 0.2)));
    for (int64_t i = 0; i < ncm; i++)
        m = fmin(m, fabs(n->a[A_CM][i]) / (SQRT2 * (n->a[A_CM][i] > 0 ? 1.0 : 0.2)));
    return m;
}

/* Check ∂R/∂θ (r1 = 1) or ∂(Σ logit)/∂θ (r1 = 0) against central
 * differences for every parameter tensor (check_grad). */
static void check_param_grads(net *n, double *th, const double *grad, int r1, const char *tag)
{
    fdres worst = {0, 0};
    int wn = 0, wr = 0;
    for (int pt = 0; pt < NPT; pt++) {
        const ptab *t = &P[pt];
        fdu u = {n, th, pt, r1};
        char what[160];
        snprintf(what, sizeof what, "%s %s %s", tag, r1 ? "∂R1/∂" : "∂ΣD/∂", t->name);
        if (r1 && (pt == P_EP_B || pt == P_FC_B || pt == P_OUT_B)) {
            /* Biases after the last x-nonlinearity (mbstd): with the masks
             * fixed, D is affine in them with an x-independent slope, so g
             * and R do not depend on them: ∂R/∂b is exactly zero. */
            const double *g = grad + t->off;
            for (int64_t i = 0; i < t->n; i++)
                ck_assert_msg(g[i] == 0.0, "%s[%lld] = %g, must be exactly 0", what, (long long)i, g[i]);
            double rel, ne = fd_dir_err(&u, th + t->off, g, t->n, 2, 1000 + 10 * (uint64_t)pt, &rel);
            ck_assert_msg(ne <= 1, "%s: central difference of R is not zero (%g of allowed)", what, ne);
            continue;
        }
        const fdres e = check_grad(&u, th + t->off, grad + t->off, t->n, what, 1000 + 10 * (uint64_t)pt);
        if (e.nerr > worst.nerr) {
            worst.nerr = e.nerr;
            wn = pt;
        }
        if (e.rel > worst.rel) {
            worst.rel = e.rel;
            wr = pt;
        }
    }
    fprintf(stderr,
            "  %-10s %s: %d tensors, %lld parameters: worst error %.2f of allowed (%s), worst rel err %.2e (%s)%s\n",
            tag, r1 ? "∂R1/∂θ" : "∂ΣD/∂θ", NPT, (long long)NPAR, worst.nerr, P[wn].name, worst.rel, P[wr].name,
            r1 ? "; b4.conv/fc/out biases exactly 0" : "");
}

static void setup_model(net *n, double **th, uint64_t seed, double clamp, const char *tag)
{
    *th = net_init(n, seed, clamp, 0.75);
    double sd = forward(n, *th);
    int64_t nc[NL];
    double m = kink_margin(n, *th, nc);
    char buf[256];
    int k = 0;
    for (int l = 0; l < NL; l++) {
        const convl *L = &LAYERS[l];
        const int64_t tot = L->N * L->cout * conv_out_hw(L);
        if (L->clamp_mul < 0 || clamp < 0) {
            ck_assert_int_eq(nc[l], 0);
            continue;
        }
        /* every clamped layer: some, not all, outputs on the clamp */
        ck_assert_msg(nc[l] > 0 && nc[l] < tot / 2, "%s: layer %d has %lld of %lld clamped", tag, l,
                      (long long)nc[l], (long long)tot);
        k += snprintf(buf + k, sizeof buf - (size_t)k, " %lld/%lld", (long long)nc[l], (long long)tot);
    }
    fprintf(stderr, "  %-10s clamp %g: Σ logit %.6f, kink margin %.3g%s%s\n", tag, clamp, sd, m,
            clamp >= 0 ? ", clamped per layer (fromrgb, b16.conv0, b16.conv1, b8.conv0, b8.conv1, b4.conv):" : "",
            clamp >= 0 ? buf : "");
    /* R is differentiable at θ (no pre-activation on a kink) */
    ck_assert_msg(m > 1e-9, "%s: a pre-activation is %.3g from a kink: pick another seed", tag, m);
    /* freeze the activation pieces at θ; the frozen network must reproduce
     * the reference forward, Σ logit and R there */
    const double R = r1_value(n, *th);
    for (int i = 0; i < NA; i++)
        memcpy(n->y0[i], n->a[i], (size_t)n->asz[i] * sizeof(double));
    n->frozen = 1;
    const double sdf = forward(n, *th);
    double worst = 0;
    for (int i = 0; i < NA; i++)
        worst = fmax(worst, tu_rel_l2(n->a[i], n->y0[i], (size_t)n->asz[i]));
    const double Rf = r1_value(n, *th);
    n->frozen = 0;
    ck_assert_msg(worst < 1e-14 && fabs(sdf - sd) <= 1e-14 * fabs(sd) && fabs(Rf - R) <= 1e-14 * R,
                  "%s: frozen-piece network differs from the reference at θ: act %g, ΣD %.17g vs %.17g, R %.17g vs "
                  "%.17g", tag, worst, sdf, sd, Rf, R);
}

/* ---- tests ------------------------------------------------------------- */

#define SEED_FREE 40
#define SEED_CLAMP 37
#define CLAMP_ON 0.9

/* ∂(Σ logit)/∂x and ∂(Σ logit)/∂θ: the ordinary backward everything builds on. */
static void first_order(uint64_t seed, double clamp, const char *tag)
{
    net n;
    double *th;
    setup_model(&n, &th, seed, clamp, tag);
    double *gth = calloc((size_t)NPAR, sizeof *gth), *gx = malloc(sizeof n.x);
    ck_assert(gth && gx);
    forward(&n, th);
    backward(&n, th, 0, 0.0, gth);
    memcpy(gx, n.ga[A_X], sizeof n.x);
    const int64_t nx = n.asz[A_X];
    fdu u = {&n, th, -1, 0};
    char what[96];
    snprintf(what, sizeof what, "%s ∂ΣD/∂x", tag);
    const fdres e = check_grad(&u, n.x, gx, nx, what, 77);
    /* every frame of every clip receives gradient */
    const int64_t per = nx / NBF;
    for (int f = 0; f < NBF; f++)
        ck_assert_msg(norm2(gx + f * per, per) > 0, "%s: frame %d gets no gradient", what, f);
    fprintf(stderr, "  %-10s ∂ΣD/∂x: ‖g‖ = %.6g, worst error %.2f of allowed, worst rel err %.2e\n", tag,
            norm2(gx, nx), e.nerr, e.rel);
    check_param_grads(&n, th, gth, 0, tag);
    free(gth);
    free(gx);
    free(th);
    net_free(&n);
}

START_TEST(t_sumd_grad_free) { first_order(SEED_FREE, -1.0, "no clamp"); }
END_TEST

START_TEST(t_sumd_grad_clamped) { first_order(SEED_CLAMP, CLAMP_ON, "clamped"); }
END_TEST

static void r1_check(uint64_t seed, double clamp, const char *tag)
{
    net n;
    double *th;
    setup_model(&n, &th, seed, clamp, tag);
    double *gth = malloc((size_t)NPAR * sizeof *gth);
    ck_assert(gth);
    double R = r1_grad(&n, th, n.gamma / (double)NBF, 1.0, gth);
    fprintf(stderr, "  %-10s R1 = %.10g (γ = %g), ‖∂R1/∂θ‖ = %.6g\n", tag, R, n.gamma, norm2(gth, NPAR));
    ck_assert(R > 0 && isfinite(R));
    check_param_grads(&n, th, gth, 1, tag);
    free(gth);
    free(th);
    net_free(&n);
}

START_TEST(t_r1_free) { r1_check(SEED_FREE, -1.0, "no clamp"); }
END_TEST

START_TEST(t_r1_clamped) { r1_check(SEED_CLAMP, CLAMP_ON, "clamped"); }
END_TEST

/* The result depends only on s·σ: ẋ = (γ/(B·F))·g with seed 1 (the brief),
 * ẋ = c⊙g with c = 1/(B·F) and seed γ (ops.h), and an extreme split agree. */
START_TEST(t_r1_scaling)
{
    net n;
    double *th;
    setup_model(&n, &th, SEED_CLAMP, CLAMP_ON, "scaling");
    double *g1 = malloc((size_t)NPAR * sizeof *g1), *g2 = malloc((size_t)NPAR * sizeof *g2);
    double *g3 = malloc((size_t)NPAR * sizeof *g3);
    ck_assert(g1 && g2 && g3);
    const double c = 1.0 / (double)NBF;
    r1_grad(&n, th, n.gamma * c, 1.0, g1);
    r1_grad(&n, th, c, n.gamma, g2);
    r1_grad(&n, th, 1e4 * n.gamma * c, 1e-4, g3);
    const double e2 = tu_rel_l2(g2, g1, (size_t)NPAR), e3 = tu_rel_l2(g3, g1, (size_t)NPAR);
    /* and doubling s·σ doubles the gradient */
    r1_grad(&n, th, 2 * n.gamma * c, 1.0, g3);
    for (int64_t i = 0; i < NPAR; i++)
        g3[i] *= 0.5;
    const double e4 = tu_rel_l2(g3, g1, (size_t)NPAR);
    fprintf(stderr, "  scaling: rel L2 (ẋ=c·g, σ=γ) %.2e, (ẋ=1e4·γc·g, σ=1e-4) %.2e, (2γc)/2 %.2e\n", e2, e3, e4);
    ck_assert_msg(e2 < 1e-13 && e3 < 1e-12 && e4 < 1e-13, "R1 gradient depends on the tangent/seed split: %g %g %g",
                  e2, e3, e4);
    free(g1);
    free(g2);
    free(g3);
    free(th);
    net_free(&n);
}
END_TEST

/* Each deliberate mistake must be caught by central differences of R. */
START_TEST(t_r1_mutations)
{
    net n;
    double *th;
    setup_model(&n, &th, SEED_CLAMP, CLAMP_ON, "mutations");
    double *g = malloc((size_t)NPAR * sizeof *g);
    ck_assert(g);
    for (int mut = 0; mut < NMUT; mut++) {
        n.mut = mut;
        r1_grad(&n, th, n.gamma / (double)NBF, 1.0, g);
        n.mut = MUT_NONE; /* R itself (the central differences) is always exact */
        double worst = 0, wrel = 0;
        int wt = 0;
        for (int pt = 0; pt < NPT; pt++) {
            fdu u = {&n, th, pt, 1};
            double rel, e = fd_dir_err(&u, th + P[pt].off, g + P[pt].off, P[pt].n, 1, 3000 + (uint64_t)pt, &rel);
            wrel = fmax(wrel, rel);
            if (e > worst) {
                worst = e;
                wt = pt;
            }
        }
        fprintf(stderr, "  mutation %-32s worst error %9.3g × allowed (%s); worst rel err %.2e\n", MUT_NAME[mut],
                worst, P[wt].name, wrel);
        if (mut == MUT_NONE)
            ck_assert_msg(worst <= 1, "unmutated R1 gradient: %g of allowed", worst);
        else
            ck_assert_msg(worst > MUT_MIN, "mutation '%s' is not detected (worst error %g × allowed)", MUT_NAME[mut],
                          worst);
    }
    free(g);
    free(th);
    net_free(&n);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("r1_host");
    TCase *tc = tcase(s, "first_order");
    tcase_add_test(tc, t_sumd_grad_free);
    tcase_add_test(tc, t_sumd_grad_clamped);
    tc = tcase(s, "r1");
    tcase_add_test(tc, t_r1_free);
    tcase_add_test(tc, t_r1_clamped);
    tc = tcase(s, "scaling");
    tcase_add_test(tc, t_r1_scaling);
    tc = tcase(s, "mutations");
    tcase_add_test(tc, t_r1_mutations);
    return tu_main(s, 0);
}
