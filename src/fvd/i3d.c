/* I3D (fvd.md §2): the TF-checkpoint weights reader (layout table), BatchNorm
 * folding, the device forward pass built from the conv3d ops, and an
 * independent float64 host reference of the whole network. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavutil/mem.h>
#include <libavutil/sha.h>

#include "svgan/i3d.h"
#include "svgan/ops/conv3d.h"
#include "svgan/svgan.h"

#define BN_EPS 1e-3
#define SCOPE "RGB/inception_i3d/"
#define LAYOUT_NAME "i3d-tf-checkpoint-layout.tsv"
#ifndef SVGAN_DATADIR
#define SVGAN_DATADIR "/usr/local/share/svgan"
#endif

/* ------------------------------------------------------------------------ */
/* architecture                                                              */

/* Every conv of the network in execution order: 3 stem units, 9 Inception
 * modules of 6 units (b0, b1a, b1b, b2a, b2b, b3), the logits conv. */
#define N_MIXED 9
#define N_UNITS (3 + 6 * N_MIXED + 1)

typedef struct arch_unit {
    char name[80]; /* scope below RGB/inception_i3d/ */
    int k, s, cin, cout;
} arch_unit;

static const struct {
    const char *name;
    int cin, b0, b1a, b1b, b2a, b2b, b3;
} MIXED[N_MIXED] = {
    {"Mixed_3b", 192, 64, 96, 128, 16, 32, 32},     {"Mixed_3c", 256, 128, 128, 192, 32, 96, 64},
    {"Mixed_4b", 480, 192, 96, 208, 16, 48, 64},    {"Mixed_4c", 512, 160, 112, 224, 24, 64, 64},
    {"Mixed_4d", 512, 128, 128, 256, 24, 64, 64},   {"Mixed_4e", 512, 112, 144, 288, 32, 64, 64},
    {"Mixed_4f", 528, 256, 160, 320, 32, 128, 128}, {"Mixed_5b", 832, 256, 160, 320, 32, 128, 128},
    {"Mixed_5c", 832, 384, 192, 384, 48, 128, 128},
};

static const struct {
    const char *name;
    int c;
} ENDPOINTS[SV_I3D_ENDPOINTS] = {
    {"Conv3d_1a_7x7", 64},    {"MaxPool3d_2a_3x3", 64}, {"Conv3d_2b_1x1", 64}, {"Conv3d_2c_3x3", 192},
    {"MaxPool3d_3a_3x3", 192}, {"Mixed_3b", 256},        {"Mixed_3c", 480},     {"MaxPool3d_4a_3x3", 480},
    {"Mixed_4b", 512},         {"Mixed_4c", 512},        {"Mixed_4d", 512},     {"Mixed_4e", 528},
    {"Mixed_4f", 832},         {"MaxPool3d_5a_2x2", 832}, {"Mixed_5b", 832},     {"Mixed_5c", 1024},
};

const char *sv_i3d_endpoint_name(int e) { return e >= 0 && e < SV_I3D_ENDPOINTS ? ENDPOINTS[e].name : NULL; }
int sv_i3d_endpoint_channels(int e) { return e >= 0 && e < SV_I3D_ENDPOINTS ? ENDPOINTS[e].c : 0; }

static void set_unit(arch_unit *u, const char *name, int k, int s, int cin, int cout)
{
    snprintf(u->name, sizeof u->name, "%s", name);
    u->k = k;
    u->s = s;
    u->cin = cin;
    u->cout = cout;
}

static void build_arch(arch_unit *u)
{
    set_unit(&u[0], "Conv3d_1a_7x7", 7, 2, 3, 64);
    set_unit(&u[1], "Conv3d_2b_1x1", 1, 1, 64, 64);
    set_unit(&u[2], "Conv3d_2c_3x3", 3, 1, 64, 192);
    char nm[80];
    for (int m = 0; m < N_MIXED; m++) {
        arch_unit *v = &u[3 + 6 * m];
        const char *M = MIXED[m].name;
        int ci = MIXED[m].cin;
        snprintf(nm, sizeof nm, "%s/Branch_0/Conv3d_0a_1x1", M);
        set_unit(&v[0], nm, 1, 1, ci, MIXED[m].b0);
        snprintf(nm, sizeof nm, "%s/Branch_1/Conv3d_0a_1x1", M);
        set_unit(&v[1], nm, 1, 1, ci, MIXED[m].b1a);
        snprintf(nm, sizeof nm, "%s/Branch_1/Conv3d_0b_3x3", M);
        set_unit(&v[2], nm, 3, 1, MIXED[m].b1a, MIXED[m].b1b);
        snprintf(nm, sizeof nm, "%s/Branch_2/Conv3d_0a_1x1", M);
        set_unit(&v[3], nm, 1, 1, ci, MIXED[m].b2a);
        /* DeepMind's typo: Mixed_5b's second Branch_2 conv is named Conv3d_0a_3x3 */
        snprintf(nm, sizeof nm, "%s/Branch_2/%s", M, strcmp(M, "Mixed_5b") ? "Conv3d_0b_3x3" : "Conv3d_0a_3x3");
        set_unit(&v[4], nm, 3, 1, MIXED[m].b2a, MIXED[m].b2b);
        snprintf(nm, sizeof nm, "%s/Branch_3/Conv3d_0b_1x1", M);
        set_unit(&v[5], nm, 1, 1, ci, MIXED[m].b3);
    }
    set_unit(&u[N_UNITS - 1], "Logits/Conv3d_0c_1x1", 1, 1, 1024, SV_I3D_FEATURES);
}

/* ------------------------------------------------------------------------ */
/* layout table and weights file                                              */

typedef struct lentry {
    char name[128];
    int64_t shape[5];
    int ndim;
    int64_t off, size;
} lentry;

typedef struct layout {
    lentry *e;
    int n;
} layout;

static int layout_path(const char *given, char *buf, size_t n)
{
    if (given) {
        snprintf(buf, n, "%s", given);
        return 0;
    }
    const char *d = getenv("SVGAN_DATA_DIR");
    snprintf(buf, n, "%s/%s", d && *d ? d : SVGAN_DATADIR, LAYOUT_NAME);
    return 0;
}

static int read_layout(const char *given, layout *L, sv_err *e)
{
    char path[4096];
    layout_path(given, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f)
        return sv_seterr(e, SV_ERR_IO, "I3D layout table %s: %s (set SVGAN_DATA_DIR or pass the table)", path,
                         strerror(errno));
    L->e = NULL;
    L->n = 0;
    int cap = 0, lineno = 0, rc = SV_OK;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        if (!len || line[0] == '#' || !strncmp(line, "name\t", 5))
            continue;
        char *name = line, *shape = strchr(name, '\t');
        char *offs = shape ? strchr(shape + 1, '\t') : NULL;
        char *size = offs ? strchr(offs + 1, '\t') : NULL;
        if (!size) {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s:%d: expected name<TAB>shape<TAB>offset<TAB>size", path, lineno);
            break;
        }
        *shape++ = 0;
        *offs++ = 0;
        *size++ = 0;
        if (L->n == cap) {
            cap = cap ? 2 * cap : 256;
            lentry *ne = realloc(L->e, (size_t)cap * sizeof *ne);
            if (!ne) {
                rc = sv_seterr(e, SV_ERR_NOMEM, "I3D layout table: out of memory");
                break;
            }
            L->e = ne;
        }
        lentry *le = &L->e[L->n];
        memset(le, 0, sizeof *le);
        if (strlen(name) >= sizeof le->name) {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s:%d: tensor name too long", path, lineno);
            break;
        }
        strcpy(le->name, name);
        char *p = shape, *end;
        while (1) {
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 1 || le->ndim == 5) {
                rc = sv_seterr(e, SV_ERR_FORMAT, "%s:%d: bad shape '%s'", path, lineno, shape);
                break;
            }
            le->shape[le->ndim++] = v;
            if (*end == 'x')
                p = end + 1;
            else
                break;
        }
        if (rc)
            break;
        le->off = strtoll(offs, &end, 10);
        if (end == offs || le->off < 0) {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s:%d: bad offset", path, lineno);
            break;
        }
        le->size = strtoll(size, &end, 10);
        int64_t numel = 1;
        for (int i = 0; i < le->ndim; i++)
            numel *= le->shape[i];
        if (end == size || le->size != numel * 4 || le->off + le->size > SV_I3D_WEIGHTS_BYTES) {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s:%d: bad size (shape %s needs %lld bytes inside %lld)", path, lineno,
                           shape, (long long)(numel * 4), SV_I3D_WEIGHTS_BYTES);
            break;
        }
        L->n++;
    }
    fclose(f);
    if (!rc && L->n == 0)
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: no tensors", path);
    if (rc) {
        free(L->e);
        L->e = NULL;
        L->n = 0;
    }
    return rc;
}

/* Float32 copy (native order) of tensor SCOPE + name + suffix with the
 * expected dims. */
static int get_tensor(const layout *L, const uint8_t *data, const char *unit, const char *suffix, int ndim,
                      const int64_t *shape, float **out, sv_err *e)
{
    char full[256];
    snprintf(full, sizeof full, SCOPE "%s/%s", unit, suffix);
    const lentry *le = NULL;
    for (int i = 0; i < L->n && !le; i++)
        if (!strcmp(L->e[i].name, full))
            le = &L->e[i];
    if (!le)
        return sv_seterr(e, SV_ERR_FORMAT, "I3D layout table: no tensor %s", full);
    int ok = le->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        ok = le->shape[i] == shape[i];
    if (!ok)
        return sv_seterr(e, SV_ERR_FORMAT, "I3D layout table: %s has an unexpected shape", full);
    size_t n = (size_t)(le->size / 4);
    float *f = malloc(n * sizeof *f);
    if (!f)
        return sv_seterr(e, SV_ERR_NOMEM, "I3D weights: out of memory");
    const uint8_t *s = data + le->off;
    for (size_t i = 0; i < n; i++) { /* little-endian float32 on any host */
        uint32_t u = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
                     (uint32_t)s[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    *out = f;
    return SV_OK;
}

/* Reads the whole file (checking the size); the SHA-1s when requested. */
static int read_weights(const char *path, uint8_t **out, char sha1[41], char git_sha1[41], sv_err *e)
{
    if (!path)
        return sv_seterr(e, SV_ERR_INVALID, "I3D weights: no path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return sv_seterr(e, SV_ERR_IO, "I3D weights %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
        fclose(f);
        return sv_seterr(e, SV_ERR_IO, "I3D weights %s: not a regular file", path);
    }
    if ((long long)st.st_size != SV_I3D_WEIGHTS_BYTES) {
        fclose(f);
        return sv_seterr(e, SV_ERR_FORMAT,
                         "I3D weights %s: %lld bytes, expected %lld (the TF checkpoint data file "
                         "variables.data-00000-of-00001 / model.ckpt.data-00000-of-00001)",
                         path, (long long)st.st_size, SV_I3D_WEIGHTS_BYTES);
    }
    uint8_t *buf = malloc((size_t)SV_I3D_WEIGHTS_BYTES);
    if (!buf) {
        fclose(f);
        return sv_seterr(e, SV_ERR_NOMEM, "I3D weights: out of memory");
    }
    size_t got = fread(buf, 1, (size_t)SV_I3D_WEIGHTS_BYTES, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != (size_t)SV_I3D_WEIGHTS_BYTES || rerr) {
        free(buf);
        return sv_seterr(e, SV_ERR_IO, "I3D weights %s: short read (%zu of %lld bytes)", path, got,
                         SV_I3D_WEIGHTS_BYTES);
    }
    if (sha1) {
        struct AVSHA *a = av_sha_alloc(), *g = av_sha_alloc();
        if (!a || !g) {
            av_free(a);
            av_free(g);
            free(buf);
            return sv_seterr(e, SV_ERR_NOMEM, "I3D weights: out of memory");
        }
        uint8_t d[20], dg[20];
        char hdr[32];
        int hl = snprintf(hdr, sizeof hdr, "blob %lld", SV_I3D_WEIGHTS_BYTES) + 1; /* with the NUL */
        av_sha_init(a, 160);
        av_sha_init(g, 160);
        av_sha_update(g, (const uint8_t *)hdr, (size_t)hl);
        av_sha_update(a, buf, (size_t)SV_I3D_WEIGHTS_BYTES);
        av_sha_update(g, buf, (size_t)SV_I3D_WEIGHTS_BYTES);
        av_sha_final(a, d);
        av_sha_final(g, dg);
        av_free(a);
        av_free(g);
        for (int i = 0; i < 20; i++) {
            snprintf(sha1 + 2 * i, 3, "%02x", d[i]);
            snprintf(git_sha1 + 2 * i, 3, "%02x", dg[i]);
        }
    }
    *out = buf;
    return SV_OK;
}

/* Raw (unfolded) parameters of one unit as floats; beta/mean/var NULL for the
 * logits, b NULL for the others. */
typedef struct raw_unit {
    float *w, *beta, *mean, *var, *b;
} raw_unit;

static void raw_free(raw_unit *r)
{
    free(r->w);
    free(r->beta);
    free(r->mean);
    free(r->var);
    free(r->b);
    memset(r, 0, sizeof *r);
}

static int raw_get(const layout *L, const uint8_t *data, const arch_unit *u, int logits, raw_unit *r, sv_err *e)
{
    memset(r, 0, sizeof *r);
    int64_t ws[5] = {u->k, u->k, u->k, u->cin, u->cout}, cs[1] = {u->cout};
    int rc = get_tensor(L, data, u->name, "conv_3d/w", 5, ws, &r->w, e);
    if (!rc && logits)
        rc = get_tensor(L, data, u->name, "conv_3d/b", 1, cs, &r->b, e);
    if (!rc && !logits)
        rc = get_tensor(L, data, u->name, "batch_norm/beta", 1, cs, &r->beta, e);
    if (!rc && !logits)
        rc = get_tensor(L, data, u->name, "batch_norm/moving_mean", 1, cs, &r->mean, e);
    if (!rc && !logits)
        rc = get_tensor(L, data, u->name, "batch_norm/moving_variance", 1, cs, &r->var, e);
    if (rc)
        raw_free(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* the network object                                                        */

typedef struct dunit {
    arch_unit a;
    sv_tensor w, b; /* folded: w [k, k, k, cin, cout], b [cout] */
} dunit;

struct sv_i3d {
    sv_ctx *ctx;
    dunit u[N_UNITS];
    char sha1[41], git_sha1[41];
    size_t batch_bytes;
    int prof_on;
    sv_i3d_prof prof;
};

void sv_i3d_free(sv_i3d *net)
{
    if (!net)
        return;
    for (int i = 0; i < N_UNITS; i++) {
        sv_tensor_free(&net->u[i].w);
        sv_tensor_free(&net->u[i].b);
    }
    free(net);
}

const char *sv_i3d_sha1(const sv_i3d *net) { return net ? net->sha1 : NULL; }
const char *sv_i3d_git_sha1(const sv_i3d *net) { return net ? net->git_sha1 : NULL; }
int sv_i3d_is_official(const sv_i3d *net) { return net && !strcmp(net->git_sha1, SV_I3D_OFFICIAL_GIT_SHA1); }
void sv_i3d_set_batch_bytes(sv_i3d *net, size_t bytes)
{
    if (net)
        net->batch_bytes = bytes;
}
void sv_i3d_set_profile(sv_i3d *net, int on)
{
    if (net)
        net->prof_on = on;
}
void sv_i3d_get_profile(const sv_i3d *net, sv_i3d_prof *p)
{
    if (net && p)
        *p = net->prof;
}

int sv_i3d_load(sv_ctx *ctx, const char *weights_path, const char *layout_tsv, sv_i3d **out)
{
    sv_err *e = sv_ctx_err(ctx);
    *out = NULL;
    layout L;
    int rc = read_layout(layout_tsv, &L, e);
    if (rc)
        return rc;
    sv_i3d *net = calloc(1, sizeof *net);
    uint8_t *data = NULL;
    if (!net) {
        free(L.e);
        return sv_seterr(e, SV_ERR_NOMEM, "I3D: out of memory");
    }
    net->ctx = ctx;
    net->batch_bytes = (size_t)1 << 30;
    rc = read_weights(weights_path, &data, net->sha1, net->git_sha1, e);
    arch_unit arch[N_UNITS];
    build_arch(arch);
    for (int i = 0; !rc && i < N_UNITS; i++) {
        const arch_unit *a = &arch[i];
        int logits = i == N_UNITS - 1;
        raw_unit r;
        rc = raw_get(&L, data, a, logits, &r, e);
        if (rc)
            break;
        int64_t K = (int64_t)a->k * a->k * a->k * a->cin;
        float *b = r.b;
        if (!logits) {
            b = malloc((size_t)a->cout * sizeof *b);
            if (!b) {
                raw_free(&r);
                rc = sv_seterr(e, SV_ERR_NOMEM, "I3D: out of memory");
                break;
            }
            sv_bn_fold(r.w, K, a->cout, r.beta, r.mean, r.var, BN_EPS, b);
        }
        dunit *d = &net->u[i];
        d->a = *a;
        int64_t ws[5] = {a->k, a->k, a->k, a->cin, a->cout}, bs[1] = {a->cout};
        rc = sv_tensor_new(ctx, &d->w, 5, ws);
        if (!rc)
            rc = sv_tensor_write(&d->w, r.w, (size_t)(K * a->cout));
        if (!rc)
            rc = sv_tensor_new(ctx, &d->b, 1, bs);
        if (!rc)
            rc = sv_tensor_write(&d->b, b, (size_t)a->cout);
        if (!logits)
            free(b);
        raw_free(&r);
    }
    free(data);
    free(L.e);
    if (rc) {
        sv_i3d_free(net);
        return rc;
    }
    *out = net;
    return SV_OK;
}

static double splitmix_u(uint64_t *s) /* [-1, 1) */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

int sv_i3d_load_random(sv_ctx *ctx, uint64_t seed, sv_i3d **out)
{
    sv_err *e = sv_ctx_err(ctx);
    *out = NULL;
    sv_i3d *net = calloc(1, sizeof *net);
    if (!net)
        return sv_seterr(e, SV_ERR_NOMEM, "I3D: out of memory");
    net->ctx = ctx;
    net->batch_bytes = (size_t)1 << 30;
    arch_unit arch[N_UNITS];
    build_arch(arch);
    uint64_t st = seed;
    int rc = SV_OK;
    for (int i = 0; !rc && i < N_UNITS; i++) {
        const arch_unit *a = &arch[i];
        int64_t K = (int64_t)a->k * a->k * a->k * a->cin;
        float *w = malloc((size_t)(K * a->cout) * sizeof *w), *b = malloc((size_t)a->cout * sizeof *b);
        if (!w || !b) {
            free(w);
            free(b);
            rc = sv_seterr(e, SV_ERR_NOMEM, "I3D: out of memory");
            break;
        }
        double sc = sqrt(3.0 * (i == N_UNITS - 1 ? 1.0 : 2.0) / (double)K);
        for (int64_t j = 0; j < K * a->cout; j++)
            w[j] = (float)(sc * splitmix_u(&st));
        for (int c = 0; c < a->cout; c++)
            b[c] = (float)(0.1 * splitmix_u(&st));
        dunit *d = &net->u[i];
        d->a = *a;
        int64_t ws[5] = {a->k, a->k, a->k, a->cin, a->cout}, bs[1] = {a->cout};
        rc = sv_tensor_new(ctx, &d->w, 5, ws);
        if (!rc)
            rc = sv_tensor_write(&d->w, w, (size_t)(K * a->cout));
        if (!rc)
            rc = sv_tensor_new(ctx, &d->b, 1, bs);
        if (!rc)
            rc = sv_tensor_write(&d->b, b, (size_t)a->cout);
        free(w);
        free(b);
    }
    if (rc) {
        sv_i3d_free(net);
        return rc;
    }
    *out = net;
    return SV_OK;
}

/* ------------------------------------------------------------------------ */
/* device forward                                                            */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Finishes the queue and adds the time since *t0 to *acc when profiling. */
static int prof_mark(sv_i3d *net, double *t0, double *acc)
{
    if (!net->prof_on)
        return SV_OK;
    int rc = sv_ctx_finish(net->ctx);
    double t = now_s();
    *acc += t - *t0;
    *t0 = t;
    return rc;
}

static int new5(sv_ctx *ctx, sv_tensor *t, int64_t N, const int thw[3], int64_t C)
{
    int64_t s[5] = {N, thw[0], thw[1], thw[2], C};
    return sv_tensor_new(ctx, t, 5, s);
}

static void thw_of(const sv_tensor *x, int thw[3])
{
    for (int i = 0; i < 3; i++)
        thw[i] = (int)x->shape[1 + i];
}

/* y = unit(x) into channels [c_off, ...) of y (allocated here when !y->buf). */
static int run_unit(sv_i3d *net, const dunit *u, const sv_tensor *x, sv_tensor *y, int c_off, int relu)
{
    sv_conv3d_params p = {{u->a.k, u->a.k, u->a.k}, {u->a.s, u->a.s, u->a.s}, 1, relu};
    if (!y->buf) {
        int in[3], o[3];
        thw_of(x, in);
        if (sv_conv3d_out_size(p.k, p.s, 1, in, o, NULL))
            return sv_seterr(sv_ctx_err(net->ctx), SV_ERR_INVALID, "I3D %s: bad input size", u->a.name);
        int rc = new5(net->ctx, y, x->shape[0], o, u->a.cout);
        if (rc)
            return rc;
    }
    sv_conv3d_prof cp = {0, 0, 0};
    int rc = sv_conv3d_fwd(net->ctx, x, &u->w, &u->b, &p, y, c_off, net->prof_on ? &cp : NULL);
    net->prof.im2col_s += cp.im2col_s;
    net->prof.gemm_s += cp.gemm_s;
    if (relu)
        net->prof.bias_relu_s += cp.bias_s;
    else
        net->prof.logits_s += cp.bias_s;
    if (rc)
        return sv_preferr(sv_ctx_err(net->ctx), "I3D %s", u->a.name);
    return SV_OK;
}

static int run_maxpool(sv_i3d *net, const sv_tensor *x, int kt, int kh, int st, int sh, sv_tensor *y)
{
    sv_pool3d_params p = {{kt, kh, kh}, {st, sh, sh}, 1};
    int in[3], o[3];
    thw_of(x, in);
    if (sv_conv3d_out_size(p.k, p.s, 1, in, o, NULL))
        return sv_seterr(sv_ctx_err(net->ctx), SV_ERR_INVALID, "I3D maxpool: bad input size");
    int rc = new5(net->ctx, y, x->shape[0], o, x->shape[4]);
    if (rc)
        return rc;
    double t0 = now_s();
    rc = sv_maxpool3d_fwd(net->ctx, x, &p, y);
    if (!rc)
        rc = prof_mark(net, &t0, &net->prof.maxpool_s);
    return rc;
}

/* Endpoint mean over T, H, W into acts[e] rows [row0, row0 + N). */
static int endpoint(sv_i3d *net, int e, const sv_tensor *x, float **acts, int row0)
{
    if (!acts || !acts[e])
        return SV_OK;
    int64_t N = x->shape[0], C = x->shape[4];
    sv_tensor m = {0};
    int64_t ms[2] = {N, C};
    int rc = sv_tensor_new(net->ctx, &m, 2, ms);
    if (!rc)
        rc = sv_mean_mid_fwd(net->ctx, x, &m);
    if (!rc)
        rc = sv_tensor_read(&m, acts[e] + (size_t)row0 * (size_t)C, (size_t)(N * C));
    sv_tensor_free(&m);
    return rc;
}

static int run_mixed(sv_i3d *net, const dunit *u, const sv_tensor *x, sv_tensor *y)
{
    int thw[3];
    thw_of(x, thw);
    int64_t N = x->shape[0];
    int c0 = u[0].a.cout, c1 = u[2].a.cout, c2 = u[4].a.cout, c3 = u[5].a.cout;
    int rc = new5(net->ctx, y, N, thw, c0 + c1 + c2 + c3);
    if (rc)
        return rc;
    sv_tensor t = {0};
    rc = run_unit(net, &u[0], x, y, 0, 1);
    if (!rc)
        rc = run_unit(net, &u[1], x, &t, 0, 1);
    if (!rc)
        rc = run_unit(net, &u[2], &t, y, c0, 1);
    sv_tensor_free(&t);
    if (!rc)
        rc = run_unit(net, &u[3], x, &t, 0, 1);
    if (!rc)
        rc = run_unit(net, &u[4], &t, y, c0 + c1, 1);
    sv_tensor_free(&t);
    if (!rc)
        rc = run_maxpool(net, x, 3, 3, 1, 1, &t);
    if (!rc)
        rc = run_unit(net, &u[5], &t, y, c0 + c1 + c2, 1);
    sv_tensor_free(&t);
    return rc;
}

/* One batch of nb clips. */
static int run_batch(sv_i3d *net, const uint8_t *clips, int nb, int T, int H, int W, float *feats, float **acts,
                     int row0)
{
    sv_ctx *ctx = net->ctx;
    double t0 = now_s();
    size_t nin = (size_t)nb * T * 3 * H * W;
    float *hf = malloc(nin * sizeof *hf);
    if (!hf)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "I3D: out of memory for %d clips", nb);
    for (size_t i = 0; i < nin; i++)
        hf[i] = (float)clips[i];
    sv_tensor xin = {0}, x = {0}, y = {0};
    int64_t is[4] = {(int64_t)nb * T, 3, H, W};
    int rc = sv_tensor_new(ctx, &xin, 4, is);
    if (!rc)
        rc = sv_tensor_write(&xin, hf, nin);
    free(hf);
    if (!rc)
        rc = prof_mark(net, &t0, &net->prof.upload_s);
    if (!rc) {
        int64_t rs[4] = {(int64_t)nb * T, SV_I3D_SIZE, SV_I3D_SIZE, 3};
        rc = sv_tensor_new(ctx, &y, 4, rs);
    }
    if (!rc)
        rc = sv_resize_bilinear_fwd(ctx, &xin, 2.0f / 255.0f, -1.0f, &y);
    sv_tensor_free(&xin);
    if (!rc) {
        int64_t s5[5] = {nb, T, SV_I3D_SIZE, SV_I3D_SIZE, 3};
        rc = sv_tensor_reshape(&y, &x, 5, s5);
    }
    sv_tensor_free(&y);
    if (!rc)
        rc = prof_mark(net, &t0, &net->prof.resize_s);

#define STEP(expr)                 \
    do {                           \
        if (!rc) {                 \
            rc = (expr);           \
            sv_tensor_free(&x);    \
            x = y;                 \
            memset(&y, 0, sizeof y); \
        }                          \
    } while (0)
    int ep = 0;
    STEP(run_unit(net, &net->u[0], &x, &y, 0, 1));
    if (!rc)
        rc = endpoint(net, ep++, &x, acts, row0);
    STEP(run_maxpool(net, &x, 1, 3, 1, 2, &y));
    if (!rc)
        rc = endpoint(net, ep++, &x, acts, row0);
    STEP(run_unit(net, &net->u[1], &x, &y, 0, 1));
    if (!rc)
        rc = endpoint(net, ep++, &x, acts, row0);
    STEP(run_unit(net, &net->u[2], &x, &y, 0, 1));
    if (!rc)
        rc = endpoint(net, ep++, &x, acts, row0);
    STEP(run_maxpool(net, &x, 1, 3, 1, 2, &y));
    if (!rc)
        rc = endpoint(net, ep++, &x, acts, row0);
    for (int m = 0; m < N_MIXED && !rc; m++) {
        STEP(run_mixed(net, &net->u[3 + 6 * m], &x, &y));
        if (!rc)
            rc = endpoint(net, ep++, &x, acts, row0);
        if (m == 1 || m == 6) { /* after Mixed_3c: 3x3x3 s2; after Mixed_4f: 2x2x2 s2 */
            int k = m == 1 ? 3 : 2;
            STEP(run_maxpool(net, &x, k, k, 2, 2, &y));
            if (!rc)
                rc = endpoint(net, ep++, &x, acts, row0);
        }
    }
    /* logits: VALID avg pool (2, 7, 7) stride 1, 1x1x1 conv with bias, mean over time */
    double tl = now_s();
    if (!rc) {
        sv_pool3d_params ap = {{2, 7, 7}, {1, 1, 1}, 0};
        int in[3], o[3];
        thw_of(&x, in);
        if (sv_conv3d_out_size(ap.k, ap.s, 0, in, o, NULL))
            rc = sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "I3D: %dx%dx%d at Mixed_5c is below the 2x7x7 average pool",
                           in[0], in[1], in[2]);
        if (!rc)
            rc = new5(ctx, &y, nb, o, x.shape[4]);
        if (!rc)
            rc = sv_avgpool3d_fwd(ctx, &x, &ap, &y);
        sv_tensor_free(&x);
        x = y;
        memset(&y, 0, sizeof y);
    }
    if (!rc)
        rc = prof_mark(net, &tl, &net->prof.logits_s);
    STEP(run_unit(net, &net->u[N_UNITS - 1], &x, &y, 0, 0));
    tl = now_s();
    if (!rc) {
        int64_t fs[2] = {nb, SV_I3D_FEATURES};
        rc = sv_tensor_new(ctx, &y, 2, fs);
        if (!rc)
            rc = sv_mean_mid_fwd(ctx, &x, &y);
        if (!rc)
            rc = sv_tensor_read(&y, feats + (size_t)row0 * SV_I3D_FEATURES, (size_t)nb * SV_I3D_FEATURES);
    }
    if (!rc)
        rc = prof_mark(net, &tl, &net->prof.logits_s);
#undef STEP
    sv_tensor_free(&x);
    sv_tensor_free(&y);
    return rc;
}

int sv_i3d_features_ex(sv_i3d *net, const uint8_t *clips, int n, int T, int H, int W, float *feats, float **acts)
{
    if (!net)
        return SV_ERR_INVALID;
    sv_err *e = sv_ctx_err(net->ctx);
    if (!clips || !feats || n < 1)
        return sv_seterr(e, SV_ERR_INVALID, "I3D features: no clips");
    if (T < SV_I3D_MIN_FRAMES)
        return sv_seterr(e, SV_ERR_INVALID, "I3D features: %d frames per clip, the network needs at least %d", T,
                         SV_I3D_MIN_FRAMES);
    if (H < 1 || W < 1 || (int64_t)H * W > (1 << 26))
        return sv_seterr(e, SV_ERR_INVALID, "I3D features: bad frame size %dx%d", W, H);
    /* device bytes per clip: input + resized frames + the largest live activations
     * (~600k floats per input frame at 224x224, measured from the layer table) */
    double per = 4.0 * T * (3.0 * H * W + 3.0 * 224 * 224 + 640e3);
    double q = (double)net->batch_bytes / per;
    int nb = q >= (double)n ? n : (int)q;
    if (nb < 1)
        nb = 1;
    int64_t maxpos = (int64_t)((T + 1) / 2) * 112 * 112; /* positions of Conv3d_1a per clip: int32 indices */
    if (nb > (int)(INT32_MAX / (maxpos * 2)))
        nb = (int)(INT32_MAX / (maxpos * 2));
    if (nb < 1)
        nb = 1;
    size_t clip = (size_t)T * 3 * H * W;
    for (int i = 0; i < n; i += nb) {
        int k = n - i < nb ? n - i : nb;
        int rc = run_batch(net, clips + (size_t)i * clip, k, T, H, W, feats, acts, i);
        if (rc)
            return rc;
    }
    return SV_OK;
}

int sv_i3d_features(sv_i3d *net, const uint8_t *clips, int n, int T, int H, int W, float *feats)
{
    return sv_i3d_features_ex(net, clips, n, T, H, W, feats, NULL);
}

/* ------------------------------------------------------------------------ */
/* float64 host reference of the whole network                               */

typedef struct rt {
    double *x;
    int N, thw[3], C;
} rt;

static void rt_free(rt *t)
{
    free(t->x);
    t->x = NULL;
}

static int64_t rt_pos(const rt *t) { return (int64_t)t->N * t->thw[0] * t->thw[1] * t->thw[2]; }

static int ref_unit(const raw_unit *r, const arch_unit *a, const rt *x, rt *y, int logits, sv_err *e)
{
    sv_conv3d_params p = {{a->k, a->k, a->k}, {a->s, a->s, a->s}, 1, 0};
    y->N = x->N;
    y->C = a->cout;
    if (sv_conv3d_out_size(p.k, p.s, 1, x->thw, y->thw, NULL))
        return sv_seterr(e, SV_ERR_INVALID, "I3D reference %s: bad size", a->name);
    int64_t K = (int64_t)a->k * a->k * a->k * a->cin;
    double *w = malloc((size_t)(K * a->cout) * sizeof *w);
    y->x = malloc((size_t)(rt_pos(y) * y->C) * sizeof *y->x);
    if (!w || !y->x) {
        free(w);
        rt_free(y);
        return sv_seterr(e, SV_ERR_NOMEM, "I3D reference: out of memory");
    }
    for (int64_t i = 0; i < K * a->cout; i++)
        w[i] = r->w[i];
    double bias[1024];
    if (logits)
        for (int c = 0; c < a->cout; c++)
            bias[c] = r->b[c];
    sv_ref_conv3d_fwd(x->x, w, logits ? bias : NULL, x->N, x->thw, a->cin, a->cout, &p, y->x);
    free(w);
    if (!logits) {
        double beta[1024], mean[1024], var[1024];
        for (int c = 0; c < a->cout; c++) {
            beta[c] = r->beta[c];
            mean[c] = r->mean[c];
            var[c] = r->var[c];
        }
        sv_ref_batchnorm(y->x, rt_pos(y), y->C, beta, mean, var, BN_EPS);
        for (int64_t i = 0; i < rt_pos(y) * y->C; i++)
            y->x[i] = y->x[i] > 0 ? y->x[i] : (isnan(y->x[i]) ? y->x[i] : 0.0);
    }
    return SV_OK;
}

static int ref_pool(const rt *x, int kt, int kh, int st, int sh, int same, int avg, rt *y, sv_err *e)
{
    sv_pool3d_params p = {{kt, kh, kh}, {st, sh, sh}, same};
    y->N = x->N;
    y->C = x->C;
    if (sv_conv3d_out_size(p.k, p.s, same, x->thw, y->thw, NULL))
        return sv_seterr(e, SV_ERR_INVALID, "I3D reference: pool input too small");
    y->x = malloc((size_t)(rt_pos(y) * y->C) * sizeof *y->x);
    if (!y->x)
        return sv_seterr(e, SV_ERR_NOMEM, "I3D reference: out of memory");
    if (avg)
        sv_ref_avgpool3d_fwd(x->x, x->N, x->thw, x->C, &p, y->x);
    else
        sv_ref_maxpool3d_fwd(x->x, x->N, x->thw, x->C, &p, y->x);
    return SV_OK;
}

static void ref_endpoint(const rt *x, double **acts, int e)
{
    if (acts && acts[e])
        sv_ref_mean_mid_fwd(x->x, x->N, (int64_t)x->thw[0] * x->thw[1] * x->thw[2], x->C, acts[e]);
}

/* Copy branch output b [P, cb] into channels [off, off + cb) of y [P, C]. */
static void concat_into(rt *y, const rt *b, int off)
{
    int64_t P = rt_pos(y);
    for (int64_t r = 0; r < P; r++)
        memcpy(y->x + r * y->C + off, b->x + r * b->C, (size_t)b->C * sizeof(double));
}

int sv_ref_i3d_features(const char *weights_path, const char *layout_tsv, const uint8_t *clips, int n, int T, int H,
                        int W, double *feats, double **acts, sv_err *e)
{
    if (!clips || !feats || n < 1 || T < SV_I3D_MIN_FRAMES || H < 1 || W < 1)
        return sv_seterr(e, SV_ERR_INVALID, "I3D reference: bad arguments (n=%d T=%d H=%d W=%d)", n, T, H, W);
    layout L;
    int rc = read_layout(layout_tsv, &L, e);
    if (rc)
        return rc;
    uint8_t *data = NULL;
    rc = read_weights(weights_path, &data, NULL, NULL, e);
    if (rc) {
        free(L.e);
        return rc;
    }
    arch_unit arch[N_UNITS];
    build_arch(arch);
    raw_unit *raw = calloc(N_UNITS, sizeof *raw);
    rt x = {0}, y = {0};
    if (!raw)
        rc = sv_seterr(e, SV_ERR_NOMEM, "I3D reference: out of memory");
    for (int i = 0; !rc && i < N_UNITS; i++)
        rc = raw_get(&L, data, &arch[i], i == N_UNITS - 1, &raw[i], e);
    free(data);
    free(L.e);
    /* preprocessing: per frame, resize planar → channels-last, x/255·2 − 1 */
    if (!rc) {
        size_t nin = (size_t)n * T * 3 * H * W;
        double *in = malloc(nin * sizeof *in);
        x.N = n;
        x.thw[0] = T;
        x.thw[1] = x.thw[2] = SV_I3D_SIZE;
        x.C = 3;
        x.x = malloc((size_t)(rt_pos(&x) * 3) * sizeof *x.x);
        if (!in || !x.x)
            rc = sv_seterr(e, SV_ERR_NOMEM, "I3D reference: out of memory");
        else {
            for (size_t i = 0; i < nin; i++)
                in[i] = clips[i];
            sv_ref_resize_bilinear_fwd(in, n * T, 3, H, W, SV_I3D_SIZE, SV_I3D_SIZE, 2.0 / 255.0, -1.0, x.x);
        }
        free(in);
    }
#define RSTEP(expr)     \
    do {                \
        if (!rc) {      \
            rc = (expr); \
            rt_free(&x); \
            x = y;      \
            y.x = NULL; \
        }               \
    } while (0)
    int ep = 0;
    RSTEP(ref_unit(&raw[0], &arch[0], &x, &y, 0, e));
    if (!rc)
        ref_endpoint(&x, acts, ep++);
    RSTEP(ref_pool(&x, 1, 3, 1, 2, 1, 0, &y, e));
    if (!rc)
        ref_endpoint(&x, acts, ep++);
    RSTEP(ref_unit(&raw[1], &arch[1], &x, &y, 0, e));
    if (!rc)
        ref_endpoint(&x, acts, ep++);
    RSTEP(ref_unit(&raw[2], &arch[2], &x, &y, 0, e));
    if (!rc)
        ref_endpoint(&x, acts, ep++);
    RSTEP(ref_pool(&x, 1, 3, 1, 2, 1, 0, &y, e));
    if (!rc)
        ref_endpoint(&x, acts, ep++);
    for (int m = 0; m < N_MIXED && !rc; m++) {
        const raw_unit *r = &raw[3 + 6 * m];
        const arch_unit *a = &arch[3 + 6 * m];
        rt br[4] = {{0}}, t = {0}, pool = {0};
        rc = ref_unit(&r[0], &a[0], &x, &br[0], 0, e);
        if (!rc)
            rc = ref_unit(&r[1], &a[1], &x, &t, 0, e);
        if (!rc)
            rc = ref_unit(&r[2], &a[2], &t, &br[1], 0, e);
        rt_free(&t);
        if (!rc)
            rc = ref_unit(&r[3], &a[3], &x, &t, 0, e);
        if (!rc)
            rc = ref_unit(&r[4], &a[4], &t, &br[2], 0, e);
        rt_free(&t);
        if (!rc)
            rc = ref_pool(&x, 3, 3, 1, 1, 1, 0, &pool, e);
        if (!rc)
            rc = ref_unit(&r[5], &a[5], &pool, &br[3], 0, e);
        rt_free(&pool);
        if (!rc) {
            y.N = x.N;
            memcpy(y.thw, x.thw, sizeof y.thw);
            y.C = br[0].C + br[1].C + br[2].C + br[3].C;
            y.x = malloc((size_t)(rt_pos(&y) * y.C) * sizeof *y.x);
            if (!y.x)
                rc = sv_seterr(e, SV_ERR_NOMEM, "I3D reference: out of memory");
            for (int b = 0, off = 0; !rc && b < 4; off += br[b].C, b++)
                concat_into(&y, &br[b], off);
        }
        for (int b = 0; b < 4; b++)
            rt_free(&br[b]);
        RSTEP(rc);
        if (!rc)
            ref_endpoint(&x, acts, ep++);
        if (m == 1 || m == 6) {
            int k = m == 1 ? 3 : 2;
            RSTEP(ref_pool(&x, k, k, 2, 2, 1, 0, &y, e));
            if (!rc)
                ref_endpoint(&x, acts, ep++);
        }
    }
    RSTEP(ref_pool(&x, 2, 7, 1, 1, 0, 1, &y, e));
    RSTEP(ref_unit(&raw[N_UNITS - 1], &arch[N_UNITS - 1], &x, &y, 1, e));
    if (!rc)
        sv_ref_mean_mid_fwd(x.x, x.N, (int64_t)x.thw[0] * x.thw[1] * x.thw[2], x.C, feats);
#undef RSTEP
    rt_free(&x);
    rt_free(&y);
    if (raw)
        for (int i = 0; i < N_UNITS; i++)
            raw_free(&raw[i]);
    free(raw);
    return rc;
}
