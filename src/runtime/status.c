#include "config.h"
#include "svgan/status.h"

#include <CL/cl.h>
#include <CL/cl_ext.h>
#include <stdio.h>
#include <string.h>

int sv_seterr(sv_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int sv_preferr(sv_err *e, const char *fmt, ...)
{
    if (!e)
        return SV_ERR_INVALID;
    char pre[SV_ERRMSG_LEN], old[SV_ERRMSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t lp = strlen(pre);
    if (lp > sizeof e->msg - 3)
        lp = sizeof e->msg - 3;
    memcpy(e->msg, pre, lp);
    e->msg[lp] = ':';
    e->msg[lp + 1] = ' ';
    size_t rest = sizeof e->msg - lp - 2;
    size_t lo = strnlen(old, rest - 1);
    memcpy(e->msg + lp + 2, old, lo);
    e->msg[lp + 2 + lo] = 0;
    return e->code;
}

void sv_clearerr(sv_err *e)
{
    if (e) {
        e->code = SV_OK;
        e->msg[0] = 0;
    }
}

const char *sv_code_name(int code)
{
    switch (code) {
    case SV_OK: return "ok";
    case SV_ERR_INVALID: return "invalid argument";
    case SV_ERR_NOMEM: return "out of memory";
    case SV_ERR_IO: return "I/O error";
    case SV_ERR_FORMAT: return "format error";
    case SV_ERR_CL: return "OpenCL error";
    case SV_ERR_NODEVICE: return "no device";
    case SV_ERR_BUILD: return "kernel build error";
    case SV_ERR_UNSUPPORTED: return "unsupported";
    case SV_ERR_BLAS: return "BLAS error";
    case SV_ERR_NUMERIC: return "numeric error";
    default: return "unknown error";
    }
}

const char *sv_cl_errname(int c)
{
#define E(x) case x: return #x
    switch (c) {
    E(CL_SUCCESS); E(CL_DEVICE_NOT_FOUND); E(CL_DEVICE_NOT_AVAILABLE);
    E(CL_COMPILER_NOT_AVAILABLE); E(CL_MEM_OBJECT_ALLOCATION_FAILURE);
    E(CL_OUT_OF_RESOURCES); E(CL_OUT_OF_HOST_MEMORY); E(CL_PROFILING_INFO_NOT_AVAILABLE);
    E(CL_MEM_COPY_OVERLAP); E(CL_IMAGE_FORMAT_MISMATCH); E(CL_IMAGE_FORMAT_NOT_SUPPORTED);
    E(CL_BUILD_PROGRAM_FAILURE); E(CL_MAP_FAILURE); E(CL_MISALIGNED_SUB_BUFFER_OFFSET);
    E(CL_COMPILE_PROGRAM_FAILURE); E(CL_LINKER_NOT_AVAILABLE); E(CL_LINK_PROGRAM_FAILURE);
    E(CL_INVALID_VALUE); E(CL_INVALID_DEVICE_TYPE); E(CL_INVALID_PLATFORM);
    E(CL_INVALID_DEVICE); E(CL_INVALID_CONTEXT); E(CL_INVALID_QUEUE_PROPERTIES);
    E(CL_INVALID_COMMAND_QUEUE); E(CL_INVALID_HOST_PTR); E(CL_INVALID_MEM_OBJECT);
    E(CL_INVALID_BINARY); E(CL_INVALID_BUILD_OPTIONS); E(CL_INVALID_PROGRAM);
    E(CL_INVALID_PROGRAM_EXECUTABLE); E(CL_INVALID_KERNEL_NAME); E(CL_INVALID_KERNEL_DEFINITION);
    E(CL_INVALID_KERNEL); E(CL_INVALID_ARG_INDEX); E(CL_INVALID_ARG_VALUE);
    E(CL_INVALID_ARG_SIZE); E(CL_INVALID_KERNEL_ARGS); E(CL_INVALID_WORK_DIMENSION);
    E(CL_INVALID_WORK_GROUP_SIZE); E(CL_INVALID_WORK_ITEM_SIZE); E(CL_INVALID_GLOBAL_OFFSET);
    E(CL_INVALID_EVENT_WAIT_LIST); E(CL_INVALID_EVENT); E(CL_INVALID_OPERATION);
    E(CL_INVALID_BUFFER_SIZE); E(CL_INVALID_GLOBAL_WORK_SIZE); E(CL_INVALID_PROPERTY);
    E(CL_PLATFORM_NOT_FOUND_KHR);
    default: {
        /* not thread-shared: a small ring per call site is overkill; codes above
         * cover the specification, anything else is printed numerically by callers */
        return "CL_ERROR(unknown)";
    }
    }
#undef E
}
