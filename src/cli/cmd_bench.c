/* svgan bench: micro-benchmarks.
 *
 *   svgan bench gemm [--device X] [--repeat N] [--backend auto|clblast|cblas]
 *                    [--shape MxNxK]
 *
 * For each shape (row-major NN), the GFLOP/s of svgan's GEMM on the selected
 * device (device-resident tensors, enqueue to clFinish) and of OpenBLAS
 * cblas_sgemm on host arrays in this process: one warm-up, then the median of
 * N timed runs.  One JSON object per line on stdout. */
#include "config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "svgan/dataset.h"
#include "svgan/i3d.h"
#include "svgan/ops.h"

/* Return the error code of a library call (its message is in the ctx). */
#define SV_TRY_CLI(expr)    \
    do {                    \
        int sv__r = (expr); \
        if (sv__r)          \
            return sv__r;   \
    } while (0)

static const size_t default_shapes[][3] = {
    {512, 1024, 4608},
    {256, 16384, 2304},
    {512, 16, 4608},
    {1024, 1024, 1024},
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_gemm_usage(FILE *f)
{
    fprintf(f,
            "usage: svgan bench gemm [--device X] [--repeat N] [--backend auto|clblast|cblas] [--shape MxNxK]\n"
            "Measure svgan's GEMM (row-major NN, device-resident) on the selected device and OpenBLAS\n"
            "cblas_sgemm on host arrays; print one JSON object per shape with m, n, k, svgan_gflops,\n"
            "openblas_gflops, ratio (svgan/openblas), device, backend and openblas_core.\n"
            "Default shapes: 512x1024x4608, 256x16384x2304, 512x16x4608, 1024x1024x1024.\n"
            "  --device X     device index, type (cpu, gpu) or name substring (default: $SVGAN_DEVICE, first GPU)\n"
            "  --repeat N     timed runs per measurement after one warm-up; the median is reported (default 5)\n"
            "  --backend B    svgan GEMM backend: auto (default; $SVGAN_GEMM, else cblas on CPU devices and\n"
            "                 clblast otherwise), clblast or cblas\n"
            "  --shape MxNxK  measure only this shape (may be given several times)\n");
}

static void fill_random(float *x, size_t n, unsigned seed)
{
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f - 0.5f;
    }
}

/* One shape: returns 0, or 1 after printing an error. */
static int bench_one(sv_ctx *ctx, size_t M, size_t N, size_t K, int repeat, const char *backend)
{
    size_t nA = M * K, nB = K * N, nC = M * N;
    float *hA = NULL, *hB = NULL, *hC = NULL;
    double *t = calloc((size_t)repeat, sizeof *t);
    if (posix_memalign((void **)&hA, 64, nA * sizeof *hA) || posix_memalign((void **)&hB, 64, nB * sizeof *hB) ||
        posix_memalign((void **)&hC, 64, nC * sizeof *hC) || !t) {
        cli_error("bench gemm: out of host memory for %zux%zux%zu", M, N, K);
        free(hA);
        free(hB);
        free(hC);
        free(t);
        return 1;
    }
    fill_random(hA, nA, 1);
    fill_random(hB, nB, 2);
    memset(hC, 0, nC * sizeof *hC);
    double flops = 2.0 * (double)M * (double)N * (double)K;
    int rc = 1;
    sv_tensor tA = {0}, tB = {0}, tC = {0};
    sv_err *e = sv_ctx_err(ctx);
    if (sv_tensor_newv(ctx, &tA, 2, (int64_t)M, (int64_t)K) || sv_tensor_newv(ctx, &tB, 2, (int64_t)K, (int64_t)N) ||
        sv_tensor_newv(ctx, &tC, 2, (int64_t)M, (int64_t)N) || sv_tensor_write(&tA, hA, nA) ||
        sv_tensor_write(&tB, hB, nB) || sv_tensor_write(&tC, hC, nC)) {
        cli_error("bench gemm: %s", e->msg);
        goto done;
    }
    sv_mat A = sv_tmat(&tA, 0, K), B = sv_tmat(&tB, 0, N), C = sv_tmat(&tC, 0, N);
    for (int r = -1; r < repeat; r++) {
        double t0 = now_s();
        if (sv_gemm(ctx, SV_N, SV_N, M, N, K, 1.0f, A, B, 0.0f, C) || sv_ctx_finish(ctx)) {
            cli_error("bench gemm: %s", e->msg);
            goto done;
        }
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    double sv_s = median(t, repeat);
    for (int r = -1; r < repeat; r++) {
        double t0 = now_s();
        sv_blas_sgemm(SV_N, SV_N, (int)M, (int)N, (int)K, 1.0f, hA, (int)K, hB, (int)N, 0.0f, hC, (int)N);
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    double ob_s = median(t, repeat);
    double sv_gf = flops / sv_s * 1e-9, ob_gf = flops / ob_s * 1e-9;

    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cli_error("bench gemm: out of memory");
        goto done;
    }
    cJSON_AddNumberToObject(o, "m", (double)M);
    cJSON_AddNumberToObject(o, "n", (double)N);
    cJSON_AddNumberToObject(o, "k", (double)K);
    cJSON_AddNumberToObject(o, "svgan_gflops", (double)(long long)(sv_gf * 100 + 0.5) / 100);
    cJSON_AddNumberToObject(o, "openblas_gflops", (double)(long long)(ob_gf * 100 + 0.5) / 100);
    cJSON_AddNumberToObject(o, "ratio", (double)(long long)(sv_gf / ob_gf * 1000 + 0.5) / 1000);
    cJSON_AddNumberToObject(o, "svgan_ms", (double)(long long)(sv_s * 1e5 + 0.5) / 100);
    cJSON_AddNumberToObject(o, "openblas_ms", (double)(long long)(ob_s * 1e5 + 0.5) / 100);
    cJSON_AddNumberToObject(o, "repeat", repeat);
    cJSON_AddStringToObject(o, "device", sv_ctx_info(ctx)->name);
    cJSON_AddStringToObject(o, "backend", backend);
    cJSON_AddStringToObject(o, "openblas_core", sv_blas_corename());
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        cli_error("bench gemm: out of memory");
        goto done;
    }
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    rc = 0;
done:
    sv_tensor_free(&tA);
    sv_tensor_free(&tB);
    sv_tensor_free(&tC);
    free(hA);
    free(hB);
    free(hC);
    free(t);
    return rc;
}

static int parse_shape(const char *s, size_t out[3])
{
    unsigned long long v[3];
    char tail;
    if (sscanf(s, "%llux%llux%llu%c", &v[0], &v[1], &v[2], &tail) != 3)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (v[i] == 0 || v[i] > (1ull << 20))
            return -1;
        out[i] = (size_t)v[i];
    }
    return 0;
}

static int bench_gemm(int argc, char **argv)
{
    const char *device = NULL, *backend = "auto";
    int repeat = 5;
    size_t (*shapes)[3] = NULL;
    int nshapes = 0, rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int d = cli_device_opt(argc, argv, &i, &device);
        if (d < 0)
            goto out;
        if (d > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_gemm_usage(stdout);
            rc = 0;
            goto out;
        }
        const char *val = NULL;
        static const char *const opts[] = {"--repeat", "--backend", "--shape", NULL};
        int which = cli_take_value("bench gemm", argc, argv, &i, opts, &val);
        if (which == -2)
            goto out;
        if (which == 0) {
            char *end;
            long v = strtol(val, &end, 10);
            if (*end || end == val || v < 1 || v > 1000) {
                cli_error("bench gemm: --repeat '%s': expected an integer 1..1000", val);
                goto out;
            }
            repeat = (int)v;
        } else if (which == 1) {
            if (strcmp(val, "auto") && strcmp(val, "clblast") && strcmp(val, "cblas")) {
                cli_error("bench gemm: --backend '%s': expected auto, clblast or cblas", val);
                goto out;
            }
            backend = val;
        } else if (which == 2) {
            size_t (*ns)[3] = realloc(shapes, (size_t)(nshapes + 1) * sizeof *shapes);
            if (!ns) {
                cli_error("bench gemm: out of memory");
                rc = 1;
                goto out;
            }
            shapes = ns;
            if (parse_shape(val, shapes[nshapes])) {
                cli_error("bench gemm: --shape '%s': expected MxNxK with positive sizes", val);
                goto out;
            }
            nshapes++;
        } else {
            cli_error("bench gemm: unknown option '%s' (try 'svgan bench gemm --help')", a);
            goto out;
        }
    }
    rc = 1;
    sv_err e = {0};
    if (sv_blas_load(&e)) {
        cli_error("bench gemm: %s", e.msg);
        goto out;
    }
    sv_ctx *ctx;
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("bench gemm: %s", e.msg);
        goto out;
    }
    sv_gemm_backend b = !strcmp(backend, "clblast") ? SV_GEMM_CLBLAST
                        : !strcmp(backend, "cblas") ? SV_GEMM_CBLAS
                                                    : SV_GEMM_AUTO;
    if (sv_gemm_set_backend(ctx, b)) {
        cli_error("bench gemm: %s", sv_ctx_errmsg(ctx));
        sv_ctx_destroy(ctx);
        goto out;
    }
    const char *bname = sv_gemm_backend_name(sv_gemm_get_backend(ctx));
    rc = 0;
    int n = nshapes ? nshapes : (int)(sizeof default_shapes / sizeof default_shapes[0]);
    for (int s = 0; s < n && rc == 0; s++) {
        const size_t *sh = nshapes ? shapes[s] : default_shapes[s];
        rc = bench_one(ctx, sh[0], sh[1], sh[2], repeat, bname);
    }
    sv_ctx_destroy(ctx);
out:
    free(shapes);
    return rc;
}

/* ======================================================================== */
/* svgan bench ops: per-op throughput at the layer shapes of a benchmark     */
/* configuration (spec/benchmarks.md; G synthesis §2.5, D §3.1-3.4).         */

typedef enum op_kind { OP_MODCONV, OP_CONV2D, OP_UPFIRDN2D, OP_BIAS_ACT, OP_MBSTD, OP_FC } op_kind;

static const char *const op_names[] = {"modconv", "conv2d", "upfirdn2d", "bias_act", "mbstd", "fc"};

typedef struct bench_layer {
    char name[40];   /* e.g. "G.b16.conv0" */
    op_kind kind;
    int64_t N;       /* frames / clips / rows */
    int Cin, Cout, H, W, k, up, down, F;
    int demod;       /* modconv */
    sv_upfirdn2d_params fp; /* upfirdn2d */
    sv_bias_act_params ba;  /* bias_act, fc */
    int g_count;     /* how often this op runs in one G forward over N frames (summary); 0: not counted */
} bench_layer;

typedef struct layer_list {
    bench_layer *v;
    int n, cap;
} layer_list;

static bench_layer *add_layer(layer_list *l, op_kind kind, const char *fmt, int a)
{
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 64;
        bench_layer *nv = realloc(l->v, (size_t)nc * sizeof *nv);
        if (!nv)
            return NULL;
        l->v = nv;
        l->cap = nc;
    }
    bench_layer *b = &l->v[l->n++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, fmt, a);
    b->kind = kind;
    b->up = b->down = b->F = 1;
    return b;
}

static sv_bias_act_params act_lrelu(float clamp)
{
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LRELU);
    p.clamp = clamp;
    return p;
}

static sv_bias_act_params act_linear(float clamp)
{
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LINEAR);
    p.clamp = clamp;
    return p;
}

#define ADD(kind, fmt, a)                          \
    do {                                           \
        if (!(L = add_layer(l, (kind), (fmt), (a)))) \
            return -1;                             \
    } while (0)

/* bias_act over [N, C, H, W] */
static int add_act(layer_list *l, const char *fmt, int r, int64_t N, int C, int H, sv_bias_act_params ba, int g)
{
    bench_layer *L;
    ADD(OP_BIAS_ACT, fmt, r);
    L->N = N, L->Cin = L->Cout = C, L->H = L->W = H, L->ba = ba, L->g_count = g;
    return 0;
}

/* The layers of one configuration: base/cmax per spec/benchmarks.md, 64²,
 * B clips × F frames. */
static int build_layers(layer_list *l, int base, int cmax, int vdim, int64_t clips, int F)
{
    const int R = 64;
    const int64_t BF = clips * F;
#define CH(r) (base / (r) < cmax ? base / (r) : cmax)
    bench_layer *L;
    /* ---- G synthesis, one forward over BF frames (§2.5) ---- */
    for (int r = 4; r <= R; r *= 2) {
        int C = CH(r);
        if (r == 4) {
            ADD(OP_MODCONV, "G.b%d.conv1", r);
            L->N = BF, L->Cin = CH(4) + vdim, L->Cout = C, L->H = L->W = 4, L->k = 3, L->demod = 1, L->F = F;
            L->g_count = 1;
        } else {
            ADD(OP_MODCONV, "G.b%d.conv0", r);
            L->N = BF, L->Cin = CH(r / 2), L->Cout = C, L->H = L->W = r / 2, L->k = 3, L->up = 2, L->demod = 1;
            L->F = F, L->g_count = 1;
            if (add_act(l, "G.b%d.conv0.act", r, BF, C, r, act_lrelu(256), 1))
                return -1;
            ADD(OP_MODCONV, "G.b%d.conv1", r);
            L->N = BF, L->Cin = C, L->Cout = C, L->H = L->W = r, L->k = 3, L->demod = 1, L->F = F, L->g_count = 1;
        }
        if (add_act(l, "G.b%d.conv1.act", r, BF, C, r, act_lrelu(256), 1))
            return -1;
        ADD(OP_MODCONV, "G.b%d.torgb", r);
        L->N = BF, L->Cin = C, L->Cout = 3, L->H = L->W = r, L->k = 1, L->demod = 0, L->F = F, L->g_count = 1;
        if (add_act(l, "G.b%d.torgb.act", r, BF, 3, r, act_linear(256), 1))
            return -1;
        if (r > 4) {
            ADD(OP_UPFIRDN2D, "G.b%d.img_up", r);
            L->N = BF, L->Cin = L->Cout = 3, L->H = L->W = r / 2, L->fp = sv_upfirdn2d_upsample2(), L->g_count = 1;
        }
    }
    /* the blur inside each G up-conv (part of modconv above; not summed again) */
    for (int r = 8; r <= R; r *= 2) {
        ADD(OP_UPFIRDN2D, "G.b%d.conv0.blur", r);
        L->N = BF, L->Cin = L->Cout = CH(r), L->H = L->W = r + 1, L->fp = sv_upfirdn2d_blur_up_conv();
    }
    /* ---- D (§3.1-3.4): per frame until the concat at 16², then per clip ---- */
    for (int r = R; r >= 8; r /= 2) {
        int64_t N = r > 16 ? BF : clips;
        int cin = r == 16 ? F * (CH(16) / 2) : CH(r);
        int cout = r == 32 ? CH(16) / 2 : CH(r / 2);
        if (r == R) {
            ADD(OP_CONV2D, "D.b%d.fromrgb", r);
            L->N = N, L->Cin = 3, L->Cout = cin, L->H = L->W = r, L->k = 1;
            if (add_act(l, "D.b%d.fromrgb.act", r, N, cin, r, act_lrelu(256), 0))
                return -1;
        }
        ADD(OP_CONV2D, "D.b%d.skip", r);
        L->N = N, L->Cin = cin, L->Cout = cout, L->H = L->W = r, L->k = 1, L->down = 2;
        ADD(OP_CONV2D, "D.b%d.conv0", r);
        L->N = N, L->Cin = cin, L->Cout = CH(r), L->H = L->W = r, L->k = 3;
        if (add_act(l, "D.b%d.conv0.act", r, N, CH(r), r, act_lrelu(256), 0))
            return -1;
        ADD(OP_CONV2D, "D.b%d.conv1", r);
        L->N = N, L->Cin = CH(r), L->Cout = cout, L->H = L->W = r, L->k = 3, L->down = 2;
        if (add_act(l, "D.b%d.conv1.act", r, N, cout, r / 2, act_lrelu(181.02f), 0))
            return -1;
        if (r >= 32) { /* the blurs inside the down-2 conv and the skip (not summed) */
            ADD(OP_UPFIRDN2D, "D.b%d.conv1.blur", r);
            L->N = N, L->Cin = L->Cout = CH(r), L->H = L->W = r, L->fp = sv_upfirdn2d_blur_down_conv();
            ADD(OP_UPFIRDN2D, "D.b%d.skip.blur", r);
            L->N = N, L->Cin = L->Cout = cin, L->H = L->W = r, L->fp = sv_upfirdn2d_down2();
        }
    }
    int C4 = CH(4);
    ADD(OP_MBSTD, "D.b%d.mbstd", 4);
    L->N = clips, L->Cin = C4, L->Cout = C4 + 1, L->H = L->W = 4, L->k = 4; /* k: group size */
    ADD(OP_CONV2D, "D.b%d.conv", 4);
    L->N = clips, L->Cin = C4 + 1, L->Cout = C4, L->H = L->W = 4, L->k = 3;
    ADD(OP_FC, "D.b%d.fc", 4);
    L->N = clips, L->Cin = C4 * 16, L->Cout = C4, L->ba = act_lrelu(-1);
    ADD(OP_FC, "D.b%d.out", 4);
    L->N = clips, L->Cin = C4, L->Cout = C4, L->ba = act_linear(-1);
#undef CH
    return 0;
}
#undef ADD

/* ---- one layer's tensors ---- */

typedef struct bench_state {
    sv_tensor x, w, s, b, y, gy, gx, gw, gs, gb;
    sv_modconv_cache mc;
} bench_state;

static void state_free(bench_state *st)
{
    sv_tensor *all[] = {&st->x, &st->w, &st->s, &st->b, &st->y, &st->gy, &st->gx, &st->gw, &st->gs, &st->gb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sv_tensor_free(all[i]);
    sv_modconv_cache_free(&st->mc);
}

/* New tensor filled with lo + (hi - lo)·u, u uniform in [0, 1), fixed seed. */
static int rand_tensor(sv_ctx *ctx, sv_tensor *t, int ndim, const int64_t *shape, unsigned seed, float lo, float hi)
{
    SV_TRY_CLI(sv_tensor_new(ctx, t, ndim, shape));
    size_t n = (size_t)sv_numel(t);
    float *h = malloc(n * sizeof *h);
    if (!h)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "out of host memory");
    fill_random(h, n, seed);
    for (size_t i = 0; i < n; i++)
        h[i] = lo + (hi - lo) * (h[i] + 0.5f);
    int rc = sv_tensor_write(t, h, n);
    free(h);
    return rc;
}

static void out_shape(const bench_layer *L, int *Ho, int *Wo)
{
    *Ho = L->H, *Wo = L->W;
    if (L->kind == OP_MODCONV) {
        sv_modconv_params p = {L->k, L->up, L->demod, L->F};
        sv_modconv_out_size(&p, L->H, L->W, Ho, Wo);
    } else if (L->kind == OP_CONV2D) {
        sv_conv2d_params p = {L->k, L->up, L->down, 1.0f};
        sv_conv2d_out_size(&p, L->H, L->W, Ho, Wo);
    } else if (L->kind == OP_UPFIRDN2D) {
        *Ho = sv_upfirdn2d_out_size(L->H, &L->fp);
        *Wo = sv_upfirdn2d_out_size(L->W, &L->fp);
    }
}

static int state_init(sv_ctx *ctx, const bench_layer *L, bench_state *st)
{
    int Ho, Wo;
    out_shape(L, &Ho, &Wo);
    int64_t xs[4] = {L->N, L->Cin, L->H, L->W}, ys[4] = {L->N, L->Cout, Ho, Wo};
    int64_t ws[4] = {L->Cout, L->Cin, L->k, L->k};
    int64_t fx[2] = {L->N, L->Cin}, fy[2] = {L->N, L->Cout}, fw[2] = {L->Cout, L->Cin}, cb[1] = {L->Cout};
    switch (L->kind) {
    case OP_MODCONV: {
        int64_t ss[2] = {L->N / L->F, L->Cin};
        sv_modconv_params p = {L->k, L->up, L->demod, L->F};
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 4, xs, 11, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->w, 4, ws, 12, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->s, 2, ss, 13, 0.5f, 1.5f));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 4, ys, 14, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 4, ys));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gx, 4, xs));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gw, 4, ws));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gs, 2, ss));
        return sv_modconv_fwd(ctx, &st->x, &st->w, &st->s, &p, &st->y, &st->mc);
    }
    case OP_CONV2D:
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 4, xs, 21, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->w, 4, ws, 22, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 4, ys, 24, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 4, ys));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gx, 4, xs));
        return sv_tensor_new(ctx, &st->gw, 4, ws);
    case OP_UPFIRDN2D:
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 4, xs, 31, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 4, ys, 34, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 4, ys));
        return sv_tensor_new(ctx, &st->gx, 4, xs);
    case OP_BIAS_ACT:
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 4, xs, 41, -2, 2));
        SV_TRY_CLI(rand_tensor(ctx, &st->b, 1, cb, 42, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 4, xs, 44, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 4, xs));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gx, 4, xs));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gb, 1, cb));
        return sv_bias_act_fwd(ctx, &st->x, &st->b, &L->ba, &st->y);
    case OP_MBSTD:
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 4, xs, 51, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 4, ys, 54, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 4, ys));
        return sv_tensor_new(ctx, &st->gx, 4, xs);
    case OP_FC:
        SV_TRY_CLI(rand_tensor(ctx, &st->x, 2, fx, 61, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->w, 2, fw, 62, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->b, 1, cb, 63, -1, 1));
        SV_TRY_CLI(rand_tensor(ctx, &st->gy, 2, fy, 64, -1, 1));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->y, 2, fy));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gx, 2, fx));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gw, 2, fw));
        SV_TRY_CLI(sv_tensor_new(ctx, &st->gb, 1, cb));
        return sv_fc_fwd(ctx, &st->x, &st->w, &st->b, sv_fc_wgain(L->Cin, 1.0f), &L->ba, &st->y);
    }
    return SV_ERR_INVALID;
}

/* One pass (0 forward, 1 backward: every input and parameter gradient a
 * training step needs). */
static int run_pass(sv_ctx *ctx, const bench_layer *L, bench_state *st, int bwd)
{
    switch (L->kind) {
    case OP_MODCONV: {
        sv_modconv_params p = {L->k, L->up, L->demod, L->F};
        if (!bwd)
            return sv_modconv_fwd(ctx, &st->x, &st->w, &st->s, &p, &st->y, &st->mc);
        return sv_modconv_bwd(ctx, &st->x, &st->w, &st->s, &st->y, &st->gy, &p, &st->mc, &st->gx, 0, &st->gw,
                              &st->gs, 0);
    }
    case OP_CONV2D: {
        sv_conv2d_params p = {L->k, L->up, L->down, 1.0f / sqrtf((float)(L->Cin * L->k * L->k))};
        if (!bwd)
            return sv_conv2d_fwd(ctx, &st->x, &st->w, &p, &st->y);
        SV_TRY_CLI(sv_conv2d_bwd_data(ctx, &st->gy, &st->w, &p, &st->gx, 0));
        return sv_conv2d_bwd_weight(ctx, &st->x, &st->gy, &p, &st->gw, 0);
    }
    case OP_UPFIRDN2D:
        return bwd ? sv_upfirdn2d_bwd(ctx, &st->gy, &L->fp, &st->gx, 0) : sv_upfirdn2d_fwd(ctx, &st->x, &L->fp, &st->y);
    case OP_BIAS_ACT:
        return bwd ? sv_bias_act_bwd(ctx, &st->y, &st->gy, &L->ba, &st->gx, &st->gb, 0)
                   : sv_bias_act_fwd(ctx, &st->x, &st->b, &L->ba, &st->y);
    case OP_MBSTD:
        return bwd ? sv_mbstd_bwd(ctx, &st->x, &st->gy, L->k, &st->gx) : sv_mbstd_fwd(ctx, &st->x, L->k, &st->y);
    case OP_FC: {
        float g = sv_fc_wgain(L->Cin, 1.0f);
        if (!bwd)
            return sv_fc_fwd(ctx, &st->x, &st->w, &st->b, g, &L->ba, &st->y);
        return sv_fc_bwd(ctx, &st->x, &st->w, &st->y, &st->gy, g, &L->ba, &st->gx, &st->gw, &st->gb, 0);
    }
    }
    return SV_ERR_INVALID;
}

/* Multiply-accumulates of the forward (spec §2.9's counting: convolutions at
 * their true output size, plus the 4×4 blurs of the resampling convs); 0 for
 * data-movement ops.  The backward is counted as twice the forward (data and
 * weight gradients). */
static double layer_macs(const bench_layer *L)
{
    int Ho, Wo;
    out_shape(L, &Ho, &Wo);
    double N = (double)L->N, kk = (double)L->k * L->k;
    switch (L->kind) {
    case OP_MODCONV:
        if (L->up == 2) /* transposed conv at the input size + blur at the output */
            return N * ((double)L->H * L->W * L->Cin * L->Cout * kk + (double)Ho * Wo * L->Cout * 16);
        return N * Ho * Wo * (double)L->Cout * L->Cin * kk;
    case OP_CONV2D: {
        double m = N * Ho * Wo * (double)L->Cout * L->Cin * kk;
        if (L->down == 2) /* the blur before the stride-2 sampling */
            m += N * L->Cin * (L->k == 3 ? (double)(L->H + 1) * (L->W + 1) : (double)Ho * Wo) * 16;
        return m;
    }
    case OP_FC:
        return N * L->Cin * (double)L->Cout;
    default:
        return 0;
    }
}

/* Bytes read + written by a data-movement op (each tensor element once). */
static double layer_bytes(const bench_layer *L, int bwd)
{
    int Ho, Wo;
    out_shape(L, &Ho, &Wo);
    double nx = (double)L->N * L->Cin * L->H * L->W, ny = (double)L->N * L->Cout * Ho * Wo;
    switch (L->kind) {
    case OP_UPFIRDN2D:
        return 4 * (nx + ny);
    case OP_BIAS_ACT: /* fwd: x → y; bwd: y, gy → gx, then Σ gx per channel */
        return 4 * (bwd ? 4 * nx : 2 * nx);
    case OP_MBSTD: /* fwd: x → y; bwd: x, gy → gx */
        return 4 * (bwd ? 2 * nx + ny : nx + ny);
    default:
        return 0;
    }
}

static void layer_shape_str(const bench_layer *L, char *buf, size_t n)
{
    int Ho, Wo;
    out_shape(L, &Ho, &Wo);
    if (L->kind == OP_FC) {
        snprintf(buf, n, "[%lld,%d]->[%lld,%d]", (long long)L->N, L->Cin, (long long)L->N, L->Cout);
        return;
    }
    int k = snprintf(buf, n, "[%lld,%d,%d,%d]", (long long)L->N, L->Cin, L->H, L->W);
    if (L->kind != OP_BIAS_ACT && k > 0 && (size_t)k < n)
        k += snprintf(buf + k, n - (size_t)k, "->[%lld,%d,%d,%d]", (long long)L->N, L->Cout, Ho, Wo);
    if (k <= 0 || (size_t)k >= n)
        return;
    switch (L->kind) {
    case OP_MODCONV:
        snprintf(buf + k, n - (size_t)k, " k%d%s%s F%d", L->k, L->up == 2 ? " up2" : "",
                 L->demod ? " demod" : "", L->F);
        break;
    case OP_CONV2D:
        snprintf(buf + k, n - (size_t)k, " k%d%s", L->k, L->down == 2 ? " down2" : "");
        break;
    case OP_UPFIRDN2D:
        snprintf(buf + k, n - (size_t)k, " up%d down%d pad%d,%d taps%d", L->fp.up, L->fp.down, L->fp.pad0,
                 L->fp.pad1, L->fp.ntaps);
        break;
    case OP_BIAS_ACT:
        snprintf(buf + k, n - (size_t)k, " %s%s", L->ba.act == SV_ACT_LRELU ? "lrelu" : "linear",
                 L->ba.clamp >= 0 ? " clamp" : "");
        break;
    case OP_MBSTD:
        snprintf(buf + k, n - (size_t)k, " group%d", L->k);
        break;
    default:
        break;
    }
}

static double round_to(double v, double scale) { return (double)(long long)(v * scale + 0.5) / scale; }

static int print_json(cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        cli_error("bench ops: out of memory");
        return 1;
    }
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    return 0;
}

/* Time both passes of one layer; ms_out[2] receives the medians. */
static int bench_layer_run(sv_ctx *ctx, const bench_layer *L, int repeat, double *ms_out)
{
    bench_state st;
    memset(&st, 0, sizeof st);
    double *t = calloc((size_t)repeat, sizeof *t);
    int rc = 1;
    char shape[160];
    layer_shape_str(L, shape, sizeof shape);
    if (!t) {
        cli_error("bench ops: out of memory");
        goto out;
    }
    if (state_init(ctx, L, &st) || sv_ctx_finish(ctx)) {
        cli_error("bench ops: %s %s: %s", L->name, shape, sv_ctx_errmsg(ctx));
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        sv_ctx_stats s0, s1;
        for (int r = -1; r < repeat; r++) {
            if (r == 0)
                sv_ctx_get_stats(ctx, &s0);
            double t0 = now_s();
            if (run_pass(ctx, L, &st, pass) || sv_ctx_finish(ctx)) {
                cli_error("bench ops: %s %s %s: %s", L->name, shape, pass ? "bwd" : "fwd", sv_ctx_errmsg(ctx));
                goto out;
            }
            if (r >= 0)
                t[r] = now_s() - t0;
        }
        sv_ctx_get_stats(ctx, &s1);
        double sec = median(t, repeat);
        ms_out[pass] = sec * 1e3;
        double macs = layer_macs(L) * (pass ? 2 : 1), bytes = layer_bytes(L, pass);
        cJSON *o = cJSON_CreateObject();
        if (!o) {
            cli_error("bench ops: out of memory");
            goto out;
        }
        cJSON_AddStringToObject(o, "op", op_names[L->kind]);
        cJSON_AddStringToObject(o, "layer", L->name);
        cJSON_AddStringToObject(o, "shape", shape);
        cJSON_AddStringToObject(o, "pass", pass ? "bwd" : "fwd");
        cJSON_AddNumberToObject(o, "ms", round_to(sec * 1e3, 1000));
        if (macs > 0)
            cJSON_AddNumberToObject(o, "gflops", round_to(2 * macs / sec * 1e-9, 100));
        else
            cJSON_AddNullToObject(o, "gflops");
        if (bytes > 0)
            cJSON_AddNumberToObject(o, "gbps", round_to(bytes / sec * 1e-9, 100));
        else
            cJSON_AddNullToObject(o, "gbps");
        /* pool misses inside the timed loop (expected 0: no allocation there) */
        cJSON_AddNumberToObject(o, "new_buffers", (double)(s1.buffers_created - s0.buffers_created));
        if (print_json(o))
            goto out;
    }
    rc = 0;
out:
    state_free(&st);
    sv_pool_trim(ctx);
    free(t);
    return rc;
}

static void bench_ops_usage(FILE *f)
{
    fprintf(f,
            "usage: svgan bench ops [--device X] [--config small|default64] [--frames N] [--repeat R] [--op NAME]\n"
            "Time the forward and backward of every synthesis (G) and discriminator (D) layer op at the shapes\n"
            "of a benchmark configuration (spec/benchmarks.md); print one JSON object per op and pass with op,\n"
            "layer, shape, pass, ms, gflops, gbps, new_buffers, then a summary line with the summed G forward\n"
            "time per frame and the implied frames/s.\n"
            "  --device X     device index, type (cpu, gpu) or name substring (default: $SVGAN_DEVICE, first GPU)\n"
            "  --config C     small or default64 (default default64)\n"
            "  --frames N     frames per clip (default 3; 4 clips, so 12 frames)\n"
            "  --repeat R     timed runs per pass after one warm-up; the median is reported (default 5)\n"
            "  --op NAME      only ops of this kind (modconv, conv2d, upfirdn2d, bias_act, mbstd, fc) or whose\n"
            "                 layer name contains NAME (e.g. G.b32, conv0); may be given several times\n");
}

static int bench_ops(int argc, char **argv)
{
    const char *device = NULL, *config = "default64";
    int repeat = 5, frames = 3, rc = 2;
    const char **filters = NULL;
    int nfilters = 0;
    layer_list ll = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int d = cli_device_opt(argc, argv, &i, &device);
        if (d < 0)
            goto out;
        if (d > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_ops_usage(stdout);
            rc = 0;
            goto out;
        }
        static const char *const opts[] = {"--config", "--frames", "--repeat", "--op", NULL};
        const char *val = NULL;
        int which = cli_take_value("bench ops", argc, argv, &i, opts, &val);
        if (which == -2)
            goto out;
        if (which == 0) {
            if (strcmp(val, "small") && strcmp(val, "default64")) {
                cli_error("bench ops: --config '%s': expected small or default64", val);
                goto out;
            }
            config = val;
        } else if (which == 1 || which == 2) {
            char *end;
            long v = strtol(val, &end, 10);
            long hi = which == 1 ? 64 : 1000;
            if (*end || end == val || v < 1 || v > hi) {
                cli_error("bench ops: %s '%s': expected an integer 1..%ld", opts[which], val, hi);
                goto out;
            }
            if (which == 1)
                frames = (int)v;
            else
                repeat = (int)v;
        } else if (which == 3) {
            const char **nf = realloc(filters, (size_t)(nfilters + 1) * sizeof *filters);
            if (!nf) {
                cli_error("bench ops: out of memory");
                rc = 1;
                goto out;
            }
            filters = nf;
            filters[nfilters++] = val;
        } else {
            cli_error("bench ops: unknown option '%s' (try 'svgan bench ops --help')", a);
            goto out;
        }
    }
    rc = 1;
    const int small = !strcmp(config, "small");
    const int64_t clips = 4;
    if (build_layers(&ll, small ? 4096 : 16384, small ? 128 : 512, small ? 128 : 512, clips, frames)) {
        cli_error("bench ops: out of memory");
        goto out;
    }
    /* selection first: a filter matching nothing is a usage error */
    int nsel = 0, g_all = 1;
    for (int i = 0; i < ll.n; i++) {
        bench_layer *L = &ll.v[i];
        int sel = nfilters == 0;
        for (int f = 0; f < nfilters && !sel; f++)
            sel = !strcmp(filters[f], op_names[L->kind]) || strstr(L->name, filters[f]);
        if (sel)
            ll.v[nsel++] = *L;
        else if (L->g_count)
            g_all = 0;
    }
    if (nsel == 0) {
        cli_error("bench ops: no op matches the --op filter (ops: modconv, conv2d, upfirdn2d, bias_act, mbstd, fc)");
        rc = 2;
        goto out;
    }
    sv_err e = {0};
    sv_ctx *ctx;
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("bench ops: %s", e.msg);
        goto out;
    }
    double g_ms = 0;
    rc = 0;
    for (int i = 0; i < nsel && !rc; i++) {
        double ms[2] = {0, 0};
        rc = bench_layer_run(ctx, &ll.v[i], repeat, ms);
        g_ms += ll.v[i].g_count * ms[0];
    }
    if (!rc) {
        int64_t nfr = clips * frames;
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "summary", "G synthesis forward (conv layers, bias_act, torgb, img upsample)");
            cJSON_AddStringToObject(o, "config", config);
            cJSON_AddNumberToObject(o, "frames", (double)nfr);
            cJSON_AddBoolToObject(o, "complete", g_all);
            cJSON_AddNumberToObject(o, "g_fwd_ms_per_frame", round_to(g_ms / (double)nfr, 1000));
            if (g_ms > 0)
                cJSON_AddNumberToObject(o, "g_frames_per_s", round_to(1e3 * (double)nfr / g_ms, 100));
            else
                cJSON_AddNullToObject(o, "g_frames_per_s");
            cJSON_AddNumberToObject(o, "repeat", repeat);
            cJSON_AddStringToObject(o, "device", sv_ctx_info(ctx)->name);
            cJSON_AddStringToObject(o, "gemm_backend", sv_gemm_backend_name(sv_gemm_get_backend(ctx)));
        }
        rc = print_json(o);
    }
    sv_ctx_destroy(ctx);
out:
    free(filters);
    free(ll.v);
    return rc;
}

/* ---- svgan bench sample ---------------------------------------------------
 * Sampling throughput of the streaming generator: frames/s for B videos x F
 * frames per call, at t = 0 and at t = 100000 (the per-frame cost must not
 * depend on t), after one warm-up call; median of R calls. */
static void bench_sample_usage(FILE *f)
{
    fprintf(f, "usage: svgan bench sample [--device X] [--preset NAME | --checkpoint FILE] [--videos B] [--frames F]\n"
               "                          [--repeat R] [--t T]...\n"
               "Frames/s of the generator (streaming sampler) for B videos x F frames per call, at each\n"
               "start time T (default 0 and 100000); one JSON object per line.  Default preset: small.\n");
}

static int bench_sample(int argc, char **argv)
{
    const char *device = NULL, *preset = "small", *ckpt = NULL;
    long long B = 4, F = 4, repeat = 5;
    double times[8];
    int ntimes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_device_opt(argc, argv, &i, &device);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_sample_usage(stdout);
            return 0;
        }
        static const char *const opts[] = {"--preset", "--checkpoint", "--videos", "--frames", "--repeat", "--t", NULL};
        const char *v = NULL;
        int which = cli_take_value("bench sample", argc, argv, &i, opts, &v);
        if (which == -2)
            return 2;
        if (which < 0) {
            cli_error("bench sample: unknown option '%s' (try 'svgan bench sample --help')", a);
            return 2;
        }
        a = opts[which];
        char *end;
        if (!strcmp(a, "--preset"))
            preset = v;
        else if (!strcmp(a, "--checkpoint"))
            ckpt = v;
        else if (!strcmp(a, "--t")) {
            double x = strtod(v, &end);
            if (*end || !(x >= 0) || ntimes == 8) {
                cli_error("bench sample: --t '%s': expected a time >= 0 (at most 8)", v);
                return 2;
            }
            times[ntimes++] = x;
        } else {
            long long x = strtoll(v, &end, 10);
            if (*end || x < 1 || x > 4096) {
                cli_error("bench sample: %s '%s': expected an integer 1..4096", a, v);
                return 2;
            }
            if (!strcmp(a, "--videos"))
                B = x;
            else if (!strcmp(a, "--frames"))
                F = x;
            else
                repeat = x;
        }
    }
    if (!ntimes) {
        times[ntimes++] = 0;
        times[ntimes++] = 100000;
    }
    sv_err e = {0};
    sv_mconfig cfg;
    sv_st_file *f = NULL;
    if (ckpt ? sv_checkpoint_open(ckpt, &f, &cfg, &e) : sv_mconfig_preset(preset, &cfg, &e)) {
        cli_error("%s", e.msg);
        return ckpt ? 1 : 2;
    }
    sv_ctx *ctx = NULL;
    sv_generator *g = NULL;
    sv_gen_video *gv = NULL;
    sv_tensor frames = {0};
    float *z = NULL;
    uint64_t *ms = NULL, *st = NULL;
    double *t = NULL, *ms_run = NULL;
    int rc = 1;
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("%s", e.msg);
        goto done;
    }
    if (sv_generator_new(ctx, &cfg, &g) || (f ? sv_checkpoint_load_generator(f, NULL, g, &e) : sv_generator_init(g, 0))) {
        cli_error("%s", e.msg[0] ? e.msg : sv_ctx_errmsg(ctx));
        goto done;
    }
    z = malloc((size_t)B * cfg.z_dim * sizeof *z);
    ms = malloc((size_t)B * sizeof *ms);
    st = calloc((size_t)B, sizeof *st);
    t = malloc((size_t)(B * F) * sizeof *t);
    ms_run = malloc((size_t)repeat * sizeof *ms_run);
    int64_t fs[4] = {B * F, 3, cfg.resolution, cfg.resolution};
    if (!z || !ms || !st || !t || !ms_run || sv_tensor_new(ctx, &frames, 4, fs)) {
        cli_error("bench sample: out of memory");
        goto done;
    }
    for (long long b = 0; b < B; b++) {
        sv_rng_normal((uint64_t)b, SV_STREAM_Z, 0, (size_t)cfg.z_dim, z + b * cfg.z_dim);
        ms[b] = (uint64_t)b;
    }
    double tb = now_s();
    if (sv_generator_begin(g, B, z, ms, st, 1.0f, &gv) || sv_ctx_finish(ctx)) {
        cli_error("%s", sv_ctx_errmsg(ctx));
        goto done;
    }
    double begin_ms = (now_s() - tb) * 1e3;
    for (int ti = 0; ti < ntimes; ti++) {
        for (int r = -1; r < (int)repeat; r++) { /* r = -1: warm-up */
            for (long long b = 0; b < B; b++)
                for (long long k = 0; k < F; k++)
                    t[b * F + k] = times[ti] + (double)((r + 1) * F + k);
            double t0 = now_s();
            if (sv_generator_frames(gv, t, F, &frames) || sv_ctx_finish(ctx)) {
                cli_error("%s", sv_ctx_errmsg(ctx));
                goto done;
            }
            if (r >= 0)
                ms_run[r] = (now_s() - t0) * 1e3;
        }
        /* no NaN in the last batch */
        int64_t bad = 0;
        if (sv_count_nonfinite(ctx, &frames, &bad)) {
            cli_error("%s", sv_ctx_errmsg(ctx));
            goto done;
        }
        double med = median(ms_run, (int)repeat);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bench", "sample");
        cJSON_AddStringToObject(o, "model", ckpt ? ckpt : preset);
        cJSON_AddNumberToObject(o, "resolution", cfg.resolution);
        cJSON_AddNumberToObject(o, "videos", (double)B);
        cJSON_AddNumberToObject(o, "frames_per_call", (double)(B * F));
        cJSON_AddNumberToObject(o, "t_start", times[ti]);
        cJSON_AddNumberToObject(o, "ms_per_call", round_to(med, 100));
        cJSON_AddNumberToObject(o, "frames_per_s", round_to((double)(B * F) / (med * 1e-3), 100));
        cJSON_AddNumberToObject(o, "begin_ms", round_to(begin_ms, 100));
        cJSON_AddNumberToObject(o, "nonfinite", (double)bad);
        cJSON_AddNumberToObject(o, "repeat", (double)repeat);
        cJSON_AddStringToObject(o, "device", sv_ctx_info(ctx)->name);
        if (print_json(o))
            goto done;
    }
    rc = 0;
done:
    sv_tensor_free(&frames);
    sv_gen_video_free(gv);
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
    free(z);
    free(ms);
    free(st);
    free(t);
    free(ms_run);
    return rc;
}

/* ---- svgan bench train ----------------------------------------------------
 * One full training iteration (sv_trainer_iteration): Gmain, Dmain, and on
 * iterations where it runs the lazy R1 step; seconds per phase.  Random real
 * frames in [-1, 1] with times {0, 1, 3} + 4b per clip.  Iteration 0 (R1,
 * kernel builds) is the warm-up; then N iterations without R1 (iterations
 * 1..N, N < 16) and N iterations with R1 (the counters set to multiples of
 * 16); medians. */
static void bench_train_usage(FILE *f)
{
    fprintf(f, "usage: svgan bench train [--device X] [--preset small|default64|tiny32] [--batch B] [--iterations N] [--data PATH]\n"
               "                         [--k K] [--channel-base N] [--channel-max M]\n"
               "Seconds per training iteration (G step, D step, R1 step on iterations where it runs, EMA) for\n"
               "B clips x k frames (default B 4, N 3, preset small and its k and widths, as svgan train's options\n"
               "of the same names); one JSON object per line.  The summary's\n"
               "kimg_per_s amortises R1 over d_reg_interval = 16 iterations; with --data PATH (e.g. demo) each\n"
               "iteration also samples and loads real clips as svgan train does (data_s, included in kimg_per_s).\n");
}

/* Reads clip g … g+B−1 of the dataset into x (data loading as svgan train does it). */
static int bench_load(sv_dataset *ds, sv_clip_sampler *cs, int64_t g0, int64_t B, int64_t k, int64_t R, uint8_t *u8,
                      float *x, int64_t *idx, double *t, sv_err *e)
{
    const int64_t fr = 3 * R * R;
    for (int64_t b = 0; b < B; b++) {
        int64_t v;
        int flip;
        int rc = sv_clip_sampler_get(cs, g0 + b, &v, &flip, idx, t + b * k);
        if (rc || (rc = sv_dataset_read(ds, v, idx, (int)k, flip, u8 + b * k * fr, e)))
            return rc;
    }
    for (int64_t i = 0; i < B * k * fr; i++)
        x[i] = (float)u8[i] / 127.5f - 1.0f;
    return 0;
}

static int bench_train(int argc, char **argv)
{
    const char *device = NULL, *preset = "small", *data = NULL;
    long long B = 4, N = 3, K = 0, cbase = 0, cmax = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_device_opt(argc, argv, &i, &device);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_train_usage(stdout);
            return 0;
        }
        static const char *const opts[] = {"--preset", "--batch", "--iterations", "--data", "--k", "--channel-base", "--channel-max", NULL};
        static const long long hi[] = {0, 4096, 15, 0, 64, 1 << 20, 1 << 20};
        const char *v = NULL;
        int which = cli_take_value("bench train", argc, argv, &i, opts, &v);
        if (which == -2)
            return 2;
        if (which < 0) {
            cli_error("bench train: unknown option '%s' (try 'svgan bench train --help')", a);
            return 2;
        }
        if (which == 0 || which == 3) {
            *(which ? &data : &preset) = v;
            continue;
        }
        char *end;
        long long x = strtoll(v, &end, 10);
        if (!*v || *end || x < 1 || x > hi[which]) {
            cli_error("bench train: %s '%s': expected an integer 1..%lld", opts[which], v, hi[which]);
            return 2;
        }
        *(which == 1 ? &B : which == 2 ? &N : which == 4 ? &K : which == 5 ? &cbase : &cmax) = x;
    }
    sv_err e = {0};
    sv_mconfig cfg;
    if (sv_mconfig_preset(preset, &cfg, &e)) {
        cli_error("bench train: %s", e.msg);
        return 2;
    }
    if (K)
        cfg.frames_per_clip = (int)K;
    if (cbase)
        cfg.channel_base = (int)cbase;
    if (cmax)
        cfg.channel_max = (int)cmax;
    if (sv_mconfig_validate(&cfg, &e)) {
        cli_error("bench train: %s", e.msg);
        return 2;
    }
    sv_trainer_opts o;
    sv_trainer_opts_default(&o);
    o.batch = B;
    const int64_t k = cfg.frames_per_clip, R = cfg.resolution, nx = B * k * 3 * R * R;
    sv_ctx *ctx = NULL;
    sv_trainer *tr = NULL;
    sv_tensor real = {0};
    float *x = NULL;
    double *t = NULL, *tm = NULL;
    int rc = 1;
    sv_dataset *ds = NULL;
    sv_clip_sampler *cs = NULL;
    uint8_t *u8 = NULL;
    int64_t *lens = NULL, idx[64];
    if (data) { /* real data loading included (svgan train's path) */
        sv_dataset_opts dso;
        sv_dataset_opts_default(&dso);
        dso.resolution = (int)R;
        dso.resize = SV_DS_RESIZE_AUTO;
        if (sv_dataset_open(data, &dso, &ds, &e)) {
            cli_error("bench train: %s", e.msg);
            goto done;
        }
        const int64_t nv = sv_dataset_num_videos(ds);
        if (!(lens = malloc((size_t)nv * sizeof *lens)) || !(u8 = malloc((size_t)nx))) {
            cli_error("bench train: out of memory");
            goto done;
        }
        for (int64_t v = 0; v < nv; v++)
            lens[v] = sv_dataset_video_frames(ds, v);
        if (sv_clip_sampler_new(lens, nv, 1, (int)k, cfg.max_num_frames, o.max_dist, 0, &cs, &e)) {
            cli_error("bench train: %s: %s", data, e.msg);
            goto done;
        }
    }
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("%s", e.msg);
        goto done;
    }
    if (sv_trainer_new(ctx, &cfg, &o, &tr)) {
        cli_error("bench train: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    x = malloc((size_t)nx * sizeof *x);
    t = malloc((size_t)(B * k) * sizeof *t);
    tm = malloc((size_t)(6 * N) * sizeof *tm);
    const int64_t xs[4] = {B * k, 3, R, R};
    if (!x || !t || !tm || sv_tensor_new(ctx, &real, 4, xs)) {
        cli_error("bench train: out of memory");
        goto done;
    }
    {
        double *u = malloc((size_t)nx * sizeof *u);
        if (!u) {
            cli_error("bench train: out of memory");
            goto done;
        }
        sv_rng_uniform_f64(1, SV_STREAM_DATA, 0, (size_t)nx, u);
        for (int64_t i = 0; i < nx; i++)
            x[i] = (float)(2 * u[i] - 1);
        free(u);
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < k; f++)
            t[b * k + f] = (double)(4 * b) + (f == 0 ? 0.0 : f == 1 ? 1.0 : (double)(f + 1));
    if (sv_tensor_write(&real, x, (size_t)nx)) {
        cli_error("bench train: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    const sv_mconfig *c = &cfg;
    double *g_s = tm, *d_s = tm + N, *tot = tm + 2 * N, *r1_s = tm + 3 * N, *tot_r1 = tm + 4 * N, *dat = tm + 5 * N;
    if (ds && sv_trainer_set_video_lengths(tr, lens, sv_dataset_num_videos(ds))) {
        cli_error("bench train: %s", sv_ctx_errmsg(ctx));
        goto done;
    }
    /* warm-up: iteration 0 (R1), then N without R1, then N with R1 */
    for (long long r = -1; r < 2 * N; r++) {
        sv_trainer_stats st;
        int with_r1 = r < 0 || r >= N;
        double data_s = 0;
        if (ds) {
            struct timespec a, b2;
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (bench_load(ds, cs, (r + 1) * B, B, k, R, u8, x, idx, t, &e) || sv_tensor_write(&real, x, (size_t)nx)) {
                cli_error("bench train: %s", e.msg[0] ? e.msg : sv_ctx_errmsg(ctx));
                goto done;
            }
            clock_gettime(CLOCK_MONOTONIC, &b2);
            data_s = (double)(b2.tv_sec - a.tv_sec) + (double)(b2.tv_nsec - a.tv_nsec) * 1e-9;
        }
        if (r >= N)
            sv_trainer_set_counters(tr, 16 * (r - N + 1), sv_trainer_cur_nimg(tr), sv_trainer_adam_steps(tr, 0),
                                    sv_trainer_adam_steps(tr, 1));
        if (sv_trainer_iteration(tr, &real, t, &st)) {
            cli_error("bench train: %s", sv_ctx_errmsg(ctx));
            goto done;
        }
        if (st.r1_ran != with_r1) {
            cli_error("bench train: unexpected R1 schedule at iteration %lld", (long long)st.iteration);
            goto done;
        }
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "bench", "train");
        cJSON_AddStringToObject(jo, "kind", r < 0 ? "warmup" : "iteration");
        cJSON_AddNumberToObject(jo, "iteration", (double)st.iteration);
        cJSON_AddNumberToObject(jo, "g_s", round_to(st.time_g, 1000));
        cJSON_AddNumberToObject(jo, "d_s", round_to(st.time_d, 1000));
        cJSON_AddNumberToObject(jo, "r1_s", round_to(st.time_r1, 1000));
        cJSON_AddNumberToObject(jo, "ema_s", round_to(st.time_ema, 1000));
        cJSON_AddNumberToObject(jo, "total_s", round_to(st.time_total, 1000));
        if (ds)
            cJSON_AddNumberToObject(jo, "data_s", round_to(data_s, 1000));
        cJSON_AddNumberToObject(jo, "loss_g", st.loss_g);
        cJSON_AddNumberToObject(jo, "loss_d", st.loss_d);
        cJSON_AddNumberToObject(jo, "nonfinite", st.nonfinite);
        if (print_json(jo))
            goto done;
        if (r < 0)
            continue;
        if (r < N) {
            dat[r] = data_s;
            g_s[r] = st.time_g;
            d_s[r] = st.time_d;
            tot[r] = st.time_total;
        } else {
            r1_s[r - N] = st.time_r1;
            tot_r1[r - N] = st.time_total;
        }
    }
    {
        cJSON *jo = cJSON_CreateObject();
        cJSON_AddStringToObject(jo, "bench", "train");
        cJSON_AddStringToObject(jo, "kind", "summary");
        cJSON_AddStringToObject(jo, "preset", preset);
        cJSON_AddNumberToObject(jo, "resolution", c->resolution);
        cJSON_AddNumberToObject(jo, "clips", (double)B);
        cJSON_AddNumberToObject(jo, "frames_per_clip", (double)k);
        cJSON_AddNumberToObject(jo, "channel_base", c->channel_base);
        cJSON_AddNumberToObject(jo, "channel_max", c->channel_max);
        cJSON_AddNumberToObject(jo, "g_params", (double)sv_generator_num_trainable(sv_trainer_generator(tr)));
        cJSON_AddNumberToObject(jo, "d_params", (double)sv_discriminator_num_trainable(sv_trainer_discriminator(tr)));
        cJSON_AddNumberToObject(jo, "repeat", (double)N);
        cJSON_AddNumberToObject(jo, "s_per_iter", round_to(median(tot, (int)N), 1000));
        cJSON_AddNumberToObject(jo, "g_s", round_to(median(g_s, (int)N), 1000));
        cJSON_AddNumberToObject(jo, "d_s", round_to(median(d_s, (int)N), 1000));
        cJSON_AddNumberToObject(jo, "r1_s", round_to(median(r1_s, (int)N), 1000));
        cJSON_AddNumberToObject(jo, "s_per_iter_with_r1", round_to(median(tot_r1, (int)N), 1000));
        /* lazy R1: one iteration in d_reg_interval pays for it; plus data loading when measured */
        const double I = (double)o.d_reg_interval, dm = ds ? median(dat, (int)N) : 0;
        const double amort = ((I - 1) * median(tot, (int)N) + median(tot_r1, (int)N)) / I + dm;
        if (ds) {
            cJSON_AddStringToObject(jo, "data", data);
            cJSON_AddNumberToObject(jo, "data_s", round_to(dm, 1000));
        }
        cJSON_AddNumberToObject(jo, "kimg_per_s", round_to((double)(B * k) / 1000.0 / amort, 100000));
        cJSON_AddStringToObject(jo, "device", sv_ctx_info(ctx)->name);
        if (print_json(jo))
            goto done;
    }
    rc = 0;
done:
    sv_tensor_free(&real);
    sv_trainer_free(tr);
    sv_ctx_destroy(ctx);
    sv_clip_sampler_free(cs);
    sv_dataset_close(ds);
    free(lens);
    free(u8);
    free(x);
    free(t);
    free(tm);
    return rc;
}

/* ---- svgan bench i3d ------------------------------------------------------
 * Clips/s of the FVD detector (I3D, fvd.md §2) for C clips of F frames at each
 * input size S (resized to 224 on the device); the real weights with --i3d,
 * else random weights (same cost).  One warm-up call, then R timed calls;
 * the median, the implied time of fvd2048_16f (4096 clips) and the split by
 * layer type (from a separate profiled call, which finishes the queue after
 * every stage). */
static void bench_i3d_usage(FILE *f)
{
    fprintf(f, "usage: svgan bench i3d [--device X] [--i3d WEIGHTS] [--clips C] [--frames F] [--size S]... [--repeat R]\n"
               "Clips/s of the I3D feature detector; default 2 clips x 16 frames at sizes 64 and 256, R = 2.\n");
}

static int bench_i3d(int argc, char **argv)
{
    const char *device = NULL, *weights = NULL;
    long long C = 2, F = 16, repeat = 2, sizes[8];
    int nsizes = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_device_opt(argc, argv, &i, &device);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_i3d_usage(stdout);
            return 0;
        }
        static const char *const opts[] = {"--i3d", "--clips", "--frames", "--size", "--repeat", NULL};
        const char *v = NULL;
        int which = cli_take_value("bench i3d", argc, argv, &i, opts, &v);
        if (which == -2)
            return 2;
        if (which < 0) {
            cli_error("bench i3d: unknown option '%s' (try 'svgan bench i3d --help')", a);
            return 2;
        }
        if (which == 0) {
            weights = v;
            continue;
        }
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*end || x < 1 || x > 4096 || (which == 3 && nsizes == 8)) {
            cli_error("bench i3d: %s '%s': expected an integer 1..4096", opts[which], v);
            return 2;
        }
        if (which == 1)
            C = x;
        else if (which == 2)
            F = x;
        else if (which == 3)
            sizes[nsizes++] = x;
        else
            repeat = x;
    }
    if (F < SV_I3D_MIN_FRAMES) {
        cli_error("bench i3d: --frames %lld: I3D needs at least %d", F, SV_I3D_MIN_FRAMES);
        return 2;
    }
    if (!nsizes) {
        sizes[nsizes++] = 64;
        sizes[nsizes++] = 256;
    }
    sv_err e = {0};
    sv_ctx *ctx = NULL;
    sv_i3d *net = NULL;
    uint8_t *clips = NULL;
    float *feats = NULL;
    double *ms = malloc((size_t)repeat * sizeof *ms);
    int rc = 1;
    if (sv_ctx_create(&ctx, device, &e)) {
        cli_error("%s", e.msg);
        goto done;
    }
    if (weights ? sv_i3d_load(ctx, weights, NULL, &net) : sv_i3d_load_random(ctx, 1, &net)) {
        cli_error("%s", sv_ctx_errmsg(ctx));
        goto done;
    }
    feats = malloc((size_t)C * SV_I3D_FEATURES * sizeof *feats);
    if (!ms || !feats) {
        cli_error("bench i3d: out of memory");
        goto done;
    }
    for (int si = 0; si < nsizes; si++) {
        long long S = sizes[si];
        size_t n = (size_t)(C * F * 3 * S * S);
        free(clips);
        clips = malloc(n);
        if (!clips) {
            cli_error("bench i3d: out of memory");
            goto done;
        }
        uint64_t st = 12345;
        for (size_t j = 0; j < n; j++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            clips[j] = (uint8_t)(st >> 56);
        }
        for (int r = -1; r < (int)repeat; r++) { /* r = -1: warm-up (kernel builds) */
            double t0 = now_s();
            if (sv_i3d_features(net, clips, (int)C, (int)F, (int)S, (int)S, feats)) {
                cli_error("%s", sv_ctx_errmsg(ctx));
                goto done;
            }
            if (r >= 0)
                ms[r] = (now_s() - t0) * 1e3;
        }
        double med = median(ms, (int)repeat);
        sv_i3d_prof p0, p1;
        sv_i3d_get_profile(net, &p0);
        sv_i3d_set_profile(net, 1);
        double tp = now_s();
        if (sv_i3d_features(net, clips, (int)C, (int)F, (int)S, (int)S, feats)) {
            cli_error("%s", sv_ctx_errmsg(ctx));
            goto done;
        }
        tp = now_s() - tp;
        sv_i3d_set_profile(net, 0);
        sv_i3d_get_profile(net, &p1);
        int finite = 1;
        for (long long j = 0; j < C * SV_I3D_FEATURES; j++)
            finite &= isfinite(feats[j]) != 0;
        double cps = (double)C / (med * 1e-3);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "bench", "i3d");
        cJSON_AddStringToObject(o, "weights", weights ? weights : "random");
        cJSON_AddNumberToObject(o, "clips", (double)C);
        cJSON_AddNumberToObject(o, "frames", (double)F);
        cJSON_AddNumberToObject(o, "input_size", (double)S);
        cJSON_AddNumberToObject(o, "ms_per_call", round_to(med, 10));
        cJSON_AddNumberToObject(o, "clips_per_s", round_to(cps, 1000));
        cJSON_AddNumberToObject(o, "gmac_per_s", round_to(cps * 27.8 * F / 16.0, 100));
        cJSON_AddNumberToObject(o, "fvd2048_16f_hours", round_to(4096.0 / cps / 3600.0 * 16.0 / (double)F, 100));
        cJSON *sp = cJSON_AddObjectToObject(o, "profiled_split_s");
        cJSON_AddNumberToObject(sp, "total", round_to(tp, 1000));
        cJSON_AddNumberToObject(sp, "upload", round_to(p1.upload_s - p0.upload_s, 1000));
        cJSON_AddNumberToObject(sp, "resize", round_to(p1.resize_s - p0.resize_s, 1000));
        cJSON_AddNumberToObject(sp, "im2col", round_to(p1.im2col_s - p0.im2col_s, 1000));
        cJSON_AddNumberToObject(sp, "gemm", round_to(p1.gemm_s - p0.gemm_s, 1000));
        cJSON_AddNumberToObject(sp, "bias_relu", round_to(p1.bias_relu_s - p0.bias_relu_s, 1000));
        cJSON_AddNumberToObject(sp, "maxpool", round_to(p1.maxpool_s - p0.maxpool_s, 1000));
        cJSON_AddNumberToObject(sp, "logits", round_to(p1.logits_s - p0.logits_s, 1000));
        cJSON_AddBoolToObject(o, "finite", finite);
        cJSON_AddNumberToObject(o, "repeat", (double)repeat);
        cJSON_AddStringToObject(o, "device", sv_ctx_info(ctx)->name);
        if (print_json(o))
            goto done;
    }
    rc = 0;
done:
    sv_i3d_free(net);
    sv_ctx_destroy(ctx);
    free(clips);
    free(feats);
    free(ms);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("bench: which benchmark? (svgan bench gemm|ops|sample|train|i3d; try 'svgan bench --help')");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: svgan bench <benchmark> [options]\n\nbenchmarks:\n"
               "  gemm       svgan GEMM vs OpenBLAS (GFLOP/s per shape, JSON lines)\n"
               "  ops        forward/backward time of every G and D layer op at a benchmark config\n"
               "  sample     frames/s of the generator's streaming sampler, at t = 0 and t = 100000\n"
               "  train      seconds per training iteration (G, D and R1 phases) at a benchmark config\n"
               "  i3d        clips/s of the I3D FVD detector at input sizes 64 and 256 (16 frames)\n\n"
               "See svgan-bench(1) and 'svgan bench <benchmark> --help'.\n");
        return 0;
    }
    if (!strcmp(argv[1], "gemm"))
        return bench_gemm(argc - 1, argv + 1);
    if (!strcmp(argv[1], "ops"))
        return bench_ops(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sample"))
        return bench_sample(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train"))
        return bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "i3d"))
        return bench_i3d(argc - 1, argv + 1);
    cli_error("bench: unknown benchmark '%s' (available: gemm, ops, sample, train, i3d)", argv[1]);
    return 2;
}
