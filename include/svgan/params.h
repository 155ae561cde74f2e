/* svgan — parameter sets: named tensors packed into ONE flat device buffer.
 *
 * A network declares its parameters by name (official module paths, e.g.
 * "G.mapping.fc0.weight") and shape, then finalises the set: one buffer holds
 * them all and each parameter is a view into it.  A second set with the same
 * layout (sv_params_clone_layout) holds gradients, Adam moments or the EMA
 * copy, so optimizer steps, EMA, NaN scrubbing and (later) all-reduce are
 * single calls over sv_params_flat(). */
#ifndef SVGAN_PARAMS_H
#define SVGAN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "svgan/safetensors.h"
#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sv_params sv_params;

/* Empty set on ctx. */
int sv_params_new(sv_ctx *ctx, sv_params **out);
void sv_params_free(sv_params *p); /* NULL is fine */

/* Declare a parameter (before finalise).  Duplicate names and >5 dims are
 * errors (recorded in the ctx). */
int sv_params_add(sv_params *p, const char *name, int ndim, const int64_t *shape);
/* Allocate the flat buffer (zero-filled) and create the views. */
int sv_params_finalize(sv_params *p);
/* A new finalised set with the same names, shapes and offsets (zero-filled). */
int sv_params_clone_layout(const sv_params *p, sv_params **out);

size_t sv_params_count(const sv_params *p);
const char *sv_params_name(const sv_params *p, size_t i);
/* View of parameter i / by name (NULL if absent or not finalised). */
sv_tensor *sv_params_at(sv_params *p, size_t i);
sv_tensor *sv_params_get(sv_params *p, const char *name);
/* The whole flat buffer as a 1-D tensor. */
sv_tensor *sv_params_flat(sv_params *p);
int64_t sv_params_numel(const sv_params *p);

/* Load every parameter from a safetensors file, tensor name = prefix + name.
 * Shapes must match exactly (one-line SV_ERR_FORMAT message naming the
 * tensor otherwise).  strict: tensors in the file under prefix that the set
 * does not declare are an error too.  Errors go to e. */
int sv_params_load(sv_params *p, const sv_st_file *f, const char *prefix, int strict, sv_err *e);
/* Add every parameter (downloaded) to a writer as F32 under prefix + name. */
int sv_params_save(sv_params *p, sv_st_writer *w, const char *prefix, sv_err *e);

#ifdef __cplusplus
}
#endif
#endif
