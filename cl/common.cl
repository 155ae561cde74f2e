/* Prepended to every svgan kernel file by the build choke-point (runtime/cl.c).
 * Conventions: tensors are float buffers addressed as (pointer, long element
 * offset); every kernel guards its global id against the logical size, since
 * launch sizes are rounded up to the work-group size. */
#define SV_LRELU_SLOPE 0.2f
#define GID0 ((long)get_global_id(0))
#define GID1 ((long)get_global_id(1))
#define GID2 ((long)get_global_id(2))
