#include "config.h"
#include "generator_internal.h"
void sv_gen_fwd_free(struct sv_gen_fwd *f) { (void)f; }
int sv_generator_forward(sv_generator *g, const sv_tensor *z, const sv_tensor *motion_z, const double *t, int64_t F, float psi, sv_tensor *frames, sv_gen_trace_fn trace, void *trace_user) { (void)z; (void)motion_z; (void)t; (void)F; (void)psi; (void)frames; (void)trace; (void)trace_user; return sv_seterr(sv_ctx_err(g->ctx), SV_ERR_UNSUPPORTED, "not implemented"); }
int sv_generator_begin(sv_generator *g, int64_t B, const float *z_host, const uint64_t *motion_seed, const uint64_t *motion_stream, float psi, sv_gen_video **out) { (void)B; (void)z_host; (void)motion_seed; (void)motion_stream; (void)psi; *out = NULL; return sv_seterr(sv_ctx_err(g->ctx), SV_ERR_UNSUPPORTED, "not implemented"); }
int sv_generator_frames(sv_gen_video *v, const double *t, int64_t F, sv_tensor *frames) { (void)v; (void)t; (void)F; (void)frames; return SV_ERR_UNSUPPORTED; }
void sv_gen_video_free(sv_gen_video *v) { (void)v; }
