/* svgan — the StyleGAN-V discriminator (spec §3), its losses (spec §4.2)
 * and the R1 regulariser with its exact second-order parameter gradient.
 *
 * Architecture (ResNet D of StyleGAN2 with frame concatenation and a
 * time-difference projection head), for a configuration sv_mconfig c with
 * C(r) = sv_mconfig_channels(c, r), F = c->frames_per_clip, cres =
 * c->d_concat_res (8 ≤ cres < resolution), div = c->d_num_frames_div_factor:
 *   blocks bR … b8, each  tmp = C(r), out = C(r/2) (÷ div when r/2 = cres),
 *     in = C(r) (÷ div × F when r = cres; the first block has fromrgb 3→tmp);
 *     y = skip(x)·√0.5 (1×1 ↓2, no bias);  x = conv0(x) (3×3, lrelu √2);
 *     x = conv1(x) (3×3 ↓2, lrelu gain 1, clamp·√0.5);  x = x + y.
 *   Frames are processed independently (batch B·F) down to cres, then the
 *   F frames of each clip are concatenated along channels (channel f·C + c).
 *   Epilogue b4: minibatch-std (group min(mbstd_group_size, B), strided),
 *   conv 3×3 C4+1→C4, fc 16·C4→C4, out C4→cmap_dim.
 *   F > 1: time_encoder (const_embed [max_num_frames, 256], fourier_coefs
 *   [1, nf]) → mapping (embed, normalize, fc0 … fc{d_mapping_layers−1}, λ
 *   0.01) → cmap [B, cmap_dim = C4]; logit = Σ out·cmap / √cmap_dim.
 *   F = 1 (as officially): no time encoder, no mapping, out C4→1 = logit.
 *
 * Parameter names are the official state-dict paths WITHOUT the "D." prefix
 * ("b32.conv0.weight", "b4.out.bias", "time_encoder.const_embed.weight",
 * buffers "b32.resample_filter", "time_encoder.time_encoder.fourier_coefs");
 * checkpoints and bundles store them under "D.".  Weights are stored before
 * the EqLR gain, as officially.
 *
 * A forward pass keeps what its backward needs inside the discriminator
 * (one pass at a time: forward, then backward, then the next forward).  The
 * input frames are referenced, not copied: do not modify them before the
 * backward. */
#ifndef SVGAN_DISCRIMINATOR_H
#define SVGAN_DISCRIMINATOR_H

#include <stdint.h>

#include "svgan/generator.h"
#include "svgan/ops/augment.h"
#include "svgan/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sv_discriminator sv_discriminator;

/* Declares every parameter and buffer (official names and shapes for the
 * configuration, zero-filled; buffers filled with their defined values).
 * SV_ERR_INVALID when the configuration has no valid D (d_concat_res must be
 * a block resolution 8 ≤ cres < resolution; the halved channel count must be
 * ≥ 1). */
int sv_discriminator_new(sv_ctx *ctx, const sv_mconfig *cfg, sv_discriminator **out);
void sv_discriminator_free(sv_discriminator *d); /* NULL is fine */
const sv_mconfig *sv_discriminator_config(const sv_discriminator *d);
sv_ctx *sv_discriminator_ctx(const sv_discriminator *d);
sv_params *sv_discriminator_params(sv_discriminator *d);
/* Trainable parameters only (excludes resample filters and fourier_coefs). */
int64_t sv_discriminator_num_trainable(const sv_discriminator *d);
/* 1 if parameter i of the set is a buffer (never trained, gradient 0). */
int sv_discriminator_is_buffer(const sv_discriminator *d, size_t i);
/* Width of the projection (C(4)), 0 when F = 1. */
int sv_discriminator_cmap_dim(const sv_discriminator *d);
/* Random initialisation per spec §2.10 (D rows): conv/FC weights and
 * const_embed N(0,1), mapping fc weights N(0,1)/0.01, biases 0; parameter i
 * uses the normal stream (seed, SV_DISC_STREAM_INIT + i), disjoint from the
 * generator's streams. */
#define SV_DISC_STREAM_INIT (SV_STREAM_INIT + (1u << 16))
int sv_discriminator_init(sv_discriminator *d, uint64_t seed);

/* ---- checkpoints: tensors "D.<name>" --------------------------------------- */

/* Load every parameter from prefix `which` (NULL: "D."); shapes checked, a
 * missing or extra tensor under the prefix is an SV_ERR_FORMAT error. */
int sv_checkpoint_load_discriminator(const sv_st_file *f, const char *which, sv_discriminator *d, sv_err *e);
/* Add every parameter to a writer under prefix (NULL: "D."), e.g. next to
 * the generators of a training checkpoint. */
int sv_discriminator_save(sv_discriminator *d, sv_st_writer *w, const char *prefix, sv_err *e);

/* ---- forward / backward ------------------------------------------------------ */

/* logits [B] = D(x, t) for frames x [B·F, 3, R, R] (clip-major, frame index
 * b·F + f) and host frame times t[b·F + f], sorted within each clip
 * (non-decreasing, finite; F must equal the configuration's frames_per_clip).
 * B must be divisible by the minibatch-std group min(mbstd_group_size, B).
 * trace (nullable) gets every module output under its official name as in the
 * bundles' "act.D.<name>" ("b32.fromrgb", "b32.conv0", "b32.skip", "b32.0",
 * "b4.mbstd", "b4.conv", "b4.fc", "b4.out", "b4" [B, 1], "time_encoder",
 * "time_encoder.const_embed", "time_encoder.time_encoder", "mapping.embed",
 * "mapping.fc0", …, "mapping"). */
int sv_discriminator_forward(sv_discriminator *d, const sv_tensor *x, const double *t, int64_t F, sv_tensor *logits,
                             sv_gen_trace_fn trace, void *trace_user);

/* Reverse mode through the last forward, seeded with glogits [B] = ∂L/∂logits:
 * grads (nullable; a set with the layout of sv_discriminator_params, e.g. from
 * sv_params_clone_layout) receives ∂L/∂θ for every parameter (buffers get 0),
 * overwriting (accumulate = 0) or adding (1); gx (nullable, [B·F, 3, R, R])
 * receives ∂L/∂x (overwritten).  With grads = NULL no parameter gradient is
 * computed (the generator phase: D's parameters receive nothing). */
int sv_discriminator_backward(sv_discriminator *d, const sv_tensor *glogits, sv_params *grads, int accumulate,
                              sv_tensor *gx);

/* ---- losses (spec §4.2) -------------------------------------------------------- */

/* Generator phase: L_G = mean_b softplus(−D(fake)_b); gfake [B·F, 3, R, R] =
 * ∂L_G/∂fake (D's parameters untouched).  loss [1] and logits [B] nullable. */
int sv_discriminator_loss_gen(sv_discriminator *d, const sv_tensor *fake, const double *t, int64_t F,
                              sv_tensor *gfake, sv_tensor *loss, sv_tensor *logits);

/* Discriminator phase: L_D = mean softplus(D(fake)) + mean softplus(−D(real))
 * (fakes detached), ∂L_D/∂θ into grads (accumulate as in backward); loss [1],
 * logits_fake / logits_real [B] nullable.  Fakes and reals may have different
 * times but the same shape. */
int sv_discriminator_loss_main(sv_discriminator *d, const sv_tensor *fake, const double *t_fake,
                               const sv_tensor *real, const double *t_real, int64_t F, sv_params *grads,
                               int accumulate, sv_tensor *loss, sv_tensor *logits_fake, sv_tensor *logits_real);

/* R1: g = ∂(Σ_b D(real)_b)/∂real, penalty p_n = ‖g_n‖² per frame,
 * L_R1 = mean_clips(γ/2 · mean_frames p).  Outputs (each nullable): g
 * [B·F, 3, R, R], penalty [B·F], loss [1], logits [B].  grads (nullable)
 * receives the exact ∂L_R1/∂θ (second order, reverse-over-forward: a tangent
 * pass with ẋ = γ·g/(B·F) and the dual reverse pass, see svgan/ops.h),
 * accumulate as in backward.  The lazy-regularisation gain (16) is applied by
 * passing γ·gain: the loss and the gradient are linear in γ. */
int sv_discriminator_r1(sv_discriminator *d, const sv_tensor *real, const double *t, int64_t F, float gamma,
                        sv_tensor *g, sv_tensor *penalty, sv_tensor *loss, sv_tensor *logits, sv_params *grads,
                        int accumulate);

/* R1 through the ADA augmentation (spec §4.2: the penalty is on the gradient
 * w.r.t. the real frames BEFORE augmentation, D sees aug(real)), for a plan
 * of B clips × F frames (NULL: exactly sv_discriminator_r1).  With fixed
 * parameters the pipeline is affine, y = A·x + c, so
 *   g = ∂ΣD(y)/∂x = Aᵀ·g_y,  g_y = ∂ΣD/∂y at y = aug(real),
 *   L_R1 = γ/(2·B·F)·Σ_frames ‖g‖²,
 *   ∂L_R1/∂θ = γ/(B·F)·(∂g_y/∂θ)ᵀ·A·Aᵀ·g_y,
 * i.e. the reverse-over-forward method of svgan/ops.h with the tangent at D's
 * input ẏ = γ/(B·F)·A·g (sv_augment_jvp: the linear part, no colour
 * translation).  Outputs as in sv_discriminator_r1 (g is the gradient w.r.t.
 * the un-augmented frames; logits are D(aug(real)), the ADA statistic). */
int sv_discriminator_r1_aug(sv_discriminator *d, const sv_tensor *real, const double *t, int64_t F, float gamma,
                            const sv_augment_plan *aug, sv_tensor *g, sv_tensor *penalty, sv_tensor *loss,
                            sv_tensor *logits, sv_params *grads, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
