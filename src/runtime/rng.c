/* Philox4x32-10 and the normal/uniform streams built on it. */
#include "config.h"

#include <math.h>

#include "svgan/rng.h"

void sv_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += 0x9E3779B9u; /* Weyl key schedule */
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void sv_rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    sv_philox4x32(ctr, key, out);
}

/* (0, 1]: never 0, so log() is finite */
static double u01_open0(uint32_t hi, uint32_t lo)
{
    uint64_t v = ((uint64_t)hi << 32 | lo) >> 11;
    return ((double)v + 1.0) * (1.0 / 9007199254740992.0);
}

static double normal_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t b[4];
    sv_rng_block(seed, stream, i >> 1, b);
    double r = sqrt(-2.0 * log(u01_open0(b[0], b[1])));
    double a = 6.283185307179586476925 * u01_open0(b[2], b[3]);
    return (i & 1) ? r * sin(a) : r * cos(a);
}

void sv_rng_normal_f64(uint64_t seed, uint64_t stream, uint64_t first, size_t n, double *out)
{
    for (size_t k = 0; k < n; k++)
        out[k] = normal_at(seed, stream, first + k);
}

void sv_rng_normal(uint64_t seed, uint64_t stream, uint64_t first, size_t n, float *out)
{
    for (size_t k = 0; k < n; k++)
        out[k] = (float)normal_at(seed, stream, first + k);
}

void sv_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t first, size_t n, double *out)
{
    for (size_t k = 0; k < n; k++) {
        uint64_t i = first + k;
        uint32_t b[4];
        sv_rng_block(seed, stream, i >> 1, b);
        uint32_t hi = (i & 1) ? b[2] : b[0], lo = (i & 1) ? b[3] : b[1];
        out[k] = (double)(((uint64_t)hi << 32 | lo) >> 11) * (1.0 / 9007199254740992.0);
    }
}
