/* bias_act: fused bias + activation + gain + clamp (spec §1.2).
 *
 *   y = clamp( act(x + bias_gain·b[c]) · gain, −clamp, +clamp )
 *
 * x is [N, C, S...] (any rank ≥ 2; S = product of the trailing dims, 1 for an
 * FC output [N, C]); b[C] broadcasts over N and S.  act is linear or leaky
 * ReLU (slope alpha, 0.2).  clamp < 0 disables clamping.
 *
 * Backward and the R1 tangent both use the derivative mask, computed from the
 * forward *output* y (gain > 0, so sign(y) = sign(x + b)):
 *   f'(y) = gain · (y > 0 ? 1 : alpha) · (clamp < 0 || |y| < clamp)
 * (linear: alpha = 1).  At exactly 0 the slope is alpha, as in PyTorch's
 * leaky_relu; an output sitting exactly on the clamp counts as clamped. */
#ifndef SVGAN_OPS_BIAS_ACT_H
#define SVGAN_OPS_BIAS_ACT_H

#include "svgan/tensor.h"

typedef enum sv_act { SV_ACT_LINEAR = 0, SV_ACT_LRELU = 1 } sv_act;

typedef struct sv_bias_act_params {
    sv_act act;
    float alpha;     /* lrelu slope (0.2) */
    float gain;      /* √2 for lrelu by default, 1 for linear */
    float clamp;     /* < 0: none */
    float bias_gain; /* lr multiplier on the bias (1, or 0.01 for mapping/motion) */
} sv_bias_act_params;

/* StyleGAN defaults: lrelu → slope 0.2, gain √2; linear → gain 1; no clamp. */
sv_bias_act_params sv_bias_act_default(sv_act act);

/* y = bias_act(x, b).  b may be NULL (no bias).  y may alias x. */
int sv_bias_act_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *b, const sv_bias_act_params *p,
                    sv_tensor *y);
/* gx = f'(y)·gy; if gb != NULL, gb (+)= bias_gain·Σ_{n,s} gx.  gx may alias gy.
 * With gb = NULL this is also the R1 tangent: ẏ = f'(y)·ẋ. */
int sv_bias_act_bwd(sv_ctx *ctx, const sv_tensor *y, const sv_tensor *gy, const sv_bias_act_params *p,
                    sv_tensor *gx, sv_tensor *gb, int accumulate);

/* out[c] (+)= alpha · Σ_{n,s} x[n, c, s] for x [N, C, S...]; fixed-order
 * work-group reduction (deterministic).  Shared by every op with a bias. */
int sv_channel_sum(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate);

/* float64 host references (N, C, S as above). */
void sv_ref_bias_act_fwd(const double *x, const double *b, int64_t N, int64_t C, int64_t S,
                         const sv_bias_act_params *p, double *y);
void sv_ref_bias_act_bwd(const double *y, const double *gy, int64_t N, int64_t C, int64_t S,
                         const sv_bias_act_params *p, double *gx, double *gb /* nullable, overwritten */);

#endif
