/* timeenc: the time encoders of StyleGAN-V (spec §2.3, §2.4, §3.3).
 *
 * (a) Motion-code gather (§2.3).  u [B, C, Lu] are the motion codes as the
 *     motion conv1d outputs them (channel-major).  Frame (b, f) at time
 *     t ≥ 0 with spacing d takes jL = floor(t/d) (computed as the official
 *     code does: float32 t / d, floor) and
 *       uL[b·F + f, :] = u[b, :, jL],  uR[b·F + f, :] = u[b, :, jL + 1].
 *     Times are host doubles (they are host data in the training loop);
 *     t < 0, NaN or jL + 1 ≥ Lu is an SV_ERR_INVALID reported before any
 *     launch.  The backward is a deterministic gather per (b, c, j) over the
 *     F frames of clip b (no atomics), overwriting gu.
 *
 * (b) Aligned time encoder, the per-frame nonlinear part (§2.4).  Per frame
 *     n with float32 time t (D = number of frequencies):
 *       pr, ph [Nf, D]    pre-activations Wper·uL/√in and Wph·uL/√in (fc op)
 *       AL, AR [Nf, 2D]   aligners A(uL), A(uR) (fc op)
 *       ω, σ   [D]        buffers freqs and phase_scales
 *       r = t mod d (fmod, t ≥ 0), tL = t − r, tR = tL + d, α = r / d
 *       μ = 1 + tanh(pr),  a(τ) = (ω·μ)·τ + ph·σ,
 *       e(τ) = [sin a(τ), cos a(τ)]  (D sines, then D cosines)
 *       v = e(t) − [(1−α)e(tL) + α e(tR)] + [(1−α)AL + α AR]   [Nf, 2D]
 *     Computed in float32 in the official operation order (the arguments
 *     are ~800 rad at t ≈ 1000, so sin/cos are the accurate ones, not
 *     native_*, and FP contraction is off).  The backward gives gpr, gph,
 *     gAL = (1−α)gv, gAR = α gv (overwritten; gAL/gAR may be NULL).
 *
 * (c) D time-difference features (§3.3).  For clip b with frame times
 *     t[b·F + i] (sorted), δ_i = t_{i+1} − t_i (float32, as the official
 *     code), m_i = round-half-even(δ_i), which must lie in [0, M):
 *       out[b, i·W : (i+1)·W] = [E[m_i, :], sin(κ·δ_i), cos(κ·δ_i)],
 *     W = De + 2·nf, out [B, (F−1)·W], E [M, De] (used raw), κ [nf].
 *     Backward only into E: gE[m, :] (+)= Σ_{i: m_i = m} gout[b, i·W : i·W+De],
 *     one gather per table element over all differences (deterministic). */
#ifndef SVGAN_OPS_TIMEENC_H
#define SVGAN_OPS_TIMEENC_H

#include "svgan/tensor.h"

/* ---- (a) motion-code gather ---- */

/* u [B, C, Lu]; t[B·F] host times; uL, uR [B·F, C]. */
int sv_motion_gather(sv_ctx *ctx, const sv_tensor *u, const double *t, int64_t F, double d, sv_tensor *uL,
                     sv_tensor *uR);
/* gu [B, C, Lu] = scatter of guL, guR [B·F, C] (overwritten).  guR may be
 * NULL (only uL used). */
int sv_motion_gather_bwd(sv_ctx *ctx, const sv_tensor *guL, const sv_tensor *guR, const double *t, int64_t F,
                         double d, sv_tensor *gu);
/* jL = floor(float32(t) / float32(d)) as used by the gather; -1 if t < 0 or
 * not finite. */
int64_t sv_motion_left_index(double t, double d);

void sv_ref_motion_gather(const double *u, int64_t B, int64_t C, int64_t Lu, const double *t, int64_t F, double d,
                          double *uL, double *uR);
void sv_ref_motion_gather_bwd(const double *guL, const double *guR, int64_t B, int64_t C, int64_t Lu,
                              const double *t, int64_t F, double d, double *gu);

/* ---- (b) aligned time encoder ---- */

/* ω, σ [D] for (D, Pmin, Pmax) bit-exactly as the official float32 buffers:
 *   P_k = 2^linspace(log2 Pmin, log2 Pmax, D)[k] (float64, numpy linspace),
 *   ω_k = float32(2π / P_{D−1−k})                     (freqs)
 *   σ_k = float32(1/ℓ_k)·Pmax with ℓ_k = float32(1/ω_k)·float32(2π), every
 *   product rounded to float32                         (phase_scales)
 * (torch evaluates scalar / tensor as reciprocal(tensor) · scalar).
 * Returns SV_ERR_INVALID for D < 1 or a non-positive period. */
int sv_timeenc_freqs(int D, double pmin, double pmax, float *freqs, float *phase_scales);

/* t [Nf] (any shape with Nf elements, float32), pr/ph [Nf, D], AL/AR/v
 * [Nf, 2D], freqs/phase_scales with D elements (e.g. [1, D]). */
int sv_timeenc_fwd(sv_ctx *ctx, const sv_tensor *t, const sv_tensor *pr, const sv_tensor *ph, const sv_tensor *AL,
                   const sv_tensor *AR, const sv_tensor *freqs, const sv_tensor *phase_scales, float d,
                   sv_tensor *v);
int sv_timeenc_bwd(sv_ctx *ctx, const sv_tensor *t, const sv_tensor *pr, const sv_tensor *ph,
                   const sv_tensor *freqs, const sv_tensor *phase_scales, float d, const sv_tensor *gv,
                   sv_tensor *gpr, sv_tensor *gph, sv_tensor *gAL /* nullable */, sv_tensor *gAR /* nullable */);

/* float64 references (t, freqs, phase scales as doubles). */
void sv_ref_timeenc_fwd(const double *t, const double *pr, const double *ph, const double *AL, const double *AR,
                        const double *freqs, const double *phase_scales, double d, int64_t Nf, int64_t D,
                        double *v);
void sv_ref_timeenc_bwd(const double *t, const double *pr, const double *ph, const double *freqs,
                        const double *phase_scales, double d, int64_t Nf, int64_t D, const double *gv,
                        double *gpr, double *gph, double *gAL /* nullable */, double *gAR /* nullable */);

/* ---- (c) D time-difference features ---- */

/* time_resolution = 2^ceil(log2 M), nf = log2(time_resolution),
 * κ_i = float32(float32(π)·2^i) / time_resolution (exactly the official
 * buffer fourier_coefs).  kappa needs room for 31 values; *n_feats gets nf.
 * M < 1 or M > 2^30 is SV_ERR_INVALID. */
int sv_tdiff_kappa(int max_num_frames, float *kappa, int *n_feats);

/* t [B·F] host times; E [M, De]; kappa [nf] (any shape); out [B, (F−1)·W]. */
int sv_tdiff_fwd(sv_ctx *ctx, const double *t, int64_t B, int64_t F, const sv_tensor *E, const sv_tensor *kappa,
                 sv_tensor *out);
/* gE [M, De] (+)= table gradient from gout [B, (F−1)·W] (W deduced from
 * gout with De from gE). */
int sv_tdiff_bwd(sv_ctx *ctx, const double *t, int64_t B, int64_t F, const sv_tensor *gout, sv_tensor *gE,
                 int accumulate);

void sv_ref_tdiff_fwd(const double *t, int64_t B, int64_t F, const double *E, int64_t M, int64_t De,
                      const double *kappa, int nf, double *out);
void sv_ref_tdiff_bwd(const double *t, int64_t B, int64_t F, const double *gout, int64_t M, int64_t De, int nf,
                      double *gE /* overwritten */);

#endif
