/* timeenc — see include/svgan/ops/timeenc.h. */

/* Float32 evaluation in the official operation order: no a·b + c → fma. */
#pragma OPENCL FP_CONTRACT OFF

/* ---- (a) motion-code gather; idx[n] = jL of frame n (float, exact) ---- */

/* one item per (frame n, channel c): uL[n, c] = u[b, c, jL], uR = u[b, c, jL+1] */
__kernel void motion_gather(__global const float *u, long uo, __global const float *idx, long io,
                            __global float *uL, long lo, __global float *uR, long ro, int Nf, int F, int C, int Lu)
{
    long i = GID0;
    if (i >= (long)Nf * C)
        return;
    int n = (int)(i / C), c = (int)(i - (long)n * C);
    int b = n / F;
    int j = (int)idx[io + n];
    long base = uo + ((long)b * C + c) * Lu;
    uL[lo + i] = u[base + j];
    uR[ro + i] = u[base + j + 1];
}

/* one item per (b, c, j): gu[b, c, j] = Σ_f [jL_f = j] guL + [jL_f + 1 = j] guR */
__kernel void motion_gather_bwd(__global const float *guL, long lo, __global const float *guR, long ro, int has_r,
                                __global const float *idx, long io, __global float *gu, long go, int B, int F, int C,
                                int Lu)
{
    long i = GID0;
    if (i >= (long)B * C * Lu)
        return;
    int j = (int)(i % Lu);
    long bc = i / Lu;
    int c = (int)(bc % C), b = (int)(bc / C);
    float acc = 0.0f;
    for (int f = 0; f < F; f++) {
        int n = b * F + f;
        int jl = (int)idx[io + n];
        if (jl == j)
            acc += guL[lo + (long)n * C + c];
        if (has_r && jl + 1 == j)
            acc += guR[ro + (long)n * C + c];
    }
    gu[go + i] = acc;
}

/* ---- (b) aligned time encoder; one item per (frame n, frequency k) ---- */

__kernel void timeenc_fwd(__global const float *t, long to, __global const float *pr, long pro,
                          __global const float *ph, long pho, __global const float *AL, long alo,
                          __global const float *AR, long aro, __global const float *fr, long fro,
                          __global const float *ps, long pso, float d, __global float *v, long vo, int Nf, int D)
{
    long i = GID0;
    if (i >= (long)Nf * D)
        return;
    int n = (int)(i / D), k = (int)(i - (long)n * D);
    float tt = t[to + n];
    float r = fmod(tt, d);
    float tl = tt - r, tr = tl + d, al = r / d, bl = 1.0f - al;
    float mu = tanh(pr[pro + i]) + 1.0f;
    float wm = fr[fro + k] * mu;
    float phs = ph[pho + i] * ps[pso + k];
    float a = wm * tt + phs, aL = wm * tl + phs, aR = wm * tr + phs;
    long o0 = (long)n * 2 * D + k, o1 = o0 + D;
    float cL, cR, ct;
    float sL = sincos(aL, &cL), sR = sincos(aR, &cR), st = sincos(a, &ct);
    v[vo + o0] = (st - (sL * bl + sR * al)) + (AL[alo + o0] * bl + AR[aro + o0] * al);
    v[vo + o1] = (ct - (cL * bl + cR * al)) + (AL[alo + o1] * bl + AR[aro + o1] * al);
}

__kernel void timeenc_bwd(__global const float *t, long to, __global const float *pr, long pro,
                          __global const float *ph, long pho, __global const float *fr, long fro,
                          __global const float *ps, long pso, float d, __global const float *gv, long gvo,
                          __global float *gpr, long gpro, __global float *gph, long gpho, int has_al,
                          __global float *gal, long galo, int has_ar, __global float *gar, long garo, int Nf, int D)
{
    long i = GID0;
    if (i >= (long)Nf * D)
        return;
    int n = (int)(i / D), k = (int)(i - (long)n * D);
    float tt = t[to + n];
    float r = fmod(tt, d);
    float tl = tt - r, tr = tl + d, al = r / d, bl = 1.0f - al;
    float th = tanh(pr[pro + i]);
    float om = fr[fro + k];
    float wm = om * (th + 1.0f);
    float sg = ps[pso + k];
    float phs = ph[pho + i] * sg;
    float a = wm * tt + phs, aL = wm * tl + phs, aR = wm * tr + phs;
    float cL, cR, ct;
    float sL = sincos(aL, &cL), sR = sincos(aR, &cR), st = sincos(a, &ct);
    long o0 = (long)n * 2 * D + k, o1 = o0 + D;
    float gs = gv[gvo + o0], gc = gv[gvo + o1];
    /* ∂v_s/∂a = cos, ∂v_c/∂a = −sin, for each of the three arguments */
    float ga = gs * ct - gc * st;
    float gaL = -bl * (gs * cL - gc * sL);
    float gaR = -al * (gs * cR - gc * sR);
    float gmu = om * (ga * tt + gaL * tl + gaR * tr);
    gpr[gpro + i] = gmu * (1.0f - th * th);
    gph[gpho + i] = sg * (ga + gaL + gaR);
    if (has_al) {
        gal[galo + o0] = bl * gs;
        gal[galo + o1] = bl * gc;
    }
    if (has_ar) {
        gar[garo + o0] = al * gs;
        gar[garo + o1] = al * gc;
    }
}

/* ---- (c) D time-difference features; dm[2p] = δ_p, dm[2p+1] = m_p ---- */

__kernel void tdiff_fwd(__global const float *dm, long dmo, __global const float *E, long eo,
                        __global const float *kap, long ko, __global float *out, long oo, int B, int P, int De,
                        int nf)
{
    long i = GID0;
    int W = De + 2 * nf;
    long row = (long)P * W;
    if (i >= (long)B * row)
        return;
    long b = i / row, col = i - b * row;
    int q = (int)(col / W), r = (int)(col - (long)q * W);
    long p = b * P + q;
    float res;
    if (r < De) {
        res = E[eo + (long)dm[dmo + 2 * p + 1] * De + r];
    } else {
        int j = r - De;
        int is_cos = j >= nf;
        float arg = kap[ko + (is_cos ? j - nf : j)] * dm[dmo + 2 * p];
        res = is_cos ? cos(arg) : sin(arg);
    }
    out[oo + i] = res;
}

/* one item per table element (m, c): loops over all Np differences in order */
__kernel void tdiff_bwd(__global const float *dm, long dmo, __global const float *gout, long go,
                        __global float *gE, long eo, int M, int De, int Np, int P, int W, int accumulate)
{
    long i = GID0;
    if (i >= (long)M * De)
        return;
    int m = (int)(i / De), c = (int)(i - (long)m * De);
    float acc = 0.0f;
    for (int p = 0; p < Np; p++)
        if ((int)dm[dmo + 2 * p + 1] == m) {
            int b = p / P, q = p - b * P;
            acc += gout[go + ((long)b * P + q) * W + c];
        }
    gE[eo + i] = accumulate ? gE[eo + i] + acc : acc;
}
