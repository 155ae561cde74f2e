/* Internal layout of the generator (shared by generator.c and
 * generator_fwd.c; not installed). */
#ifndef SVGAN_GENERATOR_INTERNAL_H
#define SVGAN_GENERATOR_INTERNAL_H

#include "svgan/svgan.h"
#include "svgan/generator.h"

struct sv_gen_fwd; /* forward-pass scratch and caches, owned by generator_fwd.c */

struct sv_generator {
    sv_ctx *ctx;
    sv_mconfig cfg;
    sv_params *params;      /* every parameter and buffer, official names */
    struct sv_gen_fwd *fwd; /* lazily created by generator_fwd.c */
};

/* Called by sv_generator_free (defined in generator_fwd.c). */
void sv_gen_fwd_free(struct sv_gen_fwd *f);

#endif
