/* R1 through the ADA augmentation (spec §4.2; sv_discriminator_r1_aug).
 *
 * Host, float64: a small smooth discriminator D(y)_b = Σ_k v_k·tanh(⟨u_k, y_b⟩
 * + c_k) (y_b = the F frames of clip b) composed with the host augmentation
 * reference.  R(θ) = γ/(2N)·Σ_frames ‖Aᵀ g_y‖² is differentiated by central
 * differences and compared with the reverse-over-forward gradient with the
 * tangent ẏ = γ/N·A·Aᵀ·g_y (ops.h, discriminator.h); the same check with the
 * tangent γ/N·g_y (augmentation ignored in the tangent) must fail.
 *
 * Device, tiny32 D (no clamp, zero biases, so every homogeneity cut of
 * weights satisfies Σ_cut θ·∂R/∂θ = 2R exactly, whatever A is):
 *  - every cut of the R1-through-augmentation gradient (bgc, p = 1);
 *  - g (gradient w.r.t. the un-augmented frames) = Aᵀ·g_y against the host
 *    adjoint of the device g_y; penalty = ‖g‖² per frame;
 *  - p = 0: the same as sv_discriminator_r1 (the pipeline is the identity to
 *    float round-off);
 *  - a contrast-only plan (A = c·I): R_aug(x) = c²·R(aug(x)), gradients too;
 *  - a plan for the wrong number of clips/frames is refused. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* ---- host model ---------------------------------------------------------------- */

enum { HB = 2, HF = 2, HH = 6, HW = 7, HK = 3 };
#define HD (HF * 3 * HH * HW)       /* per-clip input size */
#define HN ((size_t)HB * HD)        /* all frames */
#define HP ((size_t)HK * HD + 2 * HK) /* θ = u [K, D], c [K], v [K] */

typedef struct {
    const sv_augment_clip *clips;
    const double *x;
    double gamma;
} hmodel;

/* g_y for θ at y (all clips) */
static void h_gy(const double *th, const double *y, double *gy)
{
    const double *u = th, *c = th + HK * HD, *v = c + HK;
    for (int b = 0; b < HB; b++) {
        const double *yb = y + (size_t)b * HD;
        double *gb = gy + (size_t)b * HD;
        memset(gb, 0, HD * sizeof *gb);
        for (int k = 0; k < HK; k++) {
            double z = c[k];
            for (int i = 0; i < HD; i++)
                z += u[k * HD + i] * yb[i];
            double t = tanh(z), s = v[k] * (1 - t * t);
            for (int i = 0; i < HD; i++)
                gb[i] += s * u[k * HD + i];
        }
    }
}

static double h_r1(const double *th, void *user)
{
    hmodel *m = user;
    double *y = malloc(HN * sizeof *y), *gy = malloc(HN * sizeof *gy), *g = malloc(HN * sizeof *g);
    sv_ref_augment_fwd(m->clips, HB, HF, HH, HW, m->x, y, 1);
    h_gy(th, y, gy);
    sv_ref_augment_bwd(m->clips, HB, HF, HH, HW, gy, g);
    double s = 0;
    for (size_t i = 0; i < HN; i++)
        s += g[i] * g[i];
    free(y);
    free(gy);
    free(g);
    return m->gamma / (2.0 * HB * HF) * s;
}

/* ∇θ J, J = Σ_b Σ_k v_k·(1 − t²)·⟨u_k, ẏ_b⟩ (the directional derivative of
 * ΣD along ẏ), with ẏ fixed. */
static void h_grad(const double *th, const double *y, const double *yd, double *gth)
{
    const double *u = th, *c = th + HK * HD, *v = c + HK;
    double *gu = gth, *gc = gth + HK * HD, *gv = gc + HK;
    memset(gth, 0, HP * sizeof *gth);
    for (int b = 0; b < HB; b++) {
        const double *yb = y + (size_t)b * HD, *db = yd + (size_t)b * HD;
        for (int k = 0; k < HK; k++) {
            double z = c[k], d = 0;
            for (int i = 0; i < HD; i++) {
                z += u[k * HD + i] * yb[i];
                d += u[k * HD + i] * db[i];
            }
            double t = tanh(z), s = 1 - t * t, sp = -2 * t * s;
            gv[k] += s * d;
            gc[k] += v[k] * sp * d;
            for (int i = 0; i < HD; i++)
                gu[k * HD + i] += v[k] * (sp * d * yb[i] + s * db[i]);
        }
    }
}

static void host_case(int ignore_aug_in_tangent, double tol, int expect_fail)
{
    sv_augment_clip c[HB];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, HB, HH, HW, 12, 34, c, NULL), 0);
    for (int b = 0; b < HB; b++) /* a stronger contrast, so that A·Aᵀ is far from I */
        for (int k = 0; k < 12; k++)
            c[b].C[k] *= 1.5;
    tu_rng r;
    tu_seed(&r, 5);
    double *x = malloc(HN * sizeof *x), *th = malloc(HP * sizeof *th), *y = malloc(HN * sizeof *y),
           *gy = malloc(HN * sizeof *gy), *g = malloc(HN * sizeof *g), *yd = malloc(HN * sizeof *yd),
           *gth = malloc(HP * sizeof *gth);
    tu_fill_uniform(&r, x, HN, -1, 1);
    tu_fill_normal(&r, th, HP, 0.05);
    for (int k = 0; k < HK; k++)
        th[(size_t)HK * HD + HK + k] = 1.0 + k; /* v */
    const double gamma = 0.7;
    sv_ref_augment_fwd(c, HB, HF, HH, HW, x, y, 1);
    h_gy(th, y, gy);
    sv_ref_augment_bwd(c, HB, HF, HH, HW, gy, g);
    /* tangent ẏ = γ/N·A·g (A: the linear part) */
    if (ignore_aug_in_tangent)
        memcpy(yd, gy, HN * sizeof *yd);
    else
        sv_ref_augment_fwd(c, HB, HF, HH, HW, g, yd, 0);
    for (size_t i = 0; i < HN; i++)
        yd[i] *= gamma / (HB * HF);
    h_grad(th, y, yd, gth);
    hmodel m = {c, x, gamma};
    if (!expect_fail) {
        tu_gradcheck("R1 through aug (host)", h_r1, &m, th, gth, HP, 6, 1e-4, tol, 17);
    } else {
        /* the same central difference, asserting a large error */
        double *v = malloc(HP * sizeof *v), *q = malloc(HP * sizeof *q), an = 0, nv = 0;
        tu_fill_normal(&r, v, HP, 1.0);
        for (size_t i = 0; i < HP; i++)
            nv += v[i] * v[i];
        for (size_t i = 0; i < HP; i++) {
            v[i] /= sqrt(nv);
            an += gth[i] * v[i];
        }
        const double h = 1e-4;
        for (size_t i = 0; i < HP; i++)
            q[i] = th[i] + h * v[i];
        double fp = h_r1(q, &m);
        for (size_t i = 0; i < HP; i++)
            q[i] = th[i] - h * v[i];
        double num = (fp - h_r1(q, &m)) / (2 * h);
        double rel = fabs(num - an) / fabs(num);
        fprintf(stderr, "  tangent without A·Aᵀ: rel error %.3g (must be large)\n", rel);
        ck_assert_msg(rel > 1e-2, "ignoring the augmentation in the tangent was not detected (rel %.3g)", rel);
        free(v);
        free(q);
    }
    free(x);
    free(th);
    free(y);
    free(gy);
    free(g);
    free(yd);
    free(gth);
}

START_TEST(t_host_fd) { host_case(0, 1e-7, 0); }
END_TEST
START_TEST(t_host_mutation) { host_case(1, 0, 1); }
END_TEST

/* ---- device -------------------------------------------------------------------- */

typedef struct {
    sv_ctx *ctx;
    sv_discriminator *d;
    int64_t B, F, N;
    int R;
    double *xh, *t;
    sv_tensor x;
} dcase;

static void dcase_open(dcase *c)
{
    memset(c, 0, sizeof *c);
    c->ctx = tu_ctx();
    sv_mconfig cfg;
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &cfg, &e), 0);
    cfg.frames_per_clip = 3;
    cfg.channel_max = 16;
    cfg.max_num_frames = 64;
    ck_assert(cfg.conv_clamp < 0);
    TU_OK(c->ctx, sv_discriminator_new(c->ctx, &cfg, &c->d));
    TU_OK(c->ctx, sv_discriminator_init(c->d, 11)); /* biases 0 */
    c->B = 4;
    c->F = 3;
    c->N = c->B * c->F;
    c->R = cfg.resolution;
    size_t nx = (size_t)(c->N * 3 * c->R * c->R);
    c->xh = malloc(nx * sizeof *c->xh);
    tu_rng r;
    tu_seed(&r, 31);
    tu_fill_uniform(&r, c->xh, nx, -1, 1);
    const int64_t xs[4] = {c->N, 3, c->R, c->R};
    c->x = tu_upload(c->ctx, c->xh, 4, xs);
    c->t = malloc((size_t)c->N * sizeof *c->t);
    for (int64_t b = 0; b < c->B; b++)
        for (int f = 0; f < c->F; f++)
            c->t[b * c->F + f] = (double)(2 * b + f * (f + 1 + b));
}

static void dcase_close(dcase *c)
{
    sv_tensor_free(&c->x);
    sv_discriminator_free(c->d);
    free(c->xh);
    free(c->t);
    sv_ctx_destroy(c->ctx);
}

static double dot_named(sv_discriminator *d, sv_params *g, const char *const *names)
{
    double s = 0;
    for (int i = 0; names[i]; i++) {
        sv_tensor *p = sv_params_get(sv_discriminator_params(d), names[i]), *q = sv_params_get(g, names[i]);
        ck_assert_msg(p && q, "no parameter %s", names[i]);
        double *a = tu_download(p), *b = tu_download(q);
        for (int64_t k = 0; k < sv_numel(p); k++)
            s += a[k] * b[k];
        free(a);
        free(b);
    }
    return s;
}

/* Σ_cut θ·∂R/∂θ == 2R for every homogeneity cut (as tests/test_discriminator.c) */
static void check_cuts(dcase *c, sv_params *g, double want)
{
    const sv_mconfig *cfg = sv_discriminator_config(c->d);
    char n1[64], n2[64];
    const char *cut[3] = {NULL, NULL, NULL};
    double worst = 0;
    int ncut = 0;
#define CUT()                                                                                        \
    do {                                                                                             \
        const double v__ = dot_named(c->d, g, cut), e__ = fabs(v__ - want) / fabs(want);             \
        worst = e__ > worst ? e__ : worst;                                                           \
        ncut++;                                                                                      \
        ck_assert_msg(e__ < 1e-4, "<g, W> over %s%s%s = %.9g, expected %.9g", cut[0], cut[1] ? " + " : "", \
                      cut[1] ? cut[1] : "", v__, want);                                              \
    } while (0)
    for (int r = cfg->resolution; r >= 8; r /= 2) {
        if (r == cfg->resolution) {
            snprintf(n1, sizeof n1, "b%d.fromrgb.weight", r);
            cut[0] = n1;
            cut[1] = NULL;
            CUT();
        }
        snprintf(n2, sizeof n2, "b%d.skip.weight", r);
        cut[1] = n2;
        snprintf(n1, sizeof n1, "b%d.conv0.weight", r);
        cut[0] = n1;
        CUT();
        snprintf(n1, sizeof n1, "b%d.conv1.weight", r);
        CUT();
    }
    cut[1] = NULL;
    static const char *const epi[] = {"b4.conv.weight", "b4.fc.weight", "b4.out.weight"};
    for (int i = 0; i < 3; i++) {
        cut[0] = epi[i];
        CUT();
    }
    for (int i = 0; i < cfg->d_mapping_layers; i++) {
        snprintf(n1, sizeof n1, "mapping.fc%d.weight", i);
        cut[0] = n1;
        CUT();
    }
#undef CUT
    fprintf(stderr, "  R1 through aug: %d cuts, <g_cut, W_cut> vs 2R = %.6g: worst rel %.3g\n", ncut, want, worst);
}

static double read1(const sv_tensor *t)
{
    double *v = tu_download(t), r = v[0];
    free(v);
    return r;
}

START_TEST(t_device_cuts_and_g)
{
    dcase c;
    dcase_open(&c);
    sv_ctx *ctx = c.ctx;
    sv_augment_clip clips[4];
    ck_assert_int_eq(sv_augment_draw(NULL, 1.0, c.B, c.R, c.R, 3, 3, clips, NULL), 0);
    sv_augment_plan *pl;
    TU_OK(ctx, sv_augment_plan_new(ctx, clips, c.B, c.F, c.R, c.R, &pl));
    sv_params *g;
    TU_OK(ctx, sv_params_clone_layout(sv_discriminator_params(c.d), &g));
    const int64_t xs[4] = {c.N, 3, c.R, c.R};
    sv_tensor gx, pen, loss, lg, y, gy, ones;
    TU_OK(ctx, sv_tensor_new(ctx, &gx, 4, xs));
    TU_OK(ctx, sv_tensor_new(ctx, &y, 4, xs));
    TU_OK(ctx, sv_tensor_new(ctx, &gy, 4, xs));
    TU_OK(ctx, sv_tensor_newv(ctx, &pen, 1, c.N));
    TU_OK(ctx, sv_tensor_newv(ctx, &loss, 1, (int64_t)1));
    TU_OK(ctx, sv_tensor_newv(ctx, &lg, 1, c.B));
    TU_OK(ctx, sv_tensor_newv(ctx, &ones, 1, c.B));
    TU_OK(ctx, sv_tensor_fill(&ones, 1.0f));
    const float gamma = 10.0f;
    TU_OK(ctx, sv_discriminator_r1_aug(c.d, &c.x, c.t, c.F, gamma, pl, &gx, &pen, &loss, &lg, g, 0));
    const double R = read1(&loss);
    ck_assert(R > 0);
    check_cuts(&c, g, 2 * R);
    /* g = Aᵀ g_y with g_y of D at aug(x), via the host adjoint */
    TU_OK(ctx, sv_augment_fwd(ctx, pl, &c.x, &y));
    TU_OK(ctx, sv_discriminator_forward(c.d, &y, c.t, c.F, &lg, NULL, NULL));
    TU_OK(ctx, sv_discriminator_backward(c.d, &ones, NULL, 0, &gy));
    double *gyh = tu_download(&gy), *gxh = tu_download(&gx), *penh = tu_download(&pen);
    const size_t nx = (size_t)(c.N * 3 * c.R * c.R), fr = (size_t)(3 * c.R * c.R);
    double *want = malloc(nx * sizeof *want);
    ck_assert_int_eq(sv_ref_augment_bwd(clips, c.B, c.F, c.R, c.R, gyh, want), 0);
    tu_assert_close("R1 g = A^T g_y", gxh, want, nx, 2e-5);
    double tot = 0;
    for (int64_t n = 0; n < c.N; n++) {
        double s = 0;
        for (size_t i = 0; i < fr; i++)
            s += gxh[n * fr + i] * gxh[n * fr + i];
        ck_assert_msg(fabs(s - penh[n]) <= 1e-5 * s, "penalty of frame %lld", (long long)n);
        tot += s;
    }
    ck_assert_msg(fabs(R - gamma / (2.0 * c.N) * tot) <= 1e-5 * R, "loss %g vs %g", R, gamma / (2.0 * c.N) * tot);
    free(gyh);
    free(gxh);
    free(penh);
    free(want);
    /* wrong plan shape */
    sv_augment_plan *bad;
    TU_OK(ctx, sv_augment_plan_new(ctx, clips, c.B, 1, c.R, c.R, &bad));
    ck_assert_int_eq(sv_discriminator_r1_aug(c.d, &c.x, c.t, c.F, gamma, bad, NULL, NULL, &loss, NULL, NULL, 0),
                     SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(ctx), "augmentation plan"));
    sv_augment_plan_free(bad);
    sv_tensor_free(&gx);
    sv_tensor_free(&y);
    sv_tensor_free(&gy);
    sv_tensor_free(&pen);
    sv_tensor_free(&loss);
    sv_tensor_free(&lg);
    sv_tensor_free(&ones);
    sv_params_free(g);
    sv_augment_plan_free(pl);
    dcase_close(&c);
}
END_TEST

/* p = 0 → sv_discriminator_r1; contrast only → c²·R1(aug(x)) */
START_TEST(t_device_special_plans)
{
    dcase c;
    dcase_open(&c);
    sv_ctx *ctx = c.ctx;
    const int64_t xs[4] = {c.N, 3, c.R, c.R};
    const float gamma = 3.0f;
    sv_params *g0, *g1;
    TU_OK(ctx, sv_params_clone_layout(sv_discriminator_params(c.d), &g0));
    TU_OK(ctx, sv_params_clone_layout(sv_discriminator_params(c.d), &g1));
    sv_tensor loss, y;
    TU_OK(ctx, sv_tensor_newv(ctx, &loss, 1, (int64_t)1));
    TU_OK(ctx, sv_tensor_new(ctx, &y, 4, xs));
    const int64_t np = sv_params_numel(g0);
    for (int k = 0; k < 2; k++) {
        sv_augment_clip clips[4];
        double cc = 1;
        if (k == 0) {
            ck_assert_int_eq(sv_augment_draw(NULL, 0.0, c.B, c.R, c.R, 1, 1, clips, NULL), 0);
        } else {
            sv_augment_cfg cfg = sv_augment_bgc();
            cfg.xflip = cfg.rotate90 = cfg.xint = cfg.scale = cfg.rotate = cfg.aniso = cfg.xfrac = 0;
            cfg.brightness = cfg.lumaflip = cfg.hue = cfg.saturation = 0;
            ck_assert_int_eq(sv_augment_draw(&cfg, 1.0, c.B, c.R, c.R, 1, 1, clips, NULL), 0);
            cc = clips[0].C[0];
            for (int b = 1; b < 4; b++) /* one contrast for all clips */
                clips[b] = clips[0];
            ck_assert(fabs(cc - 1) > 0.05);
        }
        sv_augment_plan *pl;
        TU_OK(ctx, sv_augment_plan_new(ctx, clips, c.B, c.F, c.R, c.R, &pl));
        TU_OK(ctx, sv_discriminator_r1_aug(c.d, &c.x, c.t, c.F, gamma, pl, NULL, NULL, &loss, NULL, g1, 0));
        const double Ra = read1(&loss);
        /* reference: plain R1 at y = aug(x) (k = 0: at x itself) */
        if (k == 1)
            TU_OK(ctx, sv_augment_fwd(ctx, pl, &c.x, &y));
        TU_OK(ctx, sv_discriminator_r1(c.d, k ? &y : &c.x, c.t, c.F, gamma, NULL, NULL, &loss, NULL, g0, 0));
        const double R0 = read1(&loss) * cc * cc;
        double *a = tu_download(sv_params_flat(g1)), *b = tu_download(sv_params_flat(g0));
        for (int64_t i = 0; i < np; i++)
            b[i] *= cc * cc;
        fprintf(stderr, "  %s: R_aug %.9g vs %.9g\n", k ? "contrast only (c² R1(aug x))" : "p = 0 (R1(x))", Ra,
                R0);
        ck_assert_msg(fabs(Ra - R0) <= 1e-5 * R0, "R1 values %g vs %g", Ra, R0);
        tu_assert_close(k ? "contrast-only R1 gradient" : "p = 0 R1 gradient", a, b, (size_t)np, 1e-4);
        free(a);
        free(b);
        sv_augment_plan_free(pl);
    }
    sv_tensor_free(&loss);
    sv_tensor_free(&y);
    sv_params_free(g0);
    sv_params_free(g1);
    dcase_close(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("r1_aug");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, t_host_fd);
    tcase_add_test(tc, t_host_mutation);
    tcase_add_test(tc, t_device_cuts_and_g);
    tcase_add_test(tc, t_device_special_plans);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
