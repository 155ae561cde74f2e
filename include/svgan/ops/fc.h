/* fc: fully connected layer with equalised learning rate and fused
 * bias + activation (spec §1.1, §1.2).
 *
 *   y = bias_act( x · (wgain·W)ᵀ , b )       x [N, in], W [out, in], b [out]
 *
 * W is stored un-scaled; wgain = λ/√in (sv_fc_wgain), the bias gain λ is
 * p->bias_gain, and activation, gain and clamp come from p (bias_act.h).
 * Mapping network: λ = 0.01, lrelu, gain √2.  Affine (style) layers: λ = 1,
 * linear, bias initialised to 1.  A layer fed by a higher-rank activation
 * (D epilogue [N, C, 4, 4]) is called on a reshape view [N, C·16].
 *
 * Backward: g = f'(y)·gy (bias_act derivative mask from the forward output),
 *   gx = wgain · g · W,  gW (+)= wgain · gᵀ · x,  gb (+)= bias_gain · Σ_n g.
 * Each product is a single GEMM over the whole batch.
 *
 * R1 tangent (reverse-over-forward, see ops.h): ẏ = f'(y) ⊙ (wgain · ẋ · Wᵀ)
 * is sv_fc_jvp (no bias).  The dual backward of that tangent is
 * sv_fc_bwd(x = ẋ, y = y, gy = gẏ, gb = NULL, accumulate = 1): it adds
 * wgain·(f'·gẏ)ᵀ·ẋ into gW and returns gẋ (f'' = 0, so the tangent stream
 * contributes nothing to gx). */
#ifndef SVGAN_OPS_FC_H
#define SVGAN_OPS_FC_H

#include "svgan/ops/bias_act.h"
#include "svgan/tensor.h"

/* λ/√in. */
float sv_fc_wgain(int64_t in, float lr_mul);

/* y [N, out] = bias_act(x·(wgain·W)ᵀ, b).  b may be NULL.  y must not alias x. */
int sv_fc_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *b, float wgain,
              const sv_bias_act_params *p, sv_tensor *y);

/* Given the forward input x, weight W, forward output y and upstream gradient
 * gy [N, out]: gx [N, in] (overwritten), gw [out, in] and gb [out] (0 overwrite,
 * 1 add).  Each of gx, gw, gb may be NULL.  Uses one temporary [N, out]. */
int sv_fc_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *y, const sv_tensor *gy,
              float wgain, const sv_bias_act_params *p, sv_tensor *gx, sv_tensor *gw, sv_tensor *gb,
              int accumulate);

/* Tangent: ydot [N, out] = f'(y) ⊙ (wgain · xdot · Wᵀ); y is the forward output. */
int sv_fc_jvp(sv_ctx *ctx, const sv_tensor *xdot, const sv_tensor *w, const sv_tensor *y, float wgain,
              const sv_bias_act_params *p, sv_tensor *ydot);

/* float64 host references.  b, gx, gw, gb nullable; gw and gb are overwritten. */
void sv_ref_fc_fwd(const double *x, const double *w, const double *b, int64_t N, int64_t in, int64_t out,
                   double wgain, const sv_bias_act_params *p, double *y);
void sv_ref_fc_bwd(const double *x, const double *w, const double *y, const double *gy, int64_t N, int64_t in,
                   int64_t out, double wgain, const sv_bias_act_params *p, double *gx, double *gw, double *gb);
void sv_ref_fc_jvp(const double *xdot, const double *w, const double *y, int64_t N, int64_t in, int64_t out,
                   double wgain, const sv_bias_act_params *p, double *ydot);

#endif
