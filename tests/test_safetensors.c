/* safetensors reader/writer: round trips, rejection of malformed headers,
 * truncation and byte-flip fuzzing (never crash), atomic save, and the
 * official parity bundle when available. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------- */

static char *make_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/svgan-st-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    ck_assert_msg(d != NULL, "mkdtemp failed");
    return strdup(d);
}

/* Remove every entry of dir (files and empty subdirectories) and dir itself. */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            struct stat st;
            if (!lstat(p, &st) && S_ISDIR(st.st_mode))
                rm_tree(p);
            else
                unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Number of entries of dir whose name contains ".tmp.". */
static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".tmp."))
            n++;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(b != NULL);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert(n == 0 || fwrite(b, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

/* A file image: 8-byte length, header text, data_len zero bytes. */
static unsigned char *image(const char *json, size_t data_len, size_t *len)
{
    size_t h = strlen(json);
    unsigned char *b = calloc(1, 8 + h + data_len + 1);
    ck_assert(b != NULL);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(((uint64_t)h >> (8 * i)) & 0xff);
    memcpy(b + 8, json, h);
    *len = 8 + h + data_len;
    return b;
}

/* Expect open_memory of (json, data_len) to fail with SV_ERR_FORMAT and a
 * message containing `want` (if not NULL). */
static void expect_reject(const char *json, size_t data_len, const char *want)
{
    size_t n;
    unsigned char *b = image(json, data_len, &n);
    sv_st_file *f = (sv_st_file *)1;
    sv_err e = {0};
    int rc = sv_st_open_memory(b, n, "x.safetensors", &f, &e);
    ck_assert_msg(rc == SV_ERR_FORMAT, "header %s: expected SV_ERR_FORMAT, got %d (%s)", json, rc, e.msg);
    ck_assert_msg(f == NULL, "header %s: *out not NULL on failure", json);
    ck_assert_msg(strncmp(e.msg, "x.safetensors: ", 15) == 0, "message does not name the file: %s", e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "message is not one line: %s", e.msg);
    if (want)
        ck_assert_msg(strstr(e.msg, want) != NULL, "header %s: message '%s' lacks '%s'", json, e.msg, want);
    free(b);
}

static sv_st_file *expect_accept(const char *json, size_t data_len)
{
    size_t n;
    unsigned char *b = image(json, data_len, &n);
    sv_st_file *f = NULL;
    sv_err e = {0};
    int rc = sv_st_open_memory(b, n, "ok.safetensors", &f, &e);
    ck_assert_msg(rc == 0 && f, "header %s: rejected: %s", json, e.msg);
    free(b);
    return f;
}

/* Check that an opened file is internally consistent and that all of its
 * data can be read (under valgrind this also proves every pointer is inside
 * the buffer). */
static void check_consistent(const sv_st_file *f, size_t file_size)
{
    size_t n = sv_st_count(f);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const sv_st_tensor *t = sv_st_at(f, i);
        ck_assert(t != NULL);
        ck_assert(sv_st_name(f, i) == t->name);
        ck_assert(sv_st_find(f, t->name) == t);
        ck_assert(t->ndim >= 0 && t->ndim <= SV_ST_MAX_DIMS);
        int64_t ne = 1;
        for (int d = 0; d < t->ndim; d++) {
            ck_assert(t->shape[d] >= 0);
            ne *= t->shape[d];
        }
        ck_assert(ne == t->numel);
        ck_assert(t->nbytes == (size_t)t->numel * sv_st_dtype_size(t->dtype));
        ck_assert(t->nbytes <= file_size);
        total += t->nbytes;
        ck_assert(total <= file_size); /* no overlaps, so the sum fits */
        sv_err e = {0};
        size_t ne_ = (size_t)t->numel;
        if (t->dtype == SV_ST_F32 || t->dtype == SV_ST_F16 || t->dtype == SV_ST_BF16 || t->dtype == SV_ST_F64) {
            float *v = malloc((ne_ ? ne_ : 1) * sizeof *v);
            ck_assert_int_eq(sv_st_read_f32(f, t->name, v, ne_, &e), 0);
            free(v);
        } else {
            int64_t *v = malloc((ne_ ? ne_ : 1) * sizeof *v);
            int rc = sv_st_read_i64(f, t->name, v, ne_, &e);
            ck_assert(rc == 0 || (rc == SV_ERR_FORMAT && t->dtype == SV_ST_U64));
            free(v);
        }
        /* touch every byte through the descriptor too */
        unsigned s = 0;
        for (size_t k = 0; k < t->nbytes; k++)
            s += ((const unsigned char *)t->data)[k];
        (void)s;
    }
    ck_assert(sv_st_at(f, n) == NULL);
    for (size_t i = 0; i < sv_st_metadata_count(f); i++) {
        const char *k, *v;
        ck_assert_int_eq(sv_st_metadata_at(f, i, &k, &v), 0);
        ck_assert(sv_st_metadata(f, k) == v);
        if (i) {
            const char *prev;
            ck_assert_int_eq(sv_st_metadata_at(f, i - 1, &prev, NULL), 0);
            ck_assert(strcmp(prev, k) < 0); /* sorted, unique */
        }
    }
}

static uint16_t f16_bits[] = {0x0000, 0x8000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0xfc00, 0x7e00, 0x3555};
static const float f16_vals[] = {0.0f, -0.0f, 1.0f, -2.0f, 65504.0f, 5.9604644775390625e-08f, 6.097555160522461e-05f,
                                 6.103515625e-05f, INFINITY, -INFINITY, NAN, 0.333251953125f};

static int same_float(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

/* The round-trip content, also used by the fuzz tests. */
#define NF32 30
static void fill_writer(sv_st_writer *w, float *f32, int with_big)
{
    sv_err e = {0};
    tu_rng r;
    tu_seed(&r, 7);
    for (int i = 0; i < NF32; i++)
        f32[i] = (float)tu_normal(&r);
    int64_t s235[] = {2, 3, 5};
    ck_assert_msg(sv_st_writer_add(w, "G.mapping.fc0.weight", SV_ST_F32, 3, s235, f32, &e) == 0, "%s", e.msg);
    int64_t s12[] = {12};
    ck_assert_msg(sv_st_writer_add(w, "half", SV_ST_F16, 1, s12, f16_bits, &e) == 0, "%s", e.msg);
    uint16_t bf[] = {0x3f80, 0xc040, 0x7f80, 0x0001, 0x8000, 0x4049};
    int64_t s32[] = {3, 2};
    ck_assert_msg(sv_st_writer_add(w, "bf", SV_ST_BF16, 2, s32, bf, &e) == 0, "%s", e.msg);
    double f64[] = {1.5, -1e300, 1e-50, 3.141592653589793};
    int64_t s4[] = {4};
    ck_assert_msg(sv_st_writer_add(w, "dbl", SV_ST_F64, 1, s4, f64, &e) == 0, "%s", e.msg);
    int64_t i64[] = {INT64_MIN, -1, 0, INT64_MAX, 42};
    int64_t s5[] = {5};
    ck_assert_msg(sv_st_writer_add(w, "steps", SV_ST_I64, 1, s5, i64, &e) == 0, "%s", e.msg);
    int32_t i32[] = {INT32_MIN, 7, -7};
    int64_t s3[] = {3};
    ck_assert(sv_st_writer_add(w, "i32", SV_ST_I32, 1, s3, i32, &e) == 0);
    int16_t i16[] = {-32768, 32767, -1};
    ck_assert(sv_st_writer_add(w, "i16", SV_ST_I16, 1, s3, i16, &e) == 0);
    int8_t i8[] = {-128, 127, -1};
    ck_assert(sv_st_writer_add(w, "i8", SV_ST_I8, 1, s3, i8, &e) == 0);
    uint8_t u8[] = {0, 255, 1};
    ck_assert(sv_st_writer_add(w, "u8", SV_ST_U8, 1, s3, u8, &e) == 0);
    uint8_t bl[] = {0, 1, 2};
    ck_assert(sv_st_writer_add(w, "mask", SV_ST_BOOL, 1, s3, bl, &e) == 0);
    uint16_t u16[] = {0, 65535, 3};
    ck_assert(sv_st_writer_add(w, "u16", SV_ST_U16, 1, s3, u16, &e) == 0);
    uint32_t u32[] = {0, 4294967295u, 3};
    ck_assert(sv_st_writer_add(w, "u32", SV_ST_U32, 1, s3, u32, &e) == 0);
    uint64_t u64[] = {0, (uint64_t)INT64_MAX, 3};
    ck_assert(sv_st_writer_add(w, "u64", SV_ST_U64, 1, s3, u64, &e) == 0);
    float sc = 2.5f;
    ck_assert(sv_st_writer_add(w, "scalar", SV_ST_F32, 0, NULL, &sc, &e) == 0);
    int64_t s04[] = {0, 4};
    ck_assert(sv_st_writer_add(w, "empty", SV_ST_F32, 2, s04, NULL, &e) == 0);
    int64_t s8[] = {1, 1, 2, 1, 1, 1, 1, 1};
    static const float two[] = {-1.0f, 1.0f}; /* referenced: must outlive the save */
    ck_assert(sv_st_writer_add_ref(w, "eight.dims \"quoted\"\\ é", SV_ST_F32, 8, s8, two, &e) == 0);
    if (with_big) {
        static float big[4099];
        for (int i = 0; i < 4099; i++)
            big[i] = (float)i;
        int64_t sb[] = {4099};
        ck_assert(sv_st_writer_add_ref(w, "big", SV_ST_F32, 1, sb, big, &e) == 0);
    }
    ck_assert(sv_st_writer_meta(w, "config", "{\"z_dim\": 64}", &e) == 0);
    ck_assert(sv_st_writer_meta(w, "note", "old", &e) == 0);
    ck_assert(sv_st_writer_meta(w, "note", "line1\nline2 \"q\" \\ ü \x01", &e) == 0); /* replaces */
    ck_assert(sv_st_writer_meta(w, "", "empty key", &e) == 0);
}

/* Write the standard content to dir/name and return its path (malloc). */
static char *write_standard(const char *dir, const char *name, int with_big)
{
    char *p = malloc(1024);
    snprintf(p, 1024, "%s/%s", dir, name);
    sv_st_writer *w = sv_st_writer_new();
    ck_assert(w != NULL);
    float f32[NF32];
    fill_writer(w, f32, with_big);
    sv_err e = {0};
    ck_assert_msg(sv_st_writer_save(w, p, &e) == 0, "%s", e.msg);
    sv_st_writer_free(w);
    return p;
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_dtypes)
{
    for (int i = 0; i < SV_ST_NDTYPES; i++) {
        sv_st_dtype t;
        ck_assert_int_eq(sv_st_dtype_parse(sv_st_dtype_name((sv_st_dtype)i), &t), 0);
        ck_assert_int_eq((int)t, i);
        ck_assert(sv_st_dtype_size((sv_st_dtype)i) > 0);
    }
    sv_st_dtype t;
    ck_assert_int_ne(sv_st_dtype_parse("f32", &t), 0);
    ck_assert_int_ne(sv_st_dtype_parse("F8_E4M3", &t), 0);
    ck_assert_int_ne(sv_st_dtype_parse(NULL, &t), 0);
    ck_assert_str_eq(sv_st_dtype_name((sv_st_dtype)99), "?");
    ck_assert_uint_eq(sv_st_dtype_size((sv_st_dtype)-1), 0);
}
END_TEST

START_TEST(test_roundtrip)
{
    char *dir = make_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    sv_st_writer *w = sv_st_writer_new();
    float f32[NF32];
    fill_writer(w, f32, 0);
    sv_err e = {0};
    ck_assert_msg(sv_st_writer_save(w, path, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(count_tmp(dir), 0);

    /* raw layout: header length multiple of 8, data naturally aligned */
    size_t flen;
    unsigned char *raw = slurp(path, &flen);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | raw[i];
    ck_assert_uint_eq(hl % 8, 0);
    ck_assert(raw[8] == '{');

    for (int pass = 0; pass < 2; pass++) {
        sv_st_file *f = NULL;
        if (pass == 0)
            ck_assert_msg(sv_st_open(path, &f, &e) == 0, "%s", e.msg);
        else
            ck_assert_msg(sv_st_open_memory(raw, flen, NULL, &f, &e) == 0, "%s", e.msg);
        ck_assert_str_eq(sv_st_path(f), pass == 0 ? path : "<memory>");
        ck_assert_uint_eq(sv_st_count(f), 16);
        check_consistent(f, flen);
        const unsigned char *data0 = raw + 8 + hl;
        uint64_t expect_off = 0;
        size_t last_size = 8;
        for (size_t i = 0; i < sv_st_count(f); i++) {
            const sv_st_tensor *t = sv_st_at(f, i);
            size_t es = sv_st_dtype_size(t->dtype);
            ck_assert_uint_eq(t->offset % es, 0);          /* aligned */
            ck_assert_uint_eq(t->offset, expect_off);      /* contiguous */
            ck_assert(es <= last_size);                   /* sorted by element size */
            last_size = es;
            expect_off += t->nbytes;
            ck_assert(t->nbytes == 0 || memcmp(t->data, data0 + t->offset, t->nbytes) == 0);
        }
        ck_assert_uint_eq(expect_off, flen - 8 - hl);

        const sv_st_tensor *t;
        ck_assert_int_eq(sv_st_get(f, "G.mapping.fc0.weight", &t, &e), 0);
        ck_assert_int_eq(t->dtype, SV_ST_F32);
        ck_assert_int_eq(t->ndim, 3);
        ck_assert(t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 5);
        ck_assert_int_eq(t->numel, 30);
        ck_assert_uint_eq(t->nbytes, 120);
        ck_assert(memcmp(t->data, f32, 120) == 0);
        ck_assert(memcmp(raw + 8 + hl + t->offset, f32, 120) == 0);
        float got[NF32];
        ck_assert_int_eq(sv_st_read_f32(f, "G.mapping.fc0.weight", got, NF32, &e), 0);
        ck_assert(memcmp(got, f32, sizeof got) == 0);
        int64_t sh235[] = {2, 3, 5}, sh325[] = {3, 2, 5};
        ck_assert_int_eq(sv_st_check_shape(f, t, 3, sh235, &e), 0);
        ck_assert_int_eq(sv_st_check_shape(f, t, 3, sh325, &e), SV_ERR_FORMAT);
        ck_assert_msg(strstr(e.msg, "shape [2, 3, 5] in file, expected [3, 2, 5]") != NULL, "%s", e.msg);
        ck_assert_int_eq(sv_st_check_shape(f, t, 2, sh235, &e), SV_ERR_FORMAT);

        /* F16 decoding of known patterns */
        float h[12];
        ck_assert_int_eq(sv_st_read_f32(f, "half", h, 12, &e), 0);
        for (int i = 0; i < 12; i++)
            ck_assert_msg(same_float(h[i], f16_vals[i]), "f16 %04x -> %.9g, want %.9g", f16_bits[i], h[i],
                          f16_vals[i]);
        float b[6];
        ck_assert_int_eq(sv_st_read_f32(f, "bf", b, 6, &e), 0);
        ck_assert(b[0] == 1.0f && b[1] == -3.0f && isinf(b[2]) && b[3] > 0 && b[3] < 1e-38f && b[4] == 0 &&
                  signbit(b[4]) && b[5] == 3.140625f);
        float d[4];
        ck_assert_int_eq(sv_st_read_f32(f, "dbl", d, 4, &e), 0);
        ck_assert(d[0] == 1.5f && isinf(d[1]) && d[1] < 0 && d[2] == 0 && d[3] == 3.14159265f);

        int64_t iv[5];
        ck_assert_int_eq(sv_st_read_i64(f, "steps", iv, 5, &e), 0);
        ck_assert(iv[0] == INT64_MIN && iv[1] == -1 && iv[2] == 0 && iv[3] == INT64_MAX && iv[4] == 42);
        ck_assert_int_eq(sv_st_read_i64(f, "i32", iv, 3, &e), 0);
        ck_assert(iv[0] == INT32_MIN && iv[1] == 7 && iv[2] == -7);
        ck_assert_int_eq(sv_st_read_i64(f, "i16", iv, 3, &e), 0);
        ck_assert(iv[0] == -32768 && iv[1] == 32767 && iv[2] == -1);
        ck_assert_int_eq(sv_st_read_i64(f, "i8", iv, 3, &e), 0);
        ck_assert(iv[0] == -128 && iv[1] == 127 && iv[2] == -1);
        ck_assert_int_eq(sv_st_read_i64(f, "u8", iv, 3, &e), 0);
        ck_assert(iv[0] == 0 && iv[1] == 255 && iv[2] == 1);
        ck_assert_int_eq(sv_st_read_i64(f, "mask", iv, 3, &e), 0);
        ck_assert(iv[0] == 0 && iv[1] == 1 && iv[2] == 1);
        ck_assert_int_eq(sv_st_read_i64(f, "u16", iv, 3, &e), 0);
        ck_assert(iv[0] == 0 && iv[1] == 65535 && iv[2] == 3);
        ck_assert_int_eq(sv_st_read_i64(f, "u32", iv, 3, &e), 0);
        ck_assert(iv[0] == 0 && iv[1] == 4294967295ll && iv[2] == 3);
        ck_assert_int_eq(sv_st_read_i64(f, "u64", iv, 3, &e), 0);
        ck_assert(iv[0] == 0 && iv[1] == INT64_MAX && iv[2] == 3);

        ck_assert_int_eq(sv_st_get(f, "scalar", &t, &e), 0);
        ck_assert_int_eq(t->ndim, 0);
        ck_assert_int_eq(t->numel, 1);
        float sc = 0;
        ck_assert_int_eq(sv_st_read_f32(f, "scalar", &sc, 1, &e), 0);
        ck_assert(sc == 2.5f);
        ck_assert_int_eq(sv_st_get(f, "empty", &t, &e), 0);
        ck_assert(t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 4 && t->numel == 0 && t->nbytes == 0);
        ck_assert_int_eq(sv_st_read_f32(f, "empty", NULL, 0, &e), 0);
        ck_assert_int_eq(sv_st_get(f, "eight.dims \"quoted\"\\ é", &t, &e), 0);
        ck_assert(t->ndim == 8 && t->shape[2] == 2 && t->numel == 2);
        float two[2];
        ck_assert_int_eq(sv_st_read_f32(f, t->name, two, 2, &e), 0);
        ck_assert(two[0] == -1.0f && two[1] == 1.0f);

        /* metadata */
        ck_assert_uint_eq(sv_st_metadata_count(f), 3);
        ck_assert_str_eq(sv_st_metadata(f, "config"), "{\"z_dim\": 64}");
        ck_assert_str_eq(sv_st_metadata(f, "note"), "line1\nline2 \"q\" \\ ü \x01");
        ck_assert_str_eq(sv_st_metadata(f, ""), "empty key");
        ck_assert(sv_st_metadata(f, "nope") == NULL);
        const char *k0, *k1, *k2;
        ck_assert_int_eq(sv_st_metadata_at(f, 0, &k0, NULL), 0);
        ck_assert_int_eq(sv_st_metadata_at(f, 1, &k1, NULL), 0);
        ck_assert_int_eq(sv_st_metadata_at(f, 2, &k2, NULL), 0);
        ck_assert(strcmp(k0, k1) < 0 && strcmp(k1, k2) < 0);
        ck_assert_int_ne(sv_st_metadata_at(f, 3, &k0, NULL), 0);

        /* accessor errors */
        ck_assert(sv_st_find(f, "nope") == NULL);
        ck_assert_int_eq(sv_st_get(f, "nope", &t, &e), SV_ERR_FORMAT);
        ck_assert(t == NULL);
        ck_assert_msg(strstr(e.msg, "no tensor 'nope'") != NULL, "%s", e.msg);
        ck_assert_int_eq(sv_st_read_f32(f, "nope", got, 1, &e), SV_ERR_FORMAT);
        ck_assert_int_eq(sv_st_read_f32(f, "G.mapping.fc0.weight", got, 29, &e), SV_ERR_INVALID);
        ck_assert_msg(strstr(e.msg, "holds 30 elements [2, 3, 5], caller expects 29") != NULL, "%s", e.msg);
        ck_assert_int_eq(sv_st_read_f32(f, "steps", got, 5, &e), SV_ERR_FORMAT);
        ck_assert_int_eq(sv_st_read_i64(f, "G.mapping.fc0.weight", iv, 30, &e), SV_ERR_FORMAT);
        sv_st_close(f);
    }
    free(raw);

    /* saving again over the existing file replaces it; the writer is reusable */
    float one = 1.0f;
    ck_assert_int_eq(sv_st_writer_add(w, "extra", SV_ST_F32, 0, NULL, &one, &e), 0);
    ck_assert_msg(sv_st_writer_save(w, path, &e) == 0, "%s", e.msg);
    sv_st_writer_free(w);
    sv_st_file *f = NULL;
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    ck_assert_uint_eq(sv_st_count(f), 17);
    ck_assert(sv_st_find(f, "extra") != NULL);
    sv_st_close(f);

    /* an empty writer makes a valid file with no tensors */
    w = sv_st_writer_new();
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    sv_st_writer_free(w);
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    ck_assert_uint_eq(sv_st_count(f), 0);
    ck_assert_uint_eq(sv_st_metadata_count(f), 0);
    sv_st_close(f);
    ck_assert_int_eq(count_tmp(dir), 0);
    sv_st_close(NULL);
    sv_st_writer_free(NULL);
    rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_writer_rejects)
{
    sv_st_writer *w = sv_st_writer_new();
    sv_err e = {0};
    float x[4] = {0};
    int64_t s2[] = {2}, sneg[] = {-1}, s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(sv_st_writer_add(w, "a", SV_ST_F32, 1, s2, x, &e), 0);
    ck_assert_int_eq(sv_st_writer_add(w, "a", SV_ST_F32, 1, s2, x, &e), SV_ERR_INVALID);
    ck_assert_msg(strstr(e.msg, "duplicate tensor name 'a'") != NULL, "%s", e.msg);
    ck_assert_int_eq(sv_st_writer_add(w, "a", SV_ST_I64, 0, NULL, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "", SV_ST_F32, 1, s2, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "__metadata__", SV_ST_F32, 1, s2, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "bad\xff", SV_ST_F32, 1, s2, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "b", SV_ST_F32, 1, sneg, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "b", SV_ST_F32, 9, s9, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "b", SV_ST_F32, -1, s9, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "b", SV_ST_F32, 1, s2, NULL, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_add(w, "b", (sv_st_dtype)42, 1, s2, x, &e), SV_ERR_INVALID);
    int64_t huge[] = {INT64_C(1) << 40, INT64_C(1) << 20};
    ck_assert_int_eq(sv_st_writer_add(w, "b", SV_ST_F32, 2, huge, x, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_meta(w, "k", "\xc0\x80", &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_meta(w, "k", NULL, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_writer_save(w, "", &e), SV_ERR_INVALID);
    /* nothing bad got in: the writer still saves exactly one tensor */
    char *dir = make_tmpdir();
    char path[1024];
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    ck_assert_int_eq(sv_st_writer_save(w, path, &e), 0);
    sv_st_file *f;
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    ck_assert_uint_eq(sv_st_count(f), 1);
    ck_assert_uint_eq(sv_st_metadata_count(f), 0);
    sv_st_close(f);
    sv_st_writer_free(w);
    rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_open_rejects)
{
    sv_err e = {0};
    sv_st_file *f = (sv_st_file *)1;
    /* files shorter than 8 bytes */
    unsigned char zero[8] = {0};
    for (size_t n = 0; n < 8; n++) {
        ck_assert_int_eq(sv_st_open_memory(zero, n, "x.safetensors", &f, &e), SV_ERR_FORMAT);
        ck_assert(f == NULL);
        ck_assert_msg(strstr(e.msg, "too short") != NULL, "%s", e.msg);
    }
    /* header length larger than the file / huge */
    {
        size_t n;
        unsigned char *b = image("{}", 0, &n);
        uint64_t lens[] = {3, 100, UINT64_C(1) << 63, UINT64_MAX, (UINT64_C(1) << 32) + 2};
        for (size_t k = 0; k < sizeof lens / sizeof *lens; k++) {
            for (int i = 0; i < 8; i++)
                b[i] = (unsigned char)((lens[k] >> (8 * i)) & 0xff);
            ck_assert_int_eq(sv_st_open_memory(b, n, "x.safetensors", &f, &e), SV_ERR_FORMAT);
            ck_assert_msg(strstr(e.msg, "exceeds the file size") != NULL, "%s", e.msg);
        }
        free(b);
    }
    /* header length above the limit while inside the file: a sparse file */
    {
        char *dir = make_tmpdir();
        char p[1024];
        snprintf(p, sizeof p, "%s/big.safetensors", dir);
        FILE *fp = fopen(p, "wb");
        ck_assert(fp != NULL);
        uint64_t hl = SV_ST_MAX_HEADER + 8;
        unsigned char l8[8];
        for (int i = 0; i < 8; i++)
            l8[i] = (unsigned char)((hl >> (8 * i)) & 0xff);
        ck_assert(fwrite(l8, 1, 8, fp) == 8);
        ck_assert(fclose(fp) == 0);
        ck_assert(truncate(p, (off_t)(hl + 8)) == 0);
        ck_assert_int_eq(sv_st_open(p, &f, &e), SV_ERR_FORMAT);
        ck_assert_msg(strstr(e.msg, "exceeds the limit") != NULL, "%s", e.msg);
        /* not a regular file (directory, FIFO without writer, device) / missing file */
        ck_assert_int_eq(sv_st_open(dir, &f, &e), SV_ERR_IO);
        ck_assert_msg(strstr(e.msg, "not a regular file") != NULL, "%s", e.msg);
        snprintf(p, sizeof p, "%s/fifo", dir);
        ck_assert(mkfifo(p, 0600) == 0);
        ck_assert_int_eq(sv_st_open(p, &f, &e), SV_ERR_IO);
        ck_assert_int_eq(sv_st_open("/dev/null", &f, &e), SV_ERR_IO);
        snprintf(p, sizeof p, "%s/missing.safetensors", dir);
        ck_assert_int_eq(sv_st_open(p, &f, &e), SV_ERR_IO);
        ck_assert(f == NULL);
        rm_tree(dir);
        free(dir);
    }
    /* JSON level */
    expect_reject("", 0, "not valid JSON");
    expect_reject("{\"a\":", 0, "not valid JSON");
    expect_reject("not json", 0, "not valid JSON");
    expect_reject("{\"a\":{\"dtype\":\"F32\",}}", 0, "not valid JSON");
    expect_reject("{} x", 0, "trailing");
    expect_reject("{}{}", 0, "trailing");
    expect_reject("[]", 0, "not a JSON object");
    expect_reject("\"str\"", 0, "not a JSON object");
    expect_reject("42", 0, "not a JSON object");
    expect_reject("null", 0, "not a JSON object");
    expect_reject("{\"\xff\":1}", 0, "UTF-8");
    expect_reject("{\"\xc0\xaf\":1}", 0, "UTF-8");          /* overlong */
    expect_reject("{\"\xed\xa0\x80\":1}", 0, "UTF-8");      /* surrogate */
    expect_reject("{\"\xe2\x82\":1}", 0, "UTF-8");          /* truncated sequence */
    {
        size_t n;
        unsigned char *b = image("{\"a\":1}  ", 0, &n);
        b[8 + 7] = 0; /* NUL byte in the padding */
        ck_assert_int_eq(sv_st_open_memory(b, n, "x.safetensors", &f, &e), SV_ERR_FORMAT);
        free(b);
    }
    /* entries */
    expect_reject("{\"a\":5}", 0, "tensor 'a': entry is 5, not an object");
    expect_reject("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'a': missing field 'dtype'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "missing field 'shape'");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing field 'data_offsets'");
    expect_reject("{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'F17'");
    expect_reject("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype");
    expect_reject("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is 4, not a string");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, "not an array");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape[0] is -1");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0] is 1.5");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,8]}}", 8, "shape[1] is a string");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e30],\"data_offsets\":[0,4]}}", 4, "shape[0]");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e400],\"data_offsets\":[0,4]}}", 4, NULL);
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", 4,
                  "too many elements");
    expect_reject("{\"a\":{\"dtype\":\"F64\",\"shape\":[9007199254740992],\"data_offsets\":[0,4]}}", 4, NULL);
    expect_reject("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                  "9 dimensions");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1000]}}", 4, "exceed the data area");
    expect_reject("{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12]}}", 24,
                  "tensor 'x': data_offsets [0, 12] hold 12 bytes, shape [2, 3] F32 needs 24");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin after end");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",\"8\"]}}", 8, "two non-negative");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0.5,8.5]}}", 9, "two non-negative");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, "two non-negative");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "array of two");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "array of two");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{}}}", 8, "array of two");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                  12, "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                  8, "overlap");
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  16, "overlap"); /* nested */
    expect_reject("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                  8, "duplicate tensor name 'a'");
    /* metadata */
    expect_reject("{\"__metadata__\":{\"k\":5}}", 0, "__metadata__ 'k' is 5, not a string");
    expect_reject("{\"__metadata__\":{\"k\":null}}", 0, "not a string");
    expect_reject("{\"__metadata__\":\"x\"}", 0, "__metadata__ is a string, not an object");
    expect_reject("{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, "duplicate __metadata__ key 'k'");
    expect_reject("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate __metadata__");
    /* control characters in a name are not echoed raw into the message */
    expect_reject("{\"a\\nb\":5}", 0, "tensor 'a?b'");

    /* accepted edge cases */
    f = expect_accept("{}", 0);
    ck_assert_uint_eq(sv_st_count(f), 0);
    sv_st_close(f);
    f = expect_accept("  {\"__metadata__\":{}}   \n", 0);
    sv_st_close(f);
    /* gaps, trailing data, an empty tensor inside another's range, unknown fields */
    f = expect_accept("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12],\"extra\":1},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                      20);
    ck_assert_uint_eq(sv_st_count(f), 2);
    ck_assert_str_eq(sv_st_name(f, 0), "a");
    ck_assert_str_eq(sv_st_name(f, 1), "e");
    check_consistent(f, 20);
    sv_st_close(f);
    /* bad arguments */
    ck_assert_int_eq(sv_st_open_memory(NULL, 8, NULL, &f, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_open(NULL, &f, &e), SV_ERR_INVALID);
    ck_assert_int_eq(sv_st_open("x", NULL, &e), SV_ERR_INVALID);
}
END_TEST

/* Every truncation of a valid file fails cleanly, in memory and on disk. */
START_TEST(test_truncation)
{
    char *dir = make_tmpdir();
    char *path = write_standard(dir, "full.safetensors", 0);
    size_t n;
    unsigned char *b = slurp(path, &n);
    sv_err e = {0};
    char tp[1024];
    snprintf(tp, sizeof tp, "%s/trunc.safetensors", dir);
    for (size_t len = 0; len < n; len++) {
        /* exact-size heap copy so that valgrind sees any over-read */
        unsigned char *c = malloc(len ? len : 1);
        memcpy(c, b, len);
        sv_st_file *f = NULL;
        int rc = sv_st_open_memory(c, len, "t", &f, &e);
        ck_assert_msg(rc == SV_ERR_FORMAT, "truncated at %zu of %zu: rc %d", len, n, rc);
        ck_assert(f == NULL);
        free(c);
        spit(tp, b, len);
        rc = sv_st_open(tp, &f, &e);
        ck_assert_msg(rc == SV_ERR_FORMAT, "file truncated at %zu of %zu: rc %d", len, n, rc);
    }
    sv_st_file *f = NULL;
    ck_assert_int_eq(sv_st_open_memory(b, n, "t", &f, &e), 0);
    sv_st_close(f);
    free(b);
    free(path);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* Random byte changes in the length field and header: an error or a valid,
 * consistent result, never a crash or an out-of-bounds read. */
START_TEST(test_header_fuzz)
{
    char *dir = make_tmpdir();
    char *path = write_standard(dir, "full.safetensors", 0);
    size_t n;
    unsigned char *b = slurp(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | b[i];
    static const char interesting[] = "{}[]\":,0123456789-.eE \\u";
    tu_rng r;
    tu_seed(&r, 12345);
    int ok = 0, bad = 0;
    const int trials = 1500;
    for (int trial = 0; trial < trials; trial++) {
        unsigned char *c = malloc(n);
        memcpy(c, b, n);
        int flips = 1 + (int)(tu_next(&r) % 3);
        for (int k = 0; k < flips; k++) {
            size_t pos;
            if (tu_next(&r) % 8 == 0)
                pos = tu_next(&r) % 8; /* length field */
            else
                pos = 8 + tu_next(&r) % hl;
            uint64_t how = tu_next(&r) % 3;
            if (how == 0)
                c[pos] ^= (unsigned char)(1u << (tu_next(&r) % 8));
            else if (how == 1)
                c[pos] = (unsigned char)(tu_next(&r) & 0xff);
            else
                c[pos] = (unsigned char)interesting[tu_next(&r) % (sizeof interesting - 1)];
        }
        sv_st_file *f = NULL;
        sv_err e = {0};
        int rc = sv_st_open_memory(c, n, "fuzz", &f, &e);
        if (rc == 0) {
            ck_assert(f != NULL);
            check_consistent(f, n);
            sv_st_close(f);
            ok++;
        } else {
            ck_assert_msg(rc == SV_ERR_FORMAT, "trial %d: rc %d (%s)", trial, rc, e.msg);
            ck_assert(f == NULL);
            ck_assert(e.msg[0] != 0);
            bad++;
        }
        free(c);
    }
    /* both outcomes must occur, or the fuzzing is not exercising anything */
    ck_assert_msg(ok > 10 && bad > 10, "fuzz outcomes: %d accepted, %d rejected", ok, bad);
    free(b);
    free(path);
    rm_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_atomic_save)
{
    char *dir = make_tmpdir();
    sv_err e = {0};
    sv_st_writer *w = sv_st_writer_new();
    float f32[NF32];
    fill_writer(w, f32, 1);

    /* the target is an existing directory: rename fails, tmp removed, dir kept */
    char p[1024];
    snprintf(p, sizeof p, "%s/isdir.safetensors", dir);
    ck_assert(mkdir(p, 0755) == 0);
    ck_assert_int_eq(sv_st_writer_save(w, p, &e), SV_ERR_IO);
    ck_assert_msg(strstr(e.msg, "rename") != NULL, "%s", e.msg);
    struct stat st;
    ck_assert(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert_int_eq(count_tmp(dir), 0);

    /* parent directory does not exist */
    snprintf(p, sizeof p, "%s/no/such/dir/x.safetensors", dir);
    ck_assert_int_eq(sv_st_writer_save(w, p, &e), SV_ERR_IO);
    ck_assert_int_eq(count_tmp(dir), 0);

    /* a write that fails part-way (file size limit in a child process)
     * leaves the old file byte-for-byte intact and no temporary file */
    char *old = write_standard(dir, "ckpt.safetensors", 0);
    size_t n0;
    unsigned char *before = slurp(old, &n0);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl))
            _exit(3);
        sv_err ce = {0};
        int rc = sv_st_writer_save(w, old, &ce); /* > 16 KB with the big tensor */
        int code = rc == SV_ERR_IO && strstr(ce.msg, "write") ? 0 : 1;
        if (code)
            fprintf(stderr, "child: save returned %d: %s\n", rc, ce.msg);
        /* free everything so that a leak checker following the fork is quiet */
        sv_st_writer_free(w);
        free(before);
        free(old);
        free(dir);
        _exit(code);
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    size_t n1;
    unsigned char *after = slurp(old, &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    ck_assert_int_eq(count_tmp(dir), 0);
    free(after);

    /* the same save without the limit replaces the file */
    ck_assert_msg(sv_st_writer_save(w, old, &e) == 0, "%s", e.msg);
    sv_st_file *f;
    ck_assert_int_eq(sv_st_open(old, &f, &e), 0);
    ck_assert(sv_st_find(f, "big") != NULL);
    float v[4099];
    ck_assert_int_eq(sv_st_read_f32(f, "big", v, 4099, &e), 0);
    ck_assert(v[4098] == 4098.0f);
    sv_st_close(f);
    ck_assert_int_eq(count_tmp(dir), 0);

    free(before);
    free(old);
    sv_st_writer_free(w);
    rm_tree(dir);
    free(dir);
}
END_TEST

/* The official parity bundle, when the shared directory is present. */
START_TEST(test_reference_bundle)
{
    const char *sh = getenv("SVGAN_SHARED_DIR");
    if (!sh || !*sh)
        return;
    char p[1024], mp[1024];
    snprintf(p, sizeof p, "%s/reference/tiny32-k3/bundle.safetensors", sh);
    snprintf(mp, sizeof mp, "%s/reference/tiny32-k3/manifest.json", sh);
    if (access(p, R_OK) || access(mp, R_OK))
        return;
    size_t mn;
    char *mtext = (char *)slurp(mp, &mn);
    cJSON *man = cJSON_ParseWithLength(mtext, mn);
    ck_assert(man != NULL);
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(man, "config");
    const cJSON *tens = cJSON_GetObjectItemCaseSensitive(man, "tensors");
    ck_assert(cJSON_IsObject(cfg) && cJSON_IsObject(tens));
    int B = cJSON_GetObjectItemCaseSensitive(cfg, "batch")->valueint;
    int Z = cJSON_GetObjectItemCaseSensitive(cfg, "z_dim")->valueint;

    sv_err e = {0};
    sv_st_file *f = NULL;
    ck_assert_msg(sv_st_open(p, &f, &e) == 0, "%s", e.msg);
    const sv_st_tensor *t;
    ck_assert_int_eq(sv_st_get(f, "in.z", &t, &e), 0);
    ck_assert_int_eq(t->dtype, SV_ST_F32);
    int64_t want[] = {B, Z};
    ck_assert_msg(sv_st_check_shape(f, t, 2, want, &e) == 0, "%s", e.msg);
    float *z = malloc((size_t)B * (size_t)Z * sizeof *z);
    ck_assert_int_eq(sv_st_read_f32(f, "in.z", z, (size_t)B * (size_t)Z, &e), 0);
    double ss = 0;
    for (int i = 0; i < B * Z; i++) {
        ck_assert(isfinite(z[i]));
        ss += (double)z[i] * z[i];
    }
    ck_assert(ss > 0);
    free(z);
    /* every manifest tensor is present with its shape, and nothing else */
    ck_assert_uint_eq(sv_st_count(f), (size_t)cJSON_GetArraySize(tens));
    for (const cJSON *x = tens->child; x; x = x->next) {
        ck_assert_msg(sv_st_get(f, x->string, &t, &e) == 0, "%s", e.msg);
        int64_t s[SV_ST_MAX_DIMS];
        int nd = 0;
        for (const cJSON *d = x->child; d && nd < SV_ST_MAX_DIMS; d = d->next)
            s[nd++] = (int64_t)d->valuedouble;
        ck_assert_msg(sv_st_check_shape(f, t, nd, s, &e) == 0, "%s", e.msg);
    }
    const char *c = sv_st_metadata(f, "config");
    ck_assert(c != NULL);
    cJSON *cj = cJSON_Parse(c);
    ck_assert(cJSON_IsObject(cj));
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cj, "z_dim")->valueint, Z);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(cj, "batch")->valueint, B);
    cJSON_Delete(cj);
    check_consistent(f, (size_t)-1);
    sv_st_close(f);
    cJSON_Delete(man);
    free(mtext);
}
END_TEST

/* Device helpers: upload an entry, download it back through the writer. */
START_TEST(test_device)
{
    sv_ctx *ctx = NULL;
    sv_err e = {0};
    if (sv_ctx_create(&ctx, NULL, &e))
        return; /* no device: nothing to check */
    char *dir = make_tmpdir();
    char *path = write_standard(dir, "dev.safetensors", 0);
    sv_st_file *f;
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    sv_tensor t;
    TU_OK(ctx, sv_st_upload(ctx, f, "G.mapping.fc0.weight", &t));
    ck_assert(t.ndim == 3 && t.shape[0] == 2 && t.shape[1] == 3 && t.shape[2] == 5);
    sv_tensor h;
    TU_OK(ctx, sv_st_upload(ctx, f, "half", &h)); /* converted from F16 */
    sv_tensor bad;
    ck_assert_int_eq(sv_st_upload(ctx, f, "eight.dims \"quoted\"\\ é", &bad), SV_ERR_INVALID); /* 8 dims */
    ck_assert_int_eq(sv_st_upload(ctx, f, "steps", &bad), SV_ERR_FORMAT);
    ck_assert_int_eq(sv_st_upload(ctx, f, "nope", &bad), SV_ERR_FORMAT);
    ck_assert(bad.buf == NULL);
    sv_st_writer *w = sv_st_writer_new();
    ck_assert_int_eq(sv_st_writer_add_tensor(w, "w", &t, &e), 0);
    ck_assert_int_eq(sv_st_writer_add_tensor(w, "h", &h, &e), 0);
    char p2[1024];
    snprintf(p2, sizeof p2, "%s/dev2.safetensors", dir);
    ck_assert_int_eq(sv_st_writer_save(w, p2, &e), 0);
    sv_st_writer_free(w);
    sv_st_file *g;
    ck_assert_int_eq(sv_st_open(p2, &g, &e), 0);
    ck_assert(memcmp(sv_st_find(g, "w")->data, sv_st_find(f, "G.mapping.fc0.weight")->data, 120) == 0);
    float hv[12];
    ck_assert_int_eq(sv_st_read_f32(g, "h", hv, 12, &e), 0);
    for (int i = 0; i < 12; i++)
        ck_assert(same_float(hv[i], f16_vals[i]));
    sv_st_close(g);
    sv_tensor_free(&t);
    sv_tensor_free(&h);
    sv_st_close(f);
    sv_ctx_destroy(ctx);
    free(path);
    rm_tree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("host");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_dtypes);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_writer_rejects);
    tcase_add_test(tc, test_open_rejects);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_header_fuzz);
    tcase_add_test(tc, test_atomic_save);
    tcase_add_test(tc, test_reference_bundle);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("device");
    tcase_set_timeout(td, 120);
    tcase_add_test(td, test_device);
    suite_add_tcase(s, td);
    return tu_main(s, 0);
}
