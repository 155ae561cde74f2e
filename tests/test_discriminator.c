/* The discriminator: parameters, initialisation, checkpoints, forward,
 * backward, losses and the exact R1 gradient.
 *
 * Cases
 *   names_manifest  parameters == the bundle manifest's D.* names and shapes
 *                   (bundle), and the spec §8.3 per-module counts at 256²
 *   init_ckpt       §2.10 statistics, buffers, determinism by seed, streams
 *                   disjoint from G's; save → load round trip; load errors
 *   bundle_forward  every act.D.* (D on out.frames as the bundle did),
 *                   out.logits_fake, out.logits_real ≤ 1e-4 (bundle)
 *   bundle_dmain    out.loss_Dmain ≤ 1e-4, every grad.Dmain.D.* ≤ 1e-3
 *                   (exact-zero references ≤ 1e-6 absolute) (bundle)
 *   bundle_r1       grad.Dr1.x ≤ 1e-3, out.r1_penalty, out.loss_Dr1 ≤ 1e-4,
 *                   every grad.Dr1.D.* ≤ 1e-3 (γ from the bundle config)
 *   fd_configs      F = 1, 2, 3 (random weights, B = 2 or 4): input,
 *                   parameter and R1 parameter gradients through exact
 *                   identities (Euler homogeneity, head linearity; see
 *                   section 6); loss_gen / loss_main consistent with forward
 *                   + backward
 *   nan_errors      NaN input → NaN logit; bad shapes, F mismatch, unsorted
 *                   times, bad group, backward without forward, wrong
 *                   gradient layout, invalid configurations */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svgan/discriminator.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3
#define ZERO_ABS 1e-6

/* ---- bundle ------------------------------------------------------------- */

typedef struct {
    sv_st_file *f;
    sv_mconfig cfg;
    double gamma;
    sv_ctx *ctx;
    sv_discriminator *d;
    int64_t B, F, R;
    double *t; /* in.t */
} bundle;

static int bundle_open(bundle *b, const char *casename)
{
    memset(b, 0, sizeof *b);
    const char *dir = getenv("SVGAN_SHARED_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", dir && *dir ? dir : "../shared");
    sv_err e = {0};
    if (sv_st_open(path, &b->f, &e)) {
        fprintf(stderr, "%s: bundle absent: skipped (%s)\n", casename, path);
        return 0;
    }
    fprintf(stderr, "%s: bundle %s\n", casename, path);
    const char *cs = sv_st_metadata(b->f, "config");
    ck_assert_msg(cs != NULL, "bundle has no config");
    ck_assert_msg(sv_mconfig_from_json(cs, &b->cfg, &e) == 0, "%s", e.msg);
    cJSON *j = cJSON_Parse(cs);
    ck_assert(j != NULL);
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "r1_gamma");
    ck_assert_msg(cJSON_IsNumber(g), "config has no numeric r1_gamma");
    b->gamma = g->valuedouble;
    cJSON_Delete(j);
    b->ctx = tu_ctx();
    TU_OK(b->ctx, sv_discriminator_new(b->ctx, &b->cfg, &b->d));
    ck_assert_msg(sv_checkpoint_load_discriminator(b->f, "D.", b->d, &e) == 0, "%s", e.msg);
    const sv_st_tensor *tt = sv_st_find(b->f, "in.t");
    ck_assert(tt && tt->ndim == 2);
    b->B = tt->shape[0];
    b->F = tt->shape[1];
    b->R = b->cfg.resolution;
    float *tf = malloc((size_t)tt->numel * sizeof *tf);
    b->t = malloc((size_t)tt->numel * sizeof *b->t);
    ck_assert(tf && b->t);
    ck_assert_int_eq(sv_st_read_f32(b->f, "in.t", tf, (size_t)tt->numel, &e), 0);
    for (int64_t i = 0; i < tt->numel; i++)
        b->t[i] = tf[i];
    free(tf);
    return 1;
}

static void bundle_close(bundle *b)
{
    sv_discriminator_free(b->d);
    if (b->ctx)
        sv_ctx_destroy(b->ctx);
    sv_st_close(b->f);
    free(b->t);
    memset(b, 0, sizeof *b);
}

static sv_tensor up(bundle *b, const char *name)
{
    sv_tensor t = {0};
    ck_assert_msg(sv_st_find(b->f, name) != NULL, "bundle has no '%s'", name);
    TU_OK(b->ctx, sv_st_upload(b->ctx, b->f, name, &t));
    return t;
}

static double *ref_host(const bundle *b, const char *name, size_t *n)
{
    const sv_st_tensor *t = sv_st_find(b->f, name);
    ck_assert_msg(t != NULL, "bundle has no '%s'", name);
    float *fl = malloc((size_t)t->numel * sizeof *fl);
    double *d = malloc((size_t)t->numel * sizeof *d);
    ck_assert(fl && d);
    sv_err e = {0};
    ck_assert_int_eq(sv_st_read_f32(b->f, name, fl, (size_t)t->numel, &e), 0);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = fl[i];
    free(fl);
    *n = (size_t)t->numel;
    return d;
}

/* rel-L2 of a device tensor against bundle tensor `ref`; exact-zero
 * references are compared in absolute terms.  Returns the error measure
 * (relative, or absolute for zero references, then *is_abs = 1). */
static double cmp_ref(const bundle *b, const sv_tensor *t, const char *ref, int *is_abs)
{
    size_t n;
    double *want = ref_host(b, ref, &n);
    ck_assert_msg((size_t)sv_numel(t) == n, "%s: %lld elements, bundle %zu", ref, (long long)sv_numel(t), n);
    double *got = tu_download(t);
    double den = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(isfinite(got[i]), "%s: non-finite value at %zu", ref, i);
        den += want[i] * want[i];
    }
    double e;
    *is_abs = den == 0;
    if (*is_abs)
        e = tu_max_abs(got, want, n);
    else
        e = tu_rel_l2(got, want, n);
    free(got);
    free(want);
    return e;
}

static double check_ref(const bundle *b, const sv_tensor *t, const char *ref, double tol)
{
    int is_abs;
    double e = cmp_ref(b, t, ref, &is_abs);
    fprintf(stderr, "  parity %-48s %s %.3g\n", ref, is_abs ? "max-abs (zero ref)" : "rel-L2", e);
    ck_assert_msg(e <= (is_abs ? ZERO_ABS : tol), "%s: %s %g > %g", ref, is_abs ? "max-abs" : "rel-L2", e,
                  is_abs ? ZERO_ABS : tol);
    return e;
}

/* ---- 1. names and shapes -------------------------------------------------- */

START_TEST(names_manifest)
{
    sv_ctx *ctx = tu_ctx();
    /* spec §8.3: per-module trainable counts at 256² */
    {
        sv_mconfig c;
        sv_err e = {0};
        ck_assert_int_eq(sv_mconfig_preset("paper256", &c, &e), 0);
        sv_discriminator *d;
        TU_OK(ctx, sv_discriminator_new(ctx, &c, &d));
        static const char *const mods[] = {"time_encoder.", "b256.", "b128.", "b64.", "b32.",
                                           "b16.",          "b8.",   "mapping.", "b4."};
        static const int64_t want[] = {262144, 119232, 475520, 1901312, 3670784, 6292480, 4981760, 808448, 6821888};
        sv_params *p = sv_discriminator_params(d);
        int64_t total = 0;
        for (int m = 0; m < 9; m++) {
            int64_t n = 0;
            for (size_t i = 0; i < sv_params_count(p); i++)
                if (!strncmp(sv_params_name(p, i), mods[m], strlen(mods[m])) && !sv_discriminator_is_buffer(d, i))
                    n += sv_numel(sv_params_at(p, i));
            fprintf(stderr, "  256²: %-14s %9lld trainable (spec %lld)\n", mods[m], (long long)n, (long long)want[m]);
            ck_assert_int_eq(n, want[m]);
            total += n;
        }
        ck_assert_int_eq(sv_discriminator_num_trainable(d), total);
        ck_assert_int_eq(sv_discriminator_cmap_dim(d), 512);
        sv_tensor *w = sv_params_get(p, "b16.conv0.weight");
        ck_assert(w && w->shape[0] == 512 && w->shape[1] == 768);
        ck_assert_ptr_nonnull(sv_params_get(p, "time_encoder.time_encoder.fourier_coefs"));
        ck_assert_ptr_null(sv_params_get(p, "mapping.w_avg"));
        sv_discriminator_free(d);
    }
    sv_ctx_destroy(ctx);

    bundle b;
    if (!bundle_open(&b, "names_manifest"))
        return;
    sv_params *p = sv_discriminator_params(b.d);
    size_t nd = 0;
    for (size_t i = 0; i < sv_st_count(b.f); i++) {
        const char *nm = sv_st_name(b.f, i);
        if (strncmp(nm, "D.", 2))
            continue;
        nd++;
        const sv_st_tensor *t = sv_st_at(b.f, i);
        const sv_tensor *v = sv_params_get(p, nm + 2);
        ck_assert_msg(v != NULL, "svgan D has no parameter '%s'", nm + 2);
        ck_assert_msg(v->ndim == t->ndim, "%s: %d dims, bundle %d", nm, v->ndim, t->ndim);
        for (int k = 0; k < t->ndim; k++)
            ck_assert_msg(v->shape[k] == t->shape[k], "%s: dim %d is %lld, bundle %lld", nm, k,
                          (long long)v->shape[k], (long long)t->shape[k]);
    }
    fprintf(stderr, "  %zu D.* tensors in the bundle, %zu svgan parameters\n", nd, sv_params_count(p));
    ck_assert_int_eq(nd, sv_params_count(p));
    /* the buffers hold the official values */
    for (size_t i = 0; i < sv_params_count(p); i++) {
        if (!sv_discriminator_is_buffer(b.d, i))
            continue;
        char nm[256];
        snprintf(nm, sizeof nm, "D.%s", sv_params_name(p, i));
        sv_discriminator *fresh;
        TU_OK(b.ctx, sv_discriminator_new(b.ctx, &b.cfg, &fresh));
        size_t n;
        double *want = ref_host(&b, nm, &n), *got = tu_download(sv_params_at(sv_discriminator_params(fresh), i));
        for (size_t k = 0; k < n; k++)
            ck_assert_msg(got[k] == want[k], "%s[%zu]: %g, bundle %g", nm, k, got[k], want[k]);
        free(want);
        free(got);
        sv_discriminator_free(fresh);
    }
    bundle_close(&b);
}
END_TEST

/* ---- 2. init and checkpoints --------------------------------------------- */

START_TEST(init_ckpt)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    sv_discriminator *d, *d2;
    TU_OK(ctx, sv_discriminator_new(ctx, &c, &d));
    TU_OK(ctx, sv_discriminator_new(ctx, &c, &d2));
    TU_OK(ctx, sv_discriminator_init(d, 7));
    TU_OK(ctx, sv_discriminator_init(d2, 7));
    sv_params *p = sv_discriminator_params(d), *p2 = sv_discriminator_params(d2);
    double *a = tu_download(sv_params_flat(p)), *a2 = tu_download(sv_params_flat(p2));
    const size_t n = (size_t)sv_params_numel(p);
    ck_assert_msg(memcmp(a, a2, n * sizeof *a) == 0, "init is not deterministic");
    free(a2);
    TU_OK(ctx, sv_discriminator_init(d2, 8));
    a2 = tu_download(sv_params_flat(p2));
    ck_assert_msg(memcmp(a, a2, n * sizeof *a) != 0, "seeds 7 and 8 give the same weights");
    free(a2);
    /* statistics per kind */
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const char *nm = sv_params_name(p, i);
        double *v = tu_download(sv_params_at(p, i));
        const size_t m = (size_t)sv_numel(sv_params_at(p, i));
        double s = 0, s2 = 0;
        for (size_t k = 0; k < m; k++) {
            s += v[k];
            s2 += v[k] * v[k];
        }
        const double mean = s / (double)m, sd = sqrt(s2 / (double)m - mean * mean);
        if (strstr(nm, "resample_filter")) {
            ck_assert(sv_discriminator_is_buffer(d, i));
            ck_assert_msg(fabs(v[0] - 1.0 / 64) < 1e-9 && fabs(v[5] - 9.0 / 64) < 1e-9, "%s", nm);
        } else if (strstr(nm, "fourier_coefs")) {
            ck_assert(sv_discriminator_is_buffer(d, i));
            ck_assert_msg(fabs(v[0] - M_PI / 1024) < 1e-7, "%s[0] = %g", nm, v[0]);
        } else if (strstr(nm, ".bias")) {
            ck_assert_msg(s2 == 0, "%s is not zero", nm);
        } else if (m >= 500) {
            const double want = !strncmp(nm, "mapping.fc", 10) ? 100.0 : 1.0;
            ck_assert_msg(fabs(mean) < 0.2 * want && fabs(sd / want - 1) < 0.15, "%s: mean %g sd %g (want sd %g)", nm,
                          mean, sd, want);
        }
        free(v);
    }
    /* disjoint from G's streams: G's first weight stream differs */
    {
        float gfirst[8], dfirst[8];
        sv_rng_normal(7, SV_STREAM_INIT + 0, 0, 8, gfirst);
        sv_rng_normal(7, SV_DISC_STREAM_INIT + 0, 0, 8, dfirst);
        ck_assert(memcmp(gfirst, dfirst, sizeof gfirst) != 0);
    }
    /* save → load round trip */
    char tmpl[] = "/tmp/svgan-disc-XXXXXX";
    ck_assert(mkdtemp(tmpl) != NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/d.safetensors", tmpl);
    sv_st_writer *w = sv_st_writer_new();
    ck_assert(w != NULL);
    ck_assert_msg(sv_discriminator_save(d, w, NULL, &e) == 0, "%s", e.msg);
    ck_assert_msg(sv_st_writer_save(w, path, &e) == 0, "%s", e.msg);
    sv_st_writer_free(w);
    sv_st_file *f;
    ck_assert_msg(sv_st_open(path, &f, &e) == 0, "%s", e.msg);
    ck_assert_ptr_nonnull(sv_st_find(f, "D.b4.out.weight"));
    ck_assert_msg(sv_checkpoint_load_discriminator(f, NULL, d2, &e) == 0, "%s", e.msg);
    a2 = tu_download(sv_params_flat(p2));
    ck_assert_msg(memcmp(a, a2, n * sizeof *a) == 0, "checkpoint round trip differs");
    free(a2);
    /* a D of another configuration cannot load it; a wrong prefix fails */
    sv_mconfig c2 = c;
    c2.channel_max = 16;
    sv_discriminator *d3;
    TU_OK(ctx, sv_discriminator_new(ctx, &c2, &d3));
    e.msg[0] = 0;
    ck_assert_int_ne(sv_checkpoint_load_discriminator(f, NULL, d3, &e), 0);
    fprintf(stderr, "  other config: %s\n", e.msg);
    ck_assert(strstr(e.msg, "D.") != NULL);
    e.msg[0] = 0;
    ck_assert_int_ne(sv_checkpoint_load_discriminator(f, "X", d2, &e), 0);
    fprintf(stderr, "  wrong prefix: %s\n", e.msg);
    ck_assert(strstr(e.msg, "X.") != NULL);
    sv_st_close(f);
    unlink(path);
    rmdir(tmpl);
    sv_discriminator_free(d3);
    free(a);
    sv_discriminator_free(d);
    sv_discriminator_free(d2);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- 3. forward parity --------------------------------------------------- */

typedef struct {
    bundle *b;
    int n;
    double worst;
    char worst_name[256];
    char seen[64][256];
} tstate;

static void on_trace(void *user, const char *name, const sv_tensor *value)
{
    tstate *s = user;
    char ref[256];
    snprintf(ref, sizeof ref, "act.D.%s", name);
    if (!sv_st_find(s->b->f, ref))
        return;
    double e = check_ref(s->b, value, ref, FWD_TOL);
    if (s->n < 64)
        snprintf(s->seen[s->n], sizeof s->seen[0], "%s", ref);
    s->n++;
    if (e > s->worst) {
        s->worst = e;
        snprintf(s->worst_name, sizeof s->worst_name, "%s", ref);
    }
}

START_TEST(bundle_forward)
{
    bundle b;
    if (!bundle_open(&b, "bundle_forward"))
        return;
    sv_tensor fake = up(&b, "out.frames"), real = up(&b, "in.real"), lg = {0};
    TU_OK(b.ctx, sv_tensor_newv(b.ctx, &lg, 1, b.B));
    tstate s;
    memset(&s, 0, sizeof s);
    s.b = &b;
    TU_OK(b.ctx, sv_discriminator_forward(b.d, &fake, b.t, b.F, &lg, on_trace, &s));
    check_ref(&b, &lg, "out.logits_fake", FWD_TOL);
    /* every act.D.* was produced */
    int nact = 0;
    for (size_t i = 0; i < sv_st_count(b.f); i++) {
        const char *nm = sv_st_name(b.f, i);
        if (strncmp(nm, "act.D.", 6))
            continue;
        nact++;
        int found = 0;
        for (int k = 0; k < s.n && k < 64; k++)
            found |= !strcmp(s.seen[k], nm);
        ck_assert_msg(found, "%s was not traced", nm);
    }
    fprintf(stderr, "bundle_forward: %d act.D tensors (worst %.3g, %s)\n", s.n, s.worst, s.worst_name);
    ck_assert_int_eq(s.n, nact);
    TU_OK(b.ctx, sv_discriminator_forward(b.d, &real, b.t, b.F, &lg, NULL, NULL));
    check_ref(&b, &lg, "out.logits_real", FWD_TOL);
    sv_tensor_free(&fake);
    sv_tensor_free(&real);
    sv_tensor_free(&lg);
    bundle_close(&b);
}
END_TEST

/* ---- 4. D main loss and gradients ---------------------------------------- */

static void check_grads(bundle *b, sv_params *g, const char *phase)
{
    char ref[256];
    int n = 0;
    double worst = 0;
    const char *wn = "";
    for (size_t i = 0; i < sv_params_count(g); i++) {
        snprintf(ref, sizeof ref, "grad.%s.D.%s", phase, sv_params_name(g, i));
        if (!sv_st_find(b->f, ref)) {
            /* buffers have no recorded gradient: ours must be zero */
            ck_assert_msg(sv_discriminator_is_buffer(b->d, i), "bundle has no %s", ref);
            double *v = tu_download(sv_params_at(g, i));
            for (int64_t k = 0; k < sv_numel(sv_params_at(g, i)); k++)
                ck_assert_msg(v[k] == 0, "%s: buffer gradient %g", ref, v[k]);
            free(v);
            continue;
        }
        int is_abs;
        double e = check_ref(b, sv_params_at(g, i), ref, GRAD_TOL);
        (void)cmp_ref;
        (void)is_abs;
        n++;
        if (e > worst) {
            worst = e;
            wn = sv_params_name(g, i);
        }
    }
    fprintf(stderr, "  grad.%s: %d tensors, worst %.3g (%s)\n", phase, n, worst, wn);
    /* every grad.<phase>.D.* of the bundle is covered */
    char pre[64];
    snprintf(pre, sizeof pre, "grad.%s.D.", phase);
    int nb = 0;
    for (size_t i = 0; i < sv_st_count(b->f); i++)
        nb += !strncmp(sv_st_name(b->f, i), pre, strlen(pre));
    ck_assert_int_eq(n, nb);
}

START_TEST(bundle_dmain)
{
    bundle b;
    if (!bundle_open(&b, "bundle_dmain"))
        return;
    sv_tensor fake = up(&b, "out.frames"), real = up(&b, "in.real"), loss = {0}, lf = {0}, lr = {0};
    TU_OK(b.ctx, sv_tensor_newv(b.ctx, &loss, 1, (int64_t)1));
    TU_OK(b.ctx, sv_tensor_newv(b.ctx, &lf, 1, b.B));
    TU_OK(b.ctx, sv_tensor_newv(b.ctx, &lr, 1, b.B));
    sv_params *g;
    TU_OK(b.ctx, sv_params_clone_layout(sv_discriminator_params(b.d), &g));
    /* garbage in the gradient set: accumulate = 0 must overwrite it */
    TU_OK(b.ctx, sv_tensor_fill(sv_params_flat(g), 3.0f));
    TU_OK(b.ctx, sv_discriminator_loss_main(b.d, &fake, b.t, &real, b.t, b.F, g, 0, &loss, &lf, &lr));
    check_ref(&b, &loss, "out.loss_Dmain", FWD_TOL);
    check_ref(&b, &lf, "out.logits_fake", FWD_TOL);
    check_ref(&b, &lr, "out.logits_real", FWD_TOL);
    check_grads(&b, g, "Dmain");
    /* accumulate = 1 doubles */
    double *g1 = tu_download(sv_params_flat(g));
    TU_OK(b.ctx, sv_discriminator_loss_main(b.d, &fake, b.t, &real, b.t, b.F, g, 1, NULL, NULL, NULL));
    double *g2 = tu_download(sv_params_flat(g));
    const size_t n = (size_t)sv_params_numel(g);
    for (size_t i = 0; i < n; i++)
        g1[i] *= 2;
    const double e = tu_rel_l2(g2, g1, n);
    fprintf(stderr, "  accumulate: rel-L2 vs 2× %.3g\n", e);
    ck_assert(e < 1e-6);
    free(g1);
    free(g2);
    sv_params_free(g);
    sv_tensor_free(&fake);
    sv_tensor_free(&real);
    sv_tensor_free(&loss);
    sv_tensor_free(&lf);
    sv_tensor_free(&lr);
    bundle_close(&b);
}
END_TEST

/* ---- 5. R1 ------------------------------------------------------------------- */

START_TEST(bundle_r1)
{
    bundle b;
    if (!bundle_open(&b, "bundle_r1"))
        return;
    sv_ctx *ctx = b.ctx;
    sv_tensor real = up(&b, "in.real"), gx = {0}, pen = {0}, loss = {0}, lg = {0};
    TU_OK(ctx, sv_tensor_new(ctx, &gx, 4, real.shape));
    TU_OK(ctx, sv_tensor_newv(ctx, &pen, 1, b.B * b.F));
    TU_OK(ctx, sv_tensor_newv(ctx, &loss, 1, (int64_t)1));
    TU_OK(ctx, sv_tensor_newv(ctx, &lg, 1, b.B));
    sv_params *g;
    TU_OK(ctx, sv_params_clone_layout(sv_discriminator_params(b.d), &g));
    TU_OK(ctx, sv_tensor_fill(sv_params_flat(g), -2.0f));
    fprintf(stderr, "  r1_gamma %g\n", b.gamma);
    TU_OK(ctx, sv_discriminator_r1(b.d, &real, b.t, b.F, (float)b.gamma, &gx, &pen, &loss, &lg, g, 0));
    check_ref(&b, &gx, "grad.Dr1.x", GRAD_TOL);
    check_ref(&b, &pen, "out.r1_penalty", FWD_TOL);
    check_ref(&b, &loss, "out.loss_Dr1", FWD_TOL);
    check_ref(&b, &lg, "out.logits_real", FWD_TOL);
    check_grads(&b, g, "Dr1");
    /* with only the loss requested, the same loss */
    sv_tensor loss2 = {0};
    TU_OK(ctx, sv_tensor_newv(ctx, &loss2, 1, (int64_t)1));
    TU_OK(ctx, sv_discriminator_r1(b.d, &real, b.t, b.F, (float)b.gamma, NULL, NULL, &loss2, NULL, NULL, 0));
    double *l1 = tu_download(&loss), *l2 = tu_download(&loss2);
    ck_assert(l1[0] == l2[0]);
    free(l1);
    free(l2);
    sv_tensor_free(&loss2);
    sv_params_free(g);
    sv_tensor_free(&real);
    sv_tensor_free(&gx);
    sv_tensor_free(&pen);
    sv_tensor_free(&loss);
    sv_tensor_free(&lg);
    bundle_close(&b);
}
END_TEST

/* ---- 6. other frame counts: exact identities ---------------------------------
 *
 * Finite differences of a leaky-ReLU network in float32 are dominated by kink
 * crossings (and R1 = ‖∇ₓD‖² is discontinuous across them), so F = 1 / 2 / 3
 * are checked with identities that hold exactly:
 *  - with zero biases and no clamp, D is positively homogeneous of degree 1
 *    in x and in the weights of each "cut" of the network (fromrgb; conv0 +
 *    skip and conv1 + skip of each block; b4.conv; b4.fc; b4.out; each mapping
 *    fc; mbstd's √(var + 1e-8) is homogeneous up to 1e-8/var): Euler gives
 *    ⟨∂L/∂x, x⟩ = L and ⟨∂L/∂W_cut, W_cut⟩ = L for L = Σ w_b D_b, and
 *    ⟨∂R1/∂W_cut, W_cut⟩ = 2·R1 (g is degree 1, R1 degree 2); the embed FC
 *    is followed by normalize: degree 0;
 *  - L is linear and R1 quadratic in b4.out.{weight, bias} (nothing after
 *    them has a kink): central differences along those are exact. */

typedef struct {
    sv_ctx *ctx;
    sv_discriminator *d;
    int64_t B, F, N, R;
    sv_tensor x, lg;
    double *t, *wl; /* times, logit weights */
} fdcase;

/* L = Σ_b wl_b · D(x)_b in double on the host. */
static double fd_logit_loss(fdcase *c)
{
    TU_OK(c->ctx, sv_discriminator_forward(c->d, &c->x, c->t, c->F, &c->lg, NULL, NULL));
    double *l = tu_download(&c->lg), s = 0;
    for (int64_t b = 0; b < c->B; b++)
        s += c->wl[b] * l[b];
    free(l);
    return s;
}

static double r1_loss(fdcase *c, float gamma)
{
    sv_tensor loss = {0};
    TU_OK(c->ctx, sv_tensor_newv(c->ctx, &loss, 1, (int64_t)1));
    TU_OK(c->ctx, sv_discriminator_r1(c->d, &c->x, c->t, c->F, gamma, NULL, NULL, &loss, NULL, NULL, 0));
    double *v = tu_download(&loss), r = v[0];
    free(v);
    sv_tensor_free(&loss);
    return r;
}

/* ⟨grad, param⟩ summed over the named parameters (NULL-terminated). */
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

/* Every homogeneity cut: ⟨g_cut, W_cut⟩ == want (relative tol). */
static void check_cuts(fdcase *c, sv_params *g, double want, const char *what)
{
    const sv_mconfig *cfg = sv_discriminator_config(c->d);
    char n1[64], n2[64];
    const char *cut[3] = {NULL, NULL, NULL};
    double worst = 0;
    int ncut = 0;
#define CUT(...)                                                                                   \
    do {                                                                                           \
        const double v__ = dot_named(c->d, g, cut);                                                \
        const double e__ = fabs(v__ - want) / fabs(want);                                          \
        if (e__ > worst)                                                                           \
            worst = e__;                                                                           \
        ncut++;                                                                                    \
        ck_assert_msg(e__ < 1e-4, "%s F=%lld: <g, W> over %s%s%s = %.9g, expected %.9g", what,     \
                      (long long)c->F, cut[0], cut[1] ? " + " : "", cut[1] ? cut[1] : "", v__, want); \
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
    if (c->F > 1)
        for (int i = 0; i < cfg->d_mapping_layers; i++) {
            snprintf(n1, sizeof n1, "mapping.fc%d.weight", i);
            cut[0] = n1;
            CUT();
        }
#undef CUT
    fprintf(stderr, "  F=%lld %s: %d cuts, <g_cut, W_cut> vs %.6g: worst rel %.3g\n", (long long)c->F, what, ncut,
            want, worst);
    if (c->F > 1) {
        /* embed is followed by normalize (degree 0) */
        const char *emb[] = {"mapping.embed.weight", NULL};
        const double v = dot_named(c->d, g, emb);
        fprintf(stderr, "  F=%lld %s: <g, W> over mapping.embed.weight = %.3g (degree 0)\n", (long long)c->F, what, v);
        ck_assert_msg(fabs(v) < 1e-4 * fabs(want), "%s: embed cut %g", what, v);
    }
}

/* Central difference along v restricted to b4.out.{weight, bias}. */
static double fd_head(fdcase *c, const double *vw, const double *vb, double h, int r1, float gamma)
{
    sv_params *P = sv_discriminator_params(c->d);
    sv_tensor *W = sv_params_get(P, "b4.out.weight"), *b = sv_params_get(P, "b4.out.bias");
    double *w0 = tu_download(W), *b0 = tu_download(b), f[2];
    const size_t nw = (size_t)sv_numel(W), nb = (size_t)sv_numel(b);
    float *wp = malloc(nw * sizeof *wp), *bp = malloc(nb * sizeof *bp);
    for (int s = 0; s < 3; s++) {
        const double hs = s == 0 ? h : s == 1 ? -h : 0;
        for (size_t i = 0; i < nw; i++)
            wp[i] = (float)(w0[i] + hs * vw[i]);
        for (size_t i = 0; i < nb; i++)
            bp[i] = (float)(b0[i] + hs * vb[i]);
        TU_OK(c->ctx, sv_tensor_write(W, wp, nw));
        TU_OK(c->ctx, sv_tensor_write(b, bp, nb));
        if (s < 2)
            f[s] = r1 ? r1_loss(c, gamma) : fd_logit_loss(c);
    }
    free(wp);
    free(bp);
    free(w0);
    free(b0);
    return (f[0] - f[1]) / (2 * h);
}

static void fd_run(int F, int64_t B)
{
    fdcase c;
    memset(&c, 0, sizeof c);
    c.ctx = tu_ctx();
    sv_mconfig cfg;
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &cfg, &e), 0);
    cfg.frames_per_clip = F;
    cfg.channel_max = 16;
    cfg.max_num_frames = 64;
    ck_assert(cfg.conv_clamp < 0);
    TU_OK(c.ctx, sv_discriminator_new(c.ctx, &cfg, &c.d));
    TU_OK(c.ctx, sv_discriminator_init(c.d, 11)); /* biases 0 */
    ck_assert_int_eq(sv_discriminator_cmap_dim(c.d), F > 1 ? 16 : 0);
    sv_params *P = sv_discriminator_params(c.d);
    if (F == 1) {
        ck_assert_ptr_null(sv_params_get(P, "mapping.embed.weight"));
        ck_assert_ptr_null(sv_params_get(P, "time_encoder.const_embed.weight"));
        ck_assert_int_eq(sv_params_get(P, "b4.out.weight")->shape[0], 1);
    }
    tu_rng rng;
    tu_seed(&rng, 100 + (uint64_t)F);
    c.B = B;
    c.F = F;
    c.N = B * F;
    c.R = cfg.resolution;
    const size_t nx = (size_t)(c.N * 3 * c.R * c.R);
    double *xh = malloc(nx * sizeof *xh);
    tu_fill_uniform(&rng, xh, nx, -1, 1);
    const int64_t xs[4] = {c.N, 3, c.R, c.R};
    c.x = tu_upload(c.ctx, xh, 4, xs);
    TU_OK(c.ctx, sv_tensor_newv(c.ctx, &c.lg, 1, B));
    c.t = malloc((size_t)c.N * sizeof *c.t);
    for (int64_t b = 0; b < B; b++)
        for (int f = 0; f < F; f++)
            c.t[b * F + f] = (double)(3 * b) + 0.5 * (double)b + (double)(f * (f + 2 + b));
    c.wl = malloc((size_t)B * sizeof *c.wl);
    tu_fill_normal(&rng, c.wl, (size_t)B, 1.0);

    /* backward with glogits = wl */
    sv_params *g;
    TU_OK(c.ctx, sv_params_clone_layout(P, &g));
    sv_tensor gl = tu_upload(c.ctx, c.wl, 1, &B), gx = {0};
    TU_OK(c.ctx, sv_tensor_new(c.ctx, &gx, 4, xs));
    const double L0 = fd_logit_loss(&c);
    TU_OK(c.ctx, sv_discriminator_backward(c.d, &gl, g, 0, &gx));
    /* Euler in x */
    {
        double *gxa = tu_download(&gx), s = 0;
        for (size_t i = 0; i < nx; i++)
            s += gxa[i] * xh[i];
        fprintf(stderr, "  F=%d B=%lld: L = %.9g, <∂L/∂x, x> = %.9g\n", F, (long long)B, L0, s);
        ck_assert_msg(fabs(s - L0) < 1e-4 * fabs(L0), "F=%d: <gx, x> = %.9g, L = %.9g", F, s, L0);
        free(gxa);
    }
    check_cuts(&c, g, L0, "logits");
    /* buffers get no gradient */
    for (size_t i = 0; i < sv_params_count(P); i++)
        if (sv_discriminator_is_buffer(c.d, i)) {
            double *v = tu_download(sv_params_at(g, i));
            for (int64_t k = 0; k < sv_numel(sv_params_at(g, i)); k++)
                ck_assert_msg(v[k] == 0, "buffer %s has a gradient", sv_params_name(P, i));
            free(v);
        }
    /* head: exact central differences (logits linear in b4.out) */
    const size_t nw = (size_t)sv_numel(sv_params_get(P, "b4.out.weight")),
                 nb = (size_t)sv_numel(sv_params_get(P, "b4.out.bias"));
    double *vw = malloc(nw * sizeof *vw), *vb = malloc(nb * sizeof *vb);
    tu_fill_normal(&rng, vw, nw, 1.0);
    tu_fill_normal(&rng, vb, nb, 1.0);
    {
        double *gw = tu_download(sv_params_get(g, "b4.out.weight")), *gb = tu_download(sv_params_get(g, "b4.out.bias"));
        double an = 0;
        for (size_t i = 0; i < nw; i++)
            an += gw[i] * vw[i];
        for (size_t i = 0; i < nb; i++)
            an += gb[i] * vb[i];
        const double num = fd_head(&c, vw, vb, 0.05, 0, 0);
        fprintf(stderr, "  F=%d: head <∂L/∂θ, v> = %.7g, central difference %.7g\n", F, an, num);
        ck_assert_msg(fabs(an - num) <= 1e-3 * fabs(num), "F=%d head: %g vs %g", F, an, num);
        free(gw);
        free(gb);
    }
    /* R1: Euler over the cuts, exact head differences, zero out.bias grad */
    {
        const float gamma = 10.0f;
        TU_OK(c.ctx, sv_tensor_fill(sv_params_flat(g), 7.0f));
        sv_tensor loss = {0};
        TU_OK(c.ctx, sv_tensor_newv(c.ctx, &loss, 1, (int64_t)1));
        TU_OK(c.ctx, sv_discriminator_r1(c.d, &c.x, c.t, c.F, gamma, NULL, NULL, &loss, NULL, g, 0));
        double *lv = tu_download(&loss);
        const double R1 = lv[0];
        free(lv);
        sv_tensor_free(&loss);
        ck_assert(R1 > 0);
        check_cuts(&c, g, 2 * R1, "R1");
        double *gw = tu_download(sv_params_get(g, "b4.out.weight")), *gb = tu_download(sv_params_get(g, "b4.out.bias"));
        double an = 0;
        for (size_t i = 0; i < nw; i++)
            an += gw[i] * vw[i];
        for (size_t i = 0; i < nb; i++)
            ck_assert_msg(gb[i] == 0, "R1 gradient of b4.out.bias[%zu] = %g", i, gb[i]);
        const double num = fd_head(&c, vw, vb, 0.05, 1, gamma);
        fprintf(stderr, "  F=%d: R1 = %.7g, head <∂R1/∂θ, v> = %.7g, central difference %.7g\n", F, R1, an, num);
        ck_assert_msg(fabs(an - num) <= 1e-3 * fabs(num), "F=%d R1 head: %g vs %g", F, an, num);
        free(gw);
        free(gb);
    }
    /* loss_gen: gfake == backward with −sigmoid(−l)/B; loss_main == the
     * softplus formula on the logits */
    {
        sv_tensor gf = {0}, loss = {0}, lgt = {0};
        TU_OK(c.ctx, sv_tensor_new(c.ctx, &gf, 4, xs));
        TU_OK(c.ctx, sv_tensor_newv(c.ctx, &loss, 1, (int64_t)1));
        TU_OK(c.ctx, sv_tensor_newv(c.ctx, &lgt, 1, B));
        TU_OK(c.ctx, sv_discriminator_loss_gen(c.d, &c.x, c.t, F, &gf, &loss, &lgt));
        double *l = tu_download(&lgt), *lv = tu_download(&loss), want = 0;
        double *w = malloc((size_t)B * sizeof *w);
        for (int64_t b = 0; b < B; b++) {
            want += log1p(exp(-l[b])) / (double)B;
            w[b] = -1.0 / (1.0 + exp(l[b])) / (double)B;
        }
        fprintf(stderr, "  F=%d: L_G = %.7g (host %.7g)\n", F, lv[0], want);
        ck_assert_msg(fabs(lv[0] - want) < 1e-5 * (1 + fabs(want)), "L_G %g vs %g", lv[0], want);
        sv_tensor wt = tu_upload(c.ctx, w, 1, &B);
        TU_OK(c.ctx, sv_discriminator_forward(c.d, &c.x, c.t, F, &c.lg, NULL, NULL));
        TU_OK(c.ctx, sv_discriminator_backward(c.d, &wt, NULL, 0, &gx));
        double *a1 = tu_download(&gf), *a2 = tu_download(&gx);
        ck_assert(tu_rel_l2(a1, a2, nx) < 1e-6);
        TU_OK(c.ctx, sv_discriminator_loss_main(c.d, &c.x, c.t, &c.x, c.t, F, g, 0, &loss, NULL, NULL));
        double *lm = tu_download(&loss), wm = 0;
        for (int64_t b = 0; b < B; b++)
            wm += (log1p(exp(-l[b])) + log1p(exp(l[b]))) / (double)B;
        ck_assert_msg(fabs(lm[0] - wm) < 1e-5 * (1 + fabs(wm)), "L_D %g vs %g", lm[0], wm);
        /* fake = real: ∂L_D/∂l = (σ(l) − σ(−l))/B = tanh(l/2)/B per clip */
        for (int64_t b = 0; b < B; b++)
            w[b] = tanh(l[b] / 2) / (double)B;
        double wsum = 0;
        for (int64_t b = 0; b < B; b++)
            wsum += w[b] * l[b];
        check_cuts(&c, g, wsum, "L_D");
        free(lm);
        free(a1);
        free(a2);
        free(l);
        free(lv);
        free(w);
        sv_tensor_free(&wt);
        sv_tensor_free(&gf);
        sv_tensor_free(&loss);
        sv_tensor_free(&lgt);
    }
    free(vw);
    free(vb);
    free(xh);
    free(c.t);
    free(c.wl);
    sv_tensor_free(&gl);
    sv_tensor_free(&gx);
    sv_tensor_free(&c.x);
    sv_tensor_free(&c.lg);
    sv_params_free(g);
    sv_discriminator_free(c.d);
    sv_ctx_destroy(c.ctx);
}

START_TEST(fd_configs)
{
    fd_run(1, 2);
    fd_run(2, 4);
    fd_run(3, 2);
}
END_TEST

/* ---- 7. NaN and errors ----------------------------------------------------- */

START_TEST(nan_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_mconfig c;
    sv_err e = {0};
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    c.channel_max = 8;
    c.max_num_frames = 64;
    sv_discriminator *d;
    TU_OK(ctx, sv_discriminator_new(ctx, &c, &d));
    TU_OK(ctx, sv_discriminator_init(d, 3));
    const int64_t B = 4, F = 3, N = B * F, R = 32;
    const size_t nx = (size_t)(N * 3 * R * R);
    double *xh = calloc(nx, sizeof *xh), t[12];
    for (int64_t i = 0; i < N; i++)
        t[i] = (double)(i % F) * 2 + (double)(i / F);
    const int64_t xs[4] = {N, 3, R, R};
    sv_tensor lg = {0}, lg5 = {0};
    TU_OK(ctx, sv_tensor_newv(ctx, &lg, 1, B));
    TU_OK(ctx, sv_tensor_newv(ctx, &lg5, 1, (int64_t)5));

    /* backward before any forward */
    sv_tensor ones = {0};
    TU_OK(ctx, sv_tensor_newv(ctx, &ones, 1, B));
    TU_OK(ctx, sv_tensor_fill(&ones, 1.0f));
    sv_tensor gx = {0};
    TU_OK(ctx, sv_tensor_new(ctx, &gx, 4, xs));
    ck_assert_int_ne(sv_discriminator_backward(d, &ones, NULL, 0, &gx), 0);
    fprintf(stderr, "  backward first: %s\n", sv_ctx_errmsg(ctx));

    /* NaN input → NaN logit */
    xh[5] = NAN; /* frame 0 of clip 0 */
    sv_tensor x = tu_upload(ctx, xh, 4, xs);
    TU_OK(ctx, sv_discriminator_forward(d, &x, t, F, &lg, NULL, NULL));
    double *l = tu_download(&lg);
    fprintf(stderr, "  NaN pixel → logits %g %g %g %g\n", l[0], l[1], l[2], l[3]);
    ck_assert(isnan(l[0]));
    free(l);
    sv_tensor_free(&x);
    xh[5] = 0.25;
    x = tu_upload(ctx, xh, 4, xs);
    TU_OK(ctx, sv_discriminator_forward(d, &x, t, F, &lg, NULL, NULL));
    l = tu_download(&lg);
    for (int64_t b = 0; b < B; b++)
        ck_assert(isfinite(l[b]));
    free(l);

#define EXPECT_ERR(expr, what)                                                                   \
    do {                                                                                         \
        int rc__ = (expr);                                                                       \
        ck_assert_msg(rc__ != 0, "%s: accepted", what);                                          \
        fprintf(stderr, "  %-26s → %s\n", what, sv_ctx_errmsg(ctx));                             \
        ck_assert_msg(strlen(sv_ctx_errmsg(ctx)) > 0 && !strchr(sv_ctx_errmsg(ctx), '\n'), "%s", what); \
    } while (0)

    /* wrong resolution, channels, frame count */
    sv_tensor bad = {0};
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, N, (int64_t)3, (int64_t)16, (int64_t)16));
    EXPECT_ERR(sv_discriminator_forward(d, &bad, t, F, &lg, NULL, NULL), "16×16 frames");
    sv_tensor_free(&bad);
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, N, (int64_t)4, R, R));
    EXPECT_ERR(sv_discriminator_forward(d, &bad, t, F, &lg, NULL, NULL), "4 channels");
    sv_tensor_free(&bad);
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, N - 1, (int64_t)3, R, R));
    EXPECT_ERR(sv_discriminator_forward(d, &bad, t, F, &lg, NULL, NULL), "11 frames, F = 3");
    sv_tensor_free(&bad);
    EXPECT_ERR(sv_discriminator_forward(d, &x, t, 2, &lg, NULL, NULL), "F = 2 on an F = 3 D");
    EXPECT_ERR(sv_discriminator_forward(d, &x, t, F, &lg5, NULL, NULL), "5 logits for 4 clips");
    EXPECT_ERR(sv_discriminator_forward(d, &x, NULL, F, &lg, NULL, NULL), "no times");
    {
        double tb[12];
        memcpy(tb, t, sizeof tb);
        tb[4] = tb[3] - 1; /* clip 1 unsorted */
        EXPECT_ERR(sv_discriminator_forward(d, &x, tb, F, &lg, NULL, NULL), "unsorted times");
        memcpy(tb, t, sizeof tb);
        tb[2] = NAN;
        EXPECT_ERR(sv_discriminator_forward(d, &x, tb, F, &lg, NULL, NULL), "NaN time");
        memcpy(tb, t, sizeof tb);
        tb[2] = tb[1] + 500; /* difference ≥ max_num_frames = 64 */
        EXPECT_ERR(sv_discriminator_forward(d, &x, tb, F, &lg, NULL, NULL), "difference ≥ M");
    }
    /* 6 clips with group 4: 6 % 4 ≠ 0 */
    {
        TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, (int64_t)18, (int64_t)3, R, R));
        sv_tensor lg6 = {0};
        TU_OK(ctx, sv_tensor_newv(ctx, &lg6, 1, (int64_t)6));
        double t6[18];
        for (int i = 0; i < 18; i++)
            t6[i] = i % 3;
        EXPECT_ERR(sv_discriminator_forward(d, &bad, t6, F, &lg6, NULL, NULL), "6 clips, mbstd group 4");
        sv_tensor_free(&lg6);
        sv_tensor_free(&bad);
    }
    /* a failed forward leaves no state for backward */
    EXPECT_ERR(sv_discriminator_backward(d, &ones, NULL, 0, &gx), "backward after failure");
    TU_OK(ctx, sv_discriminator_forward(d, &x, t, F, &lg, NULL, NULL));
    EXPECT_ERR(sv_discriminator_backward(d, &lg5, NULL, 0, &gx), "5 logit grads");
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, N, (int64_t)3, (int64_t)16, (int64_t)16));
    EXPECT_ERR(sv_discriminator_backward(d, &ones, NULL, 0, &bad), "gx 16×16");
    sv_tensor_free(&bad);
    {
        sv_params *gp;
        TU_OK(ctx, sv_params_new(ctx, &gp));
        const int64_t s1[1] = {5};
        TU_OK(ctx, sv_params_add(gp, "x", 1, s1));
        TU_OK(ctx, sv_params_finalize(gp));
        EXPECT_ERR(sv_discriminator_backward(d, &ones, gp, 0, NULL), "wrong gradient layout");
        sv_params_free(gp);
    }
    TU_OK(ctx, sv_discriminator_backward(d, &ones, NULL, 0, &gx));
    /* losses: shapes */
    EXPECT_ERR(sv_discriminator_loss_main(d, &x, t, &lg, t, F, NULL, 0, NULL, NULL, NULL), "real not frames");
    EXPECT_ERR(sv_discriminator_loss_gen(d, &x, t, F, NULL, &lg, NULL), "loss tensor of 4");
    EXPECT_ERR(sv_discriminator_r1(d, &x, t, F, NAN, NULL, NULL, NULL, NULL, NULL, 0), "gamma NaN");
    EXPECT_ERR(sv_discriminator_r1(d, &x, t, F, 1.0f, NULL, &lg, NULL, NULL, NULL, 0), "penalty of 4");

    /* invalid configurations */
    sv_discriminator *d2 = NULL;
    sv_mconfig c2 = c;
    c2.d_concat_res = 32;
    EXPECT_ERR(sv_discriminator_new(ctx, &c2, &d2), "concat at the resolution");
    ck_assert_ptr_null(d2);
    c2 = c;
    c2.d_concat_res = 4;
    EXPECT_ERR(sv_discriminator_new(ctx, &c2, &d2), "concat at 4");
    c2 = c;
    c2.d_num_frames_div_factor = 64;
    EXPECT_ERR(sv_discriminator_new(ctx, &c2, &d2), "div factor too large");
    c2 = c;
    c2.resolution = 48;
    EXPECT_ERR(sv_discriminator_new(ctx, &c2, &d2), "resolution 48");
#undef EXPECT_ERR
    /* a valid other configuration: 64², concat at 8, div 1, group 2 */
    c2 = c;
    c2.resolution = 64;
    c2.d_concat_res = 8;
    c2.d_num_frames_div_factor = 1;
    c2.mbstd_group_size = 2;
    c2.frames_per_clip = 2;
    TU_OK(ctx, sv_discriminator_new(ctx, &c2, &d2));
    TU_OK(ctx, sv_discriminator_init(d2, 5));
    {
        sv_tensor x2 = {0}, l2 = {0}, g2 = {0};
        TU_OK(ctx, sv_tensor_newv(ctx, &x2, 4, (int64_t)12, (int64_t)3, (int64_t)64, (int64_t)64));
        TU_OK(ctx, sv_tensor_fill(&x2, 0.1f));
        TU_OK(ctx, sv_tensor_newv(ctx, &l2, 1, (int64_t)6));
        TU_OK(ctx, sv_tensor_new(ctx, &g2, 4, x2.shape));
        double t2[12];
        for (int i = 0; i < 12; i++)
            t2[i] = (double)(i % 2) * (1 + i / 2);
        sv_params *gp;
        TU_OK(ctx, sv_params_clone_layout(sv_discriminator_params(d2), &gp));
        TU_OK(ctx, sv_discriminator_r1(d2, &x2, t2, 2, 1.0f, &g2, NULL, NULL, &l2, gp, 0));
        double *lv = tu_download(&l2), *gv = tu_download(sv_params_flat(gp));
        for (int i = 0; i < 6; i++)
            ck_assert(isfinite(lv[i]));
        for (int64_t i = 0; i < sv_params_numel(gp); i++)
            ck_assert(isfinite(gv[i]));
        free(lv);
        free(gv);
        sv_params_free(gp);
        sv_tensor_free(&x2);
        sv_tensor_free(&l2);
        sv_tensor_free(&g2);
    }
    sv_discriminator_free(d2);
    sv_tensor_free(&x);
    sv_tensor_free(&lg);
    sv_tensor_free(&lg5);
    sv_tensor_free(&ones);
    sv_tensor_free(&gx);
    free(xh);
    sv_discriminator_free(d);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("discriminator");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, names_manifest);
    tcase_add_test(tc, init_ckpt);
    tcase_add_test(tc, bundle_forward);
    tcase_add_test(tc, bundle_dmain);
    tcase_add_test(tc, bundle_r1);
    tcase_add_test(tc, fd_configs);
    tcase_add_test(tc, nan_errors);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
