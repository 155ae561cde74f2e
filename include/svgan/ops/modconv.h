/* modconv: StyleGAN2 modulated convolution with optional demodulation
 * (spec §1.5, §2.5, §2.6), non-fused formulation (exact):
 *
 *   x  [B·F, Cin, H, W]   frames, video-major: frame row b·F + f belongs to video b
 *   w  [Cout, Cin, k, k]  shared weight, used as is (no EqLR gain: demodulation
 *                         normalises it; ToRGB passes styles pre-scaled by 1/√Cin)
 *   s  [B, Cin]           per-video styles (the affine FC output, computed outside)
 *   y  [B·F, Cout, Ho, Wo]
 *
 *   xs = x ⊙ s[video, i]                         (per input channel)
 *   z  = conv(w, xs)                             sv_conv2d with {k, up, down 1, wgain 1}:
 *                                                up 1 = §1.4(a) 'same' correlation,
 *                                                up 2 = §1.4(b) G up-conv (k = 3), Ho = 2H
 *   y  = z ⊙ d[video, o]                         demodulate = 1
 *   d[n,o] = (Σ_i Wsq[o,i]·s[n,i]² + 1e-8)^(-1/2),  Wsq[o,i] = Σ_{a,b} w[o,i,a,b]²
 *   (demodulate = 0: d ≡ 1, i.e. y = z; ToRGB).
 *
 * Per-video quantities (Wsq, d) are computed once per call by GEMM
 * (s² [B,Cin] × Wsqᵀ), never per frame; the convolution is one batched conv
 * over all B·F frames with the shared w.  Bias and activation are separate
 * (bias_act).
 *
 * Backward (gz = d ⊙ gy, gd[n,o] = Σ_{frames of n, pixels} gy·z = Σ gy·y / d):
 *   gx = s ⊙ conv_bwd_data(gz)
 *   gs[n,i] = Σ_{frames of n, pixels} conv_bwd_data(gz)·x  +  Σ_o gd[n,o]·(−d³)·s[n,i]·Wsq[o,i]
 *   gw = conv_bwd_weight(xs, gz)  +  w[o,i,a,b]·Σ_n gd[n,o]·(−d³)·s[n,i]²
 * All reductions are fixed-order (deterministic), no atomics.
 *
 * G only: no R1 tangent entry points are needed. */
#ifndef SVGAN_OPS_MODCONV_H
#define SVGAN_OPS_MODCONV_H

#include <stdint.h>

#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sv_modconv_params {
    int k;                /* kernel size, odd (3 for conv layers, 1 for ToRGB) */
    int up;               /* 1, or 2 (G up-conv, k = 3) */
    int demodulate;       /* 1: synthesis conv layers; 0: ToRGB */
    int frames_per_video; /* F >= 1 */
} sv_modconv_params;

/* State saved by the forward for the backward: the per-video demodulation
 * coefficients and Σ_ab w².  Zero-initialise before first use ({0}); the
 * forward (re)allocates the tensors as needed, so one cache can be reused
 * across iterations.  Release with sv_modconv_cache_free.  Unused (left
 * empty) when demodulate = 0. */
typedef struct sv_modconv_cache {
    sv_tensor d;   /* [B, Cout] */
    sv_tensor wsq; /* [Cout, Cin] */
} sv_modconv_cache;

void sv_modconv_cache_free(sv_modconv_cache *c);

/* Output spatial size; 0 if (p, H, W) is supported, else -1. */
int sv_modconv_out_size(const sv_modconv_params *p, int H, int W, int *Ho, int *Wo);

/* y = modconv(x, w, s).  c may be NULL (inference); otherwise d and Wsq are
 * saved there for sv_modconv_bwd. */
int sv_modconv_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *s,
                   const sv_modconv_params *p, sv_tensor *y, sv_modconv_cache *c);

/* Backward of sv_modconv_fwd for upstream gradient gy [B·F, Cout, Ho, Wo].
 *   y   the UNMODIFIED output of sv_modconv_fwd for these (x, w, s) (used for
 *       gd = Σ gy·y/d); needed only when demodulate = 1 and gw or gs is
 *       requested, else may be NULL.  (So do not run bias_act in place on it.)
 *   c   the cache filled by that forward, or NULL to recompute d and Wsq.
 *   gx  [B·F, Cin, H, W] or NULL; overwritten (gx_accumulate = 0) or added to (1).
 *   gw  [Cout, Cin, k, k] or NULL; gs [B, Cin] or NULL: overwritten
 *       (accumulate = 0) or added to (1). */
int sv_modconv_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *s, const sv_tensor *y,
                   const sv_tensor *gy, const sv_modconv_params *p, const sv_modconv_cache *c, sv_tensor *gx,
                   int gx_accumulate, sv_tensor *gw, sv_tensor *gs, int accumulate);

/* float64 host references, computed the FUSED way (per-video modulated and
 * demodulated weights, spec §1.5 steps 1-5 and its "Gradients" paragraph),
 * with a private direct convolution (§1.4 (a), (b)); independent of the
 * device's non-fused path.  x [B·F, Cin, H, W], w [Cout, Cin, k, k],
 * s [B, Cin], y/gy [B·F, Cout, Ho, Wo].  gx, gw, gs are overwritten; each may
 * be NULL. */
void sv_ref_modconv_fwd(const double *x, const double *w, const double *s, int64_t B, int Cin, int Cout, int H,
                        int W, const sv_modconv_params *p, double *y);
void sv_ref_modconv_bwd(const double *x, const double *w, const double *s, const double *gy, int64_t B, int Cin,
                        int Cout, int H, int W, const sv_modconv_params *p, double *gx, double *gw, double *gs);

#ifdef __cplusplus
}
#endif
#endif
