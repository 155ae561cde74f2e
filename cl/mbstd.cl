/* mbstd — see include/svgan/ops/mbstd.h.  x is [N, S] with S = C·H·W; y is
 * [N, (C+1)·HW]; group g (of n) has members g + k·n, k < G. */

#define MB_EPS 1e-8f

/* Deviation of member k (element j = (g + k n) S + e) from its group mean.
 * G = 2: d = ±(x₀ − x₁)/2, exact (Sterbenz) whenever the pair is within a
 * factor 2 — the near-coinciding pairs that dominate R1's bias gradients
 * through eps/s³ — where x − fl((x₀ + x₁)/2) would add up to ulp(x)/4.
 * G > 2: x − mu (mu = fl(Σ x / G)). */
inline float mb_dev(__global const float *v, long j0, long j, long stride, float mu, int G, int k)
{
    if (G == 2) {
        float h = 0.5f * (v[j0] - v[j0 + stride]);
        return k == 0 ? h : -h;
    }
    return v[j] - mu;
}

/* Group statistics, one work-group per group g.  has_dot = 0: out[g] = σ_g =
 * (1/S) Σ_e s_e.  has_dot = 1: out[g] = σ̇_g = (1/(G S)) Σ_e P_e / s_e.
 * Lane l takes e = l, l+SV_WG, … in order, then a fixed tree. */
__kernel __attribute__((reqd_work_group_size(SV_WG, 1, 1)))
void mbstd_stats(__global const float *x, long xo, __global const float *xd, long xdo, int has_dot,
                 __global float *out, long oo, long S, int n, int G)
{
    __local float part[SV_WG];
    int g = (int)get_group_id(0);
    int l = (int)get_local_id(0);
    float acc = 0.0f;
    for (long e = l; e < S; e += SV_WG) {
        float mu = 0.0f, mud = 0.0f;
        for (int k = 0; k < G; k++) {
            mu += x[xo + (long)(g + k * n) * S + e];
            if (has_dot)
                mud += xd[xdo + (long)(g + k * n) * S + e];
        }
        mu /= (float)G;
        mud /= (float)G;
        /* P = Σ d ẋ = Σ d ḋ (Σ d = 0); the latter is blind to an error shared
         * by the d's (the rounding of mu), which Σ d ẋ would turn into an
         * error mu_err·Σ ẋ of P — relative ~ulp(x)/|d| at near pairs. */
        float var = 0.0f, p = 0.0f;
        long j0 = xo + (long)g * S + e, jd0 = xdo + (long)g * S + e, st = (long)n * S;
        for (int k = 0; k < G; k++) {
            long idx = (long)(g + k * n) * S + e;
            float d = mb_dev(x, j0, xo + idx, st, mu, G, k);
            var += d * d;
            if (has_dot)
                p += d * mb_dev(xd, jd0, xdo + idx, st, mud, G, k);
        }
        float s = sqrt(var / (float)G + MB_EPS);
        acc += has_dot ? p / s : s;
    }
    part[l] = acc;
    sv_tree_sum(part, l);
    if (l == 0)
        out[oo + g] = has_dot ? part[0] / ((float)G * (float)S) : part[0] / (float)S;
}

/* y[i, c<C] = src[i, c]; y[i, C, hw] = stat[i mod n]. */
__kernel void mbstd_fill(__global const float *src, long so, __global const float *stat, long sto,
                         __global float *y, long yo, int N, long S, long HW, int n)
{
    long idx = GID0;
    long row = S + HW;
    if (idx >= (long)N * row)
        return;
    long i = idx / row, r = idx - i * row;
    y[yo + idx] = r < S ? src[so + i * S + r] : stat[sto + (int)(i % n)];
}

/* gam[g] = Σ_{k<G} Σ_hw gy[g + k n, C, hw] (fixed order); one item per group. */
__kernel void mbstd_gamma(__global const float *gy, long gyo, __global float *gam, long go, long S, long HW,
                          int n, int G)
{
    long g = GID0;
    if (g >= n)
        return;
    float acc = 0.0f;
    for (int k = 0; k < G; k++) {
        long base = (g + (long)k * n) * (S + HW) + S;
        for (long h = 0; h < HW; h++)
            acc += gy[gyo + base + h];
    }
    gam[go + g] = acc;
}

/* Backward, one item per input element (i, e).  gam[0..n) = Γ, gam[n..2n) = Γ̇.
 *   has_gy:  gx  = gy + Γ d/(G S s)               (else gx starts at 0)
 *   has_dot: gx += Γ̇/(G S) (ḋ/s − P d/(G s³)),   gxd = gyd + Γ̇ d/(G S s) */
__kernel void mbstd_bwd(__global const float *x, long xo, __global const float *xd, long xdo,
                        __global const float *gy, long gyo, int has_gy, __global const float *gyd, long gydo,
                        int has_dot, __global const float *gam, long gao, __global float *gx, long gxo,
                        __global float *gxd, long gxdo, int N, long S, long HW, int n, int G)
{
    long idx = GID0;
    if (idx >= (long)N * S)
        return;
    long i = idx / S, e = idx - i * S;
    int g = (int)(i % n);
    float mu = 0.0f, mud = 0.0f;
    for (int k = 0; k < G; k++) {
        long j = (long)(g + k * n) * S + e;
        mu += x[xo + j];
        if (has_dot)
            mud += xd[xdo + j];
    }
    mu /= (float)G;
    mud /= (float)G;
    float var = 0.0f;
    long j0 = (long)g * S + e, st = (long)n * S;
    int ki = (int)(i / n);
    for (int k = 0; k < G; k++) {
        float d = mb_dev(x, xo + j0, xo + j0 + k * st, st, mu, G, k);
        var += d * d;
    }
    float s = sqrt(var / (float)G + MB_EPS);
    float gs = (float)G * (float)S;
    float di = mb_dev(x, xo + j0, xo + idx, st, mu, G, ki);
    long yi = i * (S + HW) + e;
    float r = 0.0f;
    if (has_gy)
        r = gy[gyo + yi] + gam[gao + g] * di / (gs * s);
    if (has_dot) {
        float gd = gam[gao + n + g];
        float ddi = mb_dev(xd, xdo + j0, xdo + idx, st, mud, G, ki);
        /* ḋ_i/s − P d_i/(G s³) = [ (1/G) Σ_{k≠i} d_k (ḋ_i d_k − d_i ḋ_k) + ε ḋ_i ] / s³.
         * The form on the left subtracts two nearly equal terms whenever the
         * group's deviations are (anti)parallel — for G = 2 always, where the
         * exact value is the ε term alone — and float32 leaves only noise
         * (R1's bias gradients depend on nothing else).  The right form drops
         * the k = i term (zero exactly) and, for G = 2, the cross term (zero
         * exactly, since d_1 = −d_0 and ḋ_1 = −ḋ_0). */
        float cross = 0.0f;
        if (G > 2) {
            for (int k = 0; k < G; k++) {
                long j = (long)(g + k * n) * S + e;
                if (j == idx)
                    continue;
                float dk = mb_dev(x, xo + j0, xo + j, st, mu, G, k);
                float ddk = mb_dev(xd, xdo + j0, xdo + j, st, mud, G, k);
                cross += dk * (ddi * dk - di * ddk);
            }
            cross /= (float)G;
        }
        r += gd / gs * ((cross + MB_EPS * ddi) / (s * s * s));
        gxd[gxdo + idx] = gyd[gydo + yi] + gd * di / (gs * s);
    }
    gx[gxo + idx] = r;
}
