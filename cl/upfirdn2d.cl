/* upfirdn2d — see include/svgan/ops/upfirdn2d.h.  x [NC, H, W] -> y [NC, Ho, Wo].
 * One work-item per output element, gathering its taps (no atomics). */

#define LOAD_TAPS                                                                  \
    float t[8];                                                                    \
    t[0] = t0; t[1] = t1; t[2] = t2; t[3] = t3; t[4] = t4; t[5] = t5; t[6] = t6; t[7] = t7;

/* y[p][q] = Σ_{j,k} t[j]·t[k]·z[p*down+j][q*down+k], z[a] = u[a-pad0],
 * u[m] = x[m/up] when m % up == 0 and 0 <= m < H*up. */
__kernel void upfirdn2d_fwd(__global const float *x, long xo, __global float *y, long yo, long total, int H,
                            int W, int Ho, int Wo, int up, int down, int pad0, int ntaps, float t0, float t1,
                            float t2, float t3, float t4, float t5, float t6, float t7)
{
    long i = GID0;
    if (i >= total)
        return;
    LOAD_TAPS
    int q = (int)(i % Wo);
    int p = (int)((i / Wo) % Ho);
    long plane = i / ((long)Wo * Ho);
    __global const float *xp = x + xo + plane * (long)H * W;
    int Hu = H * up, Wu = W * up;
    float acc = 0.0f;
    for (int j = 0; j < ntaps; j++) {
        int mr = p * down + j - pad0; /* row in the upsampled domain */
        if (mr < 0 || mr >= Hu || mr % up != 0)
            continue;
        __global const float *xr = xp + (long)(mr / up) * W;
        float row = 0.0f;
        for (int k = 0; k < ntaps; k++) {
            int mc = q * down + k - pad0;
            if (mc < 0 || mc >= Wu || mc % up != 0)
                continue;
            row += t[k] * xr[mc / up];
        }
        acc += t[j] * row;
    }
    y[yo + i] = acc;
}

/* Adjoint: gx[h][w] = Σ t[j]·t[k]·gy[p][q] over p*down + j - pad0 = h*up,
 * q*down + k - pad0 = w*up, 0 <= p < Ho, 0 <= q < Wo. */
__kernel void upfirdn2d_bwd(__global const float *gy, long gyo, __global float *gx, long gxo, long total, int H,
                            int W, int Ho, int Wo, int up, int down, int pad0, int ntaps, int accumulate,
                            float t0, float t1, float t2, float t3, float t4, float t5, float t6, float t7)
{
    long i = GID0;
    if (i >= total)
        return;
    LOAD_TAPS
    int w = (int)(i % W);
    int h = (int)((i / W) % H);
    long plane = i / ((long)W * H);
    __global const float *gp = gy + gyo + plane * (long)Ho * Wo;
    int ar = h * up + pad0, ac = w * up + pad0;
    float acc = 0.0f;
    for (int j = 0; j < ntaps; j++) {
        int nr = ar - j;
        if (nr < 0 || nr % down != 0)
            continue;
        int p = nr / down;
        if (p >= Ho)
            continue;
        __global const float *gr = gp + (long)p * Wo;
        float row = 0.0f;
        for (int k = 0; k < ntaps; k++) {
            int nc = ac - k;
            if (nc < 0 || nc % down != 0)
                continue;
            int q = nc / down;
            if (q >= Wo)
                continue;
            row += t[k] * gr[q];
        }
        acc += t[j] * row;
    }
    gx[gxo + i] = accumulate ? gx[gxo + i] + acc : acc;
}
