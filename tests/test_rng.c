/* Philox4x32-10 known answers (Random123's test vectors), window
 * independence, and the moments of the normal and uniform streams. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include "testutil.h"
#include "svgan/rng.h"

START_TEST(t_known_answers)
{
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int c = 0; c < 3; c++) {
        uint32_t out[4];
        sv_philox4x32(ctr[c], key[c], out);
        for (int i = 0; i < 4; i++)
            ck_assert_msg(out[i] == want[c][i], "vector %d lane %d: %08x != %08x", c, i, out[i], want[c][i]);
    }
}
END_TEST

START_TEST(t_windows_and_streams)
{
    enum { N = 1001 };
    double *all = malloc(N * sizeof *all), *win = malloc(N * sizeof *win);
    sv_rng_normal_f64(7, SV_STREAM_MOTION + 3, 0, N, all);
    /* any window equals the same slice of the full sequence, bit for bit */
    sv_rng_normal_f64(7, SV_STREAM_MOTION + 3, 333, 101, win);
    for (int i = 0; i < 101; i++)
        ck_assert(win[i] == all[333 + i]);
    sv_rng_normal_f64(7, SV_STREAM_MOTION + 3, 1000, 1, win);
    ck_assert(win[0] == all[1000]);
    /* another stream or seed differs */
    sv_rng_normal_f64(7, SV_STREAM_MOTION + 4, 0, N, win);
    int same = 0;
    for (int i = 0; i < N; i++)
        same += win[i] == all[i];
    ck_assert_int_lt(same, 3);
    sv_rng_normal_f64(8, SV_STREAM_MOTION + 3, 0, N, win);
    same = 0;
    for (int i = 0; i < N; i++)
        same += win[i] == all[i];
    ck_assert_int_lt(same, 3);
    /* float version = rounded double version */
    float f[5];
    sv_rng_normal(7, SV_STREAM_MOTION + 3, 10, 5, f);
    for (int i = 0; i < 5; i++)
        ck_assert(f[i] == (float)all[10 + i]);
    free(all);
    free(win);
}
END_TEST

START_TEST(t_moments)
{
    enum { N = 200000 };
    double *x = malloc(N * sizeof *x);
    sv_rng_normal_f64(1, SV_STREAM_INIT, 0, N, x);
    double m = 0, v = 0, k = 0;
    for (int i = 0; i < N; i++)
        m += x[i];
    m /= N;
    for (int i = 0; i < N; i++) {
        double d = x[i] - m;
        v += d * d;
        k += d * d * d * d;
        ck_assert(isfinite(x[i]));
    }
    v /= N;
    k = k / N / (v * v);
    ck_assert_msg(fabs(m) < 0.01 && fabs(v - 1) < 0.01 && fabs(k - 3) < 0.05, "mean %g var %g kurtosis %g", m, v, k);
    sv_rng_uniform_f64(1, SV_STREAM_DATA, 0, N, x);
    m = 0;
    double lo = 1, hi = 0;
    for (int i = 0; i < N; i++) {
        m += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    m /= N;
    ck_assert_msg(fabs(m - 0.5) < 0.005 && lo >= 0 && hi < 1, "uniform mean %g range [%g, %g]", m, lo, hi);
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, t_known_answers);
    tcase_add_test(tc, t_windows_and_streams);
    tcase_add_test(tc, t_moments);
    suite_add_tcase(s, tc);
    return tu_main(s, 0);
}
