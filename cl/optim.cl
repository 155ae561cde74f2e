/* optim — see include/svgan/ops/optim.h.  One work-item per element. */

/* torch.lerp's formula. */
inline float sv_lerp_torch(float s, float e, float w)
{
    return w < 0.5f ? s + w * (e - s) : e - (e - s) * (1.0f - w);
}

/* step_size = lr / (1 − β1^t), bc2s = √(1 − β2^t) (host, double → float). */
__kernel void adam_step(__global float *p, long po, __global const float *g, long go, __global float *m, long mo,
                        __global float *v, long vo, float beta1, float beta2, float eps, float step_size,
                        float bc2s, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    float gi = g[go + i];
    float mi = sv_lerp_torch(m[mo + i], gi, 1.0f - beta1);
    float vi = v[vo + i] * beta2 + (1.0f - beta2) * (gi * gi);
    m[mo + i] = mi;
    v[vo + i] = vi;
    float denom = sqrt(vi) / bc2s + eps;
    p[po + i] -= step_size * (mi / denom);
}

__kernel void ema_update(__global float *pe, long peo, __global const float *p, long po, float beta, long n)
{
    long i = GID0;
    if (i >= n)
        return;
    pe[peo + i] = sv_lerp_torch(p[po + i], pe[peo + i], beta);
}
