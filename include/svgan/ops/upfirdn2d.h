/* svgan — upfirdn2d: zero-insertion upsampling, padding/cropping, separable
 * FIR filtering and decimation in one op (spec §1.4).
 *
 * x [N, C, H, W] -> y [N, C, Ho, Wo], Ho = (H*up + pad0 + pad1 - ntaps)/down + 1
 * (same for W):
 *   u = x zero-inserted (u[i*up] = x[i], length H*up),
 *   z = u padded (z[k] = u[k - pad0], zero outside),
 *   y[p][q] = Σ_{j,k} taps[j]·taps[k]·z[p*down + j][q*down + k]
 * (correlation; symmetric taps make orientation moot).
 *
 * The op is linear, so its R1 tangent is the forward applied to the tangent and
 * its dual backward is the backward applied to both streams. */
#ifndef SVGAN_OPS_UPFIRDN2D_H
#define SVGAN_OPS_UPFIRDN2D_H

#include <stdint.h>

#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SV_UPFIRDN_MAX_TAPS 8

typedef struct sv_upfirdn2d_params {
    int up, down;   /* >= 1 */
    int pad0, pad1; /* padding before/after (same on both axes), applied after
                       upsampling; may be negative (crop) */
    int ntaps;      /* 1..SV_UPFIRDN_MAX_TAPS */
    float taps[SV_UPFIRDN_MAX_TAPS]; /* 1-D filter, applied separably to rows
                                        and columns (2-D = outer(taps, taps)) */
} sv_upfirdn2d_params;

/* Output extent along one axis for input extent H; <= 0 if the parameters are
 * invalid or the output would be empty. */
int sv_upfirdn2d_out_size(int H, const sv_upfirdn2d_params *p);

/* y [N, C, Ho, Wo] = upfirdn2d(x [N, C, H, W]). */
int sv_upfirdn2d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_upfirdn2d_params *p, sv_tensor *y);
/* gx [N, C, H, W] (=|+=) adjoint of the forward applied to gy [N, C, Ho, Wo]. */
int sv_upfirdn2d_bwd(sv_ctx *ctx, const sv_tensor *gy, const sv_upfirdn2d_params *p, sv_tensor *gx,
                     int accumulate);

/* The StyleGAN [1,3,3,1] presets of spec §1.4 */
sv_upfirdn2d_params sv_upfirdn2d_blur_up_conv(void);   /* (b) blur after the transposed conv:
                                                          up 1, pad (1,1), taps [1,3,3,1]/4 */
sv_upfirdn2d_params sv_upfirdn2d_upsample2(void);      /* (c) RGB skip upsample: up 2, pad (2,1),
                                                          taps [1,3,3,1]/4 */
sv_upfirdn2d_params sv_upfirdn2d_blur_down_conv(void); /* (d) blur before the stride-2 conv:
                                                          pad (2,2), taps [1,3,3,1]/8 */
sv_upfirdn2d_params sv_upfirdn2d_down2(void);          /* (e) skip downsample: down 2, pad (1,1),
                                                          taps [1,3,3,1]/8 */

/* float64 host references (same layout, contiguous). */
void sv_ref_upfirdn2d_fwd(const double *x, int64_t N, int64_t C, int H, int W,
                          const sv_upfirdn2d_params *p, double *y);
void sv_ref_upfirdn2d_bwd(const double *gy, int64_t N, int64_t C, int H, int W,
                          const sv_upfirdn2d_params *p, double *gx);

#ifdef __cplusplus
}
#endif
#endif
