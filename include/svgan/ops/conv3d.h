/* conv3d: the layers of I3D (fvd.md §2) — 3-D convolution with TF "SAME"
 * padding and a fused bias + ReLU, 3-D max pooling (TF SAME), VALID average
 * pooling, the mean over an axis, and the per-frame bilinear resize.
 *
 * INFERENCE ONLY: these ops exist for the FVD detector, which is never
 * trained, so there is no backward pass and no R1 tangent.
 *
 * Layout: channels-last, x [N, T, H, W, C] (TF's NDHWC), weights as in the TF
 * checkpoint, w [kT, kH, kW, Cin, Cout] row-major, i.e. a [kT·kH·kW·Cin, Cout]
 * matrix.  The convolution writes channels [c_off, c_off + Cout) of an output
 * with Ctot ≥ c_off + Cout channels, so an Inception module's branches write
 * straight into their slice of the concatenation.
 *
 * TF SAME per axis (sv_tf_same): out = ceil(in / s), pad_total =
 * max((out − 1)·s + k − in, 0), pad_before = floor(pad_total / 2), the extra
 * pad at the end.  VALID: out = floor((in − k) / s) + 1 (0 if in < k: an
 * error here).
 *
 *   conv:     y[n,t,h,w,c_off+o] = act(b[o] + Σ_{a,b,c,i} x[n, t·sT+a−pT, h·sH+b−pH, w·sW+c−pW, i]
 *                                              · w[a,b,c,i,o])      (0 outside x)
 *   maxpool:  y[n,t,h,w,c] = max over the window of the cells inside x (TF: padded cells are ignored,
 *             i.e. −inf padding); a NaN in the window gives NaN
 *   avgpool:  VALID, y = mean over the kT×kH×kW window (divisor kT·kH·kW)
 *   mean:     y[n, c] = (1/S) Σ_s x[n, s, c]   (x viewed as [N, S, C])
 *   resize:   x planar frames [F, C, H, W] → y [F, Ho, Wo, C] = scale·bilinear(x) + shift, half-pixel
 *             centres (src = (dst + 0.5)·in/out − 0.5, clamped at 0; the upper neighbour clamped at
 *             in − 1), no antialias (PyTorch interpolate(align_corners=False)); identity when sizes match.
 *             The source index and fraction are computed exactly in integers (PyTorch's float coordinate
 *             differs by up to ~1e-5 px above 256 px, i.e. ≤ ~5e-5 after scaling to [−1, 1]).
 *
 * Implementation: the conv is im2col (chunks of output positions, 64 MiB of
 * columns; SVGAN_CONV_CHUNK_BYTES overrides) + the GEMM module (cols [P, K] ×
 * w [K, Cout] → y slice with ldc = Ctot); a 1×1×1 stride-1 conv is one GEMM on
 * x itself.  Data-movement kernels come in a row form (CPU) and an element
 * form (GPU), see SVGAN_KERNEL_FORM.  Deterministic (no atomics). */
#ifndef SVGAN_OPS_CONV3D_H
#define SVGAN_OPS_CONV3D_H

#include "svgan/tensor.h"

/* TF padding for one axis: returns 0 and out/pad_before/pad_after, or −1 when
 * the sizes are invalid (in < 1, k < 1, s < 1, or VALID with in < k). */
int sv_tf_pad(int in, int k, int s, int same, int *out, int *pad_before, int *pad_after);

typedef struct sv_pool3d_params {
    int k[3]; /* kT, kH, kW */
    int s[3]; /* strides */
    int same; /* 1: TF SAME, 0: VALID */
} sv_pool3d_params;

typedef struct sv_conv3d_params {
    int k[3];
    int s[3];
    int same; /* 1: TF SAME, 0: VALID */
    int relu; /* 1: max(0, ·) after the bias */
} sv_conv3d_params;

/* Output size of a conv / pool for an input T×H×W (pads may be NULL);
 * returns 0 or −1 as sv_tf_pad. */
int sv_conv3d_out_size(const int k[3], const int s[3], int same, const int in[3], int out[3], int pad_before[3]);

/* Optional wall-clock split of a conv (seconds, accumulated); asking for it
 * finishes the queue between the stages. */
typedef struct sv_conv3d_prof {
    double im2col_s, gemm_s, bias_s;
} sv_conv3d_prof;

/* x [N, T, H, W, Cin], w [kT, kH, kW, Cin, Cout], b [Cout] or NULL,
 * y [N, To, Ho, Wo, Ctot] with c_off + Cout ≤ Ctot; channels outside the
 * slice are not touched.  prof may be NULL. */
int sv_conv3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_tensor *b,
                  const sv_conv3d_params *p, sv_tensor *y, int c_off, sv_conv3d_prof *prof);
/* x [N, T, H, W, C] → y [N, To, Ho, Wo, C]. */
int sv_maxpool3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_pool3d_params *p, sv_tensor *y);
/* VALID only (p->same must be 0). */
int sv_avgpool3d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_pool3d_params *p, sv_tensor *y);
/* x [N, S..., C] (rank ≥ 2; S = product of the middle dims, 1 if none) →
 * y [N, C]: the mean over the middle axes (time mean of the logits,
 * endpoint means).  Per-item compensated (Kahan) summation. */
int sv_mean_mid_fwd(sv_ctx *ctx, const sv_tensor *x, sv_tensor *y);
/* x [F, C, H, W] → y [F, Ho, Wo, C] (see above). */
int sv_resize_bilinear_fwd(sv_ctx *ctx, const sv_tensor *x, float scale, float shift, sv_tensor *y);

/* float64 host references (direct loops; outputs compact, y of the conv is
 * [N, To, Ho, Wo, Cout]; b may be NULL). */
void sv_ref_conv3d_fwd(const double *x, const double *w, const double *b, int N, const int in[3], int Cin, int Cout,
                       const sv_conv3d_params *p, double *y);
void sv_ref_maxpool3d_fwd(const double *x, int N, const int in[3], int C, const sv_pool3d_params *p, double *y);
void sv_ref_avgpool3d_fwd(const double *x, int N, const int in[3], int C, const sv_pool3d_params *p, double *y);
void sv_ref_mean_mid_fwd(const double *x, int N, int64_t S, int C, double *y);
void sv_ref_resize_bilinear_fwd(const double *x, int F, int C, int H, int W, int Ho, int Wo, double scale,
                                double shift, double *y);
/* Inference BatchNorm without scale (Sonnet snt.BatchNorm defaults), applied
 * in place to x [P, C]: x = (x − mean)/√(var + eps) + beta. */
void sv_ref_batchnorm(double *x, int64_t P, int C, const double *beta, const double *mean, const double *var,
                      double eps);
/* Folds that BatchNorm into a conv: w [K, C] → w·r[c], b[c] = beta − mean·r,
 * r = 1/√(var + eps) (in double; w is float as stored on the device). */
void sv_bn_fold(float *w, int64_t K, int C, const float *beta, const float *mean, const float *var, double eps,
                float *b);

#endif
