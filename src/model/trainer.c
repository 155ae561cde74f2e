/* One StyleGAN-V training iteration: Gmain, Dmain, lazy R1, Adam with the
 * lazy-regularisation adjustment, gradient hygiene, w_avg and G_ema (spec
 * §4.1–§4.6).  See svgan/trainer.h. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "svgan/ops.h"
#include "svgan/rng.h"
#include "svgan/trainer.h"

struct sv_trainer {
    sv_ctx *ctx;
    sv_mconfig cfg;
    sv_trainer_opts o;
    sv_trainer_hparams hp;
    int64_t k;                 /* frames per clip */
    sv_generator *g, *g_ema;
    sv_discriminator *d;
    sv_params *grad[2], *m[2], *v[2];
    int64_t steps[2];
    int64_t iter, nimg;
    unsigned char *g_buf;      /* per G parameter: 1 if a buffer (copied, not averaged, by the EMA) */
    /* per-iteration host scratch */
    float *zh, *tokh;
    double *tf;
    int64_t tok_cap;
    int *pool;
    int64_t *len, nlen;        /* dataset video lengths (capped at M) for fake clips */
    sv_ada_state ada;          /* augmentation p (all modes) and ADA's sign accumulator */
    double ema_nimg;           /* EMA half-life in clips (ema_kimg·1000, automatic value resolved) */
};

enum { P_Z = 0, P_MOTION = 1, P_TIMES = 2 };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The generator's buffers (same naming rules as generator.c). */
static int g_is_buffer(const char *name)
{
    return ends_with(name, "resample_filter") || !strcmp(name, "mapping.w_avg") ||
           ends_with(name, "time_encoder.freqs") || ends_with(name, "time_encoder.phase_scales");
}

void sv_trainer_opts_default(sv_trainer_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 4;
    o->lr_g = o->lr_d = 0.0025;
    o->beta1 = 0.0;
    o->beta2 = 0.99;
    o->eps = 1e-8;
    o->g_reg_interval = 4;
    o->d_reg_interval = 16;
    o->r1_gamma = -1;
    o->ema_kimg = -1;
    o->w_avg_beta = 0.995;
    o->max_dist = 32;
    o->fake_video_len = 0;
    o->nan_policy = SV_NAN_SCRUB;
    o->seed = 0;
    o->aug = SV_AUGMODE_NONE;
    o->aug_p = 0;
    o->aug_target = 0.6;
    o->ada_kimg = 100;
    o->ada_interval = 4;
}

static uint64_t stream_of(int64_t iter, int phase, int purpose)
{
    return SV_TRAIN_STREAM + 8 * (uint64_t)iter + (uint64_t)(3 * phase + purpose);
}

/* Fake times of one phase (spec §4.5, see trainer.h). */
static int draw_times(const sv_trainer *tr, int64_t iter, int phase, double *t, int *pool)
{
    const int64_t B = tr->o.batch, k = tr->k;
    const int L0 = tr->o.fake_video_len > 0 ? tr->o.fake_video_len : tr->cfg.max_num_frames;
    const int64_t stride = k + 2;
    for (int64_t b = 0; b < B; b++) {
        int64_t L = L0;
        if (tr->nlen > 0) { /* per-clip L from a random dataset video */
            double w;
            sv_rng_uniform_f64(tr->o.seed, SV_TRAIN_STREAM + 8 * (uint64_t)iter + 6 + (uint64_t)phase, (uint64_t)b, 1,
                               &w);
            L = tr->len[(int64_t)(w * (double)tr->nlen)];
        }
        double u[66];
        sv_rng_uniform_f64(tr->o.seed, stream_of(iter, phase, P_TIMES), (uint64_t)(b * stride),
                           (size_t)(k > 2 ? k : 2), u);
        if (sv_clip_times((int)k, L, tr->o.max_dist, 1, u, t + b * k, pool))
            return -1;
    }
    return 0;
}

int sv_trainer_draws(const sv_trainer *tr, int64_t iteration, int phase, float *z, double *t, int64_t *tokens)
{
    if (!tr || iteration < 0 || (phase != 0 && phase != 1))
        return SV_ERR_INVALID;
    const int64_t B = tr->o.batch;
    if (z)
        sv_rng_normal(tr->o.seed, stream_of(iteration, phase, P_Z), 0, (size_t)(B * tr->cfg.z_dim), z);
    double *tt = t ? t : malloc((size_t)(B * tr->k) * sizeof *tt);
    if (!tt || draw_times(tr, iteration, phase, tt, tr->pool)) {
        if (!t)
            free(tt);
        return tt ? SV_ERR_INVALID : SV_ERR_NOMEM;
    }
    if (tokens) {
        double tmax = 0;
        for (int64_t i = 0; i < B * tr->k; i++)
            tmax = tt[i] > tmax ? tt[i] : tmax;
        *tokens = sv_mconfig_motion_tokens(&tr->cfg, tmax);
    }
    if (!t)
        free(tt);
    return 0;
}

static int check_opts(sv_ctx *ctx, const sv_mconfig *c, const sv_trainer_opts *o)
{
    sv_err *e = sv_ctx_err(ctx);
    int64_t grp = c->mbstd_group_size < o->batch ? c->mbstd_group_size : o->batch;
    if (o->batch < 1 || o->batch > (1 << 20))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: batch %lld: expected 1..1048576 clips", (long long)o->batch);
    if (grp < 1 || o->batch % grp)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: batch %lld is not divisible by the minibatch-std group %lld",
                         (long long)o->batch, (long long)grp);
    if (!(o->lr_g > 0) || !(o->lr_d > 0) || !isfinite(o->lr_g) || !isfinite(o->lr_d))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: learning rates must be finite and > 0");
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: Adam betas must be in [0, 1)");
    if (!(o->eps > 0) || !isfinite(o->eps))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: Adam eps must be finite and > 0");
    if (o->g_reg_interval < 1 || o->d_reg_interval < 1)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: regularisation intervals must be >= 1");
    if (isnan(o->r1_gamma) || isinf(o->r1_gamma))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: r1_gamma must be finite (< 0: automatic)");
    if (isnan(o->ema_kimg) || isinf(o->ema_kimg) || o->ema_kimg == 0)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: ema_kimg must be finite and non-zero (< 0: automatic)");
    if (!isfinite(o->ema_rampup))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: ema_rampup must be finite (≤ 0: none)");
    if (!(o->w_avg_beta >= 0 && o->w_avg_beta <= 1))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: w_avg_beta must be in [0, 1]");
    if (o->nan_policy != SV_NAN_SCRUB && o->nan_policy != SV_NAN_FAIL)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: unknown NaN policy %d", (int)o->nan_policy);
    if (o->aug != SV_AUGMODE_NONE && o->aug != SV_AUGMODE_FIXED && o->aug != SV_AUGMODE_ADA)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: unknown augmentation mode %d", (int)o->aug);
    if (!(o->aug_p >= 0) || !isfinite(o->aug_p))
        return sv_seterr(e, SV_ERR_INVALID, "trainer: aug_p %g must be finite and >= 0", o->aug_p);
    if (!isfinite(o->aug_target) || !(o->ada_kimg > 0) || !isfinite(o->ada_kimg) || o->ada_interval < 1)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: ADA needs a finite target, ada_kimg > 0 and an interval >= 1");
    const int L = o->fake_video_len > 0 ? o->fake_video_len : c->max_num_frames;
    const int64_t k = c->frames_per_clip;
    if (k > 64)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: frames_per_clip %lld: the trainer supports 1..64",
                         (long long)k);
    if (L > 1000000000)
        return sv_seterr(e, SV_ERR_INVALID, "trainer: fake_video_len %d too large", L);
    int ok = 0;
    for (int d = 1; d <= 2048; d *= 2)
        ok |= d >= k - 1 && d <= L - 1 && d <= o->max_dist;
    if (!ok)
        return sv_seterr(e, SV_ERR_INVALID,
                         "trainer: no time span d in {1, 2, ..., 2048} with k-1 = %lld <= d <= min(L-1 = %d, max_dist = %d)",
                         (long long)(k - 1), L - 1, o->max_dist);
    return 0;
}

int sv_trainer_new(sv_ctx *ctx, const sv_mconfig *cfg, const sv_trainer_opts *opts, sv_trainer **out)
{
    *out = NULL;
    sv_trainer_opts o;
    if (opts)
        o = *opts;
    else
        sv_trainer_opts_default(&o);
    int rc = sv_mconfig_validate(cfg, sv_ctx_err(ctx));
    if (rc || (rc = check_opts(ctx, cfg, &o)))
        return rc;
    sv_trainer *tr = calloc(1, sizeof *tr);
    if (!tr)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "trainer: out of memory");
    tr->ctx = ctx;
    tr->cfg = *cfg;
    tr->o = o;
    tr->k = cfg->frames_per_clip;
    const double rg = (double)o.g_reg_interval / (o.g_reg_interval + 1);
    const double rd = (double)o.d_reg_interval / (o.d_reg_interval + 1);
    tr->hp.lr_g = o.lr_g * rg;
    tr->hp.beta1_g = pow(o.beta1, rg);
    tr->hp.beta2_g = pow(o.beta2, rg);
    tr->hp.lr_d = o.lr_d * rd;
    tr->hp.beta1_d = pow(o.beta1, rd);
    tr->hp.beta2_d = pow(o.beta2, rd);
    tr->hp.r1_gamma = o.r1_gamma >= 0 ? o.r1_gamma : 0.0002 * (double)cfg->resolution * cfg->resolution / (double)o.batch;
    tr->ema_nimg = 1000.0 * (o.ema_kimg > 0 ? o.ema_kimg : (double)o.batch * 10.0 / 32.0);
    tr->hp.ema_beta = pow(0.5, (double)o.batch / tr->ema_nimg);
    if ((rc = sv_ada_init(&tr->ada, o.aug_p, o.aug_target, o.batch, o.ada_kimg, o.ada_interval, sv_ctx_err(ctx)))) {
        free(tr);
        return rc;
    }

    if ((rc = sv_generator_new(ctx, cfg, &tr->g)) || (rc = sv_generator_new(ctx, cfg, &tr->g_ema)) ||
        (rc = sv_discriminator_new(ctx, cfg, &tr->d)) || (rc = sv_generator_init(tr->g, o.seed)) ||
        (rc = sv_discriminator_init(tr->d, o.seed)))
        goto fail;
    for (int w = 0; w < 2; w++) {
        sv_params *p = w ? sv_discriminator_params(tr->d) : sv_generator_params(tr->g);
        if ((rc = sv_params_clone_layout(p, &tr->grad[w])) || (rc = sv_params_clone_layout(p, &tr->m[w])) ||
            (rc = sv_params_clone_layout(p, &tr->v[w])))
            goto fail;
    }
    sv_params *gp = sv_generator_params(tr->g);
    const size_t np = sv_params_count(gp);
    const int64_t tmax = sv_mconfig_motion_tokens(cfg, (double)cfg->max_num_frames);
    tr->g_buf = calloc(np ? np : 1, 1);
    tr->zh = malloc((size_t)(o.batch * cfg->z_dim) * sizeof *tr->zh);
    tr->tf = malloc((size_t)(o.batch * tr->k) * sizeof *tr->tf);
    tr->pool = malloc(2048 * sizeof *tr->pool);
    if (!tr->g_buf || !tr->zh || !tr->tf || !tr->pool || tmax < 1) {
        rc = sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "trainer: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < np; i++)
        tr->g_buf[i] = (unsigned char)g_is_buffer(sv_params_name(gp, i));
    if ((rc = sv_trainer_reset_ema(tr)))
        goto fail;
    *out = tr;
    return 0;
fail:
    sv_trainer_free(tr);
    return rc;
}

void sv_trainer_free(sv_trainer *tr)
{
    if (!tr)
        return;
    for (int w = 0; w < 2; w++) {
        sv_params_free(tr->grad[w]);
        sv_params_free(tr->m[w]);
        sv_params_free(tr->v[w]);
    }
    sv_generator_free(tr->g);
    sv_generator_free(tr->g_ema);
    sv_discriminator_free(tr->d);
    free(tr->g_buf);
    free(tr->zh);
    free(tr->tokh);
    free(tr->tf);
    free(tr->pool);
    free(tr->len);
    free(tr);
}

int sv_trainer_reset_ema(sv_trainer *tr)
{
    return sv_tensor_copy(sv_params_flat(sv_generator_params(tr->g_ema)), sv_params_flat(sv_generator_params(tr->g)));
}

/* Draw z, fake times and motion tokens of one phase onto the device. */
static int draw_phase(sv_trainer *tr, int phase, sv_tensor *z, sv_tensor *tok)
{
    const int64_t B = tr->o.batch;
    int64_t L = 0;
    int rc = sv_trainer_draws(tr, tr->iter, phase, tr->zh, tr->tf, &L);
    if (rc || L < 1)
        return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_INVALID, "trainer: cannot draw fake times");
    const int64_t C = tr->cfg.motion_z_dim, n = B * L * C;
    if (n > tr->tok_cap) {
        float *p = realloc(tr->tokh, (size_t)n * sizeof *p);
        if (!p)
            return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_NOMEM, "trainer: out of memory");
        tr->tokh = p;
        tr->tok_cap = n;
    }
    sv_rng_normal(tr->o.seed, stream_of(tr->iter, phase, P_MOTION), 0, (size_t)n, tr->tokh);
    const int64_t zs[2] = {B, tr->cfg.z_dim}, ts[3] = {B, L, C};
    if ((rc = sv_tensor_new(tr->ctx, z, 2, zs)) || (rc = sv_tensor_new(tr->ctx, tok, 3, ts)) ||
        (rc = sv_tensor_write(z, tr->zh, (size_t)(B * tr->cfg.z_dim))) || (rc = sv_tensor_write(tok, tr->tokh, (size_t)n)))
        return rc;
    return 0;
}

static int read_scalar(const sv_tensor *t, double *out)
{
    float v;
    int rc = sv_tensor_read(t, &v, 1);
    *out = rc ? NAN : (double)v;
    return rc;
}

static int read_mean(const sv_tensor *t, double *out)
{
    const int64_t n = sv_numel(t);
    float buf[256];
    double s = 0;
    float *h = n <= 256 ? buf : malloc((size_t)n * sizeof *h);
    if (!h)
        return SV_ERR_NOMEM;
    int rc = sv_tensor_read(t, h, (size_t)n);
    for (int64_t i = 0; !rc && i < n; i++)
        s += h[i];
    if (h != buf)
        free(h);
    *out = rc ? NAN : s / (double)n;
    return rc;
}

/* Count, then scrub or fail, then Adam on network w. */
static int hygiene_and_step(sv_trainer *tr, int w, const char *phase, int64_t *count)
{
    sv_tensor *g = sv_params_flat(tr->grad[w]);
    int rc = sv_count_nonfinite(tr->ctx, g, count);
    if (rc)
        return rc;
    if (*count) {
        if (tr->o.nan_policy == SV_NAN_FAIL)
            return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_NUMERIC,
                             "trainer: iteration %lld, %s: %lld non-finite gradient entries (policy fail: step not taken)",
                             (long long)tr->iter, phase, (long long)*count);
        if ((rc = sv_nan_to_num(tr->ctx, g)))
            return rc;
    }
    sv_params *p = w ? sv_discriminator_params(tr->d) : sv_generator_params(tr->g);
    const double lr = w ? tr->hp.lr_d : tr->hp.lr_g, b1 = w ? tr->hp.beta1_d : tr->hp.beta1_g,
                 b2 = w ? tr->hp.beta2_d : tr->hp.beta2_g;
    rc = sv_adam_step(tr->ctx, sv_params_flat(p), g, sv_params_flat(tr->m[w]), sv_params_flat(tr->v[w]), (float)lr,
                      (float)b1, (float)b2, (float)tr->o.eps, tr->steps[w] + 1);
    if (!rc)
        tr->steps[w]++;
    return rc;
}

/* The augmentation plan of draw u (0 Gmain fakes, 1 Dmain fakes, 2 Dmain
 * reals, 3 Dreg reals) of the current iteration.  *out stays NULL when no
 * transform fired for any clip: the pipeline would be the identity up to
 * float32 round-off (≈3e-5 through the sym6 pair, spec §9.14), so svgan skips
 * it — unlike the official code, which runs it even at p = 0.  At small p
 * (ADA's start) most phases are skipped this way. */
static int aug_plan(sv_trainer *tr, int u, sv_augment_plan **out)
{
    *out = NULL;
    const int64_t B = tr->o.batch;
    const int R = tr->cfg.resolution;
    sv_augment_clip *cl = malloc((size_t)B * sizeof *cl);
    if (!cl)
        return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_NOMEM, "trainer: out of memory");
    int rc = sv_augment_draw(NULL, tr->ada.p, B, R, R, tr->o.seed,
                             SV_TRAIN_AUG_STREAM + 4 * (uint64_t)tr->iter + (uint64_t)u, cl, sv_ctx_err(tr->ctx));
    unsigned fired = 0;
    for (int64_t b = 0; !rc && b < B; b++)
        fired |= cl[b].fired;
    if (!rc && fired)
        rc = sv_augment_plan_new(tr->ctx, cl, B, tr->k, R, R, out);
    free(cl);
    return rc;
}

/* ADA: accumulate sign(D(real)) of B logits (and into this iteration's mean). */
static int ada_signs(sv_trainer *tr, const sv_tensor *logits, double *sum, int64_t *n)
{
    const int64_t B = sv_numel(logits);
    float *h = malloc((size_t)B * sizeof *h);
    if (!h)
        return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_NOMEM, "trainer: out of memory");
    int rc = sv_tensor_read(logits, h, (size_t)B);
    if (!rc) {
        sv_ada_accumulate(&tr->ada, h, B);
        for (int64_t i = 0; i < B; i++)
            if (!isnan(h[i])) {
                *sum += (h[i] > 0) - (h[i] < 0);
                ++*n;
            }
    }
    free(h);
    return rc;
}

int sv_trainer_iteration(sv_trainer *tr, const sv_tensor *real, const double *t_real, sv_trainer_stats *stats)
{
    if (!tr)
        return SV_ERR_INVALID;
    sv_ctx *ctx = tr->ctx;
    const int64_t B = tr->o.batch, k = tr->k, R = tr->cfg.resolution;
    const int64_t fs[4] = {B * k, 3, R, R};
    sv_trainer_stats st;
    memset(&st, 0, sizeof st);
    st.iteration = tr->iter;
    st.loss_r1 = st.r1_penalty = NAN;
    if (!real || !t_real)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "trainer: real frames and times are required");
    int rc = sv_check_shape(real, "trainer: real frames", 4, fs);
    if (rc)
        return rc;
    for (int64_t i = 0; i < B * k; i++)
        if (!isfinite(t_real[i]) || t_real[i] < 0 || (i % k && t_real[i] < t_real[i - 1]))
            return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                             "trainer: real time %lld (%g) must be finite, >= 0 and sorted within its clip",
                             (long long)i, t_real[i]);

    sv_tensor z = {0}, tok = {0}, fake = {0}, gfake = {0}, loss = {0}, lg = {0}, lr_ = {0}, pen = {0};
    sv_tensor fa = {0}, ga = {0}, ra = {0}, lgr = {0};
    sv_augment_plan *pl = NULL, *pl2 = NULL;
    const int64_t one[1] = {1}, bs[1] = {B}, ps[1] = {B * k};
    const int ada = tr->o.aug == SV_AUGMODE_ADA;
    const int use_aug = ada || (tr->o.aug == SV_AUGMODE_FIXED && tr->ada.p > 0);
    double sgn_sum = 0;
    int64_t sgn_n = 0;
    st.aug_p = use_aug ? tr->ada.p : 0;
    st.ada_sign = NAN;
    double *tf2 = malloc((size_t)(B * k) * sizeof *tf2);
    if (!tf2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "trainer: out of memory");
    const float wb = (float)tr->o.w_avg_beta;
    double t0 = now_s(), t1;
    if ((rc = sv_tensor_new(ctx, &fake, 4, fs)) || (rc = sv_tensor_new(ctx, &gfake, 4, fs)) ||
        (rc = sv_tensor_new(ctx, &loss, 1, one)) || (rc = sv_tensor_new(ctx, &lg, 1, bs)) ||
        (rc = sv_tensor_new(ctx, &lr_, 1, bs)) || (rc = sv_tensor_new(ctx, &lgr, 1, bs)))
        goto done;
    if (use_aug && ((rc = sv_tensor_new(ctx, &fa, 4, fs)) || (rc = sv_tensor_new(ctx, &ga, 4, fs)) ||
                    (rc = sv_tensor_new(ctx, &ra, 4, fs))))
        goto done;

    /* ---- Gmain ---- */
    if ((rc = draw_phase(tr, 0, &z, &tok)) ||
        (rc = sv_generator_forward_train(tr->g, &z, &tok, tr->tf, k, &fake)) ||
        (rc = sv_generator_update_w_avg(tr->g, wb)))
        goto done;
    if (use_aug && (rc = aug_plan(tr, 0, &pl)))
        goto done;
    if (pl) { /* D sees aug(fake); ∂L/∂fake = Aᵀ·∂L/∂aug(fake) */
        if ((rc = sv_augment_fwd(ctx, pl, &fake, &fa)) ||
            (rc = sv_discriminator_loss_gen(tr->d, &fa, tr->tf, k, &ga, &loss, &lg)) ||
            (rc = sv_augment_bwd(ctx, pl, &ga, &gfake)))
            goto done;
        sv_augment_plan_free(pl);
        pl = NULL;
    } else if ((rc = sv_discriminator_loss_gen(tr->d, &fake, tr->tf, k, &gfake, &loss, &lg)))
        goto done;
    if ((rc = sv_generator_backward(tr->g, &gfake, tr->grad[0], 0)) || (rc = read_scalar(&loss, &st.loss_g)) ||
        (rc = read_mean(&lg, &st.logits_fake_g)) || (rc = hygiene_and_step(tr, 0, "Gmain", &st.nonfinite_g)))
        goto done;
    sv_tensor_free(&z);
    sv_tensor_free(&tok);
    if ((rc = sv_ctx_finish(ctx)))
        goto done;
    t1 = now_s();
    st.time_g = t1 - t0;
    t0 = t1;

    /* ---- Greg: no-op (PL weight 0) ---- */

    /* ---- Dmain ---- */
    if ((rc = draw_phase(tr, 1, &z, &tok)))
        goto done;
    memcpy(tf2, tr->tf, (size_t)(B * k) * sizeof *tf2);
    if ((rc = sv_generator_forward_train(tr->g, &z, &tok, tf2, k, &fake)) ||
        (rc = sv_generator_update_w_avg(tr->g, wb)))
        goto done;
    const sv_tensor *dfake = &fake, *dreal = real;
    if (use_aug && ((rc = aug_plan(tr, 1, &pl)) || (rc = aug_plan(tr, 2, &pl2))))
        goto done;
    if (pl) {
        if ((rc = sv_augment_fwd(ctx, pl, &fake, &fa)))
            goto done;
        dfake = &fa;
    }
    if (pl2) {
        if ((rc = sv_augment_fwd(ctx, pl2, real, &ra)))
            goto done;
        dreal = &ra;
    }
    if ((rc = sv_discriminator_loss_main(tr->d, dfake, tf2, dreal, t_real, k, tr->grad[1], 0, &loss, &lg, &lr_)) ||
        (ada && (rc = ada_signs(tr, &lr_, &sgn_sum, &sgn_n))) || (rc = read_scalar(&loss, &st.loss_d)) || (rc = read_mean(&lg, &st.logits_fake_d)) ||
        (rc = read_mean(&lr_, &st.logits_real)) || (rc = hygiene_and_step(tr, 1, "Dmain", &st.nonfinite_d)))
        goto done;
    sv_tensor_free(&z);
    sv_tensor_free(&tok);
    if ((rc = sv_ctx_finish(ctx)))
        goto done;
    t1 = now_s();
    st.time_d = t1 - t0;
    t0 = t1;

    /* ---- Dreg: exact R1 with the lazy gain ---- */
    if (tr->iter % tr->o.d_reg_interval == 0) {
        const double gain = (double)tr->o.d_reg_interval;
        sv_augment_plan_free(pl);
        pl = NULL;
        if ((rc = sv_tensor_new(ctx, &pen, 1, ps)) || (use_aug && (rc = aug_plan(tr, 3, &pl))) ||
            (rc = sv_discriminator_r1_aug(tr->d, real, t_real, k, (float)(tr->hp.r1_gamma * gain), pl, NULL, &pen,
                                          &loss, &lgr, tr->grad[1], 0)) ||
            (ada && (rc = ada_signs(tr, &lgr, &sgn_sum, &sgn_n))) ||
            (rc = read_scalar(&loss, &st.loss_r1)) || (rc = read_mean(&pen, &st.r1_penalty)) ||
            (rc = hygiene_and_step(tr, 1, "Dreg", &st.nonfinite_r1)))
            goto done;
        st.loss_r1 /= gain;
        st.r1_ran = 1;
        if ((rc = sv_ctx_finish(ctx)))
            goto done;
        t1 = now_s();
        st.time_r1 = t1 - t0;
        t0 = t1;
    }

    /* ---- G_ema: params lerp, buffers copied ---- */
    {
        sv_params *gp = sv_generator_params(tr->g), *ep = sv_generator_params(tr->g_ema);
        double beta = tr->hp.ema_beta;
        if (tr->o.ema_rampup > 0) {
            const double ema_nimg = fmin(tr->ema_nimg, (double)tr->nimg * tr->o.ema_rampup);
            beta = pow(0.5, (double)B / fmax(ema_nimg, 1e-8));
        }
        st.ema_beta = beta;
        if ((rc = sv_ema_update(ctx, sv_params_flat(ep), sv_params_flat(gp), (float)beta)))
            goto done;
        for (size_t i = 0; i < sv_params_count(gp); i++)
            if (tr->g_buf[i] && (rc = sv_tensor_copy(sv_params_at(ep, i), sv_params_at(gp, i))))
                goto done;
        if ((rc = sv_ctx_finish(ctx)))
            goto done;
        t1 = now_s();
        st.time_ema = t1 - t0;
    }
    tr->nimg += B * k;
    tr->iter++;
    if (ada) {
        st.ada_sign = sgn_n ? sgn_sum / (double)sgn_n : NAN;
        sv_ada_step(&tr->ada, tr->iter);
    }
    st.nonfinite = (st.nonfinite_g + st.nonfinite_d + st.nonfinite_r1) > 0;
    st.time_total = st.time_g + st.time_d + st.time_r1 + st.time_ema;
done:
    if (rc && stats) /* report what was measured before the failure */
        st.nonfinite = (st.nonfinite_g + st.nonfinite_d + st.nonfinite_r1) > 0;
    if (stats)
        *stats = st;
    sv_tensor_free(&z);
    sv_tensor_free(&tok);
    sv_tensor_free(&fake);
    sv_tensor_free(&gfake);
    sv_tensor_free(&loss);
    sv_tensor_free(&lg);
    sv_tensor_free(&lr_);
    sv_tensor_free(&pen);
    sv_tensor_free(&fa);
    sv_tensor_free(&ga);
    sv_tensor_free(&ra);
    sv_tensor_free(&lgr);
    sv_augment_plan_free(pl);
    sv_augment_plan_free(pl2);
    free(tf2);
    return rc;
}

sv_generator *sv_trainer_generator(sv_trainer *tr) { return tr->g; }
sv_generator *sv_trainer_generator_ema(sv_trainer *tr) { return tr->g_ema; }
sv_discriminator *sv_trainer_discriminator(sv_trainer *tr) { return tr->d; }
const sv_trainer_opts *sv_trainer_options(const sv_trainer *tr) { return &tr->o; }
const sv_trainer_hparams *sv_trainer_effective(const sv_trainer *tr) { return &tr->hp; }
sv_params *sv_trainer_grads(sv_trainer *tr, int which) { return tr->grad[which ? 1 : 0]; }
sv_params *sv_trainer_adam_m(sv_trainer *tr, int which) { return tr->m[which ? 1 : 0]; }
sv_params *sv_trainer_adam_v(sv_trainer *tr, int which) { return tr->v[which ? 1 : 0]; }
int64_t sv_trainer_adam_steps(const sv_trainer *tr, int which) { return tr->steps[which ? 1 : 0]; }
int64_t sv_trainer_iteration_count(const sv_trainer *tr) { return tr->iter; }
int64_t sv_trainer_cur_nimg(const sv_trainer *tr) { return tr->nimg; }

void sv_trainer_set_counters(sv_trainer *tr, int64_t iteration, int64_t cur_nimg, int64_t steps_g, int64_t steps_d)
{
    tr->iter = iteration;
    tr->nimg = cur_nimg;
    tr->steps[0] = steps_g;
    tr->steps[1] = steps_d;
}

int sv_trainer_set_video_lengths(sv_trainer *tr, const int64_t *len, int64_t n)
{
    if (!tr || n < 0 || (n && !len))
        return SV_ERR_INVALID;
    int64_t *c = NULL;
    if (n) {
        int dists[12];
        const int M = tr->cfg.max_num_frames;
        if (!(c = malloc((size_t)n * sizeof *c)))
            return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_NOMEM, "trainer: out of memory");
        for (int64_t v = 0; v < n; v++) {
            c[v] = len[v] < M ? len[v] : M;
            if (c[v] < 1 || !sv_clip_spans((int)tr->k, c[v], tr->o.max_dist, dists)) {
                free(c);
                return sv_seterr(sv_ctx_err(tr->ctx), SV_ERR_INVALID,
                                 "trainer: video %lld has %lld frames: too short for clips of k = %lld frames",
                                 (long long)v, (long long)len[v], (long long)tr->k);
            }
        }
    }
    free(tr->len);
    tr->len = c;
    tr->nlen = n;
    return 0;
}

void sv_trainer_aug_state(const sv_trainer *tr, double *p, double *sign_sum, int64_t *count)
{
    if (p)
        *p = tr->ada.p;
    if (sign_sum)
        *sign_sum = tr->ada.sign_sum;
    if (count)
        *count = tr->ada.count;
}

void sv_trainer_set_aug_state(sv_trainer *tr, double p, double sign_sum, int64_t count)
{
    tr->ada.p = p;
    tr->ada.sign_sum = sign_sum;
    tr->ada.count = count;
}
