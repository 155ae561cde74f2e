/* elementwise — see include/svgan/ops/elementwise.h.  One work-item per
 * element; reductions are fixed-order work-group trees. */

/* torch.lerp's formula (exact at both ends). */
inline float sv_lerpf(float s, float e, float w)
{
    return w < 0.5f ? s + w * (e - s) : e - (e - s) * (1.0f - w);
}

__kernel void axpby(float a, __global const float *x, long xo, float b, __global float *y, long yo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    float v = a * x[xo + i];
    if (b != 0.0f)
        v += b * y[yo + i];
    y[yo + i] = v;
}

__kernel void scale(__global float *y, long yo, float a, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] *= a;
}

__kernel void mul(__global const float *a, long ao, __global const float *b, long bo, __global float *y, long yo,
                  long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] = a[ao + i] * b[bo + i];
}

__kernel void add(__global const float *a, long ao, __global const float *b, long bo, __global float *y, long yo,
                  long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] = a[ao + i] + b[bo + i];
}

__kernel void lerp_s(__global const float *a, long ao, __global const float *b, long bo, float t,
                     __global float *y, long yo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] = sv_lerpf(a[ao + i], b[bo + i], t);
}

__kernel void lerp_t(__global const float *a, long ao, __global const float *b, long bo, __global const float *t,
                     long to, __global float *y, long yo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] = sv_lerpf(a[ao + i], b[bo + i], t[to + i]);
}

__kernel void rowscale(__global const float *x, long xo, __global const float *s, long so, float alpha,
                       __global float *y, long yo, long D, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    y[yo + i] = x[xo + i] * (alpha * s[so + i / D]);
}

__kernel void softplus_fwd(__global const float *x, long xo, __global float *y, long yo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    float v = x[xo + i];
    y[yo + i] = fmax(v, 0.0f) + log1p(exp(-fabs(v))); /* NaN propagates through fabs/exp */
}

__kernel void softplus_bwd(__global const float *x, long xo, __global const float *gy, long gyo,
                           __global float *gx, long gxo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    float v = x[xo + i];
    float e = exp(-fabs(v)); /* in (0, 1]: no overflow */
    float s = v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    if (isnan(v))
        s = v;
    gx[gxo + i] = gy[gyo + i] * s;
}

/* ---- reductions ---- */
/* Stage 1: group g of G, lane l sums x[i] for i = g·SV_WG + l + k·G·SV_WG, then a tree;
 * writes part_out[g]. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void sum_stage1(__global const float *x, long xo, long n, __global float *po, long poo)
{
    __local float part[SV_WG];
    int l = (int)get_local_id(0);
    long g = (long)get_group_id(0), G = (long)get_num_groups(0);
    float acc = 0.0f;
    for (long i = g * SV_WG + l; i < n; i += G * SV_WG)
        acc += x[xo + i];
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0)
        po[poo + g] = part[0];
}

/* Stage 2: one group sums G partials. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void sum_stage2(__global const float *pin, long pio, long G, float alpha, __global float *out, long oo,
                int accumulate)
{
    __local float part[SV_WG];
    int l = (int)get_local_id(0);
    float acc = 0.0f;
    for (long i = l; i < G; i += SV_WG)
        acc += pin[pio + i];
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0) {
        float v = part[0] * alpha;
        out[oo] = accumulate ? out[oo] + v : v;
    }
}

/* One group per row r of x [R, L]: out[r] (+)= alpha · Σ_j f(x[r, j]),
 * f = identity (sq = 0) or square (sq = 1). */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void row_reduce(__global const float *x, long xo, __global const float *z, long zo, long L, int mode, float alpha,
                __global float *out, long oo, int accumulate)
{
    /* mode 0: Σ x; 1: Σ x²; 2: Σ x·z (z is a second [rows, L] tensor) */
    __local float part[SV_WG];
    int l = (int)get_local_id(0);
    long r = (long)get_group_id(0);
    __global const float *row = x + xo + r * L;
    __global const float *zrow = z + zo + r * L;
    float acc = 0.0f;
    if (mode == 1) {
        for (long j = l; j < L; j += SV_WG) {
            float v = row[j];
            acc += v * v;
        }
    } else if (mode == 2) {
        for (long j = l; j < L; j += SV_WG)
            acc += row[j] * zrow[j];
    } else {
        for (long j = l; j < L; j += SV_WG)
            acc += row[j];
    }
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0) {
        float v = part[0] * alpha;
        out[oo + r] = accumulate ? out[oo + r] + v : v;
    }
}

/* Per-group count of non-finite values, written as uint into a float buffer. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void count_nonfinite(__global const float *x, long xo, long n, __global uint *po, long poo)
{
    __local uint part[SV_WG];
    int l = (int)get_local_id(0);
    long g = (long)get_group_id(0), G = (long)get_num_groups(0);
    uint acc = 0;
    for (long i = g * SV_WG + l; i < n; i += G * SV_WG)
        acc += isfinite(x[xo + i]) ? 0u : 1u;
    part[l] = acc;
    sv_tree_sum_uint(part, l);
    if (l == 0)
        po[poo + g] = part[0];
}

__kernel void nan_to_num(__global float *x, long xo, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    float v = x[xo + i];
    if (isnan(v))
        x[xo + i] = 0.0f;
    else if (isinf(v))
        x[xo + i] = v > 0.0f ? 1e5f : -1e5f;
}

/* ---- layout ---- */

/* Channel-block copy: for n < N, c < nc, s < S
 *   dst[(n·dC + dc0 + c)·S + s] (+)= src[(n·sC + sc0 + c)·S + s]. */
__kernel void copy_channels(__global const float *src, long so, long sC, long sc0, __global float *dst, long dso,
                            long dC, long dc0, long nc, long S, long total, int accumulate)
{
    long i = GID0;
    if (i >= total)
        return;
    long s = i % S;
    long t = i / S;
    long c = t % nc;
    long n = t / nc;
    float v = src[so + (n * sC + sc0 + c) * S + s];
    long d = dso + (n * dC + dc0 + c) * S + s;
    dst[d] = accumulate ? dst[d] + v : v;
}

/* y[r, s] = x[r] for r < NC, s < HW. */
__kernel void broadcast_spatial(__global const float *x, long xo, __global float *y, long yo, long HW, long total)
{
    long i = GID0;
    if (i >= total)
        return;
    y[yo + i] = x[xo + i / HW];
}

/* y[b, c, a] = x[b, a, c]; one item per output element. */
/* y [P, B, A, S] = x [P, A, B, S]: swap the two middle dims, inner blocks of S
 * contiguous elements kept together. */
__kernel void swap_mid(__global const float *x, long xo, __global float *y, long yo, long A, long B, long S,
                       long total)
{
    long i = GID0;
    if (i >= total)
        return;
    long s = i % S;
    long t = i / S;
    long a = t % A;
    t /= A;
    long b = t % B;
    long p = t / B;
    y[yo + i] = x[xo + ((p * A + a) * B + b) * S + s];
}

/* y[r·reps + k, :] = x[r, :] for k < reps (rows of S elements). */
__kernel void repeat_rows(__global const float *x, long xo, __global float *y, long yo, long S, long reps,
                          long total)
{
    long i = GID0;
    if (i >= total)
        return;
    long s = i % S, row = i / S;
    y[yo + i] = x[xo + (row / reps) * S + s];
}

/* gx[r, s] (+)= Σ_k gy[r·reps + k, s], k ascending (fixed order). */
__kernel void repeat_rows_bwd(__global const float *gy, long gyo, __global float *gx, long gxo, long S, long reps,
                              long total, int accumulate)
{
    long i = GID0;
    if (i >= total)
        return;
    long s = i % S, r = i / S;
    float acc = 0.0f;
    for (long k = 0; k < reps; k++)
        acc += gy[gyo + (r * reps + k) * S + s];
    gx[gxo + i] = accumulate ? gx[gxo + i] + acc : acc;
}
