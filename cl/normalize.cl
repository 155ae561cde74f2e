/* normalize_2nd_moment — see include/svgan/ops/normalize.h.  One work-group of
 * SV_WG lanes per row; lane l handles elements l, l+SV_WG, ... in a fixed order,
 * followed by a fixed tree. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void normalize_fwd(__global const float *x, long xo, __global float *y, long yo, long D, float eps)
{
    __local float part[SV_WG];
    int l = (int)get_local_id(0);
    long r = (long)get_group_id(0);
    __global const float *xr = x + xo + r * D;
    __global float *yr = y + yo + r * D;
    float acc = 0.0f;
    for (long j = l; j < D; j += SV_WG)
        acc += xr[j] * xr[j];
    float ss = sv_group_sum(part, l, acc);
    float s = rsqrt(ss / (float)D + eps);
    for (long j = l; j < D; j += SV_WG)
        yr[j] = xr[j] * s;
}

__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void normalize_bwd(__global const float *x, long xo, __global const float *gy, long gyo, __global float *gx,
                   long gxo, long D, float eps)
{
    __local float part[SV_WG];
    int l = (int)get_local_id(0);
    long r = (long)get_group_id(0);
    __global const float *xr = x + xo + r * D;
    __global const float *gr = gy + gyo + r * D;
    __global float *gxr = gx + gxo + r * D;
    float a2 = 0.0f, ad = 0.0f;
    for (long j = l; j < D; j += SV_WG) {
        float v = xr[j];
        a2 += v * v;
        ad += gr[j] * v;
    }
    float ss = sv_group_sum(part, l, a2);
    float dot = sv_group_sum(part, l, ad);
    float s = rsqrt(ss / (float)D + eps);
    float c = s * s * s * dot / (float)D;
    for (long j = l; j < D; j += SV_WG)
        gxr[j] = s * gr[j] - c * xr[j];
}
