/* conv2d: equalized-learning-rate 2-D convolution (spec §1.4 (a), (b), (d), (e)).
 *
 * Variants (w is always used as wgain·w; EqLR wgain = 1/√(Cin·k²)):
 *   up=1, down=1, k odd  (a) cross-correlation, stride 1, zero padding k/2:
 *                            y [N, Cout, H, W].
 *   up=2, down=1, k=3    (b) G up-conv: zero-insert (stride-2 transposed conv),
 *                            full TRUE convolution (kernel flipped relative to
 *                            (a)) → (2H+1)², then blur [1,3,3,1]/4 per axis
 *                            (gain 4 in 2-D) with pad (1,1) → y [N, Cout, 2H, 2W].
 *   up=1, down=2, k=3    (d) D down-conv: blur [1,3,3,1]/8 per axis pad (2,2)
 *                            → (H+1)², then stride-2 correlation, no padding
 *                            → y [N, Cout, H/2, W/2] (H, W even).
 *   up=1, down=2, k=1    (e) D skip: blur pad (1,1), keep every 2nd sample,
 *                            then 1×1 → y [N, Cout, H/2, W/2] (H, W even).
 * No bias (bias_act adds it).
 *
 * Linearity / R1: every entry point is linear in x and (separately) in w.
 * The R1 tangent of a conv is sv_conv2d_fwd applied to ẋ with the same w;
 * the dual backward calls sv_conv2d_bwd_data on both streams and
 * sv_conv2d_bwd_weight twice with accumulate = 1 (gW = gy·xᵀ + gẏ·ẋᵀ).
 *
 * Implementation: im2col / col2im-gather kernels around the GEMM module
 * (sv_gemm), frames processed in chunks so temporaries stay bounded
 * (budget 64 MiB of temporaries; for testing, env SVGAN_CONV_CHUNK_BYTES
 * overrides the budget and SVGAN_CONV_CHUNK_FRAMES caps frames per chunk).
 * Column layout: [Cin·k², frames·Ho·Wo], so the weight gradient of a chunk is
 * ONE GEMM with K = frames·Ho·Wo (beta = 1 across chunks).  The up-2 conv
 * multiplies Wᵀ-permuted weights by x (H·W·Cin·Cout·k² MACs) and gathers the
 * columns into the (2H+1)² grid.  im2col/col2im come in a row form (CPU
 * devices) and a per-element form (GPUs); SVGAN_KERNEL_FORM=rows|elem forces one.
 * Deterministic: fixed summation orders, no atomics. */
#ifndef SVGAN_OPS_CONV2D_H
#define SVGAN_OPS_CONV2D_H

#include "svgan/tensor.h"

typedef struct sv_conv2d_params {
    int k;       /* kernel size, odd (1, 3, ...) */
    int up;      /* 1, or 2: G up-conv of spec §1.4(b): zero-insert, full TRUE convolution (kernel flipped
                    relative to (a)), output (2H+1)², then blur [1,3,3,1]/4 per axis with pad (1,1) → 2H×2W */
    int down;    /* 1, or 2: k=3: D down-conv §1.4(d): blur [1,3,3,1]/8 pad (2,2) → (H+1)², then stride-2
                    correlation → H/2; k=1: skip §1.4(e): blur pad (1,1) down 2 then 1×1 */
    float wgain; /* the weight is used as wgain·w (EqLR: 1/√(Cin·k²)) */
} sv_conv2d_params;

/* Output spatial size for an H×W input; returns 0 if (p, H, W) is a supported
 * combination, else -1. */
int sv_conv2d_out_size(const sv_conv2d_params *p, int H, int W, int *Ho, int *Wo);

/* x [N, Cin, H, W], w [Cout, Cin, k, k], y [N, Cout, Ho, Wo]; up=1,down=1: cross-correlation, stride 1,
 * zero padding k/2 ('same', §1.4a). No bias (bias_act does it). */
/* EqLR gain of a conv weight: 1/√(Cin·k²) (spec §1.1). */
float sv_conv2d_wgain(int64_t Cin, int k);

int sv_conv2d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_conv2d_params *p, sv_tensor *y);
/* gx (+)= ∂/∂x ⟨gy, conv(x, w)⟩; gx [N, Cin, H, W]. */
int sv_conv2d_bwd_data(sv_ctx *ctx, const sv_tensor *gy, const sv_tensor *w, const sv_conv2d_params *p,
                       sv_tensor *gx, int accumulate);
/* gw (+)= ∂/∂w ⟨gy, conv(x, w)⟩ (includes the factor wgain); gw [Cout, Cin, k, k]. */
int sv_conv2d_bwd_weight(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, const sv_conv2d_params *p,
                         sv_tensor *gw, int accumulate);

/* float64 host references, direct loops from spec §1.4.  gx and gw are
 * overwritten; either may be NULL. */
void sv_ref_conv2d_fwd(const double *x, const double *w, int64_t N, int Cin, int Cout, int H, int W,
                       const sv_conv2d_params *p, double *y);
void sv_ref_conv2d_bwd(const double *x, const double *w, const double *gy, int64_t N, int Cin, int Cout, int H,
                       int W, const sv_conv2d_params *p, double *gx, double *gw);

#endif
