#include "config.h"
#include "generator_internal.h"
int sv_checkpoint_open(const char *path, sv_st_file **f, sv_mconfig *cfg, sv_err *e) { (void)path; (void)cfg; *f = NULL; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
int sv_checkpoint_load_generator(const sv_st_file *f, const char *which, sv_generator *g, sv_err *e) { (void)f; (void)which; (void)g; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
int sv_checkpoint_save_generator(const char *path, const sv_mconfig *cfg, sv_generator *g, sv_generator *g_ema, const char *const *extra_meta, sv_err *e) { (void)path; (void)cfg; (void)g; (void)g_ema; (void)extra_meta; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
