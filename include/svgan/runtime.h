/* svgan — OpenCL runtime: device discovery and selection, the context, and
 * the one program-build choke-point (explicit options, build log on failure,
 * on-disk binary cache, in-memory kernel cache).
 *
 * No global mutable state: everything lives in an sv_ctx, one per device.  Two
 * contexts on two devices in one process are independent. */
#ifndef SVGAN_RUNTIME_H
#define SVGAN_RUNTIME_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "svgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sv_devinfo {
    int index;              /* global index over all platforms, as --device N */
    int platform_index;
    char platform[128];
    char name[128];
    char vendor[128];
    char version[128];      /* CL_DEVICE_VERSION */
    char driver[128];       /* CL_DRIVER_VERSION */
    char c_version[64];     /* CL_DEVICE_OPENCL_C_VERSION */
    cl_device_type type;
    uint64_t global_mem;
    uint64_t max_alloc;
    uint64_t local_mem;
    unsigned compute_units;
    size_t max_wg;
    int fp16, fp64;
    cl_platform_id pid;
    cl_device_id did;
} sv_devinfo;

/* All devices of all platforms.  *out is malloc'ed (free()).  Returns
 * SV_ERR_NODEVICE with a message when no platform or device exists. */
int sv_devices(sv_devinfo **out, int *n, sv_err *e);
const char *sv_devtype_name(cl_device_type t);

/* Pick one device.  selector: NULL or "" -> $SVGAN_DEVICE -> default (first
 * GPU, else first device).  A selector is an index ("1"), a type ("gpu",
 * "cpu", "accelerator"), or a case-insensitive substring of the device name,
 * vendor or platform name. */
int sv_device_select(const char *selector, sv_devinfo *out, sv_err *e);

typedef struct sv_ctx sv_ctx;

/* Create a context + in-order queue on the selected device. */
int sv_ctx_create(sv_ctx **out, const char *selector, sv_err *e);
void sv_ctx_destroy(sv_ctx *ctx);

cl_context sv_ctx_cl(const sv_ctx *ctx);
cl_command_queue sv_ctx_queue(const sv_ctx *ctx);
cl_device_id sv_ctx_device(const sv_ctx *ctx);
const sv_devinfo *sv_ctx_info(const sv_ctx *ctx);
int sv_ctx_is_cpu(const sv_ctx *ctx);
/* Kernel form for data-movement kernels (im2col, resampling): 1 = one
 * work-item per row with a sequential inner loop (fast on CPU devices, where
 * PoCL runs work-items as loops), 0 = one work-item per element (GPUs).
 * Default: rows on CPU devices; $SVGAN_KERNEL_FORM=rows|elem overrides (tests
 * use it to exercise both forms on one device). */
int sv_ctx_row_kernels(const sv_ctx *ctx);
/* The context's error record: ops that take a ctx write their message here. */
sv_err *sv_ctx_err(sv_ctx *ctx);
const char *sv_ctx_errmsg(const sv_ctx *ctx);
int sv_ctx_finish(sv_ctx *ctx);

/* Directory the .cl files are read from: $SVGAN_KERNEL_DIR if set, else the
 * install directory ($(pkgdatadir)/cl).  Never the current directory. */
const char *sv_kernel_dir(void);

/* The build choke-point.  Returns a kernel from program `file` (e.g.
 * "bias_act.cl", relative to the kernel dir; "common.cl" is prepended) built
 * with `defines` (extra "-D..." options, may be NULL).  Programs and kernels
 * are cached in memory per context and on disk as binaries keyed by source,
 * options, device and driver.  On a build failure the message names the file,
 * the kernel and carries the build log.  The returned kernel is owned by the
 * context: do not release it. */
int sv_kernel(sv_ctx *ctx, const char *file, const char *kname, const char *defines,
              cl_kernel *out);

/* Launch helper: global size rounded up to a multiple of local (local 0 = let
 * the runtime choose). dims 1..3. */
int sv_launch(sv_ctx *ctx, cl_kernel k, int dims, const size_t *global, const size_t *local,
              const char *kname);

/* Typed argument setters collected in one place so every launch reports the
 * kernel and argument index on failure. */
typedef struct sv_args {
    sv_ctx *ctx;
    cl_kernel k;
    const char *kname;
    cl_uint i;
    int failed;
} sv_args;
void sv_args_begin(sv_args *a, sv_ctx *ctx, cl_kernel k, const char *kname);
void sv_arg_mem(sv_args *a, cl_mem m);
void sv_arg_long(sv_args *a, int64_t v);
void sv_arg_int(sv_args *a, int v);
void sv_arg_float(sv_args *a, float v);
void sv_arg_local(sv_args *a, size_t bytes);
/* 0 if every setter succeeded, else the error (recorded in ctx). */
int sv_args_end(sv_args *a);

/* Convenience: CL call with error mapping into an sv_err. */
#define SV_CL(e, call)                                                                    \
    do {                                                                                  \
        cl_int sv__rc = (call);                                                           \
        if (sv__rc != CL_SUCCESS)                                                         \
            return sv_seterr((e), SV_ERR_CL, "%s failed: %s (%d) at %s:%d", #call,         \
                             sv_cl_errname(sv__rc), (int)sv__rc, __FILE__, __LINE__);    \
    } while (0)

/* Statistics (for tests and benchmarks). */
typedef struct sv_ctx_stats {
    unsigned programs_built;     /* compiled from source */
    unsigned programs_from_disk; /* loaded from the binary cache */
    unsigned kernels_created;
    unsigned buffers_created;    /* clCreateBuffer calls by the pool */
    uint64_t pool_bytes;         /* bytes held by the pool (in use + free) */
} sv_ctx_stats;
void sv_ctx_get_stats(const sv_ctx *ctx, sv_ctx_stats *s);

#ifdef __cplusplus
}
#endif
#endif
