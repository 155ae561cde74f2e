/* optim: Adam (exactly torch.optim.Adam, no weight decay, no amsgrad) and the
 * generator EMA.  Tensors are flat parameter buffers of any shape; only the
 * element counts must match.
 *
 * Adam, step t ≥ 1 (t counts this step, as torch's state['step'] after its
 * increment):
 *   m ← lerp(m, g, 1−β1)              (torch: exp_avg.lerp_(grad, 1−β1))
 *   v ← β2·v + (1−β2)·g²
 *   p ← p − (lr/(1−β1^t)) · m / (√v / √(1−β2^t) + eps)
 * The bias corrections are computed in double on the host, as torch does.
 * With β1 = 0 (StyleGAN) m = g exactly.
 *
 * EMA: p_ema ← lerp(p, p_ema, β) = p + β·(p_ema − p).
 *
 * lerp(s, e, w) uses torch's formula: w < 0.5 ? s + w·(e−s) : e − (e−s)·(1−w). */
#ifndef SVGAN_OPS_OPTIM_H
#define SVGAN_OPS_OPTIM_H

#include "svgan/tensor.h"

int sv_adam_step(sv_ctx *ctx, sv_tensor *param, const sv_tensor *grad, sv_tensor *m, sv_tensor *v, float lr,
                 float beta1, float beta2, float eps, int64_t step);
int sv_ema_update(sv_ctx *ctx, sv_tensor *p_ema, const sv_tensor *p, float beta);

/* float64 host references (same formulas, plain s + w·(e−s) lerp). */
void sv_ref_adam_step(double *p, const double *g, double *m, double *v, int64_t n, double lr, double beta1,
                      double beta2, double eps, int64_t step);
void sv_ref_ema_update(double *p_ema, const double *p, int64_t n, double beta);

#endif
