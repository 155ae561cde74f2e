/* svgan — ADA "bgc" augmentation (spec §4.4), video-consistent, with its
 * exact adjoint, and the adaptive-p controller (spec §4.1, §4.4).
 *
 * Conventions follow StyleGAN2-ADA's AugmentPipe as used by StyleGAN-V:
 *
 * Random parameters (host, float64, one draw per CLIP; all F frames of a clip
 * share them: video consistency).  Clip b of a call with (seed, stream) uses
 * the values b·32 + s of that stream: uniforms U[s] = value s (s < 24, from
 * sv_rng_uniform_f64) and normals N[s] = value 24 + s (s < 8, from
 * sv_rng_normal_f64; the two sets use disjoint Philox blocks).  "coin(q)" is
 * U < q·p (q the op's probability multiplier, 1 in bgc).
 *   xflip     i = floor(2·U0), fires if U1 < p        G ← G·diag(1−2i, 1)
 *   rotate90  i = floor(4·U2), fires if U3 < p        G ← G·rot(+π/2·i) (exact 0/±1)
 *   xint      t = (2·U4−1, 2·U5−1)·0.125, if U6 < p   G ← G·T(−rint(tx·W), −rint(ty·H))
 *   scale     s = 2^(0.2·N0), if U7 < p               G ← G·diag(1/s, 1/s)
 *   pre-rot   θ = (2·U8−1)·π, if U9 < p_rot            G ← G·rot(θ)
 *   aniso     s = 2^(0.2·N1), if U10 < p              G ← G·diag(1/s, s)
 *   post-rot  θ = (2·U11−1)·π, if U12 < p_rot          G ← G·rot(θ)
 *   xfrac     t = (N2, N3)·0.125, if U13 < p          G ← G·T(−tx·W, −ty·H)
 *   with p_rot = 1 − √(clamp(1 − p, 0, 1)), rot(θ) = [[cos, −sin], [sin, cos]];
 *   brightness b = 0.2·N4, if U14 < p                 C ← T3(b, b, b)·C
 *   contrast   c = 2^(0.5·N5), if U15 < p             C ← S3(c, c, c)·C
 *   lumaflip   i = floor(2·U16), if U17 < p           C ← (I − 2·v·vᵀ·i)·C
 *   hue        θ = (2·U18−1)·π, if U19 < p            C ← Rodrigues(v, θ)·C
 *   saturation s = 2^(1·N6), if U20 < p               C ← (v·vᵀ + (I − v·vᵀ)·s)·C
 *   with v = (1, 1, 1, 0)/√3.  G (3×3) maps output pixel → input pixel in
 *   centred pixel coordinates (origin at the image centre).
 *
 * Geometric execution (for the whole batch; runs even when every G is the
 * identity, as the official code does — spec §9.14):
 *   margins m = [x0, y0, x1, y1] = ceil(clamp(max over clips and the four
 *   corners (±cx, ±cy) (cx = (W−1)/2, cy = (H−1)/2) of (−x', −y', x', y') +
 *   (6 − cx, 6 − cy, 6 − cx, 6 − cy), 0, (W−1, H−1))) (ceil of a value within
 *   1e-9 of an integer is that integer, so round-off cannot add a pixel);
 *   1. reflect-pad [H, W] → [Hp, Wp] = [H + y0 + y1, W + x0 + x1] (no edge repeat);
 *   2. ×2 upsample with sym6 (12 taps, normalised to sum 1, ×2 per axis,
 *      convolution orientation, padding (6, 5)) → [Hu, Wu] = [2Hp, 2Wp];
 *   3. bilinear grid-sample, zeros padding, align_corners = false, to
 *      [Hs, Ws] = [2(H+6), 2(W+6)]: output pixel (j, i) (column, row) samples
 *      the upsampled image at (ix, iy) = A·(j, i, 1) with
 *        A = [G' applied to (j − (Ws−1)/2, i − (Hs−1)/2)] + ((Wu−1)/2, (Hu−1)/2),
 *        G' = T(−½)·S(2)·T((x0−x1)/2, (y0−y1)/2)·G·S(½)·T(½)
 *      (this is exactly affine_grid + grid_sample's unnormalisation);
 *   4. ×2 downsample with sym6 (unflipped = correlation, gain 1, padding
 *      (−1, −1)) → [H, W].
 * Colour: rgb ← C[0:3, 0:3]·rgb + C[0:3, 3] per pixel and frame.
 *
 * For fixed parameters the pipeline is affine in the image: y = A·x + c
 * (c = the colour translation).  Backward is the exact adjoint Aᵀ (each stage
 * transposed; the grid-sample adjoint is a gather over the output pixels whose
 * bilinear footprint touches each input pixel, no atomics).  The tangent (R1)
 * of the pipeline is its linear part A·ẋ (sv_augment_jvp).
 * At p = 0 (every G = I, C = I) the grid-sample lands on integer positions
 * and the sym6 up/down round trip is orthogonal, so the output equals the
 * input to float64 round-off in the host reference (1.6e-13 measured) and to
 * float32 round-off on the device (the official float32 code: ≈3e-5).
 * Integer translations are exact too.  x-flip and rotate90 are NOT exact
 * mirror images (also officially): sym6 is asymmetric (tap centroid 5.098,
 * not 5.5), so mirroring the upsampled image shifts the result by ≈0.1 px.
 *
 * Frames are clip-major [B·F, 3, H, W]: frames b·F … b·F+F−1 use clip b. */
#ifndef SVGAN_OPS_AUGMENT_H
#define SVGAN_OPS_AUGMENT_H

#include <stdint.h>

#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Probability multipliers and ranges of AugmentPipe (names as officially). */
typedef struct sv_augment_cfg {
    double xflip, rotate90, xint, xint_max;
    double scale, rotate, aniso, xfrac, scale_std, rotate_max, aniso_std, xfrac_std;
    double brightness, contrast, lumaflip, hue, saturation;
    double brightness_std, contrast_std, hue_max, saturation_std;
} sv_augment_cfg;

/* The "bgc" preset: every listed op with multiplier 1 and the default ranges. */
sv_augment_cfg sv_augment_bgc(void);

/* Which ops fired for a clip (bit mask). */
enum {
    SV_AUG_XFLIP = 1 << 0, SV_AUG_ROT90 = 1 << 1, SV_AUG_XINT = 1 << 2, SV_AUG_SCALE = 1 << 3,
    SV_AUG_PREROT = 1 << 4, SV_AUG_ANISO = 1 << 5, SV_AUG_POSTROT = 1 << 6, SV_AUG_XFRAC = 1 << 7,
    SV_AUG_BRIGHTNESS = 1 << 8, SV_AUG_CONTRAST = 1 << 9, SV_AUG_LUMAFLIP = 1 << 10, SV_AUG_HUE = 1 << 11,
    SV_AUG_SATURATION = 1 << 12
};
#define SV_AUG_NUM_OPS 13

/* One clip's parameters. */
typedef struct sv_augment_clip {
    double G[9];     /* inverse geometric transform, row-major 3×3 (output → input pixel,
                        centred coordinates) */
    double C[16];    /* colour matrix, row-major 4×4 */
    unsigned fired;  /* SV_AUG_* bits */
} sv_augment_clip;

/* Draw B clips' parameters for overall probability p (>= 0, finite; no upper
 * bound) for [H, W] images (the integer translation is in pixels) from
 * (seed, stream) as documented above.  cfg NULL = bgc.
 * Returns SV_ERR_INVALID (message in e, nullable) for bad p or B < 1. */
int sv_augment_draw(const sv_augment_cfg *cfg, double p, int64_t B, int H, int W, uint64_t seed,
                    uint64_t stream, sv_augment_clip *out, sv_err *e);

/* Geometry of a batch: margins and per-clip sampling matrices A (2×3 each,
 * row-major: ix = A0·j + A1·i + A2, iy = A3·j + A4·i + A5). */
typedef struct sv_augment_geom {
    int H, W;
    int mx0, my0, mx1, my1; /* reflect margins */
    int Hp, Wp;             /* padded */
    int Hu, Wu;             /* upsampled, 2Hp × 2Wp */
    int Hs, Ws;             /* grid-sample output, 2(H+6) × 2(W+6) */
} sv_augment_geom;
/* A: B·6 doubles (nullable).  SV_ERR_INVALID for H, W < 1 or a non-finite /
 * singular G. */
int sv_augment_geometry(const sv_augment_clip *clips, int64_t B, int H, int W, sv_augment_geom *g, double *A,
                        sv_err *e);

/* ---- device -------------------------------------------------------------------- */

/* Per-batch parameters on the device (geometry, sampling matrices and their
 * inverses, colour matrices, filter taps).  Frames per clip F >= 1, image
 * [3, H, W]. */
typedef struct sv_augment_plan sv_augment_plan;
int sv_augment_plan_new(sv_ctx *ctx, const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W,
                        sv_augment_plan **out);
void sv_augment_plan_free(sv_augment_plan *plan); /* NULL is fine */
int64_t sv_augment_plan_clips(const sv_augment_plan *plan);
/* The device pipeline runs in chunks of clips so that its largest temporary
 * (the ×2 upsampled padded frames, up to (2·(3R−2))² floats per channel at
 * the margin clamp) stays under 512 MiB; `clips` > 0 forces the chunk size
 * (tests), 0 restores the automatic choice.  Results do not depend on it. */
void sv_augment_plan_set_chunk(sv_augment_plan *plan, int64_t clips);
int64_t sv_augment_plan_frames(const sv_augment_plan *plan);
const sv_augment_clip *sv_augment_plan_clip(const sv_augment_plan *plan, int64_t b);
const sv_augment_geom *sv_augment_plan_geom(const sv_augment_plan *plan);

/* y [B·F, 3, H, W] = aug(x) (x and y must not alias). */
int sv_augment_fwd(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *x, sv_tensor *y);
/* ẏ = A·ẋ: the linear part (no colour translation) — the pipeline's tangent. */
int sv_augment_jvp(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *xd, sv_tensor *yd);
/* gx = Aᵀ·gy (overwritten; must not alias gy). */
int sv_augment_bwd(sv_ctx *ctx, const sv_augment_plan *plan, const sv_tensor *gy, sv_tensor *gx);

/* ---- float64 host references (contiguous [B·F, 3, H, W]) ------------------------ */

/* Whole pipeline, forward (with the colour translation when `affine` is 1,
 * the linear part when 0) and adjoint. */
int sv_ref_augment_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                       double *y, int affine);
int sv_ref_augment_bwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *gy,
                       double *gx);
/* Stages: the geometric part alone (pad → up → grid-sample → down) and the
 * colour part alone (y = C·x (+ translation when affine)). */
int sv_ref_augment_geom_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                            double *y);
void sv_ref_augment_color_fwd(const sv_augment_clip *clips, int64_t B, int64_t F, int H, int W, const double *x,
                              double *y, int affine);

/* ---- adaptive p (spec §4.1, §4.4) ------------------------------------------------ */

/* Every `interval` iterations: p ← max(0, p + sign(mean sign(D_real) − target)
 * · batch·interval/(ada_kimg·1000)), batch = clips per iteration; the mean is
 * over every real logit accumulated since the last update (Dmain and Dreg).
 * An update with nothing accumulated leaves p unchanged.  No upper bound. */
typedef struct sv_ada_state {
    double p;        /* current probability */
    double target;   /* 0.6 */
    double step;     /* batch·interval/(ada_kimg·1000) */
    int interval;    /* 4 */
    double sign_sum; /* Σ sign(logit) since the last update */
    int64_t count;   /* number of logits accumulated */
} sv_ada_state;
/* SV_ERR_INVALID (message in e, nullable) unless p0 >= 0, target, batch >= 1,
 * ada_kimg > 0 (all finite) and interval >= 1.  Official: p0 0, target 0.6,
 * batch = clips per iteration, ada_kimg 100 (spec §9.7), interval 4. */
int sv_ada_init(sv_ada_state *s, double p0, double target, int64_t batch, double ada_kimg, int interval,
                sv_err *e);
/* Accumulate sign(logit) of n real logits (host values; a NaN logit is
 * skipped, sign(0) = 0). */
void sv_ada_accumulate(sv_ada_state *s, const float *logits, int64_t n);
/* Call after iteration `iter` is complete (iter counted from 1 as the
 * official batch_idx after increment): when iter % interval == 0, updates p
 * (unchanged if nothing was accumulated), clears the accumulator and
 * returns 1; otherwise returns 0. */
int sv_ada_step(sv_ada_state *s, int64_t iter);

#ifdef __cplusplus
}
#endif
#endif
