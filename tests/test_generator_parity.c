/* The generator forward pass against the official StyleGAN-V generator, and
 * the streaming sampler against the forward pass.
 *
 * Cases
 *   bundle_parity    $SVGAN_SHARED_DIR/reference/tiny32-k3: G.* weights through
 *                    sv_checkpoint_open/load_generator, in.z/in.motion_z/in.t →
 *                    every traced module output vs act.G.<name> (each act.G.*
 *                    of the bundle must be produced), out.frames (ψ = 1) and
 *                    out.frames_trunc (ψ = truncation_psi_trunc), rel-L2 ≤ 1e-4;
 *                    forward leaves w_avg unchanged.
 *   stream_forward   sv_generator_begin/frames is bit-identical to
 *                    sv_generator_forward given the same motion tokens (tokens
 *                    [0, L) generated from the counter RNG on the host, L the
 *                    minimum the times need), for integer, fractional and large
 *                    t (t = 100000), ψ = 1 and ψ = 0.6; no NaN.
 *   stream_chunks    frames near t = 100000 rendered in chunks of equal size in
 *                    different orders are bit-identical; one big chunk and a
 *                    single frame agree with them within rel-L2 1e-6 (bit-
 *                    identical on CPU); videos with identical latents and
 *                    motion seeds render identically, different ones differ,
 *                    frames change with t.
 *   other_config     a 64² configuration with all sizes distinct, 3 mapping
 *                    layers, motion kernel 5, d = 8: streaming == forward
 *                    (bit-identical, t up to 100000); ToRGB clamp ±256 (a
 *                    bias of 1000 gives frames ≈ 256; without clamp ≈ 1000).
 *   errors           bad times, too few tokens, bad shapes: one-line errors.
 *   cli_parity       `svgan parity` PASSes on the bundle (exit 0) and FAILs
 *                    (exit 1) on a copy with one perturbed weight.
 * Bundle-dependent cases print "bundle absent: skipped" without it; the
 * streaming cases use the bundle's weights when present, else a random
 * tiny32 initialisation. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"

#define TOL 1e-4

static const char *shared_dir(void)
{
    const char *d = getenv("SVGAN_SHARED_DIR");
    return d && *d ? d : "../shared";
}

static void bundle_path(char *buf, size_t n)
{
    snprintf(buf, n, "%s/reference/tiny32-k3/bundle.safetensors", shared_dir());
}

/* Generator with the bundle's config and weights (returns 1), or, when the
 * bundle is absent and random_ok, the tiny32 preset randomly initialised
 * (returns 0; *f = NULL).  Returns -1 when absent and !random_ok. */
static int load_gen(sv_ctx *ctx, int random_ok, sv_st_file **f, sv_generator **g)
{
    char path[2048];
    bundle_path(path, sizeof path);
    sv_err e = {0};
    sv_mconfig c;
    *f = NULL;
    if (access(path, R_OK)) {
        if (!random_ok)
            return -1;
        ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
        TU_OK(ctx, sv_generator_new(ctx, &c, g));
        TU_OK(ctx, sv_generator_init(*g, 7));
        fprintf(stderr, "    (bundle absent: random tiny32 weights)\n");
        return 0;
    }
    ck_assert_msg(sv_checkpoint_open(path, f, &c, &e) == 0, "%s", e.msg);
    TU_OK(ctx, sv_generator_new(ctx, &c, g));
    ck_assert_msg(sv_checkpoint_load_generator(*f, "G.", *g, &e) == 0, "%s", e.msg);
    return 1;
}

static double *st_host(const sv_st_file *f, const char *name, size_t *n)
{
    const sv_st_tensor *t = sv_st_find(f, name);
    ck_assert_msg(t != NULL, "bundle has no '%s'", name);
    float *fl = malloc((size_t)t->numel * sizeof *fl);
    double *d = malloc((size_t)t->numel * sizeof *d);
    ck_assert(fl && d);
    sv_err e = {0};
    ck_assert_msg(sv_st_read_f32(f, name, fl, (size_t)t->numel, &e) == 0, "%s", e.msg);
    for (int64_t i = 0; i < t->numel; i++)
        d[i] = fl[i];
    free(fl);
    *n = (size_t)t->numel;
    return d;
}

static float *dl(const sv_tensor *t)
{
    sv_err e = {0};
    float *h = sv_tensor_to_host(t, &e);
    ck_assert_msg(h != NULL, "download: %s", e.msg);
    return h;
}

/* ---- bundle parity -------------------------------------------------------- */

#define MAXSEEN 256

typedef struct tstate {
    const sv_st_file *f;
    int n;
    char *names[MAXSEEN];
    double rel[MAXSEEN];
    int missing; /* traced names without act.G.<name> in the bundle */
} tstate;

static void on_trace(void *user, const char *name, const sv_tensor *value)
{
    tstate *s = user;
    char ref[256];
    snprintf(ref, sizeof ref, "act.G.%s", name);
    const sv_st_tensor *bt = sv_st_find(s->f, ref);
    if (!bt) {
        fprintf(stderr, "  traced %-52s (no %s in the bundle)\n", name, ref);
        s->missing++;
        return;
    }
    ck_assert_msg(bt->numel == sv_numel(value), "%s: %lld elements, bundle %lld", name, (long long)sv_numel(value),
                  (long long)bt->numel);
    for (int i = 0; i < s->n; i++)
        ck_assert_msg(strcmp(s->names[i], ref), "%s traced twice", name);
    size_t n;
    double *want = st_host(s->f, ref, &n);
    double *got = tu_download(value);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(isfinite(got[i]), "%s: non-finite value at %zu", name, i);
    double e = tu_rel_l2(got, want, n);
    fprintf(stderr, "  parity %-60s rel-L2 %.3g\n", ref, e);
    ck_assert_int_lt(s->n, MAXSEEN);
    s->names[s->n] = strdup(ref);
    s->rel[s->n++] = e;
    free(got);
    free(want);
}

static double compare_out(const sv_st_file *f, const sv_tensor *t, const char *ref)
{
    size_t n;
    double *want = st_host(f, ref, &n), *got = tu_download(t);
    ck_assert_int_eq((int64_t)n, sv_numel(t));
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(isfinite(got[i]), "%s: non-finite value at %zu", ref, i);
    double e = tu_rel_l2(got, want, n);
    fprintf(stderr, "  parity %-60s rel-L2 %.3g\n", ref, e);
    ck_assert_msg(e <= TOL, "%s: rel-L2 %g > %g", ref, e, TOL);
    free(want);
    free(got);
    return e;
}

START_TEST(bundle_parity)
{
    char path[2048];
    bundle_path(path, sizeof path);
    if (access(path, R_OK)) {
        fprintf(stderr, "bundle_parity: bundle absent: skipped (%s)\n", path);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    sv_st_file *f;
    sv_generator *g;
    ck_assert_int_eq(load_gen(ctx, 0, &f, &g), 1);
    const sv_mconfig *c = sv_generator_config(g);
    cJSON *cj = cJSON_Parse(sv_st_metadata(f, "config"));
    ck_assert(cj != NULL);
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(cj, "truncation_psi_trunc");
    ck_assert(cJSON_IsNumber(jp));
    const float psi = (float)jp->valuedouble;

    const sv_st_tensor *tt = sv_st_find(f, "in.t");
    ck_assert(tt && tt->ndim == 2);
    const int64_t B = tt->shape[0], F = tt->shape[1], R = c->resolution;
    size_t n;
    double *t = st_host(f, "in.t", &n);
    sv_tensor z, mz, frames;
    TU_OK(ctx, sv_st_upload(ctx, f, "in.z", &z));
    TU_OK(ctx, sv_st_upload(ctx, f, "in.motion_z", &mz));
    TU_OK(ctx, sv_tensor_newv(ctx, &frames, 4, B * F, (int64_t)3, R, R));
    float *wavg0 = dl(sv_params_get(sv_generator_params(g), "mapping.w_avg"));

    tstate s;
    memset(&s, 0, sizeof s);
    s.f = f;
    TU_OK(ctx, sv_generator_forward(g, &z, &mz, t, F, 1.0f, &frames, on_trace, &s));
    ck_assert_int_eq(s.missing, 0);
    double worst = 0;
    const char *wn = "";
    for (int i = 0; i < s.n; i++) {
        ck_assert_msg(s.rel[i] <= TOL, "%s: rel-L2 %g > %g", s.names[i], s.rel[i], TOL);
        if (s.rel[i] > worst) {
            worst = s.rel[i];
            wn = s.names[i];
        }
    }
    /* every act.G.* of the bundle was produced */
    int nact = 0;
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const char *nm = sv_st_name(f, i);
        if (strncmp(nm, "act.G.", 6))
            continue;
        nact++;
        int seen = 0;
        for (int k = 0; k < s.n; k++)
            seen |= !strcmp(s.names[k], nm);
        ck_assert_msg(seen, "%s was not produced by the forward pass", nm);
    }
    ck_assert_int_eq(nact, s.n);
    double e1 = compare_out(f, &frames, "out.frames");
    /* a non-traced forward gives the same frames */
    TU_OK(ctx, sv_generator_forward(g, &z, &mz, t, F, 1.0f, &frames, NULL, NULL));
    compare_out(f, &frames, "out.frames");
    TU_OK(ctx, sv_generator_forward(g, &z, &mz, t, F, psi, &frames, NULL, NULL));
    double e2 = compare_out(f, &frames, "out.frames_trunc");
    /* truncation moves the frames (the check above would be vacuous otherwise) */
    {
        size_t m;
        double *a = st_host(f, "out.frames", &m), *b = tu_download(&frames);
        double d = tu_rel_l2(b, a, m);
        fprintf(stderr, "    ψ = %g frames vs ψ = 1 reference: rel-L2 %.3g\n", psi, d);
        ck_assert(d > 1e-2);
        free(a);
        free(b);
    }
    /* the forward does not update w_avg */
    float *wavg1 = dl(sv_params_get(sv_generator_params(g), "mapping.w_avg"));
    ck_assert(!memcmp(wavg0, wavg1, (size_t)c->w_dim * sizeof *wavg0));
    fprintf(stderr, "bundle_parity: %d act.G tensors (worst %.3g, %s), out.frames %.3g, out.frames_trunc %.3g\n", s.n,
            worst, wn, e1, e2);
    for (int i = 0; i < s.n; i++)
        free(s.names[i]);
    free(wavg0);
    free(wavg1);
    free(t);
    cJSON_Delete(cj);
    sv_tensor_free(&z);
    sv_tensor_free(&mz);
    sv_tensor_free(&frames);
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- streaming ---------------------------------------------------------------- */

/* Motion layers' total shrink Σ(K−1) from the parameters. */
static int64_t motion_shrink(sv_generator *g)
{
    int64_t s = 0;
    char nm[128];
    for (int i = 0;; i++) {
        snprintf(nm, sizeof nm, "synthesis.motion_encoder.conv.%d.weight", i);
        sv_tensor *w = sv_params_get(sv_generator_params(g), nm);
        if (!w)
            break;
        s += w->shape[2] - 1;
    }
    ck_assert_int_gt(s, 0);
    return s;
}

typedef struct vids {
    int64_t B;
    float *z;
    uint64_t *seed, *stream;
} vids;

static vids make_vids(const sv_mconfig *c, int64_t B, const uint64_t *zseed, const uint64_t *mseed)
{
    vids v;
    v.B = B;
    v.z = malloc((size_t)(B * c->z_dim) * sizeof *v.z);
    v.seed = malloc((size_t)B * sizeof *v.seed);
    v.stream = malloc((size_t)B * sizeof *v.stream);
    ck_assert(v.z && v.seed && v.stream);
    for (int64_t b = 0; b < B; b++) {
        sv_rng_normal(zseed[b], SV_STREAM_Z, 0, (size_t)c->z_dim, v.z + b * c->z_dim);
        v.seed[b] = mseed[b];
        v.stream[b] = 3; /* any stream; the forward gets the same tokens */
    }
    return v;
}

static void free_vids(vids *v)
{
    free(v->z);
    free(v->seed);
    free(v->stream);
}

/* Frames by the full forward with tokens [0, L) from the same RNG streams. */
static float *forward_frames(sv_ctx *ctx, sv_generator *g, const vids *v, const double *t, int64_t F, float psi)
{
    const sv_mconfig *c = sv_generator_config(g);
    const int64_t B = v->B, C = c->motion_z_dim, R = c->resolution;
    int64_t jmax = 0;
    for (int64_t n = 0; n < B * F; n++) {
        int64_t j = sv_motion_left_index(t[n], c->motion_z_distance);
        jmax = j > jmax ? j : jmax;
    }
    const int64_t L = jmax + 2 + motion_shrink(g);
    float *tok = malloc((size_t)(B * L * C) * sizeof *tok);
    ck_assert(tok);
    for (int64_t b = 0; b < B; b++)
        sv_rng_normal(v->seed[b], SV_STREAM_MOTION + v->stream[b], 0, (size_t)(L * C), tok + b * L * C);
    sv_tensor z, mz, fr;
    TU_OK(ctx, sv_tensor_newv(ctx, &z, 2, B, (int64_t)c->z_dim));
    TU_OK(ctx, sv_tensor_write(&z, v->z, (size_t)(B * c->z_dim)));
    TU_OK(ctx, sv_tensor_newv(ctx, &mz, 3, B, L, C));
    TU_OK(ctx, sv_tensor_write(&mz, tok, (size_t)(B * L * C)));
    TU_OK(ctx, sv_tensor_newv(ctx, &fr, 4, B * F, (int64_t)3, R, R));
    TU_OK(ctx, sv_generator_forward(g, &z, &mz, t, F, psi, &fr, NULL, NULL));
    float *h = dl(&fr);
    sv_tensor_free(&z);
    sv_tensor_free(&mz);
    sv_tensor_free(&fr);
    free(tok);
    return h;
}

static float *stream_frames(sv_ctx *ctx, sv_gen_video *gv, const sv_mconfig *c, int64_t B, const double *t, int64_t F)
{
    sv_tensor fr;
    const int64_t R = c->resolution;
    TU_OK(ctx, sv_tensor_newv(ctx, &fr, 4, B * F, (int64_t)3, R, R));
    TU_OK(ctx, sv_generator_frames(gv, t, F, &fr));
    float *h = dl(&fr);
    sv_tensor_free(&fr);
    return h;
}

static double rel_l2f(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return NAN;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / (den > 0 ? den : 1));
}

START_TEST(stream_forward)
{
    sv_ctx *ctx = tu_ctx();
    sv_st_file *f;
    sv_generator *g;
    load_gen(ctx, 1, &f, &g);
    const sv_mconfig *c = sv_generator_config(g);
    const int64_t B = 2, F = 8, fsz = 3 * (int64_t)c->resolution * c->resolution;
    const uint64_t zs[2] = {11, 12}, ms[2] = {21, 22};
    vids v = make_vids(c, B, zs, ms);
    /* integer, fractional, knot, large and fractional-large times; video 1 differs */
    const double t[16] = {0, 1.5, 15.999, 16, 37.25, 100000, 100000.5, 99999.75,
                          3, 1000.7, 64, 17.5, 100003.25, 250.125, 0.5, 31};
    const float psis[2] = {1.0f, 0.6f};
    for (int k = 0; k < 2; k++) {
        float *ref = forward_frames(ctx, g, &v, t, F, psis[k]);
        sv_gen_video *gv;
        TU_OK(ctx, sv_generator_begin(g, B, v.z, v.seed, v.stream, psis[k], &gv));
        float *got = stream_frames(ctx, gv, c, B, t, F);
        double worst = 0;
        for (int64_t n = 0; n < B * F; n++) {
            double e = rel_l2f(got + n * fsz, ref + n * fsz, (size_t)fsz);
            ck_assert_msg(isfinite(e), "frame %lld (t = %g): non-finite values", (long long)n, t[n]);
            /* the same computation on the same tokens: bit-identical */
            ck_assert_msg(!memcmp(got + n * fsz, ref + n * fsz, (size_t)fsz * sizeof *got),
                          "frame %lld (t = %g), psi %g: streaming differs from forward (rel-L2 %g)", (long long)n,
                          t[n], psis[k], e);
            worst = e > worst ? e : worst;
        }
        fprintf(stderr, "stream_forward: psi %g: %lld frames (t up to 100003.25), worst rel-L2 %.3g\n", psis[k],
                (long long)(B * F), worst);
        sv_gen_video_free(gv);
        free(ref);
        free(got);
    }
    free_vids(&v);
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(stream_chunks)
{
    sv_ctx *ctx = tu_ctx();
    sv_st_file *f;
    sv_generator *g;
    load_gen(ctx, 1, &f, &g);
    const sv_mconfig *c = sv_generator_config(g);
    const int64_t fsz = 3 * (int64_t)c->resolution * c->resolution;
    /* videos 0 and 2 identical, 1 different */
    const int64_t B = 3, N = 12, CH = 4;
    const uint64_t zs[3] = {5, 6, 5}, ms[3] = {9, 10, 9};
    vids v = make_vids(c, B, zs, ms);
    sv_gen_video *gv;
    TU_OK(ctx, sv_generator_begin(g, B, v.z, v.seed, v.stream, 1.0f, &gv));
    /* frame k at t = 100000 + 1.75·k (crosses motion segments) */
    double tall[3 * 12];
    for (int64_t b = 0; b < B; b++)
        for (int64_t k = 0; k < N; k++)
            tall[b * N + k] = 100000 + 1.75 * (double)k;
    float *whole = stream_frames(ctx, gv, c, B, tall, N);
    /* chunks of CH frames, forward order and reverse order */
    float *fw = malloc((size_t)(B * N * fsz) * sizeof *fw), *bw = malloc((size_t)(B * N * fsz) * sizeof *bw);
    ck_assert(fw && bw);
    for (int pass = 0; pass < 2; pass++)
        for (int64_t i = 0; i < N / CH; i++) {
            int64_t ci = pass ? N / CH - 1 - i : i;
            double tc[3 * 4];
            for (int64_t b = 0; b < B; b++)
                for (int64_t k = 0; k < CH; k++)
                    tc[b * CH + k] = tall[b * N + ci * CH + k];
            float *h = stream_frames(ctx, gv, c, B, tc, CH);
            for (int64_t b = 0; b < B; b++)
                memcpy((pass ? bw : fw) + (b * N + ci * CH) * fsz, h + b * CH * fsz,
                       (size_t)(CH * fsz) * sizeof *h);
            free(h);
        }
    const size_t all = (size_t)(B * N * fsz);
    for (size_t i = 0; i < all; i++)
        ck_assert_msg(isfinite(fw[i]), "non-finite value at %zu (t near 100000)", i);
    ck_assert_msg(!memcmp(fw, bw, all * sizeof *fw), "chunks rendered in a different order differ");
    double e = rel_l2f(whole, fw, all);
    fprintf(stderr, "stream_chunks: chunks of %lld in both orders bit-identical; one chunk of %lld vs chunks: rel-L2 "
                    "%.3g (%s)\n",
            (long long)CH, (long long)N, e, memcmp(whole, fw, all * sizeof *fw) ? "not bit-identical" : "bit-identical");
    ck_assert_msg(e <= 1e-6, "one chunk vs chunks: rel-L2 %g", e);
    /* identical videos render identically, different ones differ */
    ck_assert(!memcmp(fw, fw + 2 * N * fsz, (size_t)(N * fsz) * sizeof *fw));
    double d01 = rel_l2f(fw + N * fsz, fw, (size_t)(N * fsz));
    ck_assert_msg(d01 > 1e-2, "different seeds give frames within %g", d01);
    /* a single frame, alone, equals the same frame in a chunk */
    double t1[3] = {tall[5], tall[N + 5], tall[2 * N + 5]};
    float *one = stream_frames(ctx, gv, c, B, t1, 1);
    double e1 = rel_l2f(one, fw + 5 * fsz, (size_t)fsz);
    fprintf(stderr, "stream_chunks: single frame vs in chunk: rel-L2 %.3g\n", e1);
    ck_assert_msg(e1 <= 1e-6, "single frame vs chunk: rel-L2 %g", e1);
    /* motion actually changes over time */
    double dt = rel_l2f(fw + 11 * fsz, fw, (size_t)fsz);
    ck_assert_msg(dt > 1e-3, "frames 19 time units apart are within %g", dt);
    free(one);
    free(whole);
    free(fw);
    free(bw);
    sv_gen_video_free(gv);
    free_vids(&v);
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

/* Another configuration (all sizes distinct, 3 mapping layers, motion
 * kernel 5, d = 8, clamp 256): streaming == forward at small and large t;
 * the ±256 clamp of ToRGB. */
START_TEST(other_config)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_mconfig c;
    const char *json = "{\"resolution\": 64, \"channel_base\": 1024, \"channel_max\": 24, \"z_dim\": 24, \"w_dim\": 40,"
                       " \"motion_z_dim\": 20, \"motion_v_dim\": 36, \"time_enc_dim\": 12, \"mapping_layers\": 3,"
                       " \"motion_kernel_size\": 5, \"motion_z_distance\": 8, \"min_period_len\": 8,"
                       " \"max_period_len\": 512, \"conv_clamp\": 256}";
    ck_assert_msg(sv_mconfig_from_json(json, &c, &e) == 0, "%s", e.msg);
    ck_assert_msg(sv_mconfig_validate(&c, &e) == 0, "%s", e.msg);
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    TU_OK(ctx, sv_generator_init(g, 17));
    ck_assert_int_eq(motion_shrink(g), 8);
    const int64_t B = 2, F = 3, fsz = 3 * 64 * 64;
    const uint64_t zs[2] = {1, 2}, ms[2] = {3, 4};
    vids v = make_vids(&c, B, zs, ms);
    const double t[6] = {0, 7.5, 100000.25, 12345.5, 8, 3.75};
    float *ref = forward_frames(ctx, g, &v, t, F, 0.8f);
    sv_gen_video *gv;
    TU_OK(ctx, sv_generator_begin(g, B, v.z, v.seed, v.stream, 0.8f, &gv));
    float *got = stream_frames(ctx, gv, &c, B, t, F);
    for (int64_t i = 0; i < B * F * fsz; i++)
        ck_assert_msg(isfinite(got[i]), "non-finite value at %lld", (long long)i);
    ck_assert_msg(!memcmp(got, ref, (size_t)(B * F * fsz) * sizeof *got), "streaming differs from forward");
    double dv = rel_l2f(got + 3 * fsz, got, (size_t)(3 * fsz));
    ck_assert_msg(dv > 1e-2, "videos 0 and 1 within %g", dv);
    fprintf(stderr, "other_config: 64², dims 24/40/20/36/12, K 5, d 8: streaming == forward (bit-identical), "
                    "6 frames finite\n");
    free(ref);
    free(got);
    /* clamp: a huge last ToRGB bias is clamped to 256 before the skip sum */
    sv_tensor *bias = sv_params_get(sv_generator_params(g), "synthesis.b64.torgb.bias");
    ck_assert(bias != NULL);
    TU_OK(ctx, sv_tensor_fill(bias, 1000.0f));
    got = stream_frames(ctx, gv, &c, B, t, F);
    double mx = -1e30, mn = 1e30;
    for (int64_t i = 0; i < B * F * fsz; i++) {
        mx = got[i] > mx ? got[i] : mx;
        mn = got[i] < mn ? got[i] : mn;
    }
    fprintf(stderr, "other_config: ToRGB bias 1000, clamp 256: frames in [%g, %g]\n", mn, mx);
    ck_assert_msg(mx < 300 && mn > 200, "frames in [%g, %g], expected ≈ 256", mn, mx);
    free(got);
    sv_gen_video_free(gv);
    free_vids(&v);
    sv_generator_free(g);
    /* the same without clamp (conv_clamp null) */
    c.conv_clamp = -1;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    TU_OK(ctx, sv_generator_init(g, 17));
    TU_OK(ctx, sv_tensor_fill(sv_params_get(sv_generator_params(g), "synthesis.b64.torgb.bias"), 1000.0f));
    v = make_vids(&c, B, zs, ms);
    TU_OK(ctx, sv_generator_begin(g, B, v.z, v.seed, v.stream, 0.8f, &gv));
    got = stream_frames(ctx, gv, &c, B, t, F);
    mn = 1e30;
    for (int64_t i = 0; i < B * F * fsz; i++)
        mn = got[i] < mn ? got[i] : mn;
    ck_assert_msg(mn > 900, "unclamped frames reach down to %g", mn);
    free(got);
    sv_gen_video_free(gv);
    free_vids(&v);
    sv_generator_free(g);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_mconfig c;
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    TU_OK(ctx, sv_generator_init(g, 3));
    const int64_t B = 1, F = 2, R = c.resolution, L = 24;
    sv_tensor z, mz, fr, bad;
    TU_OK(ctx, sv_tensor_zeros(ctx, &z, 2, (int64_t[]){B, c.z_dim}));
    TU_OK(ctx, sv_tensor_zeros(ctx, &mz, 3, (int64_t[]){B, L, c.motion_z_dim}));
    TU_OK(ctx, sv_tensor_newv(ctx, &fr, 4, B * F, (int64_t)3, R, R));
    TU_OK(ctx, sv_tensor_newv(ctx, &bad, 4, B * F, (int64_t)3, R, R / 2));
    double ok[2] = {0, 15.5}, neg[2] = {0, -1}, nan_[2] = {NAN, 1}, far[2] = {0, 100};
    TU_OK(ctx, sv_generator_forward(g, &z, &mz, ok, F, 1.0f, &fr, NULL, NULL));
    ck_assert_int_ne(sv_generator_forward(g, &z, &mz, neg, F, 1.0f, &fr, NULL, NULL), 0);
    fprintf(stderr, "errors: negative t: %s\n", sv_ctx_errmsg(ctx));
    ck_assert(strstr(sv_ctx_errmsg(ctx), "time") != NULL);
    ck_assert_int_ne(sv_generator_forward(g, &z, &mz, nan_, F, 1.0f, &fr, NULL, NULL), 0);
    ck_assert_int_ne(sv_generator_forward(g, &z, &mz, far, F, 1.0f, &fr, NULL, NULL), 0);
    fprintf(stderr, "errors: too few tokens: %s\n", sv_ctx_errmsg(ctx));
    ck_assert(strstr(sv_ctx_errmsg(ctx), "tokens") != NULL);
    ck_assert_int_ne(sv_generator_forward(g, &z, &mz, ok, F, 1.0f, &bad, NULL, NULL), 0);
    fprintf(stderr, "errors: bad frames: %s\n", sv_ctx_errmsg(ctx));
    ck_assert_int_ne(sv_generator_forward(g, &mz, &mz, ok, F, 1.0f, &fr, NULL, NULL), 0);
    ck_assert_int_ne(sv_generator_forward(g, &z, &z, ok, F, 1.0f, &fr, NULL, NULL), 0);
    ck_assert_int_ne(sv_generator_forward(g, &z, &mz, ok, 3, 1.0f, &fr, NULL, NULL), 0);
    /* streaming */
    float zh[64] = {0};
    ck_assert_int_le(c.z_dim, 64);
    uint64_t sd = 1, sm = 0;
    sv_gen_video *gv;
    TU_OK(ctx, sv_generator_begin(g, 1, zh, &sd, &sm, 1.0f, &gv));
    TU_OK(ctx, sv_generator_frames(gv, far, F, &fr));
    ck_assert_int_ne(sv_generator_frames(gv, neg, F, &fr), 0);
    ck_assert_int_ne(sv_generator_frames(gv, ok, F, &bad), 0);
    ck_assert_int_ne(sv_generator_frames(gv, ok, 0, &fr), 0);
    sv_gen_video_free(gv);
    ck_assert_int_ne(sv_generator_begin(g, 0, zh, &sd, &sm, 1.0f, &gv), 0);
    ck_assert(gv == NULL);
    sv_tensor_free(&z);
    sv_tensor_free(&mz);
    sv_tensor_free(&fr);
    sv_tensor_free(&bad);
    sv_generator_free(g);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- svgan parity (the CLI) ------------------------------------------------- */

/* Runs `cmd`, returns the exit status; *last gets the last output line. */
static int run_cmd(const char *cmd, char *last, size_t n)
{
    FILE *p = popen(cmd, "r");
    ck_assert(p != NULL);
    char line[4096];
    last[0] = 0;
    while (fgets(line, sizeof line, p)) {
        fputs(line, stderr);
        snprintf(last, n, "%s", line);
    }
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(cli_parity)
{
    char path[2048];
    bundle_path(path, sizeof path);
    const char *bin = getenv("SVGAN_BIN");
    if (access(path, R_OK) || !bin || access(bin, X_OK)) {
        fprintf(stderr, "cli_parity: bundle absent: skipped (%s, SVGAN_BIN %s)\n", path, bin ? bin : "unset");
        return;
    }
    char cmd[8192], last[4096];
    snprintf(cmd, sizeof cmd, "'%s' parity '%s/reference/tiny32-k3' 2>&1", bin, shared_dir());
    int st = run_cmd(cmd, last, sizeof last);
    ck_assert_msg(st == 0, "svgan parity exited %d", st);
    ck_assert_msg(!strncmp(last, "parity: ", 8) && strstr(last, ": PASS"), "last line: %s", last);

    /* a copy with one perturbed generator weight must FAIL with exit 1 */
    sv_err e = {0};
    sv_st_file *f;
    ck_assert_msg(sv_st_open(path, &f, &e) == 0, "%s", e.msg);
    sv_st_writer *w = sv_st_writer_new();
    ck_assert(w != NULL);
    for (size_t i = 0; i < sv_st_metadata_count(f); i++) {
        const char *k, *v;
        ck_assert_int_eq(sv_st_metadata_at(f, i, &k, &v), 0);
        ck_assert_int_eq(sv_st_writer_meta(w, k, v, &e), 0);
    }
    const char *victim = "G.synthesis.b8.conv1.bias";
    float *pert = NULL;
    for (size_t i = 0; i < sv_st_count(f); i++) {
        const sv_st_tensor *t = sv_st_at(f, i);
        const void *data = t->data;
        if (!strcmp(t->name, victim)) {
            pert = malloc(t->nbytes);
            ck_assert_int_eq(sv_st_read_f32(f, t->name, pert, (size_t)t->numel, &e), 0);
            pert[0] += 0.5f;
            data = pert;
        }
        ck_assert_msg(sv_st_writer_add_ref(w, t->name, t->dtype, t->ndim, t->shape, data, &e) == 0, "%s", e.msg);
    }
    ck_assert(pert != NULL);
    char dir[] = "/tmp/svgan-parity-XXXXXX", out[256];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(out, sizeof out, "%s/bundle.safetensors", dir);
    ck_assert_msg(sv_st_writer_save(w, out, &e) == 0, "%s", e.msg);
    sv_st_writer_free(w);
    free(pert);
    sv_st_close(f);
    snprintf(cmd, sizeof cmd, "'%s' parity '%s' 2>&1", bin, dir);
    st = run_cmd(cmd, last, sizeof last);
    ck_assert_msg(st == 1, "svgan parity on a perturbed bundle exited %d", st);
    ck_assert_msg(strstr(last, ": FAIL") != NULL, "last line: %s", last);
    /* usage errors exit 2 */
    snprintf(cmd, sizeof cmd, "'%s' parity 2>&1", bin);
    ck_assert_int_eq(run_cmd(cmd, last, sizeof last), 2);
    snprintf(cmd, sizeof cmd, "'%s' parity --bogus '%s' 2>&1", bin, dir);
    ck_assert_int_eq(run_cmd(cmd, last, sizeof last), 2);
    /* a missing bundle: one-line error, exit 1 */
    snprintf(cmd, sizeof cmd, "'%s' parity '%s/nothing-here' 2>&1", bin, dir);
    ck_assert_int_eq(run_cmd(cmd, last, sizeof last), 1);
    ck_assert(!strncmp(last, "svgan: ", 7));
    unlink(out);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generator_parity");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, bundle_parity);
    tcase_add_test(tc, stream_forward);
    tcase_add_test(tc, stream_chunks);
    tcase_add_test(tc, other_config);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, cli_parity);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
