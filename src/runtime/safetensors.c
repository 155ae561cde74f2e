/* svgan — safetensors reader and writer.  See include/svgan/safetensors.h. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "svgan/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "svgan's safetensors code assumes a little-endian host"
#endif

#define MAX_EXACT (UINT64_C(1) << 53) /* largest integer a JSON number (double) holds exactly */

/* ---- dtypes ------------------------------------------------------------ */
static const struct {
    const char *name;
    size_t size;
} dtypes[SV_ST_NDTYPES] = {
    [SV_ST_F32] = {"F32", 4}, [SV_ST_F16] = {"F16", 2}, [SV_ST_BF16] = {"BF16", 2}, [SV_ST_F64] = {"F64", 8},
    [SV_ST_I64] = {"I64", 8}, [SV_ST_I32] = {"I32", 4}, [SV_ST_I16] = {"I16", 2},   [SV_ST_I8] = {"I8", 1},
    [SV_ST_U8] = {"U8", 1},   [SV_ST_BOOL] = {"BOOL", 1}, [SV_ST_U16] = {"U16", 2}, [SV_ST_U32] = {"U32", 4},
    [SV_ST_U64] = {"U64", 8},
};

static int dtype_ok(sv_st_dtype t) { return (int)t >= 0 && (int)t < SV_ST_NDTYPES; }

const char *sv_st_dtype_name(sv_st_dtype t) { return dtype_ok(t) ? dtypes[t].name : "?"; }
size_t sv_st_dtype_size(sv_st_dtype t) { return dtype_ok(t) ? dtypes[t].size : 0; }

int sv_st_dtype_parse(const char *s, sv_st_dtype *out)
{
    if (s)
        for (int i = 0; i < SV_ST_NDTYPES; i++)
            if (!strcmp(s, dtypes[i].name)) {
                *out = (sv_st_dtype)i;
                return SV_OK;
            }
    return SV_ERR_INVALID;
}

/* ---- small helpers ----------------------------------------------------- */

/* A name made printable and short for a one-line message. */
static const char *pname(const char *s, char *buf, size_t n)
{
    size_t k = 0, i = 0;
    for (; s[i] && k + 4 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (s[i]) {
        buf[k++] = '.';
        buf[k++] = '.';
        buf[k++] = '.';
    }
    buf[k] = 0;
    return buf;
}
#define PN(s) pname((s), (char[72]){0}, 72)

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (k < n)
        snprintf(buf + k, n - k, "]");
    return buf;
}
#define SHAPE(nd, s) shape_str((nd), (s), (char[200]){0}, 200)

/* Length of the valid UTF-8 prefix of s[0..n) with no NUL byte; == n when all
 * of it is valid.  Rejects overlong forms, surrogates and code points above
 * U+10FFFF. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned min, cp;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else
            return i;
        if (n - i < len)
            return i;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += len;
    }
    return n;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* ---- reader ------------------------------------------------------------ */
typedef struct st_meta {
    char *key, *value;
} st_meta;

struct sv_st_file {
    char *path;
    unsigned char *buf; /* whole file */
    size_t size;
    int mapped;
    const unsigned char *data; /* data area */
    uint64_t data_size;
    size_t n;
    sv_st_tensor *t;          /* header order */
    const sv_st_tensor **sorted; /* by name */
    size_t nmeta;
    st_meta *meta; /* sorted by key */
};

static void file_free(sv_st_file *f)
{
    if (!f)
        return;
    if (f->t)
        for (size_t i = 0; i < f->n; i++)
            free((char *)f->t[i].name);
    free(f->t);
    free(f->sorted);
    for (size_t i = 0; i < f->nmeta; i++) {
        free(f->meta[i].key);
        free(f->meta[i].value);
    }
    free(f->meta);
    if (f->buf) {
        if (f->mapped)
            munmap(f->buf, f->size);
        else
            free(f->buf);
    }
    free(f->path);
    free(f);
}

void sv_st_close(sv_st_file *f) { file_free(f); }

static int cmp_tensor_name(const void *a, const void *b)
{
    const sv_st_tensor *x = *(const sv_st_tensor *const *)a, *y = *(const sv_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const sv_st_tensor *x = *(const sv_st_tensor *const *)a, *y = *(const sv_st_tensor *const *)b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return 0;
}

/* A JSON number that is a non-negative integer <= 2^53: 1 and *v; 0 otherwise. */
static int json_uint(const cJSON *x, uint64_t *v)
{
    if (!cJSON_IsNumber(x))
        return 0;
    double d = x->valuedouble;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > (double)MAX_EXACT)
        return 0;
    *v = (uint64_t)d;
    return 1;
}

/* Describe a JSON value for a message ("-3", "\"a\"", "null", "an array"). */
static const char *json_desc(const cJSON *x, char *buf, size_t n)
{
    if (!x)
        snprintf(buf, n, "missing");
    else if (cJSON_IsNumber(x))
        snprintf(buf, n, "%.17g", x->valuedouble);
    else if (cJSON_IsString(x))
        snprintf(buf, n, "a string");
    else if (cJSON_IsArray(x))
        snprintf(buf, n, "an array");
    else if (cJSON_IsObject(x))
        snprintf(buf, n, "an object");
    else if (cJSON_IsBool(x))
        snprintf(buf, n, "a boolean");
    else if (cJSON_IsNull(x))
        snprintf(buf, n, "null");
    else
        snprintf(buf, n, "invalid");
    return buf;
}
#define JD(x) json_desc((x), (char[40]){0}, 40)

static int parse_entry(sv_st_file *f, const cJSON *item, sv_st_tensor *t, sv_err *e)
{
    const char *P = f->path, *N = PN(t->name);
    if (!cJSON_IsObject(item))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': entry is %s, not an object", P, N, JD(item));
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!dt)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': missing field 'dtype'", P, N);
    if (!sh)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': missing field 'shape'", P, N);
    if (!of)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': missing field 'data_offsets'", P, N);
    if (!cJSON_IsString(dt))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': dtype is %s, not a string", P, N, JD(dt));
    if (sv_st_dtype_parse(dt->valuestring, &t->dtype))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", P, N, PN(dt->valuestring));
    if (!cJSON_IsArray(sh))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': shape is %s, not an array", P, N, JD(sh));
    int nd = cJSON_GetArraySize(sh);
    if (nd > SV_ST_MAX_DIMS)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': shape has %d dimensions (at most %d)", P, N, nd,
                         SV_ST_MAX_DIMS);
    t->ndim = nd;
    int k = 0, zero = 0;
    for (const cJSON *d = sh->child; d; d = d->next, k++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': shape[%d] is %s, not a non-negative integer", P,
                             N, k, JD(d));
        t->shape[k] = (int64_t)v;
        zero |= v == 0;
    }
    /* numel with overflow check: a product above 2^53 cannot fit any file */
    uint64_t numel = 1;
    if (zero)
        numel = 0;
    else
        for (int i = 0; i < nd; i++) {
            uint64_t d = (uint64_t)t->shape[i];
            if (numel > MAX_EXACT / d)
                return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': shape %s has too many elements", P, N,
                                 SHAPE(nd, t->shape));
            numel *= d;
        }
    uint64_t nbytes = numel * dtypes[t->dtype].size;
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': data_offsets is not an array of two integers", P, N);
    uint64_t b, en;
    if (!json_uint(of->child, &b) || !json_uint(of->child->next, &en))
        return sv_seterr(e, SV_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%s, %s] are not two non-negative integers", P, N,
                         JD(of->child), JD(of->child->next));
    if (b > en)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] begin after end",
                         P, N, b, en);
    if (en > f->data_size)
        return sv_seterr(e, SV_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] exceed the data area of %" PRIu64
                         " bytes",
                         P, N, b, en, f->data_size);
    if (en - b != nbytes)
        return sv_seterr(e, SV_ERR_FORMAT,
                         "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                         " bytes, shape %s %s needs %" PRIu64,
                         P, N, b, en, en - b, SHAPE(nd, t->shape), dtypes[t->dtype].name, nbytes);
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)nbytes;
    t->offset = b;
    t->data = f->data + b;
    return SV_OK;
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

static int parse_metadata(sv_st_file *f, const cJSON *m, sv_err *e)
{
    const char *P = f->path;
    if (!cJSON_IsObject(m))
        return sv_seterr(e, SV_ERR_FORMAT, "%s: __metadata__ is %s, not an object", P, JD(m));
    size_t n = (size_t)cJSON_GetArraySize(m);
    f->meta = calloc(n ? n : 1, sizeof *f->meta);
    if (!f->meta)
        return sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", P);
    for (const cJSON *x = m->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return sv_seterr(e, SV_ERR_FORMAT, "%s: __metadata__ '%s' is %s, not a string", P, PN(x->string),
                             JD(x));
        char *k = strdup(x->string), *v = strdup(x->valuestring);
        if (!k || !v) {
            free(k);
            free(v);
            return sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", P);
        }
        f->meta[f->nmeta].key = k;
        f->meta[f->nmeta].value = v;
        f->nmeta++;
    }
    qsort(f->meta, f->nmeta, sizeof *f->meta, cmp_meta);
    for (size_t i = 1; i < f->nmeta; i++)
        if (!strcmp(f->meta[i - 1].key, f->meta[i].key))
            return sv_seterr(e, SV_ERR_FORMAT, "%s: duplicate __metadata__ key '%s'", P, PN(f->meta[i].key));
    return SV_OK;
}

static int parse_file(sv_st_file *f, sv_err *e)
{
    const char *P = f->path;
    if (f->size < 8)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: file is %zu bytes, too short for a safetensors header", P, f->size);
    uint64_t hn = le64(f->buf);
    if (hn > f->size - 8)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the file size (%zu bytes)", P, hn,
                         f->size);
    if (hn > SV_ST_MAX_HEADER)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes", P,
                         hn, (uint64_t)SV_ST_MAX_HEADER);
    const char *hdr = (const char *)f->buf + 8;
    size_t hl = (size_t)hn;
    f->data = f->buf + 8 + hl;
    f->data_size = (uint64_t)(f->size - 8 - hl);
    size_t ok = utf8_valid_prefix((const unsigned char *)hdr, hl);
    if (ok != hl)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: header is not valid UTF-8 text (byte %zu of %zu)", P, ok, hl);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hl, &end, 0);
    if (!root) {
        size_t pos = (end && end >= hdr && end <= hdr + hl) ? (size_t)(end - hdr) : 0;
        return sv_seterr(e, SV_ERR_FORMAT, "%s: header is not valid JSON (near byte %zu of %zu)", P, pos, hl);
    }
    int rc = SV_OK;
    for (const char *p = end; p < hdr + hl; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s: header has trailing characters after the JSON object (byte %zu)", P,
                           (size_t)(p - hdr));
            goto out;
        }
    if (!cJSON_IsObject(root)) {
        rc = sv_seterr(e, SV_ERR_FORMAT, "%s: header is %s, not a JSON object", P, JD(root));
        goto out;
    }
    size_t nall = (size_t)cJSON_GetArraySize(root);
    f->t = calloc(nall ? nall : 1, sizeof *f->t);
    f->sorted = calloc(nall ? nall : 1, sizeof *f->sorted);
    if (!f->t || !f->sorted) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", P);
        goto out;
    }
    int seen_meta = 0;
    for (const cJSON *x = root->child; x; x = x->next) {
        if (!strcmp(x->string, "__metadata__")) {
            if (seen_meta) {
                rc = sv_seterr(e, SV_ERR_FORMAT, "%s: duplicate __metadata__", P);
                goto out;
            }
            seen_meta = 1;
            if ((rc = parse_metadata(f, x, e)))
                goto out;
            continue;
        }
        sv_st_tensor *t = &f->t[f->n];
        if (!(t->name = strdup(x->string))) {
            rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", P);
            goto out;
        }
        f->n++;
        if ((rc = parse_entry(f, x, t, e)))
            goto out;
    }
    /* duplicate names */
    for (size_t i = 0; i < f->n; i++)
        f->sorted[i] = &f->t[i];
    qsort(f->sorted, f->n, sizeof *f->sorted, cmp_tensor_name);
    for (size_t i = 1; i < f->n; i++)
        if (!strcmp(f->sorted[i - 1]->name, f->sorted[i]->name)) {
            rc = sv_seterr(e, SV_ERR_FORMAT, "%s: duplicate tensor name '%s'", P, PN(f->sorted[i]->name));
            goto out;
        }
    /* overlapping data ranges (empty tensors overlap nothing) */
    {
        const sv_st_tensor **by_off = malloc((f->n ? f->n : 1) * sizeof *by_off);
        if (!by_off) {
            rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", P);
            goto out;
        }
        memcpy(by_off, f->sorted, f->n * sizeof *by_off);
        qsort(by_off, f->n, sizeof *by_off, cmp_tensor_offset);
        const sv_st_tensor *last = NULL;
        for (size_t i = 0; i < f->n && !rc; i++) {
            const sv_st_tensor *t = by_off[i];
            if (!t->nbytes)
                continue;
            if (last && t->offset < last->offset + last->nbytes)
                rc = sv_seterr(e, SV_ERR_FORMAT,
                               "%s: tensors '%s' [%" PRIu64 ", %" PRIu64 "] and '%s' [%" PRIu64 ", %" PRIu64
                               "] overlap",
                               P, PN(last->name), last->offset, last->offset + last->nbytes, PN(t->name), t->offset,
                               t->offset + t->nbytes);
            if (!last || t->offset + t->nbytes > last->offset + last->nbytes)
                last = t;
        }
        free(by_off);
    }
out:
    cJSON_Delete(root);
    return rc;
}

static sv_st_file *file_new(const char *label)
{
    sv_st_file *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    if (!(f->path = strdup(label))) {
        free(f);
        return NULL;
    }
    return f;
}

int sv_st_open_memory(const void *buf, size_t len, const char *label, sv_st_file **out, sv_err *e)
{
    if (!out)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_open_memory: out is NULL");
    *out = NULL;
    if (!label)
        label = "<memory>";
    if (!buf && len)
        return sv_seterr(e, SV_ERR_INVALID, "%s: NULL buffer", label);
    sv_st_file *f = file_new(label);
    if (!f || !(f->buf = malloc(len ? len : 1))) {
        file_free(f);
        return sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", label);
    }
    if (len)
        memcpy(f->buf, buf, len);
    f->size = len;
    int rc = parse_file(f, e);
    if (rc) {
        file_free(f);
        return rc;
    }
    *out = f;
    return SV_OK;
}

int sv_st_open(const char *path, sv_st_file **out, sv_err *e)
{
    if (!out)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_open: out is NULL");
    *out = NULL;
    if (!path)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_open: path is NULL");
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sv_seterr(e, SV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        int er = errno;
        close(fd);
        return sv_seterr(e, SV_ERR_IO, "%s: cannot stat: %s", path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sv_seterr(e, SV_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        close(fd);
        return sv_seterr(e, SV_ERR_IO, "%s: file too large", path);
    }
    sv_st_file *f = file_new(path);
    if (!f) {
        close(fd);
        return sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size >= 8) {
        void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            f->buf = m;
            f->mapped = 1;
        }
    }
    if (!f->buf) { /* small file, or mapping not possible: read it */
        f->buf = malloc(f->size ? f->size : 1);
        if (!f->buf) {
            close(fd);
            file_free(f);
            return sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory for %zu bytes", path, (size_t)st.st_size);
        }
        size_t got = 0;
        while (got < f->size) {
            size_t want = f->size - got;
            if (want > ((size_t)1 << 30))
                want = (size_t)1 << 30;
            ssize_t r = read(fd, f->buf + got, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                int er = errno;
                close(fd);
                file_free(f);
                if (r == 0)
                    return sv_seterr(e, SV_ERR_IO, "%s: file shrank while reading", path);
                return sv_seterr(e, SV_ERR_IO, "%s: read failed: %s", path, strerror(er));
            }
            got += (size_t)r;
        }
    }
    close(fd);
    int rc = parse_file(f, e);
    if (rc) {
        file_free(f);
        return rc;
    }
    *out = f;
    return SV_OK;
}

const char *sv_st_path(const sv_st_file *f) { return f ? f->path : NULL; }
size_t sv_st_count(const sv_st_file *f) { return f ? f->n : 0; }

const sv_st_tensor *sv_st_at(const sv_st_file *f, size_t i) { return f && i < f->n ? &f->t[i] : NULL; }

const char *sv_st_name(const sv_st_file *f, size_t i) { return f && i < f->n ? f->t[i].name : NULL; }

const sv_st_tensor *sv_st_find(const sv_st_file *f, const char *name)
{
    if (!f || !name)
        return NULL;
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->sorted[mid]->name, name);
        if (!c)
            return f->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int sv_st_get(const sv_st_file *f, const char *name, const sv_st_tensor **out, sv_err *e)
{
    if (!f || !name)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_get: NULL argument");
    const sv_st_tensor *t = sv_st_find(f, name);
    if (out)
        *out = t;
    if (!t)
        return sv_seterr(e, SV_ERR_FORMAT, "%s: no tensor '%s'", f->path, PN(name));
    return SV_OK;
}

const char *sv_st_metadata(const sv_st_file *f, const char *key)
{
    if (!f || !key)
        return NULL;
    size_t lo = 0, hi = f->nmeta;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->meta[mid].key, key);
        if (!c)
            return f->meta[mid].value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t sv_st_metadata_count(const sv_st_file *f) { return f ? f->nmeta : 0; }

int sv_st_metadata_at(const sv_st_file *f, size_t i, const char **key, const char **value)
{
    if (!f || i >= f->nmeta)
        return SV_ERR_INVALID;
    if (key)
        *key = f->meta[i].key;
    if (value)
        *value = f->meta[i].value;
    return SV_OK;
}

static float half_to_float(uint16_t h)
{
    unsigned s = (h >> 15) & 1u, ex = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    float v;
    if (ex == 0)
        v = ldexpf((float)m, -24);
    else if (ex == 31)
        v = m ? NAN : INFINITY;
    else
        v = ldexpf((float)(m | 0x400u), (int)ex - 25);
    return s ? -v : v;
}

static int lookup_n(const sv_st_file *f, const char *name, size_t n, const sv_st_tensor **out, sv_err *e)
{
    int rc = sv_st_get(f, name, out, e);
    if (rc)
        return rc;
    if ((uint64_t)(*out)->numel != (uint64_t)n)
        return sv_seterr(e, SV_ERR_INVALID, "%s: tensor '%s': holds %" PRId64 " elements %s, caller expects %zu",
                         f->path, PN(name), (*out)->numel, SHAPE((*out)->ndim, (*out)->shape), n);
    return SV_OK;
}

int sv_st_read_f32(const sv_st_file *f, const char *name, float *dst, size_t n, sv_err *e)
{
    const sv_st_tensor *t;
    int rc = lookup_n(f, name, n, &t, e);
    if (rc)
        return rc;
    if (n && !dst)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_read_f32: dst is NULL");
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case SV_ST_F32:
        if (n)
            memcpy(dst, p, n * 4);
        return SV_OK;
    case SV_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        return SV_OK;
    case SV_ST_F16:
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return SV_OK;
    case SV_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
            memcpy(&dst[i], &b, 4);
        }
        return SV_OK;
    default:
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': dtype %s is not a floating-point type", f->path,
                         PN(name), dtypes[t->dtype].name);
    }
}

int sv_st_read_i64(const sv_st_file *f, const char *name, int64_t *dst, size_t n, sv_err *e)
{
    const sv_st_tensor *t;
    int rc = lookup_n(f, name, n, &t, e);
    if (rc)
        return rc;
    if (n && !dst)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_read_i64: dst is NULL");
    const unsigned char *p = t->data;
    size_t es = dtypes[t->dtype].size;
    switch (t->dtype) {
    case SV_ST_I64: case SV_ST_I32: case SV_ST_I16: case SV_ST_I8:
    case SV_ST_U64: case SV_ST_U32: case SV_ST_U16: case SV_ST_U8: case SV_ST_BOOL: break;
    default:
        return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': dtype %s is not an integer type", f->path, PN(name),
                         dtypes[t->dtype].name);
    }
    for (size_t i = 0; i < n; i++) {
        const unsigned char *q = p + es * i;
        int64_t v;
        switch (t->dtype) {
        case SV_ST_I64: { int64_t x; memcpy(&x, q, 8); v = x; break; }
        case SV_ST_I32: { int32_t x; memcpy(&x, q, 4); v = x; break; }
        case SV_ST_I16: { int16_t x; memcpy(&x, q, 2); v = x; break; }
        case SV_ST_I8: { int8_t x; memcpy(&x, q, 1); v = x; break; }
        case SV_ST_U32: { uint32_t x; memcpy(&x, q, 4); v = x; break; }
        case SV_ST_U16: { uint16_t x; memcpy(&x, q, 2); v = x; break; }
        case SV_ST_U8: v = q[0]; break;
        case SV_ST_BOOL: v = q[0] != 0; break;
        default: { /* U64 */
            uint64_t x;
            memcpy(&x, q, 8);
            if (x > (uint64_t)INT64_MAX)
                return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': element %zu (%" PRIu64 ") exceeds int64",
                                 f->path, PN(name), i, x);
            v = (int64_t)x;
        }
        }
        dst[i] = v;
    }
    return SV_OK;
}

int sv_st_check_shape(const sv_st_file *f, const sv_st_tensor *t, int ndim, const int64_t *shape, sv_err *e)
{
    if (!t)
        return sv_seterr(e, SV_ERR_INVALID, "sv_st_check_shape: NULL tensor");
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (same)
        return SV_OK;
    return sv_seterr(e, SV_ERR_FORMAT, "%s: tensor '%s': shape %s in file, expected %s", f ? f->path : "?",
                     PN(t->name), SHAPE(t->ndim, t->shape), SHAPE(ndim, shape));
}

int sv_st_upload(sv_ctx *ctx, const sv_st_file *f, const char *name, sv_tensor *out)
{
    sv_err *e = sv_ctx_err(ctx);
    memset(out, 0, sizeof *out);
    const sv_st_tensor *t;
    int rc = sv_st_get(f, name, &t, e);
    if (rc)
        return rc;
    if (t->ndim > SV_MAX_DIMS)
        return sv_seterr(e, SV_ERR_INVALID, "%s: tensor '%s': %d dimensions, device tensors hold at most %d",
                         f->path, PN(name), t->ndim, SV_MAX_DIMS);
    size_t n = (size_t)t->numel;
    float *h = malloc(n ? n * sizeof *h : 1);
    if (!h)
        return sv_seterr(e, SV_ERR_NOMEM, "%s: out of host memory", f->path);
    if ((rc = sv_st_read_f32(f, name, h, n, e))) {
        free(h);
        return rc;
    }
    if ((rc = sv_tensor_new(ctx, out, t->ndim, t->shape))) {
        free(h);
        return rc;
    }
    if (n && (rc = sv_tensor_write(out, h, n))) {
        sv_tensor_free(out);
        memset(out, 0, sizeof *out);
    }
    free(h);
    return rc;
}

/* ---- writer ------------------------------------------------------------ */
typedef struct wtensor {
    char *name;
    sv_st_dtype dtype;
    int ndim;
    int64_t shape[SV_ST_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
    void *owned;
    size_t order;
} wtensor;

struct sv_st_writer {
    wtensor *t;
    size_t n, cap;
    char **mk, **mv;
    size_t nm, capm;
};

sv_st_writer *sv_st_writer_new(void) { return calloc(1, sizeof(sv_st_writer)); }

void sv_st_writer_free(sv_st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->t);
    for (size_t i = 0; i < w->nm; i++) {
        free(w->mk[i]);
        free(w->mv[i]);
    }
    free(w->mk);
    free(w->mv);
    free(w);
}

static int str_ok(const char *s) { return utf8_valid_prefix((const unsigned char *)s, strlen(s)) == strlen(s); }

/* mode 0: copy data, 1: reference, 2: take ownership of data (malloc'ed) */
static int writer_add(sv_st_writer *w, const char *name, sv_st_dtype dtype, int ndim, const int64_t *shape,
                      const void *data, int mode, sv_err *e)
{
    if (!w || !name)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: NULL argument");
    const char *N = PN(name);
    if (!*name || !strcmp(name, "__metadata__") || !str_ok(name))
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: invalid tensor name '%s'", N);
    if (!dtype_ok(dtype))
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': invalid dtype %d", N, (int)dtype);
    if (ndim < 0 || ndim > SV_ST_MAX_DIMS || (ndim && !shape))
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': %d dimensions (0 to %d)", N, ndim,
                         SV_ST_MAX_DIMS);
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || (uint64_t)shape[i] > MAX_EXACT)
            return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': bad dimension %" PRId64, N,
                             shape[i]);
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0)
            numel = 0;
    for (int i = 0; i < ndim && numel; i++) {
        if (numel > MAX_EXACT / (uint64_t)shape[i] / dtypes[dtype].size)
            return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': shape %s too large", N,
                             SHAPE(ndim, shape));
        numel *= (uint64_t)shape[i];
    }
    uint64_t nbytes = numel * dtypes[dtype].size;
    if (nbytes && !data)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': NULL data", N);
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: duplicate tensor name '%s'", N);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        wtensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt)
            return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: out of memory");
        w->t = nt;
        w->cap = nc;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: out of memory");
    if (mode == 0 && nbytes) {
        if (nbytes > SIZE_MAX || !(t->owned = malloc((size_t)nbytes))) {
            free(t->name);
            return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: tensor '%s': out of memory for %" PRIu64 " bytes",
                             N, nbytes);
        }
        memcpy(t->owned, data, (size_t)nbytes);
        t->data = t->owned;
    } else if (mode == 2) {
        t->owned = (void *)data;
        t->data = data;
    } else
        t->data = data;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->nbytes = nbytes;
    t->order = w->n;
    w->n++;
    return SV_OK;
}

int sv_st_writer_add(sv_st_writer *w, const char *name, sv_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, sv_err *e)
{
    return writer_add(w, name, dtype, ndim, shape, data, 0, e);
}

int sv_st_writer_add_ref(sv_st_writer *w, const char *name, sv_st_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, sv_err *e)
{
    return writer_add(w, name, dtype, ndim, shape, data, 1, e);
}

int sv_st_writer_add_tensor(sv_st_writer *w, const char *name, const sv_tensor *t, sv_err *e)
{
    if (!w || !name || !t || !t->ctx)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: NULL argument");
    if (t->dtype != SV_F32)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: tensor '%s': only float32 device tensors", PN(name));
    float *h = sv_tensor_to_host(t, e);
    if (!h)
        return e ? e->code : SV_ERR_CL;
    int rc = writer_add(w, name, SV_ST_F32, t->ndim, t->shape, h, 2, e);
    if (rc)
        free(h);
    return rc;
}

int sv_st_writer_meta(sv_st_writer *w, const char *key, const char *value, sv_err *e)
{
    if (!w || !key || !value)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: NULL argument");
    if (!str_ok(key) || !str_ok(value))
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: metadata '%s': not valid UTF-8", PN(key));
    char *v = strdup(value);
    if (!v)
        return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: out of memory");
    for (size_t i = 0; i < w->nm; i++)
        if (!strcmp(w->mk[i], key)) {
            free(w->mv[i]);
            w->mv[i] = v;
            return SV_OK;
        }
    if (w->nm == w->capm) {
        size_t nc = w->capm ? 2 * w->capm : 8;
        char **a = realloc(w->mk, nc * sizeof *a);
        if (a)
            w->mk = a;
        char **b = a ? realloc(w->mv, nc * sizeof *b) : NULL;
        if (b)
            w->mv = b;
        if (!a || !b) {
            free(v);
            return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: out of memory");
        }
        w->capm = nc;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return sv_seterr(e, SV_ERR_NOMEM, "safetensors writer: out of memory");
    }
    w->mk[w->nm] = k;
    w->mv[w->nm] = v;
    w->nm++;
    return SV_OK;
}

/* growable text buffer */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1)
            nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%" PRIu64, v);
    sb_str(b, t);
}

/* JSON string literal */
static void sb_json(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"')
            sb_put(b, "\\\"", 2);
        else if (c == '\\')
            sb_put(b, "\\\\", 2);
        else if (c < 0x20) {
            char t[8];
            snprintf(t, sizeof t, "\\u%04x", c);
            sb_put(b, t, 6);
        } else
            sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

static int cmp_wt_layout(const void *a, const void *b)
{
    const wtensor *x = *(const wtensor *const *)a, *y = *(const wtensor *const *)b;
    size_t sx = dtypes[x->dtype].size, sy = dtypes[y->dtype].size;
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x->order < y->order ? -1 : (x->order > y->order);
}

static int write_all(int fd, const void *p, uint64_t n)
{
    const unsigned char *c = p;
    while (n) {
        size_t k = n > ((uint64_t)1 << 30) ? (size_t)1 << 30 : (size_t)n;
        ssize_t r = write(fd, c, k);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        c += r;
        n -= (uint64_t)r;
    }
    return 0;
}

int sv_st_writer_save(sv_st_writer *w, const char *path, sv_err *e)
{
    if (!w || !path || !*path)
        return sv_seterr(e, SV_ERR_INVALID, "safetensors writer: NULL argument");
    int rc = SV_OK;
    const wtensor **ord = malloc((w->n ? w->n : 1) * sizeof *ord);
    sbuf h = {0};
    char *tmp = NULL;
    int fd = -1;
    if (!ord) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (size_t i = 0; i < w->n; i++)
        ord[i] = &w->t[i];
    qsort(ord, w->n, sizeof *ord, cmp_wt_layout);

    /* header */
    sb_str(&h, "{");
    int first = 1;
    if (w->nm) {
        sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nm; i++) {
            if (i)
                sb_str(&h, ",");
            sb_json(&h, w->mk[i]);
            sb_str(&h, ":");
            sb_json(&h, w->mv[i]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        const wtensor *t = ord[i];
        if (!first)
            sb_str(&h, ",");
        first = 0;
        sb_json(&h, t->name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, dtypes[t->dtype].name);
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d)
                sb_str(&h, ",");
            sb_u64(&h, (uint64_t)t->shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_u64(&h, off);
        sb_str(&h, ",");
        off += t->nbytes;
        sb_u64(&h, off);
        sb_str(&h, "]}");
    }
    sb_str(&h, "}");
    while (!h.oom && h.n % 8)
        sb_str(&h, " ");
    if (h.oom) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory for the header", path);
        goto out;
    }
    if ((uint64_t)h.n > SV_ST_MAX_HEADER) {
        rc = sv_seterr(e, SV_ERR_INVALID, "%s: header of %zu bytes exceeds the limit", path, h.n);
        goto out;
    }

    size_t tl = strlen(path) + 32;
    if (!(tmp = malloc(tl))) {
        rc = sv_seterr(e, SV_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        rc = sv_seterr(e, SV_ERR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)(((uint64_t)h.n >> (8 * i)) & 0xff);
    if (write_all(fd, len8, 8) || write_all(fd, h.p, h.n)) {
        rc = sv_seterr(e, SV_ERR_IO, "%s: write to %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    for (size_t i = 0; i < w->n; i++)
        if (ord[i]->nbytes && write_all(fd, ord[i]->data, ord[i]->nbytes)) {
            rc = sv_seterr(e, SV_ERR_IO, "%s: write to %s failed: %s", path, tmp, strerror(errno));
            goto fail;
        }
    if (fsync(fd)) {
        rc = sv_seterr(e, SV_ERR_IO, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    int cr = close(fd);
    fd = -1;
    if (cr) {
        rc = sv_seterr(e, SV_ERR_IO, "%s: close of %s failed: %s", path, tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path)) {
        rc = sv_seterr(e, SV_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        goto fail;
    }
    /* make the rename durable (best effort) */
    {
        char *dir = strdup(path);
        if (dir) {
            char *slash = strrchr(dir, '/');
            const char *d = ".";
            if (slash == dir)
                d = "/";
            else if (slash) {
                *slash = 0;
                d = dir;
            }
            int dfd = open(d, O_RDONLY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
            free(dir);
        }
    }
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlink(tmp);
out:
    free(tmp);
    free(h.p);
    free(ord);
    return rc;
}
