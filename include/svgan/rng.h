/* svgan — counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Value i of stream (seed, stream) is a pure function of (seed, stream, i):
 * any window of a sequence can be generated on its own, in any order, with
 * identical results.  svgan uses this for everything random that must be
 * reproducible: initial weights, latent z, motion noise tokens (so that a frame
 * at t = 100000 only needs the tokens around t, not all tokens before it) and
 * data sampling.  Streams separate independent uses under one seed.
 *
 * Normals are Box-Muller in double precision on the host (glibc libm); they
 * are uploaded where needed, so results do not depend on the device. */
#ifndef SVGAN_RNG_H
#define SVGAN_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One Philox4x32-10 block: out = philox(counter = {ctr[0..3]}, key = {key[0..1]}). */
void sv_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Block `block` of stream (seed, stream): counter = {block lo, block hi,
 * stream lo, stream hi}, key = {seed lo, seed hi}. */
void sv_rng_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4]);

/* n standard normals, values first .. first+n-1 of the stream (two normals
 * per Philox block: value i uses block i/2, cos for even i, sin for odd). */
void sv_rng_normal(uint64_t seed, uint64_t stream, uint64_t first, size_t n, float *out);
void sv_rng_normal_f64(uint64_t seed, uint64_t stream, uint64_t first, size_t n, double *out);
/* n uniforms in [0, 1): value i is the top 53 bits of the 64-bit word
 * formed from block i/2 (lanes 0-1 for even i, 2-3 for odd). */
void sv_rng_uniform_f64(uint64_t seed, uint64_t stream, uint64_t first, size_t n, double *out);

/* Named streams used across svgan (one place, so uses never collide). */
enum {
    SV_STREAM_INIT = 1,        /* + parameter index: initial weights */
    SV_STREAM_Z = 1u << 20,    /* + video index: content latent */
    SV_STREAM_MOTION = 2u << 20, /* + video index: motion noise tokens */
    SV_STREAM_DATA = 3u << 20, /* data sampling (clips, flips) */
    SV_STREAM_USER = 4u << 20  /* first free stream */
};

#ifdef __cplusplus
}
#endif
#endif
