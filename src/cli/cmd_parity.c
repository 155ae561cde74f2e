/* svgan parity BUNDLE_DIR: run the svgan generator on an official reference
 * bundle's inputs with its weights and configuration and compare every
 * tensor it can compute (act.G.*, out.frames, out.frames_trunc) with the
 * recording (relative L2 error, tolerance 1e-4 for forward tensors).
 * Exit 0 only on PASS. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"

#define FWD_TOL 1e-4

typedef struct presult {
    char *name;   /* bundle tensor name */
    double rel;   /* relative L2 (inf on shape mismatch, NaN on non-finite values) */
    char note[600];
} presult;

typedef struct pstate {
    const sv_st_file *f;
    presult *r;
    size_t n, cap;
    int oom;
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

/* Compare a device tensor with bundle tensor `ref`; records the result. */
static void compare(pstate *s, const char *ref, const sv_tensor *t)
{
    presult *p = add_result(s, ref);
    if (!p)
        return;
    const sv_st_tensor *bt = sv_st_find(s->f, ref);
    if (!bt) {
        p->rel = INFINITY;
        snprintf(p->note, sizeof p->note, "(not in the bundle)");
        return;
    }
    if (bt->numel != sv_numel(t)) {
        char a[64], b[64];
        shape_str(t->ndim, t->shape, a, sizeof a);
        shape_str(bt->ndim, bt->shape, b, sizeof b);
        p->rel = INFINITY;
        snprintf(p->note, sizeof p->note, "(shape mismatch: svgan %s, bundle %s)", a, b);
        return;
    }
    sv_err e = {0};
    float *got = sv_tensor_to_host(t, &e);
    float *want = malloc((size_t)bt->numel * sizeof *want);
    if (!got || !want || sv_st_read_f32(s->f, ref, want, (size_t)bt->numel, &e)) {
        p->rel = INFINITY;
        snprintf(p->note, sizeof p->note, "(%s)", e.msg[0] ? e.msg : "out of memory");
        free(got);
        free(want);
        return;
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
    p->rel = den > 0 ? sqrt(num / den) : sqrt(num);
    if (nonfinite) {
        p->rel = NAN;
        snprintf(p->note, sizeof p->note, "(%lld non-finite values)", (long long)nonfinite);
    }
    free(got);
    free(want);
}

static void on_trace(void *user, const char *name, const sv_tensor *value)
{
    pstate *s = user;
    char ref[256];
    snprintf(ref, sizeof ref, "act.G.%s", name);
    if (sv_st_find(s->f, ref))
        compare(s, ref, value);
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
            "Run the svgan generator on an official StyleGAN-V reference bundle (BUNDLE_DIR/bundle.safetensors,\n"
            "configuration from its metadata) with its weights and inputs, and compare every generator tensor\n"
            "(act.G.*, out.frames, out.frames_trunc) with the recording.  One line per tensor 'NAME rel_l2=...',\n"
            "then 'parity: N tensors, worst REL (NAME): PASS|FAIL' (tolerance %g).  Exit 0 only on PASS.\n"
            "  --device SEL   OpenCL device (index, 'cpu', 'gpu' or a name substring; default SVGAN_DEVICE)\n",
            FWD_TOL);
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
    cJSON *cj = NULL;
    double *t = NULL;
    pstate s;
    memset(&s, 0, sizeof s);
    sv_tensor z = {0}, mz = {0}, frames = {0};

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
    if (s.oom) {
        cli_error("parity: out of memory");
        goto done;
    }
    /* every act.G.* must have been computed */
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const char *nm = sv_st_name(f, i);
        if (starts(nm, "act.G.") && !was_checked(&s, nm)) {
            presult *p = add_result(&s, nm);
            if (p) {
                p->rel = INFINITY;
                snprintf(p->note, sizeof p->note, "(not computed by svgan)");
            }
        }
    }
    /* report */
    size_t worst = 0;
    int pass = s.n > 0;
    for (size_t i = 0; i < s.n; i++) {
        const presult *p = &s.r[i];
        printf("%s rel_l2=%.3g%s%s\n", p->name, p->rel, p->note[0] ? " " : "", p->note);
        if (!(p->rel <= FWD_TOL))
            pass = 0;
        if (isnan(p->rel) || (!isnan(s.r[worst].rel) && p->rel > s.r[worst].rel))
            worst = i;
    }
    /* what this version cannot compute yet (D, gradients) */
    size_t nc_actd = 0, nc_grad = 0, nc_out = 0;
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const char *nm = sv_st_name(f, i);
        if (was_checked(&s, nm))
            continue;
        if (starts(nm, "act."))
            nc_actd++;
        else if (starts(nm, "grad."))
            nc_grad++;
        else if (starts(nm, "out."))
            nc_out++;
    }
    printf("not checked: %zu tensors (%zu activations, %zu outputs, %zu gradients: discriminator and training "
           "parity are not implemented yet)\n",
           nc_actd + nc_grad + nc_out, nc_actd, nc_out, nc_grad);
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
    sv_generator_free(g);
    if (ctx)
        sv_ctx_destroy(ctx);
    cJSON_Delete(cj);
    sv_st_close(f);
    return status;
}
