/* conv1d — see include/svgan/ops/conv1d.h.  col[b] is [Cin·K, Lo]. */

/* one item per col element (b, i·K + k, j): col = x[b, i, j + k] */
__kernel void conv1d_im2col(__global const float *x, long xo, __global float *col, long co, int B, int Cin, int L,
                            int K, int Lo)
{
    long idx = GID0;
    long total = (long)B * Cin * K * Lo;
    if (idx >= total)
        return;
    int j = (int)(idx % Lo);
    long r = idx / Lo;
    int k = (int)(r % K);
    long bi = r / K; /* b·Cin + i */
    col[co + idx] = x[xo + bi * L + j + k];
}

/* one item per gx element (b, i, p): gx = Σ_k gcol[b, i·K + k, p − k] over
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
