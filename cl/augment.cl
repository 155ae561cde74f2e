/* augment — see include/svgan/ops/augment.h.  Every stage has a forward
 * kernel (one work-item per output element, gathering) and an adjoint kernel
 * (one work-item per input element, gathering the outputs it contributes
 * to), so there are no atomics.  1-D stages work on a [O, L, I] view: the
 * axis of length L with I contiguous inner elements (I = 1 for the W axis,
 * I = W for the H axis).
 *
 * Parameter buffer P (floats): [0, 12) upsample taps (flipped, ×2), [12, 24)
 * downsample taps, then per clip b at 32 + 32·b: A[6] (sampling matrix), Ainv[6]
 * (its inverse, as A⁻¹·((ix, iy) − (A2, A5))), R[2] (|Ainv| row sums),
 * C[12] (colour rows 0..2 of the 4×4 matrix).  Batches may be processed in
 * chunks of clips: clip0 is the chunk's first clip. */

#define PCLIP 32
#define POFF 32

/* reflect index into [0, L) (no edge repeat; |overshoot| < L) */
inline int refl(int k, int L) { return k < 0 ? -k : (k >= L ? 2 * (L - 1) - k : k); }

__kernel void aug_pad_fwd(__global const float *x, long xo, __global float *y, long yo, long O, int L, int Lp, int I,
                          int m0)
{
    long gid = (long)get_global_id(0), total = O * Lp * I;
    if (gid >= total)
        return;
    int i = (int)(gid % I);
    long t = gid / I;
    int q = (int)(t % Lp);
    long o = t / Lp;
    y[yo + gid] = x[xo + (o * L + refl(q - m0, L)) * I + i];
}

__kernel void aug_pad_adj(__global const float *gy, long gyo, __global float *gx, long gxo, long O, int L, int Lp,
                          int I, int m0, int m1)
{
    long gid = (long)get_global_id(0), total = O * L * I;
    if (gid >= total)
        return;
    int i = (int)(gid % I);
    long t = gid / I;
    int k = (int)(t % L);
    long o = t / L;
    __global const float *g = gy + gyo + o * Lp * I + i;
    float acc = g[(long)(k + m0) * I];
    if (k >= 1 && k <= m0) /* left mirror image at q = m0 − k */
        acc += g[(long)(m0 - k) * I];
    if (k <= L - 2 && k >= L - 1 - m1) /* right mirror image at q = m0 + 2(L−1) − k */
        acc += g[(long)(m0 + 2 * (L - 1) - k) * I];
    gx[gxo + gid] = acc;
}

/* y[o, p, i] = Σ_j f[j]·u[p·down + j − pad0], u[m] = x[m/up] (m % up == 0, in range). */
__kernel void aug_fir_fwd(__global const float *x, long xo, __global float *y, long yo, __global const float *P,
                          long po, int tap0, int ntaps, int up, int down, int pad0, long O, int Lin, int Lout, int I)
{
    long gid = (long)get_global_id(0), total = O * Lout * I;
    if (gid >= total)
        return;
    int i = (int)(gid % I);
    long t = gid / I;
    int p = (int)(t % Lout);
    long o = t / Lout;
    __global const float *f = P + po + tap0;
    __global const float *xr = x + xo + o * Lin * I + i;
    float acc = 0.0f;
    for (int j = 0; j < ntaps; j++) {
        int m = p * down + j - pad0;
        if (m < 0 || m % up != 0 || m / up >= Lin)
            continue;
        acc += f[j] * xr[(long)(m / up) * I];
    }
    y[yo + gid] = acc;
}

/* gx[o, k, i] = Σ f[j]·gy[o, p, i] over p·down + j − pad0 = k·up. */
__kernel void aug_fir_adj(__global const float *gy, long gyo, __global float *gx, long gxo, __global const float *P,
                          long po, int tap0, int ntaps, int up, int down, int pad0, long O, int Lin, int Lout, int I)
{
    long gid = (long)get_global_id(0), total = O * Lin * I;
    if (gid >= total)
        return;
    int i = (int)(gid % I);
    long t = gid / I;
    int k = (int)(t % Lin);
    long o = t / Lin;
    __global const float *f = P + po + tap0;
    __global const float *gr = gy + gyo + o * Lout * I + i;
    float acc = 0.0f;
    for (int j = 0; j < ntaps; j++) {
        int n = k * up + pad0 - j;
        if (n < 0 || n % down != 0 || n / down >= Lout)
            continue;
        acc += f[j] * gr[(long)(n / down) * I];
    }
    gx[gxo + gid] = acc;
}

/* Source coordinates of output pixel (j, i); the adjoint recomputes them with
 * the same expression so both see identical floats. */
inline float2 aug_src(__global const float *A, int j, int i)
{
    float fj = (float)j, fi = (float)i;
    return (float2)(fma(A[0], fj, fma(A[1], fi, A[2])), fma(A[3], fj, fma(A[4], fi, A[5])));
}

/* Bilinear, zeros padding: y[n, c, i, j] = Σ corners w·u[n, c, y, x]. */
__kernel void aug_grid_fwd(__global const float *u, long uo, __global float *y, long yo, __global const float *P,
                           long po, long NC, int C, int F, int Hu, int Wu, int Hs, int Ws, int clip0)
{
    long gid = (long)get_global_id(0), total = NC * Hs * Ws;
    if (gid >= total)
        return;
    int j = (int)(gid % Ws);
    long t = gid / Ws;
    int i = (int)(t % Hs);
    long plane = t / Hs;
    long clip = clip0 + plane / C / F;
    float2 s = aug_src(P + po + POFF + PCLIP * clip, j, i);
    float x0f = floor(s.x), y0f = floor(s.y);
    float fx = s.x - x0f, fy = s.y - y0f;
    int x0 = (int)x0f, y0 = (int)y0f;
    __global const float *up = u + uo + plane * (long)Hu * Wu;
    float acc = 0.0f;
    /* NaN coordinates (cannot happen with a finite plan) would give x0 garbage:
       the range tests below then skip every corner. */
    if (y0 >= 0 && y0 < Hu) {
        if (x0 >= 0 && x0 < Wu)
            acc += (1.0f - fx) * (1.0f - fy) * up[(long)y0 * Wu + x0];
        if (x0 + 1 >= 0 && x0 + 1 < Wu)
            acc += fx * (1.0f - fy) * up[(long)y0 * Wu + x0 + 1];
    }
    if (y0 + 1 >= 0 && y0 + 1 < Hu) {
        if (x0 >= 0 && x0 < Wu)
            acc += (1.0f - fx) * fy * up[(long)(y0 + 1) * Wu + x0];
        if (x0 + 1 >= 0 && x0 + 1 < Wu)
            acc += fx * fy * up[(long)(y0 + 1) * Wu + x0 + 1];
    }
    y[yo + gid] = acc;
}

/* Adjoint: gu[n, c, v, w] = Σ over output pixels (j, i) whose corners include
 * (v, w), of the same weight.  Those pixels have source coordinates in
 * [w−1, w+1) × [v−1, v+1), i.e. (j, i) within Ainv·((w, v) − b) ± R; the box
 * is widened by half a pixel against round-off (the float error of the
 * coordinates is ~1e-4 px) and each candidate is tested with the forward's
 * own coordinates, so the sum has exactly the forward's terms. */
__kernel void aug_grid_adj(__global const float *gy, long gyo, __global float *gu, long guo, __global const float *P,
                           long po, long NC, int C, int F, int Hu, int Wu, int Hs, int Ws, int clip0)
{
    long gid = (long)get_global_id(0), total = NC * Hu * Wu;
    if (gid >= total)
        return;
    int w = (int)(gid % Wu);
    long t = gid / Wu;
    int v = (int)(t % Hu);
    long plane = t / Hu;
    long clip = clip0 + plane / C / F;
    __global const float *A = P + po + POFF + PCLIP * clip;
    __global const float *Ai = A + 6;
    float dx = (float)w - A[2], dy = (float)v - A[5];
    float cj = Ai[0] * dx + Ai[1] * dy, ci = Ai[3] * dx + Ai[4] * dy;
    float rj = A[12] + 0.5f, ri = A[13] + 0.5f;
    int j0 = max((int)floor(cj - rj), 0), j1 = min((int)ceil(cj + rj), Ws - 1);
    int i0 = max((int)floor(ci - ri), 0), i1 = min((int)ceil(ci + ri), Hs - 1);
    __global const float *g = gy + gyo + plane * (long)Hs * Ws;
    float acc = 0.0f;
    for (int i = i0; i <= i1; i++)
        for (int j = j0; j <= j1; j++) {
            float2 s = aug_src(A, j, i);
            float x0f = floor(s.x), y0f = floor(s.y);
            float fx = s.x - x0f, fy = s.y - y0f;
            int x0 = (int)x0f, y0 = (int)y0f;
            /* the same terms as the forward, zero weights included (NaN semantics) */
            if ((x0 == w || x0 + 1 == w) && (y0 == v || y0 + 1 == v)) {
                float wx = x0 == w ? 1.0f - fx : fx, wy = y0 == v ? 1.0f - fy : fy;
                acc += wx * wy * g[(long)i * Ws + j];
            }
        }
    gu[guo + gid] = acc;
}

/* Colour: y[n, :, p] = M·x[n, :, p] (+ translation when bias); transpose = 1
 * applies Mᵀ (the adjoint, never with the translation). */
__kernel void aug_color(__global const float *x, long xo, __global float *y, long yo, __global const float *P,
                        long po, long N, int F, long HW, int bias, int transpose, int clip0)
{
    long gid = (long)get_global_id(0), total = N * HW;
    if (gid >= total)
        return;
    long pix = gid % HW, n = gid / HW;
    __global const float *M = P + po + POFF + PCLIP * (clip0 + n / F) + 14;
    __global const float *xp = x + xo + n * 3 * HW + pix;
    __global float *yp = y + yo + n * 3 * HW + pix;
    float r = xp[0], g = xp[HW], b = xp[2 * HW];
    for (int c = 0; c < 3; c++) {
        float acc;
        if (transpose)
            acc = M[c] * r + M[4 + c] * g + M[8 + c] * b;
        else
            acc = M[4 * c] * r + M[4 * c + 1] * g + M[4 * c + 2] * b + (bias ? M[4 * c + 3] : 0.0f);
        yp[c * HW] = acc;
    }
}
