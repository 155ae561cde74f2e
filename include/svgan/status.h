/* svgan — error values.
 *
 * Library functions never exit: they return an sv_code (0 = success) and, when
 * given a non-NULL sv_err, write a one-line human message into it.  The CLI is
 * the only place that turns an error into an exit status. */
#ifndef SVGAN_STATUS_H
#define SVGAN_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sv_code {
    SV_OK = 0,
    SV_ERR_INVALID = -1,   /* bad argument, shape mismatch, unknown option */
    SV_ERR_NOMEM = -2,     /* host or device allocation failed */
    SV_ERR_IO = -3,        /* file could not be read or written */
    SV_ERR_FORMAT = -4,    /* malformed file (checkpoint, safetensors, video) */
    SV_ERR_CL = -5,        /* an OpenCL call failed */
    SV_ERR_NODEVICE = -6,  /* no OpenCL platform/device, or selector matched none */
    SV_ERR_BUILD = -7,     /* kernel program failed to build */
    SV_ERR_UNSUPPORTED = -8,
    SV_ERR_BLAS = -9,      /* CLBlast or CBLAS failure */
    SV_ERR_NUMERIC = -10   /* NaN/Inf where none is allowed */
} sv_code;

#define SV_ERRMSG_LEN 512

typedef struct sv_err {
    int code;
    char msg[SV_ERRMSG_LEN];
} sv_err;

/* Record an error (if e != NULL) and return code.  printf-style message. */
int sv_seterr(sv_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prefix an existing message: "ctx: old message".  Returns e->code. */
int sv_preferr(sv_err *e, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void sv_clearerr(sv_err *e);
const char *sv_code_name(int code);
/* Name of an OpenCL error code ("CL_OUT_OF_RESOURCES"), or "CL_ERROR(-n)". */
const char *sv_cl_errname(int clerr);

#ifdef __cplusplus
}
#endif
#endif
