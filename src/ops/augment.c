/* augment: ADA "bgc" parameters (host), device pipeline and its adjoint,
 * float64 host references, adaptive p.  See include/svgan/ops/augment.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "augment.cl";

/* sym6 wavelet low-pass decomposition filter (12 taps), as listed by
 * PyWavelets / StyleGAN2-ADA; normalised to sum 1 before use. */
static const double SYM6[12] = {
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466,   0.787641141030194,     0.3379294217276218,   -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578,  0.0017677118642428036, -0.007800708325034148};
#define NTAPS 12
#define HZ_PAD 3 /* = NTAPS / 4 */
#define PCLIP 32 /* floats per clip in the parameter buffer (must match cl/augment.cl) */
#define POFF 32

sv_augment_cfg sv_augment_bgc(void)
{
    sv_augment_cfg c;
    memset(&c, 0, sizeof c);
    c.xflip = c.rotate90 = c.xint = 1;
    c.xint_max = 0.125;
    c.scale = c.rotate = c.aniso = c.xfrac = 1;
    c.scale_std = 0.2;
    c.rotate_max = 1;
    c.aniso_std = 0.2;
    c.xfrac_std = 0.125;
    c.brightness = c.contrast = c.lumaflip = c.hue = c.saturation = 1;
    c.brightness_std = 0.2;
    c.contrast_std = 0.5;
    c.hue_max = 1;
    c.saturation_std = 1;
    return c;
}

/* ---- matrices ----------------------------------------------------------------- */

static void mul3(const double *a, const double *b, double *out)
{
    double t[9];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            t[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
    memcpy(out, t, sizeof t);
}

static void mul4(const double *a, const double *b, double *out)
{
    double t[16];
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += a[r * 4 + k] * b[k * 4 + c];
            t[r * 4 + c] = s;
        }
    memcpy(out, t, sizeof t);
}

static void eye3(double *m)
{
    memset(m, 0, 9 * sizeof *m);
    m[0] = m[4] = m[8] = 1;
}
static void eye4(double *m)
{
    memset(m, 0, 16 * sizeof *m);
    m[0] = m[5] = m[10] = m[15] = 1;
}
static void scale2(double sx, double sy, double *m)
{
    eye3(m);
    m[0] = sx;
    m[4] = sy;
}
static void trans2(double tx, double ty, double *m)
{
    eye3(m);
    m[2] = tx;
    m[5] = ty;
}
static void rot2cs(double c, double s, double *m)
{
    eye3(m);
    m[0] = c;
    m[1] = -s;
    m[3] = s;
    m[4] = c;
}
static void rmul3(double *G, const double *f) { mul3(G, f, G); } /* G ← G·f */
static void lmul4(double *C, const double *f) { mul4(f, C, C); } /* C ← f·C */

/* ---- parameter draw ------------------------------------------------------------ */

int sv_augment_draw(const sv_augment_cfg *cfg, double p, int64_t B, int H, int W, uint64_t seed,
                    uint64_t stream, sv_augment_clip *out, sv_err *e)
{
    sv_augment_cfg bgc = sv_augment_bgc();
    const sv_augment_cfg *c = cfg ? cfg : &bgc;
    if (!(p >= 0) || !isfinite(p))
        return sv_seterr(e, SV_ERR_INVALID, "augment: probability p must be finite and >= 0, got %g", p);
    if (B < 1 || !out || H < 1 || W < 1)
        return sv_seterr(e, SV_ERR_INVALID, "augment: need B >= 1 clips, an image size and an output array");
    const double pi = 3.14159265358979323846;
    const double v[4] = {1 / sqrt(3.0), 1 / sqrt(3.0), 1 / sqrt(3.0), 0};
    double vv[16], I4[16];
    eye4(I4);
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < 4; k++)
            vv[r * 4 + k] = v[r] * v[k];
    double prot_base = 1 - c->rotate * p;
    prot_base = prot_base < 0 ? 0 : (prot_base > 1 ? 1 : prot_base);
    const double p_rot = 1 - sqrt(prot_base);
    for (int64_t b = 0; b < B; b++) {
        double U[24], N[8], f[16];
        sv_rng_uniform_f64(seed, stream, (uint64_t)b * 32, 24, U);
        sv_rng_normal_f64(seed, stream, (uint64_t)b * 32 + 24, 8, N);
        sv_augment_clip *o = &out[b];
        memset(o, 0, sizeof *o);
        unsigned fired = 0;
        double *G = o->G, *C = o->C;
        eye3(G);
        if (c->xflip > 0 && U[1] < c->xflip * p) {
            scale2(1 - 2 * floor(U[0] * 2), 1, f);
            rmul3(G, f);
            fired |= SV_AUG_XFLIP;
        }
        if (c->rotate90 > 0 && U[3] < c->rotate90 * p) {
            static const double cs[4][2] = {{1, 0}, {0, 1}, {-1, 0}, {0, -1}}; /* rot(+π/2·i), exact */
            int i = (int)floor(U[2] * 4) & 3;
            rot2cs(cs[i][0], cs[i][1], f);
            rmul3(G, f);
            fired |= SV_AUG_ROT90;
        }
        if (c->xint > 0 && U[6] < c->xint * p) {
            double tx = (U[4] * 2 - 1) * c->xint_max, ty = (U[5] * 2 - 1) * c->xint_max;
            trans2(-rint(tx * W), -rint(ty * H), f);
            rmul3(G, f);
            fired |= SV_AUG_XINT;
        }
        if (c->scale > 0 && U[7] < c->scale * p) {
            double s = exp2(N[0] * c->scale_std);
            scale2(1 / s, 1 / s, f);
            rmul3(G, f);
            fired |= SV_AUG_SCALE;
        }
        if (c->rotate > 0 && U[9] < p_rot) {
            double th = (U[8] * 2 - 1) * pi * c->rotate_max;
            rot2cs(cos(th), sin(th), f);
            rmul3(G, f);
            fired |= SV_AUG_PREROT;
        }
        if (c->aniso > 0 && U[10] < c->aniso * p) {
            double s = exp2(N[1] * c->aniso_std);
            scale2(1 / s, s, f);
            rmul3(G, f);
            fired |= SV_AUG_ANISO;
        }
        if (c->rotate > 0 && U[12] < p_rot) {
            double th = (U[11] * 2 - 1) * pi * c->rotate_max;
            rot2cs(cos(th), sin(th), f);
            rmul3(G, f);
            fired |= SV_AUG_POSTROT;
        }
        if (c->xfrac > 0 && U[13] < c->xfrac * p) {
            trans2(-N[2] * c->xfrac_std * W, -N[3] * c->xfrac_std * H, f);
            rmul3(G, f);
            fired |= SV_AUG_XFRAC;
        }
        eye4(C);
        if (c->brightness > 0 && U[14] < c->brightness * p) {
            double bb = N[4] * c->brightness_std;
            eye4(f);
            f[3] = f[7] = f[11] = bb;
            lmul4(C, f);
            fired |= SV_AUG_BRIGHTNESS;
        }
        if (c->contrast > 0 && U[15] < c->contrast * p) {
            double cc = exp2(N[5] * c->contrast_std);
            eye4(f);
            f[0] = f[5] = f[10] = cc;
            lmul4(C, f);
            fired |= SV_AUG_CONTRAST;
        }
        if (c->lumaflip > 0 && U[17] < c->lumaflip * p) {
            double i = floor(U[16] * 2);
            for (int k = 0; k < 16; k++)
                f[k] = I4[k] - 2 * vv[k] * i;
            lmul4(C, f);
            fired |= SV_AUG_LUMAFLIP;
        }
        if (c->hue > 0 && U[19] < c->hue * p) {
            double th = (U[18] * 2 - 1) * pi * c->hue_max;
            double sn = sin(th), cs = cos(th), cc = 1 - cs, x = v[0], y = v[1], z = v[2];
            const double r[16] = {x * x * cc + cs,     x * y * cc - z * sn, x * z * cc + y * sn, 0,
                                  y * x * cc + z * sn, y * y * cc + cs,     y * z * cc - x * sn, 0,
                                  z * x * cc - y * sn, z * y * cc + x * sn, z * z * cc + cs,     0,
                                  0,                   0,                   0,                   1};
            lmul4(C, r);
            fired |= SV_AUG_HUE;
        }
        if (c->saturation > 0 && U[20] < c->saturation * p) {
            double s = exp2(N[6] * c->saturation_std);
            for (int k = 0; k < 16; k++)
                f[k] = vv[k] + (I4[k] - vv[k]) * s;
            lmul4(C, f);
            fired |= SV_AUG_SATURATION;
        }
        o->fired = fired;
    }
    return SV_OK;
}

/* ---- geometry ------------------------------------------------------------------ */

/* ceil, but a value within 1e-9 of an integer is that integer */
static int ceil_tol(double x)
{
    double r = rint(x);
    return fabs(x - r) <= 1e-9 ? (int)r : (int)ceil(x);
}

int sv_augment_geometry(const sv_augment_clip *clips, int64_t B, int H, int W, sv_augment_geom *g, double *A,
                        sv_err *e)
{
    if (!clips || B < 1 || H < 1 || W < 1 || !g)
        return sv_seterr(e, SV_ERR_INVALID, "augment: geometry needs B >= 1 clips and H, W >= 1");
    const double cx = (W - 1) / 2.0, cy = (H - 1) / 2.0;
    double m[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (int64_t b = 0; b < B; b++) {
        const double *G = clips[b].G;
        for (int k = 0; k < 9; k++)
            if (!isfinite(G[k]))
                return sv_seterr(e, SV_ERR_INVALID, "augment: clip %lld has a non-finite transform", (long long)b);
        if (fabs(G[0] * G[4] - G[1] * G[3]) < 1e-12 || G[6] != 0 || G[7] != 0 || G[8] != 1)
            return sv_seterr(e, SV_ERR_INVALID, "augment: clip %lld has a singular or non-affine transform",
                             (long long)b);
        static const double sgn[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
        for (int k = 0; k < 4; k++) {
            double x = sgn[k][0] * cx, y = sgn[k][1] * cy;
            double X = G[0] * x + G[1] * y + G[2], Y = G[3] * x + G[4] * y + G[5];
            m[0] = fmax(m[0], -X);
            m[1] = fmax(m[1], -Y);
            m[2] = fmax(m[2], X);
            m[3] = fmax(m[3], Y);
        }
    }
    const double add[4] = {2 * HZ_PAD - cx, 2 * HZ_PAD - cy, 2 * HZ_PAD - cx, 2 * HZ_PAD - cy};
    const double hi[4] = {W - 1, H - 1, W - 1, H - 1};
    int mi[4];
    for (int k = 0; k < 4; k++) {
        double v = fmin(fmax(m[k] + add[k], 0.0), hi[k]);
        mi[k] = ceil_tol(v);
    }
    g->H = H;
    g->W = W;
    g->mx0 = mi[0];
    g->my0 = mi[1];
    g->mx1 = mi[2];
    g->my1 = mi[3];
    g->Hp = H + mi[1] + mi[3];
    g->Wp = W + mi[0] + mi[2];
    g->Hu = 2 * g->Hp;
    g->Wu = 2 * g->Wp;
    g->Hs = 2 * (H + 2 * HZ_PAD);
    g->Ws = 2 * (W + 2 * HZ_PAD);
    if (!A)
        return SV_OK;
    double Tp[9], S2[9], Sh[9], Tm[9], Tq[9];
    trans2((mi[0] - mi[2]) / 2.0, (mi[1] - mi[3]) / 2.0, Tp);
    scale2(2, 2, S2);
    scale2(0.5, 0.5, Sh);
    trans2(-0.5, -0.5, Tm);
    trans2(0.5, 0.5, Tq);
    const double cxs = (g->Ws - 1) / 2.0, cys = (g->Hs - 1) / 2.0, cxu = (g->Wu - 1) / 2.0,
                 cyu = (g->Hu - 1) / 2.0;
    for (int64_t b = 0; b < B; b++) {
        double M[9];
        mul3(Tp, clips[b].G, M);
        mul3(S2, M, M);
        mul3(M, Sh, M);
        mul3(Tm, M, M);
        mul3(M, Tq, M);
        double *a = A + 6 * b;
        a[0] = M[0];
        a[1] = M[1];
        a[2] = M[2] + cxu - M[0] * cxs - M[1] * cys;
        a[3] = M[3];
        a[4] = M[4];
        a[5] = M[5] + cyu - M[3] * cxs - M[4] * cys;
    }
    return SV_OK;
}

/* ---- plan ---------------------------------------------------------------------- */

struct sv_augment_plan {
    sv_ctx *ctx;
    int64_t B, F;
    sv_augment_geom g;
    sv_augment_clip *clips;
    sv_tensor P; /* [POFF + PCLIP·B] */
    int64_t chunk; /* clips per chunk, 0 = automatic */
};

/* Filter taps as the official code uses them (float32, normalised to sum 1):
 * up = flipped ×2 (convolution, gain 4 in 2-D), down = as is (flip_filter). */
static void taps(double *up, double *down)
{
    double s = 0;
    for (int j = 0; j < NTAPS; j++)
        s += SYM6[j];
    for (int j = 0; j < NTAPS; j++) {
        down[j] = SYM6[j] / s;
        up[NTAPS - 1 - j] = 2 * SYM6[j] / s;
    }
}

int sv_augment_plan_new(sv_ctx *ctx, const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W,
                        sv_augment_plan **out)
{
    *out = NULL;
    sv_err *e = sv_ctx_err(ctx);
    if (F < 1)
        return sv_seterr(e, SV_ERR_INVALID, "augment: frames per clip must be >= 1");
    sv_augment_geom g;
    double *A = malloc((size_t)(B > 0 ? B : 1) * 6 * sizeof *A);
    float *hp = calloc((size_t)(POFF + PCLIP * (B > 0 ? B : 1)), sizeof *hp);
    sv_augment_plan *pl = calloc(1, sizeof *pl);
    if (!A || !hp || !pl) {
        free(A);
        free(hp);
        free(pl);
        return sv_seterr(e, SV_ERR_NOMEM, "augment: out of host memory");
    }
    int rc = sv_augment_geometry(clips, B, H, W, &g, A, e);
    if (!rc) {
        double up[NTAPS], down[NTAPS];
        taps(up, down);
        for (int j = 0; j < NTAPS; j++) {
            hp[j] = (float)up[j];
            hp[12 + j] = (float)down[j];
        }
        for (int64_t b = 0; b < B; b++) {
            float *q = hp + POFF + PCLIP * b;
            const double *a = A + 6 * b;
            double det = a[0] * a[4] - a[1] * a[3];
            double i00 = a[4] / det, i01 = -a[1] / det, i10 = -a[3] / det, i11 = a[0] / det;
            const double v[14] = {a[0], a[1], a[2], a[3], a[4], a[5], i00, i01, 0, i10, i11, 0,
                                  fabs(i00) + fabs(i01), fabs(i10) + fabs(i11)};
            for (int k = 0; k < 14; k++)
                q[k] = (float)v[k];
            for (int r = 0; r < 3; r++)
                for (int k = 0; k < 4; k++)
                    q[14 + 4 * r + k] = (float)clips[b].C[4 * r + k];
        }
        pl->clips = malloc((size_t)B * sizeof *pl->clips);
        if (!pl->clips)
            rc = sv_seterr(e, SV_ERR_NOMEM, "augment: out of host memory");
    }
    if (!rc) {
        memcpy(pl->clips, clips, (size_t)B * sizeof *clips);
        rc = sv_tensor_newv(ctx, &pl->P, 1, (int64_t)(POFF + PCLIP * B));
    }
    if (!rc)
        rc = sv_tensor_write(&pl->P, hp, (size_t)(POFF + PCLIP * B));
    free(A);
    free(hp);
    if (rc) {
        sv_augment_plan_free(pl);
        return rc;
    }
    pl->ctx = ctx;
    pl->B = B;
    pl->F = F;
    pl->g = g;
    *out = pl;
    return SV_OK;
}

void sv_augment_plan_free(sv_augment_plan *plan)
{
    if (!plan)
        return;
    sv_tensor_free(&plan->P);
    free(plan->clips);
    free(plan);
}

int64_t sv_augment_plan_clips(const sv_augment_plan *plan) { return plan->B; }
void sv_augment_plan_set_chunk(sv_augment_plan *plan, int64_t clips) { plan->chunk = clips > 0 ? clips : 0; }
int64_t sv_augment_plan_frames(const sv_augment_plan *plan) { return plan->F; }
const sv_augment_clip *sv_augment_plan_clip(const sv_augment_plan *plan, int64_t b)
{
    return b >= 0 && b < plan->B ? &plan->clips[b] : NULL;
}
const sv_augment_geom *sv_augment_plan_geom(const sv_augment_plan *plan) { return &plan->g; }

/* ---- device launchers ---------------------------------------------------------- */

static int pad_launch(sv_ctx *ctx, int adj, const sv_tensor *in, sv_tensor *out, int64_t O, int L, int Lp, int I,
                      int m0, int m1)
{
    const char *kname = adj ? "aug_pad_adj" : "aug_pad_fwd";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, in);
    sv_arg_tensor(&a, out);
    sv_arg_long(&a, O);
    sv_arg_int(&a, L);
    sv_arg_int(&a, Lp);
    sv_arg_int(&a, I);
    sv_arg_int(&a, m0);
    if (adj)
        sv_arg_int(&a, m1);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(O * (adj ? L : Lp) * I), kname);
}

/* FIR stage: taps at P[tap0..], Lin → Lout along the axis. */
static int fir_launch(sv_ctx *ctx, int adj, const sv_augment_plan *pl, const sv_tensor *in, sv_tensor *out,
                      int tap0, int up, int down, int pad0, int64_t O, int Lin, int Lout, int I)
{
    const char *kname = adj ? "aug_fir_adj" : "aug_fir_fwd";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, in);
    sv_arg_tensor(&a, out);
    sv_arg_tensor(&a, &pl->P);
    sv_arg_int(&a, tap0);
    sv_arg_int(&a, NTAPS);
    sv_arg_int(&a, up);
    sv_arg_int(&a, down);
    sv_arg_int(&a, pad0);
    sv_arg_long(&a, O);
    sv_arg_int(&a, Lin);
    sv_arg_int(&a, Lout);
    sv_arg_int(&a, I);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(O * (adj ? Lin : Lout) * I), kname);
}

static int grid_launch(sv_ctx *ctx, int adj, const sv_augment_plan *pl, const sv_tensor *in, sv_tensor *out,
                       int64_t NC, int64_t clip0)
{
    const sv_augment_geom *g = &pl->g;
    const char *kname = adj ? "aug_grid_adj" : "aug_grid_fwd";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, in);
    sv_arg_tensor(&a, out);
    sv_arg_tensor(&a, &pl->P);
    sv_arg_long(&a, NC);
    sv_arg_int(&a, 3);
    sv_arg_int(&a, (int)pl->F);
    sv_arg_int(&a, g->Hu);
    sv_arg_int(&a, g->Wu);
    sv_arg_int(&a, g->Hs);
    sv_arg_int(&a, g->Ws);
    sv_arg_int(&a, (int)clip0);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(NC * (adj ? (int64_t)g->Hu * g->Wu : (int64_t)g->Hs * g->Ws)), kname);
}

static int color_launch(sv_ctx *ctx, const sv_augment_plan *pl, const sv_tensor *in, sv_tensor *out, int64_t N,
                        int bias, int transpose, int64_t clip0)
{
    const char *kname = "aug_color";
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, kname);
    sv_arg_tensor(&a, in);
    sv_arg_tensor(&a, out);
    sv_arg_tensor(&a, &pl->P);
    sv_arg_long(&a, N);
    sv_arg_int(&a, (int)pl->F);
    sv_arg_long(&a, (int64_t)pl->g.H * pl->g.W);
    sv_arg_int(&a, bias);
    sv_arg_int(&a, transpose);
    sv_arg_int(&a, (int)clip0);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(N * pl->g.H * pl->g.W), kname);
}

static int check_io(sv_ctx *ctx, const sv_augment_plan *pl, const char *what, const sv_tensor *a,
                    const sv_tensor *b)
{
    if (!pl)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: no plan", what);
    const int64_t s[4] = {pl->B * pl->F, 3, pl->g.H, pl->g.W};
    SV_TRY(sv_check_shape(a, what, 4, s));
    SV_TRY(sv_check_shape(b, what, 4, s));
    if (!sv_same_ctx(a, b) || a->ctx != ctx || pl->ctx != ctx)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: tensors or plan from different contexts", what);
    if (a->mem == b->mem && a->off == b->off)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "%s: input and output must not alias", what);
    return SV_OK;
}

enum { T_PADW, T_PADH, T_UPW, T_UPH, T_GRID, T_DNW, T_DNH, T_N };

/* Clips per chunk: the largest temporary (the upsampled image) stays under
 * CHUNK_FLOATS floats (at least one clip). */
#define CHUNK_FLOATS ((int64_t)1 << 27) /* 512 MiB */
static int64_t chunk_clips(const sv_augment_plan *pl)
{
    int64_t per = pl->F * 3 * (int64_t)pl->g.Hu * pl->g.Wu, c = CHUNK_FLOATS / (per > 0 ? per : 1);
    if (pl->chunk > 0)
        c = pl->chunk;
    return c < 1 ? 1 : (c > pl->B ? pl->B : c);
}

static void stage_shapes(const sv_augment_plan *pl, int64_t nclips, int64_t s[T_N][4])
{
    const sv_augment_geom *g = &pl->g;
    const int64_t N = nclips * pl->F;
    const int64_t sh[T_N][2] = {{g->H, g->Wp},  {g->Hp, g->Wp}, {g->Hp, g->Wu}, {g->Hu, g->Wu},
                                {g->Hs, g->Ws}, {g->Hs, g->W},  {g->H, g->W}};
    for (int k = 0; k < T_N; k++) {
        s[k][0] = N;
        s[k][1] = 3;
        s[k][2] = sh[k][0];
        s[k][3] = sh[k][1];
    }
}

/* One chunk of clips [c0, c0 + nc): x, y are views of its frames; t are
 * temporaries of the chunk's stage shapes. */
static int chunk_fwd(sv_ctx *ctx, const sv_augment_plan *pl, const sv_tensor *x, sv_tensor *y, sv_tensor *t,
                     int64_t c0, int64_t nc, int bias)
{
    const sv_augment_geom *g = &pl->g;
    const int64_t N = nc * pl->F, NC = N * 3;
    SV_TRY(pad_launch(ctx, 0, x, &t[T_PADW], NC * g->H, g->W, g->Wp, 1, g->mx0, g->mx1));
    SV_TRY(pad_launch(ctx, 0, &t[T_PADW], &t[T_PADH], NC, g->H, g->Hp, g->Wp, g->my0, g->my1));
    SV_TRY(fir_launch(ctx, 0, pl, &t[T_PADH], &t[T_UPW], 0, 2, 1, 6, NC * g->Hp, g->Wp, g->Wu, 1));
    SV_TRY(fir_launch(ctx, 0, pl, &t[T_UPW], &t[T_UPH], 0, 2, 1, 6, NC, g->Hp, g->Hu, g->Wu));
    SV_TRY(grid_launch(ctx, 0, pl, &t[T_UPH], &t[T_GRID], NC, c0));
    SV_TRY(fir_launch(ctx, 0, pl, &t[T_GRID], &t[T_DNW], 12, 1, 2, -1, NC * g->Hs, g->Ws, g->W, 1));
    SV_TRY(fir_launch(ctx, 0, pl, &t[T_DNW], &t[T_DNH], 12, 1, 2, -1, NC, g->Hs, g->H, g->W));
    return color_launch(ctx, pl, &t[T_DNH], y, N, bias, 0, c0);
}

/* t[k] holds the gradient w.r.t. the output of stage k */
static int chunk_bwd(sv_ctx *ctx, const sv_augment_plan *pl, const sv_tensor *gy, sv_tensor *gx, sv_tensor *t,
                     int64_t c0, int64_t nc)
{
    const sv_augment_geom *g = &pl->g;
    const int64_t N = nc * pl->F, NC = N * 3;
    SV_TRY(color_launch(ctx, pl, gy, &t[T_DNH], N, 0, 1, c0));
    SV_TRY(fir_launch(ctx, 1, pl, &t[T_DNH], &t[T_DNW], 12, 1, 2, -1, NC, g->Hs, g->H, g->W));
    SV_TRY(fir_launch(ctx, 1, pl, &t[T_DNW], &t[T_GRID], 12, 1, 2, -1, NC * g->Hs, g->Ws, g->W, 1));
    SV_TRY(grid_launch(ctx, 1, pl, &t[T_GRID], &t[T_UPH], NC, c0));
    SV_TRY(fir_launch(ctx, 1, pl, &t[T_UPH], &t[T_UPW], 0, 2, 1, 6, NC, g->Hp, g->Hu, g->Wu));
    SV_TRY(fir_launch(ctx, 1, pl, &t[T_UPW], &t[T_PADH], 0, 2, 1, 6, NC * g->Hp, g->Wp, g->Wu, 1));
    SV_TRY(pad_launch(ctx, 1, &t[T_PADH], &t[T_PADW], NC, g->H, g->Hp, g->Wp, g->my0, g->my1));
    return pad_launch(ctx, 1, &t[T_PADW], gx, NC * g->H, g->W, g->Wp, 1, g->mx0, g->mx1);
}

/* dir 0: forward (bias = colour translation), 1: adjoint */
static int run(sv_ctx *ctx, const sv_augment_plan *pl, const sv_tensor *in, sv_tensor *out, int dir, int bias)
{
    const int64_t cc = chunk_clips(pl);
    int64_t s[T_N][4];
    stage_shapes(pl, cc, s);
    sv_tensor t[T_N];
    memset(t, 0, sizeof t);
    int rc = SV_OK;
    for (int k = 0; k < T_N && !rc; k++)
        rc = sv_tensor_new(ctx, &t[k], 4, s[k]);
    for (int64_t c0 = 0; c0 < pl->B && !rc; c0 += cc) {
        const int64_t nc = pl->B - c0 < cc ? pl->B - c0 : cc;
        sv_tensor vi = {0}, vo = {0}, vt[T_N];
        memset(vt, 0, sizeof vt);
        int64_t cs[T_N][4];
        stage_shapes(pl, nc, cs);
        rc = sv_tensor_rows(in, &vi, c0 * pl->F, (c0 + nc) * pl->F);
        if (!rc)
            rc = sv_tensor_rows(out, &vo, c0 * pl->F, (c0 + nc) * pl->F);
        for (int k = 0; k < T_N && !rc; k++)
            rc = sv_tensor_view(&t[k], &vt[k], 0, 4, cs[k]);
        if (!rc)
            rc = dir ? chunk_bwd(ctx, pl, &vi, &vo, vt, c0, nc) : chunk_fwd(ctx, pl, &vi, &vo, vt, c0, nc, bias);
        sv_tensor_free(&vi);
        sv_tensor_free(&vo);
        for (int k = 0; k < T_N; k++)
            sv_tensor_free(&vt[k]);
    }
    for (int k = 0; k < T_N; k++)
        sv_tensor_free(&t[k]);
    return rc;
}

int sv_augment_fwd(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *x, sv_tensor *y)
{
    SV_TRY(check_io(ctx, plan, "augment_fwd", x, y));
    return run(ctx, plan, x, y, 0, 1);
}

int sv_augment_jvp(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *xd, sv_tensor *yd)
{
    SV_TRY(check_io(ctx, plan, "augment_jvp", xd, yd));
    return run(ctx, plan, xd, yd, 0, 0);
}

int sv_augment_bwd(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *gy, sv_tensor *gx)
{
    SV_TRY(check_io(ctx, plan, "augment_bwd", gy, gx));
    return run(ctx, plan, gy, gx, 1, 0);
}

/* ---- float64 host references ---------------------------------------------------- */

static int refl(int k, int L) { return k < 0 ? -k : (k >= L ? 2 * (L - 1) - k : k); }

/* [O, L, I] → [O, Lp, I] reflect pad; adjoint scatters back. */
static void ref_pad(const double *x, double *y, int64_t O, int L, int Lp, int I, int m0, int adj)
{
    if (adj)
        memset(y, 0, (size_t)(O * L * I) * sizeof *y);
    for (int64_t o = 0; o < O; o++)
        for (int q = 0; q < Lp; q++)
            for (int i = 0; i < I; i++) {
                int64_t a = (o * L + refl(q - m0, L)) * I + i, b = (o * Lp + q) * I + i;
                if (adj)
                    y[a] += x[b];
                else
                    y[b] = x[a];
            }
}

/* [O, Lin, I] → [O, Lout, I] FIR; adjoint scatters (x = gy, y = gx). */
static void ref_fir(const double *x, double *y, const double *f, int up, int down, int pad0, int64_t O, int Lin,
                    int Lout, int I, int adj)
{
    if (adj)
        memset(y, 0, (size_t)(O * Lin * I) * sizeof *y);
    for (int64_t o = 0; o < O; o++)
        for (int p = 0; p < Lout; p++)
            for (int i = 0; i < I; i++) {
                double acc = 0;
                int64_t b = (o * Lout + p) * I + i;
                for (int j = 0; j < NTAPS; j++) {
                    int m = p * down + j - pad0;
                    if (m < 0 || m % up != 0 || m / up >= Lin)
                        continue;
                    int64_t a = (o * Lin + m / up) * I + i;
                    if (adj)
                        y[a] += f[j] * x[b];
                    else
                        acc += f[j] * x[a];
                }
                if (!adj)
                    y[b] = acc;
            }
}

/* grid-sample [NC, Hu, Wu] → [NC, Hs, Ws]; adjoint scatters. */
static void ref_grid(const double *x, double *y, const double *A, int64_t NC, int64_t F, const sv_augment_geom *g,
                     int adj)
{
    if (adj)
        memset(y, 0, (size_t)(NC * g->Hu * g->Wu) * sizeof *y);
    for (int64_t pl = 0; pl < NC; pl++) {
        const double *a = A + 6 * (pl / 3 / F);
        for (int i = 0; i < g->Hs; i++)
            for (int j = 0; j < g->Ws; j++) {
                double ix = a[0] * j + a[1] * i + a[2], iy = a[3] * j + a[4] * i + a[5];
                double x0 = floor(ix), y0 = floor(iy), fx = ix - x0, fy = iy - y0;
                int64_t b = (pl * g->Hs + i) * g->Ws + j;
                double acc = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        double xx = x0 + dx, yy = y0 + dy;
                        if (xx < 0 || xx >= g->Wu || yy < 0 || yy >= g->Hu)
                            continue;
                        double w = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
                        int64_t s = (pl * g->Hu + (int64_t)yy) * g->Wu + (int64_t)xx;
                        if (adj)
                            y[s] += w * x[b];
                        else
                            acc += w * x[s];
                    }
                if (!adj)
                    y[b] = acc;
            }
    }
}

void sv_ref_augment_color_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                              double *y, int affine)
{
    const int64_t HW = (int64_t)H * W;
    for (int64_t n = 0; n < B * F; n++) {
        const double *M = clips[n / F].C;
        for (int64_t p = 0; p < HW; p++) {
            const double *xp = x + n * 3 * HW + p;
            double r = xp[0], gg = xp[HW], bb = xp[2 * HW];
            for (int c = 0; c < 3; c++)
                y[n * 3 * HW + c * HW + p] =
                    M[4 * c] * r + M[4 * c + 1] * gg + M[4 * c + 2] * bb + (affine ? M[4 * c + 3] : 0.0);
        }
    }
}

static void ref_color_adj(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *gy,
                          double *gx)
{
    const int64_t HW = (int64_t)H * W;
    for (int64_t n = 0; n < B * F; n++) {
        const double *M = clips[n / F].C;
        for (int64_t p = 0; p < HW; p++) {
            const double *gp = gy + n * 3 * HW + p;
            for (int c = 0; c < 3; c++)
                gx[n * 3 * HW + c * HW + p] = M[c] * gp[0] + M[4 + c] * gp[HW] + M[8 + c] * gp[2 * HW];
        }
    }
}

/* Geometric part: forward (adj = 0, x → y) or adjoint (adj = 1, gy = x → gx = y). */
static int ref_geom(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *in, double *out,
                    int adj)
{
    sv_augment_geom g;
    double *A = malloc((size_t)B * 6 * sizeof *A);
    if (!A)
        return SV_ERR_NOMEM;
    int rc = sv_augment_geometry(clips, B, H, W, &g, A, NULL);
    if (rc) {
        free(A);
        return rc;
    }
    const int64_t NC = B * F * 3;
    const size_t n1 = (size_t)(NC * g.H * g.Wp), n2 = (size_t)(NC * g.Hp * g.Wp), n3 = (size_t)(NC * g.Hp * g.Wu),
                 n4 = (size_t)(NC * g.Hu * g.Wu), n5 = (size_t)(NC * g.Hs * g.Ws), n6 = (size_t)(NC * g.Hs * g.W);
    double *t1 = malloc(n1 * sizeof *t1), *t2 = malloc(n2 * sizeof *t2), *t3 = malloc(n3 * sizeof *t3),
           *t4 = malloc(n4 * sizeof *t4), *t5 = malloc(n5 * sizeof *t5), *t6 = malloc(n6 * sizeof *t6);
    double up[NTAPS], down[NTAPS];
    taps(up, down);
    if (!t1 || !t2 || !t3 || !t4 || !t5 || !t6) {
        rc = SV_ERR_NOMEM;
    } else if (!adj) {
        ref_pad(in, t1, NC * H, W, g.Wp, 1, g.mx0, 0);
        ref_pad(t1, t2, NC, H, g.Hp, g.Wp, g.my0, 0);
        ref_fir(t2, t3, up, 2, 1, 6, NC * g.Hp, g.Wp, g.Wu, 1, 0);
        ref_fir(t3, t4, up, 2, 1, 6, NC, g.Hp, g.Hu, g.Wu, 0);
        ref_grid(t4, t5, A, NC, F, &g, 0);
        ref_fir(t5, t6, down, 1, 2, -1, NC * g.Hs, g.Ws, W, 1, 0);
        ref_fir(t6, out, down, 1, 2, -1, NC, g.Hs, H, W, 0);
    } else {
        ref_fir(in, t6, down, 1, 2, -1, NC, g.Hs, H, W, 1);
        ref_fir(t6, t5, down, 1, 2, -1, NC * g.Hs, g.Ws, W, 1, 1);
        ref_grid(t5, t4, A, NC, F, &g, 1);
        ref_fir(t4, t3, up, 2, 1, 6, NC, g.Hp, g.Hu, g.Wu, 1);
        ref_fir(t3, t2, up, 2, 1, 6, NC * g.Hp, g.Wp, g.Wu, 1, 1);
        ref_pad(t2, t1, NC, H, g.Hp, g.Wp, g.my0, 1);
        ref_pad(t1, out, NC * H, W, g.Wp, 1, g.mx0, 1);
    }
    free(t1);
    free(t2);
    free(t3);
    free(t4);
    free(t5);
    free(t6);
    free(A);
    return rc;
}

int sv_ref_augment_geom_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                            double *y)
{
    return ref_geom(clips, B, F, H, W, x, y, 0);
}

int sv_ref_augment_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                       double *y, int affine)
{
    size_t n = (size_t)(B * F * 3 * H * W);
    double *t = malloc(n * sizeof *t);
    if (!t)
        return SV_ERR_NOMEM;
    int rc = ref_geom(clips, B, F, H, W, x, t, 0);
    if (!rc)
        sv_ref_augment_color_fwd(clips, B, F, H, W, t, y, affine);
    free(t);
    return rc;
}

int sv_ref_augment_bwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *gy,
                       double *gx)
{
    size_t n = (size_t)(B * F * 3 * H * W);
    double *t = malloc(n * sizeof *t);
    if (!t)
        return SV_ERR_NOMEM;
    ref_color_adj(clips, B, F, H, W, gy, t);
    int rc = ref_geom(clips, B, F, H, W, t, gx, 1);
    free(t);
    return rc;
}

/* ---- adaptive p ------------------------------------------------------------------ */

int sv_ada_init(sv_ada_state *s, double p0, double target, int64_t batch, double ada_kimg, int interval,
                sv_err *e)
{
    if (!s || !(p0 >= 0) || !isfinite(p0) || !isfinite(target) || batch < 1 || !(ada_kimg > 0) ||
        !isfinite(ada_kimg) || interval < 1)
        return sv_seterr(e, SV_ERR_INVALID,
                         "ada: need p >= 0, a finite target, batch >= 1, ada_kimg > 0 and interval >= 1");
    memset(s, 0, sizeof *s);
    s->p = p0;
    s->target = target;
    s->interval = interval;
    s->step = (double)batch * interval / (ada_kimg * 1000.0);
    return SV_OK;
}

void sv_ada_accumulate(sv_ada_state *s, const float *logits, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float l = logits[i];
        if (isnan(l))
            continue;
        s->sign_sum += l > 0 ? 1.0 : (l < 0 ? -1.0 : 0.0);
        s->count++;
    }
}

int sv_ada_step(sv_ada_state *s, int64_t iter)
{
    if (iter % s->interval != 0)
        return 0;
    if (s->count > 0) {
        double d = s->sign_sum / (double)s->count - s->target;
        double sg = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
        s->p = fmax(s->p + sg * s->step, 0.0);
    }
    s->sign_sum = 0;
    s->count = 0;
    return 1;
}
