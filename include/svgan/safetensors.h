/* svgan — safetensors reader and writer (also svgan's checkpoint format).
 *
 * File layout: an 8-byte little-endian u64 header length N, N bytes of UTF-8
 * JSON, then the raw little-endian tensor data.  The JSON is an object mapping
 * tensor name -> {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}
 * (offsets relative to the first byte after the header) plus an optional
 * "__metadata__" object of string -> string.
 *
 * Reading: sv_st_open maps the file read-only (or reads it when mapping is not
 * possible) and validates the whole header before returning: sizes, dtypes,
 * shapes (<= SV_ST_MAX_DIMS non-negative integers, no overflow), offsets
 * (inside the data area, exactly numel * element size bytes, no two tensors
 * overlapping), duplicate names, metadata values.  Any violation is
 * SV_ERR_FORMAT with a one-line message naming the file and the tensor/field.
 * After a successful open every descriptor can be trusted: data points at
 * nbytes readable bytes.  Descriptors and their data stay valid until
 * sv_st_close.  Data pointers are NOT necessarily aligned for their dtype:
 * copy with memcpy (or use sv_st_read_f32 / sv_st_read_i64).  A file that is
 * truncated by someone else while it is mapped can raise SIGBUS; svgan itself
 * never rewrites a file in place (the writer replaces files by rename).
 *
 * Writing: collect tensors and metadata in an sv_st_writer, then
 * sv_st_writer_save writes "path.tmp.<pid>", flushes and fsyncs it, and renames
 * it over path, so an existing file at path is either left untouched or
 * replaced by the complete new file.  Tensors are laid out contiguously, sorted
 * by element size (largest first, insertion order within a size) so that every
 * tensor is naturally aligned relative to the 8-byte aligned data start; the
 * header is padded with spaces to a multiple of 8 bytes.  Output is readable by
 * the reference Python/Rust safetensors implementation.
 *
 * Host byte order must be little-endian (checked at compile time). */
#ifndef SVGAN_SAFETENSORS_H
#define SVGAN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "svgan/status.h"
#include "svgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SV_ST_MAX_DIMS 8
/* Largest accepted header (JSON) length in bytes. */
#define SV_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)

typedef enum sv_st_dtype {
    SV_ST_F32 = 0,
    SV_ST_F16,
    SV_ST_BF16,
    SV_ST_F64,
    SV_ST_I64,
    SV_ST_I32,
    SV_ST_I16,
    SV_ST_I8,
    SV_ST_U8,
    SV_ST_BOOL,
    SV_ST_U16,
    SV_ST_U32,
    SV_ST_U64,
    SV_ST_NDTYPES
} sv_st_dtype;

/* "F32", ... ; "?" for an invalid value. */
const char *sv_st_dtype_name(sv_st_dtype t);
/* Bytes per element; 0 for an invalid value. */
size_t sv_st_dtype_size(sv_st_dtype t);
/* Parse a dtype name (exact, case-sensitive).  Returns 0 or SV_ERR_INVALID. */
int sv_st_dtype_parse(const char *s, sv_st_dtype *out);

/* One tensor of an open file. */
typedef struct sv_st_tensor {
    const char *name;
    sv_st_dtype dtype;
    int ndim;                        /* 0 for a scalar */
    int64_t shape[SV_ST_MAX_DIMS];
    int64_t numel;                   /* product of shape (1 for a scalar) */
    size_t nbytes;                   /* numel * element size */
    uint64_t offset;                 /* begin, relative to the data area */
    const void *data;                /* nbytes bytes, possibly unaligned */
} sv_st_tensor;

typedef struct sv_st_file sv_st_file;

/* Open and validate a file.  On failure *out is NULL and the code is
 * SV_ERR_IO (cannot open/read), SV_ERR_FORMAT (malformed) or SV_ERR_NOMEM. */
int sv_st_open(const char *path, sv_st_file **out, sv_err *e);
/* Same from a memory buffer (copied; buf may be freed afterwards).  label
 * names the buffer in messages (NULL: "<memory>"). */
int sv_st_open_memory(const void *buf, size_t len, const char *label, sv_st_file **out, sv_err *e);
void sv_st_close(sv_st_file *f); /* NULL is fine */

/* Path (or label) given at open. */
const char *sv_st_path(const sv_st_file *f);
/* Number of tensors (the "__metadata__" entry is not a tensor). */
size_t sv_st_count(const sv_st_file *f);
/* i-th tensor in header order; NULL when i >= count. */
const sv_st_tensor *sv_st_at(const sv_st_file *f, size_t i);
const char *sv_st_name(const sv_st_file *f, size_t i);
/* Lookup by exact name; NULL when absent. */
const sv_st_tensor *sv_st_find(const sv_st_file *f, const char *name);
/* Lookup that records "path: no tensor 'name'" (SV_ERR_FORMAT) when absent. */
int sv_st_get(const sv_st_file *f, const char *name, const sv_st_tensor **out, sv_err *e);

/* Metadata value for key, or NULL. */
const char *sv_st_metadata(const sv_st_file *f, const char *key);
size_t sv_st_metadata_count(const sv_st_file *f);
/* i-th metadata pair (sorted by key); returns 0 or SV_ERR_INVALID. */
int sv_st_metadata_at(const sv_st_file *f, size_t i, const char **key, const char **value);

/* Copy a tensor into dst as float, converting F32/F16/BF16/F64 (F64 values
 * outside float range become +-inf, as a cast does).  n must equal numel
 * (SV_ERR_INVALID otherwise); an integer/bool dtype is SV_ERR_FORMAT; a
 * missing name is SV_ERR_FORMAT. */
int sv_st_read_f32(const sv_st_file *f, const char *name, float *dst, size_t n, sv_err *e);
/* Same for integer dtypes (I8..I64, U8..U64, BOOL -> 0/1) into int64; a U64
 * value above INT64_MAX is SV_ERR_FORMAT; float dtypes are SV_ERR_FORMAT. */
int sv_st_read_i64(const sv_st_file *f, const char *name, int64_t *dst, size_t n, sv_err *e);
/* Check that t has exactly this shape: 0, or SV_ERR_FORMAT
 * "path: tensor 'x': shape [2, 3] in file, expected [3, 2]". */
int sv_st_check_shape(const sv_st_file *f, const sv_st_tensor *t, int ndim, const int64_t *shape, sv_err *e);

/* Create a new device float32 tensor (sv_tensor_new) holding the named entry
 * (converted as sv_st_read_f32; at most SV_MAX_DIMS dims).  Errors are
 * recorded in the context's error (sv_ctx_err). */
int sv_st_upload(sv_ctx *ctx, const sv_st_file *f, const char *name, sv_tensor *out);

/* ---- writer ---------------------------------------------------------- */
typedef struct sv_st_writer sv_st_writer;

/* NULL when out of memory. */
sv_st_writer *sv_st_writer_new(void);
void sv_st_writer_free(sv_st_writer *w); /* NULL is fine */

/* Add a tensor; data (numel * element size bytes, host order) is COPIED, so
 * the caller may free it right away.  data may be NULL only when numel == 0.
 * Rejects (SV_ERR_INVALID) an empty name, the name "__metadata__", a
 * duplicate name, ndim outside [0, SV_ST_MAX_DIMS], negative dimensions, a
 * size above 2^53 bytes, or an invalid dtype. */
int sv_st_writer_add(sv_st_writer *w, const char *name, sv_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, sv_err *e);
/* Same, but data is REFERENCED: it must stay valid and unchanged until
 * sv_st_writer_save has returned or the writer is freed.  Saves a copy of
 * large checkpoints. */
int sv_st_writer_add_ref(sv_st_writer *w, const char *name, sv_st_dtype dtype, int ndim, const int64_t *shape,
                         const void *data, sv_err *e);
/* Download a device float32 tensor and add it as F32 (copied). */
int sv_st_writer_add_tensor(sv_st_writer *w, const char *name, const sv_tensor *t, sv_err *e);
/* Set a metadata string (a later call with the same key replaces the value). */
int sv_st_writer_meta(sv_st_writer *w, const char *key, const char *value, sv_err *e);
/* Write the file atomically (see the top comment).  The writer is not
 * consumed and may be saved again.  SV_ERR_IO on any write failure, after
 * which the temporary file has been removed. */
int sv_st_writer_save(sv_st_writer *w, const char *path, sv_err *e);

#ifdef __cplusplus
}
#endif
#endif
