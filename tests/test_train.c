/* Training loop pieces (svgan/trainer.h): clip sampling (spec §4.5) and the
 * training checkpoint (full-state, bit-exact resume).
 *
 * Cases
 *   spans          the allowed span sets for k = 1..4 and short videos
 *   real_clips     sampler laws for k = 1, 2, 3, 4: spans in the set, start
 *                  in {0 … L−T−1}, sorted distinct frames, integer times
 *                  relative to the window, windows of long videos, every
 *                  (video, flip) item once per epoch with x-flip, fresh order
 *                  per epoch, determinism for a seed, another seed differs;
 *                  too-short videos are a one-line error
 *   fake_clips     fractional starts s ∈ [0, L−T−1), integer gaps; trainer
 *                  fake times with dataset lengths: L from the given videos
 *                  (all spans ≤ L−1), reproducible
 *   resume         tiny32, B = 2, k = 2, demo data, R1 every 4th iteration:
 *                  6 iterations straight vs 3 + save + free + load + 3;
 *                  G, G_ema, D, Adam m/v (w_avg is a G buffer), counters and
 *                  step counts bit-identical (memcmp); 5 iterations differ
 *   atomic         a failing save (temporary name blocked, missing dir)
 *                  leaves the previous file intact, one-line SV_ERR_IO
 *   bad_files      garbage, a model file without training state, another
 *                  configuration: one-line errors, the trainer unchanged;
 *                  a training checkpoint loads in the sampler's path (G_ema) */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "svgan/dataset.h"
#include "svgan/trainer.h"

static int is_pow2(int64_t x) { return x > 0 && (x & (x - 1)) == 0; }

START_TEST(spans)
{
    int d[12];
    ck_assert_int_eq(sv_clip_spans(3, 1024, 32, d), 5);
    ck_assert(d[0] == 2 && d[4] == 32);
    ck_assert_int_eq(sv_clip_spans(1, 1024, 32, d), 6);
    ck_assert(d[0] == 1);
    ck_assert_int_eq(sv_clip_spans(2, 1024, 32, d), 6);
    ck_assert_int_eq(sv_clip_spans(4, 1024, 32, d), 4); /* {4, 8, 16, 32} */
    ck_assert(d[0] == 4);
    ck_assert_int_eq(sv_clip_spans(3, 3, 32, d), 1); /* L = 3: {2} */
    ck_assert_int_eq(sv_clip_spans(3, 2, 32, d), 0);
    ck_assert_int_eq(sv_clip_spans(4, 4, 32, d), 0); /* needs L ≥ 5 */
    ck_assert_int_eq(sv_clip_spans(3, 20, 32, d), 4); /* {2, 4, 8, 16} */
    ck_assert_int_eq(sv_clip_spans(3, 5000, 2048, d), 11);
}
END_TEST

static void check_clip(int k, int64_t len, int M, const int64_t *fr, const double *t, int64_t *window_seen)
{
    const int64_t L = len < M ? len : M;
    const int64_t o = fr[0] - (int64_t)t[0];
    ck_assert(o >= 0 && o <= (len > M ? len - M : 0));
    if (len > M && o > 0)
        *window_seen = 1;
    for (int f = 0; f < k; f++) {
        ck_assert(t[f] == floor(t[f]));
        ck_assert(fr[f] == o + (int64_t)t[f]);
        ck_assert(t[f] >= 0 && t[f] <= L - 1);
        ck_assert(fr[f] < len);
        if (f)
            ck_assert_msg(t[f] > t[f - 1], "frames must be sorted and distinct");
    }
    if (k >= 2) {
        const int64_t T = (int64_t)(t[k - 1] - t[0]);
        int d[12];
        const int n = sv_clip_spans(k, L, 32, d);
        int ok = 0;
        for (int i = 0; i < n; i++)
            ok |= d[i] == T;
        ck_assert_msg(ok && is_pow2(T), "span %lld not in the allowed set (k %d, L %lld)", (long long)T, k, (long long)L);
        ck_assert(t[0] <= L - T - 1);
    }
}

START_TEST(real_clips)
{
    const int64_t len[5] = {40, 3000, 17, 64, 1030};
    const int M = 1024;
    sv_err e = {0};
    for (int k = 1; k <= 4; k++) {
        for (int xf = 0; xf < 2; xf++) {
            sv_clip_sampler *s = NULL, *s2 = NULL, *s3 = NULL;
            ck_assert_int_eq(sv_clip_sampler_new(len, 5, xf, k, M, 32, 7, &s, &e), 0);
            ck_assert_int_eq(sv_clip_sampler_new(len, 5, xf, k, M, 32, 7, &s2, &e), 0);
            ck_assert_int_eq(sv_clip_sampler_new(len, 5, xf, k, M, 32, 8, &s3, &e), 0);
            const int items = xf ? 10 : 5;
            int64_t window_seen = 0, diff_seed = 0, first_order[10], diff_epoch = 0;
            double tmax_start = 0;
            for (int64_t g = 0; g < items * 40; g++) {
                int64_t v, fr[4], v3, fr3[4];
                int flip, flip3;
                double t[4], t3[4];
                ck_assert_int_eq(sv_clip_sampler_get(s, g, &v, &flip, fr, t), 0);
                ck_assert_int_eq(sv_clip_sampler_get(s3, g, &v3, &flip3, fr3, t3), 0);
                check_clip(k, len[v], M, fr, t, &window_seen);
                ck_assert(xf || !flip);
                diff_seed |= v3 != v || flip3 != flip || memcmp(t, t3, (size_t)k * sizeof *t);
                if (t[0] > tmax_start)
                    tmax_start = t[0];
                /* every item once per epoch */
                static int seen[10];
                if (g % items == 0)
                    memset(seen, 0, sizeof seen);
                const int item = (int)(v + (flip ? 5 : 0));
                ck_assert_msg(!seen[item], "item %d twice in one epoch", item);
                seen[item] = 1;
                if (g < items)
                    first_order[g] = item;
                else if (g < 2 * items)
                    diff_epoch |= first_order[g - items] != item;
            }
            /* determinism, also when asked in another order */
            for (int64_t g = items * 40 - 1; g >= 0; g -= 7) {
                int64_t v, fr[4], vb, frb[4];
                int flip, flipb;
                double t[4], tb[4];
                ck_assert_int_eq(sv_clip_sampler_get(s2, g, &v, &flip, fr, t), 0);
                ck_assert_int_eq(sv_clip_sampler_get(s, g, &vb, &flipb, frb, tb), 0);
                ck_assert(v == vb && flip == flipb && !memcmp(fr, frb, (size_t)k * sizeof *fr) &&
                          !memcmp(t, tb, (size_t)k * sizeof *t));
            }
            ck_assert_msg(window_seen, "no window start > 0 for the long videos");
            ck_assert(diff_seed);
            ck_assert_msg(diff_epoch, "the same order in two epochs");
            ck_assert(tmax_start > 0);
            sv_clip_sampler_free(s);
            sv_clip_sampler_free(s2);
            sv_clip_sampler_free(s3);
        }
    }
    /* too short for k = 4 (needs 5 frames) */
    const int64_t shorty[2] = {40, 4};
    sv_clip_sampler *s = NULL;
    ck_assert_int_eq(sv_clip_sampler_new(shorty, 2, 0, 4, M, 32, 0, &s, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "video 1 has 4 frames") && !strchr(e.msg, '\n'), "%s", e.msg);
    ck_assert(s == NULL);
    ck_assert_int_eq(sv_clip_sampler_new(shorty, 0, 0, 3, M, 32, 0, &s, &e), SV_ERR_INVALID);
}
END_TEST

START_TEST(fake_clips)
{
    int pool[2048];
    tu_rng r;
    tu_seed(&r, 3);
    for (int k = 1; k <= 4; k++)
        for (int rep = 0; rep < 500; rep++) {
            double u[4], t[4];
            for (int i = 0; i < 4; i++)
                u[i] = tu_uniform(&r);
            const int64_t L = 5 + (int64_t)(tu_uniform(&r) * 100);
            ck_assert_int_eq(sv_clip_times(k, L, 32, 1, u, t, pool), 0);
            ck_assert(t[0] >= 0);
            for (int f = 1; f < k; f++) {
                ck_assert(t[f] > t[f - 1]);
                ck_assert(fabs(t[f] - t[0] - round(t[f] - t[0])) < 1e-9);
            }
            if (k >= 2) {
                const double T = round(t[k - 1] - t[0]);
                ck_assert(is_pow2((int64_t)T) && T >= k - 1 && T <= 32 && T <= L - 1);
                ck_assert(t[0] < L - T - 1 || (t[0] == 0 && L - T - 1 == 0));
            }
        }
    /* the trainer with dataset lengths: L from the videos */
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_mconfig c;
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    c.frames_per_clip = 3;
    sv_trainer_opts o;
    sv_trainer_opts_default(&o);
    sv_trainer *tr = NULL;
    TU_OK(ctx, sv_trainer_new(ctx, &c, &o, &tr));
    const int64_t lens[3] = {8, 6, 2000};
    ck_assert_int_eq(sv_trainer_set_video_lengths(tr, lens, 2), 0);
    for (int64_t it = 0; it < 50; it++) {
        double t[12], t2[12];
        TU_OK(ctx, sv_trainer_draws(tr, it, (int)(it & 1), NULL, t, NULL));
        TU_OK(ctx, sv_trainer_draws(tr, it, (int)(it & 1), NULL, t2, NULL));
        ck_assert(!memcmp(t, t2, sizeof t));
        for (int b = 0; b < 4; b++) {
            const double T = round(t[b * 3 + 2] - t[b * 3]);
            ck_assert_msg(T == 2 || T == 4, "span %g with videos of 8 and 6 frames", T);
            ck_assert(t[b * 3 + 2] < 7);
        }
    }
    /* a video too short for k = 3 */
    const int64_t bad[2] = {8, 2};
    ck_assert_int_eq(sv_trainer_set_video_lengths(tr, bad, 2), SV_ERR_INVALID);
    ck_assert_msg(strstr(sv_ctx_errmsg(ctx), "video 1 has 2 frames"), "%s", sv_ctx_errmsg(ctx));
    /* long videos: spans up to 32 appear */
    ck_assert_int_eq(sv_trainer_set_video_lengths(tr, lens + 2, 1), 0);
    int big = 0;
    for (int64_t it = 0; it < 50; it++) {
        double t[12];
        TU_OK(ctx, sv_trainer_draws(tr, it, 0, NULL, t, NULL));
        for (int b = 0; b < 4; b++)
            big |= round(t[b * 3 + 2] - t[b * 3]) == 32;
    }
    ck_assert(big);
    sv_trainer_free(tr);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- resume -------------------------------------------------------------------- */

typedef struct run {
    sv_ctx *ctx;
    sv_mconfig cfg;
    sv_trainer_opts o;
    sv_dataset *ds;
    sv_clip_sampler *cs;
    int64_t lens[64];
} run;

static void run_setup(run *r)
{
    sv_err e = {0};
    r->ctx = tu_ctx();
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &r->cfg, &e), 0);
    r->cfg.frames_per_clip = 2;
    sv_trainer_opts_default(&r->o);
    r->o.batch = 2;
    r->o.d_reg_interval = 4;
    r->o.seed = 11;
    sv_dataset_opts dso;
    sv_dataset_opts_default(&dso);
    dso.resolution = 32;
    dso.demo_videos = 8;
    dso.demo_frames = 40;
    ck_assert_msg(sv_dataset_open("demo", &dso, &r->ds, &e) == 0, "%s", e.msg);
    const int64_t n = sv_dataset_num_videos(r->ds);
    ck_assert(n == 8);
    for (int64_t v = 0; v < n; v++)
        r->lens[v] = sv_dataset_video_frames(r->ds, v);
    ck_assert_int_eq(sv_clip_sampler_new(r->lens, n, 1, 2, r->cfg.max_num_frames, 32, r->o.seed, &r->cs, &e), 0);
}

static void run_teardown(run *r)
{
    sv_clip_sampler_free(r->cs);
    sv_dataset_close(r->ds);
    sv_ctx_destroy(r->ctx);
}

static void iterate(run *r, sv_trainer *tr, int n, int *r1_runs)
{
    const int64_t B = 2, K = 2, R = 32, fr = 3 * R * R;
    uint8_t *u8 = malloc((size_t)(B * K * fr));
    float *x = malloc((size_t)(B * K * fr) * sizeof *x);
    double t[4];
    int64_t idx[2];
    sv_tensor real = {0};
    const int64_t s[4] = {B * K, 3, R, R};
    ck_assert(u8 && x);
    TU_OK(r->ctx, sv_tensor_new(r->ctx, &real, 4, s));
    for (int i = 0; i < n; i++) {
        const int64_t it = sv_trainer_iteration_count(tr);
        for (int64_t b = 0; b < B; b++) {
            int64_t v;
            int flip;
            sv_err e = {0};
            ck_assert_int_eq(sv_clip_sampler_get(r->cs, it * B + b, &v, &flip, idx, t + b * K), 0);
            ck_assert_msg(sv_dataset_read(r->ds, v, idx, (int)K, flip, u8 + b * K * fr, &e) == 0, "%s", e.msg);
        }
        for (int64_t j = 0; j < B * K * fr; j++)
            x[j] = (float)u8[j] / 127.5f - 1.0f;
        TU_OK(r->ctx, sv_tensor_write(&real, x, (size_t)(B * K * fr)));
        sv_trainer_stats st;
        TU_OK(r->ctx, sv_trainer_iteration(tr, &real, t, &st));
        *r1_runs += st.r1_ran;
    }
    sv_tensor_free(&real);
    free(u8);
    free(x);
}

static float *flat(sv_params *p, size_t *n)
{
    *n = (size_t)sv_params_numel(p);
    float *h = malloc(*n * sizeof *h);
    ck_assert(h);
    ck_assert_int_eq(sv_tensor_read(sv_params_flat(p), h, *n), 0);
    return h;
}

/* State set s of a trainer: G, G_ema, D, then Adam m/v of G and of D. */
static sv_params *state_set(sv_trainer *t, int s)
{
    switch (s) {
    case 0: return sv_generator_params(sv_trainer_generator(t));
    case 1: return sv_generator_params(sv_trainer_generator_ema(t));
    case 2: return sv_discriminator_params(sv_trainer_discriminator(t));
    case 3: return sv_trainer_adam_m(t, 0);
    case 4: return sv_trainer_adam_v(t, 0);
    case 5: return sv_trainer_adam_m(t, 1);
    default: return sv_trainer_adam_v(t, 1);
    }
}

/* Number of the first nsets state sets that differ bit-wise. */
static int sets_differ(sv_trainer *a, sv_trainer *b, int nsets)
{
    int nd = 0;
    for (int s = 0; s < nsets; s++) {
        size_t na, nb;
        float *ha = flat(state_set(a, s), &na), *hb = flat(state_set(b, s), &nb);
        ck_assert(na == nb);
        nd += memcmp(ha, hb, na * sizeof *ha) != 0;
        free(ha);
        free(hb);
    }
    return nd;
}

/* Number of the 7 state sets that differ bit-wise, plus counters. */
static int state_diff(sv_trainer *a, sv_trainer *b)
{
    int nd = sets_differ(a, b, 7);
    nd += sv_trainer_iteration_count(a) != sv_trainer_iteration_count(b);
    nd += sv_trainer_cur_nimg(a) != sv_trainer_cur_nimg(b);
    nd += sv_trainer_adam_steps(a, 0) != sv_trainer_adam_steps(b, 0);
    nd += sv_trainer_adam_steps(a, 1) != sv_trainer_adam_steps(b, 1);
    double pa, pb, sa, sb;
    int64_t ca, cb;
    sv_trainer_aug_state(a, &pa, &sa, &ca);
    sv_trainer_aug_state(b, &pb, &sb, &cb);
    nd += pa != pb || sa != sb || ca != cb;
    return nd;
}

static void tmp_path(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "%s/svgan-test-train-%ld-%s.svgan", P_tmpdir, (long)getpid(), tag);
}

/* _i = 0: no augmentation; 1: ADA with p > 0 from the start, p updated every
 * 2 iterations, so the save at iteration 3 falls between two updates. */
START_TEST(resume)
{
    run r;
    run_setup(&r);
    if (_i == 1) {
        r.o.aug = SV_AUGMODE_ADA;
        r.o.aug_p = 0.3;
        r.o.ada_interval = 2;
        r.o.ada_kimg = 0.1; /* step 2·2/100 = 0.04 */
        r.o.ema_rampup = 0.05;
    }
    sv_err e = {0};
    char path[512];
    tmp_path(path, sizeof path, "resume");
    int r1a = 0, r1b = 0;
    /* straight: 6 iterations (R1 at 0 and 4) */
    sv_trainer *a = NULL, *b = NULL;
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &a));
    TU_OK(r.ctx, sv_trainer_set_video_lengths(a, r.lens, 8));
    iterate(&r, a, 6, &r1a);
    ck_assert_int_eq(r1a, 2);
    /* 3, save, free, load, 3 */
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &b));
    TU_OK(r.ctx, sv_trainer_set_video_lengths(b, r.lens, 8));
    iterate(&r, b, 3, &r1b);
    double ap0, as0;
    int64_t an0;
    sv_trainer_aug_state(b, &ap0, &as0, &an0);
    if (_i == 1)
        ck_assert_msg(an0 == 2 && ap0 != 0.3, "ADA: %lld signs pending, p %g", (long long)an0, ap0);
    ck_assert_msg(sv_trainer_save(b, path, NULL, &e) == 0, "%s", e.msg);
    sv_trainer_free(b);
    b = NULL;
    sv_mconfig c2;
    sv_trainer_opts o2;
    ck_assert_msg(sv_trainer_checkpoint_info(path, &c2, &o2, &e) == 0, "%s", e.msg);
    ck_assert(o2.batch == 2 && o2.d_reg_interval == 4 && o2.seed == 11 && o2.lr_g == r.o.lr_g &&
              o2.r1_gamma == r.o.r1_gamma && c2.frames_per_clip == 2 && o2.aug == r.o.aug &&
              o2.aug_p == r.o.aug_p && o2.ada_interval == r.o.ada_interval && o2.ada_kimg == r.o.ada_kimg &&
              o2.ema_rampup == r.o.ema_rampup);
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &c2, &o2, &b));
    ck_assert_msg(sv_trainer_load_state(b, path, &e) == 0, "%s", e.msg);
    double ap, as;
    int64_t an;
    sv_trainer_aug_state(b, &ap, &as, &an);
    ck_assert(ap == ap0 && as == as0 && an == an0);
    ck_assert_int_eq(sv_trainer_iteration_count(b), 3);
    TU_OK(r.ctx, sv_trainer_set_video_lengths(b, r.lens, 8));
    iterate(&r, b, 2, &r1b);
    ck_assert_msg(state_diff(a, b) > 0, "5 iterations equal 6: the comparison cannot fail");
    iterate(&r, b, 1, &r1b);
    ck_assert_int_eq(r1b, 2);
    ck_assert_int_eq(state_diff(a, b), 0);
    ck_assert_int_eq(sv_trainer_cur_nimg(b), 6 * 2 * 2);
    ck_assert_int_eq(sv_trainer_adam_steps(b, 1), 8); /* 6 Dmain + 2 R1 */
    sv_trainer_free(a);
    sv_trainer_free(b);
    unlink(path);
    run_teardown(&r);
}
END_TEST

/* EMA ramp-up: the half-life is min(ema_kimg·1000, nimg·rampup) clips, so the
 * first iteration (nimg 0) copies G into G_ema; without ramp-up it does not. */
START_TEST(ema_rampup)
{
    run r;
    run_setup(&r);
    for (int pass = 0; pass < 2; pass++) {
        r.o.ema_rampup = pass ? 0.05 : 0.0;
        sv_trainer *tr = NULL;
        TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &tr));
        TU_OK(r.ctx, sv_trainer_set_video_lengths(tr, r.lens, 8));
        int r1 = 0;
        iterate(&r, tr, 1, &r1);
        size_t na, nb;
        float *g = flat(sv_generator_params(sv_trainer_generator(tr)), &na);
        float *ge = flat(sv_generator_params(sv_trainer_generator_ema(tr)), &nb);
        ck_assert(na == nb);
        int same = memcmp(g, ge, na * sizeof *g) == 0;
        ck_assert_msg(same == pass, "ramp-up %g: G_ema %s G after the first iteration", r.o.ema_rampup,
                      same ? "equals" : "differs from");
        free(g);
        free(ge);
        /* second iteration: nimg = B·k = 4 frames, half-life min(625, 4·0.05) = 0.2 clips, beta = 0.5^(2/0.2) */
        sv_trainer_stats st;
        const int64_t B = 2, K = 2, R = 32;
        sv_tensor real = {0};
        const int64_t sh[4] = {B * K, 3, R, R};
        TU_OK(r.ctx, sv_tensor_new(r.ctx, &real, 4, sh));
        TU_OK(r.ctx, sv_tensor_fill(&real, 0.25f));
        double t[4] = {0, 1, 0, 2};
        TU_OK(r.ctx, sv_trainer_iteration(tr, &real, t, &st));
        const double want = pass ? pow(0.5, 2.0 / (4 * 0.05)) : sv_trainer_effective(tr)->ema_beta;
        ck_assert_msg(fabs(st.ema_beta - want) <= 1e-15, "ema_beta %.17g, expected %.17g", st.ema_beta, want);
        sv_tensor_free(&real);
        sv_trainer_free(tr);
    }
    run_teardown(&r);
}
END_TEST

/* ADA at p ≈ 0: no transform fires, the trainer skips the pipeline, so the
 * networks are bit-identical to a run without augmentation (and differ once
 * p is large enough for transforms to fire). */
START_TEST(ada_identity_skip)
{
    run r;
    run_setup(&r);
    sv_trainer *tr[3] = {NULL, NULL, NULL};
    for (int m = 0; m < 3; m++) {
        r.o.aug = m == 0 ? SV_AUGMODE_NONE : SV_AUGMODE_ADA;
        r.o.aug_p = m == 2 ? 0.5 : 0.0;
        r.o.ada_kimg = 1e9; /* p moves by ~1e-8 per update */
        TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &tr[m]));
        TU_OK(r.ctx, sv_trainer_set_video_lengths(tr[m], r.lens, 8));
        int r1 = 0;
        iterate(&r, tr[m], 5, &r1); /* R1 at 0 and 4 */
    }
    for (int m = 1; m < 3; m++) {
        const int nd = sets_differ(tr[0], tr[m], 3); /* G, G_ema, D */
        if (m == 1)
            ck_assert_msg(nd == 0, "ADA at p ~ 0 differs from no augmentation in %d of 3 parameter sets", nd);
        else
            ck_assert_msg(nd == 3, "ADA at p = 0.5 equals no augmentation in %d of 3 parameter sets", 3 - nd);
    }
    for (int m = 0; m < 3; m++)
        sv_trainer_free(tr[m]);
    run_teardown(&r);
}
END_TEST

START_TEST(atomic)
{
    run r;
    run_setup(&r);
    sv_err e = {0};
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "atomic");
    sv_trainer *a = NULL;
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &a));
    ck_assert_msg(sv_trainer_save(a, path, NULL, &e) == 0, "%s", e.msg);
    struct stat st0, st1;
    ck_assert_int_eq(stat(path, &st0), 0);
    int r1 = 0;
    TU_OK(r.ctx, sv_trainer_set_video_lengths(a, r.lens, 8));
    iterate(&r, a, 1, &r1);
    /* block the temporary name: the save fails, the old file stays */
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    ck_assert_int_eq(mkdir(tmp, 0700), 0);
    ck_assert_int_eq(sv_trainer_save(a, path, NULL, &e), SV_ERR_IO);
    ck_assert_msg(!strchr(e.msg, '\n') && strstr(e.msg, path), "%s", e.msg);
    rmdir(tmp);
    ck_assert_int_eq(stat(path, &st1), 0);
    ck_assert(st0.st_size == st1.st_size && st0.st_mtime == st1.st_mtime && st0.st_ino == st1.st_ino);
    /* the old file still loads, with iteration 0 */
    sv_trainer *b = NULL;
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &b));
    ck_assert_msg(sv_trainer_load_state(b, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(sv_trainer_iteration_count(b), 0);
    /* a directory that does not exist */
    ck_assert_int_eq(sv_trainer_save(a, "/nonexistent-svgan-dir/x.svgan", NULL, &e), SV_ERR_IO);
    ck_assert(!strchr(e.msg, '\n'));
    sv_trainer_free(a);
    sv_trainer_free(b);
    unlink(path);
    run_teardown(&r);
}
END_TEST

START_TEST(bad_files)
{
    run r;
    run_setup(&r);
    sv_err e = {0};
    char path[512], garbage[512], ema[512];
    tmp_path(path, sizeof path, "bad");
    tmp_path(garbage, sizeof garbage, "garbage");
    tmp_path(ema, sizeof ema, "ema");
    sv_trainer *a = NULL, *b = NULL;
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &r.cfg, &r.o, &a));
    int r1 = 0;
    TU_OK(r.ctx, sv_trainer_set_video_lengths(a, r.lens, 8));
    iterate(&r, a, 1, &r1);
    ck_assert_msg(sv_trainer_save(a, path, NULL, &e) == 0, "%s", e.msg);
    ck_assert_msg(sv_trainer_save_ema(a, ema, NULL, &e) == 0, "%s", e.msg);
    FILE *f = fopen(garbage, "wb");
    ck_assert(f);
    fputs("this is not a checkpoint at all, not even close", f);
    fclose(f);
    ck_assert_int_eq(sv_trainer_checkpoint_info(garbage, NULL, NULL, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "not an svgan checkpoint") && !strchr(e.msg, '\n'), "%s", e.msg);
    ck_assert_int_eq(sv_trainer_checkpoint_info(ema, NULL, NULL, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "not a training checkpoint"), "%s", e.msg);
    ck_assert(sv_trainer_checkpoint_info("/nonexistent-svgan.svgan", NULL, NULL, &e) != 0);
    /* another configuration: refused, the trainer unchanged */
    sv_mconfig c3 = r.cfg;
    c3.frames_per_clip = 3;
    TU_OK(r.ctx, sv_trainer_new(r.ctx, &c3, &r.o, &b));
    ck_assert_int_eq(sv_trainer_load_state(b, path, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "different model configuration"), "%s", e.msg);
    ck_assert_int_eq(sv_trainer_iteration_count(b), 0);
    sv_trainer_free(b);
    /* the sampler's path: G_ema from the training checkpoint and from the EMA-only file */
    for (int w = 0; w < 2; w++) {
        sv_st_file *sf = NULL;
        sv_mconfig c;
        ck_assert_msg(sv_checkpoint_open(w ? ema : path, &sf, &c, &e) == 0, "%s", e.msg);
        sv_generator *g = NULL;
        TU_OK(r.ctx, sv_generator_new(r.ctx, &c, &g));
        ck_assert_msg(sv_checkpoint_load_generator(sf, NULL, g, &e) == 0, "%s", e.msg);
        size_t n1, n2;
        float *h1 = flat(sv_generator_params(g), &n1), *h2 = flat(sv_generator_params(sv_trainer_generator_ema(a)), &n2);
        ck_assert(n1 == n2 && !memcmp(h1, h2, n1 * sizeof *h1));
        free(h1);
        free(h2);
        sv_generator_free(g);
        sv_st_close(sf);
    }
    sv_trainer_free(a);
    unlink(path);
    unlink(garbage);
    unlink(ema);
    run_teardown(&r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, spans);
    tcase_add_test(tc, real_clips);
    tcase_add_test(tc, fake_clips);
    tcase_add_loop_test(tc, resume, 0, 2);
    tcase_add_test(tc, ema_rampup);
    tcase_add_test(tc, ada_identity_skip);
    tcase_add_test(tc, atomic);
    tcase_add_test(tc, bad_files);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
