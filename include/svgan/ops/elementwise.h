/* elementwise: generic building blocks composed by the generator, the
 * discriminator and the trainer.
 *
 * Unless stated otherwise, tensors are treated as flat arrays and only their
 * element counts must match; the output may alias an input.  Reductions use
 * fixed-order work-group trees (no atomics): results are bit-reproducible on
 * one device.  `accumulate` = 0 overwrites the output, 1 adds into it.
 *
 * Backward rules of the linear/bilinear ops (no dedicated entry point):
 *   y = a·x + b·y      : gx = a·gy  (sv_scale / sv_axpby)
 *   y = a ⊙ b (sv_mul)  : ga = gy ⊙ b, gb = gy ⊙ a  — two sv_mul calls
 *   y = a + b (sv_add)  : ga = gb = gy
 *   concat1             : gx_i = sv_slice1(gy, c0_i, c1_i)
 *   slice1              : the adjoint is a zero-filled tensor with the slice
 *                         accumulated into it (sv_concat1 when all parts are known)
 *   broadcast_spatial   : gx = sv_broadcast_spatial_bwd(gy)  (spatial sum)
 *   transpose12         : gx = sv_transpose12(gy)
 *   rowsumsq            : gx = 2·alpha·gout[n]·x  = sv_rowscale(x, gout, 2·alpha)
 *   reshape             : a view (sv_tensor_reshape), no op. */
#ifndef SVGAN_OPS_ELEMENTWISE_H
#define SVGAN_OPS_ELEMENTWISE_H

#include "svgan/tensor.h"

/* ---- arithmetic ---- */
/* y = a·x + b·y.  b == 0 does not read y (BLAS convention: NaN in y is not kept). */
int sv_axpby(sv_ctx *ctx, float a, const sv_tensor *x, float b, sv_tensor *y);
/* y = a·y. */
int sv_scale(sv_ctx *ctx, sv_tensor *y, float a);
/* y = a ⊙ b. */
int sv_mul(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, sv_tensor *y);
/* y = a + b. */
int sv_add(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, sv_tensor *y);
/* y = a + t·(b − a), scalar t (torch.lerp formula, see optim.h). */
int sv_lerp(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, float t, sv_tensor *y);
/* y = a + t⊙(b − a), elementwise t (same element count). */
int sv_lerp_t(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, const sv_tensor *t, sv_tensor *y);
/* y[n, ...] = alpha · s[n] · x[n, ...] for x [N, ...] (rows = dim 0), s [N]. */
int sv_rowscale(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *s, float alpha, sv_tensor *y);

/* ---- softplus ---- */
/* y = softplus(x) = max(x, 0) + log1p(exp(−|x|)) (stable for any x). */
int sv_softplus_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y);
/* gx = gy · sigmoid(x) (x = the forward input). gx may alias gy. */
int sv_softplus_bwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, sv_tensor *gx);

/* ---- reductions ---- */
/* out[0] (+)= alpha · Σ x  (out has 1 element; two-level fixed-order reduction). */
int sv_sum(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate);
/* out[n] (+)= alpha · Σ_j x[n, j]² for x [N, ...] (dims 1.. flattened), out [N]
 * (any shape with N elements).  ‖g_f‖² per frame for R1 in one call. */
int sv_rowsumsq(sv_ctx *ctx, const sv_tensor *x, float alpha, sv_tensor *out, int accumulate);
/* out[n] (+)= alpha · Σ_j a[n, j]·b[n, j] for a, b [N, ...] of the same shape
 * (the projection head of D).  Backward: ga = sv_rowscale(b, gout, alpha),
 * gb = sv_rowscale(a, gout, alpha). */
int sv_rowdot(sv_ctx *ctx, const sv_tensor *a, const sv_tensor *b, float alpha, sv_tensor *out, int accumulate);
/* y [R·reps, S...] with y[r·reps + k] = x[r] (each row repeated reps times in
 * place: per-video values to per-frame rows; R = 1 broadcasts).  Backward:
 * gx[r] (+)= Σ_k gy[r·reps + k] in ascending k (sv_repeat_rows_bwd). */
int sv_repeat_rows(sv_ctx *ctx, const sv_tensor *x, int64_t reps, sv_tensor *y);
int sv_repeat_rows_bwd(sv_ctx *ctx, const sv_tensor *gy, int64_t reps, sv_tensor *gx, int accumulate);
/* Number of NaN/±Inf elements of x, returned on the host (blocks). */
int sv_count_nonfinite(sv_ctx *ctx, const sv_tensor *x, int64_t *count);
/* In place: NaN → 0, +Inf → 1e5, −Inf → −1e5 (StyleGAN's gradient hygiene). */
int sv_nan_to_num(sv_ctx *ctx, sv_tensor *x);

/* ---- layout ---- */
/* y [N, ΣC_i, S...] = concat of xs[i] [N, C_i, S...] along dim 1.  All inputs
 * and y have the same rank (≥ 2), N and trailing dims.  y must not alias. */
int sv_concat1(sv_ctx *ctx, int n, const sv_tensor *const *xs, sv_tensor *y);
/* y [N, c1 − c0, S...] (+)= x[:, c0:c1] for x [N, C, S...]. */
int sv_slice1(sv_ctx *ctx, const sv_tensor *x, int64_t c0, int64_t c1, sv_tensor *y, int accumulate);
/* y [N, C, H, W] = x [N, C] broadcast over H, W (from y's shape). */
int sv_broadcast_spatial(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y);
/* gx [N, C] (+)= Σ_{h,w} gy [N, C, H, W]. */
int sv_broadcast_spatial_bwd(sv_ctx *ctx, const sv_tensor *gy, sv_tensor *gx, int accumulate);
/* y [B, C, A] = x [B, A, C] with the last two dims swapped.  y must not alias x. */
int sv_transpose12(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y);
/* General middle-dim swap on flat storage: x viewed as [P, A, B, S] ->
 * y [P, B, A, S] (blocks of S contiguous elements move together); only the
 * element counts of x and y are checked.  transpose12 is (P, A, B, 1);
 * [N, C, L] -> [C, N, L] is (1, N, C, L).  Backward: swap_mid(gy, P, B, A, S).
 * y must not overlap x. */
int sv_swap_mid(sv_ctx *ctx, const sv_tensor *x, int64_t P, int64_t A, int64_t B, int64_t S, sv_tensor *y);

/* ---- float64 host references ---- */
void sv_ref_softplus_fwd(const double *x, int64_t n, double *y);
void sv_ref_softplus_bwd(const double *x, const double *gy, int64_t n, double *gx);
double sv_ref_sum(const double *x, int64_t n);
void sv_ref_rowsumsq(const double *x, int64_t N, int64_t D, double *out);
void sv_ref_rowdot(const double *a, const double *b, int64_t N, int64_t D, double *out);
void sv_ref_repeat_rows(const double *x, int64_t R, int64_t S, int64_t reps, double *y);
void sv_ref_repeat_rows_bwd(const double *gy, int64_t R, int64_t S, int64_t reps, double *gx);
/* C[i] channels of input i; y [N, ΣC, S]. */
void sv_ref_concat1(int n, const double *const *xs, const int64_t *C, int64_t N, int64_t S, double *y);
void sv_ref_slice1(const double *x, int64_t N, int64_t C, int64_t S, int64_t c0, int64_t c1, double *y);
void sv_ref_broadcast_spatial(const double *x, int64_t NC, int64_t HW, double *y);
void sv_ref_broadcast_spatial_bwd(const double *gy, int64_t NC, int64_t HW, double *gx);
void sv_ref_transpose12(const double *x, int64_t B, int64_t A, int64_t C, double *y);
void sv_ref_swap_mid(const double *x, int64_t P, int64_t A, int64_t B, int64_t S, double *y);
void sv_ref_nan_to_num(double *x, int64_t n);

#endif
