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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

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
        const char *opts[] = {"--repeat", "--backend", "--shape"};
        int which = -1;
        for (int o = 0; o < 3 && which < 0; o++) {
            size_t l = strlen(opts[o]);
            if (!strcmp(a, opts[o])) {
                if (i + 1 >= argc) {
                    cli_error("bench gemm: %s needs a value", a);
                    goto out;
                }
                val = argv[++i];
                which = o;
            } else if (!strncmp(a, opts[o], l) && a[l] == '=') {
                val = a + l + 1;
                which = o;
            }
        }
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

int cmd_bench(int argc, char **argv)
{
    if (argc < 2) {
        cli_error("bench: which benchmark? (svgan bench gemm; try 'svgan bench --help')");
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: svgan bench <benchmark> [options]\n\nbenchmarks:\n"
               "  gemm       svgan GEMM vs OpenBLAS (GFLOP/s per shape, JSON lines)\n\n"
               "See svgan-bench(1) and 'svgan bench gemm --help'.\n");
        return 0;
    }
    if (!strcmp(argv[1], "gemm"))
        return bench_gemm(argc - 1, argv + 1);
    cli_error("bench: unknown benchmark '%s' (available: gemm)", argv[1]);
    return 2;
}
