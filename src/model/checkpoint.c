/* Checkpoints: one safetensors file, tensors "G.<name>" / "G_ema.<name>"
 * (official module paths), metadata "format" and "config" (svgan-checkpoint(5)).
 * Reference bundles (no "format", but a "config") open through the same path. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generator_internal.h"

int sv_checkpoint_open(const char *path, sv_st_file **f, sv_mconfig *cfg, sv_err *e)
{
    *f = NULL;
    if (!path)
        return sv_seterr(e, SV_ERR_INVALID, "checkpoint: no path");
    sv_st_file *sf = NULL;
    sv_err le = {0};
    int rc = sv_st_open(path, &sf, &le);
    if (rc) {
        if (rc != SV_ERR_FORMAT) {
            if (e)
                *e = le;
            return rc;
        }
        /* "path: what is wrong" -> "path: not an svgan checkpoint (what is wrong)" */
        const char *why = le.msg;
        size_t pl = strlen(path);
        if (!strncmp(why, path, pl) && !strncmp(why + pl, ": ", 2))
            why += pl + 2;
        return sv_seterr(e, SV_ERR_FORMAT, "%s: not an svgan checkpoint (%s)", path, why);
    }
    const char *fmt = sv_st_metadata(sf, "format");
    const char *cs = sv_st_metadata(sf, "config");
    if (fmt && strcmp(fmt, SV_CHECKPOINT_FORMAT))
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: unsupported checkpoint format '%.64s' (this svgan reads '%s')", path,
                       fmt, SV_CHECKPOINT_FORMAT);
    else if (!fmt && !cs)
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: not an svgan checkpoint (no format metadata)", path);
    else if (!cs)
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: checkpoint has no 'config' metadata", path);
    if (!rc) {
        sv_mconfig c;
        rc = sv_mconfig_from_json(cs, &c, e);
        if (!rc)
            rc = sv_mconfig_validate(&c, e);
        if (rc) {
            rc = SV_ERR_FORMAT;
            if (e) {
                e->code = rc;
                sv_preferr(e, "%s", path);
            }
        } else if (cfg) {
            *cfg = c;
        }
    }
    if (rc) {
        sv_st_close(sf);
        return rc;
    }
    *f = sf;
    return 0;
}

static int has_prefix(const sv_st_file *f, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (size_t i = 0; i < sv_st_count(f); i++)
        if (!strncmp(sv_st_name(f, i), prefix, pl))
            return 1;
    return 0;
}

static void shape_str(const int64_t *s, int nd, char *buf, size_t n)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
}

int sv_checkpoint_load_generator(const sv_st_file *f, const char *which, sv_generator *g, sv_err *e)
{
    char prefix[64];
    if (!which)
        snprintf(prefix, sizeof prefix, "%s", has_prefix(f, "G_ema.") ? "G_ema." : "G.");
    else {
        size_t wl = strlen(which);
        if (wl == 0 || wl > 60)
            return sv_seterr(e, SV_ERR_INVALID, "checkpoint: bad network prefix '%.64s'", which);
        snprintf(prefix, sizeof prefix, "%s%s", which, which[wl - 1] == '.' ? "" : ".");
    }
    sv_params *p = g->params;
    /* check everything before changing anything */
    char name[1024];
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const sv_tensor *v = sv_params_at(p, i);
        snprintf(name, sizeof name, "%s%s", prefix, sv_params_name(p, i));
        const sv_st_tensor *t = sv_st_find(f, name);
        if (!t) {
            char want[128];
            shape_str(v->shape, v->ndim, want, sizeof want);
            return sv_seterr(e, SV_ERR_FORMAT, "%s: missing tensor '%s' (expected shape %s)", sv_st_path(f), name,
                             want);
        }
        int rc = sv_st_check_shape(f, t, v->ndim, v->shape, e);
        if (rc)
            return rc;
        if (t->dtype != SV_ST_F32 && t->dtype != SV_ST_F16 && t->dtype != SV_ST_BF16 && t->dtype != SV_ST_F64)
            return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected a float type", sv_st_path(f),
                             name, sv_st_dtype_name(t->dtype));
    }
    return sv_params_load(p, f, prefix, 1, e);
}

/* The configuration fields that shape or drive the generator. */
static int same_g_config(const sv_mconfig *a, const sv_mconfig *b)
{
    return a->resolution == b->resolution && a->z_dim == b->z_dim && a->w_dim == b->w_dim &&
           a->motion_z_dim == b->motion_z_dim && a->motion_v_dim == b->motion_v_dim &&
           a->time_enc_dim == b->time_enc_dim && a->channel_base == b->channel_base &&
           a->channel_max == b->channel_max && a->mapping_layers == b->mapping_layers &&
           a->motion_kernel_size == b->motion_kernel_size && a->motion_z_distance == b->motion_z_distance &&
           a->min_period_len == b->min_period_len && a->max_period_len == b->max_period_len &&
           a->max_num_frames == b->max_num_frames && a->conv_clamp == b->conv_clamp;
}

int sv_checkpoint_save_generator(const char *path, const sv_mconfig *cfg, sv_generator *g, sv_generator *g_ema,
                                 const char *const *extra_meta, sv_err *e)
{
    if (!path || !cfg || !g)
        return sv_seterr(e, SV_ERR_INVALID, "checkpoint: save needs a path, a configuration and a generator");
    int rc = sv_mconfig_validate(cfg, e);
    if (rc)
        return rc;
    if (!same_g_config(cfg, &g->cfg) || (g_ema && !same_g_config(cfg, &g_ema->cfg)))
        return sv_seterr(e, SV_ERR_INVALID, "%s: the generator was built for a different configuration", path);
    char *cj = sv_mconfig_to_json(cfg);
    sv_st_writer *w = sv_st_writer_new();
    if (!cj || !w) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        goto out;
    }
    if ((rc = sv_st_writer_meta(w, "format", SV_CHECKPOINT_FORMAT, e)))
        goto out;
    if ((rc = sv_st_writer_meta(w, "config", cj, e)))
        goto out;
    for (size_t i = 0; extra_meta && extra_meta[i]; i += 2) {
        if (!extra_meta[i + 1]) {
            rc = sv_seterr(e, SV_ERR_INVALID, "checkpoint: metadata key '%s' has no value", extra_meta[i]);
            goto out;
        }
        if (!strcmp(extra_meta[i], "format") || !strcmp(extra_meta[i], "config")) {
            rc = sv_seterr(e, SV_ERR_INVALID, "checkpoint: metadata key '%s' is reserved", extra_meta[i]);
            goto out;
        }
        if ((rc = sv_st_writer_meta(w, extra_meta[i], extra_meta[i + 1], e)))
            goto out;
    }
    if ((rc = sv_params_save(g->params, w, "G.", e)))
        goto out;
    if (g_ema && (rc = sv_params_save(g_ema->params, w, "G_ema.", e)))
        goto out;
    rc = sv_st_writer_save(w, path, e);
out:
    sv_st_writer_free(w);
    free(cj);
    return rc;
}
