/* Internal view of the runtime objects (not installed). */
#ifndef SVGAN_RUNTIME_INTERNAL_H
#define SVGAN_RUNTIME_INTERNAL_H

#include "svgan/runtime.h"
#include "svgan/tensor.h"

struct sv_buf {
    cl_mem mem;
    size_t bytes;
    int refs;
    struct sv_buf *next; /* free-list link */
};

#define SV_POOL_BUCKETS 64

typedef struct sv_prog_entry {
    char *key;           /* file + '\n' + defines */
    cl_program prog;
    struct sv_prog_entry *next;
} sv_prog_entry;

typedef struct sv_kern_entry {
    cl_program prog;
    char *name;
    cl_kernel k;
    struct sv_kern_entry *next;
} sv_kern_entry;

struct sv_gemm_state; /* gemm.c */

/* SVGAN_PROFILE=1: every kernel launch and GEMM is timed (queue drained before
 * and after, so the times are exclusive wall times) and summed per name. */
typedef struct sv_prof_entry {
    char *name;
    double sec;
    double flop; /* GEMMs only */
    uint64_t calls;
    struct sv_prof_entry *next;
} sv_prof_entry;

double sv_prof_begin(sv_ctx *ctx);                                          /* 0 when profiling is off */
void sv_prof_end(sv_ctx *ctx, double t0, const char *name, double flop); /* no-op when t0 == 0 */

struct sv_ctx {
    sv_devinfo info;
    cl_context cl;
    cl_command_queue q;
    sv_err err;
    int is_cpu;
    sv_prog_entry *progs;
    sv_kern_entry *kerns;
    sv_buf *pool_free[SV_POOL_BUCKETS];
    sv_ctx_stats stats;
    cl_mem_flags buf_flags; /* CL_MEM_ALLOC_HOST_PTR on CPU devices (zero-copy maps) */
    struct sv_gemm_state *gemm;
    int profile;
    sv_prof_entry *prof;
};

void sv_pool_release_all(sv_ctx *ctx);
void sv_gemm_state_free(sv_ctx *ctx);

#endif
