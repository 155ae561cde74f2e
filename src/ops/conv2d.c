/* conv2d: device forward/backward (im2col / col2im-gather + GEMM, frames in
 * chunks) and float64 host references written directly from spec §1.4. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"
#include "svgan/gemm.h"

static const char FILE_CL[] = "conv2d.cl";

#define DEFAULT_CHUNK_BYTES ((size_t)64 << 20)

/* ------------------------------------------------------------------------ */
/* parameters and shapes                                                     */

int sv_conv2d_out_size(const sv_conv2d_params *p, int H, int W, int *Ho, int *Wo)
{
    if (!p || p->k < 1 || p->k % 2 == 0 || H < 1 || W < 1)
        return -1;
    if (p->up == 1 && p->down == 1) {
        *Ho = H;
        *Wo = W;
        return 0;
    }
    if (p->up == 2 && p->down == 1 && p->k == 3) {
        *Ho = 2 * H;
        *Wo = 2 * W;
        return 0;
    }
    if (p->up == 1 && p->down == 2 && (p->k == 3 || p->k == 1) && H % 2 == 0 && W % 2 == 0) {
        *Ho = H / 2;
        *Wo = W / 2;
        return 0;
    }
    return -1;
}

typedef struct cdims {
    int64_t N;
    int Cin, Cout, H, W, Ho, Wo, k;
} cdims;

/* Validate params and the shapes of x-like [N,Cin,H,W], w [Cout,Cin,k,k] and
 * y-like [N,Cout,Ho,Wo] tensors.  x is the tensor defining N, Cin, H, W when
 * given; otherwise they are derived from y (with the output size checked). */
static int get_dims(sv_ctx *ctx, const char *op, const sv_tensor *x, const sv_tensor *w, const sv_tensor *y,
                    const sv_conv2d_params *p, cdims *d)
{
    sv_err *e = sv_ctx_err(ctx);
    if (!p)
        return sv_seterr(e, SV_ERR_INVALID, "%s: NULL params", op);
    if (p->k < 1 || p->k % 2 == 0 || !((p->up == 1 || p->up == 2) && (p->down == 1 || p->down == 2)) ||
        (p->up == 2 && p->down == 2) || (p->up == 2 && p->k != 3) || (p->down == 2 && p->k != 3 && p->k != 1))
        return sv_seterr(e, SV_ERR_INVALID, "%s: unsupported params k=%d up=%d down=%d", op, p->k, p->up, p->down);
    if (x->ndim != 4)
        return sv_seterr(e, SV_ERR_INVALID, "%s: input must be [N, Cin, H, W], got %d dims", op, x->ndim);
    if (w->ndim != 4)
        return sv_seterr(e, SV_ERR_INVALID, "%s: weight must be [Cout, Cin, k, k], got %d dims", op, w->ndim);
    d->N = x->shape[0];
    d->Cin = (int)x->shape[1];
    d->H = (int)x->shape[2];
    d->W = (int)x->shape[3];
    d->Cout = (int)w->shape[0];
    d->k = p->k;
    if (d->N < 1 || d->Cin < 1 || d->Cout < 1)
        return sv_seterr(e, SV_ERR_INVALID, "%s: empty input or weight", op);
    if (sv_conv2d_out_size(p, d->H, d->W, &d->Ho, &d->Wo))
        return sv_seterr(e, SV_ERR_INVALID, "%s: input %dx%d not supported with k=%d up=%d down=%d", op, d->H,
                         d->W, p->k, p->up, p->down);
    int64_t ws[4] = {d->Cout, d->Cin, p->k, p->k};
    SV_TRY(sv_check_shape(w, "conv2d weight", 4, ws));
    int64_t ys[4] = {d->N, d->Cout, d->Ho, d->Wo};
    SV_TRY(sv_check_shape(y, "conv2d output", 4, ys));
    return SV_OK;
}

/* Frames per chunk so that per-frame temporaries stay within the budget. */
static int64_t chunk_frames(int64_t N, size_t floats_per_frame)
{
    size_t budget = DEFAULT_CHUNK_BYTES;
    const char *s = getenv("SVGAN_CONV_CHUNK_BYTES");
    if (s && *s) {
        char *end = NULL;
        unsigned long long v = strtoull(s, &end, 10);
        if (end != s)
            budget = (size_t)v;
    }
    size_t per = floats_per_frame * sizeof(float);
    int64_t nc = per ? (int64_t)(budget / per) : N;
    if (nc < 1)
        nc = 1;
    s = getenv("SVGAN_CONV_CHUNK_FRAMES"); /* testing: cap on frames per chunk */
    if (s && *s) {
        long long v = strtoll(s, NULL, 10);
        if (v >= 1 && v < nc)
            nc = v;
    }
    if (nc > N)
        nc = N;
    return nc;
}

/* ------------------------------------------------------------------------ */
/* kernels                                                                    */

/* Row kernels on CPU devices, per-element kernels elsewhere (see
 * sv_ctx_row_kernels). */
static int use_rows(sv_ctx *ctx) { return sv_ctx_row_kernels(ctx); }

/* The column-matrix kernels.  dir 0: im2col (a = source images, b = columns);
 * dir 1: col2im (a = columns, b = destination images; accumulate adds). */
static int cols_kernel(sv_ctx *ctx, int dir, cl_mem am, size_t ao, cl_mem bm, size_t bo, int C, int Hi, int Wi,
                       int k, int stride, int pad, int Ho, int Wo, int nf, size_t ldc, int accumulate)
{
    const int rows = use_rows(ctx);
    static const char *const names[2][2] = {{"conv_im2col", "conv_im2col_rows"},
                                            {"conv_col2im", "conv_col2im_rows"}};
    const char *kname = names[dir][rows];
    if (dir == 0 && rows && k == 1 && stride == 1 && pad == 0 && Ho == Hi && Wo == Wi &&
        (int64_t)Hi * Wi <= INT32_MAX) {
        /* a plain permutation [nf, C, H·W] -> [C, nf·H·W]: one row per plane */
        Wi = Wo = Hi * Wi;
        Hi = Ho = 1;
    }
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, kname, NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, kname);
    sv_arg_mem(&a, am);
    sv_arg_long(&a, (int64_t)ao);
    sv_arg_mem(&a, bm);
    sv_arg_long(&a, (int64_t)bo);
    sv_arg_int(&a, C);
    sv_arg_int(&a, Hi);
    sv_arg_int(&a, Wi);
    sv_arg_int(&a, k);
    sv_arg_int(&a, stride);
    sv_arg_int(&a, pad);
    sv_arg_int(&a, Ho);
    sv_arg_int(&a, Wo);
    sv_arg_int(&a, nf);
    sv_arg_long(&a, (int64_t)ldc);
    if (dir == 1)
        sv_arg_int(&a, accumulate);
    SV_TRY(sv_args_end(&a));
    /* rows: a work-item per plane; elements: per output element */
    size_t g[3];
    if (dir == 0) {
        g[0] = rows ? (size_t)nf : (size_t)Ho * Wo;
        g[1] = rows ? (size_t)C * k * k : (size_t)nf;
        g[2] = (size_t)C * k * k;
    } else {
        g[0] = rows ? (size_t)C : (size_t)Hi * Wi;
        g[1] = rows ? (size_t)nf : (size_t)C;
        g[2] = (size_t)nf;
    }
    return sv_launch(ctx, kr, rows ? 2 : 3, g, NULL, kname);
}

static int im2col(sv_ctx *ctx, cl_mem src, size_t so, cl_mem cols, size_t co, int C, int Hi, int Wi, int k,
                  int stride, int pad, int Ho, int Wo, int nf, size_t ldc)
{
    return cols_kernel(ctx, 0, src, so, cols, co, C, Hi, Wi, k, stride, pad, Ho, Wo, nf, ldc, 0);
}

static int col2im(sv_ctx *ctx, cl_mem cols, size_t co, cl_mem dst, size_t dso, int C, int Hi, int Wi, int k,
                  int stride, int pad, int Ho, int Wo, int nf, size_t ldc, int accumulate)
{
    return cols_kernel(ctx, 1, cols, co, dst, dso, C, Hi, Wi, k, stride, pad, Ho, Wo, nf, ldc, accumulate);
}

static int wperm(sv_ctx *ctx, const sv_tensor *w, const sv_tensor *wp, int dir, int accumulate)
{
    cl_kernel kr;
    SV_GET_KERNEL(ctx, FILE_CL, "conv_wperm", NULL, kr);
    sv_args a;
    sv_args_begin(&a, ctx, kr, "conv_wperm");
    sv_arg_tensor(&a, w);
    sv_arg_tensor(&a, wp);
    sv_arg_int(&a, (int)w->shape[0]);
    sv_arg_int(&a, (int)w->shape[1]);
    sv_arg_int(&a, (int)(w->shape[2] * w->shape[3]));
    sv_arg_int(&a, dir);
    sv_arg_int(&a, accumulate);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, kr, (size_t)sv_numel(w), "conv_wperm");
}

/* 4-D view of frames [n0, n0+nf) of a [N, C, H, W]-shaped storage. */
static int frames_view(const sv_tensor *t, sv_tensor *v, int64_t n0, int64_t nf, int64_t C, int64_t H, int64_t W)
{
    int64_t s[4] = {nf, C, H, W};
    return sv_tensor_view(t, v, (size_t)(n0 * C * H * W), 4, s);
}

/* The blur applied before the conv (down=2 variants). */
static sv_upfirdn2d_params pre_blur(const sv_conv2d_params *p)
{
    return p->k == 1 ? sv_upfirdn2d_down2() : sv_upfirdn2d_blur_down_conv();
}

/* Geometry of the correlation stage of the up=1 variants: source image
 * (after the optional blur) Hs×Ws, kernel k, stride, pad. */
typedef struct cgeom {
    int Hs, Ws, stride, pad, blur;
} cgeom;

static cgeom corr_geom(const sv_conv2d_params *p, const cdims *d)
{
    cgeom g;
    if (p->down == 1) {
        g.Hs = d->H, g.Ws = d->W, g.stride = 1, g.pad = p->k / 2, g.blur = 0;
    } else if (p->k == 3) {
        g.Hs = d->H + 1, g.Ws = d->W + 1, g.stride = 2, g.pad = 0, g.blur = 1;
    } else {
        g.Hs = d->Ho, g.Ws = d->Wo, g.stride = 1, g.pad = 0, g.blur = 1;
    }
    return g;
}

/* ------------------------------------------------------------------------ */
/* forward                                                                    */

float sv_conv2d_wgain(int64_t Cin, int k) { return (float)(1.0 / sqrt((double)Cin * k * k)); }

int sv_conv2d_fwd(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *w, const sv_conv2d_params *p, sv_tensor *y)
{
    cdims d;
    SV_TRY(get_dims(ctx, "conv2d_fwd", x, w, y, p, &d));
    const int k = d.k;
    const size_t HW = (size_t)d.H * d.W, HWo = (size_t)d.Ho * d.Wo, Kd = (size_t)d.Cin * k * k;
    int rc = SV_OK;
    sv_tensor cols = {0}, tmp = {0}, wp = {0}, xv = {0}, tv = {0}, yv = {0};

    if (p->up == 2) {
        /* transposed conv: cols_n[(o,a,b), mn] = Wp·x_n, col2im-gather into
         * z [(2H+1)×(2W+1)], then blur (pad 1,1) to 2H×2W */
        const int P = 2 * d.H + 1, Q = 2 * d.W + 1;
        const size_t Mk = (size_t)d.Cout * k * k;
        int64_t ncm = chunk_frames(d.N, Mk * HW + (size_t)d.Cout * P * Q);
        int64_t ws[2] = {(int64_t)Mk, d.Cin}, cs[1] = {(int64_t)(Mk * HW * ncm)};
        int64_t zs[4] = {ncm, d.Cout, P, Q};
        if ((rc = sv_tensor_new(ctx, &wp, 2, ws)) || (rc = sv_tensor_new(ctx, &cols, 1, cs)) ||
            (rc = sv_tensor_new(ctx, &tmp, 4, zs)) || (rc = wperm(ctx, w, &wp, 0, 0)))
            goto done;
        sv_upfirdn2d_params bl = sv_upfirdn2d_blur_up_conv();
        for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
            int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
            size_t ldc = (size_t)nc * HW;
            if ((rc = sv_gemm_strided_batched(ctx, SV_N, SV_N, Mk, HW, (size_t)d.Cin, p->wgain,
                                              sv_mat_of(wp.mem, wp.off, (size_t)d.Cin), 0,
                                              sv_mat_of(x->mem, x->off + (size_t)n0 * d.Cin * HW, HW),
                                              (size_t)d.Cin * HW, 0.0f, sv_mat_of(cols.mem, cols.off, ldc), HW,
                                              (size_t)nc)))
                goto done;
            if ((rc = col2im(ctx, cols.mem, cols.off, tmp.mem, tmp.off, d.Cout, P, Q, k, 2, 0, d.H, d.W, (int)nc,
                             ldc, 0)))
                goto done;
            if ((rc = frames_view(&tmp, &tv, 0, nc, d.Cout, P, Q)) ||
                (rc = frames_view(y, &yv, n0, nc, d.Cout, d.Ho, d.Wo)) ||
                (rc = sv_upfirdn2d_fwd(ctx, &tv, &bl, &yv)))
                goto done;
            sv_tensor_free(&tv);
            sv_tensor_free(&yv);
        }
        goto done;
    }

    cgeom g = corr_geom(p, &d);
    if (!g.blur && k == 1) {
        /* plain 1×1: y_n = wgain·W·x_n, one batched GEMM, no temporaries */
        rc = sv_gemm_strided_batched(ctx, SV_N, SV_N, (size_t)d.Cout, HW, (size_t)d.Cin, p->wgain,
                                     sv_mat_of(w->mem, w->off, (size_t)d.Cin), 0, sv_mat_of(x->mem, x->off, HW),
                                     (size_t)d.Cin * HW, 0.0f, sv_mat_of(y->mem, y->off, HW), (size_t)d.Cout * HW,
                                     (size_t)d.N);
        goto done;
    }
    const int direct = (k == 1 && g.stride == 1 && g.pad == 0); /* blurred source used as the columns */
    size_t per = (direct ? 0 : Kd * HWo) + (g.blur ? (size_t)d.Cin * g.Hs * g.Ws : 0);
    int64_t ncm = chunk_frames(d.N, per);
    if (!direct) {
        int64_t cs[1] = {(int64_t)(Kd * HWo * ncm)};
        if ((rc = sv_tensor_new(ctx, &cols, 1, cs)))
            goto done;
    }
    if (g.blur) {
        int64_t bs[4] = {ncm, d.Cin, g.Hs, g.Ws};
        if ((rc = sv_tensor_new(ctx, &tmp, 4, bs)))
            goto done;
    }
    sv_upfirdn2d_params bp = pre_blur(p);
    for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
        int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
        cl_mem sm = x->mem;
        size_t so = x->off + (size_t)n0 * d.Cin * HW;
        if (g.blur) {
            if ((rc = frames_view(x, &xv, n0, nc, d.Cin, d.H, d.W)) ||
                (rc = frames_view(&tmp, &tv, 0, nc, d.Cin, g.Hs, g.Ws)) ||
                (rc = sv_upfirdn2d_fwd(ctx, &xv, &bp, &tv)))
                goto done;
            sv_tensor_free(&xv);
            sv_tensor_free(&tv);
            sm = tmp.mem;
            so = tmp.off;
        }
        sv_mat B;
        size_t strideB;
        if (direct) {
            B = sv_mat_of(sm, so, HWo);
            strideB = (size_t)d.Cin * HWo;
        } else {
            size_t ldc = (size_t)nc * HWo;
            if ((rc = im2col(ctx, sm, so, cols.mem, cols.off, d.Cin, g.Hs, g.Ws, k, g.stride, g.pad, d.Ho, d.Wo,
                             (int)nc, ldc)))
                goto done;
            B = sv_mat_of(cols.mem, cols.off, ldc);
            strideB = HWo;
        }
        if ((rc = sv_gemm_strided_batched(ctx, SV_N, SV_N, (size_t)d.Cout, HWo, Kd, p->wgain,
                                          sv_mat_of(w->mem, w->off, Kd), 0, B, strideB, 0.0f,
                                          sv_mat_of(y->mem, y->off + (size_t)n0 * d.Cout * HWo, HWo),
                                          (size_t)d.Cout * HWo, (size_t)nc)))
            goto done;
    }
done:
    sv_tensor_free(&cols);
    sv_tensor_free(&tmp);
    sv_tensor_free(&wp);
    sv_tensor_free(&xv);
    sv_tensor_free(&tv);
    sv_tensor_free(&yv);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* backward w.r.t. the input                                                  */

int sv_conv2d_bwd_data(sv_ctx *ctx, const sv_tensor *gy, const sv_tensor *w, const sv_conv2d_params *p,
                       sv_tensor *gx, int accumulate)
{
    cdims d;
    SV_TRY(get_dims(ctx, "conv2d_bwd_data", gx, w, gy, p, &d));
    const int k = d.k;
    const size_t HW = (size_t)d.H * d.W, HWo = (size_t)d.Ho * d.Wo, Kd = (size_t)d.Cin * k * k;
    const float beta = accumulate ? 1.0f : 0.0f;
    int rc = SV_OK;
    sv_tensor cols = {0}, tmp = {0}, wp = {0}, gv = {0}, tv = {0}, xv = {0};

    if (p->up == 2) {
        /* gz = blurᵀ(gy) [(2H+1)×(2W+1)]; cols = im2col(gz, stride 2) [(o,a,b), mn];
         * gx_n = wgain·Wpᵀ·cols_n */
        const int P = 2 * d.H + 1, Q = 2 * d.W + 1;
        const size_t Mk = (size_t)d.Cout * k * k;
        int64_t ncm = chunk_frames(d.N, Mk * HW + (size_t)d.Cout * P * Q);
        int64_t ws[2] = {(int64_t)Mk, d.Cin}, cs[1] = {(int64_t)(Mk * HW * ncm)};
        int64_t zs[4] = {ncm, d.Cout, P, Q};
        if ((rc = sv_tensor_new(ctx, &wp, 2, ws)) || (rc = sv_tensor_new(ctx, &cols, 1, cs)) ||
            (rc = sv_tensor_new(ctx, &tmp, 4, zs)) || (rc = wperm(ctx, w, &wp, 0, 0)))
            goto done;
        sv_upfirdn2d_params bl = sv_upfirdn2d_blur_up_conv();
        for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
            int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
            size_t ldc = (size_t)nc * HW;
            if ((rc = frames_view(gy, &gv, n0, nc, d.Cout, d.Ho, d.Wo)) ||
                (rc = frames_view(&tmp, &tv, 0, nc, d.Cout, P, Q)) || (rc = sv_upfirdn2d_bwd(ctx, &gv, &bl, &tv, 0)))
                goto done;
            sv_tensor_free(&gv);
            sv_tensor_free(&tv);
            if ((rc = im2col(ctx, tmp.mem, tmp.off, cols.mem, cols.off, d.Cout, P, Q, k, 2, 0, d.H, d.W, (int)nc,
                             ldc)))
                goto done;
            if ((rc = sv_gemm_strided_batched(ctx, SV_T, SV_N, (size_t)d.Cin, HW, Mk, p->wgain,
                                              sv_mat_of(wp.mem, wp.off, (size_t)d.Cin), 0, sv_mat_of(cols.mem, cols.off, ldc),
                                              HW, beta, sv_mat_of(gx->mem, gx->off + (size_t)n0 * d.Cin * HW, HW),
                                              (size_t)d.Cin * HW, (size_t)nc)))
                goto done;
        }
        goto done;
    }

    cgeom g = corr_geom(p, &d);
    if (!g.blur && k == 1) {
        rc = sv_gemm_strided_batched(ctx, SV_T, SV_N, (size_t)d.Cin, HW, (size_t)d.Cout, p->wgain,
                                     sv_mat_of(w->mem, w->off, (size_t)d.Cin), 0, sv_mat_of(gy->mem, gy->off, HW),
                                     (size_t)d.Cout * HW, beta, sv_mat_of(gx->mem, gx->off, HW), (size_t)d.Cin * HW,
                                     (size_t)d.N);
        goto done;
    }
    const int direct = (k == 1 && g.stride == 1 && g.pad == 0);
    size_t per = (direct ? 0 : Kd * HWo) + (g.blur ? (size_t)d.Cin * g.Hs * g.Ws : 0);
    int64_t ncm = chunk_frames(d.N, per);
    if (!direct) {
        int64_t cs[1] = {(int64_t)(Kd * HWo * ncm)};
        if ((rc = sv_tensor_new(ctx, &cols, 1, cs)))
            goto done;
    }
    if (g.blur) {
        int64_t bs[4] = {ncm, d.Cin, g.Hs, g.Ws};
        if ((rc = sv_tensor_new(ctx, &tmp, 4, bs)))
            goto done;
    }
    sv_upfirdn2d_params bp = pre_blur(p);
    for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
        int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
        size_t ldc = (size_t)nc * HWo;
        /* gradient w.r.t. the correlation source: into tmp (blurred variants) or gx */
        cl_mem dm = g.blur ? tmp.mem : gx->mem;
        size_t dof = g.blur ? tmp.off : gx->off + (size_t)n0 * d.Cin * HW;
        if (direct) {
            if ((rc = sv_gemm_strided_batched(ctx, SV_T, SV_N, (size_t)d.Cin, HWo, (size_t)d.Cout, p->wgain,
                                              sv_mat_of(w->mem, w->off, (size_t)d.Cin), 0,
                                              sv_mat_of(gy->mem, gy->off + (size_t)n0 * d.Cout * HWo, HWo),
                                              (size_t)d.Cout * HWo, 0.0f, sv_mat_of(dm, dof, HWo), (size_t)d.Cin * HWo,
                                              (size_t)nc)))
                goto done;
        } else {
            if ((rc = sv_gemm_strided_batched(ctx, SV_T, SV_N, Kd, HWo, (size_t)d.Cout, p->wgain,
                                              sv_mat_of(w->mem, w->off, Kd), 0,
                                              sv_mat_of(gy->mem, gy->off + (size_t)n0 * d.Cout * HWo, HWo),
                                              (size_t)d.Cout * HWo, 0.0f, sv_mat_of(cols.mem, cols.off, ldc), HWo,
                                              (size_t)nc)))
                goto done;
            if ((rc = col2im(ctx, cols.mem, cols.off, dm, dof, d.Cin, g.Hs, g.Ws, k, g.stride, g.pad, d.Ho, d.Wo,
                             (int)nc, ldc, g.blur ? 0 : accumulate)))
                goto done;
        }
        if (g.blur) {
            if ((rc = frames_view(&tmp, &tv, 0, nc, d.Cin, g.Hs, g.Ws)) ||
                (rc = frames_view(gx, &xv, n0, nc, d.Cin, d.H, d.W)) ||
                (rc = sv_upfirdn2d_bwd(ctx, &tv, &bp, &xv, accumulate)))
                goto done;
            sv_tensor_free(&tv);
            sv_tensor_free(&xv);
        }
    }
done:
    sv_tensor_free(&cols);
    sv_tensor_free(&tmp);
    sv_tensor_free(&wp);
    sv_tensor_free(&gv);
    sv_tensor_free(&tv);
    sv_tensor_free(&xv);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* backward w.r.t. the weight                                                 */

int sv_conv2d_bwd_weight(sv_ctx *ctx, const sv_tensor *x, const sv_tensor *gy, const sv_conv2d_params *p,
                         sv_tensor *gw, int accumulate)
{
    cdims d;
    SV_TRY(get_dims(ctx, "conv2d_bwd_weight", x, gw, gy, p, &d));
    const int k = d.k;
    const size_t HW = (size_t)d.H * d.W, HWo = (size_t)d.Ho * d.Wo, Kd = (size_t)d.Cin * k * k;
    int rc = SV_OK;
    sv_tensor cols = {0}, tmp = {0}, perm = {0}, gwp = {0}, gv = {0}, tv = {0}, xv = {0};

    if (p->up == 2) {
        /* gz = blurᵀ(gy); cols = im2col(gz, stride 2) [(o,a,b), (n,mn)];
         * gWp[(o,a,b), i] (+)= wgain·cols·xpᵀ with xp = x as [Cin, (n,mn)];
         * finally gW (+)= permute(gWp). */
        const int P = 2 * d.H + 1, Q = 2 * d.W + 1;
        const size_t Mk = (size_t)d.Cout * k * k;
        int64_t ncm = chunk_frames(d.N, Mk * HW + (size_t)d.Cout * P * Q + (size_t)d.Cin * HW);
        int64_t ws[2] = {(int64_t)Mk, d.Cin}, cs[1] = {(int64_t)(Mk * HW * ncm)};
        int64_t zs[4] = {ncm, d.Cout, P, Q}, ps[1] = {(int64_t)((size_t)d.Cin * HW * ncm)};
        if ((rc = sv_tensor_new(ctx, &gwp, 2, ws)) || (rc = sv_tensor_new(ctx, &cols, 1, cs)) ||
            (rc = sv_tensor_new(ctx, &tmp, 4, zs)))
            goto done;
        if (ncm > 1 && (rc = sv_tensor_new(ctx, &perm, 1, ps)))
            goto done;
        sv_upfirdn2d_params bl = sv_upfirdn2d_blur_up_conv();
        for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
            int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
            size_t ldc = (size_t)nc * HW;
            if ((rc = frames_view(gy, &gv, n0, nc, d.Cout, d.Ho, d.Wo)) ||
                (rc = frames_view(&tmp, &tv, 0, nc, d.Cout, P, Q)) || (rc = sv_upfirdn2d_bwd(ctx, &gv, &bl, &tv, 0)))
                goto done;
            sv_tensor_free(&gv);
            sv_tensor_free(&tv);
            if ((rc = im2col(ctx, tmp.mem, tmp.off, cols.mem, cols.off, d.Cout, P, Q, k, 2, 0, d.H, d.W, (int)nc,
                             ldc)))
                goto done;
            sv_mat X = sv_mat_of(x->mem, x->off + (size_t)n0 * d.Cin * HW, ldc);
            if (nc > 1) {
                if ((rc = im2col(ctx, x->mem, x->off + (size_t)n0 * d.Cin * HW, perm.mem, perm.off, d.Cin, d.H,
                                 d.W, 1, 1, 0, d.H, d.W, (int)nc, ldc)))
                    goto done;
                X = sv_mat_of(perm.mem, perm.off, ldc);
            }
            if ((rc = sv_gemm(ctx, SV_N, SV_T, Mk, (size_t)d.Cin, ldc, p->wgain, sv_mat_of(cols.mem, cols.off, ldc), X,
                              n0 ? 1.0f : 0.0f, sv_mat_of(gwp.mem, gwp.off, (size_t)d.Cin))))
                goto done;
        }
        rc = wperm(ctx, gw, &gwp, 1, accumulate);
        goto done;
    }

    cgeom g = corr_geom(p, &d);
    const int direct = (k == 1 && g.stride == 1 && g.pad == 0);
    size_t per = Kd * HWo + (size_t)d.Cout * HWo + (g.blur ? (size_t)d.Cin * g.Hs * g.Ws : 0);
    int64_t ncm = chunk_frames(d.N, per);
    if (!direct || ncm > 1) {
        int64_t cs[1] = {(int64_t)(Kd * HWo * ncm)};
        if ((rc = sv_tensor_new(ctx, &cols, 1, cs)))
            goto done;
    }
    if (ncm > 1) {
        int64_t ps[1] = {(int64_t)((size_t)d.Cout * HWo * ncm)};
        if ((rc = sv_tensor_new(ctx, &perm, 1, ps)))
            goto done;
    }
    if (g.blur) {
        int64_t bs[4] = {ncm, d.Cin, g.Hs, g.Ws};
        if ((rc = sv_tensor_new(ctx, &tmp, 4, bs)))
            goto done;
    }
    sv_upfirdn2d_params bp = pre_blur(p);
    for (int64_t n0 = 0; n0 < d.N; n0 += ncm) {
        int64_t nc = d.N - n0 < ncm ? d.N - n0 : ncm;
        size_t ldc = (size_t)nc * HWo;
        cl_mem sm = x->mem;
        size_t so = x->off + (size_t)n0 * d.Cin * HW;
        if (g.blur) {
            if ((rc = frames_view(x, &xv, n0, nc, d.Cin, d.H, d.W)) ||
                (rc = frames_view(&tmp, &tv, 0, nc, d.Cin, g.Hs, g.Ws)) ||
                (rc = sv_upfirdn2d_fwd(ctx, &xv, &bp, &tv)))
                goto done;
            sv_tensor_free(&xv);
            sv_tensor_free(&tv);
            sm = tmp.mem;
            so = tmp.off;
        }
        /* columns [Kd, nc·HWo] (a single frame's 1×1 source is its own column matrix) */
        sv_mat C = sv_mat_of(sm, so, ldc);
        if (!(direct && nc == 1)) {
            if ((rc = im2col(ctx, sm, so, cols.mem, cols.off, d.Cin, g.Hs, g.Ws, k, g.stride, g.pad, d.Ho, d.Wo,
                             (int)nc, ldc)))
                goto done;
            C = sv_mat_of(cols.mem, cols.off, ldc);
        }
        /* gy as [Cout, nc·HWo] */
        sv_mat G = sv_mat_of(gy->mem, gy->off + (size_t)n0 * d.Cout * HWo, ldc);
        if (nc > 1) {
            if ((rc = im2col(ctx, gy->mem, gy->off + (size_t)n0 * d.Cout * HWo, perm.mem, perm.off, d.Cout, d.Ho,
                             d.Wo, 1, 1, 0, d.Ho, d.Wo, (int)nc, ldc)))
                goto done;
            G = sv_mat_of(perm.mem, perm.off, ldc);
        }
        if ((rc = sv_gemm(ctx, SV_N, SV_T, (size_t)d.Cout, Kd, ldc, p->wgain, G, C,
                          (n0 || accumulate) ? 1.0f : 0.0f, sv_mat_of(gw->mem, gw->off, Kd))))
            goto done;
    }
done:
    sv_tensor_free(&cols);
    sv_tensor_free(&tmp);
    sv_tensor_free(&perm);
    sv_tensor_free(&gwp);
    sv_tensor_free(&gv);
    sv_tensor_free(&tv);
    sv_tensor_free(&xv);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* float64 host references: direct loops over the formulas of spec §1.4      */

static const double TAPS[4] = {1, 3, 3, 1};

/* The function below visits every term of the forward formula once:
 * y[yi] += coef · x[xi] · W[wi] (coef includes wgain and blur taps).  The
 * forward and both backward references share it, so each is the exact
 * adjoint of the same term list. */
typedef struct ref_acc {
    const double *x, *w, *gy;
    double *y, *gx, *gw;
} ref_acc;

static void term(ref_acc *r, size_t yi, size_t xi, size_t wi, double coef)
{
    if (r->y)
        r->y[yi] += coef * r->w[wi] * r->x[xi];
    if (r->gx)
        r->gx[xi] += coef * r->w[wi] * r->gy[yi];
    if (r->gw)
        r->gw[wi] += coef * r->x[xi] * r->gy[yi];
}

static void ref_run(ref_acc *r, int64_t N, int Cin, int Cout, int H, int W, const sv_conv2d_params *p)
{
    const int k = p->k;
    const double wg = p->wgain;
    int Ho = 0, Wo = 0;
    if (sv_conv2d_out_size(p, H, W, &Ho, &Wo))
        return;
#define XI(n, i, h, w) ((((size_t)(n) * Cin + (i)) * H + (h)) * W + (w))
#define YI(n, o, h, w) ((((size_t)(n) * Cout + (o)) * Ho + (h)) * Wo + (w))
#define WI(o, i, a, b) ((((size_t)(o) * Cin + (i)) * k + (a)) * k + (b))
    for (int64_t n = 0; n < N; n++)
        for (int o = 0; o < Cout; o++)
            for (int pp = 0; pp < Ho; pp++)
                for (int q = 0; q < Wo; q++) {
                    size_t yi = YI(n, o, pp, q);
                    for (int i = 0; i < Cin; i++) {
                        if (p->up == 1 && p->down == 1) {
                            /* (a) y[o,p,q] = Σ_i Σ_{a,b} W[o,i,a,b]·x[i, p+a−k/2, q+b−k/2] */
                            for (int a = 0; a < k; a++)
                                for (int b = 0; b < k; b++) {
                                    int h = pp + a - k / 2, w = q + b - k / 2;
                                    if (h >= 0 && h < H && w >= 0 && w < W)
                                        term(r, yi, XI(n, i, h, w), WI(o, i, a, b), wg);
                                }
                        } else if (p->up == 2) {
                            /* (b) y[p,q] = Σ_{j,l} g[j]g[l]·z[p−1+j, q−1+l], g = [1,3,3,1]/4,
                             *     z[zp,zq] = Σ_{a,b} W[o,i,a,b]·u[zp−a, zq−b], zp,zq ∈ [0, 2H],
                             *     u[2m, 2n] = x[m, n], 0 at odd indices */
                            for (int j = 0; j < 4; j++)
                                for (int l = 0; l < 4; l++) {
                                    int zp = pp - 1 + j, zq = q - 1 + l;
                                    if (zp < 0 || zp > 2 * H || zq < 0 || zq > 2 * W)
                                        continue;
                                    double gg = TAPS[j] / 4.0 * TAPS[l] / 4.0;
                                    for (int a = 0; a < k; a++)
                                        for (int b = 0; b < k; b++) {
                                            int up = zp - a, uq = zq - b;
                                            if (up < 0 || up >= 2 * H || uq < 0 || uq >= 2 * W || up % 2 ||
                                                uq % 2)
                                                continue;
                                            term(r, yi, XI(n, i, up / 2, uq / 2), WI(o, i, a, b), wg * gg);
                                        }
                                }
                        } else if (k == 3) {
                            /* (d) y[p,q] = Σ_{a,b} W[o,i,a,b]·bl[2p+a, 2q+b],
                             *     bl[bp,bq] = Σ_{j,l} h[j]h[l]·x[bp−2+j, bq−2+l], h = [1,3,3,1]/8 */
                            for (int a = 0; a < 3; a++)
                                for (int b = 0; b < 3; b++) {
                                    int bp = 2 * pp + a, bq = 2 * q + b;
                                    for (int j = 0; j < 4; j++)
                                        for (int l = 0; l < 4; l++) {
                                            int h = bp - 2 + j, w = bq - 2 + l;
                                            if (h < 0 || h >= H || w < 0 || w >= W)
                                                continue;
                                            double hh = TAPS[j] / 8.0 * TAPS[l] / 8.0;
                                            term(r, yi, XI(n, i, h, w), WI(o, i, a, b), wg * hh);
                                        }
                                }
                        } else {
                            /* (e) y[p,q] = Σ_i W[o,i]·s[i,p,q],
                             *     s[p,q] = Σ_{j,l} h[j]h[l]·x[2p−1+j, 2q−1+l] */
                            for (int j = 0; j < 4; j++)
                                for (int l = 0; l < 4; l++) {
                                    int h = 2 * pp - 1 + j, w = 2 * q - 1 + l;
                                    if (h < 0 || h >= H || w < 0 || w >= W)
                                        continue;
                                    double hh = TAPS[j] / 8.0 * TAPS[l] / 8.0;
                                    term(r, yi, XI(n, i, h, w), WI(o, i, 0, 0), wg * hh);
                                }
                        }
                    }
                }
#undef XI
#undef YI
#undef WI
}

void sv_ref_conv2d_fwd(const double *x, const double *w, int64_t N, int Cin, int Cout, int H, int W,
                       const sv_conv2d_params *p, double *y)
{
    int Ho = 0, Wo = 0;
    if (sv_conv2d_out_size(p, H, W, &Ho, &Wo))
        return;
    memset(y, 0, (size_t)N * Cout * Ho * Wo * sizeof *y);
    ref_acc r = {x, w, NULL, y, NULL, NULL};
    ref_run(&r, N, Cin, Cout, H, W, p);
}

void sv_ref_conv2d_bwd(const double *x, const double *w, const double *gy, int64_t N, int Cin, int Cout, int H,
                       int W, const sv_conv2d_params *p, double *gx, double *gw)
{
    int Ho = 0, Wo = 0;
    if (sv_conv2d_out_size(p, H, W, &Ho, &Wo))
        return;
    if (gx)
        memset(gx, 0, (size_t)N * Cin * H * W * sizeof *gx);
    if (gw)
        memset(gw, 0, (size_t)Cout * Cin * p->k * p->k * sizeof *gw);
    ref_acc r = {x, w, gy, NULL, gx, gw};
    ref_run(&r, N, Cin, Cout, H, W, p);
}
