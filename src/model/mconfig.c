/* Model configuration: defaults, presets, JSON, validation, derived sizes
 * (spec §2, §3, §4.1, spec/benchmarks.md). */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "generator_internal.h"

/* Integer fields, in the order they are written to JSON. */
static const struct {
    const char *key;
    size_t off;
} int_fields[] = {
#define F(name) {#name, offsetof(sv_mconfig, name)}
    F(resolution),       F(z_dim),          F(w_dim),
    F(motion_z_dim),     F(motion_v_dim),   F(time_enc_dim),
    F(channel_base),     F(channel_max),    F(mapping_layers),
    F(motion_kernel_size), F(motion_z_distance), F(min_period_len),
    F(max_period_len),   F(max_num_frames), F(frames_per_clip),
    F(d_concat_res),     F(d_num_frames_div_factor), F(mbstd_group_size),
    F(d_mapping_layers),
#undef F
};
#define N_INT_FIELDS (sizeof int_fields / sizeof int_fields[0])

static int *ifield(sv_mconfig *c, size_t i) { return (int *)(void *)((char *)c + int_fields[i].off); }
static int ifield_get(const sv_mconfig *c, size_t i)
{
    return *(const int *)(const void *)((const char *)c + int_fields[i].off);
}

void sv_mconfig_default(sv_mconfig *c)
{
    memset(c, 0, sizeof *c);
    c->resolution = 256;
    c->z_dim = 512;
    c->w_dim = 512;
    c->motion_z_dim = 512;
    c->motion_v_dim = 512;
    c->time_enc_dim = 256;
    c->channel_base = 16384;
    c->channel_max = 512;
    c->mapping_layers = 2;
    c->motion_kernel_size = 11;
    c->motion_z_distance = 16;
    c->min_period_len = 16;
    c->max_period_len = 1024;
    c->max_num_frames = 1024;
    c->frames_per_clip = 3;
    c->d_concat_res = 16;
    c->d_num_frames_div_factor = 2;
    c->mbstd_group_size = 4;
    c->d_mapping_layers = 2;
    c->conv_clamp = 256.0;
}

static const char *const preset_names[] = {"paper256", "default64", "small", "tiny32", NULL};

const char *const *sv_mconfig_preset_names(void) { return preset_names; }

int sv_mconfig_preset(const char *name, sv_mconfig *c, sv_err *e)
{
    sv_mconfig_default(c);
    if (name && !strcmp(name, "paper256"))
        return 0;
    if (name && !strcmp(name, "default64")) {
        c->resolution = 64;
        return 0;
    }
    if (name && !strcmp(name, "small")) {
        c->resolution = 64;
        c->channel_base = 4096;
        c->channel_max = 128;
        c->z_dim = c->w_dim = c->motion_z_dim = c->motion_v_dim = 128;
        c->time_enc_dim = 64;
        return 0;
    }
    if (name && !strcmp(name, "tiny32")) {
        /* the configuration of the reference bundle tiny32-k3 */
        c->resolution = 32;
        c->channel_base = 512;
        c->channel_max = 32;
        c->z_dim = c->w_dim = c->motion_z_dim = c->motion_v_dim = 64;
        c->time_enc_dim = 32;
        c->conv_clamp = -1;
        return 0;
    }
    char list[256] = "";
    for (int i = 0; preset_names[i]; i++) {
        if (i)
            strcat(list, ", ");
        strcat(list, preset_names[i]);
    }
    return sv_seterr(e, SV_ERR_INVALID, "unknown preset '%s' (valid: %s)", name ? name : "(null)", list);
}

int sv_mconfig_from_json(const char *json, sv_mconfig *c, sv_err *e)
{
    if (!json)
        return sv_seterr(e, SV_ERR_INVALID, "model config: no JSON text");
    cJSON *root = cJSON_Parse(json);
    if (!root)
        return sv_seterr(e, SV_ERR_FORMAT, "model config: invalid JSON");
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sv_seterr(e, SV_ERR_FORMAT, "model config: not a JSON object");
    }
    sv_mconfig tmp;
    sv_mconfig_default(&tmp);
    int rc = 0;
    for (size_t i = 0; i < N_INT_FIELDS && !rc; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, int_fields[i].key);
        if (!v)
            continue;
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!cJSON_IsNumber(v) || !(d == floor(d)) || d < -2147483648.0 || d > 2147483647.0)
            rc = sv_seterr(e, SV_ERR_FORMAT, "model config: key '%s' must be an integer", int_fields[i].key);
        else
            *ifield(&tmp, i) = (int)d;
    }
    if (!rc) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "conv_clamp");
        if (v) {
            if (cJSON_IsNull(v))
                tmp.conv_clamp = -1;
            else if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
                tmp.conv_clamp = v->valuedouble;
            else
                rc = sv_seterr(e, SV_ERR_FORMAT, "model config: key 'conv_clamp' must be a number or null");
        }
    }
    cJSON_Delete(root);
    if (!rc)
        *c = tmp;
    return rc;
}

char *sv_mconfig_to_json(const sv_mconfig *c)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int ok = 1;
    for (size_t i = 0; i < N_INT_FIELDS && ok; i++)
        ok = cJSON_AddNumberToObject(o, int_fields[i].key, ifield_get(c, i)) != NULL;
    if (ok) {
        if (c->conv_clamp < 0)
            ok = cJSON_AddNullToObject(o, "conv_clamp") != NULL;
        else
            ok = cJSON_AddNumberToObject(o, "conv_clamp", c->conv_clamp) != NULL;
    }
    char *txt = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!txt)
        return NULL;
    /* hand back memory the caller can free() whatever cJSON's allocator is */
    char *out = strdup(txt);
    cJSON_free(txt);
    return out;
}

static int is_pow2(int v) { return v > 0 && (v & (v - 1)) == 0; }

int sv_mconfig_validate(const sv_mconfig *c, sv_err *e)
{
    if (!is_pow2(c->resolution) || c->resolution < 32 || c->resolution > 1024)
        return sv_seterr(e, SV_ERR_INVALID, "model config: resolution %d is not a power of two in 32..1024",
                         c->resolution);
    /* latent sizes: positive and small enough that no size computation overflows */
    static const char *const dims[] = {"z_dim", "w_dim", "motion_z_dim", "motion_v_dim", "time_enc_dim",
                                       "channel_max"};
    const int dv[] = {c->z_dim, c->w_dim, c->motion_z_dim, c->motion_v_dim, c->time_enc_dim, c->channel_max};
    for (int i = 0; i < 6; i++)
        if (dv[i] < 1 || dv[i] > 65536)
            return sv_seterr(e, SV_ERR_INVALID, "model config: %s = %d is outside 1..65536", dims[i], dv[i]);
    if (c->channel_base < c->resolution || c->channel_base > (1 << 26))
        return sv_seterr(e, SV_ERR_INVALID,
                         "model config: channel_base = %d must be at least the resolution (%d) and at most 2^26",
                         c->channel_base, c->resolution);
    if (c->mapping_layers < 1 || c->mapping_layers > 64)
        return sv_seterr(e, SV_ERR_INVALID, "model config: mapping_layers = %d is outside 1..64", c->mapping_layers);
    if (c->motion_kernel_size < 1 || c->motion_kernel_size > 1024)
        return sv_seterr(e, SV_ERR_INVALID, "model config: motion_kernel_size = %d is outside 1..1024",
                         c->motion_kernel_size);
    if (c->motion_z_distance < 1 || c->motion_z_distance > (1 << 24))
        return sv_seterr(e, SV_ERR_INVALID, "model config: motion_z_distance = %d is outside 1..2^24",
                         c->motion_z_distance);
    if (c->min_period_len < 1 || c->min_period_len > (1 << 24))
        return sv_seterr(e, SV_ERR_INVALID, "model config: min_period_len = %d is outside 1..2^24", c->min_period_len);
    if (c->max_period_len < c->min_period_len || c->max_period_len > (1 << 24))
        return sv_seterr(e, SV_ERR_INVALID, "model config: max_period_len = %d must be in min_period_len (%d)..2^24",
                         c->max_period_len, c->min_period_len);
    if (c->max_num_frames < 1 || c->max_num_frames > (1 << 30))
        return sv_seterr(e, SV_ERR_INVALID, "model config: max_num_frames = %d is outside 1..2^30", c->max_num_frames);
    if (c->frames_per_clip < 1 || c->frames_per_clip > 4096)
        return sv_seterr(e, SV_ERR_INVALID, "model config: frames_per_clip = %d is outside 1..4096",
                         c->frames_per_clip);
    if (!is_pow2(c->d_concat_res) || c->d_concat_res < 4 || c->d_concat_res > c->resolution)
        return sv_seterr(e, SV_ERR_INVALID, "model config: d_concat_res = %d is not a power of two in 4..resolution",
                         c->d_concat_res);
    if (c->d_num_frames_div_factor < 1 || c->d_num_frames_div_factor > 4096)
        return sv_seterr(e, SV_ERR_INVALID, "model config: d_num_frames_div_factor = %d is outside 1..4096",
                         c->d_num_frames_div_factor);
    if (c->mbstd_group_size < 1 || c->mbstd_group_size > 4096)
        return sv_seterr(e, SV_ERR_INVALID, "model config: mbstd_group_size = %d is outside 1..4096",
                         c->mbstd_group_size);
    if (c->d_mapping_layers < 1 || c->d_mapping_layers > 64)
        return sv_seterr(e, SV_ERR_INVALID, "model config: d_mapping_layers = %d is outside 1..64",
                         c->d_mapping_layers);
    if (isnan(c->conv_clamp) || c->conv_clamp == 0 || isinf(c->conv_clamp))
        return sv_seterr(e, SV_ERR_INVALID, "model config: conv_clamp must be positive (or null for none)");
    return 0;
}

int sv_mconfig_channels(const sv_mconfig *c, int res)
{
    if (res <= 0)
        return 0;
    int v = c->channel_base / res;
    return v < c->channel_max ? v : c->channel_max;
}

int sv_mconfig_num_ws(const sv_mconfig *c)
{
    int l = 0;
    while ((1 << (l + 1)) <= c->resolution)
        l++;
    return 2 * l - 2;
}

int64_t sv_mconfig_motion_tokens(const sv_mconfig *c, double t_max)
{
    if (isnan(t_max) || c->motion_z_distance < 1)
        return -1;
    double m = (double)(c->max_num_frames - 1);
    if (t_max > m)
        m = t_max;
    double q = ceil(m / (double)c->motion_z_distance);
    if (!(q < 4e18))
        return -1;
    return (int64_t)q + 2 + 2 * (int64_t)(c->motion_kernel_size - 1);
}
