/* One training iteration (svgan/trainer.h) on the tiny32 configuration,
 * B = 4 clips × k = 3 frames.
 *
 * Cases
 *   hparams        effective lr / β2 (lazy adjustment), γ, EMA β; option errors
 *   fake_times     §4.5 fake times: sorted, integer gaps, power-of-two span in
 *                  [k−1, 32], start in [0, L−T−1); reproducible; phases differ
 *   schedule       several iterations: finite losses, R1 exactly at
 *                  iteration % interval == 0, step counters, cur_nimg,
 *                  buffers untouched by Adam (except w_avg)
 *   determinism    two trainers with one seed: bit-identical G, G_ema, D after
 *                  2 iterations; another seed differs
 *   adam_ema_wavg  iteration 1 vs float64 host: torch Adam with the adjusted
 *                  lr / β2 from the read-back gradients (G and D), G_ema =
 *                  lerp, buffers copied, w_avg = two lerps of the batch-mean w
 *                  of the Gmain and Dmain forwards (bit-identical)
 *   nan_policy     a NaN real pixel: counted in Dmain and R1, scrubbed (params
 *                  finite) or, with policy fail, SV_ERR_NUMERIC and D untouched */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgan/trainer.h"

#define B 4
#define K 3

static void tiny_cfg(sv_mconfig *c)
{
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", c, &e), 0);
    c->frames_per_clip = K;
}

/* Random reals in [−1, 1] and sorted integer times per clip. */
static sv_tensor make_real(sv_ctx *ctx, const sv_mconfig *c, uint64_t seed, double *t)
{
    const int64_t R = c->resolution, n = B * K * 3 * R * R;
    double *x = malloc((size_t)n * sizeof *x);
    ck_assert(x);
    tu_rng r;
    tu_seed(&r, seed);
    tu_fill_uniform(&r, x, (size_t)n, -1, 1);
    const int64_t s[4] = {B * K, 3, R, R};
    sv_tensor t4 = tu_upload(ctx, x, 4, s);
    free(x);
    for (int b = 0; b < B; b++) {
        t[b * K + 0] = 5.0 * b;
        t[b * K + 1] = 5.0 * b + 1;
        t[b * K + 2] = 5.0 * b + 4;
    }
    return t4;
}

static sv_trainer *new_trainer(sv_ctx *ctx, const sv_mconfig *c, const sv_trainer_opts *o)
{
    sv_trainer *tr = NULL;
    TU_OK(ctx, sv_trainer_new(ctx, c, o, &tr));
    return tr;
}

static double *dl(sv_params *p) { return tu_download(sv_params_flat(p)); }

START_TEST(hparams)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    sv_trainer_opts o;
    sv_trainer_opts_default(&o);
    ck_assert_int_eq(o.batch, 4);
    sv_trainer *tr = new_trainer(ctx, &c, &o);
    const sv_trainer_hparams *h = sv_trainer_effective(tr);
    ck_assert_double_eq_tol(h->lr_g, 0.002, 1e-15);
    ck_assert_double_eq_tol(h->beta2_g, pow(0.99, 0.8), 1e-15);
    ck_assert_double_eq_tol(h->beta2_g, 0.991992, 1e-6);
    ck_assert_double_eq_tol(h->lr_d, 0.0025 * 16 / 17, 1e-15);
    ck_assert_double_eq_tol(h->beta2_d, 0.990585, 1e-6);
    ck_assert(h->beta1_g == 0 && h->beta1_d == 0);
    ck_assert_double_eq_tol(h->r1_gamma, 0.0002 * 32 * 32 / 4, 1e-15);
    ck_assert_double_eq_tol(h->ema_beta, pow(0.5, 4.0 / 1250.0), 1e-15);
    ck_assert_double_eq_tol(h->ema_beta, 0.997784, 1e-6);
    sv_trainer_free(tr);

    /* overrides */
    o.r1_gamma = 0.5;
    o.ema_kimg = 10;
    o.d_reg_interval = 4;
    tr = new_trainer(ctx, &c, &o);
    h = sv_trainer_effective(tr);
    ck_assert(h->r1_gamma == 0.5);
    ck_assert_double_eq_tol(h->ema_beta, pow(0.5, 4.0 / 10000.0), 1e-15);
    ck_assert_double_eq_tol(h->lr_d, 0.0025 * 4 / 5, 1e-15);
    sv_trainer_free(tr);

    /* option errors */
    sv_trainer_opts x;
    sv_trainer_opts_default(&x);
    x.batch = 6; /* mbstd group 4 */
    ck_assert_int_eq(sv_trainer_new(ctx, &c, &x, &tr), SV_ERR_INVALID);
    ck_assert_msg(strstr(sv_ctx_errmsg(ctx), "minibatch-std"), "%s", sv_ctx_errmsg(ctx));
    sv_trainer_opts_default(&x);
    x.beta2 = 1;
    ck_assert_int_eq(sv_trainer_new(ctx, &c, &x, &tr), SV_ERR_INVALID);
    sv_trainer_opts_default(&x);
    x.nan_policy = (sv_nan_policy)7;
    ck_assert_int_eq(sv_trainer_new(ctx, &c, &x, &tr), SV_ERR_INVALID);
    sv_trainer_opts_default(&x);
    x.max_dist = 1; /* k − 1 = 2 > 1 */
    ck_assert_int_eq(sv_trainer_new(ctx, &c, &x, &tr), SV_ERR_INVALID);
    ck_assert_msg(strstr(sv_ctx_errmsg(ctx), "time span"), "%s", sv_ctx_errmsg(ctx));
    ck_assert(tr == NULL);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(fake_times)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    sv_trainer *tr = new_trainer(ctx, &c, NULL);
    const int L = c.max_num_frames;
    int seen_span[64] = {0};
    double t[B * K], t2[B * K];
    float z[B * 64], z2[B * 64];
    ck_assert_int_eq(c.z_dim, 64);
    for (int64_t it = 0; it < 200; it++)
        for (int ph = 0; ph < 2; ph++) {
            int64_t L_tok = 0;
            ck_assert_int_eq(sv_trainer_draws(tr, it, ph, z, t, &L_tok), 0);
            ck_assert_int_eq(L_tok, sv_mconfig_motion_tokens(&c, 1023));
            for (int b = 0; b < B; b++) {
                const double *tb = t + b * K;
                double s = tb[0], T = tb[K - 1] - tb[0];
                int Ti = (int)lround(T);
                ck_assert(s >= 0 && s < L - Ti - 1);
                ck_assert_msg(fabs(T - Ti) < 1e-9 && Ti >= K - 1 && Ti <= 32 && (Ti & (Ti - 1)) == 0, "span %.17g", T);
                seen_span[Ti] = 1;
                for (int f = 1; f < K; f++) {
                    double gap = tb[f] - tb[f - 1];
                    ck_assert_msg(gap > 1 - 1e-9 && fabs(gap - lround(gap)) < 1e-9, "gap %.17g", gap);
                }
            }
            /* reproducible */
            ck_assert_int_eq(sv_trainer_draws(tr, it, ph, z2, t2, NULL), 0);
            ck_assert(!memcmp(t, t2, sizeof t) && !memcmp(z, z2, sizeof z));
        }
    for (int d = 2; d <= 32; d *= 2)
        ck_assert_msg(seen_span[d], "span %d never drawn", d);
    /* phases and iterations differ */
    ck_assert_int_eq(sv_trainer_draws(tr, 3, 0, z, t, NULL), 0);
    ck_assert_int_eq(sv_trainer_draws(tr, 3, 1, z2, t2, NULL), 0);
    ck_assert(memcmp(z, z2, sizeof z) && memcmp(t, t2, sizeof t));
    ck_assert_int_eq(sv_trainer_draws(tr, 4, 0, z2, t2, NULL), 0);
    ck_assert(memcmp(z, z2, sizeof z) && memcmp(t, t2, sizeof t));
    ck_assert_int_eq(sv_trainer_draws(tr, 0, 2, z, t, NULL), SV_ERR_INVALID);
    sv_trainer_free(tr);
    sv_ctx_destroy(ctx);
}
END_TEST

/* Names of G / D parameters that are buffers other than w_avg. */
static int is_const_buffer(const char *n)
{
    size_t l = strlen(n);
    return (l >= 15 && !strcmp(n + l - 15, "resample_filter")) || strstr(n, "time_encoder.freqs") ||
           strstr(n, "phase_scales") || strstr(n, "fourier_coefs");
}

static void check_const_buffers(sv_params *p, const double *before)
{
    double *now = dl(p);
    int n = 0;
    for (size_t i = 0; i < sv_params_count(p); i++) {
        if (!is_const_buffer(sv_params_name(p, i)))
            continue;
        const sv_tensor *v = sv_params_at(p, i);
        size_t off = v->off - sv_params_flat(p)->off;
        ck_assert_msg(!memcmp(now + off, before + off, (size_t)sv_numel(v) * sizeof *now), "buffer %s changed",
                      sv_params_name(p, i));
        n++;
    }
    ck_assert(n > 0);
    free(now);
}

START_TEST(schedule)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    sv_trainer_opts o;
    sv_trainer_opts_default(&o);
    o.d_reg_interval = 3; /* R1 at 0 and 3 within 5 iterations (the default 16 is in hparams) */
    sv_trainer *tr = new_trainer(ctx, &c, &o);
    double tr_t[B * K];
    sv_tensor real = make_real(ctx, &c, 1, tr_t);
    double *g0 = dl(sv_generator_params(sv_trainer_generator(tr)));
    double *d0 = dl(sv_discriminator_params(sv_trainer_discriminator(tr)));
    int r1_count = 0;
    for (int it = 0; it < 5; it++) {
        sv_trainer_stats st;
        TU_OK(ctx, sv_trainer_iteration(tr, &real, tr_t, &st));
        fprintf(stderr,
                "schedule: it %d  L_G %.5f  L_D %.5f  D(fake) %.4f  D(real) %.4f  R1 %d pen %.4g L_R1 %.4g  "
                "G %.2fs D %.2fs R1 %.2fs EMA %.3fs\n",
                it, st.loss_g, st.loss_d, st.logits_fake_d, st.logits_real, st.r1_ran, st.r1_penalty, st.loss_r1,
                st.time_g, st.time_d, st.time_r1, st.time_ema);
        ck_assert_int_eq(st.iteration, it);
        ck_assert(isfinite(st.loss_g) && isfinite(st.loss_d) && isfinite(st.logits_fake_g) && isfinite(st.logits_real));
        ck_assert(st.loss_g > 0 && st.loss_d > 0);
        ck_assert_int_eq(st.r1_ran, it % 3 == 0);
        ck_assert(st.r1_ran ? (isfinite(st.loss_r1) && st.r1_penalty > 0) : isnan(st.loss_r1));
        ck_assert(st.r1_ran ? st.time_r1 > 0 : st.time_r1 == 0);
        ck_assert(!st.nonfinite && !st.nonfinite_g && !st.nonfinite_d && !st.nonfinite_r1);
        r1_count += st.r1_ran;
    }
    ck_assert_int_eq(r1_count, 2);
    ck_assert_int_eq(sv_trainer_iteration_count(tr), 5);
    ck_assert_int_eq(sv_trainer_cur_nimg(tr), 5 * B * K);
    ck_assert_int_eq(sv_trainer_adam_steps(tr, 0), 5);
    ck_assert_int_eq(sv_trainer_adam_steps(tr, 1), 5 + 2);
    check_const_buffers(sv_generator_params(sv_trainer_generator(tr)), g0);
    check_const_buffers(sv_generator_params(sv_trainer_generator_ema(tr)), g0);
    check_const_buffers(sv_discriminator_params(sv_trainer_discriminator(tr)), d0);
    /* parameters moved */
    double *g1 = dl(sv_generator_params(sv_trainer_generator(tr)));
    ck_assert(tu_max_abs(g1, g0, (size_t)sv_params_numel(sv_generator_params(sv_trainer_generator(tr)))) > 1e-3);
    free(g1);

    /* shape / time errors */
    double bad_t[B * K];
    memcpy(bad_t, tr_t, sizeof bad_t);
    bad_t[1] = -1; /* unsorted */
    ck_assert_int_eq(sv_trainer_iteration(tr, &real, bad_t, NULL), SV_ERR_INVALID);
    sv_tensor v;
    const int64_t s3[4] = {(B - 1) * K, 3, 32, 32};
    sv_tensor_view(&real, &v, 0, 4, s3);
    ck_assert_int_eq(sv_trainer_iteration(tr, &v, tr_t, NULL), SV_ERR_INVALID);
    ck_assert_msg(strstr(sv_ctx_errmsg(ctx), "real frames"), "%s", sv_ctx_errmsg(ctx));
    sv_tensor_free(&v);
    ck_assert_int_eq(sv_trainer_iteration_count(tr), 5);
    free(g0);
    free(d0);
    sv_tensor_free(&real);
    sv_trainer_free(tr);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(determinism)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    sv_trainer_opts o;
    sv_trainer_opts_default(&o);
    o.seed = 11;
    double tt[B * K];
    sv_tensor real = make_real(ctx, &c, 2, tt);
    double *res[3][3];
    for (int run = 0; run < 3; run++) {
        o.seed = run == 2 ? 12 : 11;
        sv_trainer *tr = new_trainer(ctx, &c, &o);
        for (int it = 0; it < 2; it++)
            TU_OK(ctx, sv_trainer_iteration(tr, &real, tt, NULL));
        res[run][0] = dl(sv_generator_params(sv_trainer_generator(tr)));
        res[run][1] = dl(sv_generator_params(sv_trainer_generator_ema(tr)));
        res[run][2] = dl(sv_discriminator_params(sv_trainer_discriminator(tr)));
        int64_t n[3] = {sv_params_numel(sv_generator_params(sv_trainer_generator(tr))),
                        sv_params_numel(sv_generator_params(sv_trainer_generator_ema(tr))),
                        sv_params_numel(sv_discriminator_params(sv_trainer_discriminator(tr)))};
        if (run > 0)
            for (int w = 0; w < 3; w++) {
                int same = !memcmp(res[run][w], res[0][w], (size_t)n[w] * sizeof(double));
                ck_assert_msg(run == 1 ? same : !same, "run %d net %d: %s", run, w,
                              run == 1 ? "not bit-identical" : "identical with another seed");
            }
        sv_trainer_free(tr);
    }
    for (int r = 0; r < 3; r++)
        for (int w = 0; w < 3; w++)
            free(res[r][w]);
    sv_tensor_free(&real);
    sv_ctx_destroy(ctx);
}
END_TEST

/* Offset of parameter i in the flat buffer. */
static size_t off_of(sv_params *p, size_t i) { return sv_params_at(p, i)->off - sv_params_flat(p)->off; }

START_TEST(adam_ema_wavg)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    sv_trainer *tr = new_trainer(ctx, &c, NULL);
    const sv_trainer_hparams *h = sv_trainer_effective(tr);
    double tt[B * K];
    sv_tensor real = make_real(ctx, &c, 3, tt);
    sv_generator *G = sv_trainer_generator(tr), *E = sv_trainer_generator_ema(tr);
    sv_params *gp = sv_generator_params(G), *ep = sv_generator_params(E), *dp =
        sv_discriminator_params(sv_trainer_discriminator(tr));
    const size_t ng = (size_t)sv_params_numel(gp), nd = (size_t)sv_params_numel(dp);

    /* G_ema starts as a copy of G */
    double *g_init = dl(gp), *e_init = dl(ep);
    ck_assert(!memcmp(g_init, e_init, ng * sizeof(double)));
    free(e_init);
    free(g_init);

    TU_OK(ctx, sv_trainer_iteration(tr, &real, tt, NULL)); /* iteration 0 (with R1) */

    /* state before iteration 1 */
    double *p0[2] = {dl(gp), dl(dp)}, *m0[2], *v0[2];
    for (int w = 0; w < 2; w++) {
        m0[w] = dl(sv_trainer_adam_m(tr, w));
        v0[w] = dl(sv_trainer_adam_v(tr, w));
    }
    double *e0 = dl(ep);
    const int64_t s0[2] = {sv_trainer_adam_steps(tr, 0), sv_trainer_adam_steps(tr, 1)};
    ck_assert_int_eq(s0[0], 1);
    ck_assert_int_eq(s0[1], 2); /* Dmain + Dreg share one optimiser */

    /* w_avg replay: the Gmain forward with the pre-iteration G */
    sv_generator *G2 = NULL;
    TU_OK(ctx, sv_generator_new(ctx, &c, &G2));
    sv_params *p2 = sv_generator_params(G2);
    TU_OK(ctx, sv_tensor_copy(sv_params_flat(p2), sv_params_flat(gp)));
    float z[2][B * 64];
    double tf[2][B * K];
    int64_t L[2];
    for (int ph = 0; ph < 2; ph++)
        ck_assert_int_eq(sv_trainer_draws(tr, 1, ph, z[ph], tf[ph], &L[ph]), 0);
    sv_tensor zt = {0}, tok = {0}, fr = {0};
    const int64_t zs[2] = {B, 64}, fs[4] = {B * K, 3, 32, 32};
    TU_OK(ctx, sv_tensor_new(ctx, &zt, 2, zs));
    TU_OK(ctx, sv_tensor_new(ctx, &fr, 4, fs));
    TU_OK(ctx, sv_tensor_write(&zt, z[0], B * 64));
    const int64_t ts0[3] = {B, L[0], c.motion_z_dim};
    TU_OK(ctx, sv_tensor_zeros(ctx, &tok, 3, ts0));
    TU_OK(ctx, sv_generator_forward_train(G2, &zt, &tok, tf[0], K, &fr));
    TU_OK(ctx, sv_generator_update_w_avg(G2, 0.995f));
    sv_tensor_free(&tok);
    sv_tensor *wa2 = sv_params_get(p2, "mapping.w_avg");
    float w_after_g[64], w_final[64], w_tr[64];
    TU_OK(ctx, sv_tensor_read(wa2, w_after_g, 64));

    sv_trainer_stats st;
    TU_OK(ctx, sv_trainer_iteration(tr, &real, tt, &st)); /* iteration 1 (no R1) */
    ck_assert(!st.r1_ran);

    /* ---- Adam vs float64 torch formula ---- */
    for (int w = 0; w < 2; w++) {
        const size_t n = w ? nd : ng;
        double *gr = dl(sv_trainer_grads(tr, w)), *p1 = dl(w ? dp : gp);
        double *pr = malloc(n * sizeof *pr);
        memcpy(pr, p0[w], n * sizeof *pr);
        sv_ref_adam_step(pr, gr, m0[w], v0[w], (int64_t)n, w ? h->lr_d : h->lr_g, 0.0, w ? h->beta2_d : h->beta2_g,
                         1e-8, s0[w] + 1);
        /* compare the updates p1 − p0 (excluding w_avg, which is not Adam's) */
        double *du = malloc(n * sizeof *du), *dr = malloc(n * sizeof *dr);
        sv_params *pp = w ? dp : gp;
        size_t skip0 = n, skip1 = n;
        if (!w) {
            sv_tensor *wa = sv_params_get(pp, "mapping.w_avg");
            skip0 = wa->off - sv_params_flat(pp)->off;
            skip1 = skip0 + (size_t)sv_numel(wa);
        }
        /* per element: |p1 − p_ref| within the float32 rounding of p (2 ulp; mapping weights are
         * ~100 before the 0.01 lr multiplier) plus 1e-4 of the update */
        double nz = 0, worst = 0;
        size_t nbad = 0;
        for (size_t i = 0; i < n; i++) {
            int sk = i >= skip0 && i < skip1;
            du[i] = sk ? 0 : p1[i] - p0[w][i];
            dr[i] = sk ? 0 : pr[i] - p0[w][i];
            nz += fabs(gr[i]) > 0;
            float a = (float)fabs(p0[w][i]);
            double ulp = (double)nextafterf(a, INFINITY) - a;
            double err = fabs(du[i] - dr[i]), lim = 2 * ulp + 1e-4 * fabs(dr[i]);
            worst = fmax(worst, err / lim);
            nbad += err > lim;
        }
        double e = tu_rel_l2(du, dr, n);
        fprintf(stderr,
                "adam %s: step %lld, update rel L2 vs float64 %.3g, worst |err|/(2 ulp + 1e-4 |upd|) %.3g "
                "(%g nonzero grads of %zu)\n",
                w ? "D" : "G", (long long)(s0[w] + 1), e, worst, nz, n);
        ck_assert_msg(nbad == 0, "Adam %s: %zu elements off (worst ratio %g)", w ? "D" : "G", nbad, worst);
        ck_assert_msg(e < 1e-2, "Adam %s update rel L2 %g", w ? "D" : "G", e);
        ck_assert(nz > n / 5);
        /* moments too */
        double *m1 = dl(sv_trainer_adam_m(tr, w)), *v1 = dl(sv_trainer_adam_v(tr, w));
        tu_assert_close(w ? "m D" : "m G", m1, m0[w], n, 1e-6); /* β1 = 0: m = g (ref updated m0 in place) */
        tu_assert_close(w ? "v D" : "v G", v1, v0[w], n, 1e-5);
        free(m1);
        free(v1);
        free(gr);
        free(p1);
        free(pr);
        free(du);
        free(dr);
    }
    ck_assert_int_eq(sv_trainer_adam_steps(tr, 0), 2);
    ck_assert_int_eq(sv_trainer_adam_steps(tr, 1), 3);

    /* ---- EMA: trainable = p + β(p_ema − p), buffers = G's ---- */
    {
        double *p1 = dl(gp), *e1 = dl(ep);
        double *er = malloc(ng * sizeof *er);
        memcpy(er, e0, ng * sizeof *er);
        sv_ref_ema_update(er, p1, (int64_t)ng, h->ema_beta);
        int nbuf = 0;
        for (size_t i = 0; i < sv_params_count(gp); i++) {
            const char *nm = sv_params_name(gp, i);
            size_t o = off_of(gp, i), n = (size_t)sv_numel(sv_params_at(gp, i));
            if (is_const_buffer(nm) || !strcmp(nm, "mapping.w_avg")) {
                ck_assert_msg(!memcmp(e1 + o, p1 + o, n * sizeof(double)), "EMA buffer %s not copied", nm);
                nbuf++;
            } else {
                /* float32 lerp: within 2 ulp of the larger operand */
                for (size_t j = o; j < o + n; j++) {
                    float a = (float)fmax(fabs(p1[j]), fabs(e0[j]));
                    double ulp = (double)nextafterf(a, INFINITY) - a;
                    ck_assert_msg(fabs(e1[j] - er[j]) <= 2 * ulp, "EMA %s[%zu]: %.9g vs %.9g", nm, j - o, e1[j], er[j]);
                }
            }
        }
        ck_assert(nbuf > 3);
        /* the EMA copy differs from G (β < 1) */
        ck_assert(tu_max_abs(e1, p1, ng) > 1e-6);
        free(p1);
        free(e1);
        free(er);
    }

    /* ---- w_avg: Dmain forward with the updated G from w_avg after Gmain ---- */
    TU_OK(ctx, sv_tensor_copy(sv_params_flat(p2), sv_params_flat(gp)));
    TU_OK(ctx, sv_tensor_write(wa2, w_after_g, 64));
    TU_OK(ctx, sv_tensor_write(&zt, z[1], B * 64));
    const int64_t ts1[3] = {B, L[1], c.motion_z_dim};
    TU_OK(ctx, sv_tensor_zeros(ctx, &tok, 3, ts1));
    TU_OK(ctx, sv_generator_forward_train(G2, &zt, &tok, tf[1], K, &fr));
    TU_OK(ctx, sv_generator_update_w_avg(G2, 0.995f));
    TU_OK(ctx, sv_tensor_read(wa2, w_final, 64));
    TU_OK(ctx, sv_tensor_read(sv_params_get(gp, "mapping.w_avg"), w_tr, 64));
    ck_assert_msg(!memcmp(w_final, w_tr, sizeof w_tr), "w_avg differs from the replay (%g vs %g)", w_final[0], w_tr[0]);
    double moved = 0;
    for (int i = 0; i < 64; i++)
        moved += fabs((double)w_tr[i] - w_after_g[i]);
    ck_assert(moved > 0);

    sv_tensor_free(&tok);
    sv_tensor_free(&zt);
    sv_tensor_free(&fr);
    sv_generator_free(G2);
    for (int w = 0; w < 2; w++) {
        free(p0[w]);
        free(m0[w]);
        free(v0[w]);
    }
    free(e0);
    sv_tensor_free(&real);
    sv_trainer_free(tr);
    sv_ctx_destroy(ctx);
}
END_TEST

static int all_finite(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

START_TEST(nan_policy)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    tiny_cfg(&c);
    double tt[B * K];
    sv_tensor real = make_real(ctx, &c, 4, tt);
    float nanv = NAN;
    sv_tensor px;
    const int64_t one[1] = {1};
    TU_OK(ctx, sv_tensor_view(&real, &px, 1234, 1, one));
    TU_OK(ctx, sv_tensor_write(&px, &nanv, 1));
    sv_tensor_free(&px);
    for (int pol = 0; pol < 2; pol++) {
        sv_trainer_opts o;
        sv_trainer_opts_default(&o);
        o.nan_policy = pol ? SV_NAN_FAIL : SV_NAN_SCRUB;
        sv_trainer *tr = new_trainer(ctx, &c, &o);
        sv_params *dp = sv_discriminator_params(sv_trainer_discriminator(tr));
        const size_t nd = (size_t)sv_params_numel(dp);
        double *d0 = dl(dp);
        sv_trainer_stats st;
        int rc = sv_trainer_iteration(tr, &real, tt, &st);
        fprintf(stderr, "nan_policy %s: rc %d, nonfinite G %lld D %lld R1 %lld (%s)\n", pol ? "fail" : "scrub", rc,
                (long long)st.nonfinite_g, (long long)st.nonfinite_d, (long long)st.nonfinite_r1,
                rc ? sv_ctx_errmsg(ctx) : "ok");
        ck_assert_int_eq(st.nonfinite_g, 0);
        ck_assert(st.nonfinite_d > 0 && st.nonfinite);
        double *d1 = dl(dp);
        if (!pol) {
            ck_assert_int_eq(rc, 0);
            ck_assert(st.r1_ran && st.nonfinite_r1 > 0);
            ck_assert(all_finite(d1, nd));
            ck_assert_int_eq(sv_trainer_iteration_count(tr), 1);
        } else {
            ck_assert_int_eq(rc, SV_ERR_NUMERIC);
            ck_assert_msg(strstr(sv_ctx_errmsg(ctx), "Dmain") && strstr(sv_ctx_errmsg(ctx), "non-finite"), "%s",
                          sv_ctx_errmsg(ctx));
            ck_assert(!memcmp(d0, d1, nd * sizeof(double)));
            ck_assert_int_eq(sv_trainer_adam_steps(tr, 1), 0);
            ck_assert_int_eq(sv_trainer_iteration_count(tr), 0);
        }
        free(d0);
        free(d1);
        sv_trainer_free(tr);
    }
    sv_tensor_free(&real);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("trainer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, hparams);
    tcase_add_test(tc, fake_times);
    tcase_add_test(tc, schedule);
    tcase_add_test(tc, determinism);
    tcase_add_test(tc, adam_ema_wavg);
    tcase_add_test(tc, nan_policy);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
