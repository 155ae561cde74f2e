/* conv1d — see include/svgan/ops/conv1d.h.
 * Columns are laid out col [Cin·K, B, Lo] (clip-interleaved), so that the
 * weight gradient over all clips is ONE GEMM with K-dimension B·Lo and the
 * forward is one strided-batched GEMM (clip b at column offset b·Lo). */

/* one item per col element (i·K + k, b, j): col = x[b, i, j + k] */
__kernel void conv1d_im2col(__global const float *x, long xo, __global float *col, long co, int B, int Cin, int L,
                            int K, int Lo)
{
    long idx = GID0;
    long total = (long)B * Cin * K * Lo;
    if (idx >= total)
        return;
    int j = (int)(idx % Lo);
    long r = idx / Lo;
    int b = (int)(r % B);
    long ik = r / B; /* i·K + k */
    int k = (int)(ik % K);
    long i = ik / K;
    col[co + idx] = x[xo + ((long)b * Cin + i) * L + j + k];
}

/* gcol[b] is [Cin·K, Lo] (clip-major).
 * one item per gx element (b, i, p): gx = Σ_k gcol[b, i·K + k, p − k] over
 * 0 ≤ p − k < Lo, k ascending (fixed order, no atomics) */
__kernel void conv1d_col2im(__global const float *gcol, long go, __global float *gx, long xo, int B, int Cin, int L,
                            int K, int Lo)
{
    long idx = GID0;
    if (idx >= (long)B * Cin * L)
        return;
    int p = (int)(idx % L);
    long bi = idx / L;
    float acc = 0.0f;
    int k0 = p - (Lo - 1);
    if (k0 < 0)
        k0 = 0;
    int k1 = p < K - 1 ? p : K - 1;
    for (int k = k0; k <= k1; k++)
        acc += gcol[go + (bi * K + k) * Lo + (p - k)];
    gx[xo + idx] = acc;
}
