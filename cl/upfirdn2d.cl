/* upfirdn2d — see include/svgan/ops/upfirdn2d.h.  x [NC, H, W] -> y [NC, Ho, Wo].
 *
 * Specialised at build time: UP, DOWN, PAD0, NTAPS and the taps (TAPS, a
 * comma-separated list of exact hex-float literals) are -D defines, so the
 * tap loops unroll and the index tests fold to constants (the program cache
 * holds one binary per parameter set; StyleGAN uses four).  Per-element form
 * (GPUs): NDRange (columns, rows, planes), one work-item per output element,
 * gathering its taps; row form (CPU devices, at the end of this file): one
 * work-item per destination row.  No atomics in either direction. */

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


/* ---- Row forms for CPU devices (SVGAN_KERNEL_FORM=rows): one work-item per
 * destination row of one plane, NDRange (rows, planes).  Separable: the
 * vertical taps first combine the (uniformly valid) source rows into a
 * private row v (at most MAXW values; the launcher uses the per-element form
 * for wider rows), then the horizontal taps run over v.  Along the row the
 * positions are split into borders (the range tests of the per-element forms)
 * and an interior where every tap is in range; there the positions are taken
 * in groups of UP (forward) or DOWN (backward), so which taps fall on the
 * grid and their offsets are compile-time constants and the loops have no
 * branches.  About half the multiply-adds of the per-element forms; the same
 * products, summed vertical-first (float32 round-off differences only). */

/* Forward, interior: output column q = i·UP + r reads source column
 * i·DOWN + (r·DOWN + k − PAD0)/UP for the taps k with (r·DOWN + k − PAD0) % UP == 0. */
#define FWD_ON(r, k) ((((r) * DOWN + (k) - PAD0) % UP) == 0)
#define FWD_OFF(r, k) (((r) * DOWN + (k) - PAD0) / UP)
/* Backward, interior: gx column w = i·DOWN + r reads gy column
 * i·UP + (r·UP + PAD0 − k)/DOWN for the taps k with (r·UP + PAD0 − k) % DOWN == 0. */
#define BWD_ON(r, k) ((((r) * UP + PAD0 - (k)) % DOWN) == 0)
#define BWD_OFF(r, k) (((r) * UP + PAD0 - (k)) / DOWN)

/* Horizontal taps at one column with all the range tests (borders). */
inline float ufd_hfwd_edge(const float *v, int q, int Wu)
{
    float row = 0.0f;
#pragma unroll
    for (int k = 0; k < NTAPS; k++) {
        int mc = q * DOWN + k - PAD0;
        if (mc < 0 || mc >= Wu || NOT_ON_UP_GRID(mc))
            continue;
        row += TP[k] * v[mc / UP];
    }
    return row;
}

inline float ufd_hbwd_edge(const float *v, int w, int Wo)
{
    float row = 0.0f;
#pragma unroll
    for (int k = 0; k < NTAPS; k++) {
        int nc = w * UP + PAD0 - k;
        if (nc < 0 || NOT_ON_DOWN_GRID(nc))
            continue;
        int q = nc / DOWN;
        if (q >= Wo)
            continue;
        row += TP[k] * v[q];
    }
    return row;
}

__kernel void upfirdn2d_fwd_rows(__global const float *restrict x, long xo, __global float *restrict y, long yo,
                                 int H, int W, int Ho, int Wo, int planes)
{
    int p = (int)get_global_id(0), plane = (int)get_global_id(1);
    if (p >= Ho || plane >= planes || W > MAXW)
        return;
    __global const float *xp = x + xo + (long)plane * H * W;
    __global float *yr = y + yo + (long)plane * Ho * Wo + (long)p * Wo;
    const int Hu = H * UP, Wu = W * UP;
    float v[MAXW];
    for (int c = 0; c < W; c++)
        v[c] = 0.0f;
#pragma unroll
    for (int j = 0; j < NTAPS; j++) {
        int mr = p * DOWN + j - PAD0; /* row in the upsampled domain */
        if (mr < 0 || mr >= Hu || NOT_ON_UP_GRID(mr))
            continue;
        __global const float *xr = xp + (long)(mr / UP) * W;
        const float tj = TP[j];
        for (int c = 0; c < W; c++)
            v[c] += tj * xr[c];
    }
    /* interior groups i in [ilo, ihi): every column read is in [0, W) and
     * every column written in [0, Wo) */
    int omin = 1 << 30, omax = -(1 << 30);
#pragma unroll
    for (int r = 0; r < UP; r++)
#pragma unroll
        for (int k = 0; k < NTAPS; k++)
            if (FWD_ON(r, k)) {
                omin = min(omin, FWD_OFF(r, k));
                omax = max(omax, FWD_OFF(r, k));
            }
    int ilo = omin >= 0 ? 0 : (-omin + DOWN - 1) / DOWN;
    int ihi = min(W - 1 - omax >= 0 ? (W - 1 - omax) / DOWN + 1 : 0, Wo / UP);
    if (ihi < ilo)
        ihi = ilo;
    int qlo = min(ilo * UP, Wo), qhi = max(ihi * UP, qlo);
    for (int q = 0; q < qlo; q++)
        yr[q] = ufd_hfwd_edge(v, q, Wu);
    for (int i = ilo; i < ihi; i++) {
#pragma unroll
        for (int r = 0; r < UP; r++) {
            float row = 0.0f;
#pragma unroll
            for (int k = 0; k < NTAPS; k++)
                if (FWD_ON(r, k))
                    row += TP[k] * v[i * DOWN + FWD_OFF(r, k)];
            yr[i * UP + r] = row;
        }
    }
    for (int q = qhi; q < Wo; q++)
        yr[q] = ufd_hfwd_edge(v, q, Wu);
}

__kernel void upfirdn2d_bwd_rows(__global const float *restrict gy, long gyo, __global float *restrict gx, long gxo,
                                 int H, int W, int Ho, int Wo, int accumulate, int planes)
{
    int h = (int)get_global_id(0), plane = (int)get_global_id(1);
    if (h >= H || plane >= planes || Wo > MAXW)
        return;
    __global const float *gp = gy + gyo + (long)plane * Ho * Wo;
    __global float *gr_out = gx + gxo + (long)plane * H * W + (long)h * W;
    float v[MAXW];
    for (int q = 0; q < Wo; q++)
        v[q] = 0.0f;
    const int ar = h * UP + PAD0;
#pragma unroll
    for (int j = 0; j < NTAPS; j++) {
        int nr = ar - j;
        if (nr < 0 || NOT_ON_DOWN_GRID(nr))
            continue;
        int p = nr / DOWN;
        if (p >= Ho)
            continue;
        __global const float *gr = gp + (long)p * Wo;
        const float tj = TP[j];
        for (int q = 0; q < Wo; q++)
            v[q] += tj * gr[q];
    }
    int omin = 1 << 30, omax = -(1 << 30);
#pragma unroll
    for (int r = 0; r < DOWN; r++)
#pragma unroll
        for (int k = 0; k < NTAPS; k++)
            if (BWD_ON(r, k)) {
                omin = min(omin, BWD_OFF(r, k));
                omax = max(omax, BWD_OFF(r, k));
            }
    int ilo = omin >= 0 ? 0 : (-omin + UP - 1) / UP;
    int ihi = min(Wo - 1 - omax >= 0 ? (Wo - 1 - omax) / UP + 1 : 0, W / DOWN);
    if (ihi < ilo)
        ihi = ilo;
    int wlo = min(ilo * DOWN, W), whi = max(ihi * DOWN, wlo);
    if (accumulate) {
        for (int w = 0; w < wlo; w++)
            gr_out[w] += ufd_hbwd_edge(v, w, Wo);
        for (int i = ilo; i < ihi; i++) {
#pragma unroll
            for (int r = 0; r < DOWN; r++) {
                float row = 0.0f;
#pragma unroll
                for (int k = 0; k < NTAPS; k++)
                    if (BWD_ON(r, k))
                        row += TP[k] * v[i * UP + BWD_OFF(r, k)];
                gr_out[i * DOWN + r] += row;
            }
        }
        for (int w = whi; w < W; w++)
            gr_out[w] += ufd_hbwd_edge(v, w, Wo);
    } else {
        for (int w = 0; w < wlo; w++)
            gr_out[w] = ufd_hbwd_edge(v, w, Wo);
        for (int i = ilo; i < ihi; i++) {
#pragma unroll
            for (int r = 0; r < DOWN; r++) {
                float row = 0.0f;
#pragma unroll
                for (int k = 0; k < NTAPS; k++)
                    if (BWD_ON(r, k))
                        row += TP[k] * v[i * UP + BWD_OFF(r, k)];
                gr_out[i * DOWN + r] = row;
            }
        }
        for (int w = whi; w < W; w++)
            gr_out[w] = ufd_hbwd_edge(v, w, Wo);
    }
}
