/* Parameter sets packed into one flat device buffer. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "svgan/params.h"

typedef struct sv_param {
    char *name;
    int ndim;
    int64_t shape[SV_MAX_DIMS];
    size_t off;
    sv_tensor view;
} sv_param;

struct sv_params {
    sv_ctx *ctx;
    sv_param *v;
    size_t n, cap;
    size_t total;
    int final;
    sv_tensor flat;
};

int sv_params_new(sv_ctx *ctx, sv_params **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return sv_seterr(&ctx->err, SV_ERR_NOMEM, "out of host memory");
    (*out)->ctx = ctx;
    return SV_OK;
}

void sv_params_free(sv_params *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].name);
        sv_tensor_free(&p->v[i].view);
    }
    sv_tensor_free(&p->flat);
    free(p->v);
    free(p);
}

int sv_params_add(sv_params *p, const char *name, int ndim, const int64_t *shape)
{
    sv_err *e = &p->ctx->err;
    if (p->final)
        return sv_seterr(e, SV_ERR_INVALID, "params: '%s' added after finalize", name);
    if (ndim < 0 || ndim > SV_MAX_DIMS)
        return sv_seterr(e, SV_ERR_INVALID, "params: '%s' has %d dimensions", name, ndim);
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].name, name))
            return sv_seterr(e, SV_ERR_INVALID, "params: duplicate parameter '%s'", name);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return sv_seterr(e, SV_ERR_INVALID, "params: '%s' has a negative dimension", name);
    if (p->n == p->cap) {
        size_t nc = p->cap ? 2 * p->cap : 32;
        sv_param *nv = realloc(p->v, nc * sizeof *nv);
        if (!nv)
            return sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        p->v = nv;
        p->cap = nc;
    }
    sv_param *q = &p->v[p->n];
    memset(q, 0, sizeof *q);
    q->name = strdup(name);
    if (!q->name)
        return sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
    q->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        q->shape[i] = shape[i];
    q->off = p->total;
    /* keep every parameter 16-element aligned (64 bytes): friendlier to
     * vector loads and to sub-buffer rules on some drivers */
    p->total += ((size_t)sv_shape_numel(ndim, shape) + 15) & ~(size_t)15;
    p->n++;
    return SV_OK;
}

int sv_params_finalize(sv_params *p)
{
    if (p->final)
        return SV_OK;
    int64_t n = (int64_t)(p->total ? p->total : 1);
    int rc = sv_tensor_zeros(p->ctx, &p->flat, 1, &n);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->n; i++) {
        rc = sv_tensor_view(&p->flat, &p->v[i].view, p->v[i].off, p->v[i].ndim, p->v[i].shape);
        if (rc)
            return rc;
    }
    p->final = 1;
    return SV_OK;
}

int sv_params_clone_layout(const sv_params *p, sv_params **out)
{
    int rc = sv_params_new(p->ctx, out);
    if (rc)
        return rc;
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = sv_params_add(*out, p->v[i].name, p->v[i].ndim, p->v[i].shape);
    if (!rc)
        rc = sv_params_finalize(*out);
    if (rc) {
        sv_params_free(*out);
        *out = NULL;
    }
    return rc;
}

size_t sv_params_count(const sv_params *p) { return p->n; }
const char *sv_params_name(const sv_params *p, size_t i) { return i < p->n ? p->v[i].name : NULL; }
sv_tensor *sv_params_at(sv_params *p, size_t i) { return p->final && i < p->n ? &p->v[i].view : NULL; }
sv_tensor *sv_params_flat(sv_params *p) { return p->final ? &p->flat : NULL; }
int64_t sv_params_numel(const sv_params *p) { return (int64_t)p->total; }

sv_tensor *sv_params_get(sv_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].name, name))
            return sv_params_at(p, i);
    return NULL;
}

int sv_params_load(sv_params *p, const sv_st_file *f, const char *prefix, int strict, sv_err *e)
{
    if (!p->final)
        return sv_seterr(e, SV_ERR_INVALID, "params: load before finalize");
    size_t pl = strlen(prefix);
    char name[1024];
    for (size_t i = 0; i < p->n; i++) {
        sv_param *q = &p->v[i];
        snprintf(name, sizeof name, "%s%s", prefix, q->name);
        const sv_st_tensor *t;
        int rc = sv_st_get(f, name, &t, e);
        if (rc)
            return rc;
        rc = sv_st_check_shape(f, t, q->ndim, q->shape, e);
        if (rc)
            return rc;
        size_t n = (size_t)sv_numel(&q->view);
        float *h = malloc((n ? n : 1) * sizeof *h);
        if (!h)
            return sv_seterr(e, SV_ERR_NOMEM, "out of host memory");
        rc = sv_st_read_f32(f, name, h, n, e);
        if (!rc && sv_tensor_write(&q->view, h, n)) {
            *e = p->ctx->err;
            rc = e->code;
        }
        free(h);
        if (rc)
            return rc;
    }
    if (strict) {
        for (size_t i = 0; i < sv_st_count(f); i++) {
            const char *fn = sv_st_name(f, i);
            if (strncmp(fn, prefix, pl))
                continue;
            if (!sv_params_get(p, fn + pl))
                return sv_seterr(e, SV_ERR_FORMAT, "%s: unexpected tensor '%s' (not a parameter of this model)",
                                 sv_st_path(f), fn);
        }
    }
    return SV_OK;
}

int sv_params_save(sv_params *p, sv_st_writer *w, const char *prefix, sv_err *e)
{
    char name[1024];
    for (size_t i = 0; i < p->n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, p->v[i].name);
        int rc = sv_st_writer_add_tensor(w, name, &p->v[i].view, e);
        if (rc)
            return rc;
    }
    return SV_OK;
}
