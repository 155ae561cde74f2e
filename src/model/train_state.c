/* Training checkpoints: the full state of a trainer in one svgan checkpoint
 * (G, G_ema, D, Adam moments, counters, options, augmentation state), so an
 * interrupted run resumes bit for bit.  See svgan/trainer.h and
 * svgan-checkpoint(5). */
#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgan/trainer.h"

static const char *const set_prefix[6] = {"opt.G.m.", "opt.G.v.", "opt.D.m.", "opt.D.v.", "G.", "D."};

static sv_params *set_of(sv_trainer *tr, int i)
{
    switch (i) {
    case 0: return sv_trainer_adam_m(tr, 0);
    case 1: return sv_trainer_adam_v(tr, 0);
    case 2: return sv_trainer_adam_m(tr, 1);
    case 3: return sv_trainer_adam_v(tr, 1);
    case 4: return sv_generator_params(sv_trainer_generator(tr));
    default: return sv_discriminator_params(sv_trainer_discriminator(tr));
    }
}

static cJSON *opts_json(const sv_trainer_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    if (!j || !cJSON_AddNumberToObject(j, "batch", (double)o->batch) || !cJSON_AddNumberToObject(j, "lr_g", o->lr_g) ||
        !cJSON_AddNumberToObject(j, "lr_d", o->lr_d) || !cJSON_AddNumberToObject(j, "beta1", o->beta1) ||
        !cJSON_AddNumberToObject(j, "beta2", o->beta2) || !cJSON_AddNumberToObject(j, "eps", o->eps) ||
        !cJSON_AddNumberToObject(j, "g_reg_interval", o->g_reg_interval) ||
        !cJSON_AddNumberToObject(j, "d_reg_interval", o->d_reg_interval) ||
        !cJSON_AddNumberToObject(j, "r1_gamma", o->r1_gamma) || !cJSON_AddNumberToObject(j, "ema_kimg", o->ema_kimg) ||
        !cJSON_AddNumberToObject(j, "ema_rampup", o->ema_rampup) ||
        !cJSON_AddNumberToObject(j, "w_avg_beta", o->w_avg_beta) ||
        !cJSON_AddNumberToObject(j, "max_dist", o->max_dist) ||
        !cJSON_AddNumberToObject(j, "fake_video_len", o->fake_video_len) ||
        !cJSON_AddStringToObject(j, "nan_policy", o->nan_policy == SV_NAN_FAIL ? "fail" : "scrub") ||
        !cJSON_AddStringToObject(j, "seed", seed) ||
        !cJSON_AddStringToObject(j, "aug", o->aug == SV_AUGMODE_ADA ? "ada" : o->aug == SV_AUGMODE_FIXED ? "fixed" : "none") ||
        !cJSON_AddNumberToObject(j, "aug_p", o->aug_p) || !cJSON_AddNumberToObject(j, "aug_target", o->aug_target) ||
        !cJSON_AddNumberToObject(j, "ada_kimg", o->ada_kimg) || !cJSON_AddNumberToObject(j, "ada_interval", o->ada_interval)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int get_num(const cJSON *o, const char *key, double *out, const char *path, sv_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: training state: '%s' missing or not a number", path, key);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *key, int64_t lo, int64_t hi, int64_t *out, const char *path, sv_err *e)
{
    double d = 0;
    int rc = get_num(o, key, &d, path, e);
    if (rc)
        return rc;
    if (!(d == floor(d)) || d < (double)lo || d > (double)hi)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: training state: '%s' = %g is not an integer in [%lld, %lld]", path,
                         key, d, (long long)lo, (long long)hi);
    *out = (int64_t)d;
    return 0;
}

static int opts_from_json(const cJSON *j, sv_trainer_opts *o, const char *path, sv_err *e)
{
    if (!cJSON_IsObject(j))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: training state has no 'options' object", path);
    sv_trainer_opts_default(o);
    int64_t i;
    int rc;
    if ((rc = get_int(j, "batch", 1, 1 << 20, &o->batch, path, e)) || (rc = get_num(j, "lr_g", &o->lr_g, path, e)) ||
        (rc = get_num(j, "lr_d", &o->lr_d, path, e)) || (rc = get_num(j, "beta1", &o->beta1, path, e)) ||
        (rc = get_num(j, "beta2", &o->beta2, path, e)) || (rc = get_num(j, "eps", &o->eps, path, e)) ||
        (rc = get_num(j, "r1_gamma", &o->r1_gamma, path, e)) || (rc = get_num(j, "ema_kimg", &o->ema_kimg, path, e)) ||
        (rc = get_num(j, "w_avg_beta", &o->w_avg_beta, path, e)))
        return rc;
    if ((rc = get_int(j, "g_reg_interval", 1, 1 << 30, &i, path, e)))
        return rc;
    o->g_reg_interval = (int)i;
    if ((rc = get_int(j, "d_reg_interval", 1, 1 << 30, &i, path, e)))
        return rc;
    o->d_reg_interval = (int)i;
    if ((rc = get_int(j, "max_dist", 1, 1 << 30, &i, path, e)))
        return rc;
    o->max_dist = (int)i;
    if ((rc = get_int(j, "fake_video_len", -1, 1000000000, &i, path, e)))
        return rc;
    o->fake_video_len = (int)i;
    const cJSON *np = cJSON_GetObjectItemCaseSensitive(j, "nan_policy");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (!cJSON_IsString(np) || (strcmp(np->valuestring, "fail") && strcmp(np->valuestring, "scrub")))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: training state: 'nan_policy' must be \"scrub\" or \"fail\"", path);
    o->nan_policy = strcmp(np->valuestring, "fail") ? SV_NAN_SCRUB : SV_NAN_FAIL;
    char *end;
    errno = 0;
    if (!cJSON_IsString(sd) || !*sd->valuestring || (o->seed = strtoull(sd->valuestring, &end, 10), *end) || errno)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: training state: 'seed' must be a decimal string", path);
    /* EMA ramp-up (absent in the first training checkpoints: none) */
    const cJSON *er = cJSON_GetObjectItemCaseSensitive(j, "ema_rampup");
    if (er && (rc = get_num(j, "ema_rampup", &o->ema_rampup, path, e)))
        return rc;
    /* augmentation options (absent in the first training checkpoints: the defaults, no augmentation) */
    const cJSON *am = cJSON_GetObjectItemCaseSensitive(j, "aug");
    if (am) {
        if (!cJSON_IsString(am) || (strcmp(am->valuestring, "none") && strcmp(am->valuestring, "fixed") &&
                                    strcmp(am->valuestring, "ada")))
            return sv_seterr(e, SV_ERR_FORMAT, "%s: training state: 'aug' must be \"none\", \"fixed\" or \"ada\"", path);
        o->aug = !strcmp(am->valuestring, "ada") ? SV_AUGMODE_ADA
                 : !strcmp(am->valuestring, "fixed") ? SV_AUGMODE_FIXED : SV_AUGMODE_NONE;
        int64_t iv;
        int rc;
        if ((rc = get_num(j, "aug_p", &o->aug_p, path, e)) || (rc = get_num(j, "aug_target", &o->aug_target, path, e)) ||
            (rc = get_num(j, "ada_kimg", &o->ada_kimg, path, e)) ||
            (rc = get_int(j, "ada_interval", 1, 1 << 30, &iv, path, e)))
            return rc;
        o->ada_interval = (int)iv;
    }
    return 0;
}

int sv_trainer_save(sv_trainer *tr, const char *path, const char *const *extra_meta, sv_err *e)
{
    if (!tr || !path)
        return sv_seterr(e, SV_ERR_INVALID, "training checkpoint: no trainer or path");
    sv_generator *g = sv_trainer_generator(tr);
    const sv_mconfig *cfg = sv_generator_config(g);
    int rc = 0;
    char *cj = sv_mconfig_to_json(cfg), *tj = NULL;
    sv_st_writer *w = sv_st_writer_new();
    cJSON *t = cJSON_CreateObject();
    cJSON *oj = opts_json(sv_trainer_options(tr));
    double ap, acc;
    int64_t acn;
    sv_trainer_aug_state(tr, &ap, &acc, &acn);
    if (!cj || !w || !t || !oj || !cJSON_AddNumberToObject(t, "iteration", (double)sv_trainer_iteration_count(tr)) ||
        !cJSON_AddNumberToObject(t, "cur_nimg", (double)sv_trainer_cur_nimg(tr)) ||
        !cJSON_AddNumberToObject(t, "steps_g", (double)sv_trainer_adam_steps(tr, 0)) ||
        !cJSON_AddNumberToObject(t, "steps_d", (double)sv_trainer_adam_steps(tr, 1)) ||
        !cJSON_AddNumberToObject(t, "aug_p", ap) || !cJSON_AddNumberToObject(t, "ada_sign_sum", acc) ||
        !cJSON_AddNumberToObject(t, "ada_count", (double)acn)) {
        cJSON_Delete(oj);
        rc = sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        goto out;
    }
    cJSON_AddItemToObject(t, "options", oj);
    if (!(tj = cJSON_PrintUnformatted(t))) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        goto out;
    }
    if ((rc = sv_st_writer_meta(w, "format", SV_CHECKPOINT_FORMAT, e)) || (rc = sv_st_writer_meta(w, "config", cj, e)) ||
        (rc = sv_st_writer_meta(w, "training", tj, e)))
        goto out;
    for (size_t i = 0; extra_meta && extra_meta[i]; i += 2) {
        if (!extra_meta[i + 1] || !strcmp(extra_meta[i], "format") || !strcmp(extra_meta[i], "config") ||
            !strcmp(extra_meta[i], "training")) {
            rc = sv_seterr(e, SV_ERR_INVALID, "training checkpoint: metadata key '%s' is reserved or has no value",
                           extra_meta[i]);
            goto out;
        }
        if ((rc = sv_st_writer_meta(w, extra_meta[i], extra_meta[i + 1], e)))
            goto out;
    }
    if ((rc = sv_params_save(sv_generator_params(g), w, "G.", e)) ||
        (rc = sv_params_save(sv_generator_params(sv_trainer_generator_ema(tr)), w, "G_ema.", e)))
        goto out;
    for (int s = 0; s < 6; s++)
        if (s != 4 && (rc = sv_params_save(set_of(tr, s), w, set_prefix[s], e)))
            goto out;
    rc = sv_st_writer_save(w, path, e);
out:
    sv_st_writer_free(w);
    cJSON_Delete(t);
    free(cj);
    free(tj);
    return rc;
}

int sv_trainer_save_ema(sv_trainer *tr, const char *path, const char *const *extra_meta, sv_err *e)
{
    if (!tr || !path)
        return sv_seterr(e, SV_ERR_INVALID, "checkpoint: no trainer or path");
    sv_generator *ge = sv_trainer_generator_ema(tr);
    char *cj = sv_mconfig_to_json(sv_generator_config(ge));
    sv_st_writer *w = sv_st_writer_new();
    int rc = 0;
    if (!cj || !w) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        goto out;
    }
    if ((rc = sv_st_writer_meta(w, "format", SV_CHECKPOINT_FORMAT, e)) || (rc = sv_st_writer_meta(w, "config", cj, e)))
        goto out;
    for (size_t i = 0; extra_meta && extra_meta[i]; i += 2) {
        if (!extra_meta[i + 1] || !strcmp(extra_meta[i], "format") || !strcmp(extra_meta[i], "config") ||
            !strcmp(extra_meta[i], "training")) {
            rc = sv_seterr(e, SV_ERR_INVALID, "checkpoint: metadata key '%s' is reserved or has no value", extra_meta[i]);
            goto out;
        }
        if ((rc = sv_st_writer_meta(w, extra_meta[i], extra_meta[i + 1], e)))
            goto out;
    }
    if ((rc = sv_params_save(sv_generator_params(ge), w, "G_ema.", e)))
        goto out;
    rc = sv_st_writer_save(w, path, e);
out:
    sv_st_writer_free(w);
    free(cj);
    return rc;
}

/* Opens path and parses its "training" metadata (caller closes / deletes). */
static int open_state(const char *path, sv_st_file **f, sv_mconfig *cfg, cJSON **tj, sv_err *e)
{
    *tj = NULL;
    int rc = sv_checkpoint_open(path, f, cfg, e);
    if (rc)
        return rc;
    const char *ts = sv_st_metadata(*f, "training");
    if (!ts)
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: not a training checkpoint (no 'training' metadata; a model file "
                       "holds no discriminator or optimiser state)", path);
    else if (!(*tj = cJSON_Parse(ts)) || !cJSON_IsObject(*tj))
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: 'training' metadata is not a JSON object", path);
    if (rc) {
        cJSON_Delete(*tj);
        *tj = NULL;
        sv_st_close(*f);
        *f = NULL;
    }
    return rc;
}

int sv_trainer_checkpoint_info(const char *path, sv_mconfig *cfg, sv_trainer_opts *opts, sv_err *e)
{
    sv_st_file *f = NULL;
    cJSON *tj = NULL;
    sv_mconfig c;
    int rc = open_state(path, &f, &c, &tj, e);
    if (rc)
        return rc;
    sv_trainer_opts o;
    rc = opts_from_json(cJSON_GetObjectItemCaseSensitive(tj, "options"), &o, path, e);
    if (!rc && cfg)
        *cfg = c;
    if (!rc && opts)
        *opts = o;
    cJSON_Delete(tj);
    sv_st_close(f);
    return rc;
}

/* Every tensor of the set present under prefix with its exact shape and F32. */
static int check_set(const sv_st_file *f, sv_params *p, const char *prefix, sv_err *e)
{
    char name[1024];
    for (size_t i = 0; i < sv_params_count(p); i++) {
        const sv_tensor *v = sv_params_at(p, i);
        snprintf(name, sizeof name, "%s%s", prefix, sv_params_name(p, i));
        const sv_st_tensor *t = sv_st_find(f, name);
        if (!t)
            return sv_seterr(e, SV_ERR_FORMAT, "%s: training checkpoint: missing tensor '%s'", sv_st_path(f), name);
        int rc = sv_st_check_shape(f, t, v->ndim, v->shape, e);
        if (rc)
            return rc;
        if (t->dtype != SV_ST_F32)
            return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s' has dtype %s, training state must be F32",
                             sv_st_path(f), name, sv_st_dtype_name(t->dtype));
    }
    return 0;
}

static int same_cfg(const sv_mconfig *a, const sv_mconfig *b)
{
    char *x = sv_mconfig_to_json(a), *y = sv_mconfig_to_json(b);
    int same = x && y && !strcmp(x, y);
    free(x);
    free(y);
    return same;
}

int sv_trainer_load_state(sv_trainer *tr, const char *path, sv_err *e)
{
    if (!tr || !path)
        return sv_seterr(e, SV_ERR_INVALID, "training checkpoint: no trainer or path");
    sv_st_file *f = NULL;
    cJSON *tj = NULL;
    sv_mconfig c;
    int rc = open_state(path, &f, &c, &tj, e);
    if (rc)
        return rc;
    int64_t it = 0, nimg = 0, sg = 0, sd = 0, acn = 0;
    double ap = 0, acc = 0;
    sv_trainer_opts o;
    if ((rc = get_int(tj, "iteration", 0, (int64_t)1 << 52, &it, path, e)) ||
        (rc = get_int(tj, "cur_nimg", 0, (int64_t)1 << 52, &nimg, path, e)) ||
        (rc = get_int(tj, "steps_g", 0, (int64_t)1 << 52, &sg, path, e)) ||
        (rc = get_int(tj, "steps_d", 0, (int64_t)1 << 52, &sd, path, e)) || (rc = get_num(tj, "aug_p", &ap, path, e)) ||
        (rc = get_num(tj, "ada_sign_sum", &acc, path, e)) ||
        (rc = get_int(tj, "ada_count", 0, (int64_t)1 << 52, &acn, path, e)) ||
        (rc = opts_from_json(cJSON_GetObjectItemCaseSensitive(tj, "options"), &o, path, e)))
        goto out;
    if (!same_cfg(&c, sv_generator_config(sv_trainer_generator(tr)))) {
        rc = sv_seterr(e, SV_ERR_INVALID, "%s: the trainer was built for a different model configuration", path);
        goto out;
    }
    sv_params *ge = sv_generator_params(sv_trainer_generator_ema(tr));
    if ((rc = check_set(f, ge, "G_ema.", e)))
        goto out;
    for (int s = 0; s < 6; s++)
        if ((rc = check_set(f, set_of(tr, s), set_prefix[s], e)))
            goto out;
    /* everything is there: load */
    if ((rc = sv_params_load(ge, f, "G_ema.", 1, e)))
        goto out;
    for (int s = 0; s < 6; s++)
        if ((rc = sv_params_load(set_of(tr, s), f, set_prefix[s], 1, e)))
            goto out;
    sv_trainer_set_counters(tr, it, nimg, sg, sd);
    sv_trainer_set_aug_state(tr, ap, acc, acn);
out:
    cJSON_Delete(tj);
    sv_st_close(f);
    return rc;
}
