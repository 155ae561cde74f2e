/* Runtime: device selection, program build choke-point and caches, tensors
 * and the pool. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

START_TEST(t_devices_and_select)
{
    sv_devinfo *l;
    int n;
    sv_err e = {0};
    ck_assert_int_eq(sv_devices(&l, &n, &e), 0);
    ck_assert_int_ge(n, 1);
    ck_assert(l[0].name[0] != 0);
    ck_assert(l[0].compute_units >= 1);
    sv_devinfo d;
    ck_assert_int_eq(sv_device_select("0", &d, &e), 0);
    ck_assert_str_eq(d.name, l[0].name);
    ck_assert_int_eq(sv_device_select("999", &d, &e), SV_ERR_NODEVICE);
    ck_assert_ptr_nonnull(strstr(e.msg, "no device with that index"));
    ck_assert_int_eq(sv_device_select("no-such-device-xyz", &d, &e), SV_ERR_NODEVICE);
    ck_assert_ptr_nonnull(strstr(e.msg, "matches no OpenCL device"));
    /* type and substring selection find the same device as its index */
    ck_assert_int_eq(sv_device_select(sv_devtype_name(l[0].type), &d, &e), 0);
    char sub[8];
    snprintf(sub, sizeof sub, "%.5s", l[0].name);
    ck_assert_int_eq(sv_device_select(sub, &d, &e), 0);
    free(l);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(t_build_cache_and_errors)
{
    char dir[] = "/tmp/svgan-kdir-XXXXXX", cdir[] = "/tmp/svgan-cache-XXXXXX", p[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_ptr_nonnull(mkdtemp(cdir));
    snprintf(p, sizeof p, "%s/common.cl", dir);
    write_file(p, "#define TWO 2.0f\n");
    snprintf(p, sizeof p, "%s/ok.cl", dir);
    write_file(p, "__kernel void twice(__global float *x) { x[get_global_id(0)] *= TWO * SCALE; }\n");
    snprintf(p, sizeof p, "%s/bad.cl", dir);
    write_file(p, "__kernel void broken(__global float *x) { x[0] = undefined_symbol; }\n");
    setenv("SVGAN_KERNEL_DIR", dir, 1);
    setenv("SVGAN_CACHE_DIR", cdir, 1);

    sv_ctx *c = tu_ctx();
    cl_kernel k1, k2, k3;
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=1.0f", &k1));
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=1.0f", &k2));
    ck_assert_ptr_eq(k1, k2); /* in-memory cache */
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=3.0f", &k3));
    ck_assert_ptr_ne(k1, k3); /* options are part of the key */
    sv_ctx_stats st;
    sv_ctx_get_stats(c, &st);
    ck_assert_uint_eq(st.programs_built + st.programs_from_disk, 2);

    /* a build failure names file and kernel and carries the log */
    cl_kernel kb;
    ck_assert_int_eq(sv_kernel(c, "bad.cl", "broken", NULL, &kb), SV_ERR_BUILD);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(c), "bad.cl"));
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(c), "broken"));
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(c), "-cl-std=CL1.2"));
    ck_assert_ptr_null(strstr(sv_ctx_errmsg(c), "fast-relaxed"));
    /* a missing file is an I/O error naming the path */
    ck_assert_int_eq(sv_kernel(c, "missing.cl", "x", NULL, &kb), SV_ERR_IO);
    ck_assert_ptr_nonnull(strstr(sv_ctx_errmsg(c), "missing.cl"));
    sv_ctx_destroy(c);

    /* a second context loads both programs from the disk cache */
    c = tu_ctx();
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=1.0f", &k1));
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=3.0f", &k1));
    sv_ctx_get_stats(c, &st);
    ck_assert_uint_eq(st.programs_from_disk, 2);
    ck_assert_uint_eq(st.programs_built, 0);
    sv_ctx_destroy(c);

    /* changing the source invalidates the cache entry */
    snprintf(p, sizeof p, "%s/ok.cl", dir);
    write_file(p, "__kernel void twice(__global float *x) { x[get_global_id(0)] *= TWO * SCALE + 0.0f; }\n");
    c = tu_ctx();
    TU_OK(c, sv_kernel(c, "ok.cl", "twice", "-DSCALE=1.0f", &k1));
    sv_ctx_get_stats(c, &st);
    ck_assert_uint_eq(st.programs_built, 1);
    sv_ctx_destroy(c);
}
END_TEST

START_TEST(t_tensor_pool_views)
{
    sv_ctx *c = tu_ctx();
    float h[24], g[24];
    for (int i = 0; i < 24; i++)
        h[i] = (float)i;
    /* warm-up, then a "training step" loop must reuse pooled buffers */
    for (int it = 0; it < 5; it++) {
        sv_tensor a, b;
        TU_OK(c, sv_tensor_newv(c, &a, 3, (int64_t)2, (int64_t)3, (int64_t)4));
        TU_OK(c, sv_tensor_newv(c, &b, 2, (int64_t)100, (int64_t)7));
        TU_OK(c, sv_tensor_write(&a, h, 24));
        TU_OK(c, sv_tensor_read(&a, g, 24));
        ck_assert(memcmp(h, g, sizeof h) == 0);
        sv_tensor_free(&a);
        sv_tensor_free(&b);
    }
    sv_ctx_stats st;
    sv_ctx_get_stats(c, &st);
    ck_assert_uint_eq(st.buffers_created, 2);

    sv_tensor a, v, r;
    TU_OK(c, sv_tensor_newv(c, &a, 3, (int64_t)2, (int64_t)3, (int64_t)4));
    TU_OK(c, sv_tensor_write(&a, h, 24));
    TU_OK(c, sv_tensor_rows(&a, &v, 1, 2)); /* second [3,4] block */
    ck_assert_int_eq(sv_numel(&v), 12);
    TU_OK(c, sv_tensor_read(&v, g, 12));
    for (int i = 0; i < 12; i++)
        ck_assert(g[i] == 12 + i);
    int64_t sh[2] = {6, 2};
    TU_OK(c, sv_tensor_reshape(&v, &r, 2, sh));
    TU_OK(c, sv_tensor_fill(&r, -1.0f));
    sv_tensor_free(&v);
    sv_tensor_free(&r);
    TU_OK(c, sv_tensor_read(&a, g, 24));
    for (int i = 0; i < 24; i++)
        ck_assert(g[i] == (i < 12 ? (float)i : -1.0f));
    /* bad views and reads are errors, not crashes */
    int64_t big[1] = {25};
    ck_assert_int_eq(sv_tensor_view(&a, &v, 0, 1, big), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tensor_rows(&a, &v, 1, 3), SV_ERR_INVALID);
    ck_assert_int_eq(sv_tensor_read(&a, g, 23), SV_ERR_INVALID);
    int64_t six[6] = {1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(sv_tensor_new(c, &v, 6, six), SV_ERR_INVALID);
    sv_tensor_free(&a);
    sv_ctx_destroy(c);
}
END_TEST

/* Two contexts in one process are independent: each has its own programs,
 * pool and GEMM state; destroying one leaves the other working. */
START_TEST(t_two_contexts)
{
    sv_ctx *a = tu_ctx(), *b = tu_ctx();
    ck_assert_ptr_ne(a, b);
    float h[6] = {-2, -1, 0, 1, 2, 3}, g[6];
    sv_tensor ta, tb;
    TU_OK(a, sv_tensor_newv(a, &ta, 2, (int64_t)2, (int64_t)3));
    TU_OK(b, sv_tensor_newv(b, &tb, 2, (int64_t)2, (int64_t)3));
    TU_OK(a, sv_tensor_write(&ta, h, 6));
    TU_OK(b, sv_tensor_write(&tb, h, 6));
    sv_bias_act_params p = sv_bias_act_default(SV_ACT_LRELU);
    TU_OK(a, sv_bias_act_fwd(a, &ta, NULL, &p, &ta));
    /* the error record is per context */
    sv_tensor bad;
    TU_OK(b, sv_tensor_newv(b, &bad, 2, (int64_t)3, (int64_t)2));
    ck_assert_int_eq(sv_bias_act_fwd(b, &tb, NULL, &p, &bad), SV_ERR_INVALID);
    ck_assert_str_eq(sv_ctx_errmsg(a), "");
    sv_tensor_free(&ta);
    sv_ctx_destroy(a);
    TU_OK(b, sv_bias_act_fwd(b, &tb, NULL, &p, &tb));
    TU_OK(b, sv_tensor_read(&tb, g, 6));
    for (int i = 0; i < 6; i++)
        ck_assert(fabsf(g[i] - (h[i] > 0 ? h[i] : 0.2f * h[i]) * 1.41421356f) < 1e-5f);
    sv_tensor_free(&tb);
    sv_tensor_free(&bad);
    sv_ctx_destroy(b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, t_devices_and_select);
    tcase_add_test(tc, t_build_cache_and_errors);
    tcase_add_test(tc, t_tensor_pool_views);
    tcase_add_test(tc, t_two_contexts);
    suite_add_tcase(s, tc);
    return tu_main(s, 1);
}
