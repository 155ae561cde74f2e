/* timeenc: motion-code gather, aligned time encoder, D time-difference
 * features — device launchers and float64 host references. */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

static const char FILE_CL[] = "timeenc.cl";

/* ---------------------------------------------------------------- (a) */

int64_t sv_motion_left_index(double t, double d)
{
    if (!isfinite(t) || t < 0 || !(d > 0))
        return -1;
    float q = (float)t / (float)d;
    return (int64_t)floorf(q);
}

/* Validate the times and upload jL per frame as a float tensor [Nf]. */
static int upload_left_index(sv_ctx *ctx, const double *t, int64_t Nf, double d, int64_t Lu, sv_tensor *idx)
{
    if (!t)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "motion gather: no times");
    if (!(d > 0))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "motion gather: spacing d = %g must be > 0", d);
    float *h = malloc((size_t)Nf * sizeof *h);
    if (!h)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "motion gather: out of host memory");
    for (int64_t n = 0; n < Nf; n++) {
        int64_t j = sv_motion_left_index(t[n], d);
        if (j < 0 || j + 1 >= Lu) {
            free(h);
            if (j < 0)
                return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                                 "motion gather: frame %lld has time %g (must be finite and ≥ 0)", (long long)n, t[n]);
            return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                             "motion gather: frame %lld at time %g needs motion codes %lld and %lld but only %lld "
                             "exist (more motion noise tokens are needed)",
                             (long long)n, t[n], (long long)j, (long long)(j + 1), (long long)Lu);
        }
        h[n] = (float)j;
    }
    int rc = sv_tensor_newv(ctx, idx, 1, Nf);
    if (!rc) {
        rc = sv_tensor_write(idx, h, (size_t)Nf);
        if (rc)
            sv_tensor_free(idx);
    }
    free(h);
    return rc;
}

static int gather_dims(sv_ctx *ctx, const sv_tensor *u, int64_t F, int64_t *B, int64_t *C, int64_t *Lu)
{
    if (u->ndim != 3)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "motion gather: codes must be [B, C, L] (got %d dims)",
                         u->ndim);
    if (F < 1)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "motion gather: frames per clip %lld must be ≥ 1",
                         (long long)F);
    *B = u->shape[0];
    *C = u->shape[1];
    *Lu = u->shape[2];
    return SV_OK;
}

int sv_motion_gather(sv_ctx *ctx, const sv_tensor *u, const double *t, int64_t F, double d, sv_tensor *uL,
                     sv_tensor *uR)
{
    int64_t B = 0, C = 0, Lu = 0;
    SV_TRY(gather_dims(ctx, u, F, &B, &C, &Lu));
    int64_t so[2] = {B * F, C};
    SV_TRY(sv_check_shape(uL, "motion gather left codes", 2, so));
    SV_TRY(sv_check_shape(uR, "motion gather right codes", 2, so));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "motion_gather", NULL, k);
    sv_tensor idx;
    SV_TRY(upload_left_index(ctx, t, B * F, d, Lu, &idx));
    sv_args a;
    sv_args_begin(&a, ctx, k, "motion_gather");
    sv_arg_tensor(&a, u);
    sv_arg_tensor(&a, &idx);
    sv_arg_tensor(&a, uL);
    sv_arg_tensor(&a, uR);
    sv_arg_int(&a, (int)(B * F));
    sv_arg_int(&a, (int)F);
    sv_arg_int(&a, (int)C);
    sv_arg_int(&a, (int)Lu);
    int rc = sv_args_end(&a);
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(B * F * C), "motion_gather");
    sv_tensor_free(&idx);
    return rc;
}

int sv_motion_gather_bwd(sv_ctx *ctx, const sv_tensor *guL, const sv_tensor *guR, const double *t, int64_t F,
                         double d, sv_tensor *gu)
{
    int64_t B = 0, C = 0, Lu = 0;
    SV_TRY(gather_dims(ctx, gu, F, &B, &C, &Lu));
    int64_t so[2] = {B * F, C};
    SV_TRY(sv_check_shape(guL, "motion gather left grad", 2, so));
    if (guR)
        SV_TRY(sv_check_shape(guR, "motion gather right grad", 2, so));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "motion_gather_bwd", NULL, k);
    sv_tensor idx;
    SV_TRY(upload_left_index(ctx, t, B * F, d, Lu, &idx));
    sv_args a;
    sv_args_begin(&a, ctx, k, "motion_gather_bwd");
    sv_arg_tensor(&a, guL);
    sv_arg_tensor(&a, guR ? guR : guL);
    sv_arg_int(&a, guR != NULL);
    sv_arg_tensor(&a, &idx);
    sv_arg_tensor(&a, gu);
    sv_arg_int(&a, (int)B);
    sv_arg_int(&a, (int)F);
    sv_arg_int(&a, (int)C);
    sv_arg_int(&a, (int)Lu);
    int rc = sv_args_end(&a);
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(B * C * Lu), "motion_gather_bwd");
    sv_tensor_free(&idx);
    return rc;
}

void sv_ref_motion_gather(const double *u, int64_t B, int64_t C, int64_t Lu, const double *t, int64_t F, double d,
                          double *uL, double *uR)
{
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++) {
            int64_t n = b * F + f, j = (int64_t)floor(t[n] / d);
            for (int64_t c = 0; c < C; c++) {
                uL[n * C + c] = u[(b * C + c) * Lu + j];
                uR[n * C + c] = u[(b * C + c) * Lu + j + 1];
            }
        }
}

void sv_ref_motion_gather_bwd(const double *guL, const double *guR, int64_t B, int64_t C, int64_t Lu,
                              const double *t, int64_t F, double d, double *gu)
{
    memset(gu, 0, (size_t)(B * C * Lu) * sizeof *gu);
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < F; f++) {
            int64_t n = b * F + f, j = (int64_t)floor(t[n] / d);
            for (int64_t c = 0; c < C; c++) {
                gu[(b * C + c) * Lu + j] += guL[n * C + c];
                if (guR)
                    gu[(b * C + c) * Lu + j + 1] += guR[n * C + c];
            }
        }
}

/* ---------------------------------------------------------------- (b) */

static float f32(double x) { return (float)x; }

int sv_timeenc_freqs(int D, double pmin, double pmax, float *freqs, float *phase_scales)
{
    if (D < 1 || !(pmin > 0) || !(pmax > 0))
        return SV_ERR_INVALID;
    double lo = log2(pmin), hi = log2(pmax);
    /* numpy.linspace: start + k·step, the last point set to stop exactly */
    double step = D > 1 ? (hi - lo) / (double)(D - 1) : 0.0;
    const float two_pi = f32(2.0 * M_PI);
    for (int k = 0; k < D; k++) {
        int kk = D - 1 - k; /* reversed: ascending frequencies */
        double e = D > 1 && kk == D - 1 ? hi : (double)kk * step + lo;
        double P = pow(2.0, e);
        freqs[k] = f32(2.0 * M_PI / P);
        /* period_lens = 2π / freqs → reciprocal(freqs)·2π in float32 */
        float len = f32((double)f32(1.0 / (double)freqs[k]) * (double)two_pi);
        /* phase_scales = Pmax / period_lens → reciprocal(len)·Pmax */
        phase_scales[k] = f32((double)f32(1.0 / (double)len) * (double)f32(pmax));
    }
    return SV_OK;
}

typedef struct te_dims {
    int64_t Nf, D;
} te_dims;

static int te_check(sv_ctx *ctx, const sv_tensor *t, const sv_tensor *pr, const sv_tensor *ph,
                    const sv_tensor *freqs, const sv_tensor *ps, float d, te_dims *dm)
{
    if (pr->ndim != 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "timeenc: pre-activations must be [Nf, D] (got %d dims)",
                         pr->ndim);
    dm->Nf = pr->shape[0];
    dm->D = pr->shape[1];
    if (sv_numel(t) != dm->Nf)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "timeenc: %lld times for %lld frames",
                         (long long)sv_numel(t), (long long)dm->Nf);
    SV_TRY(sv_check_shape(ph, "timeenc phase pre-activation", 2, pr->shape));
    if (sv_numel(freqs) != dm->D || sv_numel(ps) != dm->D)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "timeenc: freqs/phase_scales need %lld values",
                         (long long)dm->D);
    if (!(d > 0))
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "timeenc: spacing d = %g must be > 0", (double)d);
    return SV_OK;
}

int sv_timeenc_fwd(sv_ctx *ctx, const sv_tensor *t, const sv_tensor *pr, const sv_tensor *ph, const sv_tensor *AL,
                   const sv_tensor *AR, const sv_tensor *freqs, const sv_tensor *phase_scales, float d,
                   sv_tensor *v)
{
    te_dims dm;
    SV_TRY(te_check(ctx, t, pr, ph, freqs, phase_scales, d, &dm));
    int64_t so[2] = {dm.Nf, 2 * dm.D};
    SV_TRY(sv_check_shape(AL, "timeenc left aligners", 2, so));
    SV_TRY(sv_check_shape(AR, "timeenc right aligners", 2, so));
    SV_TRY(sv_check_shape(v, "timeenc output", 2, so));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "timeenc_fwd", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "timeenc_fwd");
    sv_arg_tensor(&a, t);
    sv_arg_tensor(&a, pr);
    sv_arg_tensor(&a, ph);
    sv_arg_tensor(&a, AL);
    sv_arg_tensor(&a, AR);
    sv_arg_tensor(&a, freqs);
    sv_arg_tensor(&a, phase_scales);
    sv_arg_float(&a, d);
    sv_arg_tensor(&a, v);
    sv_arg_int(&a, (int)dm.Nf);
    sv_arg_int(&a, (int)dm.D);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(dm.Nf * dm.D), "timeenc_fwd");
}

int sv_timeenc_bwd(sv_ctx *ctx, const sv_tensor *t, const sv_tensor *pr, const sv_tensor *ph,
                   const sv_tensor *freqs, const sv_tensor *phase_scales, float d, const sv_tensor *gv,
                   sv_tensor *gpr, sv_tensor *gph, sv_tensor *gAL, sv_tensor *gAR)
{
    te_dims dm;
    SV_TRY(te_check(ctx, t, pr, ph, freqs, phase_scales, d, &dm));
    int64_t so[2] = {dm.Nf, 2 * dm.D};
    SV_TRY(sv_check_shape(gv, "timeenc grad_out", 2, so));
    SV_TRY(sv_check_shape(gpr, "timeenc grad pre-activation", 2, pr->shape));
    SV_TRY(sv_check_shape(gph, "timeenc grad phase", 2, pr->shape));
    if (gAL)
        SV_TRY(sv_check_shape(gAL, "timeenc grad left aligners", 2, so));
    if (gAR)
        SV_TRY(sv_check_shape(gAR, "timeenc grad right aligners", 2, so));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "timeenc_bwd", NULL, k);
    sv_args a;
    sv_args_begin(&a, ctx, k, "timeenc_bwd");
    sv_arg_tensor(&a, t);
    sv_arg_tensor(&a, pr);
    sv_arg_tensor(&a, ph);
    sv_arg_tensor(&a, freqs);
    sv_arg_tensor(&a, phase_scales);
    sv_arg_float(&a, d);
    sv_arg_tensor(&a, gv);
    sv_arg_tensor(&a, gpr);
    sv_arg_tensor(&a, gph);
    sv_arg_int(&a, gAL != NULL);
    sv_arg_tensor(&a, gAL ? gAL : gpr);
    sv_arg_int(&a, gAR != NULL);
    sv_arg_tensor(&a, gAR ? gAR : gpr);
    sv_arg_int(&a, (int)dm.Nf);
    sv_arg_int(&a, (int)dm.D);
    SV_TRY(sv_args_end(&a));
    return sv_launch1(ctx, k, (size_t)(dm.Nf * dm.D), "timeenc_bwd");
}

void sv_ref_timeenc_fwd(const double *t, const double *pr, const double *ph, const double *AL, const double *AR,
                        const double *freqs, const double *ps, double d, int64_t Nf, int64_t D, double *v)
{
    for (int64_t n = 0; n < Nf; n++) {
        double r = fmod(t[n], d), tl = t[n] - r, tr = tl + d, al = r / d;
        for (int64_t k = 0; k < D; k++) {
            int64_t i = n * D + k, o0 = n * 2 * D + k, o1 = o0 + D;
            double wm = freqs[k] * (1.0 + tanh(pr[i])), phs = ph[i] * ps[k];
            double a = wm * t[n] + phs, aL = wm * tl + phs, aR = wm * tr + phs;
            v[o0] = sin(a) - ((1 - al) * sin(aL) + al * sin(aR)) + (1 - al) * AL[o0] + al * AR[o0];
            v[o1] = cos(a) - ((1 - al) * cos(aL) + al * cos(aR)) + (1 - al) * AL[o1] + al * AR[o1];
        }
    }
}

void sv_ref_timeenc_bwd(const double *t, const double *pr, const double *ph, const double *freqs, const double *ps,
                        double d, int64_t Nf, int64_t D, const double *gv, double *gpr, double *gph, double *gAL,
                        double *gAR)
{
    for (int64_t n = 0; n < Nf; n++) {
        double r = fmod(t[n], d), tl = t[n] - r, tr = tl + d, al = r / d, bl = 1 - al;
        for (int64_t k = 0; k < D; k++) {
            int64_t i = n * D + k, o0 = n * 2 * D + k, o1 = o0 + D;
            double th = tanh(pr[i]), wm = freqs[k] * (1 + th), phs = ph[i] * ps[k];
            double a = wm * t[n] + phs, aL = wm * tl + phs, aR = wm * tr + phs;
            double gs = gv[o0], gc = gv[o1];
            /* dv_s/da = cos a, dv_c/da = −sin a, weights 1, −(1−α), −α */
            double ga = gs * cos(a) - gc * sin(a);
            double gaL = -bl * (gs * cos(aL) - gc * sin(aL));
            double gaR = -al * (gs * cos(aR) - gc * sin(aR));
            gpr[i] = freqs[k] * (ga * t[n] + gaL * tl + gaR * tr) * (1 - th * th);
            gph[i] = ps[k] * (ga + gaL + gaR);
            if (gAL) {
                gAL[o0] = bl * gs;
                gAL[o1] = bl * gc;
            }
            if (gAR) {
                gAR[o0] = al * gs;
                gAR[o1] = al * gc;
            }
        }
    }
}

/* ---------------------------------------------------------------- (c) */

int sv_tdiff_kappa(int max_num_frames, float *kappa, int *n_feats)
{
    if (max_num_frames < 1 || max_num_frames > (1 << 30))
        return SV_ERR_INVALID;
    int nf = 0;
    while ((1LL << nf) < max_num_frames)
        nf++;
    double tres = (double)(1LL << nf);
    for (int i = 0; i < nf; i++)
        kappa[i] = f32((double)f32((double)(1LL << i) * (double)f32(M_PI)) / tres);
    *n_feats = nf;
    return SV_OK;
}

/* δ_p (float32) and m_p for all B·(F−1) differences, validated against M,
 * uploaded as [Np, 2] floats. */
static int tdiff_pairs(const double *t, int64_t B, int64_t F, int64_t M, float *out, sv_err *e)
{
    int64_t P = F - 1;
    for (int64_t b = 0; b < B; b++)
        for (int64_t q = 0; q < P; q++) {
            float dl = (float)t[b * F + q + 1] - (float)t[b * F + q];
            float m = nearbyintf(dl);
            if (!(m >= 0) || !(m < (float)M))
                return sv_seterr(e, SV_ERR_INVALID,
                                 "time-difference encoder: clip %lld frames %lld→%lld have difference %g, outside "
                                 "the table [0, %lld) (times must be sorted)",
                                 (long long)b, (long long)q, (long long)(q + 1), (double)dl, (long long)M);
            out[2 * (b * P + q)] = dl;
            out[2 * (b * P + q) + 1] = m;
        }
    return SV_OK;
}

static int upload_pairs(sv_ctx *ctx, const double *t, int64_t B, int64_t F, int64_t M, sv_tensor *dm)
{
    int64_t Np = B * (F - 1);
    float *h = malloc((size_t)(2 * Np + 1) * sizeof *h);
    if (!h)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_NOMEM, "time-difference encoder: out of host memory");
    int rc = tdiff_pairs(t, B, F, M, h, sv_ctx_err(ctx));
    if (!rc)
        rc = sv_tensor_newv(ctx, dm, 1, 2 * Np);
    if (!rc) {
        rc = sv_tensor_write(dm, h, (size_t)(2 * Np));
        if (rc)
            sv_tensor_free(dm);
    }
    free(h);
    return rc;
}

static int tdiff_check(sv_ctx *ctx, const double *t, int64_t B, int64_t F, const sv_tensor *E)
{
    if (!t || B < 1 || F < 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                         "time-difference encoder: needs times for B ≥ 1 clips of F ≥ 2 frames (B = %lld, F = %lld)",
                         (long long)B, (long long)F);
    if (E->ndim != 2)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID, "time-difference encoder: table must be [M, De]");
    return SV_OK;
}

int sv_tdiff_fwd(sv_ctx *ctx, const double *t, int64_t B, int64_t F, const sv_tensor *E, const sv_tensor *kappa,
                 sv_tensor *out)
{
    SV_TRY(tdiff_check(ctx, t, B, F, E));
    int64_t M = E->shape[0], De = E->shape[1], nf = sv_numel(kappa), P = F - 1;
    int64_t so[2] = {B, P * (De + 2 * nf)};
    SV_TRY(sv_check_shape(out, "time-difference features", 2, so));
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "tdiff_fwd", NULL, k);
    sv_tensor dm;
    SV_TRY(upload_pairs(ctx, t, B, F, M, &dm));
    sv_args a;
    sv_args_begin(&a, ctx, k, "tdiff_fwd");
    sv_arg_tensor(&a, &dm);
    sv_arg_tensor(&a, E);
    sv_arg_tensor(&a, kappa);
    sv_arg_tensor(&a, out);
    sv_arg_int(&a, (int)B);
    sv_arg_int(&a, (int)P);
    sv_arg_int(&a, (int)De);
    sv_arg_int(&a, (int)nf);
    int rc = sv_args_end(&a);
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(B * so[1]), "tdiff_fwd");
    sv_tensor_free(&dm);
    return rc;
}

int sv_tdiff_bwd(sv_ctx *ctx, const double *t, int64_t B, int64_t F, const sv_tensor *gout, sv_tensor *gE,
                 int accumulate)
{
    SV_TRY(tdiff_check(ctx, t, B, F, gE));
    int64_t M = gE->shape[0], De = gE->shape[1], P = F - 1;
    if (gout->ndim != 2 || gout->shape[0] != B || gout->shape[1] % P != 0 || gout->shape[1] / P < De ||
        (gout->shape[1] / P - De) % 2 != 0)
        return sv_seterr(sv_ctx_err(ctx), SV_ERR_INVALID,
                         "time-difference encoder: grad_out must be [%lld, %lld·(%lld + 2·nf)]", (long long)B,
                         (long long)P, (long long)De);
    int64_t W = gout->shape[1] / P;
    cl_kernel k;
    SV_GET_KERNEL(ctx, FILE_CL, "tdiff_bwd", NULL, k);
    sv_tensor dm;
    SV_TRY(upload_pairs(ctx, t, B, F, M, &dm));
    sv_args a;
    sv_args_begin(&a, ctx, k, "tdiff_bwd");
    sv_arg_tensor(&a, &dm);
    sv_arg_tensor(&a, gout);
    sv_arg_tensor(&a, gE);
    sv_arg_int(&a, (int)M);
    sv_arg_int(&a, (int)De);
    sv_arg_int(&a, (int)(B * P));
    sv_arg_int(&a, (int)P);
    sv_arg_int(&a, (int)W);
    sv_arg_int(&a, accumulate);
    int rc = sv_args_end(&a);
    if (!rc)
        rc = sv_launch1(ctx, k, (size_t)(M * De), "tdiff_bwd");
    sv_tensor_free(&dm);
    return rc;
}

void sv_ref_tdiff_fwd(const double *t, int64_t B, int64_t F, const double *E, int64_t M, int64_t De,
                      const double *kappa, int nf, double *out)
{
    (void)M;
    int64_t P = F - 1, W = De + 2 * nf;
    for (int64_t b = 0; b < B; b++)
        for (int64_t q = 0; q < P; q++) {
            double dl = (double)((float)t[b * F + q + 1] - (float)t[b * F + q]);
            int64_t m = (int64_t)nearbyint(dl);
            double *o = out + b * P * W + q * W;
            for (int64_t c = 0; c < De; c++)
                o[c] = E[m * De + c];
            for (int i = 0; i < nf; i++) {
                o[De + i] = sin(kappa[i] * dl);
                o[De + nf + i] = cos(kappa[i] * dl);
            }
        }
}

void sv_ref_tdiff_bwd(const double *t, int64_t B, int64_t F, const double *gout, int64_t M, int64_t De, int nf,
                      double *gE)
{
    int64_t P = F - 1, W = De + 2 * nf;
    memset(gE, 0, (size_t)(M * De) * sizeof *gE);
    for (int64_t b = 0; b < B; b++)
        for (int64_t q = 0; q < P; q++) {
            double dl = (double)((float)t[b * F + q + 1] - (float)t[b * F + q]);
            int64_t m = (int64_t)nearbyint(dl);
            for (int64_t c = 0; c < De; c++)
                gE[m * De + c] += gout[b * P * W + q * W + c];
        }
}
