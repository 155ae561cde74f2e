/* bias_act — see include/svgan/ops/bias_act.h.  x is [N, C, S]. */

__kernel void bias_act_fwd(__global const float *x, long xo, __global const float *b, long bo, int has_b,
                           __global float *y, long yo, long total, int C, long S, int act, float alpha,
                           float gain, float clampv, float bias_gain)
{
    long i = GID0;
    if (i >= total)
        return;
    int c = (int)((i / S) % C);
    float v = x[xo + i];
    if (has_b)
        v += b[bo + c] * bias_gain;
    if (act == 1)
        v = v > 0.0f ? v : v * alpha; /* NaN propagates (comparison false -> NaN*alpha) */
    v *= gain;
    if (clampv >= 0.0f)
        v = isnan(v) ? v : fmin(fmax(v, -clampv), clampv);
    y[yo + i] = v;
}

__kernel void bias_act_bwd(__global const float *y, long yo, __global const float *gy, long gyo,
                           __global float *gx, long gxo, long total, int act, float alpha, float gain,
                           float clampv)
{
    long i = GID0;
    if (i >= total)
        return;
    float yy = y[yo + i];
    float d = gain;
    if (act == 1 && !(yy > 0.0f))
        d *= alpha;
    if (clampv >= 0.0f && !(fabs(yy) < clampv) && !isnan(yy))
        d = 0.0f;
    gx[gxo + i] = gy[gyo + i] * d;
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
    for (long j = l; j < per; j += SV_WG) {
        long n = j / S, s = j - n * S;
        acc += x[xo + (n * C + c) * S + s];
    }
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0) {
        float v = part[0] * alpha;
        out[oo + c] = accumulate ? out[oo + c] + v : v;
    }
}
