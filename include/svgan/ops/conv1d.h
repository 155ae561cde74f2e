/* conv1d: padding-less ("valid") EqLR 1-D convolution, stride 1 (spec §1.1,
 * §2.3; the motion network).
 *
 *   x [B, Cin, L], W [Cout, Cin, K] (stored un-scaled), used as wgain·W
 *   (wgain = λ/√(Cin·K), λ = 0.01 in the motion network):
 *   y[b, o, j] = wgain · Σ_i Σ_k W[o, i, k] · x[b, i, j + k],  j < Lo = L − K + 1
 *
 * No bias and no activation: the caller applies sv_bias_act (lrelu, slope
 * 0.2, gain 1 — the motion conv has no √2 — and bias_gain λ).
 *
 * Implementation: im2col col [Cin·K, B, Lo] (col[i·K + k, b, j] = x[b, i, j+k])
 * and GEMMs through sv_gemm: y[b] = wgain·W·col[:, b, :] (one strided-batched
 * call), gcol[b] = wgain·Wᵀ·gy[b] followed by a deterministic col2im gather,
 * gW (+)= wgain·gy'·colᵀ with gy' = gy permuted to [Cout, B, Lo] (ONE GEMM over
 * K = B·Lo for all clips).
 * The col workspace comes from the context's pool. */
#ifndef SVGAN_OPS_CONV1D_H
#define SVGAN_OPS_CONV1D_H

#include "svgan/tensor.h"

/* Default runtime gain λ/√(Cin·K). */
float sv_conv1d_wgain(int64_t Cin, int64_t K, float lr_multiplier);

/* y [B, Cout, L−K+1] = conv1d(x, wgain·W).  y must not alias x. */
int sv_conv1d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *W, float wgain, sv_tensor *y);
/* gx [B, Cin, L] = (∂y/∂x)ᵀ gy (overwritten). */
int sv_conv1d_bwd_data(sv_ctx *ctx, const sv_tensor *gy, const sv_tensor *W, float wgain, sv_tensor *gx);
/* gW [Cout, Cin, K] (+)= wgain · Σ_b Σ_j gy[b, o, j] x[b, i, j + k]. */
int sv_conv1d_bwd_weight(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, float wgain, sv_tensor *gW,
                         int accumulate);

/* float64 host references (direct loops). */
void sv_ref_conv1d_fwd(const double *x, const double *W, int64_t B, int64_t Cin, int64_t L, int64_t Cout, int64_t K,
                       double wgain, double *y);
void sv_ref_conv1d_bwd_data(const double *gy, const double *W, int64_t B, int64_t Cin, int64_t L, int64_t Cout,
                            int64_t K, double wgain, double *gx);
void sv_ref_conv1d_bwd_weight(const double *x, const double *gy, int64_t B, int64_t Cin, int64_t L, int64_t Cout,
                              int64_t K, double wgain, double *gW /* overwritten */);

#endif
