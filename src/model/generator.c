#include "config.h"
#include <stdlib.h>
#include "generator_internal.h"
int sv_generator_new(sv_ctx *ctx, const sv_mconfig *cfg, sv_generator **out) { (void)cfg; *out = NULL; return sv_seterr(sv_ctx_err(ctx), SV_ERR_UNSUPPORTED, "not implemented"); }
void sv_generator_free(sv_generator *g) { if (g) { sv_gen_fwd_free(g->fwd); sv_params_free(g->params); free(g); } }
const sv_mconfig *sv_generator_config(const sv_generator *g) { return &g->cfg; }
sv_ctx *sv_generator_ctx(const sv_generator *g) { return g->ctx; }
sv_params *sv_generator_params(sv_generator *g) { return g->params; }
int64_t sv_generator_num_trainable(const sv_generator *g) { (void)g; return 0; }
int sv_generator_init(sv_generator *g, uint64_t seed) { (void)seed; return sv_seterr(sv_ctx_err(g->ctx), SV_ERR_UNSUPPORTED, "not implemented"); }
