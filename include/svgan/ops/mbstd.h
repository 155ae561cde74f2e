/* mbstd: minibatch standard deviation, one appended channel (spec §3.4).
 *
 *   x [N, C, H, W]  →  y [N, C+1, H, W]
 *
 * Group size G = min(group_size, N); N % G must be 0; n = N / G groups.
 * Groups are STRIDED: sample i belongs to group g = i mod n, whose members are
 * g, g+n, …, g+(G−1)n (the official x.reshape(G, −1, …)).  Per group, over the
 * S = C·H·W elements e:
 *   μ_e = (1/G) Σ_k x_{k,e},   d_{k,e} = x_{k,e} − μ_e,
 *   s_e = √( (1/G) Σ_k d_{k,e}² + 1e-8 ),   σ_g = (1/S) Σ_e s_e
 * y[i, c] = x[i, c] for c < C and y[i, C, h, w] = σ_{i mod n}.
 *
 * Derivatives (used by the device kernels and the host references):
 *   ∂σ_g/∂x_{k,e} = d_{k,e} / (G·S·s_e)
 * Tangent (R1 dual forward, see svgan/ops.h): with P_e = Σ_k d_{k,e} ẋ_{k,e},
 *   σ̇_g = (1/(G·S)) Σ_e P_e / s_e,  ẏ = [ẋ, σ̇ broadcast].
 * Reverse through the pair (y, ẏ) with Γ_g = Σ_{members, h, w} gy[·, C, h, w]
 * and Γ̇_g the same of gẏ, ḋ_{k,e} = ẋ_{k,e} − (1/G) Σ_j ẋ_{j,e}:
 *   gẋ_{k,e} = gẏ_{k,e} + Γ̇_g d_{k,e} / (G S s_e)
 *   gx_{k,e} = gy_{k,e} + Γ_g d_{k,e} / (G S s_e)
 *              + Γ̇_g/(G S) · ( ḋ_{k,e}/s_e − P_e d_{k,e} / (G s_e³) ).
 * All reductions have a fixed order (deterministic); no atomics.
 * float32 evaluation (cl/mbstd.cl): for G = 2, d = ±(x₀ − x₁)/2 is formed
 * from the pair itself (exact for nearly coinciding pairs, which dominate
 * the ε-driven second-order term), and P = Σ_k d_k ḋ_k (equal to Σ d ẋ, but
 * blind to the rounding of μ).  R1's bias gradients with G = 2 remain
 * ill-conditioned in x itself: see HACKING.md, "Known numerical limits". */
#ifndef SVGAN_OPS_MBSTD_H
#define SVGAN_OPS_MBSTD_H

#include "svgan/tensor.h"

#define SV_MBSTD_EPS 1e-8

/* Effective group size G = min(group_size, N); returns 0 (and records an
 * error when ctx != NULL) if group_size < 1 or N % G != 0. */
int sv_mbstd_group(sv_ctx *ctx, int64_t N, int group_size);

/* y [N, C+1, H, W] from x [N, C, H, W]. */
int sv_mbstd_fwd(sv_ctx *ctx, const sv_tensor *x, int group_size, sv_tensor *y);
/* gx [N, C, H, W] = (∂y/∂x)ᵀ gy, gy [N, C+1, H, W].  gx must not alias gy. */
int sv_mbstd_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, int group_size, sv_tensor *gx);
/* R1 tangent: ẏ [N, C+1, H, W] = (∂y/∂x)·ẋ. */
int sv_mbstd_jvp(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xdot, int group_size, sv_tensor *ydot);
/* Reverse mode through (y, ẏ):
 *   gx  = (∂y/∂x)ᵀ gy + (∂ẏ/∂x)ᵀ gẏ,   gẋ = (∂y/∂x)ᵀ gẏ.
 * gy may be NULL (treated as zero: the R1 seed has ∂J/∂y_out = 0 at the
 * output, though inside D it is generally non-zero). */
int sv_mbstd_jvp_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *xdot, const sv_tensor *gy,
                     const sv_tensor *gydot, int group_size, sv_tensor *gx, sv_tensor *gxdot);

/* float64 host references; S = C·H·W, HW = H·W; G must be valid. */
void sv_ref_mbstd_fwd(const double *x, int64_t N, int64_t C, int64_t HW, int G, double *y);
void sv_ref_mbstd_bwd(const double *x, const double *gy, int64_t N, int64_t C, int64_t HW, int G, double *gx);
void sv_ref_mbstd_jvp(const double *x, const double *xdot, int64_t N, int64_t C, int64_t HW, int G,
                      double *ydot);
void sv_ref_mbstd_jvp_bwd(const double *x, const double *xdot, const double *gy /* nullable */,
                          const double *gydot, int64_t N, int64_t C, int64_t HW, int G, double *gx,
                          double *gxdot);

#endif
