/* The generator backward pass (sv_generator_forward_train /
 * sv_generator_backward).
 *
 * Both gradient checks use a small 32² configuration (channels 16/16/8/4,
 * z = w = 16, motion 12, time encoder 8, K = 3, d = 4, B = 2 clips × 4 frames
 * at integer, fractional, shared-segment and t ≈ 50 times) with random
 * weights and random (non-zero) biases, and the linear loss L = Σ c ⊙ frames
 * for a fixed random c (so dL/dframes = c).
 *
 * Cases
 *   fd_host       the device gradients against float64 central differences
 *                 (h = 1e-6·max(rms(P), 1)) of an independent float64 forward
 *                 composed from the ops' host references (sv_ref_*: motion
 *                 codes over the WHOLE token sequence as officially, not the
 *                 device's per-frame windows); the host forward matches the
 *                 device frames (rel-L2 ≤ 1e-4).  Every trainable tensor, two
 *                 random N(0, I) directions each: |fd − ⟨g, v⟩| /
 *                 max(|⟨g, v⟩|, ‖g‖) ≤ 1e-3 (observed ≤ 1e-5).
 *   fd_linear     the same on the device alone (float32): central differences
 *                 of L, Richardson-extrapolated from h and 2h (h = 1e-4·
 *                 max(rms(P), 1)), one direction mostly along the gradient and
 *                 one random; tolerance 0.1 (observed up to ~4e-2: float32
 *                 rounding of L (~1e-2 absolute) and the curvature of the
 *                 lrelu/demodulation network limit what float32 differences
 *                 can show; fd_host is the tight check).
 *   structure     buffers' gradients are exactly zero (overwriting garbage),
 *                 every trainable tensor gets a non-zero gradient; backward
 *                 is bit-reproducible; accumulate = 1 doubles (rel ≤ 1e-6);
 *                 the training forward's frames are bit-identical to
 *                 sv_generator_forward's before and after a backward, and the
 *                 streaming sampler still equals the forward bit for bit;
 *                 update_w_avg matches the host formula.
 *   errors        backward without a training forward, after another forward
 *                 invalidated it, with a wrong frame-gradient shape or a
 *                 foreign gradient layout: one-line errors.
 *   parity        $SVGAN_SHARED_DIR/reference/tiny32-k3: G.* and D.* weights,
 *                 in.z / in.motion_z / in.t → training forward of G; D's
 *                 generator loss (sv_discriminator_loss_gen: mean softplus(−D),
 *                 gradient to the frames) → sv_generator_backward.  With D fed
 *                 the bundle's out.frames every grad.Gmain.G.<name> ≤ 1e-3
 *                 rel-L2 (a zero reference ≤ 1e-6 absolute; observed ≤ 1e-4);
 *                 with D fed svgan's own frames (end to end) ≤ 1e-2 (see the
 *                 note above the case); out.loss_Gmain ≤ 1e-4 both ways;
 *                 buffers absent from the bundle come out zero.  "bundle absent: skipped" without it.
 *   conditioning  the same bundle: D's input gradient at out.frames moves
 *                 linearly (≤ 100× a random perturbation of rel 1e-7 that
 *                 changes no lrelu sign; observed ~2×); perturbations of rel
 *                 1e-5 change a few signs and their effect is reported. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "svgan/discriminator.h"
#include "testutil.h"

static void small_config(sv_mconfig *c)
{
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", c, &e), 0);
    c->channel_base = 128;
    c->channel_max = 16;
    c->z_dim = 16;
    c->w_dim = 16;
    c->motion_z_dim = 12;
    c->motion_v_dim = 12;
    c->time_enc_dim = 8;
    c->motion_kernel_size = 3;
    c->motion_z_distance = 4;
    c->min_period_len = 4;
    c->max_period_len = 64;
    c->conv_clamp = -1;
}

static int is_buffer(const char *name)
{
    return strstr(name, "w_avg") || strstr(name, "freqs") || strstr(name, "phase_scales") ||
           strstr(name, "resample_filter");
}

static double *dl(const sv_tensor *t)
{
    double *h = tu_download(t);
    ck_assert(h != NULL);
    return h;
}

/* A generator with random weights and random (non-zero) biases and w_avg. */
typedef struct fix {
    sv_ctx *ctx;
    sv_mconfig c;
    sv_generator *g;
    int64_t B, F, NF, L;
    double t[8];
    sv_tensor z, mz, fr;
    double *coef; /* [NF·3·R·R] */
    size_t nfr;
} fix;

static void fix_open(fix *x, uint64_t seed)
{
    memset(x, 0, sizeof *x);
    x->ctx = tu_ctx();
    small_config(&x->c);
    sv_ctx *ctx = x->ctx;
    TU_OK(ctx, sv_generator_new(ctx, &x->c, &x->g));
    TU_OK(ctx, sv_generator_init(x->g, seed));
    tu_rng r;
    tu_seed(&r, seed + 100);
    sv_params *p = sv_generator_params(x->g);
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const char *nm = sv_params_name(p, i);
        if (!strstr(nm, "bias") && !strstr(nm, "w_avg"))
            continue;
        sv_tensor *t = sv_params_at(p, i);
        double *h = dl(t);
        for (int64_t k = 0; k < sv_numel(t); k++)
            h[k] += 0.3 * tu_normal(&r) / (strstr(nm, "mapping") || strstr(nm, "motion_encoder.conv") ? 0.01 : 1.0);
        sv_tensor u = tu_upload(ctx, h, t->ndim, t->shape);
        TU_OK(ctx, sv_tensor_copy(t, &u));
        sv_tensor_free(&u);
        free(h);
    }
    x->B = 2;
    x->F = 4;
    x->NF = x->B * x->F;
    /* clip 0: integer, fractional and shared-segment times; clip 1: t ≈ 50 */
    const double t[8] = {0, 1.5, 2.75, 9, 47.25, 50, 53.5, 61};
    memcpy(x->t, t, sizeof t);
    x->L = 64 / x->c.motion_z_distance + 2 + 2 * (x->c.motion_kernel_size - 1) + 1;
    const int R = x->c.resolution;
    double *zh = malloc((size_t)(x->B * x->c.z_dim) * sizeof *zh);
    double *mh = malloc((size_t)(x->B * x->L * x->c.motion_z_dim) * sizeof *mh);
    ck_assert(zh && mh);
    tu_fill_normal(&r, zh, (size_t)(x->B * x->c.z_dim), 1.0);
    tu_fill_normal(&r, mh, (size_t)(x->B * x->L * x->c.motion_z_dim), 1.0);
    x->z = tu_upload(ctx, zh, 2, (int64_t[]){x->B, x->c.z_dim});
    x->mz = tu_upload(ctx, mh, 3, (int64_t[]){x->B, x->L, x->c.motion_z_dim});
    free(zh);
    free(mh);
    TU_OK(ctx, sv_tensor_newv(ctx, &x->fr, 4, x->NF, (int64_t)3, (int64_t)R, (int64_t)R));
    x->nfr = (size_t)sv_numel(&x->fr);
    x->coef = malloc(x->nfr * sizeof *x->coef);
    ck_assert(x->coef != NULL);
    tu_fill_normal(&r, x->coef, x->nfr, 1.0);
}

static void fix_close(fix *x)
{
    sv_tensor_free(&x->z);
    sv_tensor_free(&x->mz);
    sv_tensor_free(&x->fr);
    free(x->coef);
    sv_generator_free(x->g);
    sv_ctx_destroy(x->ctx);
}

/* L = Σ c ⊙ G(...) in double from the eval forward. */
static double loss(fix *x)
{
    TU_OK(x->ctx, sv_generator_forward(x->g, &x->z, &x->mz, x->t, x->F, 1.0f, &x->fr, NULL, NULL));
    double *f = dl(&x->fr), s = 0;
    for (size_t i = 0; i < x->nfr; i++)
        s += x->coef[i] * f[i];
    free(f);
    return s;
}

/* Analytic gradients of L into a new set. */
static sv_params *grads_of(fix *x)
{
    sv_params *gr;
    TU_OK(x->ctx, sv_params_clone_layout(sv_generator_params(x->g), &gr));
    TU_OK(x->ctx, sv_generator_forward_train(x->g, &x->z, &x->mz, x->t, x->F, &x->fr));
    sv_tensor c = tu_upload(x->ctx, x->coef, 4, x->fr.shape);
    TU_OK(x->ctx, sv_generator_backward(x->g, &c, gr, 0));
    sv_tensor_free(&c);
    return gr;
}

static void set_param(fix *x, sv_tensor *P, const double *base, const double *v, double h)
{
    const int64_t n = sv_numel(P);
    double *q = malloc((size_t)n * sizeof *q);
    ck_assert(q != NULL);
    for (int64_t k = 0; k < n; k++)
        q[k] = base[k] + h * v[k];
    sv_tensor u = tu_upload(x->ctx, q, P->ndim, P->shape);
    TU_OK(x->ctx, sv_tensor_copy(P, &u));
    sv_tensor_free(&u);
    free(q);
}

/* ---- float64 host forward from the ops' references ------------------------ */

typedef struct hnet {
    sv_params *p;   /* names and shapes */
    double **v;     /* host copy of every tensor */
    const sv_mconfig *c;
} hnet;

static double *hp(const hnet *h, const char *fmt, int a)
{
    char nm[128];
    snprintf(nm, sizeof nm, fmt, a);
    for (size_t i = 0; i < sv_params_count(h->p); i++)
        if (!strcmp(sv_params_name(h->p, i), nm))
            return h->v[i];
    ck_abort_msg("no parameter %s", nm);
    return NULL;
}

static int64_t hshape(const hnet *h, const char *fmt, int a, int d)
{
    char nm[128];
    snprintf(nm, sizeof nm, fmt, a);
    return sv_params_get(h->p, nm)->shape[d];
}

static void *xmalloc(size_t n)
{
    void *q = malloc(n ? n : 1);
    ck_assert(q != NULL);
    return q;
}

/* frames [B·F, 3, R, R] of the generator in float64 (ψ = 1, tokens over the
 * whole sequence, official layout). */
static void host_forward(const hnet *h, const double *z, const double *tok, int64_t B, int64_t L, const double *t,
                         int64_t F, double *frames)
{
    const sv_mconfig *c = h->c;
    const int64_t NF = B * F, wd = c->w_dim;
    /* mapping */
    double *x = xmalloc((size_t)(B * (c->z_dim > wd ? c->z_dim : wd)) * sizeof *x);
    double *y = xmalloc((size_t)(B * wd) * sizeof *y);
    sv_ref_normalize_2nd_moment_fwd(z, B, c->z_dim, x);
    sv_bias_act_params pm = sv_bias_act_default(SV_ACT_LRELU);
    pm.bias_gain = 0.01f;
    int64_t in = c->z_dim;
    for (int i = 0; i < c->mapping_layers; i++) {
        sv_ref_fc_fwd(x, hp(h, "mapping.fc%d.weight", i), hp(h, "mapping.fc%d.bias", i), B, in, wd,
                      0.01 / sqrt((double)in), &pm, y);
        memcpy(x, y, (size_t)(B * wd) * sizeof *x);
        in = wd;
    }
    const double *w = x;
    /* motion codes over the whole token sequence */
    const int64_t C0 = c->motion_z_dim;
    double *a = xmalloc((size_t)(B * L * (C0 > c->motion_v_dim ? C0 : c->motion_v_dim)) * sizeof *a);
    double *bq = xmalloc((size_t)(B * L * (C0 > c->motion_v_dim ? C0 : c->motion_v_dim)) * sizeof *bq);
    sv_ref_transpose12(tok, B, L, C0, a);
    sv_bias_act_params pmot = sv_bias_act_default(SV_ACT_LRELU);
    pmot.gain = 1.0f;
    pmot.bias_gain = 0.01f;
    int64_t Cc = C0, Lc = L;
    for (int i = 0;; i++) {
        char nm[96];
        snprintf(nm, sizeof nm, "synthesis.motion_encoder.conv.%d.weight", i);
        if (!sv_params_get(h->p, nm))
            break;
        const int64_t Co = hshape(h, "synthesis.motion_encoder.conv.%d.weight", i, 0),
                      K = hshape(h, "synthesis.motion_encoder.conv.%d.weight", i, 2);
        sv_ref_conv1d_fwd(a, hp(h, "synthesis.motion_encoder.conv.%d.weight", i), B, Cc, Lc, Co, K,
                          0.01 / sqrt((double)(Cc * K)), bq);
        Lc = Lc - K + 1;
        sv_ref_bias_act_fwd(bq, hp(h, "synthesis.motion_encoder.conv.%d.bias", i), B, Co, Lc, &pmot, a);
        Cc = Co;
    }
    /* time encoder */
    const int64_t Cv = Cc, D = c->time_enc_dim;
    double *uL = xmalloc((size_t)(NF * Cv) * sizeof *uL), *uR = xmalloc((size_t)(NF * Cv) * sizeof *uR);
    sv_ref_motion_gather(a, B, Cv, Lc, t, F, c->motion_z_distance, uL, uR);
    double *pr = xmalloc((size_t)(NF * D) * sizeof *pr), *ph = xmalloc((size_t)(NF * D) * sizeof *ph);
    double *AL = xmalloc((size_t)(NF * 2 * D) * sizeof *AL), *AR = xmalloc((size_t)(NF * 2 * D) * sizeof *AR);
    double *v = xmalloc((size_t)(NF * 2 * D) * sizeof *v);
    const sv_bias_act_params lin = sv_bias_act_default(SV_ACT_LINEAR);
    const char *te = "synthesis.motion_encoder.time_encoder.%s";
    const double g1 = 1 / sqrt((double)Cv);
    sv_ref_fc_fwd(uL, hp(h, "synthesis.motion_encoder.time_encoder.periods_predictor.weight", 0), NULL, NF, Cv, D, g1,
                  &lin, pr);
    sv_ref_fc_fwd(uL, hp(h, "synthesis.motion_encoder.time_encoder.phase_predictor.weight", 0), NULL, NF, Cv, D, g1,
                  &lin, ph);
    sv_ref_fc_fwd(uL, hp(h, "synthesis.motion_encoder.time_encoder.aligners_predictor.weight", 0), NULL, NF, Cv,
                  2 * D, g1, &lin, AL);
    sv_ref_fc_fwd(uR, hp(h, "synthesis.motion_encoder.time_encoder.aligners_predictor.weight", 0), NULL, NF, Cv,
                  2 * D, g1, &lin, AR);
    (void)te;
    sv_ref_timeenc_fwd(t, pr, ph, AL, AR, hp(h, "synthesis.motion_encoder.time_encoder.freqs", 0),
                       hp(h, "synthesis.motion_encoder.time_encoder.phase_scales", 0), c->motion_z_distance, NF, D,
                       v);
    /* synthesis */
    const double *cst = hp(h, "synthesis.b4.input.input.const", 0);
    const int64_t Ck = sv_params_get(h->p, "synthesis.b4.input.input.const")->shape[1];
    int64_t Cx = Ck + 2 * D, H = 4;
    size_t cap = (size_t)(NF * 64 * c->resolution * c->resolution);
    double *fx = xmalloc(cap * sizeof *fx), *fy = xmalloc(cap * sizeof *fy), *img = NULL;
    double *st = xmalloc((size_t)(B * 1024) * sizeof *st);
    for (int64_t n = 0; n < NF; n++)
        for (int64_t ch = 0; ch < Cx; ch++)
            for (int64_t k = 0; k < 16; k++)
                fx[(n * Cx + ch) * 16 + k] = ch < Ck ? cst[ch * 16 + k] : v[n * 2 * D + ch - Ck];
    const sv_upfirdn2d_params up2 = sv_upfirdn2d_upsample2();
    for (int r = 4; r <= c->resolution; r *= 2) {
        static const char *const kinds[3] = {"conv0", "conv1", "torgb"};
        for (int k = r == 4 ? 1 : 0; k < 3; k++) {
            char base[64], nm[128];
            snprintf(base, sizeof base, "synthesis.b%d.%s", r, kinds[k]);
            snprintf(nm, sizeof nm, "%s.weight", base);
            const sv_tensor *W = sv_params_get(h->p, nm);
            const int Cout = (int)W->shape[0], Cin = (int)W->shape[1];
            ck_assert_int_eq(Cin, Cx);
            snprintf(nm, sizeof nm, "%s.affine.weight", base);
            double *aw = hp(h, nm, 0);
            snprintf(nm, sizeof nm, "%s.affine.bias", base);
            sv_ref_fc_fwd(w, aw, hp(h, nm, 0), B, wd, Cin, 1 / sqrt((double)wd), &lin, st);
            if (k == 2)
                for (int64_t q = 0; q < B * Cin; q++)
                    st[q] /= sqrt((double)Cin);
            sv_modconv_params mp = {(int)W->shape[2], k == 0 ? 2 : 1, k != 2, (int)F};
            snprintf(nm, sizeof nm, "%s.weight", base);
            sv_ref_modconv_fwd(fx, hp(h, nm, 0), st, B, Cin, Cout, (int)H, (int)H, &mp, fy);
            const int64_t Ho = k == 0 ? 2 * H : H;
            sv_bias_act_params pa = k == 2 ? lin : sv_bias_act_default(SV_ACT_LRELU);
            snprintf(nm, sizeof nm, "%s.bias", base);
            sv_ref_bias_act_fwd(fy, hp(h, nm, 0), NF, Cout, Ho * Ho, &pa, fy);
            if (k == 2) {
                const size_t ni = (size_t)(NF * 3 * Ho * Ho);
                double *nimg = xmalloc(ni * sizeof *nimg);
                if (img)
                    sv_ref_upfirdn2d_fwd(img, NF, 3, (int)(Ho / 2), (int)(Ho / 2), &up2, nimg);
                for (size_t q = 0; q < ni; q++)
                    nimg[q] = (img ? nimg[q] : 0) + fy[q];
                free(img);
                img = nimg;
            } else {
                double *sw = fx;
                fx = fy;
                fy = sw;
                Cx = Cout;
                H = Ho;
            }
        }
    }
    memcpy(frames, img, (size_t)(NF * 3 * c->resolution * c->resolution) * sizeof *frames);
    free(img);
    free(fx);
    free(fy);
    free(st);
    free(x);
    free(y);
    free(a);
    free(bq);
    free(uL);
    free(uR);
    free(pr);
    free(ph);
    free(AL);
    free(AR);
    free(v);
}

START_TEST(fd_linear)
{
    fix x;
    fix_open(&x, 11);
    sv_params *p = sv_generator_params(x.g);
    sv_params *gr = grads_of(&x);
    tu_rng r;
    tu_seed(&r, 4242);
    double worst = 0;
    const char *worst_nm = "";
    int checked = 0;
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const char *nm = sv_params_name(p, i);
        if (is_buffer(nm))
            continue;
        sv_tensor *P = sv_params_at(p, i);
        const int64_t n = sv_numel(P);
        double *base = dl(P), *gh = dl(sv_params_at(gr, i));
        double *v = malloc((size_t)n * sizeof *v);
        ck_assert(v != NULL);
        double rms = 0, gn = 0;
        for (int64_t k = 0; k < n; k++) {
            rms += base[k] * base[k];
            gn += gh[k] * gh[k];
        }
        rms = sqrt(rms / (double)n);
        gn = sqrt(gn);
        const double h = 1e-4 * (rms > 1.0 ? rms : 1.0);
        double terr = 0;
        for (int dir = 0; dir < 2; dir++) {
            /* direction 0: mostly along the gradient (best signal to noise),
             * direction 1: purely random */
            tu_fill_normal(&r, v, (size_t)n, 1.0);
            if (dir == 0)
                for (int64_t k = 0; k < n; k++)
                    v[k] += sqrt((double)n) * gh[k] / gn;
            double an = 0;
            for (int64_t k = 0; k < n; k++)
                an += gh[k] * v[k];
            double Lv[4];
            const double hs[4] = {h, -h, 2 * h, -2 * h};
            for (int k = 0; k < 4; k++) {
                set_param(&x, P, base, v, hs[k]);
                Lv[k] = loss(&x);
            }
            set_param(&x, P, base, v, 0);
            const double d1 = (Lv[0] - Lv[1]) / (2 * h), d2 = (Lv[2] - Lv[3]) / (4 * h);
            const double fd = (4 * d1 - d2) / 3;
            /* relative to |an|, or for a random direction to the typical size
             * of a directional derivative, ‖g‖ */
            const double scale = fmax(fabs(an), gn);
            const double err = fabs(fd - an) / scale;
            terr = fmax(terr, err);
            ck_assert_msg(err <= 0.1, "%s: directional derivative %.8g, central differences %.8g (h %g: %.8g, 2h: %.8g), rel %.3g",
                          nm, an, fd, h, d1, d2, err);
        }
        fprintf(stderr, "fd_linear: %-62s n %6lld |g| %.3e rel err %.2e\n", nm, (long long)n, gn, terr);
        if (terr > worst) {
            worst = terr;
            worst_nm = nm;
        }
        checked++;
        free(base);
        free(gh);
        free(v);
    }
    fprintf(stderr, "fd_linear: %d parameter tensors × 2 directions, worst rel err %.2e (%s)\n", checked, worst,
            worst_nm);
    sv_params_free(gr);
    fix_close(&x);
}
END_TEST

/* Device gradients against central differences of the float64 host forward. */
START_TEST(fd_host)
{
    fix x;
    fix_open(&x, 11);
    sv_params *p = sv_generator_params(x.g);
    const size_t np = sv_params_count(p);
    hnet h = {p, xmalloc(np * sizeof(double *)), &x.c};
    for (size_t i = 0; i < np; i++)
        h.v[i] = dl(sv_params_at(p, i));
    double *zh = dl(&x.z), *tok = dl(&x.mz);
    double *hf = xmalloc(x.nfr * sizeof *hf);
    host_forward(&h, zh, tok, x.B, x.L, x.t, x.F, hf);
    TU_OK(x.ctx, sv_generator_forward(x.g, &x.z, &x.mz, x.t, x.F, 1.0f, &x.fr, NULL, NULL));
    double *df = dl(&x.fr);
    const double fe = tu_rel_l2(df, hf, x.nfr);
    fprintf(stderr, "fd_host: device frames vs float64 host forward: rel-L2 %.2e\n", fe);
    ck_assert_msg(fe <= 1e-4, "device frames vs host forward: rel-L2 %g", fe);
    free(df);
    sv_params *gr = grads_of(&x);
    tu_rng r;
    tu_seed(&r, 777);
    double worst = 0;
    const char *worst_nm = "";
    int checked = 0;
    for (size_t i = 0; i < np; i++) {
        const char *nm = sv_params_name(p, i);
        if (is_buffer(nm))
            continue;
        const int64_t n = sv_numel(sv_params_at(p, i));
        double *base = h.v[i], *gh = dl(sv_params_at(gr, i));
        double *v = xmalloc((size_t)n * sizeof *v), *q = xmalloc((size_t)n * sizeof *q);
        double rms = 0, gn = 0;
        for (int64_t k = 0; k < n; k++) {
            rms += base[k] * base[k];
            gn += gh[k] * gh[k];
        }
        rms = sqrt(rms / (double)n);
        gn = sqrt(gn);
        const double hh = 1e-6 * (rms > 1.0 ? rms : 1.0);
        double terr = 0;
        h.v[i] = q;
        for (int dir = 0; dir < 2; dir++) {
            tu_fill_normal(&r, v, (size_t)n, 1.0);
            double an = 0, Lp = 0, Lm = 0;
            for (int64_t k = 0; k < n; k++)
                an += gh[k] * v[k];
            for (int sgn = -1; sgn <= 1; sgn += 2) {
                for (int64_t k = 0; k < n; k++)
                    q[k] = base[k] + sgn * hh * v[k];
                host_forward(&h, zh, tok, x.B, x.L, x.t, x.F, hf);
                double L = 0;
                for (size_t k = 0; k < x.nfr; k++)
                    L += x.coef[k] * hf[k];
                *(sgn < 0 ? &Lm : &Lp) = L;
            }
            const double fd = (Lp - Lm) / (2 * hh);
            /* relative to |an|, or for a random direction to the typical size
             * of a directional derivative, ‖g‖ */
            const double err = fabs(fd - an) / fmax(fabs(an), gn);
            terr = fmax(terr, err);
            ck_assert_msg(err <= 1e-3, "%s: directional derivative %.9g, float64 central differences %.9g (rel %.3g)",
                          nm, an, fd, err);
        }
        h.v[i] = base;
        fprintf(stderr, "fd_host: %-62s n %6lld |g| %.3e rel err %.2e\n", nm, (long long)n, gn, terr);
        if (terr > worst) {
            worst = terr;
            worst_nm = nm;
        }
        checked++;
        free(gh);
        free(v);
        free(q);
    }
    fprintf(stderr, "fd_host: %d parameter tensors x 2 random directions, worst rel err %.2e (%s)\n", checked, worst,
            worst_nm);
    for (size_t i = 0; i < np; i++)
        free(h.v[i]);
    free(h.v);
    free(zh);
    free(tok);
    free(hf);
    sv_params_free(gr);
    fix_close(&x);
}
END_TEST

static int same_bits(const sv_tensor *a, const sv_tensor *b)
{
    sv_err e = {0};
    float *x = sv_tensor_to_host(a, &e), *y = sv_tensor_to_host(b, &e);
    ck_assert(x && y);
    int same = sv_numel(a) == sv_numel(b) && !memcmp(x, y, (size_t)sv_numel(a) * sizeof *x);
    free(x);
    free(y);
    return same;
}

START_TEST(structure)
{
    fix x;
    fix_open(&x, 5);
    sv_ctx *ctx = x.ctx;
    sv_params *p = sv_generator_params(x.g);
    sv_tensor ref, fr2;
    TU_OK(ctx, sv_tensor_new(ctx, &ref, 4, x.fr.shape));
    TU_OK(ctx, sv_tensor_new(ctx, &fr2, 4, x.fr.shape));
    TU_OK(ctx, sv_generator_forward(x.g, &x.z, &x.mz, x.t, x.F, 1.0f, &ref, NULL, NULL));
    /* training forward == eval forward, bit for bit */
    TU_OK(ctx, sv_generator_forward_train(x.g, &x.z, &x.mz, x.t, x.F, &fr2));
    ck_assert_msg(same_bits(&ref, &fr2), "training forward differs from sv_generator_forward");
    sv_tensor c = tu_upload(ctx, x.coef, 4, x.fr.shape);
    sv_params *g1, *g2;
    TU_OK(ctx, sv_params_clone_layout(p, &g1));
    TU_OK(ctx, sv_params_clone_layout(p, &g2));
    TU_OK(ctx, sv_tensor_fill(sv_params_flat(g1), 7.0f)); /* garbage to be overwritten */
    TU_OK(ctx, sv_generator_backward(x.g, &c, g1, 0));
    TU_OK(ctx, sv_generator_backward(x.g, &c, g2, 0));
    ck_assert_msg(same_bits(sv_params_flat(g1), sv_params_flat(g2)), "backward is not bit-reproducible");
    int nbuf = 0, ntr = 0;
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const char *nm = sv_params_name(p, i);
        double *h = dl(sv_params_at(g1, i));
        double s = 0;
        for (int64_t k = 0; k < sv_numel(sv_params_at(g1, i)); k++)
            s += fabs(h[k]);
        free(h);
        if (is_buffer(nm)) {
            ck_assert_msg(s == 0, "buffer %s got a gradient (Σ|g| = %g)", nm, s);
            nbuf++;
        } else {
            ck_assert_msg(s > 0 && isfinite(s), "parameter %s: Σ|g| = %g", nm, s);
            ntr++;
        }
    }
    /* accumulate = 1 adds */
    TU_OK(ctx, sv_generator_backward(x.g, &c, g2, 1));
    double *a = dl(sv_params_flat(g1)), *b2 = dl(sv_params_flat(g2));
    const int64_t n = sv_numel(sv_params_flat(g1));
    for (int64_t k = 0; k < n; k++)
        a[k] *= 2;
    const double rel = tu_rel_l2(b2, a, (size_t)n);
    ck_assert_msg(rel <= 1e-6, "accumulated gradient vs 2x: rel-L2 %g", rel);
    free(a);
    free(b2);
    /* the forward is unchanged after a backward, and the streaming sampler
     * (which needs the same tokens: a tiny32-like check with RNG tokens is in
     * test_generator_parity) still matches it */
    TU_OK(ctx, sv_generator_forward(x.g, &x.z, &x.mz, x.t, x.F, 1.0f, &fr2, NULL, NULL));
    ck_assert_msg(same_bits(&ref, &fr2), "forward changed after a backward");
    {
        const int64_t B = x.B, C = x.c.motion_z_dim;
        float *zh = malloc((size_t)(B * x.c.z_dim) * sizeof *zh);
        uint64_t seed[2] = {3, 4}, stream[2] = {0, 1};
        ck_assert(zh != NULL);
        sv_err e = {0};
        float *zf = sv_tensor_to_host(&x.z, &e);
        memcpy(zh, zf, (size_t)(B * x.c.z_dim) * sizeof *zh);
        free(zf);
        float *tok = malloc((size_t)(B * x.L * C) * sizeof *tok);
        ck_assert(tok != NULL);
        for (int64_t bb = 0; bb < B; bb++)
            sv_rng_normal(seed[bb], SV_STREAM_MOTION + stream[bb], 0, (size_t)(x.L * C), tok + bb * x.L * C);
        sv_tensor mz2;
        TU_OK(ctx, sv_tensor_new(ctx, &mz2, 3, x.mz.shape));
        TU_OK(ctx, sv_tensor_write(&mz2, tok, (size_t)(B * x.L * C)));
        free(tok);
        /* a training forward + backward in between must not disturb the sampler */
        sv_gen_video *gv;
        TU_OK(ctx, sv_generator_begin(x.g, B, zh, seed, stream, 1.0f, &gv));
        TU_OK(ctx, sv_generator_forward_train(x.g, &x.z, &x.mz, x.t, x.F, &fr2));
        TU_OK(ctx, sv_generator_backward(x.g, &c, g2, 0));
        TU_OK(ctx, sv_generator_frames(gv, x.t, x.F, &fr2));
        TU_OK(ctx, sv_generator_forward(x.g, &x.z, &mz2, x.t, x.F, 1.0f, &ref, NULL, NULL));
        ck_assert_msg(same_bits(&ref, &fr2), "streaming sampler differs from the forward");
        sv_gen_video_free(gv);
        sv_tensor_free(&mz2);
        free(zh);
    }
    /* w_avg ← lerp(mean_b w, w_avg, β) with w of the last training forward */
    {
        sv_tensor *wa = sv_params_get(p, "mapping.w_avg");
        ck_assert(wa != NULL);
        TU_OK(ctx, sv_generator_forward_train(x.g, &x.z, &x.mz, x.t, x.F, &fr2));
        double *before = dl(wa);
        /* w itself: the host mapping reference */
        double *zh = dl(&x.z);
        const int64_t B = x.B, D = x.c.w_dim;
        double *h0 = malloc((size_t)(B * D) * sizeof *h0), *h1 = malloc((size_t)(B * D) * sizeof *h1);
        ck_assert(h0 && h1);
        sv_ref_normalize_2nd_moment_fwd(zh, B, x.c.z_dim, h0);
        int64_t in = x.c.z_dim;
        sv_bias_act_params pm = sv_bias_act_default(SV_ACT_LRELU);
        pm.bias_gain = 0.01f;
        for (int i = 0; i < x.c.mapping_layers; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "mapping.fc%d.weight", i);
            double *W = dl(sv_params_get(p, nm));
            snprintf(nm, sizeof nm, "mapping.fc%d.bias", i);
            double *bb = dl(sv_params_get(p, nm));
            sv_ref_fc_fwd(h0, W, bb, B, in, D, 0.01 / sqrt((double)in), &pm, h1);
            memcpy(h0, h1, (size_t)(B * D) * sizeof *h0);
            in = D;
            free(W);
            free(bb);
        }
        TU_OK(ctx, sv_generator_update_w_avg(x.g, 0.995f));
        double *after = dl(wa), *want = malloc((size_t)D * sizeof *want);
        ck_assert(want != NULL);
        for (int64_t k = 0; k < D; k++) {
            double m = 0;
            for (int64_t bb = 0; bb < B; bb++)
                m += h0[bb * D + k];
            m /= (double)B;
            want[k] = m + 0.995 * (before[k] - m);
        }
        const double e = tu_rel_l2(after, want, (size_t)D);
        fprintf(stderr, "structure: update_w_avg rel-L2 %.2e\n", e);
        ck_assert_msg(e <= 1e-5, "update_w_avg: rel-L2 %g", e);
        free(before);
        free(after);
        free(want);
        free(zh);
        free(h0);
        free(h1);
    }
    fprintf(stderr,
            "structure: %d buffers exactly zero, %d trainable tensors non-zero, bit-reproducible, accumulate x2 "
            "rel-L2 %.1e, train forward == forward == streaming (bit-identical)\n",
            nbuf, ntr, rel);
    sv_tensor_free(&c);
    sv_tensor_free(&ref);
    sv_tensor_free(&fr2);
    sv_params_free(g1);
    sv_params_free(g2);
    fix_close(&x);
}
END_TEST

START_TEST(errors)
{
    fix x;
    fix_open(&x, 9);
    sv_ctx *ctx = x.ctx;
    sv_params *p = sv_generator_params(x.g), *gr;
    TU_OK(ctx, sv_params_clone_layout(p, &gr));
    sv_tensor c = tu_upload(ctx, x.coef, 4, x.fr.shape);
    /* no training forward yet */
    ck_assert_int_ne(sv_generator_backward(x.g, &c, gr, 0), 0);
    fprintf(stderr, "errors: %s\n", sv_ctx_errmsg(ctx));
    ck_assert(strstr(sv_ctx_errmsg(ctx), "forward_train") != NULL);
    ck_assert_int_ne(sv_generator_update_w_avg(x.g, 0.995f), 0);
    /* invalidated by an eval forward */
    TU_OK(ctx, sv_generator_forward_train(x.g, &x.z, &x.mz, x.t, x.F, &x.fr));
    TU_OK(ctx, sv_generator_backward(x.g, &c, gr, 0));
    TU_OK(ctx, sv_generator_forward(x.g, &x.z, &x.mz, x.t, x.F, 1.0f, &x.fr, NULL, NULL));
    ck_assert_int_ne(sv_generator_backward(x.g, &c, gr, 0), 0);
    /* wrong frame-gradient shape */
    TU_OK(ctx, sv_generator_forward_train(x.g, &x.z, &x.mz, x.t, x.F, &x.fr));
    sv_tensor bad;
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, x.NF - 1, (int64_t)3, (int64_t)x.c.resolution,
                              (int64_t)x.c.resolution));
    ck_assert_int_ne(sv_generator_backward(x.g, &bad, gr, 0), 0);
    fprintf(stderr, "errors: %s\n", sv_ctx_errmsg(ctx));
    ck_assert(strchr(sv_ctx_errmsg(ctx), '\n') == NULL);
    /* a gradient set of another layout */
    sv_params *other;
    TU_OK(ctx, sv_params_new(ctx, &other));
    TU_OK(ctx, sv_params_add(other, "x", 1, (int64_t[]){4}));
    TU_OK(ctx, sv_params_finalize(other));
    ck_assert_int_ne(sv_generator_backward(x.g, &c, other, 0), 0);
    fprintf(stderr, "errors: %s\n", sv_ctx_errmsg(ctx));
    /* the state is still usable after rejected calls */
    TU_OK(ctx, sv_generator_backward(x.g, &c, gr, 0));
    sv_params_free(other);
    sv_tensor_free(&bad);
    sv_tensor_free(&c);
    sv_params_free(gr);
    fix_close(&x);
}
END_TEST

static double *st_host(const sv_st_file *f, const char *name, size_t *n)
{
    const sv_st_tensor *t = sv_st_find(f, name);
    ck_assert_msg(t != NULL, "bundle has no '%s'", name);
    float *fl = xmalloc((size_t)t->numel * sizeof *fl);
    double *d = xmalloc((size_t)t->numel * sizeof *d);
    sv_err e = {0};
    ck_assert_msg(sv_st_read_f32(f, name, fl, (size_t)t->numel, &e) == 0, "%s", e.msg);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = fl[i];
    free(fl);
    *n = (size_t)t->numel;
    return d;
}

/* Every grad.Gmain.G.* against the gradient set; returns the worst error. */
static double compare_gmain(const sv_st_file *f, sv_params *p, sv_params *gr, double tol, const char *label,
                            const char **worst_nm, int *checked)
{
    double worst = 0;
    *checked = 0;
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const char *nm = sv_params_name(p, i);
        char ref[256];
        snprintf(ref, sizeof ref, "grad.Gmain.G.%s", nm);
        double *got = dl(sv_params_at(gr, i));
        const size_t n = (size_t)sv_numel(sv_params_at(gr, i));
        if (!sv_st_find(f, ref)) {
            /* buffers: no gradient in the official code */
            ck_assert_msg(is_buffer(nm), "bundle has no %s", ref);
            for (size_t k = 0; k < n; k++)
                ck_assert_msg(got[k] == 0, "buffer %s: gradient %g", nm, got[k]);
            free(got);
            continue;
        }
        size_t nr;
        double *want = st_host(f, ref, &nr);
        ck_assert_msg(nr == n, "%s: %zu elements, expected %zu", ref, n, nr);
        double wn = 0;
        for (size_t k = 0; k < n; k++)
            wn += want[k] * want[k];
        double err;
        if (wn == 0) {
            err = tu_max_abs(got, want, n);
            ck_assert_msg(err <= 1e-6, "%s: %s: reference is zero, got max |g| %g", label, ref, err);
        } else {
            err = tu_rel_l2(got, want, n);
            ck_assert_msg(err <= tol, "%s: %s: rel-L2 %g (tolerance %g)", label, ref, err, tol);
        }
        fprintf(stderr, "parity (%s): %-70s %s %.2e\n", label, ref, wn == 0 ? "abs" : "rel-L2", err);
        if (err > worst) {
            worst = err;
            *worst_nm = nm;
        }
        (*checked)++;
        free(got);
        free(want);
    }
    return worst;
}

/* The D input of the strict comparison is the bundle's out.frames: D's input
 * gradient is ill-conditioned (on this bundle it moves by 2.4e-3 rel-L2 when
 * the frames move by the 1.1e-5 that separates svgan's G forward from the
 * official one), so feeding D svgan's own frames measures D's conditioning,
 * not G's backward.  That end-to-end figure is checked loosely (1e-2) and
 * reported. */
START_TEST(parity)
{
    const char *dir = getenv("SVGAN_SHARED_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", dir && *dir ? dir : "../shared");
    if (access(path, R_OK)) {
        fprintf(stderr, "parity: bundle absent: skipped (%s)\n", path);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_st_file *f;
    sv_mconfig c;
    ck_assert_msg(sv_checkpoint_open(path, &f, &c, &e) == 0, "%s", e.msg);
    sv_generator *g;
    sv_discriminator *d;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    ck_assert_msg(sv_checkpoint_load_generator(f, "G.", g, &e) == 0, "%s", e.msg);
    TU_OK(ctx, sv_discriminator_new(ctx, &c, &d));
    ck_assert_msg(sv_checkpoint_load_discriminator(f, "D.", d, &e) == 0, "%s", e.msg);
    size_t nz, nm, nt, nf;
    double *zh = st_host(f, "in.z", &nz), *mh = st_host(f, "in.motion_z", &nm), *th = st_host(f, "in.t", &nt);
    double *fh = st_host(f, "out.frames", &nf);
    const sv_st_tensor *mt = sv_st_find(f, "in.motion_z"), *tt = sv_st_find(f, "in.t");
    const int64_t B = mt->shape[0], L = mt->shape[1], F = tt->shape[1], R = c.resolution;
    sv_tensor z = tu_upload(ctx, zh, 2, (int64_t[]){B, c.z_dim});
    sv_tensor mz = tu_upload(ctx, mh, 3, (int64_t[]){B, L, c.motion_z_dim});
    sv_tensor fr, gfr, loss;
    TU_OK(ctx, sv_tensor_newv(ctx, &fr, 4, B * F, (int64_t)3, R, R));
    TU_OK(ctx, sv_tensor_newv(ctx, &gfr, 4, B * F, (int64_t)3, R, R));
    TU_OK(ctx, sv_tensor_newv(ctx, &loss, 1, (int64_t)1));
    sv_tensor fref = tu_upload(ctx, fh, 4, fr.shape);
    TU_OK(ctx, sv_generator_forward_train(g, &z, &mz, th, F, &fr));
    sv_params *p = sv_generator_params(g), *gr;
    TU_OK(ctx, sv_params_clone_layout(p, &gr));
    size_t n1;
    double *lref = st_host(f, "out.loss_Gmain", &n1);
    double worst[2], lerr[2];
    const char *wn[2] = {"", ""};
    int checked[2];
    for (int mode = 0; mode < 2; mode++) {
        /* mode 0: D at the bundle's frames (strict); 1: at svgan's frames */
        TU_OK(ctx, sv_discriminator_loss_gen(d, mode ? &fr : &fref, th, F, &gfr, &loss, NULL));
        TU_OK(ctx, sv_generator_backward(g, &gfr, gr, 0));
        double *lgot = dl(&loss);
        lerr[mode] = fabs(lgot[0] - lref[0]) / fmax(fabs(lref[0]), 1e-30);
        ck_assert_msg(lerr[mode] <= 1e-4, "out.loss_Gmain: %.8g vs %.8g (rel %g)", lgot[0], lref[0], lerr[mode]);
        free(lgot);
        worst[mode] = compare_gmain(f, p, gr, mode ? 1e-2 : 1e-3, mode ? "end-to-end" : "D at out.frames", &wn[mode],
                                    &checked[mode]);
    }
    fprintf(stderr,
            "parity: %d grad.Gmain.G.* tensors; D at the bundle's frames: worst rel-L2 %.2e (%s), loss rel %.1e; "
            "end to end (D at svgan's frames): worst %.2e (%s), loss rel %.1e\n",
            checked[0], worst[0], wn[0], lerr[0], worst[1], wn[1], lerr[1]);
    free(lref);
    free(zh);
    free(mh);
    free(th);
    free(fh);
    sv_params_free(gr);
    sv_tensor_free(&z);
    sv_tensor_free(&mz);
    sv_tensor_free(&fr);
    sv_tensor_free(&fref);
    sv_tensor_free(&gfr);
    sv_tensor_free(&loss);
    sv_discriminator_free(d);
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- conditioning of D's input gradient at the bundle point ---------------- */
typedef struct sign_rec {
    int n;
    char name[32][48];
    unsigned char *pos[32];
    int64_t len[32];
    long flips; /* counted when comparing */
    int compare;
} sign_rec;

/* Records (or compares against) the signs of every D module output. */
static void sign_trace(void *user, const char *name, const sv_tensor *v)
{
    sign_rec *r = user;
    double *h = dl(v);
    const int64_t n = sv_numel(v);
    if (!r->compare) {
        ck_assert_int_lt(r->n, 32);
        snprintf(r->name[r->n], sizeof r->name[0], "%s", name);
        r->pos[r->n] = xmalloc((size_t)n);
        r->len[r->n] = n;
        for (int64_t i = 0; i < n; i++)
            r->pos[r->n][i] = h[i] > 0;
        r->n++;
    } else {
        for (int j = 0; j < r->n; j++)
            if (!strcmp(r->name[j], name) && r->len[j] == n)
                for (int64_t i = 0; i < n; i++)
                    r->flips += (h[i] > 0) != r->pos[j][i];
    }
    free(h);
}

/* D's input gradient (of L_G = mean softplus(−D)) is piecewise smooth: it
 * jumps only where an lrelu pre-activation changes sign.  At the bundle's
 * out.frames a random perturbation of relative size 1e-7 changes no sign and
 * moves dL/dx linearly (observed ~2e-7, bound 100× the perturbation); one of
 * 1e-5 (the distance between svgan's and the official frames) changes a few
 * signs of pre-activations lying within ~1e-5 of zero and moves dL/dx by up to
 * ~7e-3 (reported, not judged) — the reason the strict generator-gradient
 * parity feeds D the bundle's own frames. */
START_TEST(conditioning)
{
    const char *dir = getenv("SVGAN_SHARED_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", dir && *dir ? dir : "../shared");
    if (access(path, R_OK)) {
        fprintf(stderr, "conditioning: bundle absent: skipped (%s)\n", path);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_st_file *f;
    sv_mconfig c;
    ck_assert_msg(sv_checkpoint_open(path, &f, &c, &e) == 0, "%s", e.msg);
    sv_discriminator *d;
    TU_OK(ctx, sv_discriminator_new(ctx, &c, &d));
    ck_assert_msg(sv_checkpoint_load_discriminator(f, "D.", d, &e) == 0, "%s", e.msg);
    size_t nt, nf;
    double *th = st_host(f, "in.t", &nt), *fh = st_host(f, "out.frames", &nf);
    const sv_st_tensor *tt = sv_st_find(f, "in.t");
    const int64_t B = tt->shape[0], F = tt->shape[1], R = c.resolution;
    const int64_t shp[4] = {B * F, 3, R, R};
    sv_tensor x0 = tu_upload(ctx, fh, 4, shp), gx, lg;
    TU_OK(ctx, sv_tensor_newv(ctx, &gx, 4, shp[0], shp[1], shp[2], shp[3]));
    TU_OK(ctx, sv_tensor_newv(ctx, &lg, 1, B));
    sign_rec rec;
    memset(&rec, 0, sizeof rec);
    TU_OK(ctx, sv_discriminator_forward(d, &x0, th, F, &lg, sign_trace, &rec));
    TU_OK(ctx, sv_discriminator_loss_gen(d, &x0, th, F, &gx, NULL, NULL));
    double *g0 = dl(&gx);
    double rms = 0;
    for (size_t i = 0; i < nf; i++)
        rms += fh[i] * fh[i];
    rms = sqrt(rms / (double)nf);
    double *xp = xmalloc(nf * sizeof *xp);
    const double eps[2] = {1e-7, 1e-5};
    int smooth_cases = 0;
    for (int ie = 0; ie < 2; ie++)
        for (int seed = 1; seed <= 3; seed++) {
            tu_rng r;
            tu_seed(&r, 1000 + (uint64_t)seed);
            for (size_t i = 0; i < nf; i++)
                xp[i] = fh[i] + eps[ie] * rms * tu_normal(&r);
            sv_tensor x = tu_upload(ctx, xp, 4, shp);
            rec.compare = 1;
            rec.flips = 0;
            TU_OK(ctx, sv_discriminator_forward(d, &x, th, F, &lg, sign_trace, &rec));
            TU_OK(ctx, sv_discriminator_loss_gen(d, &x, th, F, &gx, NULL, NULL));
            double *g1 = dl(&gx);
            const double mv = tu_rel_l2(g1, g0, nf);
            fprintf(stderr, "conditioning: frames + noise of rel %.0e (seed %d): %ld sign changes, dL/dx moves %.3g\n",
                    eps[ie], seed, rec.flips, mv);
            if (rec.flips == 0) {
                ck_assert_msg(mv <= 100 * eps[ie], "no sign change, yet dL/dx moved %g for a %g perturbation", mv,
                              eps[ie]);
                smooth_cases++;
            }
            free(g1);
            sv_tensor_free(&x);
        }
    ck_assert_msg(smooth_cases >= 1, "every perturbation changed an lrelu sign");
    for (int j = 0; j < rec.n; j++)
        free(rec.pos[j]);
    free(xp);
    free(g0);
    free(th);
    free(fh);
    sv_tensor_free(&x0);
    sv_tensor_free(&gx);
    sv_tensor_free(&lg);
    sv_discriminator_free(d);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("generator_grad");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, fd_host);
    tcase_add_test(tc, fd_linear);
    tcase_add_test(tc, structure);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, parity);
    tcase_add_test(tc, conditioning);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_main(suite(), 1); }
