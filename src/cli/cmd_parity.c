/* svgan parity BUNDLE_DIR: run the svgan generator and discriminator on an
 * official reference bundle's inputs with its weights and configuration and
 * compare every tensor it can compute with the recording (relative L2 error):
 * act.G.*, out.frames, out.frames_trunc, act.D.*, out.logits_fake,
 * out.logits_real (tolerance 1e-4), out.loss_Gmain, out.loss_Dmain,
 * out.r1_penalty, out.loss_Dr1 (1e-4), grad.Gmain.G.*, grad.Dmain.D.*,
 * grad.Dr1.D.*, grad.Dr1.x (1e-3; a reference that is exactly zero: absolute
 * L2 ≤ 1e-6).  Exit 0 only on PASS.
 *
 * The generator phase (out.loss_Gmain, grad.Gmain.G.*) feeds D the bundle's
 * own out.frames, so it checks G's backward (and D's input gradient) at the
 * recorded point; G's forward is checked separately (out.frames, act.G.*).
 * D's input gradient jumps wherever an lrelu mask changes: svgan's frames
 * (~1e-5 from out.frames, float32 rounding of the time encoder) flip the sign
 * of a few pre-activations lying within ~1e-5 of zero, which moves
 * dL/dframes by ~1e-3 — as a random perturbation of the same size does.  The
 * end-to-end figure (D fed svgan's frames, with the number of lrelu sign
 * changes) is printed as information, not judged. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3
#define ZERO_ABS_TOL 1e-6

typedef struct presult {
    char *name;   /* bundle tensor name */
    double rel;   /* relative L2 (inf on shape mismatch, NaN on non-finite values) */
    double tol;   /* its tolerance */
    char note[600];
    const char *tag; /* static text printed after the note, or NULL */
} presult;

/* Signs of one lrelu layer's outputs (= signs of its pre-activations). */
typedef struct dsign {
    char *name;
    unsigned char *pos; /* 1 where the output is > 0 */
    int64_t n;
} dsign;

typedef struct pstate {
    const sv_st_file *f;
    presult *r;
    size_t n, cap;
    int oom;
    /* lrelu sign bookkeeping for the end-to-end generator-phase figure */
    int keep_signs;  /* record signs during a traced D forward */
    dsign *sg;
    size_t nsg;
    long flips;      /* sign changes counted by on_trace_flips */
    char flip_where[256];
} pstate;

static presult *add_result(pstate *s, const char *name)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 64;
        presult *r = realloc(s->r, nc * sizeof *r);
        if (!r) {
            s->oom = 1;
            return NULL;
        }
        s->r = r;
        s->cap = nc;
    }
    presult *p = &s->r[s->n];
    memset(p, 0, sizeof *p);
    p->name = strdup(name);
    if (!p->name) {
        s->oom = 1;
        return NULL;
    }
    s->n++;
    return p;
}

static void shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (o < n)
        snprintf(buf + o, n - o, "]");
}

/* Error of device tensor t against bundle tensor `ref`: relative L2, or the
 * absolute L2 when the reference is exactly zero (*zero_ref = 1); INFINITY
 * with a note when it cannot be compared, NaN on non-finite values. */
static double tensor_err(const sv_st_file *f, const char *ref, const sv_tensor *t, int *zero_ref, char *note,
                         size_t nn)
{
    *zero_ref = 0;
    note[0] = 0;
    const sv_st_tensor *bt = sv_st_find(f, ref);
    if (!bt) {
        snprintf(note, nn, "(not in the bundle)");
        return INFINITY;
    }
    if (bt->numel != sv_numel(t)) {
        char a[64], b[64];
        shape_str(t->ndim, t->shape, a, sizeof a);
        shape_str(bt->ndim, bt->shape, b, sizeof b);
        snprintf(note, nn, "(shape mismatch: svgan %s, bundle %s)", a, b);
        return INFINITY;
    }
    sv_err e = {0};
    float *got = sv_tensor_to_host(t, &e);
    float *want = malloc((size_t)bt->numel * sizeof *want);
    if (!got || !want || sv_st_read_f32(f, ref, want, (size_t)bt->numel, &e)) {
        snprintf(note, nn, "(%s)", e.msg[0] ? e.msg : "out of memory");
        free(got);
        free(want);
        return INFINITY;
    }
    double num = 0, den = 0;
    int64_t nonfinite = 0;
    for (int64_t i = 0; i < bt->numel; i++) {
        if (!isfinite(got[i]))
            nonfinite++;
        double dd = (double)got[i] - (double)want[i];
        num += dd * dd;
        den += (double)want[i] * (double)want[i];
    }
    double err = den > 0 ? sqrt(num / den) : sqrt(num);
    if (den == 0) {
        *zero_ref = 1;
        snprintf(note, nn, "(zero reference: absolute L2)");
    }
    if (nonfinite) {
        err = NAN;
        snprintf(note, nn, "(%lld non-finite values)", (long long)nonfinite);
    }
    free(got);
    free(want);
    return err;
}

/* Compare a device tensor with bundle tensor `ref`; records the result.
 * tol: relative L2 tolerance; an all-zero reference is compared in absolute
 * L2 against ZERO_ABS_TOL instead. */
static presult *compare_tol(pstate *s, const char *ref, const sv_tensor *t, double tol)
{
    presult *p = add_result(s, ref);
    if (!p)
        return NULL;
    int zero_ref;
    p->rel = tensor_err(s->f, ref, t, &zero_ref, p->note, sizeof p->note);
    p->tol = zero_ref ? ZERO_ABS_TOL : tol;
    return p;
}

static presult *compare(pstate *s, const char *ref, const sv_tensor *t) { return compare_tol(s, ref, t, FWD_TOL); }

static void on_trace(void *user, const char *name, const sv_tensor *value)
{
    pstate *s = user;
    char ref[256];
    snprintf(ref, sizeof ref, "act.G.%s", name);
    if (sv_st_find(s->f, ref))
        compare(s, ref, value);
}

static int ends(const char *s, const char *p)
{
    size_t a = strlen(s), b = strlen(p);
    return a >= b && !strcmp(s + a - b, p);
}

/* D modules followed by a leaky ReLU (their output has the sign of the
 * pre-activation; a clamp keeps the sign too). */
static int is_lrelu_module(const char *name)
{
    return ends(name, ".fromrgb") || ends(name, ".conv0") || ends(name, ".conv1") || !strcmp(name, "b4.conv") ||
           !strcmp(name, "b4.fc") || !strncmp(name, "mapping.fc", 10);
}

static void on_trace_d(void *user, const char *name, const sv_tensor *value)
{
    pstate *s = user;
    char ref[256];
    snprintf(ref, sizeof ref, "act.D.%s", name);
    if (sv_st_find(s->f, ref))
        compare(s, ref, value);
    if (!s->keep_signs || !is_lrelu_module(name))
        return;
    dsign *ng = realloc(s->sg, (s->nsg + 1) * sizeof *ng);
    if (!ng) {
        s->oom = 1;
        return;
    }
    s->sg = ng;
    sv_err e = {0};
    dsign *d = &s->sg[s->nsg];
    d->n = sv_numel(value);
    d->name = strdup(name);
    d->pos = malloc((size_t)d->n);
    float *v = sv_tensor_to_host(value, &e);
    if (!d->name || !d->pos || !v) {
        free(d->name);
        free(d->pos);
        free(v);
        s->oom = 1;
        return;
    }
    for (int64_t i = 0; i < d->n; i++)
        d->pos[i] = v[i] > 0;
    free(v);
    s->nsg++;
}

/* Counts sign changes of the lrelu layers against the recorded signs. */
static void on_trace_flips(void *user, const char *name, const sv_tensor *value)
{
    pstate *s = user;
    for (size_t j = 0; j < s->nsg; j++) {
        if (strcmp(s->sg[j].name, name) || s->sg[j].n != sv_numel(value))
            continue;
        sv_err e = {0};
        float *v = sv_tensor_to_host(value, &e);
        if (!v) {
            s->oom = 1;
            return;
        }
        long c = 0;
        for (int64_t i = 0; i < s->sg[j].n; i++)
            c += (v[i] > 0) != s->sg[j].pos[i];
        free(v);
        if (c) {
            size_t o = strlen(s->flip_where);
            if (o < sizeof s->flip_where - 1)
                snprintf(s->flip_where + o, sizeof s->flip_where - o, "%s%s %ld", o ? ", " : "", name, c);
        }
        s->flips += c;
        return;
    }
}

static int has_prefix(const sv_st_file *f, const char *prefix)
{
    for (size_t i = 0; i < sv_st_count(f); i++)
        if (!strncmp(sv_st_name(f, i), prefix, strlen(prefix)))
            return 1;
    return 0;
}

/* Every parameter gradient of a phase ("Dmain", "Dr1") against grad.<phase>.D.*. */
static void compare_grads(pstate *s, const char *phase, sv_params *g)
{
    char ref[512];
    for (size_t i = 0; i < sv_params_count(g); i++) {
        snprintf(ref, sizeof ref, "grad.%s.D.%s", phase, sv_params_name(g, i));
        if (sv_st_find(s->f, ref))
            compare_tol(s, ref, sv_params_at(g, i), GRAD_TOL);
    }
}

static int was_checked(const pstate *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->r[i].name, name))
            return 1;
    return 0;
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

static void usage(FILE *f)
{
    fprintf(f,
            "usage: svgan parity [--device SEL] BUNDLE_DIR\n"
            "Run the svgan generator and discriminator on an official StyleGAN-V reference bundle\n"
            "(BUNDLE_DIR/bundle.safetensors, configuration from its metadata) with its weights and inputs, and\n"
            "compare every tensor svgan computes (act.G.*, out.frames, out.frames_trunc, act.D.*, out.logits_*,\n"
            "out.loss_Gmain, out.loss_Dmain, out.r1_penalty, out.loss_Dr1, grad.Gmain.G.*, grad.Dmain.D.*,\n"
            "grad.Dr1.D.*, grad.Dr1.x) with the recording; the generator loss and gradients are judged with D\n"
            "fed the bundle's out.frames, the end-to-end figure (svgan's frames) is printed as information.\n"
            "One line per tensor 'NAME rel_l2=...', then 'parity: N tensors, worst REL (NAME): PASS|FAIL'\n"
            "(tolerance %g forward, %g gradients, %g absolute for zero references).\n"
            "Exit 0 only on PASS.\n"
            "  --device SEL   OpenCL device (index, 'cpu', 'gpu' or a name substring; default SVGAN_DEVICE)\n",
            FWD_TOL, GRAD_TOL, ZERO_ABS_TOL);
}

/* Reads bundle tensor `name` (float32) into a new device tensor with the
 * expected shape; one-line error on mismatch. */
static int upload_checked(sv_ctx *ctx, const sv_st_file *f, const char *name, int ndim, const int64_t *shape,
                          sv_tensor *out, const char *path)
{
    const sv_st_tensor *t = sv_st_find(f, name);
    if (!t) {
        cli_error("parity: %s: no tensor '%s'", path, name);
        return 1;
    }
    sv_err e = {0};
    if (sv_st_check_shape(f, t, ndim, shape, &e)) {
        cli_error("parity: %s: %s", path, e.msg);
        return 1;
    }
    if (sv_st_upload(ctx, f, name, out)) {
        cli_error("parity: %s: %s", path, sv_ctx_errmsg(ctx));
        return 1;
    }
    return 0;
}

int cmd_parity(int argc, char **argv)
{
    const char *device = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_device_opt(argc, argv, &i, &device);
        if (r < 0)
            return 2;
        if (r)
            continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("parity: unknown option '%s' (try 'svgan parity --help')", argv[i]);
            return 2;
        }
        if (dir) {
            cli_error("parity: one bundle directory expected, got '%s' and '%s'", dir, argv[i]);
            return 2;
        }
        dir = argv[i];
    }
    if (!dir) {
        cli_error("parity: missing BUNDLE_DIR (try 'svgan parity --help')");
        return 2;
    }
    /* BUNDLE_DIR/bundle.safetensors, or the file itself */
    char path[4096];
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(path, sizeof path, "%s/bundle.safetensors", dir);
    else
        snprintf(path, sizeof path, "%s", dir);

    int status = 1;
    sv_err e = {0};
    sv_st_file *f = NULL;
    sv_ctx *ctx = NULL;
    sv_generator *g = NULL;
    sv_discriminator *d = NULL;
    sv_params *dgrad = NULL, *ggrad = NULL;
    cJSON *cj = NULL;
    double *t = NULL;
    pstate s;
    memset(&s, 0, sizeof s);
    sv_tensor z = {0}, mz = {0}, frames = {0}, dfake = {0}, dreal = {0}, dlog = {0}, dloss = {0}, dgx = {0},
              dpen = {0}, gfr = {0};
    char e2e[1024] = "";

    if (sv_st_open(path, &f, &e)) {
        cli_error("parity: %s", e.msg);
        goto done;
    }
    s.f = f;
    const char *cs = sv_st_metadata(f, "config");
    if (!cs) {
        cli_error("parity: %s: no 'config' metadata (not a reference bundle)", path);
        goto done;
    }
    sv_mconfig cfg;
    if (sv_mconfig_from_json(cs, &cfg, &e) || sv_mconfig_validate(&cfg, &e)) {
        cli_error("parity: %s: config: %s", path, e.msg);
        goto done;
    }
    cj = cJSON_Parse(cs);
    const cJSON *jp = cj ? cJSON_GetObjectItemCaseSensitive(cj, "truncation_psi_trunc") : NULL;
    const int have_trunc = sv_st_find(f, "out.frames_trunc") != NULL;
    if (have_trunc && !cJSON_IsNumber(jp)) {
        cli_error("parity: %s: out.frames_trunc present but config has no numeric 'truncation_psi_trunc'", path);
        goto done;
    }
    const float psi_trunc = have_trunc ? (float)jp->valuedouble : 1.0f;

    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("parity: %s", e.msg);
        goto done;
    }
    if (sv_generator_new(ctx, &cfg, &g)) {
        cli_error("parity: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    if (sv_checkpoint_load_generator(f, "G.", g, &e)) {
        cli_error("parity: %s: %s", path, e.msg);
        goto done;
    }
    /* inputs */
    const sv_st_tensor *tt = sv_st_find(f, "in.t");
    if (!tt || tt->ndim != 2 || tt->shape[0] < 1 || tt->shape[1] < 1) {
        cli_error("parity: %s: 'in.t' missing or not [B, F]", path);
        goto done;
    }
    const int64_t B = tt->shape[0], F = tt->shape[1], R = cfg.resolution;
    t = malloc((size_t)(B * F) * sizeof *t);
    float *tf = malloc((size_t)(B * F) * sizeof *tf);
    if (!t || !tf) {
        free(tf);
        cli_error("parity: out of memory");
        goto done;
    }
    if (sv_st_read_f32(f, "in.t", tf, (size_t)(B * F), &e)) {
        free(tf);
        cli_error("parity: %s", e.msg);
        goto done;
    }
    for (int64_t i = 0; i < B * F; i++)
        t[i] = tf[i];
    free(tf);
    int64_t zs[2] = {B, cfg.z_dim};
    if (upload_checked(ctx, f, "in.z", 2, zs, &z, path))
        goto done;
    const sv_st_tensor *mt = sv_st_find(f, "in.motion_z");
    if (!mt || mt->ndim != 3) {
        cli_error("parity: %s: 'in.motion_z' missing or not [B, L, motion_z_dim]", path);
        goto done;
    }
    int64_t ms[3] = {B, mt->shape[1], cfg.motion_z_dim};
    if (upload_checked(ctx, f, "in.motion_z", 3, ms, &mz, path))
        goto done;
    if (sv_tensor_newv(ctx, &frames, 4, B * F, (int64_t)3, R, R)) {
        cli_error("parity: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    /* ψ = 1 with every module traced, then ψ = truncation_psi_trunc */
    if (sv_generator_forward(g, &z, &mz, t, F, 1.0f, &frames, on_trace, &s)) {
        cli_error("parity: generator: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    if (sv_st_find(f, "out.frames"))
        compare(&s, "out.frames", &frames);
    if (have_trunc) {
        if (sv_generator_forward(g, &z, &mz, t, F, psi_trunc, &frames, NULL, NULL)) {
            cli_error("parity: generator: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        compare(&s, "out.frames_trunc", &frames);
    }
    /* discriminator: D(out.frames, in.t) as the bundle recorded it (every
     * module traced), D(in.real, in.t), the D main loss and gradients, R1 */
    const int have_d = sv_st_find(f, "D.b4.out.weight") != NULL;
    if (have_d) {
        const cJSON *jg = cJSON_GetObjectItemCaseSensitive(cj, "r1_gamma");
        const int have_r1 = sv_st_find(f, "out.loss_Dr1") || sv_st_find(f, "grad.Dr1.x");
        if (have_r1 && !cJSON_IsNumber(jg)) {
            cli_error("parity: %s: R1 tensors present but config has no numeric 'r1_gamma'", path);
            goto done;
        }
        const float gamma = have_r1 ? (float)jg->valuedouble : 0.0f;
        if (sv_discriminator_new(ctx, &cfg, &d)) {
            cli_error("parity: discriminator: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        if (sv_checkpoint_load_discriminator(f, "D.", d, &e)) {
            cli_error("parity: %s: %s", path, e.msg);
            goto done;
        }
        const int64_t fs[4] = {B * F, 3, R, R};
        if (upload_checked(ctx, f, "out.frames", 4, fs, &dfake, path) ||
            upload_checked(ctx, f, "in.real", 4, fs, &dreal, path))
            goto done;
        if (sv_tensor_newv(ctx, &dlog, 1, B) || sv_tensor_newv(ctx, &dloss, 1, (int64_t)1) ||
            sv_tensor_newv(ctx, &dgx, 4, fs[0], fs[1], fs[2], fs[3]) || sv_tensor_newv(ctx, &dpen, 1, B * F) ||
            sv_params_clone_layout(sv_discriminator_params(d), &dgrad)) {
            cli_error("parity: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        const int have_gmain = sv_st_find(f, "out.loss_Gmain") || has_prefix(f, "grad.Gmain.G.");
        s.keep_signs = have_gmain;
        if (sv_discriminator_forward(d, &dfake, t, F, &dlog, on_trace_d, &s)) {
            cli_error("parity: discriminator: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        if (sv_st_find(f, "out.logits_fake"))
            compare(&s, "out.logits_fake", &dlog);
        if (sv_discriminator_forward(d, &dreal, t, F, &dlog, NULL, NULL)) {
            cli_error("parity: discriminator: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        if (sv_st_find(f, "out.logits_real"))
            compare(&s, "out.logits_real", &dlog);
        if (sv_discriminator_loss_main(d, &dfake, t, &dreal, t, F, dgrad, 0, &dloss, NULL, NULL)) {
            cli_error("parity: discriminator loss: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        if (sv_st_find(f, "out.loss_Dmain"))
            compare(&s, "out.loss_Dmain", &dloss);
        compare_grads(&s, "Dmain", dgrad);
        if (have_r1) {
            if (sv_discriminator_r1(d, &dreal, t, F, gamma, &dgx, &dpen, &dloss, NULL, dgrad, 0)) {
                cli_error("parity: R1: %s", sv_ctx_errmsg(ctx));
                goto done;
            }
            if (sv_st_find(f, "grad.Dr1.x"))
                compare_tol(&s, "grad.Dr1.x", &dgx, GRAD_TOL);
            if (sv_st_find(f, "out.r1_penalty"))
                compare(&s, "out.r1_penalty", &dpen);
            if (sv_st_find(f, "out.loss_Dr1"))
                compare(&s, "out.loss_Dr1", &dloss);
            compare_grads(&s, "Dr1", dgrad);
        }
        /* generator phase: L_G = mean softplus(−D(G(z))) through D (whose
         * parameters receive nothing) into every G parameter.  Judged with D
         * fed the bundle's out.frames (G's backward at the recorded point);
         * end to end with svgan's own frames as information (see the top). */
        if (have_gmain) {
            static const char at_ref[] = "[D at out.frames]";
            sv_params *gp = sv_generator_params(g);
            if (sv_tensor_newv(ctx, &gfr, 4, fs[0], fs[1], fs[2], fs[3]) || sv_params_clone_layout(gp, &ggrad)) {
                cli_error("parity: %s", sv_ctx_errmsg(ctx));
                goto done;
            }
            if (sv_generator_forward_train(g, &z, &mz, t, F, &frames)) {
                cli_error("parity: generator: %s", sv_ctx_errmsg(ctx));
                goto done;
            }
            if (sv_discriminator_loss_gen(d, &dfake, t, F, &gfr, &dloss, NULL) ||
                sv_generator_backward(g, &gfr, ggrad, 0)) {
                cli_error("parity: generator loss: %s", sv_ctx_errmsg(ctx));
                goto done;
            }
            char ref[512];
            if (sv_st_find(f, "out.loss_Gmain")) {
                presult *p = compare(&s, "out.loss_Gmain", &dloss);
                if (p)
                    p->tag = at_ref;
            }
            for (size_t i = 0; i < sv_params_count(gp); i++) {
                snprintf(ref, sizeof ref, "grad.Gmain.G.%s", sv_params_name(gp, i));
                if (sv_st_find(f, ref)) {
                    presult *p = compare_tol(&s, ref, sv_params_at(ggrad, i), GRAD_TOL);
                    if (p)
                        p->tag = at_ref;
                }
            }
            /* end to end: D fed svgan's frames; lrelu sign changes against D
             * on out.frames */
            if (sv_discriminator_forward(d, &frames, t, F, &dlog, on_trace_flips, &s) ||
                sv_discriminator_loss_gen(d, &frames, t, F, &gfr, &dloss, NULL) ||
                sv_generator_backward(g, &gfr, ggrad, 0)) {
                cli_error("parity: generator loss (end to end): %s", sv_ctx_errmsg(ctx));
                goto done;
            }
            char note[600];
            int zr;
            double lerr = sv_st_find(f, "out.loss_Gmain")
                              ? tensor_err(f, "out.loss_Gmain", &dloss, &zr, note, sizeof note)
                              : NAN;
            double worst_g = 0;
            const char *worst_nm = "-";
            for (size_t i = 0; i < sv_params_count(gp); i++) {
                snprintf(ref, sizeof ref, "grad.Gmain.G.%s", sv_params_name(gp, i));
                if (!sv_st_find(f, ref))
                    continue;
                double er = tensor_err(f, ref, sv_params_at(ggrad, i), &zr, note, sizeof note);
                if (!(er <= worst_g)) {
                    worst_g = er;
                    worst_nm = sv_params_name(gp, i);
                }
            }
            snprintf(e2e, sizeof e2e,
                     "end to end (information, not judged): D fed svgan's own frames: out.loss_Gmain rel_l2=%.3g, "
                     "grad.Gmain.G.* worst rel_l2=%.3g (%s); D lrelu pre-activations changing sign: %ld%s%s%s",
                     lerr, worst_g, worst_nm, s.flips, s.flip_where[0] ? " (" : "", s.flip_where,
                     s.flip_where[0] ? ")" : "");
        }
    }
    if (s.oom) {
        cli_error("parity: out of memory");
        goto done;
    }
    /* every act.G.* (and act.D.*, grad.Dmain.D.*, grad.Dr1.D.*) must have been computed */
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const char *nm = sv_st_name(f, i);
        const int mine = starts(nm, "act.G.") ||
                         (have_d && (starts(nm, "act.D.") || starts(nm, "grad.Dmain.D.") || starts(nm, "grad.Dr1.D.") ||
                                     starts(nm, "grad.Gmain.G.") || !strcmp(nm, "out.loss_Gmain")));
        if (mine && !was_checked(&s, nm)) {
            presult *p = add_result(&s, nm);
            if (p) {
                p->rel = INFINITY;
                p->tol = FWD_TOL;
                snprintf(p->note, sizeof p->note, "(not computed by svgan)");
            }
        }
    }
    /* report */
    size_t worst = 0;
    int pass = s.n > 0;
    for (size_t i = 0; i < s.n; i++) {
        const presult *p = &s.r[i];
        printf("%s rel_l2=%.3g%s%s%s%s\n", p->name, p->rel, p->note[0] ? " " : "", p->note, p->tag ? " " : "",
               p->tag ? p->tag : "");
        if (!(p->rel <= p->tol))
            pass = 0;
        /* worst relative to its own tolerance */
        if (isnan(p->rel) || (!isnan(s.r[worst].rel) && p->rel / p->tol > s.r[worst].rel / s.r[worst].tol))
            worst = i;
    }
    if (e2e[0])
        printf("%s\n", e2e);
    /* recorded results svgan did not compare (weights G.*, D.* and inputs
     * in.* are inputs, not results) */
    size_t nc = 0;
    char ncl[512] = "";
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const char *nm = sv_st_name(f, i);
        if (was_checked(&s, nm) || !(starts(nm, "act.") || starts(nm, "grad.") || starts(nm, "out.")))
            continue;
        if (nc < 4) {
            size_t o = strlen(ncl);
            snprintf(ncl + o, sizeof ncl - o, "%s%s", o ? ", " : ": ", nm);
        }
        nc++;
    }
    printf("not checked: %zu tensors%s%s\n", nc, ncl, nc > 4 ? ", ..." : "");
    /* what svgan can check but this bundle does not hold */
    static const char *const kinds[] = {"act.G.",        "out.frames",     "out.frames_trunc", "act.D.",
                                        "out.logits_fake", "out.logits_real", "out.loss_Gmain",  "grad.Gmain.G.",
                                        "out.loss_Dmain", "grad.Dmain.D.",  "grad.Dr1.x",       "out.r1_penalty",
                                        "out.loss_Dr1",   "grad.Dr1.D."};
    char absent[512] = "";
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *kd = kinds[k];
        const int pre = kd[strlen(kd) - 1] == '.';
        if (pre ? has_prefix(f, kd) : sv_st_find(f, kd) != NULL)
            continue;
        size_t o = strlen(absent);
        snprintf(absent + o, sizeof absent - o, "%s%s%s", o ? ", " : "", kd, pre ? "*" : "");
    }
    printf("absent from the bundle: %s\n", absent[0] ? absent : "none");
    if (s.n)
        printf("parity: %zu tensors, worst %.3g (%s): %s\n", s.n, s.r[worst].rel, s.r[worst].name,
               pass ? "PASS" : "FAIL");
    else
        printf("parity: 0 tensors: FAIL\n");
    status = pass ? 0 : 1;

done:
    for (size_t i = 0; i < s.n; i++)
        free(s.r[i].name);
    free(s.r);
    free(t);
    sv_tensor_free(&z);
    sv_tensor_free(&mz);
    sv_tensor_free(&frames);
    sv_tensor_free(&dfake);
    sv_tensor_free(&dreal);
    sv_tensor_free(&dlog);
    sv_tensor_free(&dloss);
    sv_tensor_free(&dgx);
    sv_tensor_free(&dpen);
    sv_tensor_free(&gfr);
    sv_params_free(dgrad);
    sv_params_free(ggrad);
    for (size_t i = 0; i < s.nsg; i++) {
        free(s.sg[i].name);
        free(s.sg[i].pos);
    }
    free(s.sg);
    sv_discriminator_free(d);
    sv_generator_free(g);
    if (ctx)
        sv_ctx_destroy(ctx);
    cJSON_Delete(cj);
    sv_st_close(f);
    return status;
}
