/* conv2d — see include/svgan/ops/conv2d.h.  Data-movement kernels around the
 * GEMM module: im2col, its adjoint (col2im as a gather, no atomics), and the
 * weight permutation of the transposed (up-2) conv.
 *
 * Column layout shared by all kernels: for nf frames of a [C, Hi, Wi] source
 * and an output grid Ho×Wo,
 *   cols[((c·k + a)·k + b)·ldc + n·Ho·Wo + p·Wo + q]
 *     = src[n, c, p·stride + a − pad, q·stride + b − pad]   (0 outside),
 * i.e. a [C·k², nf·Ho·Wo] matrix (ldc ≥ nf·Ho·Wo).  With k = 1, stride 1,
 * pad 0 this is the permutation [nf, C, S] → [C, nf·S]. */

/* 3-D launch: gid0 = p·Wo + q (< Ho·Wo), gid1 = n (< nf), gid2 = (c·k + a)·k + b.
 * 32-bit index arithmetic (64-bit divisions are slow on CPU devices); long
 * only for addresses. */
__kernel void conv_im2col(__global const float *src, long so, __global float *cols, long co, int C, int Hi,
                          int Wi, int k, int stride, int pad, int Ho, int Wo, int nf, long ldc)
{
    int pq = (int)get_global_id(0), n = (int)get_global_id(1), row = (int)get_global_id(2);
    int HWo = Ho * Wo;
    if (pq >= HWo || n >= nf || row >= C * k * k)
        return;
    int p = pq / Wo, q = pq - p * Wo;
    int ab = row % (k * k), c = row / (k * k);
    int a = ab / k, b = ab - a * k;
    int h = p * stride + a - pad, w = q * stride + b - pad;
    float v = 0.0f;
    if (h >= 0 && h < Hi && w >= 0 && w < Wi)
        v = src[so + ((long)n * C + c) * Hi * Wi + (long)h * Wi + w];
    cols[co + (long)row * ldc + (long)n * HWo + pq] = v;
}

/* The output index p (< n) that reads input index x at kernel offset
 * off = pad - a: p·stride = x + off; -1 when there is none. */
static int col_src(int x, int off, int stride, int n)
{
    int px = x + off;
    if (px < 0 || px % stride != 0)
        return -1;
    int p = px / stride;
    return p < n ? p : -1;
}

/* Adjoint of conv_im2col: dst[n, c, h, w] (+)= Σ_{a,b} cols[(c,a,b), n, p, q]
 * over p·stride + a − pad = h, q·stride + b − pad = w.  One work-item per
 * destination element (3-D: gid0 = h·Wi + w, gid1 = c, gid2 = n); fixed
 * (a, b) order; no atomics. */
__kernel void conv_col2im(__global const float *cols, long co, __global float *dst, long dso, int C, int Hi,
                          int Wi, int k, int stride, int pad, int Ho, int Wo, int nf, long ldc, int accumulate)
{
    int hw = (int)get_global_id(0), c = (int)get_global_id(1), n = (int)get_global_id(2);
    if (hw >= Hi * Wi || c >= C || n >= nf)
        return;
    int h = hw / Wi, w = hw - h * Wi;
    long cbase = co + (long)n * Ho * Wo;
    float acc = 0.0f;
    for (int a = 0; a < k; a++) {
        int p = col_src(h, pad - a, stride, Ho);
        if (p < 0)
            continue;
        for (int b = 0; b < k; b++) {
            int qw = w + pad - b;
            if (qw < 0 || qw % stride != 0)
                continue;
            int q = qw / stride;
            if (q >= Wo)
                continue;
            long row = ((long)c * k + a) * k + b;
            acc += cols[cbase + row * ldc + p * Wo + q];
        }
    }
    long i = dso + (((long)n * C + c) * Hi) * Wi + hw;
    if (accumulate)
        acc += dst[i];
    dst[i] = acc;
}

/* Plane variants of the two kernels above, for CPU devices: a work-item per
 * (frame, column row) or (channel, frame) plane, contiguous inner loops (the
 * per-element forms coalesce on GPUs; per-row work-items left PoCL's
 * scheduling overhead dominant at 4..16 pixel rows).  Same results; col2im
 * adds into the (zeroed or old) plane in (a, b) order per pixel. */

/* One destination row d[0..Wo) of im2col: source row s (NULL: outside, zeros). */
static void im2col_row(__global float *d, __global const float *s, int Wi, int Wo, int stride, int off)
{
    if (!s) {
        for (int q = 0; q < Wo; q++)
            d[q] = 0.0f;
        return;
    }
    /* w = q·stride + off ∈ [0, Wi) exactly for q ∈ [qlo, qhi]: zeros outside,
     * a branch-free (vectorisable) gather inside */
    int qlo = off < 0 ? min((-off + stride - 1) / stride, Wo) : 0;
    int qhi = Wi - 1 - off >= 0 ? min(Wo - 1, (Wi - 1 - off) / stride) : -1;
    if (qhi < qlo - 1)
        qhi = qlo - 1;
    for (int q = 0; q < qlo; q++)
        d[q] = 0.0f;
    if (stride == 1) {
        __global const float *s1 = s + off;
        for (int q = qlo; q <= qhi; q++)
            d[q] = s1[q];
    } else {
        for (int q = qlo; q <= qhi; q++)
            d[q] = s[q * stride + off];
    }
    for (int q = qhi + 1; q < Wo; q++)
        d[q] = 0.0f;
}

/* 2-D launch: gid0 = n (< nf), gid1 = (c·k + a)·k + b. */
__kernel void conv_im2col_rows(__global const float *src, long so, __global float *cols, long co, int C, int Hi,
                               int Wi, int k, int stride, int pad, int Ho, int Wo, int nf, long ldc)
{
    int n = (int)get_global_id(0), row = (int)get_global_id(1);
    if (n >= nf || row >= C * k * k)
        return;
    int ab = row % (k * k), c = row / (k * k);
    int a = ab / k, b = ab - a * k;
    __global float *d = cols + co + (long)row * ldc + (long)n * Ho * Wo;
    __global const float *plane = src + so + ((long)n * C + c) * Hi * Wi;
    for (int p = 0; p < Ho; p++) {
        int h = p * stride + a - pad;
        im2col_row(d + (long)p * Wo, h >= 0 && h < Hi ? plane + (long)h * Wi : 0, Wi, Wo, stride, b - pad);
    }
}

/* 2-D launch: gid0 = c (< C), gid1 = n (< nf). */
__kernel void conv_col2im_rows(__global const float *cols, long co, __global float *dst, long dso, int C, int Hi,
                               int Wi, int k, int stride, int pad, int Ho, int Wo, int nf, long ldc, int accumulate)
{
    int c = (int)get_global_id(0), n = (int)get_global_id(1);
    if (c >= C || n >= nf)
        return;
    __global const float *cb = cols + co + (long)n * Ho * Wo;
    for (int h = 0; h < Hi; h++) {
        __global float *d = dst + dso + (((long)n * C + c) * Hi + h) * Wi;
        if (!accumulate)
            for (int w = 0; w < Wi; w++)
                d[w] = 0.0f;
        for (int a = 0; a < k; a++) {
            int p = col_src(h, pad - a, stride, Ho);
            if (p < 0)
                continue;
            for (int b = 0; b < k; b++) {
                /* w = q·stride + b − pad ∈ [0, Wi), q ∈ [0, Wo) */
                int top = Wi - 1 + pad - b;
                if (top < 0)
                    continue;
                int qlo = pad - b > 0 ? (pad - b + stride - 1) / stride : 0;
                int qhi = min(Wo - 1, top / stride);
                __global const float *s = cb + (((long)c * k + a) * k + b) * ldc + (long)p * Wo;
                int off = b - pad;
                for (int q = qlo; q <= qhi; q++)
                    d[q * stride + off] += s[q];
            }
        }
    }
}

/* Weight permutation for the transposed conv.
 * dir 0: wp[(o·kk + j)·Cin + i] = w[(o·Cin + i)·kk + j]          (W → Wp)
 * dir 1: w[(o·Cin + i)·kk + j] (+)= wp[(o·kk + j)·Cin + i]        (gWp → gW)
 * One work-item per element of w (index order of w). */
__kernel void conv_wperm(__global float *w, long wo, __global float *wp, long wpo, int Cout, int Cin, int kk,
                         int dir, int accumulate)
{
    long i = GID0;
    long total = (long)Cout * Cin * kk;
    if (i >= total)
        return;
    int j = (int)(i % kk);
    long t = i / kk;
    int ci = (int)(t % Cin);
    int o = (int)(t / Cin);
    long pi = ((long)o * kk + j) * Cin + ci;
    if (dir == 0) {
        wp[wpo + pi] = w[wo + i];
    } else {
        float v = wp[wpo + pi];
        if (accumulate)
            v += w[wo + i];
        w[wo + i] = v;
    }
}
