/* Parameter sets: flat layout, views, clone, safetensors round trip and
 * load errors. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static sv_params *make_set(sv_ctx *c)
{
    sv_params *p;
    TU_OK(c, sv_params_new(c, &p));
    int64_t a[2] = {3, 5}, b[1] = {7}, s[4] = {2, 3, 3, 3};
    TU_OK(c, sv_params_add(p, "fc.weight", 2, a));
    TU_OK(c, sv_params_add(p, "fc.bias", 1, b));
    TU_OK(c, sv_params_add(p, "conv.weight", 4, s));
    ck_assert_int_eq(sv_params_add(p, "fc.bias", 1, b), SV_ERR_INVALID); /* duplicate */
    TU_OK(c, sv_params_finalize(p));
    return p;
}

START_TEST(t_layout_and_roundtrip)
{
    sv_ctx *c = tu_ctx();
    sv_params *p = make_set(c);
    ck_assert_uint_eq(sv_params_count(p), 3);
    ck_assert_int_ge(sv_params_numel(p), 15 + 7 + 54);
    sv_tensor *w = sv_params_get(p, "fc.weight"), *b = sv_params_get(p, "fc.bias"),
              *k = sv_params_get(p, "conv.weight");
    ck_assert(w && b && k);
    ck_assert_ptr_null(sv_params_get(p, "nope"));
    ck_assert(w->mem == b->mem && b->mem == sv_params_flat(p)->mem); /* one buffer */
    ck_assert(b->off >= w->off + 15 && k->off >= b->off + 7);         /* no overlap */
    float hw[15], hb[7], hk[54], g[54];
    for (int i = 0; i < 54; i++) {
        if (i < 15) hw[i] = (float)i;
        if (i < 7) hb[i] = -(float)i;
        hk[i] = 0.5f * (float)i;
    }
    TU_OK(c, sv_tensor_write(w, hw, 15));
    TU_OK(c, sv_tensor_write(b, hb, 7));
    TU_OK(c, sv_tensor_write(k, hk, 54));

    char path[] = "/tmp/svgan-params-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    sv_err e = {0};
    sv_st_writer *wr = sv_st_writer_new();
    ck_assert_int_eq(sv_params_save(p, wr, "G.", &e), 0);
    ck_assert_int_eq(sv_st_writer_save(wr, path, &e), 0);
    sv_st_writer_free(wr);

    sv_params *q;
    TU_OK(c, sv_params_clone_layout(p, &q));
    sv_st_file *f;
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    ck_assert_msg(sv_params_load(q, f, "G.", 1, &e) == 0, "%s", e.msg);
    TU_OK(c, sv_tensor_read(sv_params_get(q, "conv.weight"), g, 54));
    ck_assert(memcmp(g, hk, sizeof hk) == 0);
    TU_OK(c, sv_tensor_read(sv_params_get(q, "fc.bias"), g, 7));
    ck_assert(memcmp(g, hb, sizeof hb) == 0);
    /* wrong prefix: missing tensor, clear message */
    ck_assert_int_eq(sv_params_load(q, f, "D.", 0, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "D.fc.weight"));
    sv_st_close(f);

    /* a set with a different shape refuses the file */
    sv_params *r;
    TU_OK(c, sv_params_new(c, &r));
    int64_t a2[2] = {5, 3};
    TU_OK(c, sv_params_add(r, "fc.weight", 2, a2));
    TU_OK(c, sv_params_finalize(r));
    ck_assert_int_eq(sv_st_open(path, &f, &e), 0);
    ck_assert_int_eq(sv_params_load(r, f, "G.", 0, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "fc.weight"));
    /* strict: the file has tensors the set does not declare */
    sv_params *r2;
    TU_OK(c, sv_params_new(c, &r2));
    int64_t b1[1] = {7};
    TU_OK(c, sv_params_add(r2, "fc.bias", 1, b1));
    TU_OK(c, sv_params_finalize(r2));
    ck_assert_int_eq(sv_params_load(r2, f, "G.", 0, &e), 0);
    ck_assert_int_eq(sv_params_load(r2, f, "G.", 1, &e), SV_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(e.msg, "unexpected tensor"));
    sv_st_close(f);
    unlink(path);
    sv_params_free(r);
    sv_params_free(r2);
    sv_params_free(q);
    sv_params_free(p);
    sv_ctx_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("params");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_layout_and_roundtrip);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
