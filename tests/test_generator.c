/* Generator configuration, parameters, initialisation and checkpoints.
 *
 * Cases
 *   config_json      defaults, presets, JSON round trip, unknown keys ignored,
 *                    wrong types / bad JSON rejected naming the key, validation,
 *                    derived sizes (channels, num_ws, motion tokens L)
 *   names_manifest   tiny32 parameters == the bundle manifest's G.* names and
 *                    shapes (bundle-dependent), tiny32 preset == bundle config
 *   trainable        trainable counts == spec §2.8 at 64², 128², 256²
 *   init_stats       §2.10 statistics, buffers, determinism by seed
 *   ckpt_roundtrip   save → open → load, bit-identical, G vs G_ema, metadata
 *   ckpt_bundle      the reference bundle's G.* through sv_checkpoint_open/load
 *   ckpt_errors      missing file, not safetensors, no metadata, bad format,
 *                    bad config, shape mismatch, missing tensor, truncated */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "svgan/generator.h"
#include "svgan/ops/timeenc.h"

/* ---- helpers ----------------------------------------------------------- */

static const char *shared_dir(void)
{
    const char *d = getenv("SVGAN_SHARED_DIR");
    return d && *d ? d : "../shared";
}

static char *tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/svgan-gen-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return strdup(d);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    ck_assert(s != NULL);
    ck_assert(fread(s, 1, (size_t)n, fp) == (size_t)n);
    s[n] = 0;
    fclose(fp);
    return s;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert(fp != NULL);
    ck_assert(fwrite(p, 1, n, fp) == n);
    fclose(fp);
}

static float *host_flat(sv_generator *g, size_t *n)
{
    sv_tensor *flat = sv_params_flat(sv_generator_params(g));
    *n = (size_t)sv_numel(flat);
    float *h = malloc(*n * sizeof *h);
    ck_assert(h != NULL);
    ck_assert(sv_tensor_read(flat, h, *n) == 0);
    return h;
}

static float *host_param(sv_generator *g, const char *name, size_t *n)
{
    sv_tensor *t = sv_params_get(sv_generator_params(g), name);
    ck_assert_msg(t != NULL, "no parameter %s", name);
    *n = (size_t)sv_numel(t);
    float *h = malloc(*n * sizeof *h);
    ck_assert(h != NULL);
    ck_assert(sv_tensor_read(t, h, *n) == 0);
    return h;
}

static void mean_std(const float *x, size_t n, double *mean, double *std)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (x[i] - *mean) * (x[i] - *mean);
    *std = sqrt(s2 / (double)n);
}

static int one_line(const char *s) { return strchr(s, '\n') == NULL && *s; }

/* ---- configuration ------------------------------------------------------- */

START_TEST(config_json)
{
    sv_err e = {0};
    sv_mconfig c, d;
    sv_mconfig_default(&c);
    ck_assert_int_eq(c.resolution, 256);
    ck_assert_int_eq(sv_mconfig_validate(&c, &e), 0);
    ck_assert_int_eq(sv_mconfig_num_ws(&c), 14);
    ck_assert_int_eq(sv_mconfig_channels(&c, 4), 512);
    ck_assert_int_eq(sv_mconfig_channels(&c, 64), 256);
    ck_assert_int_eq(sv_mconfig_channels(&c, 256), 64);
    /* spec §2.3: L = 86 for any t ≤ 1024, 147 for t_max = 2000 */
    ck_assert_int_eq(sv_mconfig_motion_tokens(&c, 0), 86);
    ck_assert_int_eq(sv_mconfig_motion_tokens(&c, 1024), 86);
    ck_assert_int_eq(sv_mconfig_motion_tokens(&c, 1024.5), 87);
    ck_assert_int_eq(sv_mconfig_motion_tokens(&c, 2000), 147);
    ck_assert_int_eq(sv_mconfig_motion_tokens(&c, NAN), -1);

    /* every preset validates and round-trips through JSON */
    const char *const *names = sv_mconfig_preset_names();
    int np = 0;
    for (; names[np]; np++) {
        ck_assert_int_eq(sv_mconfig_preset(names[np], &c, &e), 0);
        ck_assert_msg(sv_mconfig_validate(&c, &e) == 0, "%s: %s", names[np], e.msg);
        char *js = sv_mconfig_to_json(&c);
        ck_assert(js != NULL);
        memset(&d, 0x5a, sizeof d);
        ck_assert_msg(sv_mconfig_from_json(js, &d, &e) == 0, "%s", e.msg);
        char *js2 = sv_mconfig_to_json(&d);
        ck_assert_str_eq(js, js2);
        ck_assert_int_eq(d.resolution, c.resolution);
        ck_assert_int_eq(d.channel_base, c.channel_base);
        ck_assert(d.conv_clamp == c.conv_clamp);
        free(js);
        free(js2);
    }
    ck_assert_int_eq(np, 4);
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    ck_assert(c.conv_clamp < 0);
    char *js = sv_mconfig_to_json(&c);
    ck_assert_ptr_nonnull(strstr(js, "\"conv_clamp\":null"));
    free(js);
    ck_assert_int_eq(sv_mconfig_preset("small", &c, &e), 0);
    ck_assert_int_eq(c.resolution, 64);
    ck_assert_int_eq(c.channel_base, 4096);
    ck_assert_int_eq(c.channel_max, 128);
    ck_assert_int_eq(c.motion_v_dim, 128);
    ck_assert_int_eq(c.time_enc_dim, 64);
    ck_assert_int_eq(sv_mconfig_preset("default64", &c, &e), 0);
    ck_assert_int_eq(c.resolution, 64);
    ck_assert_int_eq(c.z_dim, 512);
    ck_assert(c.conv_clamp == 256);
    ck_assert_int_eq(sv_mconfig_num_ws(&c), 10);

    /* unknown preset: the message lists the valid names */
    ck_assert_int_eq(sv_mconfig_preset("huge", &c, &e), SV_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "huge"));
    ck_assert_ptr_nonnull(strstr(e.msg, "paper256"));
    ck_assert_ptr_nonnull(strstr(e.msg, "small"));

    /* missing keys take defaults; unknown keys are ignored */
    ck_assert_int_eq(sv_mconfig_from_json("{\"resolution\": 64, \"r1_gamma\": 1.0, \"source\": \"x\", "
                                          "\"use_noise\": false, \"conv_clamp\": null}",
                                          &c, &e),
                     0);
    ck_assert_int_eq(c.resolution, 64);
    ck_assert_int_eq(c.z_dim, 512);
    ck_assert(c.conv_clamp < 0);

    /* wrong types and bad JSON */
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"resolution\": \"64\"}", "resolution"},
        {"{\"z_dim\": 64.5}", "z_dim"},
        {"{\"channel_max\": null}", "channel_max"},
        {"{\"motion_z_distance\": [16]}", "motion_z_distance"},
        {"{\"max_num_frames\": 1e12}", "max_num_frames"},
        {"{\"conv_clamp\": \"256\"}", "conv_clamp"},
        {"{\"resolution\": 64", "JSON"},
        {"[1, 2]", "object"},
        {"", "JSON"},
    };
    sv_mconfig_default(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sv_clearerr(&e);
        sv_mconfig d0 = c;
        ck_assert_msg(sv_mconfig_from_json(bad[i].json, &c, &e) != 0, "accepted %s", bad[i].json);
        ck_assert_msg(strstr(e.msg, bad[i].needle) != NULL, "%s -> '%s'", bad[i].json, e.msg);
        ck_assert(one_line(e.msg));
        ck_assert_int_eq(c.resolution, d0.resolution); /* untouched on error */
    }

    /* validation */
    static const struct {
        const char *json, *needle;
    } inval[] = {
        {"{\"resolution\": 48}", "resolution"},   {"{\"resolution\": 2048}", "resolution"},
        {"{\"resolution\": 16}", "resolution"},   {"{\"z_dim\": 0}", "z_dim"},
        {"{\"time_enc_dim\": -3}", "time_enc_dim"}, {"{\"channel_base\": 16}", "channel_base"},
        {"{\"mapping_layers\": 0}", "mapping_layers"}, {"{\"motion_z_distance\": 0}", "motion_z_distance"},
        {"{\"min_period_len\": 64, \"max_period_len\": 32}", "max_period_len"},
        {"{\"d_concat_res\": 24}", "d_concat_res"}, {"{\"conv_clamp\": 0}", "conv_clamp"},
    };
    for (size_t i = 0; i < sizeof inval / sizeof inval[0]; i++) {
        ck_assert_int_eq(sv_mconfig_from_json(inval[i].json, &c, &e), 0);
        ck_assert_msg(sv_mconfig_validate(&c, &e) == SV_ERR_INVALID, "validated %s", inval[i].json);
        ck_assert_msg(strstr(e.msg, inval[i].needle) != NULL, "%s -> '%s'", inval[i].json, e.msg);
    }
}
END_TEST

/* ---- parameter names and shapes vs the bundle manifest ---------------------- */

START_TEST(names_manifest)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/manifest.json", shared_dir());
    char *txt = read_text(path);
    if (!txt) {
        fprintf(stderr, "names_manifest: bundle absent: skipped (%s)\n", path);
        return;
    }
    cJSON *m = cJSON_Parse(txt);
    free(txt);
    ck_assert(m != NULL);
    const cJSON *tens = cJSON_GetObjectItemCaseSensitive(m, "tensors");
    const cJSON *mcfg = cJSON_GetObjectItemCaseSensitive(m, "config");
    ck_assert(cJSON_IsObject(tens) && cJSON_IsObject(mcfg));

    sv_err e = {0};
    sv_mconfig c, tiny;
    char *cj = cJSON_PrintUnformatted(mcfg);
    ck_assert_msg(sv_mconfig_from_json(cj, &c, &e) == 0, "%s", e.msg);
    cJSON_free(cj);
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &tiny, &e), 0);
    char *a = sv_mconfig_to_json(&c), *b = sv_mconfig_to_json(&tiny);
    ck_assert_str_eq(a, b); /* the tiny32 preset is the bundle's configuration */
    free(a);
    free(b);

    sv_ctx *ctx = tu_ctx();
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    sv_params *p = sv_generator_params(g);
    size_t nman = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, tens)
    {
        if (strncmp(it->string, "G.", 2))
            continue;
        nman++;
        const sv_tensor *t = sv_params_get(p, it->string + 2);
        ck_assert_msg(t != NULL, "%s not declared", it->string);
        ck_assert_int_eq(cJSON_GetArraySize(it), t->ndim);
        for (int k = 0; k < t->ndim; k++)
            ck_assert_msg(cJSON_GetArrayItem(it, k)->valuedouble == (double)t->shape[k], "%s dim %d: %lld",
                          it->string, k, (long long)t->shape[k]);
    }
    ck_assert_int_eq(nman, sv_params_count(p)); /* and nothing extra */
    fprintf(stderr, "names_manifest: %zu G tensors match\n", nman);
    sv_generator_free(g);
    cJSON_Delete(m);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- trainable counts (spec §2.8) -------------------------------------------- */

START_TEST(trainable)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    static const struct {
        int res;
        int64_t n;
    } want[] = {{64, 31158031}, {128, 31863698}, {256, 32105941}};
    for (int i = 0; i < 3; i++) {
        sv_mconfig c;
        ck_assert_int_eq(sv_mconfig_preset("paper256", &c, &e), 0);
        c.resolution = want[i].res;
        sv_generator *g;
        TU_OK(ctx, sv_generator_new(ctx, &c, &g));
        ck_assert_int_eq(sv_generator_num_trainable(g), want[i].n);
        sv_generator_free(g);
    }
    /* the small preset: ~1.95 M (spec/benchmarks.md) */
    sv_mconfig c;
    ck_assert_int_eq(sv_mconfig_preset("small", &c, &e), 0);
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    int64_t n = sv_generator_num_trainable(g);
    fprintf(stderr, "trainable: small G has %lld parameters\n", (long long)n);
    ck_assert(n > 1900000 && n < 2000000);
    sv_generator_free(g);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- initialisation ------------------------------------------------------- */

START_TEST(init_stats)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_mconfig c;
    ck_assert_int_eq(sv_mconfig_preset("small", &c, &e), 0);
    sv_generator *g, *g2;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    TU_OK(ctx, sv_generator_new(ctx, &c, &g2));
    TU_OK(ctx, sv_generator_init(g, 7));

    static const struct {
        const char *name;
        double mean, std; /* std < 0: constant value = mean */
    } st[] = {
        {"mapping.fc0.weight", 0, 100},
        {"mapping.fc1.weight", 0, 100},
        {"mapping.fc0.bias", 0, -1},
        {"synthesis.motion_encoder.conv.0.weight", 0, 100},
        {"synthesis.motion_encoder.conv.1.weight", 0, 100},
        {"synthesis.motion_encoder.conv.1.bias", 0, -1},
        {"synthesis.motion_encoder.time_encoder.aligners_predictor.weight", 0, 1},
        {"synthesis.motion_encoder.time_encoder.periods_predictor.weight", 0, 1},
        {"synthesis.b4.input.input.const", 0, 1},
        {"synthesis.b4.conv1.weight", 0, 1},
        {"synthesis.b4.conv1.affine.weight", 0, 1},
        {"synthesis.b4.conv1.affine.bias", 1, -1},
        {"synthesis.b4.conv1.bias", 0, -1},
        {"synthesis.b64.conv0.weight", 0, 1},
        {"synthesis.b64.torgb.weight", 0, 1},
        {"synthesis.b64.torgb.affine.bias", 1, -1},
        {"synthesis.b64.torgb.bias", 0, -1},
    };
    for (size_t i = 0; i < sizeof st / sizeof st[0]; i++) {
        size_t n;
        float *h = host_param(g, st[i].name, &n);
        double mu, sd;
        mean_std(h, n, &mu, &sd);
        if (st[i].std < 0) {
            for (size_t j = 0; j < n; j++)
                ck_assert_msg(h[j] == (float)st[i].mean, "%s[%zu] = %g", st[i].name, j, h[j]);
        } else {
            /* 6 standard errors on the mean and on the std (≈ σ/√(2n)) */
            ck_assert_msg(n >= 100, "%s: %zu", st[i].name, n);
            ck_assert_msg(fabs(mu) < 6 * st[i].std / sqrt((double)n), "%s: mean %g", st[i].name, mu);
            ck_assert_msg(fabs(sd / st[i].std - 1) < 6 / sqrt(2.0 * (double)n), "%s: std %g, want %g", st[i].name,
                          sd, st[i].std);
        }
        free(h);
    }

    /* buffers keep their defined values */
    size_t n;
    float *w_avg = host_param(g, "mapping.w_avg", &n);
    for (size_t j = 0; j < n; j++)
        ck_assert(w_avg[j] == 0);
    free(w_avg);
    float *filt = host_param(g, "synthesis.b32.conv0.resample_filter", &n);
    ck_assert_int_eq(n, 16);
    const float f1[4] = {1, 3, 3, 1};
    for (int j = 0; j < 16; j++)
        ck_assert(filt[j] == f1[j / 4] * f1[j % 4] / 64.0f);
    free(filt);
    float fr[64], ps[64];
    ck_assert_int_eq(sv_timeenc_freqs(c.time_enc_dim, c.min_period_len, c.max_period_len, fr, ps), 0);
    float *hf = host_param(g, "synthesis.motion_encoder.time_encoder.freqs", &n);
    float *hp = host_param(g, "synthesis.motion_encoder.time_encoder.phase_scales", &n);
    ck_assert_int_eq(n, 64);
    ck_assert(!memcmp(hf, fr, sizeof fr));
    ck_assert(!memcmp(hp, ps, sizeof ps));
    free(hf);
    free(hp);

    /* same seed → identical; different seed → different */
    size_t n1, n2;
    TU_OK(ctx, sv_generator_init(g2, 7));
    float *a = host_flat(g, &n1), *b = host_flat(g2, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert(!memcmp(a, b, n1 * sizeof *a));
    free(b);
    TU_OK(ctx, sv_generator_init(g2, 8));
    b = host_flat(g2, &n2);
    size_t ndiff = 0;
    for (size_t j = 0; j < n1; j++)
        ndiff += a[j] != b[j];
    /* every random weight differs; constants and buffers do not */
    ck_assert_msg(ndiff > (size_t)(0.95 * (double)sv_generator_num_trainable(g)), "%zu differ", ndiff);
    free(a);
    free(b);
    sv_generator_free(g);
    sv_generator_free(g2);
    sv_ctx_destroy(ctx);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------ */

START_TEST(ckpt_roundtrip)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    char *dir = tmpdir(), path[1024];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    sv_mconfig c, c2;
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &c, &e), 0);
    sv_generator *g, *ge, *h;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    TU_OK(ctx, sv_generator_new(ctx, &c, &ge));
    TU_OK(ctx, sv_generator_init(g, 3));
    TU_OK(ctx, sv_generator_init(ge, 4));
    const char *meta[] = {"created_by", "test_generator", "seed", "3", NULL};
    ck_assert_msg(sv_checkpoint_save_generator(path, &c, g, ge, meta, &e) == 0, "%s", e.msg);

    sv_st_file *f;
    ck_assert_msg(sv_checkpoint_open(path, &f, &c2, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(sv_st_metadata(f, "format"), SV_CHECKPOINT_FORMAT);
    ck_assert_str_eq(sv_st_metadata(f, "created_by"), "test_generator");
    ck_assert_str_eq(sv_st_metadata(f, "seed"), "3");
    char *a = sv_mconfig_to_json(&c), *b = sv_mconfig_to_json(&c2);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);

    TU_OK(ctx, sv_generator_new(ctx, &c2, &h));
    size_t n1, n2;
    /* "G" → G, default → G_ema, both bit-identical */
    ck_assert_msg(sv_checkpoint_load_generator(f, "G", h, &e) == 0, "%s", e.msg);
    float *x = host_flat(g, &n1), *y = host_flat(h, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert(!memcmp(x, y, n1 * sizeof *x));
    free(x);
    free(y);
    ck_assert_msg(sv_checkpoint_load_generator(f, NULL, h, &e) == 0, "%s", e.msg);
    x = host_flat(ge, &n1);
    y = host_flat(h, &n2);
    ck_assert(!memcmp(x, y, n1 * sizeof *x));
    free(x);
    free(y);
    sv_st_close(f);

    /* without G_ema, the default is G */
    ck_assert_msg(sv_checkpoint_save_generator(path, &c, g, NULL, NULL, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c2, &e), 0);
    ck_assert(sv_st_find(f, "G_ema.mapping.fc0.weight") == NULL);
    ck_assert_msg(sv_checkpoint_load_generator(f, NULL, h, &e) == 0, "%s", e.msg);
    x = host_flat(g, &n1);
    y = host_flat(h, &n2);
    ck_assert(!memcmp(x, y, n1 * sizeof *x));
    free(x);
    free(y);
    ck_assert_int_eq(sv_checkpoint_load_generator(f, "G_ema", h, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "G_ema."));
    sv_st_close(f);

    /* reserved metadata keys */
    const char *bad[] = {"format", "x", NULL};
    ck_assert_int_eq(sv_checkpoint_save_generator(path, &c, g, NULL, bad, &e), SV_ERR_INVALID);
    /* a generator built for another configuration */
    sv_mconfig other = c;
    other.z_dim = 32;
    ck_assert_int_eq(sv_checkpoint_save_generator(path, &other, g, NULL, NULL, &e), SV_ERR_INVALID);

    sv_generator_free(g);
    sv_generator_free(ge);
    sv_generator_free(h);
    unlink(path);
    rmdir(dir);
    free(dir);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(ckpt_bundle)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/reference/tiny32-k3/bundle.safetensors", shared_dir());
    if (access(path, R_OK)) {
        fprintf(stderr, "ckpt_bundle: bundle absent: skipped (%s)\n", path);
        return;
    }
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    sv_st_file *f;
    sv_mconfig c, tiny;
    ck_assert_msg(sv_checkpoint_open(path, &f, &c, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(sv_mconfig_preset("tiny32", &tiny, &e), 0);
    char *a = sv_mconfig_to_json(&c), *b = sv_mconfig_to_json(&tiny);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    ck_assert_msg(sv_checkpoint_load_generator(f, NULL, g, &e) == 0, "%s", e.msg);
    /* every parameter equals the file's values bit for bit (w_avg is random in the bundle) */
    sv_params *p = sv_generator_params(g);
    for (size_t i = 0; i < sv_params_count(p); i++) {
        char name[512];
        snprintf(name, sizeof name, "G.%s", sv_params_name(p, i));
        size_t n;
        float *got = host_param(g, sv_params_name(p, i), &n);
        float *want = malloc(n * sizeof *want);
        ck_assert_int_eq(sv_st_read_f32(f, name, want, n, &e), 0);
        ck_assert_msg(!memcmp(got, want, n * sizeof *got), "%s differs", name);
        free(got);
        free(want);
    }
    sv_generator_free(g);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
}
END_TEST

START_TEST(ckpt_errors)
{
    sv_ctx *ctx = tu_ctx();
    sv_err e = {0};
    char *dir = tmpdir(), path[1024], p2[1024];
    sv_st_file *f = NULL;
    sv_mconfig c;

    /* missing file */
    snprintf(path, sizeof path, "%s/absent.safetensors", dir);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_IO);
    ck_assert(f == NULL);
    ck_assert_ptr_nonnull(strstr(e.msg, "cannot open"));
    ck_assert_ptr_nonnull(strstr(e.msg, path));

    /* not a safetensors file */
    snprintf(path, sizeof path, "%s/text.txt", dir);
    const char *txt = "this is not a checkpoint, just a few words of text\n";
    write_bytes(path, txt, strlen(txt));
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "not an svgan checkpoint") && one_line(e.msg), "%s", e.msg);
    unlink(path);

    /* safetensors without metadata */
    snprintf(path, sizeof path, "%s/plain.safetensors", dir);
    sv_st_writer *w = sv_st_writer_new();
    const float v[2] = {1, 2};
    const int64_t sh[1] = {2};
    ck_assert_int_eq(sv_st_writer_add(w, "x", SV_ST_F32, 1, sh, v, &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "not an svgan checkpoint (no format metadata)"), "%s", e.msg);
    /* an unknown format version */
    ck_assert_int_eq(sv_st_writer_meta(w, "format", "svgan-checkpoint-99", &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "svgan-checkpoint-99"), "%s", e.msg);
    /* format but no config; then a config with a wrong type; then an invalid one */
    ck_assert_int_eq(sv_st_writer_meta(w, "format", SV_CHECKPOINT_FORMAT, &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "config"), "%s", e.msg);
    ck_assert_int_eq(sv_st_writer_meta(w, "config", "{\"z_dim\": \"big\"}", &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "z_dim") && strstr(e.msg, path) && one_line(e.msg), "%s", e.msg);
    ck_assert_int_eq(sv_st_writer_meta(w, "config", "{\"resolution\": 100}", &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "resolution"), "%s", e.msg);
    /* a valid header but none of the model's tensors */
    ck_assert_int_eq(sv_st_writer_meta(w, "config", "{\"resolution\": 32}", &e), 0);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    ck_assert_msg(sv_checkpoint_open(path, &f, &c, &e) == 0, "%s", e.msg);
    sv_generator *g;
    TU_OK(ctx, sv_generator_new(ctx, &c, &g));
    ck_assert_int_eq(sv_checkpoint_load_generator(f, NULL, g, &e), SV_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "missing tensor 'G.") && one_line(e.msg), "%s", e.msg);
    sv_st_close(f);
    sv_generator_free(g);
    sv_st_writer_free(w);
    unlink(path);

    /* shape mismatch: a small checkpoint into a default64 generator */
    snprintf(path, sizeof path, "%s/small.safetensors", dir);
    sv_mconfig cs, cd;
    ck_assert_int_eq(sv_mconfig_preset("small", &cs, &e), 0);
    ck_assert_int_eq(sv_mconfig_preset("default64", &cd, &e), 0);
    sv_generator *gs, *gd;
    TU_OK(ctx, sv_generator_new(ctx, &cs, &gs));
    TU_OK(ctx, sv_generator_init(gs, 1));
    ck_assert_msg(sv_checkpoint_save_generator(path, &cs, gs, NULL, NULL, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(sv_checkpoint_open(path, &f, &c, &e), 0);
    TU_OK(ctx, sv_generator_new(ctx, &cd, &gd));
    ck_assert_int_eq(sv_checkpoint_load_generator(f, NULL, gd, &e), SV_ERR_FORMAT);
    fprintf(stderr, "ckpt_errors: mismatch -> %s\n", e.msg);
    ck_assert_msg(strstr(e.msg, "tensor 'G.") && strstr(e.msg, "expected") && one_line(e.msg), "%s", e.msg);
    sv_st_close(f);
    sv_generator_free(gd);

    /* truncated file */
    char *all = NULL;
    FILE *fp = fopen(path, "rb");
    ck_assert(fp != NULL);
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    all = malloc((size_t)len);
    ck_assert(fread(all, 1, (size_t)len, fp) == (size_t)len);
    fclose(fp);
    snprintf(p2, sizeof p2, "%s/trunc.safetensors", dir);
    const long cuts[] = {len - 1, len / 2, 100, 7, 0};
    for (int i = 0; i < 5; i++) {
        write_bytes(p2, all, (size_t)cuts[i]);
        ck_assert_int_eq(sv_checkpoint_open(p2, &f, &c, &e), SV_ERR_FORMAT);
        ck_assert_msg(strstr(e.msg, "not an svgan checkpoint") && one_line(e.msg), "%s", e.msg);
        ck_assert(f == NULL);
    }
    free(all);
    unlink(p2);
    unlink(path);
    sv_generator_free(gs);
    rmdir(dir);
    free(dir);
    sv_ctx_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generator");
    TCase *tc = tcase_create("generator");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, config_json);
    tcase_add_test(tc, names_manifest);
    tcase_add_test(tc, trainable);
    tcase_add_test(tc, init_stats);
    tcase_add_test(tc, ckpt_roundtrip);
    tcase_add_test(tc, ckpt_bundle);
    tcase_add_test(tc, ckpt_errors);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
