/* svgan — one StyleGAN-V training iteration (spec §4.1–§4.6).
 *
 * A trainer owns G, D and G_ema (a second generator, copied from G — params
 * and buffers — at creation and by sv_trainer_reset_ema), a gradient set and
 * Adam moment sets (m, v) per network with the layout of its parameter set,
 * the counters and the hyper-parameters.
 *
 * One iteration (spec §4.6; sv_trainer_iteration):
 *   Gmain  fresh z / motion tokens / fake times → G train forward (w_avg
 *          update, β 0.995) → L_G = mean softplus(−D(fake)) → ∂L_G/∂fake →
 *          G backward → hygiene → Adam G (lr·4/5, β2^(4/5)).  D untouched.
 *   Greg   (every 4th iteration) a no-op: PL weight 0, the official optimiser
 *          sees no gradient and does not even count a step.
 *   Dmain  new z / motion / times → G train forward (no grad; w_avg updates
 *          again) → L_D = mean softplus(D(fake)) + mean softplus(−D(real)) →
 *          hygiene → Adam D (lr·16/17, β2^(16/17)).
 *   Dreg   iteration % d_reg_interval == 0: exact R1 on the same reals with
 *          γ·d_reg_interval (the lazy gain) → hygiene → Adam D — the SAME
 *          optimiser as Dmain (one moment set and one step counter, as torch).
 *   EMA    G_ema trainable params ← p + β·(p_ema − p), buffers copied.
 *   cur_nimg += B·k (frames); iteration += 1.
 *
 * Adam runs as ONE sv_adam_step over the flat parameter buffer.  Buffers
 * (w_avg, freqs, phase_scales, resample filters, fourier_coefs) sit in the
 * same buffer, but the backward passes write exactly 0 into their gradients
 * and their moments start at 0, so with β1 = 0 the update is exactly 0 and
 * they are untouched bit for bit (m = 0, v = 0, p − 0 = p).  Hygiene
 * (nan_to_num) maps 0 to 0, so this holds after scrubbing too.
 *
 * Gradient hygiene (spec §4.2): before every optimiser step the non-finite
 * gradient entries are counted and reported in the stats; policy
 * SV_NAN_SCRUB (official) then applies NaN → 0, ±Inf → ±1e5 and steps,
 * SV_NAN_FAIL returns SV_ERR_NUMERIC without taking that step (the phases
 * before it in the iteration have been applied; counters are not advanced).
 *
 * Randomness: everything is drawn from the counter RNG with the trainer's
 * seed and stream SV_TRAIN_STREAM + 8·iteration + purpose (purpose 0/1/2:
 * Gmain z / motion tokens / fake times, 3/4/5: the same for Dmain), so an
 * iteration depends only on (seed, iteration, state) and a run resumes
 * exactly.
 *
 * Fake times (spec §4.5, sampling "random"; sv_clip_times): per clip, L =
 * the length of a random dataset video after sv_trainer_set_video_lengths,
 * else fake_video_len (default max_num_frames, i.e. L = M), span T uniform over the powers of two
 * d ∈ {1, 2, …, 2048} with k−1 ≤ d ≤ min(L−1, max_dist), fractional start
 * s = U[0,1)·(L−T−1), times {s, s+T} plus k−2 distinct offsets drawn
 * uniformly from {1 … T−1}, sorted (k = 1: {s}; k = 2: {s, s+T}). */
#ifndef SVGAN_TRAINER_H
#define SVGAN_TRAINER_H

#include <stdint.h>

#include "svgan/discriminator.h"
#include "svgan/generator.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Streams of the training RNG (far above the named streams of rng.h). */
#define SV_TRAIN_STREAM ((uint64_t)1 << 40)

typedef enum sv_nan_policy { SV_NAN_SCRUB = 0, SV_NAN_FAIL = 1 } sv_nan_policy;

/* Augmentation (spec §4.4; ops/augment.h): none, a fixed p, or ADA's adaptive p.
 * With SV_AUGMODE_FIXED and aug_p = 0 the pipeline is skipped entirely (the
 * official code creates no pipe then); otherwise fakes and reals go through
 * the bgc pipeline (one draw per clip) in Gmain, Dmain and Dreg, G's gradient
 * flows back through its exact adjoint and R1 is that of D(aug(x)) w.r.t. x
 * (sv_discriminator_r1_aug).  Draw u of iteration i (0 Gmain fakes, 1 Dmain
 * fakes, 2 Dmain reals, 3 Dreg reals) uses stream SV_TRAIN_AUG_STREAM + 4·i + u.
 * ADA: sign(D(real)) of Dmain and Dreg is accumulated and every
 * ada_interval iterations p ← max(0, p ± B·ada_interval/(ada_kimg·1000))
 * toward aug_target. */
typedef enum sv_aug_mode { SV_AUGMODE_NONE = 0, SV_AUGMODE_FIXED = 1, SV_AUGMODE_ADA = 2 } sv_aug_mode;
#define SV_TRAIN_AUG_STREAM (SV_TRAIN_STREAM + ((uint64_t)1 << 36))

typedef struct sv_trainer_opts {
    int64_t batch;          /* B, clips per iteration (default 4); frames per clip k = cfg frames_per_clip */
    double lr_g, lr_d;      /* base learning rates before the lazy adjustment (0.0025) */
    double beta1, beta2;    /* base Adam betas (0, 0.99) */
    double eps;             /* 1e-8 */
    int g_reg_interval;     /* 4 (kept although PL is off: it only scales lr / β2 of G) */
    int d_reg_interval;     /* 16: R1 when iteration % 16 == 0, gain 16 */
    double r1_gamma;        /* < 0 (default): auto 0.0002·R²/B */
    double ema_kimg;        /* < 0 (default): B·10/32 (thousands of clips) */
    double ema_rampup;      /* ≤ 0 (default, as StyleGAN-V): none; else the EMA half-life is
                               min(ema_kimg·1000, nimg·ema_rampup) clips (StyleGAN2-ADA's ramp-up,
                               nimg = frames seen before this iteration) so short runs are not
                               dominated by the initial weights */
    double w_avg_beta;      /* 0.995 */
    int max_dist;           /* fake-time span limit (32) */
    int fake_video_len;     /* L for fake times; ≤ 0 (default): max_num_frames */
    sv_nan_policy nan_policy; /* SV_NAN_SCRUB */
    uint64_t seed;          /* initialisation and training RNG (0) */
    sv_aug_mode aug;        /* SV_AUGMODE_NONE (library default; svgan train defaults to ADA) */
    double aug_p;           /* initial (ADA) or fixed p (0) */
    double aug_target;      /* ADA target for E[sign D(real)] (0.6) */
    double ada_kimg;        /* ADA speed: p can move by 1 in this many thousand clips (100, spec §9.7) */
    int ada_interval;       /* iterations between p updates (4) */
} sv_trainer_opts;

void sv_trainer_opts_default(sv_trainer_opts *o);

/* The effective values (spec §4.1): lr·i/(i+1), β^(i/(i+1)), γ, EMA β. */
typedef struct sv_trainer_hparams {
    double lr_g, beta1_g, beta2_g;
    double lr_d, beta1_d, beta2_d;
    double r1_gamma, ema_beta;
} sv_trainer_hparams;

/* What one iteration did.  Phase times in seconds (device work included:
 * the queue is drained at each phase end). */
typedef struct sv_trainer_stats {
    int64_t iteration;       /* index of this iteration (before the increment) */
    double loss_g;           /* L_G */
    double loss_d;           /* L_D (fake + real terms) */
    double logits_fake_g;    /* mean D(fake) in Gmain */
    double logits_fake_d, logits_real; /* means in Dmain */
    int r1_ran;
    double loss_r1;          /* L_R1 without the gain (γ/2·mean ‖g‖²); NaN when R1 did not run */
    double r1_penalty;       /* mean over frames of ‖∂D/∂x‖²; NaN when R1 did not run */
    int64_t nonfinite_g, nonfinite_d, nonfinite_r1; /* non-finite gradient entries before hygiene */
    int nonfinite;           /* 1 when any of the three is > 0 */
    double ema_beta;         /* the G_ema β this iteration used (ramp-up included) */
    double time_g, time_d, time_r1, time_ema, time_total;
    double aug_p;            /* augmentation probability used in this iteration (0 without augmentation) */
    double ada_sign;         /* mean sign(D(real)) over this iteration's real logits (Dmain, Dreg); NaN without ADA */
} sv_trainer_stats;

typedef struct sv_trainer sv_trainer;

/* Creates G, D (sv_discriminator_new) and G_ema, initialises G and D from
 * opts->seed (sv_generator_init / sv_discriminator_init) and copies G into
 * G_ema.  opts NULL: defaults.  Checks the options (batch ≥ 1 and divisible
 * by the minibatch-std group, intervals ≥ 1, rates > 0, betas in [0, 1), ...)
 * with one-line SV_ERR_INVALID messages in the ctx error. */
int sv_trainer_new(sv_ctx *ctx, const sv_mconfig *cfg, const sv_trainer_opts *opts, sv_trainer **out);
void sv_trainer_free(sv_trainer *tr); /* NULL is fine */

/* One full iteration (above).  real [B·k, 3, R, R] in [−1, 1] (clip-major),
 * t_real[b·k + f] sorted within each clip.  stats nullable.  Errors: shapes
 * or times (SV_ERR_INVALID), non-finite gradients under SV_NAN_FAIL
 * (SV_ERR_NUMERIC, message naming the phase and the count).  Under
 * SV_NAN_SCRUB non-finite gradients are not an error: stats->nonfinite says
 * so. */
int sv_trainer_iteration(sv_trainer *tr, const sv_tensor *real, const double *t_real, sv_trainer_stats *stats);

/* The draws of an iteration, as sv_trainer_iteration makes them: phase 0 =
 * Gmain, 1 = Dmain; z [B·z_dim] and fake times t [B·k] (either nullable);
 * *tokens (nullable) = motion tokens per clip (L for the batch's largest
 * time). The tokens themselves are stream purpose 1 / 4, values
 * b·L·motion_z_dim + ..., as [B, L, motion_z_dim]. */
int sv_trainer_draws(const sv_trainer *tr, int64_t iteration, int phase, float *z, double *t, int64_t *tokens);

/* Copies G (params and buffers) into G_ema, e.g. after loading weights into G. */
int sv_trainer_reset_ema(sv_trainer *tr);

sv_generator *sv_trainer_generator(sv_trainer *tr);
sv_generator *sv_trainer_generator_ema(sv_trainer *tr);
sv_discriminator *sv_trainer_discriminator(sv_trainer *tr);
const sv_trainer_opts *sv_trainer_options(const sv_trainer *tr);
const sv_trainer_hparams *sv_trainer_effective(const sv_trainer *tr);

/* which: 0 = G, 1 = D.  The gradient set holds the gradient of the last
 * optimiser step of that network after hygiene (D: Dreg's when R1 ran);
 * m / v are the Adam moments; the step count is torch's state['step']. */
sv_params *sv_trainer_grads(sv_trainer *tr, int which);
sv_params *sv_trainer_adam_m(sv_trainer *tr, int which);
sv_params *sv_trainer_adam_v(sv_trainer *tr, int which);
int64_t sv_trainer_adam_steps(const sv_trainer *tr, int which);

int64_t sv_trainer_iteration_count(const sv_trainer *tr);
int64_t sv_trainer_cur_nimg(const sv_trainer *tr); /* frames seen (B·k per iteration) */
/* Resume: set the counters (the RNG draws follow the iteration). */
void sv_trainer_set_counters(sv_trainer *tr, int64_t iteration, int64_t cur_nimg, int64_t steps_g, int64_t steps_d);

/* Fake-clip lengths from a dataset (spec §4.5 "L is the length, capped at M,
 * of a uniformly random dataset video"): after this call, clip b of phase p
 * of iteration i takes L = min(len[v], M) with v = ⌊u·n⌋, u value b of the
 * uniform stream SV_TRAIN_STREAM + 8·i + 6 + p; the rest of the draw is as
 * above.  Without it (or n = 0) every clip uses fake_video_len.  The lengths
 * are copied.  SV_ERR_INVALID (one line naming the video) when a video admits
 * no span (sv_clip_spans() == 0). */
int sv_trainer_set_video_lengths(sv_trainer *tr, const int64_t *len, int64_t n);

/* Augmentation state kept in training checkpoints: p, and ADA's sign
 * accumulator since the last p update (sum of sign(logit), count), so a run
 * resumed between two updates continues exactly.  Any pointer nullable. */
void sv_trainer_aug_state(const sv_trainer *tr, double *p, double *sign_sum, int64_t *count);
void sv_trainer_set_aug_state(sv_trainer *tr, double p, double sign_sum, int64_t count);

/* ---- training checkpoints (src/model/train_state.c; svgan-checkpoint(5)) ----
 * One safetensors file: the model file's "format" / "config" metadata and
 * G.*, G_ema.* (so svgan sample reads it), plus D.*, opt.G.m.*, opt.G.v.*,
 * opt.D.m.*, opt.D.v.* (Adam moments, one tensor per parameter, names of the
 * network) and metadata "training": JSON {"iteration", "cur_nimg",
 * "steps_g", "steps_d", "aug_p", "ada_sign_sum", "ada_count", "options": {every
 * sv_trainer_opts field; seed as a decimal string}}.  The trainer's draws are
 * counter-based on (seed, iteration), so these restore it exactly. */

/* Write (atomic: temporary name + rename; a failure leaves an existing file
 * untouched).  extra_meta: key, value, ..., NULL (not "format", "config",
 * "training"). */
int sv_trainer_save(sv_trainer *tr, const char *path, const char *const *extra_meta, sv_err *e);
/* The configuration and options stored in a training checkpoint (either
 * nullable).  SV_ERR_FORMAT for a model file without training state. */
int sv_trainer_checkpoint_info(const char *path, sv_mconfig *cfg, sv_trainer_opts *opts, sv_err *e);
/* Load every network, the Adam moments and step counts, the counters and
 * the augmentation state into a trainer made for the same configuration.
 * Everything is checked before anything changes. */
int sv_trainer_load_state(sv_trainer *tr, const char *path, sv_err *e);
/* A sampling-only model file: "format", "config", G_ema.* (no G, D or
 * optimiser state) plus extra_meta. */
int sv_trainer_save_ema(sv_trainer *tr, const char *path, const char *const *extra_meta, sv_err *e);

/* ---- clip sampling (spec §4.5; src/model/clips.c) ---------------------------- */

/* The allowed spans: d ∈ {1, 2, 4, …, 2048} with k−1 ≤ d ≤ min(L−1, max_dist),
 * ascending, into dists[12]; returns their number (0: the clip is
 * impossible). */
int sv_clip_spans(int k, int64_t L, int max_dist, int *dists);

/* Times of one clip of k frames in a video (window) of L frames from the
 * uniforms u[0 .. max(k, 2)): span T = dists[⌊u0·n⌋], start s = ⌊u1·(L−T)⌋
 * (integer start, real clips: s ∈ {0 … L−T−1}) or s = u1·(L−T−1)
 * (fractional, fake clips), times {s, s+T} and k−2 distinct offsets from
 * {1 … T−1} by a partial Fisher–Yates driven by u[2 …], sorted ascending
 * (k = 1: {s}).  pool: scratch of ≥ 2048 ints.  −1 when no span exists. */
int sv_clip_times(int k, int64_t L, int max_dist, int fractional, const double *u, double *t, int *pool);

/* Real clips, counter-based: clip number g (g = iteration·B + b) depends
 * only on (seed, g) and the video lengths, so a resumed run reads the same
 * clips.  Video order: the N' = N (2N with x-flip: index ≥ N is video
 * index − N mirrored) items are visited in epochs; epoch e = ⌊g / N'⌋ is a
 * Fisher–Yates permutation drawn from the uniform stream
 * (seed, SV_CLIP_PERM_STREAM + e) — every item once per epoch, a fresh order
 * every epoch (the official InfiniteSampler walks one shuffled order with
 * window shuffling instead).  Frames: window start o = ⌊u·(len−M+1)⌋ when
 * len > M (else 0), L = min(len, M), then sv_clip_times(integer start) on
 * the uniforms of stream (seed, SV_CLIP_STREAM + g): value 0 → o, values
 * 1 … max(k,2) → the times.  frames[f] = o + t[f]. */
#define SV_CLIP_STREAM ((uint64_t)2 << 40)
#define SV_CLIP_PERM_STREAM ((uint64_t)3 << 40)

typedef struct sv_clip_sampler sv_clip_sampler;
/* lengths of the n videos (copied).  Errors (SV_ERR_INVALID, one line): n < 1,
 * k < 1 or > 64, M < 1, a video admitting no span (naming it). */
int sv_clip_sampler_new(const int64_t *lengths, int64_t n, int xflip, int k, int max_num_frames, int max_dist,
                        uint64_t seed, sv_clip_sampler **out, sv_err *e);
void sv_clip_sampler_free(sv_clip_sampler *s); /* NULL is fine */
/* Clip g: *video, *xflip, frames[k] (absolute frame indices), t[k] (times
 * relative to the window, as the discriminator sees them), either array
 * nullable.  Not thread-safe (caches the current epoch's order). */
int sv_clip_sampler_get(sv_clip_sampler *s, int64_t g, int64_t *video, int *xflip, int64_t *frames, double *t);

#ifdef __cplusplus
}
#endif
#endif
