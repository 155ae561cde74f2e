/* svgan — the StyleGAN-V generator (spec §2): configuration, parameters
 * (official names), initialisation, checkpoints, forward pass and streaming
 * sampling.
 *
 * Parameter names are the official state-dict paths WITHOUT the network
 * prefix ("mapping.fc0.weight", "synthesis.b4.conv1.affine.bias", buffers
 * "mapping.w_avg", "synthesis.motion_encoder.time_encoder.freqs", ...);
 * checkpoints store them under "G." / "G_ema." (official checkpoints convert
 * by renaming).  Weights are stored before the EqLR gain, as officially. */
#ifndef SVGAN_GENERATOR_H
#define SVGAN_GENERATOR_H

#include <stdint.h>

#include "svgan/params.h"
#include "svgan/safetensors.h"
#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ------------------------------------------------------- */

/* Everything needed to rebuild G and D.  JSON keys = the field names, which
 * are also the keys of the reference bundles' manifest "config" (extra keys
 * in a JSON object are ignored; missing keys take the defaults of
 * sv_mconfig_default). */
typedef struct sv_mconfig {
    int resolution;          /* power of two, 32..1024 */
    int z_dim, w_dim, motion_z_dim, motion_v_dim, time_enc_dim;
    int channel_base, channel_max;
    int mapping_layers;
    int motion_kernel_size;
    int motion_z_distance;   /* d: spacing of motion codes in frames */
    int min_period_len, max_period_len;
    int max_num_frames;      /* M */
    int frames_per_clip;     /* k (D input frames per clip; training) */
    int d_concat_res, d_num_frames_div_factor, mbstd_group_size, d_mapping_layers;
    double conv_clamp;       /* < 0: none (JSON null) */
} sv_mconfig;

/* StyleGAN-V defaults at 256² (spec §2, §3, §4.1). */
void sv_mconfig_default(sv_mconfig *c);
/* Named presets: "paper256" (the StyleGAN-V default at 256²), "default64",
 * "small" (CPU-practical, spec/benchmarks.md), "tiny32" (the parity bundle's
 * size).  SV_ERR_INVALID with the list of names for an unknown one. */
int sv_mconfig_preset(const char *name, sv_mconfig *c, sv_err *e);
const char *const *sv_mconfig_preset_names(void); /* NULL-terminated */
int sv_mconfig_from_json(const char *json, sv_mconfig *c, sv_err *e);
/* malloc'ed JSON object text (caller frees), or NULL on out of memory. */
char *sv_mconfig_to_json(const sv_mconfig *c);
/* Checks ranges and consistency (power-of-two resolution, positive dims,
 * d ≥ 1, ...).  One-line message naming the field. */
int sv_mconfig_validate(const sv_mconfig *c, sv_err *e);
/* Derived sizes. */
int sv_mconfig_channels(const sv_mconfig *c, int res);   /* min(channel_base/res, channel_max) */
int sv_mconfig_num_ws(const sv_mconfig *c);              /* 2·log2(R) − 2 */
/* Motion tokens needed for times in [0, t_max] (spec §2.3's L). */
int64_t sv_mconfig_motion_tokens(const sv_mconfig *c, double t_max);

/* ---- the network ----------------------------------------------------------- */

typedef struct sv_generator sv_generator;

/* Declares every parameter and buffer with its official name and shape
 * (finalised, zero-filled).  Buffers (w_avg, freqs, phase_scales,
 * resample_filter) are filled with their defined values. */
int sv_generator_new(sv_ctx *ctx, const sv_mconfig *cfg, sv_generator **out);
void sv_generator_free(sv_generator *g);
const sv_mconfig *sv_generator_config(const sv_generator *g);
sv_ctx *sv_generator_ctx(const sv_generator *g);
sv_params *sv_generator_params(sv_generator *g);
/* Trainable parameters only (excludes buffers), e.g. for counting. */
int64_t sv_generator_num_trainable(const sv_generator *g);
/* Random initialisation per spec §2.10 from the counter RNG
 * (seed, SV_STREAM_INIT + parameter index). */
int sv_generator_init(sv_generator *g, uint64_t seed);

/* ---- checkpoints (one safetensors file; see svgan-checkpoint(5)) ---------- */

#define SV_CHECKPOINT_FORMAT "svgan-checkpoint-1"

/* Open a checkpoint and read its configuration (metadata "format" and
 * "config").  Errors: unreadable file (SV_ERR_IO), not a checkpoint / bad
 * config (SV_ERR_FORMAT), each with a one-line message. */
int sv_checkpoint_open(const char *path, sv_st_file **f, sv_mconfig *cfg, sv_err *e);
/* Load a generator's parameters from prefix "G_ema." if present, else "G."
 * (which = NULL), or from the given prefix; every tensor's shape is checked
 * against the configuration. */
int sv_checkpoint_load_generator(const sv_st_file *f, const char *which, sv_generator *g, sv_err *e);
/* Write a model file: metadata (format, config JSON, extra key/values) and the
 * generator under "G." (and "G_ema." when g_ema != NULL).  Atomic (temp file +
 * rename). */
int sv_checkpoint_save_generator(const char *path, const sv_mconfig *cfg, sv_generator *g, sv_generator *g_ema,
                                 const char *const *extra_meta /* key, value, ..., NULL */, sv_err *e);

/* ---- forward ---------------------------------------------------------------- */

/* Called with every module output during a forward (parity and debugging):
 * name is the official module path as in the bundles' "act.G.<name>", e.g.
 * "mapping.fc0", "synthesis.b8.conv0", "synthesis.b8.0", "synthesis.b8.1",
 * "synthesis.motion_encoder.motion_v".  The tensor is only valid during the
 * call. */
typedef void (*sv_gen_trace_fn)(void *user, const char *name, const sv_tensor *value);

/* One batch, as the official G(z, t, motion_z): z [B, z_dim], motion tokens
 * [B, L, motion_z_dim] (device), frame times t[b·F + f] ≥ 0 (host, in dataset
 * frames), truncation psi (1 = none) → frames [B·F, 3, R, R].  Does not
 * update w_avg. */
int sv_generator_forward(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t, int64_t F,
                         float psi, sv_tensor *frames, sv_gen_trace_fn trace, void *trace_user);

/* Streaming sampler: per-video work (mapping, truncation, styles,
 * demodulation) is done once in begin; frames at any times are then rendered
 * in any order.  Motion tokens are not stored: token j of video b is the
 * window [j·motion_z_dim, (j+1)·motion_z_dim) of the normal stream
 * (motion_seed[b], SV_STREAM_MOTION + motion_stream[b]) (rng.h), so a frame
 * at t = 10^5 costs the same as one at t = 0 and memory does not grow with
 * video length.  z_host [B·z_dim]. */
typedef struct sv_gen_video sv_gen_video;
int sv_generator_begin(sv_generator *g, int64_t B, const float *z_host, const uint64_t *motion_seed,
                       const uint64_t *motion_stream, float psi, sv_gen_video **out);
/* frames [B·F, 3, R, R] at t[b·F + f]. */
int sv_generator_frames(sv_gen_video *v, const double *t, int64_t F, sv_tensor *frames);
void sv_gen_video_free(sv_gen_video *v);

/* ---- training: forward with saved state, backward ----------------------------
 * (issue 4; implemented in src/model/generator_fwd.c and generator_bwd.c) */

/* sv_generator_forward with ψ = 1 and no tracing that also keeps what
 * sv_generator_backward needs (every layer's input and output, the modconv
 * outputs before bias_act, the styles, the motion codes, the time-encoder
 * inputs).  The frames are bit-identical to sv_generator_forward's.  The saved
 * state lives in g and is invalidated by any other forward, sv_generator_begin
 * or sv_generator_frames on g.  Does not update w_avg
 * (sv_generator_update_w_avg does). */
int sv_generator_forward_train(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t,
                               int64_t F, sv_tensor *frames);

/* Gradients of L with respect to every trainable parameter, given
 * gframes = dL/dframes [B·F, 3, R, R] of the last sv_generator_forward_train.
 * grads has the layout of sv_generator_params(g) (sv_params_clone_layout);
 * accumulate = 0 overwrites it (buffers — w_avg, freqs, phase_scales,
 * resample_filter — come out zero), 1 adds into it (buffers untouched).  The
 * motion tokens and z receive no gradient.  SV_ERR_INVALID (one line) without
 * a valid training forward, or on a shape/layout mismatch.  The saved state
 * stays valid: backward may be called again (e.g. for another loss). */
int sv_generator_backward(sv_generator *g, const sv_tensor *gframes, sv_params *grads, int accumulate);

/* w_avg ← lerp(mean_b w, w_avg, beta) (official: beta = 0.995) with the w of
 * the last sv_generator_forward_train (spec §2.2).  Call after that forward
 * (its state must still be valid). */
int sv_generator_update_w_avg(sv_generator *g, float beta);

#ifdef __cplusplus
}
#endif
#endif
