/* normalize_2nd_moment (spec §1.3): per row of x [N, D]
 *
 *   y = x · r,   r = (mean_j x_j² + 1e-8)^(-1/2)
 *
 * Used on z in the mapping network and on the embedded label of the D mapping
 * network.  Higher-rank inputs [N, ...] are normalised over all trailing
 * elements of each row (dims 1.. flattened).
 *
 * Backward: gx = r·gy − (r³/D) · (Σ_k gy_k x_k) · x.  The Jacobian is symmetric,
 * so the forward-mode tangent ẏ = J·ẋ is the same call with gy = ẋ. */
#ifndef SVGAN_OPS_NORMALIZE_H
#define SVGAN_OPS_NORMALIZE_H

#include "svgan/tensor.h"

#define SV_NORMALIZE_EPS 1e-8

/* y may alias x. */
int sv_normalize_2nd_moment_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y);
/* gx may alias gy (not x). */
int sv_normalize_2nd_moment_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, sv_tensor *gx);

void sv_ref_normalize_2nd_moment_fwd(const double *x, int64_t N, int64_t D, double *y);
void sv_ref_normalize_2nd_moment_bwd(const double *x, const double *gy, int64_t N, int64_t D, double *gx);

#endif
