/* upfirdn2d — see include/svgan/ops/upfirdn2d.h.  x [NC, H, W] -> y [NC, Ho, Wo].
 *
 * Specialised at build time: UP, DOWN, PAD0, NTAPS and the taps (TAPS, a
 * comma-separated list of exact hex-float literals) are -D defines, so the
 * tap loops unroll and the index tests fold to constants (the program cache
 * holds one binary per parameter set; StyleGAN uses four).  The NDRange is
 * (columns, rows, planes): one work-item per output element, gathering its
 * taps, and no atomics in either direction. */

__constant float TP[NTAPS] = {TAPS};

/* Index tests that vanish at compile time when UP or DOWN is 1. */
#if UP > 1
#define NOT_ON_UP_GRID(m) ((m) % UP != 0)
#else
#define NOT_ON_UP_GRID(m) 0
#endif
#if DOWN > 1
#define NOT_ON_DOWN_GRID(m) ((m) % DOWN != 0)
#else
#define NOT_ON_DOWN_GRID(m) 0
#endif

/* y[p][q] = Σ_{j,k} t[j]·t[k]·z[p*DOWN+j][q*DOWN+k], z[a] = u[a-PAD0],
 * u[m] = x[m/UP] when m % UP == 0 and 0 <= m < H*UP. */
__kernel void upfirdn2d_fwd(__global const float *x, long xo, __global float *y, long yo, int H, int W, int Ho,
                            int Wo)
{
    int q = (int)get_global_id(0), p = (int)get_global_id(1);
    long plane = (long)get_global_id(2);
    if (q >= Wo || p >= Ho)
        return;
    __global const float *xp = x + xo + plane * (long)H * W;
    const int Hu = H * UP, Wu = W * UP;
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < NTAPS; j++) {
        int mr = p * DOWN + j - PAD0; /* row in the upsampled domain */
        if (mr < 0 || mr >= Hu || NOT_ON_UP_GRID(mr))
            continue;
        __global const float *xr = xp + (long)(mr / UP) * W;
        float row = 0.0f;
#pragma unroll
        for (int k = 0; k < NTAPS; k++) {
            int mc = q * DOWN + k - PAD0;
            if (mc < 0 || mc >= Wu || NOT_ON_UP_GRID(mc))
                continue;
            row += TP[k] * xr[mc / UP];
        }
        acc += TP[j] * row;
    }
    y[yo + plane * (long)Ho * Wo + (long)p * Wo + q] = acc;
}

/* Adjoint: gx[h][w] = Σ t[j]·t[k]·gy[p][q] over p*DOWN + j - PAD0 = h*UP,
 * q*DOWN + k - PAD0 = w*UP, 0 <= p < Ho, 0 <= q < Wo. */
__kernel void upfirdn2d_bwd(__global const float *gy, long gyo, __global float *gx, long gxo, int H, int W,
                            int Ho, int Wo, int accumulate)
{
    int w = (int)get_global_id(0), h = (int)get_global_id(1);
    long plane = (long)get_global_id(2);
    if (w >= W || h >= H)
        return;
    __global const float *gp = gy + gyo + plane * (long)Ho * Wo;
    const int ar = h * UP + PAD0, ac = w * UP + PAD0;
    float acc = 0.0f;
#pragma unroll
    for (int j = 0; j < NTAPS; j++) {
        int nr = ar - j;
        if (nr < 0 || NOT_ON_DOWN_GRID(nr))
            continue;
        int p = nr / DOWN;
        if (p >= Ho)
            continue;
        __global const float *gr = gp + (long)p * Wo;
        float row = 0.0f;
#pragma unroll
        for (int k = 0; k < NTAPS; k++) {
            int nc = ac - k;
            if (nc < 0 || NOT_ON_DOWN_GRID(nc))
                continue;
            int q = nc / DOWN;
            if (q >= Wo)
                continue;
            row += TP[k] * gr[q];
        }
        acc += TP[j] * row;
    }
    long i = gxo + plane * (long)H * W + (long)h * W + w;
    gx[i] = accumulate ? gx[i] + acc : acc;
}

