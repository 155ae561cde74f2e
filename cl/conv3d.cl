/* conv3d — see include/svgan/ops/conv3d.h.  Channels-last data-movement
 * kernels of the I3D layers (inference only).
 *
 * Column layout of the im2col kernels: for output positions
 * pos = p0 + i (i < np), pos = ((n·To + to)·Ho + ho)·Wo + wo,
 *   cols[co + i·K + ((a·kh + b)·kw + c)·Cin + ci]
 *     = x[n, to·st + a − pt, ho·sh + b − ph, wo·sw + c − pw, ci]   (0 outside),
 * K = kt·kh·kw·Cin: a [np, K] row-major matrix, multiplied by w [K, Cout].
 * 32-bit index arithmetic, long only for addresses. */

#define C3_DECODE(pos)                          \
    int wo = (pos) % Wo;                        \
    int r_ = (pos) / Wo;                        \
    int ho = r_ % Ho;                           \
    r_ /= Ho;                                   \
    int to = r_ % To;                           \
    int n = r_ / To;

/* Row form: one work-item per (position, (a, b)) copies kw·Cin values. */
__kernel void c3_im2col_rows(__global const float *x, long xo, __global float *cols, long co, int T, int H, int W,
                             int Cin, int To, int Ho, int Wo, int kt, int kh, int kw, int st, int sh, int sw, int pt,
                             int ph, int pw, int p0, int np)
{
    int i = (int)get_global_id(0), ab = (int)get_global_id(1);
    if (i >= np || ab >= kt * kh)
        return;
    int pos = p0 + i;
    C3_DECODE(pos)
    int a = ab / kh, b = ab - a * kh;
    int K = kt * kh * kw * Cin;
    int t = to * st + a - pt, h = ho * sh + b - ph, w0 = wo * sw - pw;
    __global float *d = cols + co + (long)i * K + (long)ab * kw * Cin;
    if (t < 0 || t >= T || h < 0 || h >= H) {
        for (int j = 0; j < kw * Cin; j++)
            d[j] = 0.0f;
        return;
    }
    /* columns c with w0 + c inside [0, W) form one contiguous run of the source row */
    int clo = w0 < 0 ? -w0 : 0, chi = W - w0 < kw ? W - w0 : kw;
    if (chi < clo)
        chi = clo;
    for (int j = 0; j < clo * Cin; j++)
        d[j] = 0.0f;
    __global const float *s = x + xo + ((((long)n * T + t) * H + h) * W + w0 + clo) * Cin;
    __global float *dv = d + clo * Cin;
    for (int j = 0; j < (chi - clo) * Cin; j++)
        dv[j] = s[j];
    for (int j = chi * Cin; j < kw * Cin; j++)
        d[j] = 0.0f;
}

/* Element form: gid0 = column kk < K, gid1 = i < np. */
__kernel void c3_im2col(__global const float *x, long xo, __global float *cols, long co, int T, int H, int W,
                        int Cin, int To, int Ho, int Wo, int kt, int kh, int kw, int st, int sh, int sw, int pt,
                        int ph, int pw, int p0, int np)
{
    int kk = (int)get_global_id(0), i = (int)get_global_id(1);
    int K = kt * kh * kw * Cin;
    if (kk >= K || i >= np)
        return;
    int pos = p0 + i;
    C3_DECODE(pos)
    int ci = kk % Cin, rr = kk / Cin;
    int c = rr % kw;
    rr /= kw;
    int b = rr % kh, a = rr / kh;
    int t = to * st + a - pt, h = ho * sh + b - ph, w = wo * sw + c - pw;
    float v = 0.0f;
    if (t >= 0 && t < T && h >= 0 && h < H && w >= 0 && w < W)
        v = x[xo + ((((long)n * T + t) * H + h) * W + w) * Cin + ci];
    cols[co + (long)i * K + kk] = v;
}

/* y[r, c] = act(y[r, c] + b[c]) on a [P, C] slice with row stride ld.
 * Row form: gid0 = r; element form: gid0 = c, gid1 = r. */
__kernel void c3_bias_act_rows(__global float *y, long yo, long ld, int P, int C, __global const float *b, long bo,
                               int has_b, int relu)
{
    int r = (int)get_global_id(0);
    if (r >= P)
        return;
    __global float *d = y + yo + (long)r * ld;
    for (int c = 0; c < C; c++) {
        float v = d[c] + (has_b ? b[bo + c] : 0.0f);
        d[c] = relu ? (v > 0.0f ? v : (isnan(v) ? v : 0.0f)) : v;
    }
}

__kernel void c3_bias_act(__global float *y, long yo, long ld, int P, int C, __global const float *b, long bo,
                          int has_b, int relu)
{
    int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= C || r >= P)
        return;
    long i = yo + (long)r * ld + c;
    float v = y[i] + (has_b ? b[bo + c] : 0.0f);
    y[i] = relu ? (v > 0.0f ? v : (isnan(v) ? v : 0.0f)) : v;
}

/* Max pooling, TF semantics: cells outside x are ignored; NaN propagates.
 * Row form: gid0 = output position, loop over the window and the channels. */
__kernel void c3_maxpool_rows(__global const float *x, long xo, __global float *y, long yo, int P, int C, int T, int H,
                              int W, int To, int Ho, int Wo, int kt, int kh, int kw, int st, int sh, int sw, int pt,
                              int ph, int pw)
{
    int pos = (int)get_global_id(0);
    if (pos >= P)
        return;
    C3_DECODE(pos)
    __global float *d = y + yo + (long)pos * C;
    for (int c = 0; c < C; c++)
        d[c] = -INFINITY;
    for (int a = 0; a < kt; a++) {
        int t = to * st + a - pt;
        if (t < 0 || t >= T)
            continue;
        for (int b = 0; b < kh; b++) {
            int h = ho * sh + b - ph;
            if (h < 0 || h >= H)
                continue;
            for (int e = 0; e < kw; e++) {
                int w = wo * sw + e - pw;
                if (w < 0 || w >= W)
                    continue;
                __global const float *s = x + xo + ((((long)n * T + t) * H + h) * W + w) * C;
                for (int c = 0; c < C; c++) {
                    float v = s[c], m = d[c];
                    d[c] = (v > m || isnan(v)) ? v : m;
                }
            }
        }
    }
}

/* Element form: gid0 = c, gid1 = output position. */
__kernel void c3_maxpool(__global const float *x, long xo, __global float *y, long yo, int P, int C, int T, int H,
                         int W, int To, int Ho, int Wo, int kt, int kh, int kw, int st, int sh, int sw, int pt, int ph,
                         int pw)
{
    int c = (int)get_global_id(0), pos = (int)get_global_id(1);
    if (c >= C || pos >= P)
        return;
    C3_DECODE(pos)
    float m = -INFINITY;
    for (int a = 0; a < kt; a++) {
        int t = to * st + a - pt;
        if (t < 0 || t >= T)
            continue;
        for (int b = 0; b < kh; b++) {
            int h = ho * sh + b - ph;
            if (h < 0 || h >= H)
                continue;
            for (int e = 0; e < kw; e++) {
                int w = wo * sw + e - pw;
                if (w < 0 || w >= W)
                    continue;
                float v = x[xo + ((((long)n * T + t) * H + h) * W + w) * C + c];
                m = (v > m || isnan(v)) ? v : m;
            }
        }
    }
    y[yo + (long)pos * C + c] = m;
}

/* VALID average pooling (stride s, window fully inside): gid0 = c, gid1 = position. */
__kernel void c3_avgpool(__global const float *x, long xo, __global float *y, long yo, int P, int C, int T, int H,
                         int W, int To, int Ho, int Wo, int kt, int kh, int kw, int st, int sh, int sw)
{
    int c = (int)get_global_id(0), pos = (int)get_global_id(1);
    if (c >= C || pos >= P)
        return;
    C3_DECODE(pos)
    float acc = 0.0f;
    for (int a = 0; a < kt; a++)
        for (int b = 0; b < kh; b++)
            for (int e = 0; e < kw; e++)
                acc += x[xo + ((((long)n * T + to * st + a) * H + ho * sh + b) * W + wo * sw + e) * C + c];
    y[yo + (long)pos * C + c] = acc / (float)(kt * kh * kw);
}

/* y[n, c] = mean_s x[n, s, c], Kahan-compensated: gid0 = c, gid1 = n. */
__kernel void c3_mean_mid(__global const float *x, long xo, __global float *y, long yo, int N, int S, int C)
{
    int c = (int)get_global_id(0), n = (int)get_global_id(1);
    if (c >= C || n >= N)
        return;
    __global const float *s = x + xo + (long)n * S * C + c;
    float sum = 0.0f, comp = 0.0f;
    for (int i = 0; i < S; i++) {
        float v = s[(long)i * C] - comp;
        float t = sum + v;
        comp = (t - sum) - v;
        sum = t;
    }
    y[yo + (long)n * C + c] = sum / (float)S;
}

/* Bilinear resize, half-pixel centres, planar [F, C, H, W] → channels-last
 * [F, Ho, Wo, C], y = scale·v + shift: gid0 = wo, gid1 = ho, gid2 = f. */
__kernel void c3_resize(__global const float *x, long xo, __global float *y, long yo, int F, int C, int H, int W,
                        int Ho, int Wo, float scale, float shift)
{
    int wo = (int)get_global_id(0), ho = (int)get_global_id(1), f = (int)get_global_id(2);
    if (wo >= Wo || ho >= Ho || f >= F)
        return;
    /* source coordinate (dst + 0.5)·in/out − 0.5 = num / (2·out) with num = (2·dst + 1)·in − out, in
     * integers: exact index and fraction at any size (a float coordinate loses ~1e-5 px above 256) */
    int ny = (2 * ho + 1) * H - Ho, nx = (2 * wo + 1) * W - Wo;
    int y0 = ny > 0 ? ny / (2 * Ho) : 0, x0 = nx > 0 ? nx / (2 * Wo) : 0;
    float ly = ny > 0 ? (float)(ny - y0 * 2 * Ho) / (float)(2 * Ho) : 0.0f;
    float lx = nx > 0 ? (float)(nx - x0 * 2 * Wo) / (float)(2 * Wo) : 0.0f;
    if (y0 >= H - 1) {
        y0 = H - 1;
        ly = 0.0f;
    }
    if (x0 >= W - 1) {
        x0 = W - 1;
        lx = 0.0f;
    }
    int y1 = y0 + (y0 < H - 1), x1 = x0 + (x0 < W - 1);
    float hy = 1.0f - ly, hx = 1.0f - lx;
    __global float *d = y + yo + (((long)f * Ho + ho) * Wo + wo) * C;
    for (int c = 0; c < C; c++) {
        __global const float *s = x + xo + ((long)f * C + c) * H * W;
        float v = hy * (hx * s[y0 * W + x0] + lx * s[y0 * W + x1]) + ly * (hx * s[y1 * W + x0] + lx * s[y1 * W + x1]);
        d[c] = scale * v + shift;
    }
}
