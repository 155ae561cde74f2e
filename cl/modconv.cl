/* modconv — see include/svgan/ops/modconv.h.  Frame row r belongs to video r / F. */

/* out[r, c, p] (+)= a[r, c, p] · v[r / F, c]   for a [R, C, S], v [R/F, C].
 * 2-D NDRange (s < S, plane = r·C + c < R·C) with 32-bit index arithmetic:
 * the per-plane divisions are invariant along dimension 0, so CPU devices
 * (PoCL loops over work-items) hoist them out of a vectorisable inner loop,
 * where the former 1-D form paid three 64-bit divisions per element (~6x
 * slower); on GPUs dimension 0 is the coalesced one. */
__kernel void mc_scale(__global const float *a, long ao, __global const float *v, long vo, __global float *out,
                       long oo, int S, int C, int planes, int F, int accumulate)
{
    int sp = (int)get_global_id(0), plane = (int)get_global_id(1);
    if (sp >= S || plane >= planes)
        return;
    int r = plane / C, c = plane - r * C;
    long i = (long)plane * S + sp;
    float val = a[ao + i] * v[vo + (long)(r / F) * C + c];
    out[oo + i] = accumulate ? out[oo + i] + val : val;
}

/* Row form of mc_scale for CPU devices (sv_ctx_row_kernels): one work-item
 * per plane, the scale hoisted, a contiguous loop over the plane. */
__kernel void mc_scale_rows(__global const float *a, long ao, __global const float *v, long vo,
                            __global float *out, long oo, int S, int C, int planes, int F, int accumulate)
{
    int plane = (int)get_global_id(0);
    if (plane >= planes)
        return;
    int r = plane / C, c = plane - r * C;
    float sc = v[vo + (long)(r / F) * C + c];
    __global const float *ar = a + ao + (long)plane * S;
    __global float *orow = out + oo + (long)plane * S;
    if (accumulate)
        for (int s = 0; s < S; s++)
            orow[s] = orow[s] + ar[s] * sc;
    else
        for (int s = 0; s < S; s++)
            orow[s] = ar[s] * sc;
}

/* wsq[j] = Σ_{t < kk} w[j·kk + t]²  (j over Cout·Cin) */
__kernel void mc_wsq(__global const float *w, long wo, __global float *wsq, long qo, long n, int kk)
{
    long j = GID0;
    if (j >= n)
        return;
    float acc = 0.0f;
    for (int t = 0; t < kk; t++) {
        float v = w[wo + j * kk + t];
        acc += v * v;
    }
    wsq[qo + j] = acc;
}

/* out[j] = a[j]² */
__kernel void mc_square(__global const float *a, long ao, __global float *out, long oo, long n)
{
    long j = GID0;
    if (j >= n)
        return;
    float v = a[ao + j];
    out[oo + j] = v * v;
}

/* d[j] = (acc[j] + 1e-8)^(-1/2), in place allowed */
__kernel void mc_demod(__global const float *acc, long ao, __global float *d, long dd, long n)
{
    long j = GID0;
    if (j >= n)
        return;
    d[dd + j] = 1.0f / sqrt(acc[ao + j] + 1e-8f);
}

/* e[j] = −g[j]·d[j]²   (g = Σ gy·y = gd·d, so e = gd·(−d³)) */
__kernel void mc_demod_grad(__global const float *g, long go, __global const float *d, long dd, __global float *e,
                            long eo, long n)
{
    long j = GID0;
    if (j >= n)
        return;
    float dv = d[dd + j];
    e[eo + j] = -g[go + j] * dv * dv;
}

/* One work-group of SV_WG lanes per (video n, channel c):
 *   out[n, c] = Σ_{f < F, p < S} a[(nF+f), c, p] · b[(nF+f), c, p]
 * lane l sums elements l, l+SV_WG, ... of the F·S products in a fixed order,
 * then a fixed tree. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void mc_video_dot(__global const float *a, long ao, __global const float *b, long bo, __global float *out, long oo,
                  int C, long S, int F)
{
    __local float part[SV_WG];
    long g = (long)get_group_id(0); /* n·C + c */
    int l = (int)get_local_id(0);
    int c = (int)(g % C);
    long n = g / C;
    long per = (long)F * S;
    float acc = 0.0f;
    for (long j = l; j < per; j += SV_WG) {
        long f = j / S, p = j - f * S;
        long idx = ((n * F + f) * C + c) * S + p;
        acc += a[ao + idx] * b[bo + idx];
    }
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0)
        out[oo + g] = part[0];
}

/* Row form of mc_video_dot for CPU devices (sv_ctx_row_kernels): one
 * work-item per (n, c) keeps mc_video_dot's SV_WG lane sums in a private
 * array (element j of the F·S products goes to lane j % SV_WG, same order)
 * and combines them in the same tree: bit-identical, contiguous loops. */
__kernel void mc_video_dot_rows(__global const float *a, long ao, __global const float *b, long bo,
                                __global float *out, long oo, int C, long S, int F, int groups)
{
    int g = (int)get_global_id(0); /* n·C + c */
    if (g >= groups)
        return;
    int n = g / C, c = g - n * C;
    float part[SV_WG];
    for (int l = 0; l < SV_WG; l++)
        part[l] = 0.0f;
    for (int f = 0; f < F; f++) {
        long idx = (((long)n * F + f) * C + c) * S;
        __global const float *ar = a + ao + idx, *br = b + bo + idx;
        int lane = (int)(((long)f * S) % SV_WG);
        long s = 0;
        if (lane)
            for (; s < S && lane + s < SV_WG; s++)
                part[lane + s] += ar[s] * br[s];
        for (; s + SV_WG <= S; s += SV_WG)
            for (int l = 0; l < SV_WG; l++)
                part[l] += ar[s + l] * br[s + l];
        for (int l = 0; s < S; s++, l++)
            part[l] += ar[s] * br[s];
    }
    for (int w = SV_WG / 2; w > 0; w >>= 1)
        for (int l = 0; l < w; l++)
            part[l] += part[l + w];
    out[oo + g] = part[0];
}

/* gs[j] (+)= r[j] + (has_t ? s[j]·t[j] : 0) */
__kernel void mc_gs_combine(__global const float *r, long ro, __global const float *s, long so,
                            __global const float *t, long to, int has_t, __global float *gs, long go, long n,
                            int accumulate)
{
    long j = GID0;
    if (j >= n)
        return;
    float v = r[ro + j];
    if (has_t)
        v += s[so + j] * t[to + j];
    gs[go + j] = accumulate ? gs[go + j] + v : v;
}

/* gw[j·kk + t] += w[j·kk + t] · u[j]   (j over Cout·Cin) */
__kernel void mc_gw_demod(__global const float *w, long wo, __global const float *u, long uo, __global float *gw,
                          long gwo, long total, int kk)
{
    long i = GID0;
    if (i >= total)
        return;
    gw[gwo + i] += w[wo + i] * u[uo + i / kk];
}
