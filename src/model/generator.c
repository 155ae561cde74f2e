/* The generator's parameters (official names and shapes, spec §8.2
 * generalised to any configuration), buffers and initialisation (§2.10). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generator_internal.h"
#include "svgan/ops/timeenc.h"
#include "svgan/rng.h"

/* What a parameter is, deduced from its official name. */
typedef enum {
    K_BUF_FILTER,  /* resample_filter: outer([1,3,3,1])/64 */
    K_BUF_WAVG,    /* mapping.w_avg: zeros */
    K_BUF_FREQS,   /* time encoder freqs */
    K_BUF_PSCALES, /* time encoder phase_scales */
    K_W_SLOW,      /* N(0,1)/0.01: mapping and motion conv1d weights (lr multiplier 0.01) */
    K_W,           /* N(0,1): synthesis conv/torgb, affine and time-encoder weights, const */
    K_BIAS0,       /* 0 */
    K_BIAS1        /* 1: affine biases */
} pkind;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static pkind param_kind(const char *name)
{
    if (ends_with(name, "resample_filter"))
        return K_BUF_FILTER;
    if (!strcmp(name, "mapping.w_avg"))
        return K_BUF_WAVG;
    if (ends_with(name, "time_encoder.freqs"))
        return K_BUF_FREQS;
    if (ends_with(name, "time_encoder.phase_scales"))
        return K_BUF_PSCALES;
    if (ends_with(name, "affine.bias"))
        return K_BIAS1;
    if (ends_with(name, ".bias"))
        return K_BIAS0;
    if (!strncmp(name, "mapping.", 8) || !strncmp(name, "synthesis.motion_encoder.conv.", 30))
        return K_W_SLOW;
    return K_W;
}

static int is_buffer(pkind k) { return k <= K_BUF_PSCALES; }

static int add(sv_params *p, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    const int64_t shape[4] = {d0, d1, d2, d3};
    return sv_params_add(p, name, ndim, shape);
}

/* A modulated layer "<pre>": weight [cout, cin, k, k], bias [cout], (resample
 * filter), affine [cin, w_dim] + [cin] — in the official state_dict order
 * (own parameters, own buffers, then the affine child). */
static int add_layer(sv_params *p, const char *pre, int cout, int cin, int k, int has_filter, int w_dim)
{
    char n[256];
    int rc;
    snprintf(n, sizeof n, "%s.weight", pre);
    if ((rc = add(p, n, 4, cout, cin, k, k)))
        return rc;
    snprintf(n, sizeof n, "%s.bias", pre);
    if ((rc = add(p, n, 1, cout, 0, 0, 0)))
        return rc;
    if (has_filter) {
        snprintf(n, sizeof n, "%s.resample_filter", pre);
        if ((rc = add(p, n, 2, 4, 4, 0, 0)))
            return rc;
    }
    snprintf(n, sizeof n, "%s.affine.weight", pre);
    if ((rc = add(p, n, 2, cin, w_dim, 0, 0)))
        return rc;
    snprintf(n, sizeof n, "%s.affine.bias", pre);
    return add(p, n, 1, cin, 0, 0, 0);
}

/* Order: synthesis (motion encoder, b4 … bR), then mapping — the official
 * state_dict order. */
static int declare(sv_params *p, const sv_mconfig *c)
{
    const char *te = "synthesis.motion_encoder.time_encoder";
    const int D = c->time_enc_dim, V = c->motion_v_dim, Z = c->motion_z_dim, K = c->motion_kernel_size;
    char n[256];
    int rc = 0;
#define TRY(x)                                                                                                   \
    do {                                                                                                         \
        if ((rc = (x)))                                                                                          \
            return rc;                                                                                           \
    } while (0)
    snprintf(n, sizeof n, "%s.freqs", te);
    TRY(add(p, n, 2, 1, D, 0, 0));
    snprintf(n, sizeof n, "%s.phase_scales", te);
    TRY(add(p, n, 2, 1, D, 0, 0));
    snprintf(n, sizeof n, "%s.periods_predictor.weight", te);
    TRY(add(p, n, 2, D, V, 0, 0));
    snprintf(n, sizeof n, "%s.phase_predictor.weight", te);
    TRY(add(p, n, 2, D, V, 0, 0));
    snprintf(n, sizeof n, "%s.aligners_predictor.weight", te);
    TRY(add(p, n, 2, 2 * (int64_t)D, V, 0, 0));
    /* official: conv1d(z → z), conv1d(z → v) */
    TRY(add(p, "synthesis.motion_encoder.conv.0.weight", 3, Z, Z, K, 0));
    TRY(add(p, "synthesis.motion_encoder.conv.0.bias", 1, Z, 0, 0, 0));
    TRY(add(p, "synthesis.motion_encoder.conv.1.weight", 3, V, Z, K, 0));
    TRY(add(p, "synthesis.motion_encoder.conv.1.bias", 1, V, 0, 0, 0));

    for (int r = 4; r <= c->resolution; r *= 2) {
        const int cr = sv_mconfig_channels(c, r);
        char pre[128];
        snprintf(n, sizeof n, "synthesis.b%d.resample_filter", r);
        TRY(add(p, n, 2, 4, 4, 0, 0));
        if (r == 4) {
            TRY(add(p, "synthesis.b4.input.input.const", 4, 1, cr, 4, 4));
            TRY(add_layer(p, "synthesis.b4.conv1", cr, cr + 2 * D, 3, 1, c->w_dim));
        } else {
            snprintf(pre, sizeof pre, "synthesis.b%d.conv0", r);
            TRY(add_layer(p, pre, cr, sv_mconfig_channels(c, r / 2), 3, 1, c->w_dim));
            snprintf(pre, sizeof pre, "synthesis.b%d.conv1", r);
            TRY(add_layer(p, pre, cr, cr, 3, 1, c->w_dim));
        }
        snprintf(pre, sizeof pre, "synthesis.b%d.torgb", r);
        TRY(add_layer(p, pre, 3, cr, 1, 0, c->w_dim));
    }

    TRY(add(p, "mapping.w_avg", 1, c->w_dim, 0, 0, 0));
    for (int i = 0; i < c->mapping_layers; i++) {
        snprintf(n, sizeof n, "mapping.fc%d.weight", i);
        TRY(add(p, n, 2, c->w_dim, i == 0 ? c->z_dim : c->w_dim, 0, 0));
        snprintf(n, sizeof n, "mapping.fc%d.bias", i);
        TRY(add(p, n, 1, c->w_dim, 0, 0, 0));
    }
#undef TRY
    return rc;
}

/* Write the defined values of every buffer. */
static int fill_buffers(sv_generator *g)
{
    sv_params *p = g->params;
    const int D = g->cfg.time_enc_dim;
    float *freqs = malloc(sizeof(float) * (size_t)D), *ps = malloc(sizeof(float) * (size_t)D);
    int rc = 0;
    if (!freqs || !ps) {
        rc = sv_seterr(sv_ctx_err(g->ctx), SV_ERR_NOMEM, "out of host memory");
        goto out;
    }
    if (sv_timeenc_freqs(D, g->cfg.min_period_len, g->cfg.max_period_len, freqs, ps)) {
        rc = sv_seterr(sv_ctx_err(g->ctx), SV_ERR_INVALID, "generator: invalid time encoder periods");
        goto out;
    }
    float filt[16];
    const float f1[4] = {1, 3, 3, 1};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            filt[i * 4 + j] = f1[i] * f1[j] / 64.0f;
    for (size_t i = 0; i < sv_params_count(p) && !rc; i++) {
        sv_tensor *t = sv_params_at(p, i);
        switch (param_kind(sv_params_name(p, i))) {
        case K_BUF_FILTER: rc = sv_tensor_write(t, filt, 16); break;
        case K_BUF_FREQS: rc = sv_tensor_write(t, freqs, (size_t)D); break;
        case K_BUF_PSCALES: rc = sv_tensor_write(t, ps, (size_t)D); break;
        default: break; /* w_avg and everything else: zeros from finalize */
        }
    }
out:
    free(freqs);
    free(ps);
    return rc;
}

int sv_generator_new(sv_ctx *ctx, const sv_mconfig *cfg, sv_generator **out)
{
    *out = NULL;
    sv_err *e = sv_ctx_err(ctx);
    int rc = sv_mconfig_validate(cfg, e);
    if (rc)
        return rc;
    sv_generator *g = calloc(1, sizeof *g);
    if (!g)
        return sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
    g->ctx = ctx;
    g->cfg = *cfg;
    rc = sv_params_new(ctx, &g->params);
    if (!rc)
        rc = declare(g->params, cfg);
    if (!rc)
        rc = sv_params_finalize(g->params);
    if (!rc)
        rc = fill_buffers(g);
    if (rc) {
        sv_generator_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

void sv_generator_free(sv_generator *g)
{
    if (!g)
        return;
    sv_gen_fwd_free(g->fwd);
    sv_params_free(g->params);
    free(g);
}

const sv_mconfig *sv_generator_config(const sv_generator *g) { return &g->cfg; }
sv_ctx *sv_generator_ctx(const sv_generator *g) { return g->ctx; }
sv_params *sv_generator_params(sv_generator *g) { return g->params; }

int64_t sv_generator_num_trainable(const sv_generator *g)
{
    int64_t n = 0;
    for (size_t i = 0; i < sv_params_count(g->params); i++) {
        if (is_buffer(param_kind(sv_params_name(g->params, i))))
            continue;
        n += sv_numel(sv_params_at(g->params, i));
    }
    return n;
}

int sv_generator_init(sv_generator *g, uint64_t seed)
{
    sv_params *p = g->params;
    size_t cap = 0;
    float *h = NULL;
    int rc = 0;
    for (size_t i = 0; i < sv_params_count(p) && !rc; i++) {
        pkind k = param_kind(sv_params_name(p, i));
        if (is_buffer(k))
            continue;
        sv_tensor *t = sv_params_at(p, i);
        size_t n = (size_t)sv_numel(t);
        if (n > cap) {
            float *nh = realloc(h, n * sizeof *h);
            if (!nh) {
                rc = sv_seterr(sv_ctx_err(g->ctx), SV_ERR_NOMEM, "out of host memory");
                break;
            }
            h = nh;
            cap = n;
        }
        if (k == K_W || k == K_W_SLOW) {
            sv_rng_normal(seed, SV_STREAM_INIT + (uint64_t)i, 0, n, h);
            if (k == K_W_SLOW)
                for (size_t j = 0; j < n; j++)
                    h[j] *= 100.0f; /* N(0,1) / lr_multiplier 0.01 */
        } else {
            const float v = k == K_BIAS1 ? 1.0f : 0.0f;
            for (size_t j = 0; j < n; j++)
                h[j] = v;
        }
        rc = sv_tensor_write(t, h, n);
    }
    free(h);
    return rc;
}
