/* bias_act — see include/svgan/ops/bias_act.h.  x is [N, C, S]. */

/* y = clamp(act(x + b·bias_gain)·gain); shared by both forms. */
inline float ba_fwd1(float v, float bv, int has_b, int act, float alpha, float gain, float clampv)
{
    if (has_b)
        v += bv;
    if (act == 1)
        v = v > 0.0f ? v : v * alpha; /* NaN propagates (comparison false -> NaN*alpha) */
    v *= gain;
    if (clampv >= 0.0f)
        v = isnan(v) ? v : fmin(fmax(v, -clampv), clampv);
    return v;
}

__kernel void bias_act_fwd(__global const float *x, long xo, __global const float *b, long bo, int has_b,
                           __global float *y, long yo, long total, int C, long S, int act, float alpha,
                           float gain, float clampv, float bias_gain)
{
    long i = GID0;
    if (i >= total)
        return;
    int c = (int)((i / S) % C);
    float bv = has_b ? b[bo + c] * bias_gain : 0.0f;
    y[yo + i] = ba_fwd1(x[xo + i], bv, has_b, act, alpha, gain, clampv);
}

/* Row form for CPU devices (sv_ctx_row_kernels): 2-D NDRange (chunk, plane),
 * plane = n·C + c, each work-item a contiguous chunk of up to `chunk` values
 * of one plane with the bias hoisted (no per-element division). */
__kernel void bias_act_fwd_rows(__global const float *x, long xo, __global const float *b, long bo,
                                int has_b, __global float *y, long yo, int planes, int C, long S,
                                int chunk, int act, float alpha, float gain, float clampv, float bias_gain)
{
    int part = (int)get_global_id(0), plane = (int)get_global_id(1);
    if (plane >= planes)
        return;
    long s0 = (long)part * chunk;
    if (s0 >= S)
        return;
    int len = (int)min((long)chunk, S - s0);
    float bv = has_b ? b[bo + plane % C] * bias_gain : 0.0f;
    __global const float *xr = x + xo + (long)plane * S + s0;
    __global float *yr = y + yo + (long)plane * S + s0;
    for (int s = 0; s < len; s++)
        yr[s] = ba_fwd1(xr[s], bv, has_b, act, alpha, gain, clampv);
}

/* gx = gy·act'(y)·gain (0 where the clamp was active); shared by both forms. */
inline float ba_bwd1(float yy, float g, int act, float alpha, float gain, float clampv)
{
    float d = gain;
    if (act == 1 && !(yy > 0.0f))
        d *= alpha;
    if (clampv >= 0.0f && !(fabs(yy) < clampv) && !isnan(yy))
        d = 0.0f;
    return g * d;
}

__kernel void bias_act_bwd(__global const float *y, long yo, __global const float *gy, long gyo,
                           __global float *gx, long gxo, long total, int act, float alpha, float gain,
                           float clampv)
{
    long i = GID0;
    if (i >= total)
        return;
    gx[gxo + i] = ba_bwd1(y[yo + i], gy[gyo + i], act, alpha, gain, clampv);
}

/* Row form for CPU devices: work-item i takes the contiguous chunk
 * [i·chunk, min((i+1)·chunk, total)). */
__kernel void bias_act_bwd_rows(__global const float *y, long yo, __global const float *gy, long gyo,
                                __global float *gx, long gxo, long total, int chunk, int act, float alpha,
                                float gain, float clampv)
{
    long i0 = GID0 * chunk;
    if (i0 >= total)
        return;
    int len = (int)min((long)chunk, total - i0);
    __global const float *yr = y + yo + i0, *gr = gy + gyo + i0;
    __global float *xr = gx + gxo + i0;
    for (int s = 0; s < len; s++)
        xr[s] = ba_bwd1(yr[s], gr[s], act, alpha, gain, clampv);
}

/* One work-group of SV_WG lanes per channel: lane l sums elements l, l+SV_WG, ...
 * of that channel's N·S values in a fixed order, then a fixed tree. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void channel_sum(__global const float *x, long xo, __global float *out, long oo, int N, int C, long S,
                 float alpha, int accumulate)
{
    __local float part[SV_WG];
    int c = (int)get_group_id(0);
    int l = (int)get_local_id(0);
    long per = (long)N * S;
    float acc = 0.0f;
    /* (n, s) of element j tracked incrementally: no division per element */
    long n = l / S, s = l - n * S;
    for (long j = l; j < per; j += SV_WG) {
        acc += x[xo + (n * C + c) * S + s];
        s += SV_WG;
        while (s >= S) {
            s -= S;
            n++;
        }
    }
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0) {
        float v = part[0] * alpha;
        out[oo + c] = accumulate ? out[oo + c] + v : v;
    }
}

/* Row form of channel_sum for CPU devices (sv_ctx_row_kernels): one
 * work-item per channel keeps the SV_WG lane partial sums of channel_sum in a
 * private array and walks the channel's N planes contiguously (element j of
 * the channel goes to lane j % SV_WG, in the same order), then combines the
 * lanes in the same tree: bit-identical to channel_sum, with vectorisable
 * inner loops and no division per element. */
__kernel void channel_sum_rows(__global const float *x, long xo, __global float *out, long oo, int N, int C, long S,
                               float alpha, int accumulate)
{
    int c = (int)get_global_id(0);
    if (c >= C)
        return;
    float part[SV_WG];
    for (int l = 0; l < SV_WG; l++)
        part[l] = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *xr = x + xo + ((long)n * C + c) * S;
        int lane = (int)(((long)n * S) % SV_WG);
        long s = 0;
        if (lane) /* head: lanes lane .. SV_WG-1 */
            for (; s < S && lane + s < SV_WG; s++)
                part[lane + s] += xr[s];
        for (; s + SV_WG <= S; s += SV_WG)
            for (int l = 0; l < SV_WG; l++)
                part[l] += xr[s + l];
        for (int l = 0; s < S; s++, l++)
            part[l] += xr[s];
    }
    for (int w = SV_WG / 2; w > 0; w >>= 1)
        for (int l = 0; l < w; l++)
            part[l] += part[l + w];
    float v = part[0] * alpha;
    out[oo + c] = accumulate ? out[oo + c] + v : v;
}
