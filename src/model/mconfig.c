#include "config.h"
#include <stdlib.h>
#include "generator_internal.h"
void sv_mconfig_default(sv_mconfig *c) { (void)c; }
int sv_mconfig_preset(const char *name, sv_mconfig *c, sv_err *e) { (void)name; (void)c; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
const char *const *sv_mconfig_preset_names(void) { static const char *const n[] = {NULL}; return n; }
int sv_mconfig_from_json(const char *json, sv_mconfig *c, sv_err *e) { (void)json; (void)c; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
char *sv_mconfig_to_json(const sv_mconfig *c) { (void)c; return NULL; }
int sv_mconfig_validate(const sv_mconfig *c, sv_err *e) { (void)c; return sv_seterr(e, SV_ERR_UNSUPPORTED, "not implemented"); }
int sv_mconfig_channels(const sv_mconfig *c, int res) { (void)c; (void)res; return 0; }
int sv_mconfig_num_ws(const sv_mconfig *c) { (void)c; return 0; }
int64_t sv_mconfig_motion_tokens(const sv_mconfig *c, double t_max) { (void)c; (void)t_max; return 0; }
