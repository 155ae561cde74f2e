/* Prepended to every svgan kernel file by the build choke-point (runtime/cl.c).
 * Conventions: tensors are float buffers addressed as (pointer, long element
 * offset); every kernel guards its global id against the logical size, since
 * launch sizes are rounded up to the work-group size. */
#define SV_LRELU_SLOPE 0.2f
#define GID0 ((long)get_global_id(0))
#define GID1 ((long)get_global_id(1))
#define GID2 ((long)get_global_id(2))

/* Reductions: one work-group of SV_WG lanes; each lane accumulates a fixed
 * subsequence in order, then sv_tree_sum combines the lanes in a fixed tree.
 * Every lane must call it (it contains barriers); the sum lands in part[0].
 * Deterministic: no atomics, same order on every run. */
#define SV_WG 64
inline void sv_tree_sum(__local float *part, int l)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = SV_WG / 2; w > 0; w >>= 1) {
        if (l < w)
            part[l] += part[l + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
inline void sv_tree_sum_uint(__local uint *part, int l)
{
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int w = SV_WG / 2; w > 0; w >>= 1) {
        if (l < w)
            part[l] += part[l + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}
/* Sum of v over the work-group, returned to every lane (part may be reused
 * afterwards). */
inline float sv_group_sum(__local float *part, int l, float v)
{
    part[l] = v;
    sv_tree_sum(part, l);
    float r = part[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}
